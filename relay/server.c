/*
 * The io thread's libwebsockets skeleton. Design: the lws callbacks are a
 * thin switch calling named functions; the protocol table has our HTTP
 * handler first and "nostr" second, marked default with a pvo so clients
 * that name no subprotocol land on it. Work from other threads arrives on
 * io_q; LWS_CALLBACK_EVENT_WAIT_CANCELLED (delivered to every protocol,
 * handled only in "nostr") drains it (server_msg.c).
 */
#include "relay/server.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/random.h>
#include <sys/socket.h>

#include <libwebsockets.h>

#include "common/err.h"
#include "common/log.h"
#include "common/queue.h"
#include "nips/nip42.h"
#include "nips/nip45.h"
#include "relay/metrics.h"
#include "relay/payload.h"
#include "relay/proto.h"
#include "relay/ratelimit.h"
#include "relay/server_int.h"
#include "relay/wsdeflate.h"

/* Set as a connection's opaque user data when it negotiated
 * permessage-deflate (see deflate_ext). */
static char deflate_marker;

/* lws gives every WebSocket connection a receive buffer of this size for
 * its whole life, and delivers larger messages in pieces of it, which
 * conn_rx_append joins. Small keeps idle connections cheap; a typical event
 * still arrives in one piece. */
#define SERVER_RX_CHUNK 4096

/* ---- protection: client addresses, connection limits, heartbeats ---- */

static int64_t now_ms(void);

/* At most one log line per address (or, for max_connections, in all) this
 * often about refused connections. */
#define REFUSAL_LOG_INTERVAL_MS 10000

static struct log_conn log_conn_of(const struct conn *c)
{
    return (struct log_conn){ .conn_id = c->conn_id, .addr = c->addr };
}

/* A header of the upgrade request into buf, or NULL when it is absent or
 * does not fit. */
static const char *header(struct lws *wsi, enum lws_token_indexes h, char *buf, int len)
{
    return lws_hdr_copy(wsi, buf, len, h) > 0 ? buf : NULL;
}

/* Sets c->ip and c->addr: the peer of the socket, or, when that is a
 * trusted proxy, the client it names (ratelimit_client_ip). */
static void identify_client(struct server *s, struct conn *c, struct lws *wsi)
{
    struct sockaddr_storage ss;
    socklen_t ss_len = sizeof(ss);
    struct ratelimit_ip peer;
    if (getpeername(lws_get_socket_fd(wsi), (struct sockaddr *)&ss, &ss_len) < 0 ||
        ratelimit_ip_from_sockaddr((const struct sockaddr *)&ss, &peer) < 0) {
        /* Not an IP socket: all such clients share the address "::". */
        memset(&c->ip, 0, sizeof(c->ip));
        return;
    }
    const struct ratelimit_blocks *trusted = &s->cfg->rate.trusted_proxies;
    c->ip = peer;
    if (ratelimit_blocks_match(trusted, &peer)) {
        /* lws holds at most 4096 bytes of headers by default, so any one
         * fits; one that did not would count as absent. */
        char xff[4097], real_ip[256];
        const char *xff_value = header(wsi, WSI_TOKEN_X_FORWARDED_FOR, xff, sizeof(xff));
#if defined(LWS_WITH_HTTP_UNCOMMON_HEADERS) || defined(LWS_HTTP_HEADERS_ALL)
        const char *real_value = header(wsi, WSI_TOKEN_HTTP_X_REAL_IP, real_ip, sizeof(real_ip));
#else
        const char *real_value =
            lws_hdr_custom_copy(wsi, real_ip, sizeof(real_ip), "x-real-ip:", 10) > 0 ? real_ip
                                                                                     : NULL;
#endif
        ratelimit_client_ip(&peer, xff_value, real_value, trusted, &c->ip);
    }
    ratelimit_ip_format(&c->ip, c->addr, sizeof(c->addr));
}

/* Over a connection limit: c says why in a NOTICE, then closes (a NOTICE
 * and a close code reach every client library, where a refused upgrade
 * shows as a bare connection error). */
