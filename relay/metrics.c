/*
 * The relay's counters and histograms, and the two documents made from
 * them: the Prometheus text exposition (GET /metrics) and the health report
 * (GET /health).
 *
 * Design: every family is described once in a table (name, type, help, and
 * for the labelled ones the label name and values in enum order), so that
 * each family gets exactly one # HELP and one # TYPE line and its samples
 * follow them, as the text format requires. Histograms keep plain
 * per-bucket counts and are made cumulative only while rendering; +Inf and
 * _count are the same number, at least the sum of the finite buckets, so a
 * scrape taken while workers observe never shows a histogram that
 * decreases from one bucket to the next.
 */
#include "relay/metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/json.h"

/* Upper bounds ("le") of the latency buckets, in seconds, and of the size
 * buckets; the text is what the exposition writes. */
static const struct {
    double bound;
    const char *le;
} seconds_buckets[METRICS_HIST_BUCKETS] = {
    { 0.00005, "5e-05" }, { 0.0001, "0.0001" }, { 0.00025, "0.00025" }, { 0.0005, "0.0005" },
    { 0.001, "0.001" },   { 0.0025, "0.0025" }, { 0.005, "0.005" },     { 0.01, "0.01" },
    { 0.025, "0.025" },   { 0.05, "0.05" },     { 0.1, "0.1" },         { 0.5, "0.5" },
    { 2.5, "2.5" },       { 10, "10" },
};

static const struct {
    uint64_t bound;
    const char *le;
} size_buckets[METRICS_HIST_BUCKETS] = {
    { 1, "1" },       { 2, "2" },       { 4, "4" },       { 8, "8" },         { 16, "16" },
    { 32, "32" },     { 64, "64" },     { 128, "128" },   { 256, "256" },     { 512, "512" },
    { 1024, "1024" }, { 2048, "2048" }, { 4096, "4096" }, { 10000, "10000" },
};

/* Label values, in the order of their enums. */
static const char *const conn_reject_names[METRICS_REJECT_N] = {
    "max_connections", "per_ip", "draining", "rate", "slow", "idle",
};
static const char *const msg_in_names[METRICS_IN_N] = {
    "EVENT", "REQ", "CLOSE", "COUNT", "AUTH", "invalid",
};
static const char *const msg_out_names[METRICS_OUT_N] = {
    "EVENT", "OK", "EOSE", "CLOSED", "NOTICE", "COUNT", "AUTH",
};
static const char *const rate_names[METRICS_RATE_N] = { "EVENT", "REQ" };

/* NIP-01's machine-readable prefixes, each with its category. The label
 * value is the prefix without its colon. */
static const struct {
    const char *prefix;
    enum metrics_ev_reject category;
} reject_prefixes[] = {
    { "invalid:", METRICS_EV_INVALID },
    { "pow:", METRICS_EV_POW },
    { "blocked:", METRICS_EV_BLOCKED },
    { "rate-limited:", METRICS_EV_RATE_LIMITED },
    { "auth-required:", METRICS_EV_AUTH_REQUIRED },
    { "restricted:", METRICS_EV_RESTRICTED },
    { "error:", METRICS_EV_ERROR },
};
static const char *const ev_reject_names[METRICS_EV_N] = {
    "invalid", "pow", "blocked", "rate-limited", "auth-required", "restricted", "error", "other",
};

#define R_DUPLICATE_PREFIX "duplicate:"

/* The most values a labelled counter family has. */
#define METRICS_MAX_LABELS 8
_Static_assert(METRICS_REJECT_N <= METRICS_MAX_LABELS && METRICS_IN_N <= METRICS_MAX_LABELS &&
                   METRICS_OUT_N <= METRICS_MAX_LABELS && METRICS_EV_N <= METRICS_MAX_LABELS &&
                   METRICS_RATE_N <= METRICS_MAX_LABELS,
               "a label table outgrew METRICS_MAX_LABELS");

void metrics_init(struct metrics *m)
{
    memset(m, 0, sizeof(*m));
}

