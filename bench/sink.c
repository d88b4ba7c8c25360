/*
 * bench/sink: a no-op Nostr relay that shows bench/load's ceiling. One
 * thread, one epoll loop, plain TCP on 127.0.0.1. It answers the WebSocket
 * upgrade, reads masked client frames, and answers
 *   EVENT  with ["OK",<id>,true,""] (the id is read, nothing is checked),
 *   REQ    with ["EOSE",<sub>],
 *   CLOSE  with nothing;
 * with --fanout it also sends every EVENT to every open REQ of every
 * connection (no filter is looked at), so that `load fanout --filter all`
 * can run against it. Whatever the generator reaches against the sink is
 * the most it can measure of a relay.
 *
 *   sink [--port 0] [--fanout]
 *
 * Prints the port on stdout and "sink listening on ws://127.0.0.1:PORT" on
 * stderr (the relay's wording, so bench/run.sh finds it the same way);
 * SIGTERM or SIGINT prints its counts and exits 0.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>

#include "bench/wsframe.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"

#define MAX_MESSAGE    (16u << 20)
#define MAX_HEADER_LEN 8192
#define READ_CHUNK     65536
#define MAX_SUBS       8 /* open REQs remembered per connection (--fanout) */
#define SUB_MAX_LEN    72
#define MAX_EVENTS     256
#define ID_LISTEN      UINT32_MAX
#define ID_SIGNAL      (UINT32_MAX - 1)

/* One client connection. Owned by: the sink's thread. */
struct sconn {
    int fd;
    int ep;
    uint32_t id;
    bool is_open; /* upgraded */
    bool is_dirty;
    bool wants_out; /* EPOLLOUT is in the socket's epoll events */
    bool is_fragmented;
    struct buf rx, tx, frag;
    size_t rx_off, tx_off;
    uint32_t n_subs;
    uint8_t sub_len[MAX_SUBS];
    char subs[MAX_SUBS][SUB_MAX_LEN]; /* raw JSON strings, quotes included */
};

struct sink {
    int ep, lfd, sfd;
    bool is_fanout;
    struct sconn **conns; /* by slot; NULL for a free slot */
    uint32_t n_slots;
    uint32_t *dirty;
    uint32_t n_dirty;
    uint64_t n_accepted, n_messages, n_events, n_reqs, n_closes, n_other, n_sent_events;
};

static void conn_close(struct sink *s, uint32_t id)
{
    struct sconn *c = s->conns[id];
    if (c == NULL) {
        return;
    }
    close(c->fd);
    buf_fini(&c->rx);
    buf_fini(&c->tx);
    buf_fini(&c->frag);
    free(c);
    s->conns[id] = NULL;
}

/* EPOLLOUT only while bytes wait for room in the socket (an edge-triggered
 * EPOLLOUT would wake the loop after nearly every write). */
static int want_out(struct sconn *c, bool is_wanted)
{
    if (c->wants_out == is_wanted) {
        return 0;
    }
    struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET | (is_wanted ? EPOLLOUT : 0),
                              .data.u32 = c->id };
    c->wants_out = is_wanted;
    return epoll_ctl(c->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0 ? OST_EIO : 0;
}

static int flush(struct sconn *c)
{
    while (c->tx_off < c->tx.len) {
        ssize_t w = send(c->fd, c->tx.data + c->tx_off, c->tx.len - c->tx_off, MSG_NOSIGNAL);
        if (w > 0) {
            c->tx_off += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return want_out(c, true);
        } else {
            return OST_EIO;
        }
    }
    c->tx.len = 0;
    c->tx_off = 0;
    return want_out(c, false);
}

static int send_text(struct sink *s, uint32_t id, const char *const *parts, const size_t *lens,
                     size_t n)
{
    struct sconn *c = s->conns[id];
    int rc = wsframe_append(&c->tx, WSFRAME_TEXT, parts, lens, n, NULL);
    if (rc == 0 && !c->is_dirty) {
        c->is_dirty = true;
        s->dirty[s->n_dirty++] = id;
    }
    return rc;
}