static void refuse(struct server *s, struct conn *c, enum ratelimit_reason why, int64_t now)
{
    const struct ratelimit_limits *l = &s->cfg->rate;
    bool is_total = why == RATELIMIT_R_CONNECTIONS;
    c->is_refused = true;
    metrics_inc(&s->m->connections_rejected[is_total ? METRICS_REJECT_MAX_CONNECTIONS
                                                     : METRICS_REJECT_PER_IP]);
    struct ratelimit_addr *a = is_total ? NULL : ratelimit_table_find(&s->addrs, &c->ip);
    struct ratelimit_logstate *ls = a != NULL ? &a->refusals : &s->total_refusals;
    uint32_t n_unlogged;
    if (ratelimit_log_due(ls, now, REFUSAL_LOG_INTERVAL_MS, &n_unlogged)) {
        struct log_conn lc = log_conn_of(c);
        log_conn_info(&lc,
                      "connection refused: rate_limit.%s (%u) reached; %u more since the last "
                      "such line",
                      is_total ? "max_connections" : "max_connections_per_ip",
                      is_total ? l->max_connections : l->max_connections_per_ip, n_unlogged);
    }
    server_send_notice(s, c, ratelimit_reasons[why]);
    conn_close(c, is_total ? CONN_CLOSE_TRY_AGAIN_LATER : CONN_CLOSE_POLICY, ratelimit_reasons[why],
               true);
}

/* Applies the connection limits to the new connection c and sets up its
 * rate limits. Returns 0 (admitted), 1 (refused: it says why and closes)
 * or OST_ENOMEM. Exempt addresses count against max_connections only. */
static int admit(struct server *s, struct conn *c, int64_t now)
{
    const struct ratelimit_limits *l = &s->cfg->rate;
    bool is_exempt = ratelimit_is_exempt(l, &c->ip);
    struct ratelimit_addr *a = NULL;
    if (l->max_connections != 0 && s->conns.count >= l->max_connections) {
        refuse(s, c, RATELIMIT_R_CONNECTIONS, now);
        return 1;
    }
    if (!is_exempt) {
        int rc = ratelimit_table_acquire(&s->addrs, &c->ip, l, now, &a);
        if (rc == OST_ENOSPC) {
            refuse(s, c, RATELIMIT_R_IP_CONNECTIONS, now);
            return 1;
        }
        if (rc < 0) {
            return rc;
        }
    }
    ratelimit_conn_init(&c->rl, l, a, is_exempt, now);
    return 0;
}

/* Releases all c holds (any stage of set-up); on_closed does nothing more
 * for it afterwards. */
static void forget(struct server *s, struct conn *c)
{
    if (c->conn_id == 0) {
        return;
    }
    if (conn_table_get(&s->conns, c->conn_id) == c) {
        s->hooks.on_closed(s->hooks.ud, c);
        conn_table_del(&s->conns, c->conn_id);
        struct log_conn lc = log_conn_of(c);
        log_conn_debug(&lc, "closed");
    }
    if (c->rl.addr != NULL) {
        ratelimit_table_release(&s->addrs, c->rl.addr);
    }
    conn_fini(c);
    c->conn_id = 0;
}

/* The sweep's period: a quarter of the shortest timeout configured, so
 * that each is kept to within a quarter of itself, and at most a second
 * (the address table's sweep). */
static int64_t sweep_period_ms(const struct server_config *cfg)
{
    const int64_t timeouts_s[] = { cfg->ping_interval_s,
                                   cfg->ping_interval_s != 0 ? cfg->pong_timeout_s : 0,
                                   cfg->idle_timeout_s };
    int64_t period = 1000;
    for (size_t i = 0; i < sizeof(timeouts_s) / sizeof(timeouts_s[0]); i++) {
        if (timeouts_s[i] > 0 && timeouts_s[i] * 250 < period) {
            period = timeouts_s[i] * 250;
        }
    }
    return period;
}

/* Heartbeat and idle checks of one connection. Closing is asynchronous
 * (conn_close), so the connection table stays as it is while the sweep
 * walks it. */
static void check_conn(struct server *s, struct conn *c, int64_t now)
{
    const struct server_config *cfg = s->cfg;
    if (c->is_closing || c->is_close_after_flush) {
        return;
    }
    struct log_conn lc = log_conn_of(c);
    if (c->is_ping_out) {
        if (now - c->ping_sent_ms >= (int64_t)cfg->pong_timeout_s * 1000) {
            metrics_inc(&s->m->connections_rejected[METRICS_REJECT_IDLE]);
            log_conn_debug(&lc, "no answer to a ping within %u s, closing", cfg->pong_timeout_s);
            conn_close(c, CONN_CLOSE_GOING_AWAY, "no answer to ping", false);
        }
        return;
    }
    if (cfg->idle_timeout_s != 0 && c->n_subs == 0 &&
        now - c->last_msg_ms >= (int64_t)cfg->idle_timeout_s * 1000) {
        metrics_inc(&s->m->connections_rejected[METRICS_REJECT_IDLE]);
        log_conn_debug(&lc, "idle for %u s without a subscription, closing", cfg->idle_timeout_s);
        server_send_notice(s, c, ratelimit_reasons[RATELIMIT_R_IDLE]);
        conn_close(c, CONN_CLOSE_NORMAL, ratelimit_reasons[RATELIMIT_R_IDLE], true);
        return;
    }
    if (cfg->ping_interval_s != 0 && now - c->last_rx_ms >= (int64_t)cfg->ping_interval_s * 1000) {
        c->is_ping_out = true;
        c->ping_sent_ms = now;
        conn_ping(c);
    }
}

