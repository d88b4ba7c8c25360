/*
 * The WebSocket client of bench/load (RFC 6455, client side only).
 *
 * Design: every connection keeps two byte buffers. tx holds whole frames
 * not yet written (the handshake request first); rx holds what was read
 * and not yet parsed. Frames are parsed in place, so an unfragmented
 * message reaches the callback without a copy; only continuation frames
 * are joined in frag. A connection with bytes queued is put once on the
 * pool's dirty list, so a turn of the loop writes only those instead of
 * visiting all 10,000 connections of an idle-connection run. Owned by the
 * load generator's single thread.
 */
#include "bench/load_ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <strings.h>

#include "bench/wsframe.h"
#include "common/buf.h"
#include "common/err.h"

/* Largest message accepted from the server, in bytes. */
#define MAX_MESSAGE    (64u << 20)
#define MAX_HEADER_LEN 8192
/* Reads start with a small buffer, so that 10,000 idle connections do not
 * hold 64 KiB each, and grow to READ_CHUNK while reads fill them. */
#define FIRST_CHUNK 4096
#define READ_CHUNK  65536
#define MAX_EVENTS  256

enum ws_state {
    WS_IDLE = 0,       /* not started yet (bounded parallel opening) */
    WS_CONNECTING = 1, /* TCP connect or upgrade request in progress */
    WS_OPEN = 2,       /* the server answered 101 with the right accept key */
    WS_CLOSING = 3,    /* we sent a close frame and wait for the server's */
    WS_CLOSED = 4,     /* the socket is closed; err says why when it failed */
};

/* One connection. Owned by: the pool's thread. */
struct load_ws {
    int fd;
    int ep;      /* the pool's epoll descriptor */
    uint32_t id; /* index in the pool */
    enum ws_state state;
    bool is_fragmented;                  /* a message continues in the next frames */
    bool is_dirty;                       /* on the pool's dirty list */
    bool wants_out;                      /* EPOLLOUT is in the socket's epoll events */
    char accept[WSFRAME_ACCEPT_LEN + 1]; /* the Sec-WebSocket-Accept value we expect */
    struct buf tx;                       /* bytes not yet written, from tx_off */
    size_t tx_off;
    struct buf rx; /* bytes read and not yet parsed, from rx_off */
    size_t rx_off;
    size_t chunk;        /* bytes to make room for before each read */
    struct buf frag;     /* a fragmented message being joined */
    uint64_t rng;        /* masking keys (xorshift seeded by getrandom) */
    const char *err;     /* static text: why the connection failed */
    char close_text[96]; /* status and reason of the relay's close frame */
};

static int fail(struct load_ws *ws, const char *why)
{
    if (ws->err == NULL) {
        ws->err = why;
    }
    if (ws->fd >= 0) {
        close(ws->fd);
        ws->fd = -1;
    }
    ws->state = WS_CLOSED;
    return OST_EIO;
}

/* RFC 6455 asks for unpredictable masking keys so that a hostile page
 * cannot steer the bytes on the wire; this client only talks to a relay
 * under test, so a xorshift generator seeded from getrandom is enough. */
static void next_mask(struct load_ws *ws, uint8_t key[4])
{
    uint64_t x = ws->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ws->rng = x;
    uint32_t m = (uint32_t)(x >> 16);
    memcpy(key, &m, 4);
}

static int queue_frame(struct load_ws *ws, enum wsframe_op op, const char *const *parts,
                       const size_t *lens, size_t n)
{
    uint8_t key[4];
    next_mask(ws, key);
    return wsframe_append(&ws->tx, op, parts, lens, n, key);
}

/* Asks for EPOLLOUT only while bytes wait for room in the socket: an
 * edge-triggered EPOLLOUT would otherwise wake the loop after nearly every
 * write, which costs an open-loop run more CPU than its sends. */
static int want_out(struct load_ws *ws, bool is_wanted)
{
    if (ws->wants_out == is_wanted) {
        return 0;
    }
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET | (is_wanted ? EPOLLOUT : 0),
                              .data.u32 = ws->id };
    if (epoll_ctl(ws->ep, EPOLL_CTL_MOD, ws->fd, &ev) < 0) {
        return fail(ws, "epoll_ctl failed");
    }
    ws->wants_out = is_wanted;
    return 0;
}

