/*
 * The io thread's HTTP side: the NIP-11 document and a short page at GET /,
 * GET /health and GET /metrics, on the relay's port and, with [metrics]
 * listen, on a plain-HTTP vhost of their own. Part of the server module
 * (relay/server.c); struct server is in relay/server_int.h.
 */
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "relay/metrics.h"
#include "relay/server.h"
#include "relay/server_int.h"

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

/* The gauges of this moment (io thread): the server's own, then the
 * relay's through the sample hook. */
static void sample_gauges(struct server *s, struct metrics_gauges *g)
{
    memset(g, 0, sizeof(*g));
    g->connections = s->conns.count;
    for (size_t i = 0; i < s->conns.cap; i++) {
        const struct conn *c = s->conns.slots[i];
        if (c != NULL) {
            g->outbound_bytes += c->out_bytes;
            g->subscriptions += c->n_subs;
        }
    }
    g->is_draining = atomic_load(&s->is_stopping);
    g->uptime_s = (int64_t)((metrics_now_ns() - s->started_ns) / 1000000000u);
    g->is_storage_up = true;
    if (s->hooks.sample != NULL) {
        s->hooks.sample(s->hooks.ud, g);
    }
}

/* GET /health (JSON; 503 unless healthy) or GET /metrics (the Prometheus
 * text format). The body is made now and owned by hs until written. */
static int serve_generated(struct server *s, struct lws *wsi, struct http_session *hs,
                           bool is_metrics)
{
    struct metrics_gauges g;
    struct buf b;
    sample_gauges(s, &g);
    buf_init(&b);
    int rc = is_metrics ? metrics_render(s->m, &g, &b) : metrics_render_health(&g, &b);
    if (rc < 0) {
        static const char msg[] = "out of memory\n";
        buf_fini(&b);
        return http_respond(wsi, hs, HTTP_STATUS_INTERNAL_SERVER_ERROR, "text/plain", msg,
                            sizeof(msg) - 1);
    }
    hs->owned = b.data;
    if (is_metrics) {
        return http_respond(wsi, hs, HTTP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8",
                            b.data, b.len);
    }
    unsigned status =
        metrics_health(&g) == METRICS_HEALTH_OK ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE;
    return http_respond(wsi, hs, status, "application/json", b.data, b.len);
}

static int on_http(struct server *s, struct lws *wsi, struct http_session *hs, const char *uri)
{
    free(hs->owned); /* a keep-alive connection's previous page, if never written */
    memset(hs, 0, sizeof(*hs));
    if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0) {
        return http_respond(wsi, hs, HTTP_STATUS_NO_CONTENT, "text/plain", "", 0);
    }
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
        static const char msg[] = "method not allowed\n";
        return http_respond(wsi, hs, HTTP_STATUS_METHOD_NOT_ALLOWED, "text/plain", msg,
                            sizeof(msg) - 1);
    }
    /* With a listener of their own ([metrics] listen) these two are all it
     * serves, and /metrics leaves the relay's port; /health stays on both,
     * where load balancers look for it. */
    bool is_metrics_vhost = s->metrics_vhost != NULL && lws_get_vhost(wsi) == s->metrics_vhost;
    if (strcmp(uri, "/health") == 0) {
        return serve_generated(s, wsi, hs, false);
    }
    if (strcmp(uri, "/metrics") == 0 && s->cfg->is_metrics_enabled &&
        (s->metrics_vhost == NULL || is_metrics_vhost)) {
        return serve_generated(s, wsi, hs, true);
    }
    if (strcmp(uri, "/") != 0 || is_metrics_vhost) {
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
    free(hs->owned);
    hs->owned = NULL;
    if (n < (int)hs->len) {
        return -1;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int server__callback_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                          size_t len)
{
    struct server *s = server_of(wsi);
    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return on_http(s, wsi, user, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return on_http_writeable(wsi, user);
    case LWS_CALLBACK_CLOSED_HTTP:
        if (user != NULL) {
            struct http_session *hs = user;
            free(hs->owned);
            hs->owned = NULL;
        }
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        /* The metrics listener serves HTTP only. */
        return s->metrics_vhost != NULL && lws_get_vhost(wsi) == s->metrics_vhost ? -1 : 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* The [metrics] listen vhost: plain HTTP, no WebSocket protocol. */
static const struct lws_protocols metrics_protocols[] = {
    { "http", server__callback_http, sizeof(struct http_session), 0, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* Opens the second listener of [metrics] listen ("host:port", "[v6]:port";
 * cfg checked the form), on the relay's context, without TLS. */
int server__listen_metrics(struct server *s, const struct lws_context_creation_info *base)
{
    const char *listen = s->cfg->metrics_listen;
    const char *colon = strrchr(listen, ':');
    const char *host = listen;
    size_t host_len = (size_t)(colon - listen);
    if (host_len >= 2 && host[0] == '[' && colon[-1] == ']') {
        host++;
        host_len -= 2;
    }
    if (host_len >= sizeof(s->metrics_host)) {
        log_error("metrics.listen: address too long: %s", listen);
        return OST_EINVAL;
    }
    memcpy(s->metrics_host, host, host_len);
    s->metrics_host[host_len] = '\0';
    struct lws_context_creation_info info = *base;
    info.port = atoi(colon + 1);
    info.iface = s->metrics_host;
    info.protocols = metrics_protocols;
    info.pvo = NULL;
    info.vhost_name = "ostrich-metrics";
    info.options &= ~(uint64_t)LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.ssl_cert_filepath = NULL;
    info.ssl_private_key_filepath = NULL;
    s->metrics_vhost = lws_create_vhost(s->ctx, &info);
    if (s->metrics_vhost == NULL) {
        log_error("metrics.listen: cannot listen on %s port %d (address in use?)", s->metrics_host,
                  info.port);
        return OST_EIO;
    }
    log_info("serving %s on http://%s:%d",
             s->cfg->is_metrics_enabled ? "/metrics and /health" : "/health", s->metrics_host,
             lws_get_vhost_listen_port(s->metrics_vhost));
    return 0;
}
