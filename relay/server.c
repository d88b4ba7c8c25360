/*
 * The io thread's libwebsockets skeleton. Design: the lws callbacks are a
 * thin switch calling named functions; the protocol table has our HTTP
 * handler first and "nostr" second, marked default with a pvo so clients
 * that name no subprotocol land on it. Work from other threads arrives on
 * io_q; LWS_CALLBACK_EVENT_WAIT_CANCELLED (delivered to every protocol,
 * handled only in "nostr") drains it.
 */
#include "relay/server.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libwebsockets.h>

#include "common/err.h"
#include "common/log.h"
#include "common/queue.h"
#include "nips/nip42.h"
#include "nips/nip45.h"
#include "relay/payload.h"
#include "relay/proto.h"

struct server {
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    const struct server_config *cfg;
    struct server_hooks hooks;
    struct queue io_q;
    _Atomic int wake_pending;
    _Atomic bool is_stopping;
    struct conn_table conns;
    uint64_t next_conn_id; /* owned by: io thread */
    uint64_t next_sub_key; /* owned by: io thread */
    struct buf scratch;    /* owned by: io thread; frames are built here */
    size_t nip11_len;
    size_t html_len;
};

struct http_session {
    const char *body;
    size_t len;
};

#define IO_BATCH 256

/* lws gives every WebSocket connection a receive buffer of this size for
 * its whole life, and delivers larger messages in pieces of it, which
 * conn_rx_append joins. Small keeps idle connections cheap; a typical event
 * still arrives in one piece. */
#define SERVER_RX_CHUNK 4096

static struct server *server_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* Formats into the scratch buffer behind LWS_PRE-free space and queues. */
static void send_scratch(struct server *s, struct conn *c)
{
    if (conn_send(c, s->scratch.data, s->scratch.len) < 0) {
        log_debug("[c:%llu] outbound queue full, closing", (unsigned long long)c->conn_id);
    }
}

void server_send_notice(struct server *s, struct conn *c, const char *reason)
{
    buf_reset(&s->scratch);
    if (proto_fmt_notice(&s->scratch, reason) == 0) {
        send_scratch(s, c);
    }
}

void server_send_ok(struct server *s, struct conn *c, const uint8_t id[32], bool accepted,
                    const char *reason)
{
    buf_reset(&s->scratch);
    if (proto_fmt_ok(&s->scratch, id, accepted, reason) == 0) {
        send_scratch(s, c);
    }
}

void server_send_closed(struct server *s, struct conn *c, const char *sub_id, size_t sub_id_len,
                        const char *reason)
{
    buf_reset(&s->scratch);
    if (proto_fmt_closed(&s->scratch, sub_id, sub_id_len, reason) == 0) {
        send_scratch(s, c);
    }
}

/* Whether the event in p may go to c (NIP-42 direct message rule). A
 * stored event's payload carries a parsed event only when the reader found
 * it to be a direct message; otherwise ev is zeroed, of kind 0. */
static bool may_see(const struct server *s, const struct conn *c, const struct payload *p)
{
    return s->cfg->auth_policy == NULL || nip42_may_see(s->cfg->auth_policy, &c->auth, &p->ev);
}

static void deliver_live(struct server *s, struct server_msg *m)
{
    struct payload *p = m->u.live.payload;
    for (uint32_t i = 0; i < m->u.live.n; i++) {
        struct conn *c = conn_table_get(&s->conns, m->u.live.to[i].conn_id);
        struct conn_sub *sub = c ? conn_sub_find_key(c, m->u.live.to[i].sub_key) : NULL;
        if (sub == NULL) {
            continue; /* closed since the broadcast thread matched it */
        }
        if (!may_see(s, c, p)) {
            continue;
        }
        if (!sub->is_live) {
            conn_hold_event(c, sub, p);
        } else if (p->seq > sub->floor_seq) {
            conn_send_event(c, sub, p);
        }
    }
    free(m->u.live.to);
    payload_unref(p);
}