/* Writes queued bytes until done or the socket would block. */
static int flush(struct load_ws *ws)
{
    while (ws->tx_off < ws->tx.len) {
        ssize_t w = send(ws->fd, ws->tx.data + ws->tx_off, ws->tx.len - ws->tx_off, MSG_NOSIGNAL);
        if (w > 0) {
            ws->tx_off += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return want_out(ws, true);
        } else {
            return fail(ws, "write to the relay failed");
        }
    }
    ws->tx.len = 0;
    ws->tx_off = 0;
    return ws->state == WS_CONNECTING ? 0 : want_out(ws, false);
}

static void ws_fini(struct load_ws *ws)
{
    if (ws->fd >= 0) {
        close(ws->fd);
        ws->fd = -1;
    }
    ws->state = WS_CLOSED;
    buf_fini(&ws->tx);
    buf_fini(&ws->rx);
    buf_fini(&ws->frag);
    ws->tx_off = 0;
    ws->rx_off = 0;
}

/* Starts a non-blocking connect and queues the upgrade request. On failure
 * the connection is left closed with nothing allocated. */
static int ws_open(struct load_ws *ws, const char *ipv4, uint16_t port, const char *path)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    if (inet_pton(AF_INET, ipv4, &sa.sin_addr) != 1) {
        return OST_EINVAL;
    }
    unsigned char nonce[16];
    if (getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce) ||
        getrandom(&ws->rng, sizeof(ws->rng), 0) != (ssize_t)sizeof(ws->rng)) {
        return -errno;
    }
    ws->rng |= 1; /* xorshift must not start at 0 */
    ws->chunk = FIRST_CHUNK;

    char key[32];
    int key_len = EVP_EncodeBlock((unsigned char *)key, nonce, sizeof(nonce));
    wsframe_accept(key, (size_t)key_len, ws->accept);
    int rc = buf_printf(&ws->tx,
                        "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n",
                        path, ipv4, (unsigned)port, key);
    if (rc < 0) {
        goto fail;
    }
    ws->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ws->fd < 0) {
        rc = -errno;
        goto fail;
    }
    int one = 1;
    setsockopt(ws->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(ws->fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
        rc = -errno;
        goto fail;
    }
    ws->state = WS_CONNECTING;
    return 0;
fail:
    ws_fini(ws);
    return rc;
}

static void mark_dirty(struct load_ws_pool *p, struct load_ws *ws)
{
    if (!ws->is_dirty) {
        ws->is_dirty = true;
        p->dirty[p->n_dirty++] = ws->id;
    }
}

int load_ws_send_text(struct load_ws_pool *p, uint32_t conn, const char *const *parts,
                      const size_t *lens, size_t n)
{
    struct load_ws *ws = &p->ws[conn];
    if (ws->state != WS_OPEN) {
        return OST_ESHUTDOWN;
    }
    int rc = queue_frame(ws, WSFRAME_TEXT, parts, lens, n);
    if (rc == 0) {
        mark_dirty(p, ws);
    }
    return rc;
}

static int send_close(struct load_ws *ws)
{
    if (ws->state != WS_OPEN) {
        return OST_ESHUTDOWN;
    }
    static const char code[2] = { 0x03, (char)0xe8 }; /* 1000, normal closure */
    const char *parts[1] = { code };
    size_t lens[1] = { 2 };
    int rc = queue_frame(ws, WSFRAME_CLOSE, parts, lens, 1);
    ws->state = WS_CLOSING;
    return rc < 0 ? rc : flush(ws);
}

/* EPOLLOUT: completes the connect, then writes pending bytes. */
static int on_writable(struct load_ws *ws)
{
    if (ws->fd < 0) {
        return 0;
    }
    if (ws->state == WS_CONNECTING) {
        int so_err = 0;
        socklen_t so_len = sizeof(so_err);
        if (getsockopt(ws->fd, SOL_SOCKET, SO_ERROR, &so_err, &so_len) < 0 || so_err != 0) {
            return fail(ws, "cannot connect to the relay");
        }
    }
    return flush(ws);
}

/* Checks the server's answer to the upgrade request once it is complete in
 * rx; returns 0 (not complete yet, or done and consumed) or OST_EIO. */
