/*
 * The scripted HTTP/1.1 test server. One thread polls the listening
 * socket, a wake pipe (written by httpfx_stop) and up to FX_MAX_CONNS
 * connections; everything but the request log and the connection count
 * belongs to that thread. Sockets are blocking: a read follows poll, and
 * answers are small enough that a write completes while the client reads.
 */
#include "httpfx.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>

#include "common/buf.h"
#include "common/err.h"

#define FX_MAX_CONNS 16
#define FX_MAX_HEAD  16384
#define FX_MAX_BODY  (64u << 20)
#define FX_READ_LEN  65536

struct fx_conn {
    int fd; /* -1: a free slot */
    unsigned no;
    bool is_hung; /* HTTPFX_HANG: read and drop until the peer closes */
    struct buf in;
};

struct httpfx {
    int listen_fd;
    int wake[2];
    uint16_t port;
    pthread_t thread;
    struct httpfx_step *steps; /* bodies are copies */
    size_t n_steps;
    size_t next_step;                   /* owned by: the server thread */
    struct fx_conn conns[FX_MAX_CONNS]; /* owned by: the server thread */
    pthread_mutex_t mu;
    struct httpfx_req **reqs; /* protected by: mu (the array; each record is
                                 immutable once appended) */
    size_t n_reqs;            /* protected by: mu */
    size_t cap_reqs;          /* protected by: mu */
    unsigned n_conns;         /* protected by: mu */
};

static void conn_close(struct fx_conn *c)
{
    close(c->fd);
    c->fd = -1;
    buf_fini(&c->in);
}

static bool send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static void copy_field(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap) {
        len = cap - 1;
    }
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* Fills r from the head [p, p + len), which ends in "\r\n\r\n". Returns
 * false for what this server does not take: a malformed request line or
 * a chunked body. */
static bool parse_head(const char *p, size_t len, struct httpfx_req *r, size_t *body_len)
{
    const char *end = p + len;
    const char *eol = memmem(p, len, "\r\n", 2);
    const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (sp2 == NULL) {
        return false;
    }
    copy_field(r->method, sizeof(r->method), p, (size_t)(sp1 - p));
    copy_field(r->path, sizeof(r->path), sp1 + 1, (size_t)(sp2 - sp1 - 1));
    *body_len = 0;
    for (const char *line = eol + 2; line < end; line = eol + 2) {
        eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon == NULL) {
            continue; /* the empty line that ends the head */
        }
        size_t name_len = (size_t)(colon - line);
        const char *v = colon + 1;
        while (v < eol && (*v == ' ' || *v == '\t')) {
            v++;
        }
        size_t v_len = (size_t)(eol - v);
        if (name_len == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
            *body_len = strtoul(v, NULL, 10);
        } else if (name_len == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
            return false;
        } else if (name_len == 13 && strncasecmp(line, "Authorization", 13) == 0) {
            copy_field(r->authorization, sizeof(r->authorization), v, v_len);
        } else if (name_len == 12 && strncasecmp(line, "Content-Type", 12) == 0) {
            copy_field(r->content_type, sizeof(r->content_type), v, v_len);
        } else if (name_len == 6 && strncasecmp(line, "Expect", 6) == 0) {
            copy_field(r->expect, sizeof(r->expect), v, v_len);
        }
    }
    return true;
}

