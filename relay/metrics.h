/*
 * The relay's counters and histograms, their Prometheus text exposition
 * (GET /metrics) and the health report (GET /health).
 *
 * Threads: one struct metrics per relay, owned by struct relay and alive
 * for the whole run. Every thread that has something to count increments
 * its fields with relaxed atomic adds (metrics_inc, metrics_add,
 * metrics_observe_*, metrics_count_ok): plain counters, no locks, no
 * allocation. Rendering reads them while they move, which Prometheus
 * expects of counters. Values that are not counters (connections and
 * subscriptions open, queue depths, bytes waiting to be sent) are sampled
 * when /metrics or /health is served, on the io thread, and passed in as
 * struct metrics_gauges. The render functions may be called from any
 * thread; they allocate only in the caller's buffer.
 *
 * Naming: every series starts with "ostrich_"; counters end in "_total";
 * durations are in seconds.
 */
#ifndef OSTRICH_RELAY_METRICS_H
#define OSTRICH_RELAY_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* Why a connection was refused or closed by the relay. */
enum metrics_conn_reject {
    METRICS_REJECT_MAX_CONNECTIONS = 0, /* [rate_limit] max_connections */
    METRICS_REJECT_PER_IP,              /* [rate_limit] max_connections_per_ip */
    METRICS_REJECT_DRAINING,            /* the relay is shutting down */
    METRICS_REJECT_RATE,                /* closed after max_refused refusals in a row */
    METRICS_REJECT_SLOW,                /* closed: its outbound queue passed max_outbound_bytes */
    METRICS_REJECT_IDLE,                /* closed: idle_timeout_s or no pong */
    METRICS_REJECT_N,
};

/* Client messages by verb. */
enum metrics_msg_in {
    METRICS_IN_EVENT = 0,
    METRICS_IN_REQ,
    METRICS_IN_CLOSE,
    METRICS_IN_COUNT,
    METRICS_IN_AUTH,
    METRICS_IN_INVALID, /* not a message the relay understands */
    METRICS_IN_N,
};

/* Relay messages by verb. */
enum metrics_msg_out {
    METRICS_OUT_EVENT = 0,
    METRICS_OUT_OK,
    METRICS_OUT_EOSE,
    METRICS_OUT_CLOSED,
    METRICS_OUT_NOTICE,
    METRICS_OUT_COUNT,
    METRICS_OUT_AUTH,
    METRICS_OUT_N,
};

/* Why an EVENT got OK false, by the NIP-01 prefix of its reason (see
 * metrics_reject_reason). */
enum metrics_ev_reject {
    METRICS_EV_INVALID = 0,   /* "invalid:" */
    METRICS_EV_POW,           /* "pow:" */
    METRICS_EV_BLOCKED,       /* "blocked:" */
    METRICS_EV_RATE_LIMITED,  /* "rate-limited:" */
    METRICS_EV_AUTH_REQUIRED, /* "auth-required:" */
    METRICS_EV_RESTRICTED,    /* "restricted:" */
    METRICS_EV_ERROR,         /* "error:" (storage and the like) */
    METRICS_EV_OTHER,         /* any other prefix, "duplicate:" of an older version included */
    METRICS_EV_N,
};

/* What a rate limit refused. */
enum metrics_rate {
    METRICS_RATE_EVENT = 0,
    METRICS_RATE_REQ, /* REQ and COUNT */
    METRICS_RATE_N,
};

/* Bucket upper bounds are fixed per histogram (see metrics.c). */
#define METRICS_HIST_BUCKETS 14

struct metrics_hist {
    atomic_uint_fast64_t buckets[METRICS_HIST_BUCKETS]; /* not cumulative; +Inf is count */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_micro; /* the sum, in millionths of the unit */
};

