/*
 * The WebSocket client of bench/load (RFC 6455, client side only).
 *
 * Design: every connection keeps two byte buffers. tx holds whole frames
 * not yet written (the handshake request first); rx holds what was read
 * and not yet parsed. Frames are parsed in place, so an unfragmented
 * message reaches the callback without a copy; only continuation frames
 * are joined in frag. Owned by the load generator's single thread.
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
#include <openssl/sha.h>
#include <strings.h>

#include "common/buf.h"
#include "common/err.h"

/* Largest message accepted from the server, in bytes. */
#define MAX_MESSAGE    (64u << 20)
#define WS_GUID        "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define MAX_HEADER_LEN 8192
#define READ_CHUNK     65536

enum opcode {
    OP_CONT = 0x0,
    OP_TEXT = 0x1,
    OP_BINARY = 0x2,
    OP_CLOSE = 0x8,
    OP_PING = 0x9,
    OP_PONG = 0xa,
};

enum ws_state {
    WS_CONNECTING = 0, /* TCP connect or upgrade request in progress */
    WS_OPEN = 1,       /* the server answered 101 with the right accept key */
    WS_CLOSING = 2,    /* we sent a close frame and wait for the server's */
    WS_CLOSED = 3,     /* the socket is closed; err says why when it failed */
};

/* One connection. Owned by: the pool's thread. */
struct load_ws {
    int fd;
    uint32_t id; /* index in the pool */
    enum ws_state state;
    bool is_fragmented; /* a message continues in the next frames */
    char accept[32];    /* the Sec-WebSocket-Accept value we expect */
    struct buf tx;      /* bytes not yet written, from tx_off */
    size_t tx_off;
    struct buf rx; /* bytes read and not yet parsed, from rx_off */
    size_t rx_off;
    struct buf frag; /* a fragmented message being joined */
    uint64_t rng;    /* masking keys (xorshift seeded by getrandom) */
    const char *err; /* static text: why the connection failed */
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
static uint32_t next_mask(struct load_ws *ws)
{
    uint64_t x = ws->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ws->rng = x;
    return (uint32_t)(x >> 16);
}

static void apply_mask(unsigned char *p, size_t len, const unsigned char key[4])
{
    unsigned char pat[8];
    uint64_t k8;
    size_t i = 0;
    memcpy(pat, key, 4);
    memcpy(pat + 4, key, 4);
    memcpy(&k8, pat, 8);
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= k8;
        memcpy(p + i, &w, 8);
    }
    for (; i < len; i++) {
        p[i] ^= key[i & 3];
    }
}

/* Appends one frame with the FIN bit; the payload is the parts joined. */
static int queue_frame(struct load_ws *ws, enum opcode op, const char *const *parts,
                       const size_t *lens, size_t n)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        len += lens[i];
    }
    if (buf_reserve(&ws->tx, 14 + len) < 0) {
        return OST_ENOMEM;
    }
    unsigned char *h = (unsigned char *)ws->tx.data + ws->tx.len;
    size_t hlen = 2;
    h[0] = (unsigned char)(0x80 | op);
    if (len < 126) {
        h[1] = (unsigned char)(0x80 | len);
    } else if (len <= 0xffff) {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        hlen = 4;
    } else {
        h[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++) {
            h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
        }
        hlen = 10;
    }
    uint32_t m = next_mask(ws);
    unsigned char key[4] = { (unsigned char)(m >> 24), (unsigned char)(m >> 16),
                             (unsigned char)(m >> 8), (unsigned char)m };
    memcpy(h + hlen, key, 4);
    hlen += 4;
    unsigned char *payload = h + hlen;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(payload + off, parts[i], lens[i]);
        off += lens[i];
    }
    apply_mask(payload, len, key);
    ws->tx.len += hlen + len;
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
            return 0;
        } else {
            return fail(ws, "write to the relay failed");
        }
    }
    ws->tx.len = 0;
    ws->tx_off = 0;
    return 0;
}

static void ws_fini(struct load_ws *ws);