static bool record(struct httpfx *fx, struct httpfx_req *r)
{
    bool ok = true;
    pthread_mutex_lock(&fx->mu);
    if (fx->n_reqs == fx->cap_reqs) {
        size_t cap = fx->cap_reqs ? fx->cap_reqs * 2 : 16;
        struct httpfx_req **p = realloc(fx->reqs, cap * sizeof(*p));
        if (p == NULL) {
            ok = false;
        } else {
            fx->reqs = p;
            fx->cap_reqs = cap;
        }
    }
    if (ok) {
        fx->reqs[fx->n_reqs++] = r;
    }
    pthread_mutex_unlock(&fx->mu);
    return ok;
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 404:
        return "Not Found";
    case 429:
        return "Too Many Requests";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

/* Carries out the next step for request r on c. Returns false when c is
 * closed. */
static bool act(struct httpfx *fx, struct fx_conn *c, const struct httpfx_req *r)
{
    static const struct httpfx_step exhausted = { HTTPFX_RESPOND, 500, "httpfx: script exhausted" };
    const struct httpfx_step *s =
        fx->next_step < fx->n_steps ? &fx->steps[fx->next_step++] : &exhausted;
    switch (s->action) {
    case HTTPFX_RESPOND:
        break;
    case HTTPFX_RESET: {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        conn_close(c);
        return false;
    }
    case HTTPFX_CLOSE:
        conn_close(c);
        return false;
    case HTTPFX_HANG:
        c->is_hung = true;
        buf_reset(&c->in);
        return true;
    }
    const char *body = s->body ? s->body : "";
    size_t body_len = strlen(body);
    struct buf out;
    buf_init(&out);
    bool ok = buf_printf(&out,
                         "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\n\r\n",
                         s->status, reason(s->status), body_len) == 0;
    if (ok && strcmp(r->method, "HEAD") != 0) {
        ok = buf_append(&out, body, body_len) == 0;
    }
    ok = ok && send_all(c->fd, out.data, out.len);
    buf_fini(&out);
    if (!ok) {
        conn_close(c);
    }
    return ok;
}

/* Handles every complete request in c's input. Returns false when c is
 * closed. */
static bool serve(struct httpfx *fx, struct fx_conn *c)
{
    while (c->in.len > 0 && !c->is_hung) {
        /* Anything but a method (a TLS ClientHello, say) is refused at
         * once rather than waited on. */
        if (c->in.data[0] < 'A' || c->in.data[0] > 'Z') {
            conn_close(c);
            return false;
        }
        const char *end = memmem(c->in.data, c->in.len, "\r\n\r\n", 4);
        if (end == NULL) {
            if (c->in.len > FX_MAX_HEAD) {
                conn_close(c);
                return false;
            }
            return true;
        }
        size_t head_len = (size_t)(end - c->in.data) + 4, body_len = 0;
        struct httpfx_req *r = calloc(1, sizeof(*r));
        if (r == NULL || !parse_head(c->in.data, head_len, r, &body_len) ||
            body_len > FX_MAX_BODY) {
            free(r);
            conn_close(c);
            return false;
        }
        if (c->in.len - head_len < body_len) {
            free(r);
            return true;
        }
        r->conn_no = c->no;
        r->body_len = body_len;
        r->body = malloc(body_len + 1);
        if (r->body != NULL) {
            memcpy(r->body, c->in.data + head_len, body_len);
            r->body[body_len] = '\0';
        }
        /* Complete before it is published: readers take no lock on it. */
        if (r->body == NULL || !record(fx, r)) {
            free(r->body);
            free(r);
            conn_close(c);
            return false;
        }
        size_t used = head_len + body_len;
        memmove(c->in.data, c->in.data + used, c->in.len - used);
        c->in.len -= used;
        if (!act(fx, c, r)) {
            return false;
        }
    }
    return true;
}

static void on_readable(struct httpfx *fx, struct fx_conn *c)
{
    if (buf_reserve(&c->in, FX_READ_LEN) < 0) {
        conn_close(c);
        return;
    }
    ssize_t n = recv(c->fd, c->in.data + c->in.len, FX_READ_LEN, 0);
    if (n <= 0) {
        conn_close(c);
        return;
    }
    if (c->is_hung) {
        return; /* what a hung connection is sent goes nowhere */
    }
    c->in.len += (size_t)n;
    serve(fx, c);
}

static void on_accept(struct httpfx *fx)
{
    int fd = accept4(fx->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        return;
    }
    for (int i = 0; i < FX_MAX_CONNS; i++) {
        struct fx_conn *c = &fx->conns[i];
        if (c->fd < 0) {
            pthread_mutex_lock(&fx->mu);
            c->no = ++fx->n_conns;
            pthread_mutex_unlock(&fx->mu);
            c->fd = fd;
            c->is_hung = false;
            buf_init(&c->in);
            return;
        }
    }
    close(fd); /* the caller polls the listener only with a free slot */
}

static void *fx_main(void *arg)
{
    struct httpfx *fx = arg;
    for (;;) {
        struct pollfd pfd[2 + FX_MAX_CONNS];
        int slot[2 + FX_MAX_CONNS];
        nfds_t n = 0;
        bool has_free = false;
        pfd[n++] = (struct pollfd){ .fd = fx->wake[0], .events = POLLIN };
        for (int i = 0; i < FX_MAX_CONNS; i++) {
            if (fx->conns[i].fd < 0) {
                has_free = true;
                continue;
            }
            slot[n] = i;
            pfd[n++] = (struct pollfd){ .fd = fx->conns[i].fd, .events = POLLIN };
        }
        nfds_t listen_at = n;
        if (has_free) {
            pfd[n++] = (struct pollfd){ .fd = fx->listen_fd, .events = POLLIN };
        }
        if (poll(pfd, n, -1) < 0) {
            continue; /* EINTR */
        }
        if (pfd[0].revents != 0) {
            break;
        }
        for (nfds_t i = 1; i < listen_at; i++) {
            if (pfd[i].revents != 0) {
                on_readable(fx, &fx->conns[slot[i]]);
            }
        }
        if (has_free && pfd[listen_at].revents != 0) {
            on_accept(fx);
        }
    }
    return NULL;
}

static int copy_steps(struct httpfx *fx, const struct httpfx_step *steps, size_t n)
{
    if (n == 0) {
        return 0;
    }
    fx->steps = calloc(n, sizeof(*fx->steps));
    if (fx->steps == NULL) {
        return OST_ENOMEM;
    }
    fx->n_steps = n;
    for (size_t i = 0; i < n; i++) {
        fx->steps[i] = steps[i];
        fx->steps[i].body = NULL;
        if (steps[i].body != NULL && (fx->steps[i].body = strdup(steps[i].body)) == NULL) {
            return OST_ENOMEM;
        }
    }
    return 0;
}

static int open_listener(struct httpfx *fx)
{
    fx->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fx->listen_fd < 0) {
        return -errno;
    }
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sa_len = sizeof(sa);
    if (bind(fx->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fx->listen_fd, FX_MAX_CONNS) < 0 ||
        getsockname(fx->listen_fd, (struct sockaddr *)&sa, &sa_len) < 0) {
        return -errno;
    }
    fx->port = ntohs(sa.sin_port);
    return 0;
}