static int parse_handshake(struct load_ws *ws)
{
    const char *p = ws->rx.data, *end = p + ws->rx.len;
    const char *hend = ws->rx.len ? memmem(p, ws->rx.len, "\r\n\r\n", 4) : NULL;
    if (hend == NULL) {
        return ws->rx.len > MAX_HEADER_LEN ? fail(ws, "upgrade answer too long") : 0;
    }
    if (end - p < 12 || memcmp(p, "HTTP/1.1 101", 12) != 0) {
        return fail(ws, "the relay did not answer the upgrade with 101");
    }
    bool is_accepted = false;
    for (const char *line = memchr(p, '\n', (size_t)(hend - p)); line != NULL && line < hend;
         line = memchr(line, '\n', (size_t)(hend + 2 - line))) {
        line++;
        static const char name[] = "sec-websocket-accept:";
        if (hend - line > (ptrdiff_t)sizeof(name) &&
            strncasecmp(line, name, sizeof(name) - 1) == 0) {
            const char *v = line + sizeof(name) - 1;
            while (*v == ' ' || *v == '\t') {
                v++;
            }
            size_t n = strlen(ws->accept);
            is_accepted = hend - v >= (ptrdiff_t)n && memcmp(v, ws->accept, n) == 0 &&
                          (v[n] == '\r' || v[n] == ' ' || v[n] == '\t');
        }
    }
    if (!is_accepted) {
        return fail(ws, "wrong or missing Sec-WebSocket-Accept in the upgrade answer");
    }
    ws->rx_off = (size_t)(hend + 4 - p);
    ws->state = WS_OPEN;
    return 0;
}

/* Handles one control frame. */
static int on_control(struct load_ws *ws, enum wsframe_op op, const char *payload, size_t len)
{
    const char *parts[1] = { payload };
    size_t lens[1] = { len };
    switch (op) {
    case WSFRAME_PING:
        if (ws->state != WS_OPEN) {
            return 0;
        }
        return queue_frame(ws, WSFRAME_PONG, parts, lens, 1) < 0 ? OST_ENOMEM : flush(ws);
    case WSFRAME_CLOSE:
        if (ws->state == WS_OPEN) {
            /* The server closes first: echo its status code, then we are done. */
            if (len >= 2) {
                snprintf(ws->close_text, sizeof(ws->close_text), "%u %.*s",
                         (unsigned)((uint8_t)payload[0] << 8 | (uint8_t)payload[1]), (int)(len - 2),
                         payload + 2);
            }
            lens[0] = len >= 2 ? 2 : 0;
            queue_frame(ws, WSFRAME_CLOSE, parts, lens, 1);
            flush(ws);
            fail(ws, "the relay closed the connection");
            return OST_EIO;
        }
        fail(ws, NULL);
        return 0;
    default: /* a pong */
        return 0;
    }
}

