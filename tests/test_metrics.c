/* Tests for relay/metrics: histogram buckets on both sides of each bound,
 * the reject-reason table, counting OKs, label escaping, the structure of
 * the text exposition (one HELP and TYPE per family, samples under their
 * family, cumulative buckets) and the health report. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/buf.h"
#include "common/jdoc.h"
#include "relay/metrics.h"

/* Renders m and g into a NUL-terminated string the caller frees. */
static char *render(const struct metrics *m, const struct metrics_gauges *g)
{
    struct buf b;
    buf_init(&b);
    if (metrics_render(m, g, &b) < 0 || buf_cstr(&b) == NULL) {
        buf_fini(&b);
        return NULL;
    }
    return b.data;
}

/* Whether text has line as one whole line. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n') {
            return true;
        }
    }
    return false;
}

static uint64_t bucket(const struct metrics_hist *h, size_t i)
{
    return atomic_load(&h->buckets[i]);
}

static void test_seconds_buckets(void)
{
    static struct metrics m;
    metrics_init(&m);
    struct metrics_hist *h = &m.validation_seconds;
    metrics_observe_seconds(h, 0.00005); /* on the first bound: "le" is inclusive */
    CHECK_INT_EQ(bucket(h, 0), 1);
    metrics_observe_seconds(h, 0.0000501);
    CHECK_INT_EQ(bucket(h, 1), 1);
    metrics_observe_seconds(h, 10); /* the last bound */
    CHECK_INT_EQ(bucket(h, METRICS_HIST_BUCKETS - 1), 1);
    metrics_observe_seconds(h, 10.001); /* +Inf only */
    metrics_observe_seconds(h, -1);     /* a clock step back counts as 0 */
    CHECK_INT_EQ(bucket(h, 0), 2);
    CHECK_INT_EQ(atomic_load(&h->count), 5);
    uint64_t in_buckets = 0;
    for (size_t i = 0; i < METRICS_HIST_BUCKETS; i++) {
        in_buckets += bucket(h, i);
    }
    CHECK_INT_EQ(in_buckets, 4);
    /* 0.00005 + 0.0000501 + 10 + 10.001 + 0, in microseconds, rounded. */
    CHECK_INT_EQ(atomic_load(&h->sum_micro), 50 + 50 + 10000000 + 10001000);

    char *text = render(&m, &(struct metrics_gauges){ 0 });
    CHECK(text != NULL);
    bool ok = has_line(text, "ostrich_validation_seconds_bucket{le=\"5e-05\"} 2") &&
              has_line(text, "ostrich_validation_seconds_bucket{le=\"0.0001\"} 3") &&
              has_line(text, "ostrich_validation_seconds_bucket{le=\"2.5\"} 3") &&
              has_line(text, "ostrich_validation_seconds_bucket{le=\"10\"} 4") &&
              has_line(text, "ostrich_validation_seconds_bucket{le=\"+Inf\"} 5") &&
              has_line(text, "ostrich_validation_seconds_sum 20.001100") &&
              has_line(text, "ostrich_validation_seconds_count 5");
    if (!ok) {
        fprintf(stderr, "%s", text);
    }
    free(text);
    CHECK(ok);
}

static void test_since(void)
{
    static struct metrics m;
    metrics_init(&m);
    uint64_t start = metrics_now_ns();
    CHECK(metrics_now_ns() >= start);
    metrics_observe_since(&m.storage_commit_seconds, start);
    metrics_observe_since(&m.storage_commit_seconds, start + 1000000000000u); /* future: 0 */
    CHECK_INT_EQ(atomic_load(&m.storage_commit_seconds.count), 2);
    CHECK_INT_EQ(bucket(&m.storage_commit_seconds, 0) >= 1, 1);
}