/* Handles one io_q message; releases what it carries. */
static void handle_msg(struct server *s, struct server_msg *m)
{
    if (m->type == SERVER_MSG_LIVE) {
        deliver_live(s, m);
        return;
    }
    struct conn *c = conn_table_get(&s->conns, m->conn_id);
    struct conn_sub *sub = NULL;
    if (c != NULL && m->type != SERVER_MSG_OK && m->type != SERVER_MSG_NOTICE &&
        m->type != SERVER_MSG_COUNT && m->type != SERVER_MSG_AUTH) {
        sub = conn_sub_find_key(c, m->sub_key);
    }
    switch (m->type) {
    case SERVER_MSG_OK:
        if (c != NULL) {
            server_send_ok(s, c, m->u.ok.id, m->u.ok.accepted, m->u.ok.reason);
        }
        break;
    case SERVER_MSG_NOTICE:
        if (c != NULL) {
            server_send_notice(s, c, m->u.notice);
        }
        break;
    case SERVER_MSG_HIST:
        if (sub != NULL && !sub->is_live && may_see(s, c, m->u.payload)) {
            conn_send_event(c, sub, m->u.payload);
        }
        payload_unref(m->u.payload);
        break;
    case SERVER_MSG_EOSE:
        if (sub != NULL && !sub->is_live) {
            buf_reset(&s->scratch);
            if (proto_fmt_eose(&s->scratch, sub->id, sub->id_len,
                               m->u.eose.is_complete && s->cfg->eose_finish_hint) == 0) {
                send_scratch(s, c);
            }
            conn_sub_go_live(c, sub, m->u.eose.seq);
        }
        break;
    case SERVER_MSG_CLOSED:
        if (sub != NULL) {
            server_send_closed(s, c, sub->id, sub->id_len, m->u.notice);
            conn_sub_remove(c, sub);
            s->hooks.on_sub_dropped(s->hooks.ud, m->conn_id, m->sub_key);
        }
        break;
    case SERVER_MSG_COUNT:
        if (c != NULL && m->u.count.reason != NULL) {
            server_send_closed(s, c, m->u.count.sub_id, m->u.count.sub_id_len, m->u.count.reason);
        } else if (c != NULL) {
            char hll[NIP45_HLL_HEX_LEN];
            if (m->u.count.hll != NULL) {
                nip45_hll_to_hex(m->u.count.hll, hll);
            }
            buf_reset(&s->scratch);
            if (proto_fmt_count(&s->scratch, m->u.count.sub_id, m->u.count.sub_id_len, m->u.count.n,
                                hll, m->u.count.hll != NULL ? sizeof(hll) : 0) == 0) {
                send_scratch(s, c);
            }
        }
        free(m->u.count.sub_id);
        free(m->u.count.hll);
        break;
    case SERVER_MSG_AUTH:
        if (c != NULL) {
            const char *reason = "";
            bool is_added = nip42_auth_add(&c->auth, m->u.auth.pubkey, &reason) == 0;
            server_send_ok(s, c, m->u.auth.id, is_added, reason);
        }
        break;
    case SERVER_MSG_LIVE:
        break;
    }
}

static void on_wakeup(struct server *s)
{
    /* Clear the flag before draining: a post that lands after the last pop
     * sets it again and calls lws_cancel_service, so no wakeup is lost. */
    atomic_store(&s->wake_pending, 0);
    struct server_msg batch[IO_BATCH];
    int n;
    while ((n = queue_pop_batch(&s->io_q, batch, IO_BATCH, 0)) > 0) {
        for (int i = 0; i < n; i++) {
            handle_msg(s, &batch[i]);
        }
    }
    if (s->hooks.on_idle != NULL) {
        s->hooks.on_idle(s->hooks.ud);
    }
}