/* --fanout: every open REQ of every connection gets the event. */
static int broadcast(struct sink *s, const char *ev, size_t len)
{
    for (uint32_t id = 0; id < s->n_slots; id++) {
        struct sconn *c = s->conns[id];
        for (uint32_t k = 0; c != NULL && c->is_open && k < c->n_subs; k++) {
            const char *parts[5] = { "[\"EVENT\",", c->subs[k], ",", ev, "]" };
            size_t lens[5] = { 9, c->sub_len[k], 1, len, 1 };
            int rc = send_text(s, id, parts, lens, 5);
            if (rc < 0) {
                return rc;
            }
            s->n_sent_events++;
        }
    }
    return 0;
}

static void forget_sub(struct sconn *c, const char *sub, size_t len)
{
    for (uint32_t k = 0; k < c->n_subs; k++) {
        if (c->sub_len[k] == len && memcmp(c->subs[k], sub, len) == 0) {
            c->n_subs--;
            memcpy(c->subs[k], c->subs[c->n_subs], SUB_MAX_LEN);
            c->sub_len[k] = c->sub_len[c->n_subs];
            return;
        }
    }
}

/* One text message: the label, then what each label needs. */
static int on_text(struct sink *s, uint32_t id, const char *p, size_t len)
{
    struct sconn *c = s->conns[id];
    const char *end = p + len, *next, *reason;
    struct json_str label, sub;
    s->n_messages++;
    p = json_skip_ws(p, end);
    if (p == end || *p != '[') {
        s->n_other++;
        return 0;
    }
    p = json_skip_ws(p + 1, end);
    if (p == end || json_scan_string(p, end, &label, NULL, &next, &reason) < 0) {
        s->n_other++;
        return 0;
    }
    p = json_skip_ws(next, end);
    p = p < end && *p == ',' ? json_skip_ws(p + 1, end) : end;
    if (label.len == 5 && memcmp(label.p, "EVENT", 5) == 0) {
        const char *idp = memmem(p, (size_t)(end - p), "\"id\":\"", 6);
        const char *last = end;
        while (last > p && last[-1] != ']') {
            last--;
        }
        if (idp == NULL || end - idp < 6 + 64 + 1 || last <= p) {
            s->n_other++;
            return 0;
        }
        s->n_events++;
        const char *parts[3] = { "[\"OK\",\"", idp + 6, "\",true,\"\"]" };
        size_t lens[3] = { 7, 64, 10 };
        int rc = send_text(s, id, parts, lens, 3);
        return rc ? rc : s->is_fanout ? broadcast(s, p, (size_t)(last - 1 - p)) : 0;
    }
    bool is_req = label.len == 3 && memcmp(label.p, "REQ", 3) == 0;
    bool is_close = label.len == 5 && memcmp(label.p, "CLOSE", 5) == 0;
    if ((!is_req && !is_close) || p == end ||
        json_scan_string(p, end, &sub, NULL, &next, &reason) < 0) {
        s->n_other++;
        return 0;
    }
    size_t sub_len = (size_t)(next - p);
    if (is_close) {
        s->n_closes++;
        forget_sub(c, p, sub_len);
        return 0;
    }
    s->n_reqs++;
    if (s->is_fanout && c->n_subs < MAX_SUBS && sub_len <= SUB_MAX_LEN) {
        forget_sub(c, p, sub_len); /* a REQ with an open id replaces it */
        memcpy(c->subs[c->n_subs], p, sub_len);
        c->sub_len[c->n_subs++] = (uint8_t)sub_len;
    }
    const char *parts[3] = { "[\"EOSE\",", p, "]" };
    size_t lens[3] = { 8, sub_len, 1 };
    return send_text(s, id, parts, lens, 3);
}

/* The upgrade request, once complete: answers 101, or fails. */
static int on_request(struct sconn *c)
{
    const char *p = c->rx.data, *hend = memmem(p, c->rx.len, "\r\n\r\n", 4);
    if (hend == NULL) {
        return c->rx.len > MAX_HEADER_LEN ? OST_EIO : 0;
    }
    static const char name[] = "\r\nsec-websocket-key:";
    const char *key = NULL;
    for (const char *q = p; q + sizeof(name) - 1 < hend; q++) {
        if (strncasecmp(q, name, sizeof(name) - 1) == 0) {
            key = q + sizeof(name) - 1;
            break;
        }
    }
    if (key == NULL) {
        return OST_EIO;
    }
    while (*key == ' ' || *key == '\t') {
        key++;
    }
    const char *kend = key;
    while (kend < hend && *kend != '\r' && *kend != ' ') {
        kend++;
    }
    char accept[WSFRAME_ACCEPT_LEN + 1];
    wsframe_accept(key, (size_t)(kend - key), accept);
    c->rx_off = (size_t)(hend + 4 - p);
    c->is_open = true;
    return buf_printf(&c->tx,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                      accept);
}

