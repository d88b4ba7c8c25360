/*
 * Load generator for a running relay: many WebSocket connections driven by
 * one epoll loop on one thread (bench/load_ws.c is the client), so that it
 * takes as little of the machine as possible; its CPU time is reported.
 *
 *   load ingest --port P --conns C --window W --events N [--seed S] [--keys K]
 *       publishes N pre-generated signed events (tests/evgen, all cores,
 *       not timed), event i on connection i % C, with at most W unanswered
 *       EVENTs per connection; measures OK/s and send->OK latency.
 *   load query --port P --conns C --reqs R --authors-from-seed S [--keys K]
 *       [--shape author|authors10|ptag|recent] [--limit L]
 *       one REQ at a time per connection on an already loaded store;
 *       measures REQ->EOSE latency and REQ/s, then CLOSEs each REQ.
 *
 * Prints one JSON line on stdout and a short summary on stderr. Exits 1 when
 * the run did not complete (timeout, connection lost, unanswered messages).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/resource.h>
#include <unistd.h>

#include <stdarg.h>

#include "bench/load_ws.h"
#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "tests/evgen.h"

#define MSG_MAX      5  /* elements of a relay message we look at */
#define MAX_AUTHORS  10 /* authors in one REQ (shape authors10) */
#define N_KEPT       3  /* reasons kept for the summary */
#define REASON_LEN   160
#define OPEN_WAIT_S  10
#define CLOSE_WAIT_S 3

enum shape {
    SHAPE_AUTHOR,
    SHAPE_AUTHORS10,
    SHAPE_PTAG,
    SHAPE_RECENT,
};

static const char *const shape_names[] = { "author", "authors10", "ptag", "recent", NULL };

struct opts {
    bool is_query;
    const char *host;
    enum shape shape;
    uint64_t port, conns, window, events, seed, keys, reqs, limit, timeout_s, relay_pid;
};

/* One connection's state. Owned by: the loop thread. */
struct client {
    struct run *run;
    uint32_t idx;
    uint64_t next;     /* ingest: the next event this connection sends */
    uint32_t inflight; /* ingest: EVENTs sent and not answered */
    bool is_busy;      /* query: a REQ is waiting for its EOSE */
    uint64_t sent_ns;
    uint32_t n_events;
    int64_t last_created_at;
    uint32_t authors[MAX_AUTHORS], n_authors;
    char sub[24];
    size_t sub_len;
};

/* Reasons seen in OK false, CLOSED or NOTICE, kept for the summary. */
struct kept {
    uint64_t n;
    char text[N_KEPT][REASON_LEN];
};

struct run {
    const struct opts *o;
    struct load_ws_pool pool;
    struct client *clients;
    uint64_t t_start, t_last;
    uint64_t *lat; /* ns, one per answer */
    uint64_t n_lat;
    struct kept notices, refusals;
    uint64_t n_bad_msg, n_stray;
    /* ingest */
    struct buf *events;
    uint64_t *sent_ns;
    uint8_t *is_answered;
    uint32_t *slots; /* id hash: event index + 1, 0 for empty */
    uint64_t slot_mask;
    uint64_t n_answered, n_true, n_dup, n_false, n_unknown, n_repeat, n_misrouted;
    /* query */
    char (*authors)[65];
    struct buf req;
    uint64_t rng, reqs_sent, n_eose, n_closed, n_ev, n_wrong, n_over, n_unordered, n_empty;
};

/* CPU time of the calling thread, in seconds. */
static double thread_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) < 0) {
        return 0;
    }
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* CPU time of process pid (all its threads) from /proc, or -1. */
static double proc_cpu_s(uint64_t pid)
{
    char path[64], text[1024] = "";
    snprintf(path, sizeof(path), "/proc/%" PRIu64 "/stat", pid);
    FILE *f = pid > 0 ? fopen(path, "r") : NULL;
    if (f != NULL) {
        text[fread(text, 1, sizeof(text) - 1, f)] = '\0';
        fclose(f);
    }
    /* The command name may hold spaces, so fields are counted from the last
     * ')': utime and stime are fields 14 and 15 of the line. */
    const char *p = strrchr(text, ')');
    unsigned long long ut, st;
    return p != NULL && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                               &st) == 2
               ? (double)(ut + st) / (double)sysconf(_SC_CLK_TCK)
               : -1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n), in milliseconds. */