int server_post(struct server *s, const struct server_msg *m)
{
    int rc = queue_push(&s->io_q, m);
    if (rc == 0 && atomic_exchange(&s->wake_pending, 1) == 0) {
        lws_cancel_service(s->ctx);
    }
    return rc;
}

/* ---- WebSocket protocol "nostr" ---- */

static int on_established(struct server *s, struct conn *c, struct lws *wsi)
{
    if (atomic_load(&s->is_stopping)) {
        return -1;
    }
    conn_init(c, ++s->next_conn_id, wsi, &s->cfg->conn_limits);
    if (conn_table_put(&s->conns, c) < 0) {
        conn_fini(c);
        return -1;
    }
    log_debug("[c:%llu] connected from %s", (unsigned long long)c->conn_id, c->addr);
    /* NIP-42: the challenge goes out at once, so that a client always holds
     * one when an answer says "auth-required:". With NIP-42 off conn_init
     * has left the connection with no challenge and no keys. */
    if (!s->cfg->is_auth_enabled) {
        return 0;
    }
    if (nip42_auth_init(&c->auth) < 0) {
        log_warn("[c:%llu] no randomness for an AUTH challenge, closing",
                 (unsigned long long)c->conn_id);
        conn_table_del(&s->conns, c->conn_id);
        conn_fini(c);
        return -1;
    }
    buf_reset(&s->scratch);
    if (proto_fmt_auth(&s->scratch, c->auth.challenge) == 0) {
        send_scratch(s, c);
    }
    return 0;
}

static void on_receive(struct server *s, struct conn *c, struct lws *wsi, const void *in,
                       size_t len)
{
    const char *reason;
    int rc = conn_rx_append(c, in, len, lws_is_first_fragment(wsi), lws_is_final_fragment(wsi),
                            lws_frame_is_binary(wsi), &reason);
    if (rc < 0) {
        server_send_notice(s, c, reason);
        return;
    }
    if (rc == 1) {
        s->hooks.on_message(s->hooks.ud, c, c->rx.data, c->rx.len);
        buf_reset(&c->rx);
        if (c->rx.cap > 65536) {
            /* One huge message must not pin its buffer for the life of the
             * connection: idle connections stay small. */
            buf_fini(&c->rx);
        }
    }
}

static void on_closed(struct server *s, struct conn *c)
{
    if (conn_table_get(&s->conns, c->conn_id) != c) {
        return; /* never fully established */
    }
    s->hooks.on_closed(s->hooks.ud, c);
    conn_table_del(&s->conns, c->conn_id);
    log_debug("[c:%llu] closed", (unsigned long long)c->conn_id);
    conn_fini(c);
}

static int callback_nostr(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                          size_t len)
{
    struct server *s = server_of(wsi);
    struct conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        return on_established(s, c, wsi);
    case LWS_CALLBACK_RECEIVE:
        on_receive(s, c, wsi, in, len);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return conn_on_writeable(c, &s->scratch);
    case LWS_CALLBACK_CLOSED:
        on_closed(s, c);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (s != NULL) {
            on_wakeup(s);
        }
        return 0;
    default:
        return 0;
    }
}

/* ---- HTTP: NIP-11 and a short page ---- */

static int http_respond(struct lws *wsi, struct http_session *hs, unsigned status, const char *type,
                        const char *body, size_t len)
{
    unsigned char headers[LWS_PRE + 1024];
    unsigned char *start = headers + LWS_PRE, *p = start, *end = headers + sizeof(headers);
    static const struct {
        const char *name, *value;
    } cors[] = {
        { "access-control-allow-origin:", "*" },
        { "access-control-allow-headers:", "*" },
        { "access-control-allow-methods:", "GET, OPTIONS" },
    };
    if (lws_add_http_common_headers(wsi, status, type, len, &p, end)) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(cors) / sizeof(cors[0]); i++) {
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)cors[i].name,
                                        (const unsigned char *)cors[i].value,
                                        (int)strlen(cors[i].value), &p, end)) {
            return -1;
        }
    }
    if (lws_finalize_write_http_header(wsi, start, &p, end)) {
        return -1;
    }
    hs->body = body;
    hs->len = len;
    if (len == 0) {
        return lws_http_transaction_completed(wsi) ? -1 : 0;
    }
    lws_callback_on_writable(wsi);
    return 0;
}

