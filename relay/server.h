/*
 * The io thread: one libwebsockets context serving WebSocket (protocol
 * "nostr", the default) and plain HTTP (NIP-11 and a short page) on one
 * port, over TLS when a certificate is configured.
 *
 * Only the io thread calls lws. Other threads hand it work with server_post,
 * which pushes onto the io queue and wakes the service loop through
 * lws_cancel_service (coalesced with an atomic flag). Connections are named
 * by conn_id across threads; messages for connections that are gone are
 * dropped quietly.
 */
#ifndef OSTRICH_RELAY_SERVER_H
#define OSTRICH_RELAY_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/conn.h"

struct metrics;
struct metrics_gauges;
struct nip45_hll;
struct payload;
struct server;

/* Who receives one live event. */
struct server_recipient {
    uint64_t conn_id;
    uint64_t sub_key;
};

enum server_msg_type {
    SERVER_MSG_OK,     /* ok: answer to an EVENT */
    SERVER_MSG_NOTICE, /* notice: a NOTICE (static reason) */
    SERVER_MSG_HIST,   /* payload: a stored event for sub_key, before its EOSE */
    SERVER_MSG_EOSE,   /* eose: end of stored events for sub_key */
    SERVER_MSG_CLOSED, /* notice: the subscription sub_key ends with this reason */
    SERVER_MSG_COUNT,  /* count: the answer to a COUNT for sub_key */
    SERVER_MSG_LIVE,   /* live: a new event for a list of recipients */
    SERVER_MSG_AUTH,   /* auth: a valid NIP-42 AUTH event; record its key, answer OK */
    SERVER_MSG_FORGET, /* forget: stored events are gone (hooks.on_forget); no conn_id */
};

/* A message to the io thread. Pointers move with the message: the io
 * thread releases payload references and the recipient array. */
struct server_msg {
    enum server_msg_type type;
    uint64_t conn_id;
    uint64_t sub_key;
    union {
        struct {
            uint8_t id[32];
            bool accepted;
            const char *reason; /* static */
            /* The event is stored and a copy of it may be answered as a
             * duplicate from now on (hooks.on_stored). */
            bool is_recent;
            uint64_t sig_hash;  /* recent_sig_hash of its signature */
            bool is_version;    /* replaceable or addressable: */
            uint64_t addr_hash; /* recent_addr_hash of its address */
        } ok;
        const char *notice; /* static */
        struct payload *payload;
        struct {
            uint64_t seq;     /* the query's snapshot sequence */
            bool is_complete; /* every stored match was sent (NIP-67) */
        } eose;
        struct {
            uint64_t n;
            const char *reason; /* static; non-NULL: answer CLOSED instead */
            char *sub_id;       /* malloc'd; COUNT keeps no subscription to name it */
            size_t sub_id_len;
            struct nip45_hll *hll; /* malloc'd NIP-45 registers, or NULL */
        } count;
        struct {
            struct payload *payload;
            struct server_recipient *to; /* malloc'd, n entries */
            uint32_t n;
        } live;
        struct {
            uint8_t id[32];     /* of the AUTH event, for the OK */
            uint8_t pubkey[32]; /* the key it proves */
        } auth;
        struct {
            uint8_t (*ids)[32]; /* malloc'd, n ids, then n_addrs address keys */
            uint64_t *addrs;    /* recent_addr_hash; points into the same block */
            size_t n, n_addrs;
            bool is_all; /* everything may be gone (a NIP-62 vanish) */
        } forget;
    } u;
};

/* What the io thread calls into the relay for (all on the io thread). */
struct server_hooks {
    void *ud;
    /* A complete text message from c; c->rx holds it. */
    void (*on_message)(void *ud, struct conn *c, const char *msg, size_t len);
    /* An OK with is_recent is about to be sent (whether or not its
     * connection is still there), and a FORGET came: for the recent-ids
     * set. Both may be NULL. */
    void (*on_stored)(void *ud, const struct server_msg *m);
    void (*on_forget)(void *ud, const struct server_msg *m);
    /* c is going away: forget its subscriptions. c is still valid. */
    void (*on_closed)(void *ud, struct conn *c);
    /* A subscription ended on the io thread (CLOSED answer or connection
     * cut): tell the broadcast thread. */
    void (*on_sub_dropped)(void *ud, uint64_t conn_id, uint64_t sub_key);
    /* Called once per service-loop wake, after the io queue is drained:
     * a chance to retry work that was deferred. */
    void (*on_idle)(void *ud);
    /* Fills the gauges the server cannot see (queue depths, the store's
     * backend and whether it answers) when /metrics or /health is served.
     * The server has set the others; while it drains, the worker threads
     * may be gone already. */
    void (*sample)(void *ud, struct metrics_gauges *g);
};