static void observe(struct metrics_hist *h, size_t bucket, uint64_t sum_micro)
{
    /* The count first: a render that sees the bucket sees a count at least
     * as large (and clamps when relaxed ordering shows otherwise). */
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    if (bucket < METRICS_HIST_BUCKETS) {
        atomic_fetch_add_explicit(&h->buckets[bucket], 1, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&h->sum_micro, sum_micro, memory_order_relaxed);
}

void metrics_observe_seconds(struct metrics_hist *h, double seconds)
{
    if (!(seconds > 0)) {
        seconds = 0; /* also NaN: a clock that went nowhere */
    }
    size_t i = 0;
    while (i < METRICS_HIST_BUCKETS && seconds > seconds_buckets[i].bound) {
        i++;
    }
    /* Above about 584,000 years the sum would overflow; no latency gets there. */
    observe(h, i, (uint64_t)(seconds * 1e6 + 0.5));
}

void metrics_observe_size(struct metrics_hist *h, uint64_t n)
{
    size_t i = 0;
    while (i < METRICS_HIST_BUCKETS && n > size_buckets[i].bound) {
        i++;
    }
    observe(h, i, n * 1000000u);
}

uint64_t metrics_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void metrics_observe_since(struct metrics_hist *h, uint64_t start_ns)
{
    uint64_t now = metrics_now_ns();
    uint64_t ns = now > start_ns ? now - start_ns : 0;
    metrics_observe_seconds(h, (double)ns / 1e9);
}

enum metrics_ev_reject metrics_reject_reason(const char *reason)
{
    if (reason == NULL) {
        return METRICS_EV_OTHER;
    }
    for (size_t i = 0; i < sizeof(reject_prefixes) / sizeof(reject_prefixes[0]); i++) {
        if (strncmp(reason, reject_prefixes[i].prefix, strlen(reject_prefixes[i].prefix)) == 0) {
            return reject_prefixes[i].category;
        }
    }
    return METRICS_EV_OTHER;
}

const char *metrics_reject_reason_name(enum metrics_ev_reject r)
{
    return (unsigned)r < METRICS_EV_N ? ev_reject_names[r] : ev_reject_names[METRICS_EV_OTHER];
}

void metrics_count_ok(struct metrics *m, bool is_accepted, const char *reason)
{
    metrics_inc(&m->events_received);
    if (!is_accepted) {
        metrics_inc(&m->events_rejected[metrics_reject_reason(reason)]);
    } else if (reason != NULL &&
               strncmp(reason, R_DUPLICATE_PREFIX, sizeof(R_DUPLICATE_PREFIX) - 1) == 0) {
        metrics_inc(&m->events_duplicate);
    } else {
        metrics_inc(&m->events_accepted);
    }
}

/* ---- the text exposition ---- */

static uint64_t load(const atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

int metrics_append_label_value(struct buf *out, const char *value)
{
    int rc = 0;
    for (const char *p = value; *p != '\0' && rc == 0; p++) {
        switch (*p) {
        case '\\':
            rc = buf_append(out, "\\\\", 2);
            break;
        case '"':
            rc = buf_append(out, "\\\"", 2);
            break;
        case '\n':
            rc = buf_append(out, "\\n", 2);
            break;
        default:
            rc = buf_append_char(out, *p);
            break;
        }
    }
    return rc;
}

/* The # HELP and # TYPE lines of one family. */
static int family(struct buf *out, const char *name, const char *type, const char *help)
{
    return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int sample(struct buf *out, const char *name, uint64_t value)
{
    return buf_printf(out, "%s %" PRIu64 "\n", name, value);
}

/* One family with a single sample. */
static int scalar(struct buf *out, const char *name, const char *type, const char *help,
                  uint64_t value)
{
    int rc = family(out, name, type, help);
    return rc ? rc : sample(out, name, value);
}

/* One family with a sample per label value; values[i] goes with names[i]. */
static int labelled(struct buf *out, const char *name, const char *type, const char *help,
                    const char *label, const char *const *names, const uint64_t *values, size_t n)
{
    int rc = family(out, name, type, help);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = buf_printf(out, "%s{%s=\"", name, label);
        rc = rc ? rc : metrics_append_label_value(out, names[i]);
        rc = rc ? rc : buf_printf(out, "\"} %" PRIu64 "\n", values[i]);
    }
    return rc;
}

static int counters(struct buf *out, const char *name, const char *help, const char *label,
                    const char *const *names, const atomic_uint_fast64_t *c, size_t n)
{
    uint64_t values[METRICS_MAX_LABELS];
    for (size_t i = 0; i < n; i++) {
        values[i] = load(&c[i]);
    }
    return labelled(out, name, "counter", help, label, names, values, n);
}

static int histogram(struct buf *out, const char *name, const char *help,
                     const struct metrics_hist *h, bool is_seconds)
{
    uint64_t cum[METRICS_HIST_BUCKETS];
    uint64_t total = 0;
    for (size_t i = 0; i < METRICS_HIST_BUCKETS; i++) {
        total += load(&h->buckets[i]);
        cum[i] = total;
    }
    uint64_t count = load(&h->count);
    uint64_t sum = load(&h->sum_micro);
    if (count < total) {
        count = total;
    }
    int rc = family(out, name, "histogram", help);
    for (size_t i = 0; i < METRICS_HIST_BUCKETS && rc == 0; i++) {
        const char *le = is_seconds ? seconds_buckets[i].le : size_buckets[i].le;
        rc = buf_printf(out, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name, le, cum[i]);
    }
    return rc ? rc
              : buf_printf(out,
                           "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %" PRIu64 ".%06" PRIu64
                           "\n%s_count %" PRIu64 "\n",
                           name, count, name, sum / 1000000u, sum % 1000000u, name, count);
}

static int render_counters(const struct metrics *m, struct buf *out)
{
    int rc = scalar(out, "ostrich_connections_total", "counter", "WebSocket connections accepted.",
                    load(&m->connections_total));
    rc = rc ? rc
            : counters(out, "ostrich_connections_rejected_total",
                       "Connections refused or closed by the relay, by reason.", "reason",
                       conn_reject_names, m->connections_rejected, METRICS_REJECT_N);
    rc = rc ? rc
            : counters(out, "ostrich_messages_received_total",
                       "Client messages by verb (\"invalid\": not a message the relay reads).",
                       "type", msg_in_names, m->messages_in, METRICS_IN_N);
    rc = rc ? rc
            : counters(out, "ostrich_messages_sent_total", "Relay messages by verb.", "type",
                       msg_out_names, m->messages_out, METRICS_OUT_N);
    rc = rc ? rc
            : scalar(out, "ostrich_events_received_total", "counter", "EVENTs answered with an OK.",
                     load(&m->events_received));
    rc = rc ? rc
            : scalar(out, "ostrich_events_accepted_total", "counter",
                     "EVENTs stored (or passed on, if ephemeral) and answered OK true.",
                     load(&m->events_accepted));
    rc = rc ? rc
            : scalar(out, "ostrich_events_duplicate_total", "counter",
                     "EVENTs already stored, answered OK true \"duplicate:\".",
                     load(&m->events_duplicate));
    rc = rc ? rc
            : counters(out, "ostrich_events_rejected_total",
                       "EVENTs answered OK false, by the prefix of the reason.", "reason",
                       ev_reject_names, m->events_rejected, METRICS_EV_N);
    rc = rc ? rc
            : counters(out, "ostrich_rate_limited_total",
                       "Client messages refused by a rate limit, by verb (REQ includes COUNT).",
                       "message", rate_names, m->rate_limited, METRICS_RATE_N);
    rc = rc ? rc
            : scalar(out, "ostrich_broadcast_deliveries_total", "counter",
                     "New events queued to matching live subscriptions.",
                     load(&m->broadcast_deliveries));
    rc = rc ? rc
            : scalar(out, "ostrich_bytes_received_total", "counter",
                     "WebSocket message bytes received.", load(&m->bytes_in));
    rc = rc ? rc
            : scalar(out, "ostrich_bytes_sent_total", "counter",
                     "WebSocket bytes written, frame headers included.", load(&m->bytes_out));
    return rc;
}

static int render_gauges(const struct metrics_gauges *g, struct buf *out)
{
    static const char *const queue_names[] = { "validation", "storage", "query", "broadcast" };
    const uint64_t queues[] = { g->validation_queue, g->storage_queue, g->query_queue,
                                g->broadcast_queue };
    int rc =
        scalar(out, "ostrich_connections", "gauge", "Open WebSocket connections.", g->connections);
    rc =
        rc ? rc
           : scalar(out, "ostrich_subscriptions", "gauge", "Open subscriptions.", g->subscriptions);
    rc = rc ? rc
            : labelled(out, "ostrich_queue_depth", "gauge",
                       "Messages waiting for a worker thread, by queue.", "queue", queue_names,
                       queues, sizeof(queues) / sizeof(queues[0]));
    rc = rc ? rc
            : scalar(out, "ostrich_outbound_bytes", "gauge",
                     "Bytes queued to clients and not yet written.", g->outbound_bytes);
    rc = rc ? rc
            : scalar(out, "ostrich_storage_up", "gauge", "1 when the store answers, else 0.",
                     g->is_storage_up ? 1 : 0);
    rc = rc ? rc
            : scalar(out, "ostrich_uptime_seconds", "gauge", "Seconds since the relay started.",
                     g->uptime_s > 0 ? (uint64_t)g->uptime_s : 0);
    rc = rc ? rc : family(out, "ostrich_info", "gauge", "The relay's version, as a label.");
    rc = rc ? rc : buf_append_str(out, "ostrich_info{version=\"");
    rc = rc ? rc : metrics_append_label_value(out, OSTRICH_VERSION);
    rc = rc ? rc : buf_append_str(out, "\"} 1\n");
    return rc;
}

int metrics_render(const struct metrics *m, const struct metrics_gauges *g, struct buf *out)
{
    int rc = render_counters(m, out);
    rc = rc ? rc : render_gauges(g, out);
    rc = rc ? rc
            : histogram(out, "ostrich_validation_seconds",
                        "From an EVENT's arrival to its validation verdict, in seconds.",
                        &m->validation_seconds, true);
    rc = rc ? rc
            : histogram(out, "ostrich_storage_commit_seconds",
                        "Time to write and commit one storage batch, in seconds.",
                        &m->storage_commit_seconds, true);
    rc = rc ? rc
            : histogram(out, "ostrich_storage_batch_events", "Events per storage batch.",
                        &m->storage_batch_events, false);
    return rc;
}

/* ---- the health report ---- */

enum metrics_health metrics_health(const struct metrics_gauges *g)
{
    if (g->is_draining) {
        return METRICS_HEALTH_DRAINING;
    }
    return g->is_storage_up ? METRICS_HEALTH_OK : METRICS_HEALTH_DEGRADED;
}

int metrics_render_health(const struct metrics_gauges *g, struct buf *out)
{
    static const char *const status_names[] = { "ok", "degraded", "draining" };
    const char *backend = g->storage_backend != NULL ? g->storage_backend : "";
    int rc = buf_printf(out, "{\"status\":\"%s\",\"uptime_s\":%" PRId64 ",\"version\":",
                        status_names[metrics_health(g)], g->uptime_s > 0 ? g->uptime_s : 0);
    rc = rc ? rc : json_write_string(out, OSTRICH_VERSION, strlen(OSTRICH_VERSION));
    rc = rc ? rc
            : buf_printf(out,
                         ",\"connections\":%" PRIu64 ",\"storage\":{\"backend\":", g->connections);
    rc = rc ? rc : json_write_string(out, backend, strlen(backend));
    return rc ? rc
              : buf_printf(out,
                           ",\"up\":%s},\"queues\":{\"validation\":%" PRIu64 ",\"storage\":%" PRIu64
                           ",\"query\":%" PRIu64 ",\"broadcast\":%" PRIu64
                           ",\"outbound_bytes\":%" PRIu64 "}}\n",
                           g->is_storage_up ? "true" : "false", g->validation_queue,
                           g->storage_queue, g->query_queue, g->broadcast_queue, g->outbound_bytes);
}