static bool wants_nip11(struct lws *wsi)
{
    char accept[256];
    if (lws_hdr_copy(wsi, accept, sizeof(accept), WSI_TOKEN_HTTP_ACCEPT) <= 0) {
        return false;
    }
    return strstr(accept, "application/nostr+json") != NULL;
}

static int on_http(struct server *s, struct lws *wsi, struct http_session *hs, const char *uri)
{
    memset(hs, 0, sizeof(*hs));
    if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0) {
        return http_respond(wsi, hs, HTTP_STATUS_NO_CONTENT, "text/plain", "", 0);
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
        static const char msg[] = "method not allowed\n";
        return http_respond(wsi, hs, HTTP_STATUS_METHOD_NOT_ALLOWED, "text/plain", msg,
                            sizeof(msg) - 1);
    }
    if (strcmp(uri, "/") != 0) {
        static const char msg[] = "not found\n";
        return http_respond(wsi, hs, HTTP_STATUS_NOT_FOUND, "text/plain", msg, sizeof(msg) - 1);
    }
    if (wants_nip11(wsi)) {
        return http_respond(wsi, hs, HTTP_STATUS_OK, "application/nostr+json", s->cfg->nip11_json,
                            s->nip11_len);
    }
    return http_respond(wsi, hs, HTTP_STATUS_OK, "text/html; charset=utf-8", s->cfg->html_page,
                        s->html_len);
}

static int on_http_writeable(struct lws *wsi, struct http_session *hs)
{
    if (hs->body == NULL) {
        return 0;
    }
    /* lws_write needs LWS_PRE bytes of headroom in front of the data. */
    unsigned char *frame = malloc(LWS_PRE + hs->len);
    if (frame == NULL) {
        return -1;
    }
    memcpy(frame + LWS_PRE, hs->body, hs->len);
    int n = lws_write(wsi, frame + LWS_PRE, hs->len, LWS_WRITE_HTTP_FINAL);
    free(frame);
    hs->body = NULL;
    if (n < (int)hs->len) {
        return -1;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int callback_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len)
{
    struct server *s = server_of(wsi);
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_http(s, wsi, user, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return on_http_writeable(wsi, user);
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

static const struct lws_protocols protocols[] = {
    { "http", callback_http, sizeof(struct http_session), 0, 0, NULL, 0 },
    { "nostr", callback_nostr, sizeof(struct conn), SERVER_RX_CHUNK, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 },
};

static const struct lws_protocol_vhost_options pvo_default = { NULL, NULL, "default", "1" };
static const struct lws_protocol_vhost_options pvo = { NULL, &pvo_default, "nostr", "" };

static void lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
        n--;
    }
    if (level & LLL_ERR) {
        log_error("lws: %.*s", (int)n, line);
    } else {
        log_warn("lws: %.*s", (int)n, line);
    }
}

int server_new(const struct server_config *cfg, const struct server_hooks *hooks,
               struct server **out)
{
    struct server *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return OST_ENOMEM;
    }
    s->cfg = cfg;
    s->hooks = *hooks;
    s->nip11_len = strlen(cfg->nip11_json);
    s->html_len = strlen(cfg->html_page);
    buf_init(&s->scratch);
    int rc = queue_init(&s->io_q, sizeof(struct server_msg), cfg->io_queue_cap);
    if (rc < 0) {
        free(s);
        return rc;
    }
    rc = conn_table_init(&s->conns);
    if (rc < 0) {
        queue_fini(&s->io_q);
        free(s);
        return rc;
    }

    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof(info));
    info.port = cfg->port;
    info.iface = cfg->bind;
    info.protocols = protocols;
    info.pvo = &pvo;
    info.user = s;
    info.vhost_name = "ostrich";
    info.server_string = "ostrich";
    info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    if (cfg->tls_cert != NULL && cfg->tls_cert[0] != '\0') {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = cfg->tls_cert;
        info.ssl_private_key_filepath = cfg->tls_key;
    }
    s->ctx = lws_create_context(&info);
    if (s->ctx == NULL) {
        log_error("cannot create the libwebsockets context");
        goto fail;
    }
    s->vhost = lws_create_vhost(s->ctx, &info);
    if (s->vhost == NULL) {
        log_error("cannot listen on %s port %d%s%s (address in use, or bad TLS certificate/key)",
                  cfg->bind, cfg->port, info.ssl_cert_filepath ? " with TLS from " : "",
                  info.ssl_cert_filepath ? info.ssl_cert_filepath : "");
        goto fail;
    }
    *out = s;
    return 0;