static void fx_free(struct httpfx *fx)
{
    for (int i = 0; i < FX_MAX_CONNS; i++) {
        if (fx->conns[i].fd >= 0) {
            conn_close(&fx->conns[i]);
        }
    }
    for (int i = 0; i < 2; i++) {
        if (fx->wake[i] >= 0) {
            close(fx->wake[i]);
        }
    }
    if (fx->listen_fd >= 0) {
        close(fx->listen_fd);
    }
    for (size_t i = 0; i < fx->n_steps; i++) {
        free((char *)fx->steps[i].body);
    }
    free(fx->steps);
    for (size_t i = 0; i < fx->n_reqs; i++) {
        free(fx->reqs[i]->body);
        free(fx->reqs[i]);
    }
    free(fx->reqs);
    pthread_mutex_destroy(&fx->mu);
    free(fx);
}

int httpfx_start(const struct httpfx_step *steps, size_t n, struct httpfx **out)
{
    struct httpfx *fx = calloc(1, sizeof(*fx));
    if (fx == NULL) {
        return OST_ENOMEM;
    }
    fx->listen_fd = fx->wake[0] = fx->wake[1] = -1;
    for (int i = 0; i < FX_MAX_CONNS; i++) {
        fx->conns[i].fd = -1;
    }
    pthread_mutex_init(&fx->mu, NULL);
    int rc = copy_steps(fx, steps, n);
    rc = rc == 0 ? open_listener(fx) : rc;
    if (rc == 0 && pipe2(fx->wake, O_CLOEXEC) < 0) {
        rc = -errno;
    }
    if (rc == 0 && pthread_create(&fx->thread, NULL, fx_main, fx) != 0) {
        rc = OST_ENOMEM;
    }
    if (rc < 0) {
        goto fail;
    }
    *out = fx;
    return 0;
fail:
    fx_free(fx);
    return rc;
}

void httpfx_stop(struct httpfx *fx)
{
    if (fx == NULL) {
        return;
    }
    char x = 'x';
    while (write(fx->wake[1], &x, 1) < 0 && errno == EINTR) {
    }
    pthread_join(fx->thread, NULL);
    fx_free(fx);
}

uint16_t httpfx_port(const struct httpfx *fx)
{
    return fx->port;
}

void httpfx_url(const struct httpfx *fx, char *out, size_t cap)
{
    snprintf(out, cap, "http://127.0.0.1:%u", (unsigned)fx->port);
}

size_t httpfx_request_count(struct httpfx *fx)
{
    pthread_mutex_lock(&fx->mu);
    size_t n = fx->n_reqs;
    pthread_mutex_unlock(&fx->mu);
    return n;
}

unsigned httpfx_connection_count(struct httpfx *fx)
{
    pthread_mutex_lock(&fx->mu);
    unsigned n = fx->n_conns;
    pthread_mutex_unlock(&fx->mu);
    return n;
}

const struct httpfx_req *httpfx_request(struct httpfx *fx, size_t i)
{
    pthread_mutex_lock(&fx->mu);
    const struct httpfx_req *r = i < fx->n_reqs ? fx->reqs[i] : NULL;
    pthread_mutex_unlock(&fx->mu);
    return r;
}
