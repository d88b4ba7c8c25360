/*
 * One WebSocket connection: identity, receive reassembly, the bounded
 * outbound queue and the connection's subscriptions; plus the table that
 * maps the 64-bit connection ids other threads use to live connections.
 *
 * Owned by: the io thread. Nothing here may be touched from another thread;
 * other threads refer to a connection only by its conn_id, which is never
 * reused, and the io thread drops results for ids that are gone.
 */
#ifndef OSTRICH_RELAY_CONN_H
#define OSTRICH_RELAY_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "nips/nip42.h"
#include "relay/proto.h"
#include "relay/ratelimit.h"

struct lws;
struct payload;
struct wsdeflate;

/* How long a connection being closed may take to read what it is told
 * before it is dropped. */
#define CONN_CLOSE_GRACE_S 5

/* WebSocket close codes (RFC 6455 7.4 and the IANA registry). */
#define CONN_CLOSE_NORMAL          1000
#define CONN_CLOSE_GOING_AWAY      1001
#define CONN_CLOSE_POLICY          1008
#define CONN_CLOSE_TRY_AGAIN_LATER 1013

/* One queued outbound message: either an owned frame or an event payload
 * to be framed for a subscription at write time. */
struct conn_out {
    struct conn_out *next;
    struct payload *payload; /* a reference, or NULL for a frame */
    uint64_t sub_key;        /* with payload: the subscription it is for */
    size_t len;              /* message bytes (an estimate for a payload) */
    unsigned char frame[];   /* the message, when payload is NULL */
};

/* A subscription of this connection. key is unique across the process and
 * is what the broadcast and reader threads use to name it. */
struct conn_sub {
    uint64_t key;
    char id[PROTO_MAX_SUB_ID_LEN + 1];
    size_t id_len;
    /* Before EOSE, live events wait here; afterwards only events stored
     * after the query's snapshot (seq > floor_seq) are sent. */
    bool is_live;
    uint64_t floor_seq;
    struct conn_out *pending_head, *pending_tail;
};

struct conn_limits {
    size_t max_message_bytes;  /* incoming message cap */
    size_t max_outbound_bytes; /* queued outbound bytes before the client is cut off */
    uint32_t max_subs;         /* subscriptions per connection */
};

struct conn {
    uint64_t conn_id;
    struct lws *wsi;
    char addr[64];
    const struct conn_limits *limits; /* borrowed; outlives every connection */

    struct buf rx;   /* reassembly of a fragmented message */
    bool rx_discard; /* dropping the rest of an oversize or binary message */

    struct conn_out *out_head, *out_tail;
    size_t out_bytes;
    bool is_deflate; /* permessage-deflate: event frames go out compressed */
    /* Event frames and bytes handed to lws so far, for metrics. */
    uint64_t n_events_written, n_bytes_written;
    bool is_closing;           /* over a limit: close at the next writeable callback */
    bool is_close_after_flush; /* close once the queue is written (conn_close) */
    uint16_t close_code;       /* of the close frame; 0: 1008, policy violation */
    const char *close_reason;

    struct conn_sub *subs; /* grows as needed, up to limits->max_subs */
    uint32_t n_subs, cap_subs;

    struct nip42_auth auth; /* the challenge sent on connect and the keys proved */

    /* Protection (relay/ratelimit.h; the server sets these up). addr above
     * is ip in text. */
    struct ratelimit_ip ip;   /* the client: the peer, or whom a trusted proxy named */
    struct ratelimit_conn rl; /* message rate limits */
    bool is_refused;          /* over a connection limit: says so and closes; not in the table */
    int64_t last_rx_ms;       /* anything received, pongs included (heartbeats) */
    int64_t last_msg_ms;      /* the last message received: idle timeout, rate clock */
    int64_t ping_sent_ms;     /* with is_ping_out: when the unanswered ping was queued */
    bool is_ping_out;         /* a ping waits for an answer */
    bool is_ping_due;         /* a ping goes out with the next write */
};

/* Sets up c (lws's per-session memory) for a new connection. */
void conn_init(struct conn *c, uint64_t conn_id, struct lws *wsi, const struct conn_limits *lim);

/* Releases everything c holds. */
void conn_fini(struct conn *c);

/* Appends one received fragment. Returns 1 when a complete message is now
 * in c->rx (the caller handles it and calls buf_reset), 0 when more is
 * expected, or a negative code with *reason set when the message is refused
 * (too large, binary): the caller sends a NOTICE; the rest of the message is
 * dropped and the connection stays usable. */
int conn_rx_append(struct conn *c, const void *in, size_t len, bool is_first, bool is_final,
                   bool is_binary, const char **reason);

/* Queues a copy of a text frame. Returns 0, OST_ENOMEM, or OST_ENOSPC when
 * the outbound queue is over its bound (the connection is then marked for
 * closing). */
int conn_send(struct conn *c, const char *data, size_t len);

/* Queues an event payload for subscription sub (takes a reference on p).
 * Same returns as conn_send. */
int conn_send_event(struct conn *c, struct conn_sub *sub, struct payload *p);

/* Holds an event payload on a subscription that has not reached EOSE yet
 * (takes a reference). Same returns as conn_send. */
int conn_hold_event(struct conn *c, struct conn_sub *sub, struct payload *p);

/* Marks sub live after EOSE with its snapshot sequence and moves the held
 * events stored after that snapshot to the outbound queue. */
int conn_sub_go_live(struct conn *c, struct conn_sub *sub, uint64_t floor_seq);

/* Closes c with a close frame of code and reason (static, at most 123
 * bytes): at the next writeable callback, or, with is_after_flush, once
 * everything queued so far (a NOTICE saying why, say) is written. Frames
 * queued after this are refused. Should the client not read, lws drops the
 * connection CONN_CLOSE_GRACE_S seconds later all the same. */
void conn_close(struct conn *c, uint16_t code, const char *reason, bool is_after_flush);

/* Queues a WebSocket ping, written before the next queued frames. */
void conn_ping(struct conn *c);

/* Writes queued messages (the lws WRITEABLE callback). Returns 0, or -1
 * when the connection must close. scratch is the io thread's buffer for
 * framing events; z its compressor, for connections with is_deflate. */
int conn_on_writeable(struct conn *c, struct buf *scratch, struct wsdeflate *z);

/* Subscriptions. */
struct conn_sub *conn_sub_find(struct conn *c, const char *id, size_t id_len);
struct conn_sub *conn_sub_find_key(struct conn *c, uint64_t key);
/* Adds a subscription; returns NULL when the connection is at max_subs. */
struct conn_sub *conn_sub_add(struct conn *c, const char *id, size_t id_len, uint64_t key);
void conn_sub_remove(struct conn *c, struct conn_sub *sub);

/* The table of live connections by id (open addressing, grows as needed). */
struct conn_table {
    struct conn **slots;
    size_t cap;
    size_t count;
};

int conn_table_init(struct conn_table *t);
void conn_table_fini(struct conn_table *t);
int conn_table_put(struct conn_table *t, struct conn *c);
struct conn *conn_table_get(const struct conn_table *t, uint64_t conn_id);
void conn_table_del(struct conn_table *t, uint64_t conn_id);

#endif