/* Parses the complete frames in rx. */
static int parse_frames(struct load_ws *ws, load_ws_message_fn fn, void *arg)
{
    while (ws->state != WS_CLOSED) {
        const uint8_t *h = (const uint8_t *)ws->rx.data + ws->rx_off;
        size_t avail = ws->rx.len - ws->rx_off;
        struct wsframe f;
        const char *why;
        int rc = wsframe_parse(h, avail, MAX_MESSAGE, &f, &why);
        if (rc < 0) {
            return fail(ws, why);
        }
        if (rc == 0 || avail - f.header_len < f.len) {
            break;
        }
        if (f.is_masked) {
            return fail(ws, "masked frame from the relay (RFC 6455 5.1 forbids it)");
        }
        const char *payload = (const char *)h + f.header_len;
        ws->rx_off += f.header_len + (size_t)f.len;
        rc = 0;
        if (f.op >= WSFRAME_CLOSE) {
            rc = on_control(ws, f.op, payload, (size_t)f.len);
        } else if (f.op == WSFRAME_BINARY) {
            return fail(ws, "binary frame from the relay");
        } else if (f.op == WSFRAME_TEXT && ws->is_fragmented) {
            return fail(ws, "text frame inside a fragmented message");
        } else if (f.op == WSFRAME_CONT && !ws->is_fragmented) {
            return fail(ws, "continuation frame without a message to continue");
        } else if (f.op == WSFRAME_TEXT && f.is_fin) {
            rc = fn(arg, ws->id, payload, (size_t)f.len);
        } else {
            if (ws->frag.len + f.len > MAX_MESSAGE) {
                return fail(ws, "fragmented message from the relay larger than 64 MiB");
            }
            if (f.op == WSFRAME_TEXT) {
                buf_reset(&ws->frag);
            }
            rc = buf_append(&ws->frag, payload, (size_t)f.len);
            ws->is_fragmented = !f.is_fin;
            if (rc == 0 && f.is_fin) {
                rc = fn(arg, ws->id, ws->frag.data, ws->frag.len);
            }
        }
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* EPOLLIN: reads until the socket would block, completes the handshake and
 * passes each text message to fn. Returns 0, the callback's code, or OST_EIO
 * (ws->err says why); a clean close handshake returns 0, state CLOSED. */
static int on_readable(struct load_ws_pool *p, struct load_ws *ws)
{
    while (ws->fd >= 0) {
        if (ws->rx_off == ws->rx.len) {
            ws->rx_off = 0;
            ws->rx.len = 0;
        } else if (ws->rx_off > 0 && ws->rx.cap - ws->rx.len < ws->chunk) {
            memmove(ws->rx.data, ws->rx.data + ws->rx_off, ws->rx.len - ws->rx_off);
            ws->rx.len -= ws->rx_off;
            ws->rx_off = 0;
        }
        if (buf_reserve(&ws->rx, ws->chunk) < 0) {
            return OST_ENOMEM;
        }
        size_t room = ws->rx.cap - ws->rx.len;
        ssize_t r = read(ws->fd, ws->rx.data + ws->rx.len, room);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        }
        if (r < 0) {
            return fail(ws, "read from the relay failed");
        }
        if (r == 0) {
            if (ws->state == WS_CLOSING) {
                fail(ws, NULL);
                return 0;
            }
            return fail(ws, "the relay closed the TCP connection without a close frame");
        }
        if ((size_t)r == room && ws->chunk < READ_CHUNK) {
            ws->chunk *= 2;
        }
        p->rx_bytes += (uint64_t)r;
        ws->rx.len += (size_t)r;
        int rc = 0;
        if (ws->state == WS_CONNECTING) {
            rc = parse_handshake(ws);
        }
        if (rc == 0 && ws->state != WS_CONNECTING) {
            rc = parse_frames(ws, p->fn, p->arg);
        }
        /* A short read emptied the socket: data that comes later raises a
         * new edge, so the read that would only say EAGAIN is skipped. */
        if (rc < 0 || (size_t)r < room) {
            return rc;
        }
    }
    return 0;
}

/* ---- The pool ---- */

uint64_t load_ws_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool all_open(void *arg)
{
    const struct load_ws_pool *p = arg;
    return p->n_open == p->n;
}

static bool all_closed(void *arg)
{
    const struct load_ws_pool *p = arg;
    for (uint32_t i = 0; i < p->n_started; i++) {
        if (p->ws[i].state != WS_CLOSED) {
            return false;
        }
    }
    return true;
}

/* Starts connects until LOAD_WS_MAX_CONNECTING are in progress. */
static int start_more(struct load_ws_pool *p)
{
    while (p->n_started < p->n && p->n_started - p->n_open < LOAD_WS_MAX_CONNECTING) {
        struct load_ws *ws = &p->ws[p->n_started];
        int rc = ws_open(ws, p->host, p->port, "/");
        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                  .data.u32 = ws->id };
        ws->ep = p->ep;
        ws->wants_out = true;
        if (rc == 0 && epoll_ctl(p->ep, EPOLL_CTL_ADD, ws->fd, &ev) < 0) {
            rc = -errno;
            ws_fini(ws);
        }
        if (rc < 0) {
            p->failure = rc == -EMFILE || rc == -ENFILE
                             ? "out of file descriptors (RLIMIT_NOFILE) opening a connection"
                             : "cannot open a socket to the relay";
            return rc;
        }
        p->n_started++;
    }
    return 0;
}

/* Writes what was queued since the last turn, one write per connection. A
 * connection still connecting sends its request from on_writable. */
static int flush_dirty(struct load_ws_pool *p)
{
    uint32_t n = p->n_dirty;
    p->n_dirty = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct load_ws *ws = &p->ws[p->dirty[i]];
        ws->is_dirty = false;
        if (ws->tx_off < ws->tx.len && ws->state != WS_CONNECTING && ws->fd >= 0 && flush(ws) < 0) {
            p->failure = ws->err;
            return OST_EIO;
        }
    }
    return 0;
}

/* The epoll timeout: until the earlier of the deadline and the tick's
 * wish, at most a second (the loop then checks is_done again). */
static struct timespec wait_for(uint64_t now, uint64_t deadline_ns, uint64_t next_ns)
{
    uint64_t until = next_ns != 0 && next_ns < deadline_ns ? next_ns : deadline_ns;
    uint64_t wait = until > now ? until - now : 0;
    if (wait > 1000000000u) {
        wait = 1000000000u;
    }
    return (struct timespec){ .tv_sec = (time_t)(wait / 1000000000u),
                              .tv_nsec = (long)(wait % 1000000000u) };
}