static double pct_ms(const uint64_t *v, uint64_t n, double q)
{
    if (n == 0) {
        return 0;
    }
    uint64_t rank = (uint64_t)(q * (double)n + 0.999999);
    return (double)v[rank == 0 ? 0 : rank - 1] / 1e6;
}

static void keep(struct kept *k, const char *s, size_t len)
{
    if (k->n < N_KEPT) {
        snprintf(k->text[k->n], REASON_LEN, "%.*s", (int)len, s);
    }
    k->n++;
}

/* ---- Relay messages: a JSON array, split into its elements ---- */

struct msg {
    size_t n;
    const char *at[MSG_MAX], *end[MSG_MAX];
};

static int msg_split(const char *p, size_t len, struct msg *m)
{
    const char *end = p + len, *next, *reason;
    p = json_skip_ws(p, end);
    if (p == end || *p != '[') {
        return OST_EPARSE;
    }
    m->n = 0;
    for (p = json_skip_ws(p + 1, end); m->n < MSG_MAX; p = json_skip_ws(p + 1, end)) {
        /* The event of ["EVENT",sub,{...}] is taken as it is, up to the
         * closing bracket: scanning every stored event strictly would cost
         * the load generator more than everything else (event_fits checks
         * the fields that matter). */
        if (m->n == 2 && p < end && *p == '{') {
            while (end > p && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\r')) {
                end--;
            }
            m->at[2] = p;
            m->end[m->n++] = end - 1;
            return end - p >= 3 && end[-1] == ']' && end[-2] == '}' ? 0 : OST_EPARSE;
        }
        if (json_scan_value(p, end, 64, &next, &reason) < 0) {
            return OST_EPARSE;
        }
        m->at[m->n] = json_skip_ws(p, end);
        m->end[m->n++] = next;
        p = json_skip_ws(next, end);
        if (p < end && *p == ']') {
            return json_skip_ws(p + 1, end) == end ? 0 : OST_EPARSE;
        }
        if (p == end || *p != ',') {
            return OST_EPARSE;
        }
    }
    return OST_EPARSE;
}

/* Element i as a string (raw, still escaped). */
static bool msg_str(const struct msg *m, size_t i, struct json_str *out)
{
    const char *next, *reason;
    return i < m->n && *m->at[i] == '"' &&
           json_scan_string(m->at[i], m->end[i], out, NULL, &next, &reason) == 0;
}

static bool str_is(const struct json_str *s, const char *lit, size_t len)
{
    return s->len == len && memcmp(s->p, lit, len) == 0;
}

/* ---- ingest ---- */