static void on_sweep(lws_sorted_usec_list_t *sul)
{
    struct server *s = lws_container_of(sul, struct server, sweep);
    int64_t now = now_ms();
    for (size_t i = 0; i < s->conns.cap; i++) {
        if (s->conns.slots[i] != NULL) {
            check_conn(s, s->conns.slots[i], now);
        }
    }
    ratelimit_table_sweep(&s->addrs, &s->cfg->rate, now);
    lws_sul_schedule(s->ctx, 0, &s->sweep, on_sweep, sweep_period_ms(s->cfg) * LWS_US_PER_MS);
}

/* Anything from the client, a pong included, shows it is there. */
static void on_heard(struct conn *c, int64_t now)
{
    c->last_rx_ms = now;
    c->is_ping_out = false;
}

/* ---- WebSocket protocol "nostr" ---- */

static int on_established(struct server *s, struct conn *c, struct lws *wsi)
{
    if (atomic_load(&s->is_stopping)) {
        /* Draining: no new clients (conn is not set up, so no table entry). */
        metrics_inc(&s->m->connections_rejected[METRICS_REJECT_DRAINING]);
        return -1;
    }
    conn_init(c, ++s->next_conn_id, wsi, &s->cfg->conn_limits);
    int64_t now = now_ms();
    c->last_rx_ms = c->last_msg_ms = now;
    identify_client(s, c, wsi);
    int rc = admit(s, c, now);
    if (rc != 0) {
        if (rc < 0) {
            forget(s, c);
        }
        return rc < 0 ? -1 : 0;
    }
    if (conn_table_put(&s->conns, c) < 0) {
        forget(s, c);
        return -1;
    }
    /* Compress only what the client agreed to take: the extension was
     * negotiated, and no offer asked for a smaller window than ours. */
    if (s->cfg->is_compression && lws_get_opaque_user_data(wsi) == &deflate_marker) {
        char ext[512];
        c->is_deflate = wsdeflate_offer_ok(
            lws_hdr_copy(wsi, ext, sizeof(ext), WSI_TOKEN_EXTENSIONS) > 0 ? ext : NULL);
    }
    metrics_inc(&s->m->connections_total);
    struct log_conn lc = log_conn_of(c);
    log_conn_debug(&lc, "connected");
    /* NIP-42: the challenge goes out at once, so that a client always holds
     * one when an answer says "auth-required:". With NIP-42 off conn_init
     * has left the connection with no challenge and no keys. */
    if (!s->cfg->is_auth_enabled) {
        return 0;
    }
    if (nip42_auth_init(&c->auth) < 0) {
        log_conn_warn(&lc, "no randomness for an AUTH challenge, closing");
        forget(s, c);
        return -1;
    }
    buf_reset(&s->scratch);
    if (proto_fmt_auth(&s->scratch, c->auth.challenge) == 0) {
        server__send_counted(s, c, METRICS_OUT_AUTH);
    }
    return 0;
}

static void on_receive(struct server *s, struct conn *c, struct lws *wsi, const void *in,
                       size_t len)
{
    const char *reason;
    metrics_add(&s->m->bytes_in, len);
    int64_t now = now_ms();
    on_heard(c, now);
    if (c->is_refused || c->is_closing || c->is_close_after_flush) {
        return; /* told why it is being closed; nothing more is read */
    }
    int rc = conn_rx_append(c, in, len, lws_is_first_fragment(wsi), lws_is_final_fragment(wsi),
                            lws_frame_is_binary(wsi), &reason);
    if (rc < 0) {
        metrics_inc(&s->m->messages_in[METRICS_IN_INVALID]);
        server_send_notice(s, c, reason);
        return;
    }
    if (rc == 1) {
        c->last_msg_ms = now;
        s->hooks.on_message(s->hooks.ud, c, c->rx.data, c->rx.len);
        buf_reset(&c->rx);
        if (c->rx.cap > 65536) {
            /* One huge message must not pin its buffer for the life of the
             * connection: idle connections stay small. */
            buf_fini(&c->rx);
        }
    }
}

/* Writes what is queued on c and counts the event frames and bytes that
 * went out. */