fail:
    if (s->ctx != NULL) {
        lws_context_destroy(s->ctx);
    }
    conn_table_fini(&s->conns);
    queue_fini(&s->io_q);
    free(s);
    return OST_EIO;
}

int server_port(const struct server *s)
{
    return lws_get_vhost_listen_port(s->vhost);
}

void server_run(struct server *s)
{
    while (!atomic_load(&s->is_stopping)) {
        if (lws_service(s->ctx, 0) < 0) {
            break;
        }
    }
}

void server_stop(struct server *s)
{
    atomic_store(&s->is_stopping, true);
    lws_cancel_service(s->ctx);
}

void server_wake(struct server *s)
{
    lws_cancel_service(s->ctx);
}

bool server_is_stopping(const struct server *s)
{
    return atomic_load(&s->is_stopping);
}

static bool outbound_empty(const struct server *s)
{
    for (size_t i = 0; i < s->conns.cap; i++) {
        const struct conn *c = s->conns.slots[i];
        if (c != NULL && c->out_head != NULL && !c->is_closing) {
            return false;
        }
    }
    return true;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void server_drain(struct server *s, _Atomic bool *is_done, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    while (now_ms() < deadline) {
        on_wakeup(s);
        if (atomic_load(is_done) && queue_len(&s->io_q) == 0 && outbound_empty(s)) {
            break;
        }
        lws_service(s->ctx, 0);
    }
    on_wakeup(s);
}

struct conn *server_conn(struct server *s, uint64_t conn_id)
{
    return conn_table_get(&s->conns, conn_id);
}

uint64_t server_next_sub_key(struct server *s)
{
    return ++s->next_sub_key;
}

size_t server_conn_count(const struct server *s)
{
    return s->conns.count;
}

void server_free(struct server *s)
{
    if (s == NULL) {
        return;
    }
    queue_close(&s->io_q);
    /* Destroying the context closes every connection (their CLOSED callbacks
     * run and release per-connection state). */
    lws_context_destroy(s->ctx);
    struct server_msg batch[IO_BATCH];
    int n;
    while ((n = queue_pop_batch(&s->io_q, batch, IO_BATCH, 0)) > 0) {
        for (int i = 0; i < n; i++) {
            if (batch[i].type == SERVER_MSG_LIVE) {
                free(batch[i].u.live.to);
                payload_unref(batch[i].u.live.payload);
            } else if (batch[i].type == SERVER_MSG_HIST) {
                payload_unref(batch[i].u.payload);
            } else if (batch[i].type == SERVER_MSG_COUNT) {
                free(batch[i].u.count.sub_id);
                free(batch[i].u.count.hll);
            }
        }
    }
    conn_table_fini(&s->conns);
    queue_fini(&s->io_q);
    buf_fini(&s->scratch);
    free(s);
}