/* Owned by: struct relay; fields written by any thread with atomics. */
struct metrics {
    atomic_uint_fast64_t connections_total;
    atomic_uint_fast64_t connections_rejected[METRICS_REJECT_N];
    atomic_uint_fast64_t messages_in[METRICS_IN_N];
    atomic_uint_fast64_t messages_out[METRICS_OUT_N];
    atomic_uint_fast64_t events_received;  /* EVENTs answered with an OK (they had an id) */
    atomic_uint_fast64_t events_accepted;  /* stored, OK true */
    atomic_uint_fast64_t events_duplicate; /* already stored, OK true "duplicate:" */
    atomic_uint_fast64_t events_rejected[METRICS_EV_N];
    atomic_uint_fast64_t rate_limited[METRICS_RATE_N];
    atomic_uint_fast64_t broadcast_deliveries; /* live events queued to subscribers */
    atomic_uint_fast64_t bytes_in;             /* WebSocket payload bytes received */
    atomic_uint_fast64_t bytes_out;            /* WebSocket bytes written, frame headers included */
    /* From the io thread's submit to the worker's verdict: the wait in the
     * validation queue, then parse + id + signature. */
    struct metrics_hist validation_seconds;
    struct metrics_hist storage_commit_seconds; /* one batch's write and commit */
    struct metrics_hist storage_batch_events;   /* events per storage batch */
};

/* Sampled when /metrics or /health is served (io thread). */
struct metrics_gauges {
    uint64_t connections;      /* open WebSocket connections */
    uint64_t subscriptions;    /* their open subscriptions */
    uint64_t outbound_bytes;   /* bytes queued to clients, not yet written */
    uint64_t validation_queue; /* events waiting for a validation worker */
    uint64_t storage_queue;    /* events waiting for the storage thread */
    uint64_t query_queue;      /* REQ/COUNT jobs waiting for a reader */
    uint64_t broadcast_queue;  /* messages waiting for the broadcast thread */
    bool is_storage_up;        /* the store answers */
    bool is_draining;          /* shutting down */
    int64_t uptime_s;
    const char *storage_backend; /* static: "sqlite" or "opensearch" */
};

/* What GET /health reports: anything but OK is answered with HTTP 503. */
enum metrics_health {
    METRICS_HEALTH_OK = 0,
    METRICS_HEALTH_DEGRADED, /* the store does not answer */
    METRICS_HEALTH_DRAINING, /* shutting down; takes precedence */
};

/* Lifecycle */

/* Zeroes m. */
void metrics_init(struct metrics *m);

/* Operations (any thread) */

static inline void metrics_add(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline void metrics_inc(atomic_uint_fast64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* Records one duration, in seconds (the latency histograms; buckets from
 * 50 microseconds to 10 seconds). */
void metrics_observe_seconds(struct metrics_hist *h, double seconds);

/* Records one size (storage_batch_events; buckets from 1 to 10,000). */
void metrics_observe_size(struct metrics_hist *h, uint64_t n);

/* Now on CLOCK_MONOTONIC, in nanoseconds (a start for metrics_observe_since). */
uint64_t metrics_now_ns(void);

/* Records the seconds since start_ns (from metrics_now_ns) in h. */
void metrics_observe_since(struct metrics_hist *h, uint64_t start_ns);

/* Counts the OK an EVENT was answered with: one events_received, plus
 * events_accepted, events_duplicate (accepted with a "duplicate:" reason)
 * or events_rejected by the prefix of reason (which may be NULL). */
void metrics_count_ok(struct metrics *m, bool is_accepted, const char *reason);

/* Queries */

/* The reject category of an OK false reason, from its prefix. */
enum metrics_ev_reject metrics_reject_reason(const char *reason);

/* The label value of each category, as the exposition writes it. */
const char *metrics_reject_reason_name(enum metrics_ev_reject r);

/* Appends the Prometheus text exposition (version 0.0.4) of m and g.
 * Returns 0 or OST_ENOMEM. */
int metrics_render(const struct metrics *m, const struct metrics_gauges *g, struct buf *out);

/* Appends value escaped for a label in the text exposition (backslash,
 * double quote and line feed). Returns 0 or OST_ENOMEM. */
int metrics_append_label_value(struct buf *out, const char *value);

/* The status g amounts to. */
enum metrics_health metrics_health(const struct metrics_gauges *g);

/* Appends the /health document for g: {"status", "uptime_s", "version",
 * "connections", "storage": {"backend", "up"}, "queues": {...}}. Returns
 * 0 or OST_ENOMEM. */
int metrics_render_health(const struct metrics_gauges *g, struct buf *out);

#endif
