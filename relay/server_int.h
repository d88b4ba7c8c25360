/*
 * Private to the server module, which spans relay/server.c (the lws
 * context, WebSocket connections), relay/server_msg.c (the io queue and
 * the replies) and relay/server_http.c (HTTP: NIP-11, /health, /metrics). Everything here belongs
 * to the io thread.
 */
#ifndef OSTRICH_RELAY_SERVER_INT_H
#define OSTRICH_RELAY_SERVER_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libwebsockets.h>

#include "common/buf.h"
#include "common/queue.h"
#include "relay/conn.h"
#include "relay/metrics.h"
#include "relay/ratelimit.h"
#include "relay/server.h"
#include "relay/wsdeflate.h"

struct metrics;

struct server {
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    struct lws_vhost *metrics_vhost; /* [metrics] listen, or NULL */
    char metrics_host[256];          /* its address; lws keeps a pointer to it */
    struct metrics *m;
    uint64_t started_ns;
    const struct server_config *cfg;
    struct server_hooks hooks;
    struct queue io_q;
    _Atomic int wake_pending;
    _Atomic bool is_stopping;
    struct conn_table conns;
    uint64_t next_conn_id;    /* owned by: io thread */
    uint64_t next_sub_key;    /* owned by: io thread */
    struct buf scratch;       /* owned by: io thread; frames are built here */
    struct wsdeflate deflate; /* owned by: io thread; with [relay] compression */
    size_t nip11_len;
    size_t html_len;
    /* Owned by: io thread. Protection: client addresses with their
     * connections and shared buckets, the refusals for max_connections
     * (their log lines are rate-limited), and the periodic sweep that
     * pings, closes idle connections and forgets addresses. */
    struct ratelimit_table addrs;
    struct ratelimit_logstate total_refusals;
    lws_sorted_usec_list_t sweep;
};

struct http_session {
    const char *body;
    size_t len;
    char *owned; /* malloc'd body of a generated page (/metrics, /health), or NULL */
};

static inline struct server *server_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* The HTTP protocol's callback (server_http.c). */
int server__callback_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                          size_t len);

/* The io queue (server_msg.c): server__on_wakeup drains and handles it;
 * server__drop_msgs releases what is left in it at the end;
 * server__send_counted sends the frame built in scratch and counts it. */
void server__on_wakeup(struct server *s);
void server__drop_msgs(struct server *s);
void server__send_counted(struct server *s, struct conn *c, enum metrics_msg_out type);

/* Opens the [metrics] listen vhost on the relay's context (server_http.c).
 * Returns 0 or a negative code after logging. */
int server__listen_metrics(struct server *s, const struct lws_context_creation_info *base);

#endif