static int pool_run(struct load_ws_pool *p, load_ws_done_fn is_done, void *done_arg,
                    uint64_t deadline_ns)
{
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        uint64_t t = load_ws_now_ns(), next_ns = 0;
        if (p->tick != NULL) {
            int rc = p->tick(p->arg, t, &next_ns);
            if (rc < 0) {
                p->failure = "the tick callback failed";
                return rc;
            }
        }
        /* Flush before testing and waiting: the caller may have queued
         * messages before this call, and nothing would wake the loop. */
        if (flush_dirty(p) < 0) {
            return OST_EIO;
        }
        if (is_done(done_arg)) {
            return 0;
        }
        if (t >= deadline_ns) {
            return OST_ETIMEDOUT;
        }
        struct timespec ts = wait_for(t, deadline_ns, next_ns);
        int n = epoll_pwait2(p->ep, evs, MAX_EVENTS, &ts, NULL);
        if (n < 0 && errno != EINTR) {
            p->failure = "epoll_pwait2 failed";
            return -errno;
        }
        for (int i = 0; i < n; i++) {
            struct load_ws *ws = &p->ws[evs[i].data.u32];
            bool was_connecting = ws->state == WS_CONNECTING;
            int rc = 0;
            if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                rc = on_writable(ws);
            }
            if (rc == 0 && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))) {
                rc = on_readable(p, ws);
            }
            if (was_connecting && ws->state == WS_OPEN) {
                p->n_open++;
                rc = rc == 0 ? want_out(ws, ws->tx_off < ws->tx.len) : rc;
                rc = rc == 0 ? start_more(p) : rc;
            }
            if (rc < 0) {
                p->failure = p->failure ? p->failure
                             : ws->err  ? ws->err
                                        : "the message callback failed";
                memcpy(p->close_text, ws->close_text, sizeof(p->close_text));
                p->failed_conn = ws->id;
                return rc;
            }
        }
    }
}

int load_ws_pool_open(struct load_ws_pool *p, uint32_t n, const char *ipv4, uint16_t port,
                      load_ws_message_fn fn, void *arg, uint64_t deadline_ns)
{
    *p = (struct load_ws_pool){
        .ep = epoll_create1(EPOLL_CLOEXEC), .n = n, .fn = fn, .arg = arg, .port = port
    };
    int rc = 0;
    if (p->ep < 0) {
        p->failure = "epoll_create1 failed";
        return -errno;
    }
    if (snprintf(p->host, sizeof(p->host), "%s", ipv4) >= (int)sizeof(p->host)) {
        rc = OST_EINVAL;
        p->failure = "host address too long";
        goto fail;
    }
    p->ws = calloc(n, sizeof(*p->ws));
    p->dirty = calloc(n, sizeof(*p->dirty));
    if (p->ws == NULL || p->dirty == NULL) {
        rc = OST_ENOMEM;
        p->failure = "out of memory";
        goto fail;
    }
    for (uint32_t i = 0; i < n; i++) {
        p->ws[i] = (struct load_ws){ .fd = -1, .id = i, .state = WS_IDLE };
    }
    rc = start_more(p);
    rc = rc == 0 ? pool_run(p, all_open, p, deadline_ns) : rc;
    if (rc == 0) {
        return 0;
    }
    p->failure = p->failure ? p->failure : "timed out waiting for the upgrades";
fail:;
    const char *failure = p->failure;
    if (p->ws == NULL) {
        free(p->dirty);
        close(p->ep);
        *p = (struct load_ws_pool){ .ep = -1 };
    } else {
        load_ws_pool_fini(p, 0);
    }
    p->failure = failure;
    return rc;
}

void load_ws_pool_set_tick(struct load_ws_pool *p, load_ws_tick_fn tick)
{
    p->tick = tick;
}

int load_ws_pool_run(struct load_ws_pool *p, load_ws_done_fn is_done, uint64_t deadline_ns)
{
    return pool_run(p, is_done, p->arg, deadline_ns);
}

void load_ws_pool_fini(struct load_ws_pool *p, uint64_t wait_ns)
{
    if (p->ws == NULL) {
        return;
    }
    p->tick = NULL;
    for (uint32_t i = 0; i < p->n_started; i++) {
        send_close(&p->ws[i]);
    }
    if (wait_ns > 0) {
        pool_run(p, all_closed, p, load_ws_now_ns() + wait_ns);
    }
    for (uint32_t i = 0; i < p->n_started; i++) {
        ws_fini(&p->ws[i]);
    }
    free(p->ws);
    free(p->dirty);
    close(p->ep);
    *p = (struct load_ws_pool){ .ep = -1 };
}