/* The complete frames in rx. Returns 0, or OST_EIO to close. */
static int on_frames(struct sink *s, uint32_t id)
{
    struct sconn *c = s->conns[id];
    for (;;) {
        uint8_t *h = (uint8_t *)c->rx.data + c->rx_off;
        size_t avail = c->rx.len - c->rx_off;
        struct wsframe f;
        const char *why;
        int rc = wsframe_parse(h, avail, MAX_MESSAGE, &f, &why);
        if (rc < 0 || (rc == 1 && !f.is_masked)) {
            return OST_EIO; /* RFC 6455 5.1: client frames are masked */
        }
        if (rc == 0 || avail - f.header_len < f.len) {
            return 0;
        }
        char *payload = (char *)h + f.header_len;
        c->rx_off += f.header_len + (size_t)f.len;
        wsframe_unmask((uint8_t *)payload, (size_t)f.len, f.mask);
        const char *parts[1] = { payload };
        size_t lens[1] = { (size_t)f.len };
        if (f.op == WSFRAME_CLOSE) {
            lens[0] = f.len >= 2 ? 2 : 0;
            wsframe_append(&c->tx, WSFRAME_CLOSE, parts, lens, 1, NULL);
            flush(c);
            return OST_EIO;
        } else if (f.op == WSFRAME_PING) {
            rc = wsframe_append(&c->tx, WSFRAME_PONG, parts, lens, 1, NULL);
        } else if (f.op == WSFRAME_TEXT && f.is_fin && !c->is_fragmented) {
            rc = on_text(s, id, payload, (size_t)f.len);
        } else if (f.op == WSFRAME_TEXT || f.op == WSFRAME_CONT) {
            if (f.op == WSFRAME_TEXT) {
                buf_reset(&c->frag);
            }
            rc = buf_append(&c->frag, payload, (size_t)f.len);
            c->is_fragmented = !f.is_fin;
            rc = rc == 0 && f.is_fin ? on_text(s, id, c->frag.data, c->frag.len) : rc;
        }
        if (rc < 0) {
            return OST_EIO;
        }
    }
}

static int on_readable(struct sink *s, uint32_t id)
{
    struct sconn *c = s->conns[id];
    for (;;) {
        if (c->rx_off == c->rx.len) {
            c->rx_off = 0;
            c->rx.len = 0;
        } else if (c->rx_off > 0) {
            memmove(c->rx.data, c->rx.data + c->rx_off, c->rx.len - c->rx_off);
            c->rx.len -= c->rx_off;
            c->rx_off = 0;
        }
        if (buf_reserve(&c->rx, READ_CHUNK) < 0) {
            return OST_ENOMEM;
        }
        size_t room = c->rx.cap - c->rx.len;
        ssize_t r = read(c->fd, c->rx.data + c->rx.len, room);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        }
        if (r <= 0) {
            return OST_EIO;
        }
        c->rx.len += (size_t)r;
        bool was_open = c->is_open;
        int rc = c->is_open ? 0 : on_request(c);
        rc = rc == 0 && c->is_open ? on_frames(s, id) : rc;
        if (rc == 0 && (!was_open || c->tx.len > 0) && !c->is_dirty) {
            c->is_dirty = true;
            s->dirty[s->n_dirty++] = id;
        }
        /* A short read emptied the socket; later data raises a new edge. */
        if (rc < 0 || (size_t)r < room) {
            return rc;
        }
    }
}

static int on_accept(struct sink *s)
{
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
        }
        uint32_t id = 0;
        while (id < s->n_slots && s->conns[id] != NULL) {
            id++;
        }
        if (id == s->n_slots) {
            uint32_t n = s->n_slots ? 2 * s->n_slots : 1024;
            struct sconn **conns = realloc(s->conns, n * sizeof(*conns));
            uint32_t *dirty = conns ? realloc(s->dirty, n * sizeof(*dirty)) : NULL;
            if (conns != NULL) {
                s->conns = conns;
            }
            if (dirty == NULL) {
                close(fd);
                return OST_ENOMEM;
            }
            s->dirty = dirty;
            memset(s->conns + s->n_slots, 0, (n - s->n_slots) * sizeof(*conns));
            s->n_slots = n;
        }
        struct sconn *c = calloc(1, sizeof(*c));
        struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.u32 = id };
        if (c == NULL || epoll_ctl(s->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            free(c);
            close(fd);
            return OST_ENOMEM;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = fd;
        c->ep = s->ep;
        c->id = id;
        s->conns[id] = c;
        s->n_accepted++;
    }
}