static void test_size_buckets(void)
{
    static struct metrics m;
    metrics_init(&m);
    struct metrics_hist *h = &m.storage_batch_events;
    const struct {
        uint64_t n;
        int bucket; /* -1: above every bound */
    } cases[] = {
        { 0, 0 },      { 1, 0 },      { 2, 1 },      { 3, 2 },     { 4, 2 },
        { 5, 3 },      { 256, 8 },    { 257, 9 },    { 4096, 12 }, { 4097, 13 },
        { 10000, 13 }, { 10001, -1 }, { 65536, -1 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        metrics_init(&m);
        metrics_observe_size(h, cases[i].n);
        CHECK_INT_EQ(atomic_load(&h->count), 1);
        CHECK_INT_EQ(atomic_load(&h->sum_micro), cases[i].n * 1000000u);
        for (int b = 0; b < METRICS_HIST_BUCKETS; b++) {
            if (bucket(h, (size_t)b) != (b == cases[i].bucket)) {
                fprintf(stderr, "  n=%llu: bucket %d holds %llu\n", (unsigned long long)cases[i].n,
                        b, (unsigned long long)bucket(h, (size_t)b));
            }
            CHECK_INT_EQ(bucket(h, (size_t)b), b == cases[i].bucket);
        }
    }
    metrics_init(&m);
    metrics_observe_size(h, 3);
    metrics_observe_size(h, 300);
    char *text = render(&m, &(struct metrics_gauges){ 0 });
    CHECK(text != NULL);
    bool ok = has_line(text, "ostrich_storage_batch_events_bucket{le=\"2\"} 0") &&
              has_line(text, "ostrich_storage_batch_events_bucket{le=\"4\"} 1") &&
              has_line(text, "ostrich_storage_batch_events_bucket{le=\"256\"} 1") &&
              has_line(text, "ostrich_storage_batch_events_bucket{le=\"512\"} 2") &&
              has_line(text, "ostrich_storage_batch_events_sum 303.000000") &&
              has_line(text, "ostrich_storage_batch_events_count 2");
    free(text);
    CHECK(ok);
}

static void test_reject_reason(void)
{
    const struct {
        const char *reason;
        enum metrics_ev_reject want;
        const char *label;
    } cases[] = {
        { "invalid: bad signature", METRICS_EV_INVALID, "invalid" },
        { "pow: difficulty 3 is less than 8", METRICS_EV_POW, "pow" },
        { "blocked: banned", METRICS_EV_BLOCKED, "blocked" },
        { "rate-limited: slow down", METRICS_EV_RATE_LIMITED, "rate-limited" },
        { "auth-required: who are you", METRICS_EV_AUTH_REQUIRED, "auth-required" },
        { "restricted: not allowed", METRICS_EV_RESTRICTED, "restricted" },
        { "error: storage unavailable", METRICS_EV_ERROR, "error" },
        { "duplicate: have a newer version", METRICS_EV_OTHER, "other" },
        { "mute: whatever", METRICS_EV_OTHER, "other" },
        { "invalid", METRICS_EV_OTHER, "other" }, /* a prefix needs its colon */
        { "Invalid: case counts", METRICS_EV_OTHER, "other" },
        { "", METRICS_EV_OTHER, "other" },
        { NULL, METRICS_EV_OTHER, "other" },
    };
    bool is_reached[METRICS_EV_N] = { false };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum metrics_ev_reject got = metrics_reject_reason(cases[i].reason);
        CHECK_INT_EQ(got, cases[i].want);
        CHECK_STR_EQ(metrics_reject_reason_name(got), cases[i].label);
        is_reached[got] = true;
    }
    for (int r = 0; r < METRICS_EV_N; r++) {
        CHECK(is_reached[r]);
    }
    CHECK_STR_EQ(metrics_reject_reason_name(METRICS_EV_N), "other");
}

static void test_count_ok(void)
{
    static struct metrics m;
    metrics_init(&m);
    metrics_count_ok(&m, true, "");
    metrics_count_ok(&m, true, NULL);
    metrics_count_ok(&m, true, "duplicate: already have this event");
    metrics_count_ok(&m, false, "invalid: bad id");
    metrics_count_ok(&m, false, "error: out of memory");
    metrics_count_ok(&m, false, "duplicate: have a newer version");
    CHECK_INT_EQ(atomic_load(&m.events_received), 6);
    CHECK_INT_EQ(atomic_load(&m.events_accepted), 2);
    CHECK_INT_EQ(atomic_load(&m.events_duplicate), 1);
    CHECK_INT_EQ(atomic_load(&m.events_rejected[METRICS_EV_INVALID]), 1);
    CHECK_INT_EQ(atomic_load(&m.events_rejected[METRICS_EV_ERROR]), 1);
    CHECK_INT_EQ(atomic_load(&m.events_rejected[METRICS_EV_OTHER]), 1);
}