static int on_writeable(struct server *s, struct conn *c)
{
    uint64_t n_events = c->n_events_written, n_bytes = c->n_bytes_written;
    int rc = conn_on_writeable(c, &s->scratch, s->cfg->is_compression ? &s->deflate : NULL);
    metrics_add(&s->m->messages_out[METRICS_OUT_EVENT], c->n_events_written - n_events);
    metrics_add(&s->m->bytes_out, c->n_bytes_written - n_bytes);
    return rc;
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
        return on_writeable(s, c);
    case LWS_CALLBACK_RECEIVE_PONG:
        on_heard(c, now_ms());
        return 0;
    case LWS_CALLBACK_CLOSED:
        forget(s, c);
        return 0;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        if (s != NULL) {
            server__on_wakeup(s);
        }
        return 0;
    default:
        return 0;
    }
}

static const struct lws_protocols protocols[] = {
    { "http", server__callback_http, sizeof(struct http_session), 0, 0, NULL, 0 },
    { "nostr", callback_nostr, sizeof(struct conn), SERVER_RX_CHUNK, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* permessage-deflate: lws negotiates it and inflates what clients send;
 * the relay compresses its own event frames (relay/wsdeflate.h). lws
 * builds the extension's state for a connection only when the handshake
 * agreed on it, which the wrapper below marks on the connection for
 * ESTABLISHED to read (deflate_marker). */

static int deflate_ext(struct lws_context *ctx, const struct lws_extension *ext, struct lws *wsi,
                       enum lws_extension_callback_reasons reason, void *user, void *in, size_t len)
{
    if (reason == LWS_EXT_CB_CONSTRUCT) {
        lws_set_opaque_user_data(wsi, &deflate_marker);
    }
    return lws_extension_callback_pm_deflate(ctx, ext, wsi, reason, user, in, len);
}

static const struct lws_extension extensions[] = {
    { "permessage-deflate", deflate_ext, "permessage-deflate; client_no_context_takeover" },
    { NULL, NULL, NULL },
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
    s->m = cfg->metrics;
    s->started_ns = metrics_now_ns();
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
    /* A secret hash seed: clients choose their addresses, not their slots. */
    uint64_t seed = (uint64_t)(uintptr_t)s ^ (uint64_t)now_ms();
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
        log_warn("no randomness for the address table's hash seed; using the clock");
    }
    rc = ratelimit_table_init(&s->addrs, seed);
    if (rc < 0) {
        conn_table_fini(&s->conns);
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
    if (cfg->is_compression) {
        info.extensions = extensions;
    }
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
    if (cfg->metrics_listen != NULL && cfg->metrics_listen[0] != '\0' &&
        server__listen_metrics(s, &info) < 0) {
        goto fail;
    }
    lws_sul_schedule(s->ctx, 0, &s->sweep, on_sweep, sweep_period_ms(cfg) * LWS_US_PER_MS);
    *out = s;
    return 0;
fail:
    if (s->ctx != NULL) {
        lws_context_destroy(s->ctx);
    }
    ratelimit_table_fini(&s->addrs);
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

/* The part of a drain kept for close frames to go out and be answered. */
#define CLOSE_FRAMES_MS 1000

void server_drain(struct server *s, _Atomic bool *is_done, int timeout_ms)
{
    int64_t start = now_ms();
    int64_t deadline = start + timeout_ms;
    int64_t answers_deadline =
        timeout_ms > 2 * CLOSE_FRAMES_MS ? deadline - CLOSE_FRAMES_MS : deadline;
    while (now_ms() < answers_deadline) {
        server__on_wakeup(s);
        if (atomic_load(is_done) && queue_len(&s->io_q) == 0 && outbound_empty(s)) {
            break;
        }
        lws_service(s->ctx, 0);
    }
    server__on_wakeup(s);
    /* Every client is told the relay is going away (1001), after what is
     * queued for it; the loop ends when all have closed, or at the
     * deadline, when destroying the context cuts the rest. */
    for (size_t i = 0; i < s->conns.cap; i++) {
        struct conn *c = s->conns.slots[i];
        if (c != NULL) {
            conn_close(c, CONN_CLOSE_GOING_AWAY, "relay is shutting down", true);
        }
    }
    while (s->conns.count > 0 && now_ms() < deadline) {
        lws_service(s->ctx, 0);
    }
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

void server_documents_changed(struct server *s)
{
    s->nip11_len = strlen(s->cfg->nip11_json);
    s->html_len = strlen(s->cfg->html_page);
}

void server_free(struct server *s)
{
    if (s == NULL) {
        return;
    }
    queue_close(&s->io_q);
    lws_sul_cancel(&s->sweep);
    wsdeflate_fini(&s->deflate);
    /* Destroying the context closes every connection (their CLOSED callbacks
     * run and release per-connection state). */
    lws_context_destroy(s->ctx);
    server__drop_msgs(s);
    ratelimit_table_fini(&s->addrs);
    conn_table_fini(&s->conns);
    queue_fini(&s->io_q);
    buf_fini(&s->scratch);
    free(s);
}