static uint64_t id_hash(const char *hex)
{
    uint64_t h = 0;
    for (int i = 0; i < 16; i++) {
        char c = hex[i];
        h = h << 4 | (uint64_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return h * 0x9e3779b97f4a7c15ull;
}

/* The index of the event whose id is hex[0..64), or -1. evgen writes the
 * id first: every event starts with {"id":" (checked at generation). */
static int64_t find_event(const struct run *r, const char *hex)
{
    for (uint64_t s = id_hash(hex) & r->slot_mask;; s = (s + 1) & r->slot_mask) {
        uint32_t v = r->slots[s];
        if (v == 0) {
            return -1;
        }
        if (memcmp(r->events[v - 1].data + 7, hex, 64) == 0) {
            return v - 1;
        }
    }
}

static int refill(struct run *r, struct client *c)
{
    while (c->inflight < r->o->window && c->next < r->o->events) {
        const struct buf *e = &r->events[c->next];
        const char *parts[3] = { "[\"EVENT\",", e->data, "]" };
        size_t lens[3] = { 9, e->len, 1 };
        r->sent_ns[c->next] = load_ws_now_ns();
        int rc = load_ws_send_text(&r->pool, c->idx, parts, lens, 3);
        if (rc < 0) {
            return rc;
        }
        c->next += r->o->conns;
        c->inflight++;
    }
    return 0;
}

static int on_ok(struct run *r, struct client *c, const struct msg *m)
{
    struct json_str id, reason;
    bool is_true = m->n == 4 && m->end[2] - m->at[2] == 4 && memcmp(m->at[2], "true", 4) == 0;
    bool is_false = m->n == 4 && m->end[2] - m->at[2] == 5 && memcmp(m->at[2], "false", 5) == 0;
    if (!msg_str(m, 1, &id) || id.len != 64 || !msg_str(m, 3, &reason) || !(is_true || is_false)) {
        r->n_bad_msg++;
        return 0;
    }
    int64_t i = find_event(r, id.p);
    if (i < 0) {
        r->n_unknown++;
        return 0;
    }
    if (r->is_answered[i]) {
        r->n_repeat++;
        return 0;
    }
    uint64_t t = load_ws_now_ns();
    r->is_answered[i] = 1;
    r->n_answered++;
    r->lat[r->n_lat++] = t - r->sent_ns[i];
    r->t_last = t;
    bool is_dup = reason.len >= 10 && memcmp(reason.p, "duplicate:", 10) == 0;
    r->n_dup += is_dup;
    r->n_true += is_true;
    r->n_false += !is_true;
    if (!is_true && !is_dup) {
        keep(&r->refusals, reason.p, reason.len);
    }
    struct client *sender = &r->clients[(uint64_t)i % r->o->conns];
    if (sender != c) {
        r->n_misrouted++;
    }
    sender->inflight--;
    return refill(r, sender);
}

static bool ingest_done(void *arg)
{
    const struct run *r = arg;
    return r->n_answered == r->o->events;
}

/* Generates the corpus and its id index; not timed. */
static int ingest_prepare(struct run *r)
{
    struct evgen *g = NULL;
    uint64_t n = r->o->events;
    int rc = evgen_new(r->o->seed, r->o->keys, (int64_t)time(NULL), &g);
    if (rc < 0) {
        return rc;
    }
    uint64_t n_slots = 1024;
    while (n_slots < 2 * n) {
        n_slots *= 2;
    }
    r->slot_mask = n_slots - 1;
    r->events = calloc(n, sizeof(*r->events));
    r->sent_ns = calloc(n, sizeof(*r->sent_ns));
    r->is_answered = calloc(n, 1);
    r->slots = calloc(n_slots, sizeof(*r->slots));
    if (r->events == NULL || r->sent_ns == NULL || r->is_answered == NULL || r->slots == NULL) {
        rc = OST_ENOMEM;
        goto out;
    }
    for (uint64_t i = 0; i < n; i++) {
        buf_init(&r->events[i]);
    }
    rc = evgen_fill(g, 0, n, 0, r->events);
    for (uint64_t i = 0; rc == 0 && i < n; i++) {
        const struct buf *e = &r->events[i];
        if (e->len < 72 || memcmp(e->data, "{\"id\":\"", 7) != 0) {
            rc = OST_EINVAL;
            break;
        }
        uint64_t s = id_hash(e->data + 7) & r->slot_mask;
        while (r->slots[s] != 0) {
            s = (s + 1) & r->slot_mask;
        }
        r->slots[s] = (uint32_t)(i + 1);
    }
out:
    evgen_free(g);
    return rc;
}

/* ---- query ---- */

static uint64_t next_rand(struct run *r)
{
    r->rng += 0x9e3779b97f4a7c15ull;
    uint64_t z = r->rng;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int send_req(struct run *r, struct client *c)
{
    const struct opts *o = r->o;
    c->is_busy = false;
    if (r->reqs_sent == o->reqs) {
        return 0;
    }
    c->sub_len = (size_t)snprintf(c->sub, sizeof(c->sub), "q%" PRIu64, r->reqs_sent++);
    c->n_authors = o->shape == SHAPE_AUTHORS10 ? MAX_AUTHORS : o->shape == SHAPE_RECENT ? 0 : 1;
    for (uint32_t a = 0; a < c->n_authors; a++) {
        c->authors[a] = (uint32_t)(next_rand(r) % o->keys);
    }
    struct buf *b = &r->req;
    buf_reset(b);
    int rc = buf_printf(b, "[\"REQ\",\"%s\",{", c->sub);
    if (o->shape == SHAPE_AUTHOR || o->shape == SHAPE_AUTHORS10) {
        rc = rc ? rc : buf_append_str(b, "\"authors\":[");
        for (uint32_t a = 0; a < c->n_authors; a++) {
            rc = rc ? rc : buf_printf(b, "%s\"%s\"", a ? "," : "", r->authors[c->authors[a]]);
        }
        rc = rc ? rc
                : buf_append_str(b, o->shape == SHAPE_AUTHOR ? "],\"kinds\":[1],"
                                                             : "],\"kinds\":[1,7],");
    } else if (o->shape == SHAPE_PTAG) {
        rc = rc ? rc : buf_printf(b, "\"#p\":[\"%s\"],", r->authors[c->authors[0]]);
    } else {
        rc = rc ? rc : buf_append_str(b, "\"kinds\":[1],");
    }
    rc = rc ? rc : buf_printf(b, "\"limit\":%" PRIu64 "}]", o->limit);
    const char *parts[1] = { b->data };
    size_t lens[1] = { b->len };
    rc = rc ? rc : load_ws_send_text(&r->pool, c->idx, parts, lens, 1);
    c->sent_ns = load_ws_now_ns();
    c->n_events = 0;
    c->last_created_at = INT64_MAX;
    c->is_busy = rc == 0;
    return rc;
}

/* Finds the member "key": (given with its quotes and colon) in the event
 * object and returns the value's first byte. A quote inside a JSON string
 * is escaped, so the pattern can only match a key. */
static const char *field(const char *ev, size_t len, const char *key)
{
    const char *p = memmem(ev, len, key, strlen(key));
    return p == NULL ? NULL : p + strlen(key);
}

/* Whether a stored event sent for c's REQ satisfies the filter; also checks
 * the newest-first order NIP-01 gives for limited queries. */
static bool event_fits(struct client *c, const char *ev, size_t len)
{
    const struct run *r = c->run;
    const char *pk = field(ev, len, "\"pubkey\":"), *kp = field(ev, len, "\"kind\":");
    const char *cp = field(ev, len, "\"created_at\":"), *end = ev + len;
    if (pk == NULL || kp == NULL || cp == NULL || end - pk < 66) {
        return false;
    }
    long kind = strtol(kp, NULL, 10);
    long long created_at = strtoll(cp, NULL, 10);
    if (created_at > c->last_created_at) {
        c->run->n_unordered++;
    }
    c->last_created_at = created_at;
    switch (r->o->shape) {
    case SHAPE_AUTHOR:
        return kind == 1 && memcmp(pk + 1, r->authors[c->authors[0]], 64) == 0;
    case SHAPE_AUTHORS10:
        for (uint32_t a = 0; a < c->n_authors; a++) {
            if (memcmp(pk + 1, r->authors[c->authors[a]], 64) == 0) {
                return kind == 1 || kind == 7;
            }
        }
        return false;
    case SHAPE_PTAG: {
        char pat[72];
        snprintf(pat, sizeof(pat), "[\"p\",\"%s\"", r->authors[c->authors[0]]);
        return memmem(ev, len, pat, 70) != NULL;
    }
    default:
        return kind == 1;
    }
}

static bool query_done(void *arg)
{
    const struct run *r = arg;
    return r->n_eose + r->n_closed == r->o->reqs;
}

/* The public keys of the generator's keys: sign one empty note with each
 * and read its pubkey back (evgen does not export its keys). */
static int query_prepare(struct run *r)
{
    struct evgen *g = NULL;
    struct buf b;
    buf_init(&b);
    r->rng = r->o->seed;
    r->authors = calloc(r->o->keys, sizeof(*r->authors));
    int rc = r->authors == NULL ? OST_ENOMEM : evgen_new(r->o->seed, r->o->keys, 0, &g);
    for (uint32_t k = 0; rc == 0 && k < r->o->keys; k++) {
        struct evgen_draft d = { .key = k, .created_at = 1, .kind = 1, .content = "" };
        rc = evgen_sign(g, &d, &b);
        const char *pk = rc == 0 ? field(b.data, b.len, "\"pubkey\":") : NULL;
        if (rc == 0 && (pk == NULL || b.data + b.len - pk < 66)) {
            rc = OST_EINVAL;
        }
        if (rc == 0) {
            memcpy(r->authors[k], pk + 1, 64);
            r->authors[k][64] = '\0';
        }
    }
    evgen_free(g);
    buf_fini(&b);
    return rc;
}

/* ---- Message dispatch ---- */

static int on_message(void *arg, uint32_t conn, const char *data, size_t len)
{
    struct run *r = arg;
    struct client *c = &r->clients[conn];
    struct msg m;
    struct json_str label, sub, text;
    if (msg_split(data, len, &m) < 0 || !msg_str(&m, 0, &label)) {
        r->n_bad_msg++;
        return 0;
    }
    bool is_mine = msg_str(&m, 1, &sub) && c->is_busy && str_is(&sub, c->sub, c->sub_len);
    if (str_is(&label, "OK", 2) && !r->o->is_query) {
        return on_ok(r, c, &m);
    } else if (str_is(&label, "NOTICE", 6) && msg_str(&m, 1, &text)) {
        keep(&r->notices, text.p, text.len);
    } else if (str_is(&label, "EVENT", 5) && m.n == 3 && *m.at[2] == '{') {
        if (!is_mine) {
            r->n_stray++;
            return 0;
        }
        r->n_ev++;
        if (++c->n_events > r->o->limit) {
            r->n_over++;
        }
        if (!event_fits(c, m.at[2], (size_t)(m.end[2] - m.at[2]))) {
            r->n_wrong++;
        }
    } else if ((str_is(&label, "EOSE", 4) || str_is(&label, "CLOSED", 6)) && is_mine) {
        uint64_t t = load_ws_now_ns();
        r->lat[r->n_lat++] = t - c->sent_ns;
        r->t_last = t;
        if (m.n == 2) {
            r->n_eose++;
            r->n_empty += c->n_events == 0;
            const char *parts[3] = { "[\"CLOSE\",\"", c->sub, "\"]" };
            size_t lens[3] = { 10, c->sub_len, 2 };
            int rc = load_ws_send_text(&r->pool, c->idx, parts, lens, 3);
            if (rc < 0) {
                return rc;
            }
        } else {
            r->n_closed++;
            if (msg_str(&m, 2, &text)) {
                keep(&r->refusals, text.p, text.len);
            }
        }
        return send_req(r, c);
    } else if (str_is(&label, "EOSE", 4) || str_is(&label, "CLOSED", 6)) {
        r->n_stray++;
    } else if (str_is(&label, "AUTH", 4)) {
        /* NIP-42: the relay's challenge on connect; the load never answers. */
    } else {
        r->n_bad_msg++;
    }
    return 0;
}

static void print_kept(const char *what, const struct kept *k)
{
    for (uint64_t i = 0; i < k->n && i < N_KEPT; i++) {
        fprintf(stderr, "  %s: %s\n", what, k->text[i]);
    }
    if (k->n > N_KEPT) {
        fprintf(stderr, "  ... %" PRIu64 " %s in all\n", k->n, what);
    }
}

/* Prints ,"key":value for each space-separated key, taking one double per
 * key: times (keys ending in _s or _ms, but not rates in _per_s) with 3
 * decimals, counts and rates with none, a negative value (unknown) as null. */
static void put_members(const char *keys, ...)
{
    va_list ap;
    va_start(ap, keys);
    for (const char *k = keys; *k != '\0';) {
        size_t len = strcspn(k, " ");
        double v = va_arg(ap, double);
        bool is_time = (len > 2 && memcmp(k + len - 2, "_s", 2) == 0 &&
                        (len < 6 || memcmp(k + len - 6, "_per_s", 6) != 0)) ||
                       (len > 3 && memcmp(k + len - 3, "_ms", 3) == 0);
        if (v < 0) {
            printf(",\"%.*s\":null", (int)len, k);
        } else {
            printf(",\"%.*s\":%.*f", (int)len, k, is_time ? 3 : 0, v);
        }
        k += len + (k[len] == ' ');
    }
    va_end(ap);
}

static void report(struct run *r, int rc, double elapsed, double load_cpu, double relay_cpu)
{
    const struct opts *o = r->o;
    qsort(r->lat, r->n_lat, sizeof(*r->lat), cmp_u64);
    double p50 = pct_ms(r->lat, r->n_lat, 0.50), p99 = pct_ms(r->lat, r->n_lat, 0.99);
    double max = pct_ms(r->lat, r->n_lat, 1.0), per_s = elapsed > 0 ? 1 / elapsed : 0;
    double rate = (double)(o->is_query ? r->n_lat : r->n_true) * per_s;
    printf("{\"scenario\":\"%s\"", o->is_query ? "query" : "ingest");
    if (o->is_query) {
        printf(",\"shape\":\"%s\"", shape_names[o->shape]);
        put_members("conns reqs limit reqs_per_s eose closed events empty wrong over_limit "
                    "unordered",
                    (double)o->conns, (double)o->reqs, (double)o->limit, rate, (double)r->n_eose,
                    (double)r->n_closed, (double)r->n_ev, (double)r->n_empty, (double)r->n_wrong,
                    (double)r->n_over, (double)r->n_unordered);
    } else {
        put_members("conns window events events_per_s ok_true duplicate ok_false unanswered "
                    "unknown_ok repeated_ok misrouted_ok",
                    (double)o->conns, (double)o->window, (double)o->events, rate, (double)r->n_true,
                    (double)r->n_dup, (double)r->n_false, (double)(o->events - r->n_answered),
                    (double)r->n_unknown, (double)r->n_repeat, (double)r->n_misrouted);
    }
    put_members("seed keys elapsed_s lat_p50_ms lat_p99_ms lat_max_ms load_cpu_s relay_cpu_s "
                "notices stray bad_messages",
                (double)o->seed, (double)o->keys, elapsed, p50, p99, max, load_cpu, relay_cpu,
                (double)r->notices.n, (double)r->n_stray, (double)r->n_bad_msg);
    printf(",\"complete\":%s}\n", rc == 0 ? "true" : "false");
    fflush(stdout);

    if (o->is_query) {
        fprintf(stderr,
                "query %s: %" PRIu64 " REQs, %" PRIu64 " connections: %.0f REQ/s, REQ->EOSE "
                "p50 %.2f ms, p99 %.2f ms, max %.2f ms\n  %.1f events/REQ, %" PRIu64
                " empty, %" PRIu64 " CLOSED, %" PRIu64 " wrong events\n",
                shape_names[o->shape], r->n_lat, o->conns, rate, p50, p99, max,
                r->n_lat ? (double)r->n_ev / (double)r->n_lat : 0.0, r->n_empty, r->n_closed,
                r->n_wrong);
    } else {
        fprintf(stderr,
                "ingest: %" PRIu64 " events, %" PRIu64 " connections, window %" PRIu64
                ": %.0f OK true/s, send->OK p50 %.2f ms, p99 %.2f ms, max %.2f ms\n  OK true "
                "%" PRIu64 " (duplicate %" PRIu64 "), OK false %" PRIu64 ", unanswered %" PRIu64
                "\n",
                o->events, o->conns, o->window, rate, p50, p99, max, r->n_true, r->n_dup,
                r->n_false, o->events - r->n_answered);
    }
    fprintf(stderr, "  CPU: load generator %.2f s (%.0f%% of a core)", load_cpu,
            100 * load_cpu * per_s);
    if (relay_cpu >= 0) {
        fprintf(stderr, ", relay %.2f s (%.0f%% of a core)", relay_cpu, 100 * relay_cpu * per_s);
    }
    fprintf(stderr, "\n");
    print_kept("refused", &r->refusals);
    print_kept("NOTICE", &r->notices);
    if (rc < 0) {
        fprintf(stderr, "  incomplete: %s\n", r->pool.failure ? r->pool.failure : ost_strerror(rc));
    }
}

static int run(const struct opts *o)
{
    struct run r = { .o = o };
    buf_init(&r.req);
    r.clients = calloc(o->conns, sizeof(*r.clients));
    for (uint32_t i = 0; r.clients != NULL && i < o->conns; i++) {
        r.clients[i] = (struct client){ .run = &r, .idx = i, .next = i };
    }
    r.lat = calloc(o->is_query ? o->reqs : o->events, sizeof(*r.lat));
    int rc = r.clients == NULL || r.lat == NULL ? OST_ENOMEM
             : o->is_query                      ? query_prepare(&r)
                                                : ingest_prepare(&r);
    if (rc < 0) {
        fprintf(stderr, "load: preparing the %s: %s\n", o->is_query ? "authors" : "events",
                ost_strerror(rc));
        goto out;
    }
    rc = load_ws_pool_open(&r.pool, (uint32_t)o->conns, o->host, (uint16_t)o->port, on_message, &r,
                           load_ws_now_ns() + OPEN_WAIT_S * 1000000000ull);
    if (rc < 0) {
        fprintf(stderr, "load: %s:%" PRIu64 ": %s\n", o->host, o->port, r.pool.failure);
        goto out;
    }
    double cpu0 = thread_cpu_s(), relay0 = proc_cpu_s(o->relay_pid);
    r.t_start = load_ws_now_ns();
    r.t_last = r.t_start;
    for (uint32_t i = 0; rc == 0 && i < o->conns; i++) {
        rc = o->is_query ? send_req(&r, &r.clients[i]) : refill(&r, &r.clients[i]);
    }
    if (rc == 0) {
        rc = load_ws_pool_run(&r.pool, o->is_query ? query_done : ingest_done,
                              r.t_start + o->timeout_s * 1000000000ull);
    }
    double load_cpu = thread_cpu_s() - cpu0, relay1 = proc_cpu_s(o->relay_pid);
    double relay_cpu = relay0 >= 0 && relay1 >= 0 ? relay1 - relay0 : -1;
    report(&r, rc, (double)(r.t_last - r.t_start) / 1e9, load_cpu, relay_cpu);
    if (rc == 0 && (r.n_unknown || r.n_repeat || r.n_misrouted || r.n_wrong || r.n_over ||
                    r.n_bad_msg || r.n_stray)) {
        fprintf(stderr, "  the relay sent unexpected answers (see the JSON line)\n");
        rc = OST_EIO;
    }
out:
    load_ws_pool_fini(&r.pool, CLOSE_WAIT_S * 1000000000ull);
    for (uint64_t i = 0; r.events != NULL && i < o->events; i++) {
        buf_fini(&r.events[i]);
    }
    free(r.events);
    free(r.sent_ns);
    free(r.is_answered);
    free(r.slots);
    free(r.authors);
    free(r.lat);
    free(r.clients);
    buf_fini(&r.req);
    return rc;
}

/* ---- Command line ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: load ingest --port P [--conns 1] [--window 64] [--events 20000] [--seed 1]\n"
            "       load query --port P [--conns 1] [--reqs 2000] [--authors-from-seed 1]\n"
            "                  [--shape author|authors10|ptag|recent] [--limit 50]\n"
            "  both: [--keys 1000] [--timeout 300] [--relay-pid PID] [--host 127.0.0.1]\n"
            "A query run must use the --keys and seed of the ingest that loaded the store.\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    struct {
        const char *name;
        uint64_t def, lo, hi, *v;
    } num[] = {
        { "--port", 0, 1, 65535, &o->port },
        { "--conns", 1, 1, 10000, &o->conns },
        { "--window", 64, 1, UINT32_MAX, &o->window },
        { "--events", 20000, 1, UINT32_MAX - 1, &o->events },
        { "--seed", 1, 0, UINT64_MAX, &o->seed },
        { "--authors-from-seed", 1, 0, UINT64_MAX, &o->seed },
        { "--keys", 1000, MAX_AUTHORS, UINT32_MAX, &o->keys },
        { "--reqs", 2000, 1, UINT32_MAX, &o->reqs },
        { "--limit", 50, 1, UINT32_MAX, &o->limit },
        { "--timeout", 300, 1, 86400, &o->timeout_s },
        { "--relay-pid", 0, 1, INT32_MAX, &o->relay_pid },
    };
    size_t n_num = sizeof(num) / sizeof(num[0]);
    *o = (struct opts){ .host = "127.0.0.1" };
    for (size_t j = 0; j < n_num; j++) {
        *num[j].v = num[j].def;
    }
    if (argc < 2 || (strcmp(argv[1], "ingest") != 0 && strcmp(argv[1], "query") != 0)) {
        return -1;
    }
    o->is_query = strcmp(argv[1], "query") == 0;
    for (int i = 2; i < argc; i += 2) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        bool is_ok = false;
        if (strcmp(k, "--host") == 0) {
            o->host = v;
            is_ok = true;
        }
        for (int s = 0; strcmp(k, "--shape") == 0 && shape_names[s] != NULL; s++) {
            if (strcmp(v, shape_names[s]) == 0) {
                o->shape = (enum shape)s;
                is_ok = true;
            }
        }
        for (size_t j = 0; j < n_num; j++) {
            char *end;
            errno = 0;
            unsigned long long x = strtoull(v, &end, 0);
            if (strcmp(k, num[j].name) == 0 && *v != '-' && errno == 0 && end != v &&
                *end == '\0' && x >= num[j].lo && x <= num[j].hi) {
                *num[j].v = x;
                is_ok = true;
            }
        }
        if (!is_ok) {
            fprintf(stderr, "load: bad option or value: %s %s\n", k, v);
            return -1;
        }
    }
    if (o->port == 0) {
        fprintf(stderr, "load: --port is required\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_args(argc, argv, &o) < 0) {
        usage();
        return 2;
    }
    return run(&o) < 0 ? 1 : 0;
}