static void test_label_escaping(void)
{
    struct buf b;
    buf_init(&b);
    CHECK_OK(metrics_append_label_value(&b, "a\\b\"c\nd"));
    CHECK_OK(metrics_append_label_value(&b, ""));
    CHECK_OK(metrics_append_label_value(&b, "1.0-\xc3\xa9"));
    const char *got = buf_cstr(&b);
    bool ok = got != NULL && strcmp(got, "a\\\\b\\\"c\\nd1.0-\xc3\xa9") == 0;
    if (!ok) {
        fprintf(stderr, "  got: %s\n", got ? got : "(null)");
    }
    buf_fini(&b);
    CHECK(ok);
}

/* Splits "name{labels} value" into the metric name; returns false for
 * lines that are not samples. */
static bool sample_name(const char *line, size_t len, char *name, size_t cap)
{
    size_t n = strcspn(line, "{ ");
    if (n == 0 || n >= cap || n >= len || line[0] == '#') {
        return false;
    }
    memcpy(name, line, n);
    name[n] = '\0';
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Every sample belongs to the family declared last, declared once with both
 * HELP and TYPE; counters end in _total; histogram samples are _bucket,
 * _sum and _count; every line ends with a newline. Returns the number of
 * families, or -1 with a message. */
static int check_structure(const char *text)
{
    char family[128] = "", type[32] = "", seen[64][128];
    int n_families = 0;
    const char *p = text;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        if (nl == NULL) {
            fprintf(stderr, "  unterminated last line: %s\n", p);
            return -1;
        }
        size_t len = (size_t)(nl - p);
        char line[512];
        if (len >= sizeof(line)) {
            return -1;
        }
        memcpy(line, p, len);
        line[len] = '\0';
        char name[128];
        if (strncmp(line, "# HELP ", 7) == 0) {
            if (sscanf(line + 7, "%127s", family) != 1) {
                return -1;
            }
            for (int i = 0; i < n_families; i++) {
                if (strcmp(seen[i], family) == 0) {
                    fprintf(stderr, "  family %s declared twice\n", family);
                    return -1;
                }
            }
            if (n_families == 64) {
                return -1;
            }
            snprintf(seen[n_families++], sizeof(seen[0]), "%s", family);
            type[0] = '\0';
        } else if (strncmp(line, "# TYPE ", 7) == 0) {
            if (sscanf(line + 7, "%127s %31s", name, type) != 2 || strcmp(name, family) != 0) {
                fprintf(stderr, "  TYPE without its HELP: %s\n", line);
                return -1;
            }
            if (strcmp(type, "counter") == 0 && !ends_with(family, "_total")) {
                fprintf(stderr, "  counter without _total: %s\n", family);
                return -1;
            }
        } else if (sample_name(line, len, name, sizeof(name))) {
            bool is_own = strcmp(name, family) == 0;
            if (strcmp(type, "histogram") == 0) {
                size_t f = strlen(family);
                is_own = strncmp(name, family, f) == 0 &&
                         (strcmp(name + f, "_bucket") == 0 || strcmp(name + f, "_sum") == 0 ||
                          strcmp(name + f, "_count") == 0);
            }
            if (!is_own || type[0] == '\0' || strncmp(name, "ostrich_", 8) != 0) {
                fprintf(stderr, "  sample outside its family %s: %s\n", family, line);
                return -1;
            }
        } else {
            fprintf(stderr, "  unexpected line: %s\n", line);
            return -1;
        }
        p = nl + 1;
    }
    return n_families;
}