struct server_config {
    const char *bind;
    int port; /* 0: the kernel picks one */
    const char *tls_cert;
    const char *tls_key;
    const char *nip11_json; /* served for Accept: application/nostr+json */
    const char *html_page;  /* served for other GET / */
    bool eose_finish_hint;  /* NIP-67: EOSE carries ["finish"] when complete */
    bool is_auth_enabled;   /* NIP-42: send each connection an AUTH challenge */
    bool is_compression;    /* offer permessage-deflate ([relay] compression) */
    struct conn_limits conn_limits;
    /* Connection and message rate limits, exemptions and trusted proxies
     * (owned by the relay, which may replace them on the io thread), and
     * heartbeats: a connection silent for ping_interval_s (0: never) is
     * pinged and closed unless something comes back within pong_timeout_s;
     * one with no subscription silent for idle_timeout_s (0: never) is
     * closed. */
    struct ratelimit_limits rate;
    uint32_t ping_interval_s;
    uint32_t pong_timeout_s;
    uint32_t idle_timeout_s;
    size_t io_queue_cap;
    /* NIP-42 rules applied to each event before it is sent (direct
     * messages); borrowed, outlives the server. */
    const struct nip42_policy *auth_policy;
    /* The counters the io thread adds to (required; borrowed, outlives the
     * server), whether GET /metrics is served, and "host:port" of a second,
     * HTTP-only listener for /metrics and /health ("": none; then /metrics
     * is answered 404 on the relay's port, /health still served there). */
    struct metrics *metrics;
    bool is_metrics_enabled;
    const char *metrics_listen;
};

/* Creates the lws context and starts listening; does not start serving.
 * cfg and its strings must outlive the server. Returns 0 or a negative
 * code after logging what failed (bind address and port, TLS files). */
int server_new(const struct server_config *cfg, const struct server_hooks *hooks,
               struct server **out);

/* The relay changed cfg->nip11_json or cfg->html_page (a config reload);
 * the old texts stay valid for responses being sent. Io thread. */
void server_documents_changed(struct server *s);

/* The port actually bound (useful with port 0). */
int server_port(const struct server *s);

/* Runs the service loop on the calling thread (which becomes the io thread)
 * until server_stop. */
void server_run(struct server *s);

/* Asks the loop to return. Any thread; async-signal-safe. */
void server_stop(struct server *s);

/* After server_run returned: keeps serving (writing answers, draining the
 * io queue, refusing new work and new WebSocket connections) until *is_done
 * is true and every outbound queue is empty, or until timeout_ms passes
 * less a second. Then sends every client a close frame (1001, "relay is
 * shutting down") after what is queued for it, and serves until all have
 * closed or timeout_ms has passed. */
void server_drain(struct server *s, _Atomic bool *is_done, int timeout_ms);

/* Wakes the service loop so it re-checks its state. Any thread. */
void server_wake(struct server *s);

/* True once server_stop was called: new client work is refused. */
bool server_is_stopping(const struct server *s);

/* Posts m to the io thread, waiting while the io queue is full; any thread
 * but the io thread. Returns 0 or OST_ESHUTDOWN (then the caller still owns
 * the message's pointers). */
int server_post(struct server *s, const struct server_msg *m);

/* The live connection with this id, or NULL (io thread). */
struct conn *server_conn(struct server *s, uint64_t conn_id);

/* Formats and queues a NOTICE / OK / CLOSED on c (io thread). Failures to
 * queue mean the connection is being cut off and are not reported. */
void server_send_notice(struct server *s, struct conn *c, const char *reason);
void server_send_ok(struct server *s, struct conn *c, const uint8_t id[32], bool accepted,
                    const char *reason);
void server_send_closed(struct server *s, struct conn *c, const char *sub_id, size_t sub_id_len,
                        const char *reason);

/* A new process-unique subscription key (io thread). */
uint64_t server_next_sub_key(struct server *s);

/* Number of open WebSocket connections (io thread). */
size_t server_conn_count(const struct server *s);

/* Drains what is left in the io queue, closes every connection and frees
 * the context. NULL does nothing. */
void server_free(struct server *s);

#endif