/* Writes what the last batch of events queued. */
static void flush_dirty(struct sink *s)
{
    uint32_t n = s->n_dirty;
    s->n_dirty = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct sconn *c = s->conns[s->dirty[i]];
        if (c != NULL) {
            c->is_dirty = false;
            if (flush(c) < 0) {
                conn_close(s, s->dirty[i]);
            }
        }
    }
}

static int serve(struct sink *s)
{
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(s->ep, evs, MAX_EVENTS, -1);
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
        for (int i = 0; i < n; i++) {
            uint32_t id = evs[i].data.u32;
            if (id == ID_SIGNAL) {
                return 0;
            }
            if (id == ID_LISTEN) {
                int rc = on_accept(s);
                if (rc < 0) {
                    fprintf(stderr, "sink: accept: %s\n", ost_strerror(rc));
                }
                continue;
            }
            struct sconn *c = s->conns[id];
            int rc = 0;
            if (c != NULL && (evs[i].events & EPOLLOUT)) {
                rc = flush(c);
            }
            if (c != NULL && rc == 0 && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))) {
                rc = on_readable(s, id);
            }
            if (c != NULL && (rc < 0 || (evs[i].events & EPOLLERR))) {
                conn_close(s, id);
            }
        }
        flush_dirty(s);
    }
}

static int listen_on(struct sink *s, uint16_t port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
    socklen_t len = sizeof(sa);
    int one = 1;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u32 = ID_LISTEN };
    if (s->lfd < 0 || setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s->lfd, 4096) < 0 ||
        getsockname(s->lfd, (struct sockaddr *)&sa, &len) < 0 ||
        epoll_ctl(s->ep, EPOLL_CTL_ADD, s->lfd, &ev) < 0) {
        fprintf(stderr, "sink: cannot listen on 127.0.0.1:%u: %s\n", (unsigned)port,
                strerror(errno));
        return OST_EIO;
    }
    printf("%u\n", (unsigned)ntohs(sa.sin_port));
    fflush(stdout);
    fprintf(stderr, "sink listening on ws://127.0.0.1:%u%s\n", (unsigned)ntohs(sa.sin_port),
            s->is_fanout ? " (fanout)" : "");
    return 0;
}

int main(int argc, char **argv)
{
    struct sink s = { .ep = -1, .lfd = -1, .sfd = -1 };
    unsigned long port = 0;
    for (int i = 1; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--fanout") == 0) {
            s.is_fanout = true;
        } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc &&
                   (port = strtoul(argv[i + 1], &end, 10)) <= 65535 && *end == '\0') {
            i++;
        } else {
            fprintf(stderr, "usage: sink [--port 0] [--fanout]\n");
            return 2;
        }
    }
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    s.ep = epoll_create1(EPOLL_CLOEXEC);
    s.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = ID_SIGNAL };
    int rc = s.ep < 0 || s.sfd < 0 || epoll_ctl(s.ep, EPOLL_CTL_ADD, s.sfd, &ev) < 0 ? -errno : 0;
    rc = rc ? rc : listen_on(&s, (uint16_t)port);
    rc = rc ? rc : serve(&s);
    if (rc == 0) {
        fprintf(stderr,
                "sink: %" PRIu64 " connections, %" PRIu64 " messages: %" PRIu64 " EVENT, %" PRIu64
                " REQ, %" PRIu64 " CLOSE, %" PRIu64 " other; %" PRIu64 " events sent\n",
                s.n_accepted, s.n_messages, s.n_events, s.n_reqs, s.n_closes, s.n_other,
                s.n_sent_events);
    } else {
        fprintf(stderr, "sink: %s\n", ost_strerror(rc));
    }
    for (uint32_t id = 0; id < s.n_slots; id++) {
        conn_close(&s, id);
    }
    free(s.conns);
    free(s.dirty);
    if (s.lfd >= 0) {
        close(s.lfd);
    }
    if (s.sfd >= 0) {
        close(s.sfd);
    }
    if (s.ep >= 0) {
        close(s.ep);
    }
    return rc < 0 ? 1 : 0;
}