/* Starts a non-blocking connect and queues the upgrade request. */
static int ws_open(struct load_ws *ws, const char *ipv4, uint16_t port, const char *path)
{
    memset(ws, 0, sizeof(*ws));
    ws->fd = -1;
    buf_init(&ws->tx);
    buf_init(&ws->rx);
    buf_init(&ws->frag);
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

    char key[32], text[64];
    unsigned char digest[SHA_DIGEST_LENGTH];
    EVP_EncodeBlock((unsigned char *)key, nonce, sizeof(nonce));
    int text_len = snprintf(text, sizeof(text), "%s%s", key, WS_GUID);
    SHA1((const unsigned char *)text, (size_t)text_len, digest);
    EVP_EncodeBlock((unsigned char *)ws->accept, digest, sizeof(digest));
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

int load_ws_send_text(struct load_ws_pool *p, uint32_t conn, const char *const *parts,
                      const size_t *lens, size_t n)
{
    if (p->ws[conn].state != WS_OPEN) {
        return OST_ESHUTDOWN;
    }
    return queue_frame(&p->ws[conn], OP_TEXT, parts, lens, n);
}

static int send_close(struct load_ws *ws)
{
    if (ws->state != WS_OPEN) {
        return OST_ESHUTDOWN;
    }
    static const char code[2] = { 0x03, (char)0xe8 }; /* 1000, normal closure */
    const char *parts[1] = { code };
    size_t lens[1] = { 2 };
    int rc = queue_frame(ws, OP_CLOSE, parts, lens, 1);
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
static int on_control(struct load_ws *ws, enum opcode op, const char *payload, size_t len)
{
    const char *parts[1] = { payload };
    size_t lens[1] = { len };
    switch (op) {
    case OP_PING:
        if (ws->state != WS_OPEN) {
            return 0;
        }
        return queue_frame(ws, OP_PONG, parts, lens, 1) < 0 ? OST_ENOMEM : flush(ws);
    case OP_PONG:
        return 0;
    case OP_CLOSE:
        if (ws->state == WS_OPEN) {
            /* The server closes first: echo its status code, then we are done. */
            lens[0] = len >= 2 ? 2 : 0;
            queue_frame(ws, OP_CLOSE, parts, lens, 1);
            flush(ws);
            fail(ws, "the relay closed the connection");
            return OST_EIO;
        }
        fail(ws, NULL);
        return 0;
    default:
        return fail(ws, "unknown control frame from the relay");
    }
}

/* Parses the complete frames in rx. */
static int parse_frames(struct load_ws *ws, load_ws_message_fn fn, void *arg)
{
    while (ws->state != WS_CLOSED) {
        const unsigned char *h = (const unsigned char *)ws->rx.data + ws->rx_off;
        size_t avail = ws->rx.len - ws->rx_off, hlen = 2;
        if (avail < 2) {
            break;
        }
        bool is_fin = h[0] & 0x80;
        enum opcode op = (enum opcode)(h[0] & 0x0f);
        uint64_t len = h[1] & 0x7f;
        if (h[0] & 0x70) {
            return fail(ws, "reserved bits set in a frame from the relay");
        }
        if (h[1] & 0x80) {
            return fail(ws, "masked frame from the relay (RFC 6455 5.1 forbids it)");
        }
        if (len == 126) {
            hlen = 4;
            len = avail < hlen ? 0 : (uint64_t)h[2] << 8 | h[3];
        } else if (len == 127) {
            hlen = 10;
            len = 0;
            for (int i = 0; i < 8 && avail >= hlen; i++) {
                len = len << 8 | h[2 + i];
            }
        }
        if (avail < hlen) {
            break;
        }
        if (len > MAX_MESSAGE) {
            return fail(ws, "frame from the relay larger than 64 MiB");
        }
        if (avail - hlen < len) {
            break;
        }
        const char *payload = (const char *)h + hlen;
        ws->rx_off += hlen + (size_t)len;
        int rc = 0;
        if (op >= OP_CLOSE) {
            if (!is_fin || len > 125) {
                return fail(ws, "fragmented or long control frame from the relay");
            }
            rc = on_control(ws, op, payload, (size_t)len);
        } else if (op == OP_BINARY) {
            return fail(ws, "binary frame from the relay");
        } else if (op == OP_TEXT && ws->is_fragmented) {
            return fail(ws, "text frame inside a fragmented message");
        } else if (op == OP_CONT && !ws->is_fragmented) {
            return fail(ws, "continuation frame without a message to continue");
        } else if (op != OP_TEXT && op != OP_CONT) {
            return fail(ws, "unknown data frame opcode from the relay");
        } else if (op == OP_TEXT && is_fin) {
            rc = fn(arg, ws->id, payload, (size_t)len);
        } else {
            if (ws->frag.len + len > MAX_MESSAGE) {
                return fail(ws, "fragmented message from the relay larger than 64 MiB");
            }
            if (op == OP_TEXT) {
                buf_reset(&ws->frag);
            }
            rc = buf_append(&ws->frag, payload, (size_t)len);
            ws->is_fragmented = !is_fin;
            if (rc == 0 && is_fin) {
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
static int on_readable(struct load_ws *ws, load_ws_message_fn fn, void *arg)
{
    while (ws->fd >= 0) {
        if (ws->rx_off == ws->rx.len) {
            ws->rx_off = 0;
            ws->rx.len = 0;
        } else if (ws->rx_off > 0 && ws->rx.cap - ws->rx.len < READ_CHUNK) {
            memmove(ws->rx.data, ws->rx.data + ws->rx_off, ws->rx.len - ws->rx_off);
            ws->rx.len -= ws->rx_off;
            ws->rx_off = 0;
        }
        if (buf_reserve(&ws->rx, READ_CHUNK) < 0) {
            return OST_ENOMEM;
        }
        ssize_t r = read(ws->fd, ws->rx.data + ws->rx.len, ws->rx.cap - ws->rx.len);
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
        ws->rx.len += (size_t)r;
        int rc = 0;
        if (ws->state == WS_CONNECTING) {
            rc = parse_handshake(ws);
        }
        if (rc == 0 && ws->state != WS_CONNECTING) {
            rc = parse_frames(ws, fn, arg);
        }
        if (rc < 0) {
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
    for (uint32_t i = 0; i < p->n; i++) {
        if (p->ws[i].state != WS_CLOSED) {
            return false;
        }
    }
    return true;
}

/* Writes what was queued since the last turn, one write per connection. A
 * connection still connecting sends its request from on_writable. */
static int flush_all(struct load_ws_pool *p)
{
    for (uint32_t i = 0; i < p->n; i++) {
        struct load_ws *ws = &p->ws[i];
        if (ws->tx_off < ws->tx.len && ws->state != WS_CONNECTING && ws->fd >= 0 && flush(ws) < 0) {
            p->failure = ws->err;
            return OST_EIO;
        }
    }
    return 0;
}

static int pool_run(struct load_ws_pool *p, load_ws_done_fn is_done, void *done_arg,
                    uint64_t deadline_ns)
{
    struct epoll_event evs[64];
    for (;;) {
        /* Flush before testing and waiting: the caller may have queued
         * messages before this call, and nothing would wake the loop. */
        if (flush_all(p) < 0) {
            return OST_EIO;
        }
        if (is_done(done_arg)) {
            return 0;
        }
        uint64_t t = load_ws_now_ns();
        if (t >= deadline_ns) {
            return OST_ETIMEDOUT;
        }
        uint64_t wait_ms = (deadline_ns - t) / 1000000 + 1;
        int n = epoll_wait(p->ep, evs, 64, wait_ms > 1000 ? 1000 : (int)wait_ms);
        if (n < 0 && errno != EINTR) {
            p->failure = "epoll_wait failed";
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
                rc = on_readable(ws, p->fn, p->arg);
            }
            p->n_open += was_connecting && ws->state == WS_OPEN;
            if (rc < 0) {
                p->failure = ws->err != NULL ? ws->err : "the message callback failed";
                return rc;
            }
        }
    }
}

int load_ws_pool_open(struct load_ws_pool *p, uint32_t n, const char *ipv4, uint16_t port,
                      load_ws_message_fn fn, void *arg, uint64_t deadline_ns)
{
    *p = (struct load_ws_pool){ .ep = epoll_create1(EPOLL_CLOEXEC), .fn = fn, .arg = arg };
    if (p->ep < 0) {
        p->failure = "epoll_create1 failed";
        return -errno;
    }
    p->ws = calloc(n, sizeof(*p->ws));
    if (p->ws == NULL) {
        close(p->ep);
        p->failure = "out of memory";
        return OST_ENOMEM;
    }
    int rc = 0;
    for (; p->n < n; p->n++) {
        struct load_ws *ws = &p->ws[p->n];
        rc = ws_open(ws, ipv4, port, "/");
        ws->id = p->n;
        struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                  .data.u32 = p->n };
        if (rc == 0 && epoll_ctl(p->ep, EPOLL_CTL_ADD, ws->fd, &ev) < 0) {
            rc = -errno;
            p->n++;
        }
        if (rc < 0) {
            p->failure = "cannot open a socket to the relay";
            goto fail;
        }
    }
    rc = pool_run(p, all_open, p, deadline_ns);
    if (rc == 0) {
        return 0;
    }
    p->failure = p->failure ? p->failure : "timed out waiting for the upgrades";
fail:;
    const char *failure = p->failure;
    load_ws_pool_fini(p, 0);
    p->failure = failure;
    return rc;
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
    for (uint32_t i = 0; i < p->n; i++) {
        send_close(&p->ws[i]);
    }
    if (wait_ns > 0) {
        pool_run(p, all_closed, p, load_ws_now_ns() + wait_ns);
    }
    for (uint32_t i = 0; i < p->n; i++) {
        ws_fini(&p->ws[i]);
    }
    free(p->ws);
    close(p->ep);
    *p = (struct load_ws_pool){ .ep = -1 };
}