static void test_render(void)
{
    static struct metrics m;
    metrics_init(&m);
    metrics_add(&m.connections_total, 7);
    metrics_add(&m.connections_rejected[METRICS_REJECT_PER_IP], 3);
    metrics_inc(&m.messages_in[METRICS_IN_EVENT]);
    metrics_add(&m.messages_in[METRICS_IN_INVALID], 2);
    metrics_add(&m.messages_out[METRICS_OUT_OK], 4);
    metrics_count_ok(&m, false, "invalid: bad signature");
    metrics_inc(&m.rate_limited[METRICS_RATE_EVENT]);
    metrics_add(&m.bytes_in, 1234);
    metrics_add(&m.bytes_out, 5678);
    metrics_add(&m.broadcast_deliveries, 9);
    struct metrics_gauges g = {
        .connections = 5,
        .subscriptions = 11,
        .outbound_bytes = 4096,
        .validation_queue = 1,
        .storage_queue = 2,
        .query_queue = 3,
        .broadcast_queue = 4,
        .is_storage_up = true,
        .uptime_s = 42,
        .storage_backend = "sqlite",
    };
    char *text = render(&m, &g);
    CHECK(text != NULL);
    int n_families = check_structure(text);
    const char *const want[] = {
        "ostrich_connections_total 7",
        "ostrich_connections_rejected_total{reason=\"per_ip\"} 3",
        "ostrich_connections_rejected_total{reason=\"max_connections\"} 0",
        "ostrich_connections_rejected_total{reason=\"idle\"} 0",
        "ostrich_messages_received_total{type=\"EVENT\"} 1",
        "ostrich_messages_received_total{type=\"invalid\"} 2",
        "ostrich_messages_sent_total{type=\"OK\"} 4",
        "ostrich_messages_sent_total{type=\"AUTH\"} 0",
        "ostrich_events_received_total 1",
        "ostrich_events_accepted_total 0",
        "ostrich_events_duplicate_total 0",
        "ostrich_events_rejected_total{reason=\"invalid\"} 1",
        "ostrich_events_rejected_total{reason=\"rate-limited\"} 0",
        "ostrich_rate_limited_total{message=\"EVENT\"} 1",
        "ostrich_rate_limited_total{message=\"REQ\"} 0",
        "ostrich_broadcast_deliveries_total 9",
        "ostrich_bytes_received_total 1234",
        "ostrich_bytes_sent_total 5678",
        "ostrich_connections 5",
        "ostrich_subscriptions 11",
        "ostrich_queue_depth{queue=\"validation\"} 1",
        "ostrich_queue_depth{queue=\"storage\"} 2",
        "ostrich_queue_depth{queue=\"query\"} 3",
        "ostrich_queue_depth{queue=\"broadcast\"} 4",
        "ostrich_outbound_bytes 4096",
        "ostrich_storage_up 1",
        "ostrich_uptime_seconds 42",
        "ostrich_info{version=\"" OSTRICH_VERSION "\"} 1",
        "# TYPE ostrich_connections_total counter",
        "# TYPE ostrich_connections gauge",
        "# TYPE ostrich_validation_seconds histogram",
        "# TYPE ostrich_storage_commit_seconds histogram",
        "# TYPE ostrich_storage_batch_events histogram",
        "ostrich_storage_commit_seconds_count 0",
    };
    bool ok = n_families == 22;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (!has_line(text, want[i])) {
            fprintf(stderr, "  missing line: %s\n", want[i]);
            ok = false;
        }
    }
    if (!ok) {
        fprintf(stderr, "%d families in:\n%s", n_families, text);
    }
    free(text);
    CHECK(ok);

    g.is_storage_up = false;
    text = render(&m, &g);
    CHECK(text != NULL);
    ok = has_line(text, "ostrich_storage_up 0");
    free(text);
    CHECK(ok);
}

/* A render racing an observe may read a bucket before the count grew:
 * +Inf and _count then show the buckets' total, never less. */
static void test_render_clamps_count(void)
{
    static struct metrics m;
    metrics_init(&m);
    atomic_store(&m.validation_seconds.buckets[0], 2);
    atomic_store(&m.validation_seconds.buckets[5], 1);
    atomic_store(&m.validation_seconds.count, 1);
    char *text = render(&m, &(struct metrics_gauges){ 0 });
    CHECK(text != NULL);
    bool ok = has_line(text, "ostrich_validation_seconds_bucket{le=\"10\"} 3") &&
              has_line(text, "ostrich_validation_seconds_bucket{le=\"+Inf\"} 3") &&
              has_line(text, "ostrich_validation_seconds_count 3");
    free(text);
    CHECK(ok);
}

/* Whether v is the JSON string want. */
static bool str_is(const struct jdoc_val *v, const char *want)
{
    size_t len = 0;
    const char *s = v != NULL ? jdoc_str(v, &len) : NULL;
    return s != NULL && len == strlen(want) && memcmp(s, want, len) == 0;
}

static void test_health(void)
{
    struct metrics_gauges g = {
        .connections = 3,
        .outbound_bytes = 10,
        .validation_queue = 1,
        .storage_queue = 2,
        .query_queue = 3,
        .broadcast_queue = 4,
        .is_storage_up = true,
        .uptime_s = 9,
        .storage_backend = "opensearch",
    };
    CHECK_INT_EQ(metrics_health(&g), METRICS_HEALTH_OK);
    g.is_storage_up = false;
    CHECK_INT_EQ(metrics_health(&g), METRICS_HEALTH_DEGRADED);
    g.is_draining = true;
    CHECK_INT_EQ(metrics_health(&g), METRICS_HEALTH_DRAINING);
    g.is_storage_up = true;
    CHECK_INT_EQ(metrics_health(&g), METRICS_HEALTH_DRAINING);

    const struct {
        bool is_up, is_draining;
        const char *status;
    } cases[] = {
        { true, false, "ok" },
        { false, false, "degraded" },
        { false, true, "draining" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        g.is_storage_up = cases[i].is_up;
        g.is_draining = cases[i].is_draining;
        struct buf b;
        buf_init(&b);
        CHECK_OK(metrics_render_health(&g, &b));
        struct jdoc *d = NULL;
        int rc = jdoc_parse(b.data, b.len, 8, &d);
        buf_fini(&b);
        CHECK_OK(rc);
        const struct jdoc_val *root = jdoc_root(d);
        const struct jdoc_val *storage = jdoc_get(root, "storage");
        const struct jdoc_val *queues = jdoc_get(root, "queues");
        int64_t uptime = -1, conns = -1, vq = -1, sq = -1, qq = -1, bq = -1, ob = -1;
        bool is_up = !cases[i].is_up;
        bool ok = str_is(jdoc_get(root, "status"), cases[i].status) &&
                  str_is(jdoc_get(root, "version"), OSTRICH_VERSION) &&
                  str_is(jdoc_get(storage, "backend"), "opensearch") &&
                  jdoc_int(jdoc_get(root, "uptime_s"), &uptime) &&
                  jdoc_int(jdoc_get(root, "connections"), &conns) &&
                  jdoc_bool(jdoc_get(storage, "up"), &is_up) &&
                  jdoc_int(jdoc_get(queues, "validation"), &vq) &&
                  jdoc_int(jdoc_get(queues, "storage"), &sq) &&
                  jdoc_int(jdoc_get(queues, "query"), &qq) &&
                  jdoc_int(jdoc_get(queues, "broadcast"), &bq) &&
                  jdoc_int(jdoc_get(queues, "outbound_bytes"), &ob) && uptime == 9 && conns == 3 &&
                  is_up == cases[i].is_up && vq == 1 && sq == 2 && qq == 3 && bq == 4 && ob == 10;
        jdoc_free(d);
        CHECK(ok);
    }
}

CHECK_MAIN({ "seconds_buckets", test_seconds_buckets }, { "since", test_since },
           { "size_buckets", test_size_buckets }, { "reject_reason", test_reject_reason },
           { "count_ok", test_count_ok }, { "label_escaping", test_label_escaping },
           { "render", test_render }, { "render_clamps_count", test_render_clamps_count },
           { "health", test_health })
