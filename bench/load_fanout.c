/*
 * Scenario fanout of bench/load: S subscriber connections, each with one
 * live REQ (limit 0, so no stored events), and P publisher connections
 * that publish N = R x T events at R events/s on a fixed schedule (event i
 * at t0 + i / R on publisher i % P) once every subscriber has its EOSE.
 *
 * The events are evgen's mix signed again with created_at = now + i / R,
 * so that they are live. Filters (--filter):
 *   all      {"limit":0}
 *   kind     {"kinds":[K],"limit":0}, K = 1, 7, 0, 3, 30023 for s % 5
 *   authors  {"authors":[the A keys from s*A on],"limit":0} (A = --sub-keys)
 *   ptag     {"#p":[the same keys],"limit":0}
 * Expected deliveries are exact: event i must reach subscriber s when the
 * relay answered it OK true (stored, not a duplicate) and s's filter
 * matches it. Every delivery sets a bit (subscriber, event); a bit already
 * set is a duplicate, a delivery the filter does not match is wrong, one
 * of an event answered OK false is unexpected, and an expected bit not set
 * once the run has drained is missing. Latency runs from the publisher's
 * send to the subscriber's read (both in this one thread, on one clock);
 * the publishers' OK latency is reported too.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/load_int.h"
#include "bench/load_ws.h"
#include "common/err.h"

/* After the last OK, deliveries still missing are waited for this long
 * past the last delivery. */
#define DRAIN_NS 3000000000ull

static const uint32_t fanout_kinds[] = { 1, 7, 0, 3, 30023 };
#define N_FANOUT_KINDS (sizeof(fanout_kinds) / sizeof(fanout_kinds[0]))

struct run {
    const struct load_opts *o;
    struct load_ws_pool pool;
    struct load_corpus c;
    struct load_keys keys;
    uint32_t n_subs, n_pubs;
    char (*sub)[16]; /* subscriber s's sub id, "f<s>" */
    uint8_t *sub_len;
    /* Per event: kind, author key, the keys of its p tags
     * (ptag_keys[ptag_off[i] .. ptag_off[i + 1])), send time, answer. */
    uint32_t *kind;
    int64_t *author;
    uint32_t *ptag_off, *ptag_keys;
    uint64_t *sent_ns;
    uint8_t *answer;    /* 0 none, 1 stored, 2 duplicate, 3 OK false */
    uint64_t *received; /* bit s * n + i: subscriber s got event i */
    uint64_t n_eose, n_sent, n_answered, n_stored, n_dup_ok, n_false, n_expected;
    uint64_t n_deliveries, n_good, n_dups, n_wrong, n_unknown, n_before_eose;
    uint64_t n_closed, n_bad_msg, n_stray, n_bad_ok;
    uint64_t t_start, t_last_ok, t_last_delivery, max_lag_ns;
    bool is_publishing;
    struct load_lat lat, ok_lat;
    struct load_kept notices, refusals, closed;
    struct buf req;
};

static bool in_set(const struct run *r, uint32_t s, int64_t key)
{
    uint64_t a = r->o->sub_keys, n = r->keys.n;
    if (key < 0) {
        return false;
    }
    if (a >= n) {
        return true;
    }
    uint64_t start = (uint64_t)s * a % n;
    return ((uint64_t)key + n - start) % n < a;
}

/* Whether subscriber s's filter matches event i (limit 0 aside). */
static bool sub_matches(const struct run *r, uint32_t s, uint64_t i)
{
    switch (r->o->filter) {
    case LOAD_FILTER_ALL:
        return true;
    case LOAD_FILTER_KIND:
        return r->kind[i] == fanout_kinds[s % N_FANOUT_KINDS];
    case LOAD_FILTER_AUTHORS:
        return in_set(r, s, r->author[i]);
    default:
        for (uint32_t k = r->ptag_off[i]; k < r->ptag_off[i + 1]; k++) {
            if (in_set(r, s, r->ptag_keys[k])) {
                return true;
            }
        }
        return false;
    }
}

static int send_req(struct run *r, uint32_t s)
{
    struct buf *b = &r->req;
    buf_reset(b);
    int rc = buf_printf(b, "[\"REQ\",\"%s\",{", r->sub[s]);
    if (r->o->filter == LOAD_FILTER_KIND) {
        rc = rc ? rc : buf_printf(b, "\"kinds\":[%" PRIu32 "],", fanout_kinds[s % N_FANOUT_KINDS]);
    } else if (r->o->filter != LOAD_FILTER_ALL) {
        rc = rc ? rc
                : buf_append_str(b, r->o->filter == LOAD_FILTER_AUTHORS ? "\"authors\":["
                                                                        : "\"#p\":[");
        uint64_t a = r->o->sub_keys < r->keys.n ? r->o->sub_keys : r->keys.n;
        for (uint64_t j = 0; j < a; j++) {
            uint64_t k = ((uint64_t)s * r->o->sub_keys + j) % r->keys.n;
            rc = rc ? rc : buf_printf(b, "%s\"%s\"", j ? "," : "", r->keys.hex[k]);
        }
        rc = rc ? rc : buf_append_str(b, "],");
    }
    rc = rc ? rc : buf_append_str(b, "\"limit\":0}]");
    const char *parts[1] = { b->data };
    size_t lens[1] = { b->len };
    return rc ? rc : load_ws_send_text(&r->pool, s, parts, lens, 1);
}

/* Sends every event whose time has come; a late send is sent at once and
 * stamped with its real time (the latency is the relay's), and the
 * lateness is reported. */
static int tick(void *arg, uint64_t now, uint64_t *next_ns)
{
    struct run *r = arg;
    while (r->is_publishing && r->n_sent < r->c.n) {
        uint64_t due = r->t_start + r->n_sent * 1000000000u / r->o->rate;
        if (due > now) {
            *next_ns = due;
            return 0;
        }
        r->max_lag_ns = now - due > r->max_lag_ns ? now - due : r->max_lag_ns;
        const struct buf *e = &r->c.ev[r->n_sent];
        const char *parts[3] = { "[\"EVENT\",", e->data, "]" };
        size_t lens[3] = { 9, e->len, 1 };
        r->sent_ns[r->n_sent] = now;
        uint32_t conn = r->n_subs + (uint32_t)(r->n_sent % r->n_pubs);
        int rc = load_ws_send_text(&r->pool, conn, parts, lens, 3);
        if (rc < 0) {
            return rc;
        }
        r->n_sent++;
    }
    return 0;
}

static int on_ok(struct run *r, const struct load_msg *m)
{
    struct json_str id, reason;
    bool is_true = m->n == 4 && load__msg_lit(m, 2, "true");
    int64_t i = -1;
    if (m->n != 4 || !load__msg_str(m, 1, &id) || id.len != 64 || !load__msg_str(m, 3, &reason) ||
        (i = load__corpus_find(&r->c, id.p)) < 0 || r->answer[i] != 0 || r->sent_ns[i] == 0) {
        r->n_bad_ok++;
        return 0;
    }
    uint64_t t = load_ws_now_ns();
    bool is_dup = reason.len >= 10 && memcmp(reason.p, "duplicate:", 10) == 0;
    r->answer[i] = is_true && !is_dup ? 1 : is_true ? 2 : 3;
    r->n_answered++;
    r->t_last_ok = t;
    r->n_stored += r->answer[i] == 1;
    r->n_dup_ok += r->answer[i] == 2;
    r->n_false += r->answer[i] == 3;
    if (!is_true && !is_dup) {
        load__keep(&r->refusals, reason.p, reason.len);
    }
    for (uint32_t s = 0; r->answer[i] == 1 && s < r->n_subs; s++) {
        r->n_expected += sub_matches(r, s, (uint64_t)i);
    }
    return load__lat_add(&r->ok_lat, t - r->sent_ns[i]);
}

static int on_event(struct run *r, uint32_t s, const char *ev, size_t len)
{
    const char *id =
        len > 7 && memcmp(ev, "{\"id\":\"", 7) == 0 ? ev + 7 : load__field(ev, len, "\"id\":\"");
    int64_t i = id != NULL && ev + len - id >= 64 ? load__corpus_find(&r->c, id) : -1;
    if (!r->is_publishing) {
        r->n_before_eose++;
        return 0;
    }
    if (i < 0 || r->sent_ns[i] == 0) {
        r->n_unknown++;
        return 0;
    }
    uint64_t t = load_ws_now_ns(), bit = (uint64_t)s * r->c.n + (uint64_t)i;
    r->n_deliveries++;
    r->t_last_delivery = t;
    if (r->received[bit / 64] & (1ull << (bit % 64))) {
        r->n_dups++;
        return 0;
    }
    r->received[bit / 64] |= 1ull << (bit % 64);
    if (!sub_matches(r, s, (uint64_t)i)) {
        r->n_wrong++;
        return 0;
    }
    r->n_good++;
    return load__lat_add(&r->lat, t - r->sent_ns[i]);
}

/* The common message, ["EVENT","f<s>",{...}] written compactly, is read
 * without scanning its strings (half the generator's time at 500,000
 * deliveries/s); anything else takes the general path. Returns the event
 * and sets *ev_len, or NULL. */
static const char *fast_event(const struct run *r, uint32_t conn, const char *data, size_t len,
                              size_t *ev_len)
{
    static const char head[] = "[\"EVENT\",\"";
    size_t hl = sizeof(head) - 1, n = conn < r->n_subs ? r->sub_len[conn] : 0;
    if (n == 0 || len < hl + n + 5 || memcmp(data, head, hl) != 0 ||
        memcmp(data + hl, r->sub[conn], n) != 0 || memcmp(data + hl + n, "\",{", 3) != 0 ||
        data[len - 1] != ']' || data[len - 2] != '}') {
        return NULL;
    }
    *ev_len = len - (hl + n + 2) - 1;
    return data + hl + n + 2;
}

static int on_message(void *arg, uint32_t conn, const char *data, size_t len)
{
    struct run *r = arg;
    struct load_msg m;
    struct json_str label, sub, text;
    size_t ev_len;
    const char *ev = fast_event(r, conn, data, len, &ev_len);
    if (ev != NULL) {
        return on_event(r, conn, ev, ev_len);
    }
    if (load__msg_split(data, len, &m) < 0 || !load__msg_str(&m, 0, &label)) {
        r->n_bad_msg++;
        return 0;
    }
    bool is_mine = conn < r->n_subs && load__msg_str(&m, 1, &sub) && sub.len == r->sub_len[conn] &&
                   memcmp(sub.p, r->sub[conn], sub.len) == 0;
    if (load__str_is(&label, "EVENT") && m.n == 3 && *m.at[2] == '{' && is_mine) {
        return on_event(r, conn, m.at[2], (size_t)(m.end[2] - m.at[2]));
    } else if (load__str_is(&label, "OK") && conn >= r->n_subs) {
        return on_ok(r, &m);
    } else if (load__str_is(&label, "EOSE") && is_mine) {
        r->n_eose++;
    } else if (load__str_is(&label, "CLOSED") && is_mine) {
        r->n_closed++;
        if (load__msg_str(&m, 2, &text)) {
            load__keep(&r->closed, text.p, text.len);
        }
    } else if (load__str_is(&label, "EVENT") || load__str_is(&label, "EOSE")) {
        r->n_stray++;
    } else {
        load__other_msg(&label, &m, &r->notices, &r->n_bad_msg);
    }
    return 0;
}

static bool all_eose(void *arg)
{
    const struct run *r = arg;
    return r->n_eose + r->n_closed == r->n_subs;
}

/* Every event answered, then every expected delivery in, or no delivery
 * for DRAIN_NS (the missing ones are not coming). */
static bool is_done(void *arg)
{
    const struct run *r = arg;
    if (r->n_answered < r->c.n || r->n_closed > 0) {
        return r->n_closed > 0;
    }
    uint64_t last = r->t_last_delivery > r->t_last_ok ? r->t_last_delivery : r->t_last_ok;
    return r->n_good >= r->n_expected || load_ws_now_ns() - last > DRAIN_NS;
}

/* Kind, author and p-tag keys of every event. A quote inside a JSON string
 * is escaped, so ["p"," can only be the start of a p tag. */
static int describe_events(struct run *r)
{
    uint64_t n = r->c.n, n_p = 0, cap = 1024;
    r->kind = calloc(n, sizeof(*r->kind));
    r->author = calloc(n, sizeof(*r->author));
    r->ptag_off = calloc(n + 1, sizeof(*r->ptag_off));
    r->ptag_keys = malloc(cap * sizeof(*r->ptag_keys));
    if (r->kind == NULL || r->author == NULL || r->ptag_off == NULL || r->ptag_keys == NULL) {
        return OST_ENOMEM;
    }
    for (uint64_t i = 0; i < n; i++) {
        const char *ev = r->c.ev[i].data, *end = ev + r->c.ev[i].len;
        const char *kp = load__field(ev, r->c.ev[i].len, "\"kind\":");
        const char *pk = load__field(ev, r->c.ev[i].len, "\"pubkey\":\"");
        r->kind[i] = kp != NULL ? (uint32_t)strtoul(kp, NULL, 10) : UINT32_MAX;
        r->author[i] = pk != NULL && end - pk >= 64 ? load__keys_find(&r->keys, pk) : -1;
        r->ptag_off[i] = (uint32_t)n_p;
        for (const char *p = ev; (p = memmem(p, (size_t)(end - p), "[\"p\",\"", 6)) != NULL;) {
            p += 6;
            int64_t k = end - p >= 64 ? load__keys_find(&r->keys, p) : -1;
            if (k < 0) {
                continue;
            }
            if (n_p == cap) {
                cap *= 2;
                uint32_t *v = realloc(r->ptag_keys, cap * sizeof(*v));
                if (v == NULL) {
                    return OST_ENOMEM;
                }
                r->ptag_keys = v;
            }
            r->ptag_keys[n_p++] = (uint32_t)k;
        }
    }
    r->ptag_off[n] = (uint32_t)n_p;
    return 0;
}

static int prepare(struct run *r)
{
    const struct load_opts *o = r->o;
    uint64_t n = o->has_events ? o->events : o->rate * o->seconds;
    int rc = load__keys_init(&r->keys, o->seed, (uint32_t)o->keys);
    rc = rc ? rc : load__corpus_load(&r->c, o, n);
    rc = rc ? rc : load__corpus_resign(&r->c, o->seed, &r->keys, (int64_t)time(NULL), o->rate);
    if (rc == OST_EINVAL && o->corpus != NULL) {
        fprintf(stderr, "load: %s: events not made with --seed %" PRIu64 " --keys %" PRIu64 "\n",
                o->corpus, o->seed, o->keys);
    }
    rc = rc ? rc : describe_events(r);
    if (rc < 0) {
        return rc;
    }
    n = r->c.n;
    r->sub = calloc(r->n_subs, sizeof(*r->sub));
    r->sub_len = calloc(r->n_subs, 1);
    for (uint32_t s = 0; r->sub != NULL && r->sub_len != NULL && s < r->n_subs; s++) {
        r->sub_len[s] = (uint8_t)snprintf(r->sub[s], sizeof(r->sub[s]), "f%" PRIu32, s);
    }
    r->sent_ns = calloc(n, sizeof(*r->sent_ns));
    r->answer = calloc(n, 1);
    r->received = calloc((r->n_subs * n + 63) / 64, sizeof(*r->received));
    return r->sent_ns == NULL || r->answer == NULL || r->received == NULL || r->sub == NULL ||
                   r->sub_len == NULL
               ? OST_ENOMEM
               : 0;
}

/* Missing: expected (stored and matched) but not received; unexpected:
 * received although the relay did not store the event. */
static void tally(const struct run *r, uint64_t *missing, uint64_t *unexpected)
{
    *missing = 0;
    *unexpected = 0;
    for (uint64_t i = 0; i < r->c.n; i++) {
        for (uint32_t s = 0; r->answer[i] != 0 && s < r->n_subs; s++) {
            uint64_t bit = (uint64_t)s * r->c.n + i;
            bool is_received = (r->received[bit / 64] >> (bit % 64)) & 1;
            *missing += r->answer[i] == 1 && !is_received && sub_matches(r, s, i);
            *unexpected += r->answer[i] != 1 && is_received;
        }
    }
}

static void report(struct run *r, int rc, uint64_t missing, uint64_t unexpected, double load_cpu,
                   double relay_cpu)
{
    const struct load_opts *o = r->o;
    struct load_pct l = load__lat_pct(&r->lat), ok = load__lat_pct(&r->ok_lat);
    uint64_t t_end = r->t_last_delivery > r->t_last_ok ? r->t_last_delivery : r->t_last_ok;
    double elapsed = t_end > r->t_start ? (double)(t_end - r->t_start) / 1e9 : 0;
    double per_s = elapsed > 0 ? 1 / elapsed : 0;
    load__json_begin(o);
    printf(",\"filter\":\"%s\"", load__filter_names[o->filter]);
    load__put_members("subs publishers rate events sent ok_true duplicate ok_false unanswered "
                      "expected deliveries deliveries_per_s missing duplicated wrong unexpected "
                      "unknown before_eose closed",
                      (double)r->n_subs, (double)r->n_pubs, (double)o->rate, (double)r->c.n,
                      (double)r->n_sent, (double)r->n_stored, (double)r->n_dup_ok,
                      (double)r->n_false, (double)(r->c.n - r->n_answered), (double)r->n_expected,
                      (double)r->n_deliveries, (double)r->n_deliveries * per_s, (double)missing,
                      (double)r->n_dups, (double)r->n_wrong, (double)unexpected,
                      (double)r->n_unknown, (double)r->n_before_eose, (double)r->n_closed);
    load__put_members("seed keys sub_keys elapsed_s lat_p50_ms lat_p99_ms lat_max_ms ok_p50_ms "
                      "ok_p99_ms ok_max_ms send_lag_max_ms rx_mib_per_s load_cpu_s relay_cpu_s "
                      "notices stray bad_messages",
                      (double)o->seed, (double)o->keys, (double)o->sub_keys, elapsed, l.p50, l.p99,
                      l.max, ok.p50, ok.p99, ok.max, (double)r->max_lag_ns / 1e6,
                      (double)r->pool.rx_bytes / 1048576.0 * per_s, load_cpu, relay_cpu,
                      (double)r->notices.n, (double)r->n_stray,
                      (double)(r->n_bad_msg + r->n_bad_ok));
    load__json_end(rc);

    fprintf(stderr,
            "fanout %s: %" PRIu32 " subscribers, %" PRIu32 " publishers, %" PRIu64
            " events at %" PRIu64 "/s: %.0f deliveries/s, publish->delivery p50 %.2f ms, "
            "p99 %.2f ms, max %.2f ms\n  publish OK p50 %.2f ms, p99 %.2f ms, max %.2f ms; "
            "%" PRIu64 " stored, %" PRIu64 " OK false\n  %" PRIu64 " deliveries, %" PRIu64
            " expected: %" PRIu64 " missing, %" PRIu64 " duplicated, %" PRIu64 " wrong, %" PRIu64
            " unexpected; most late send %.2f ms\n",
            load__filter_names[o->filter], r->n_subs, r->n_pubs, r->c.n, o->rate,
            (double)r->n_deliveries * per_s, l.p50, l.p99, l.max, ok.p50, ok.p99, ok.max,
            r->n_stored, r->n_false, r->n_deliveries, r->n_expected, missing, r->n_dups, r->n_wrong,
            unexpected, (double)r->max_lag_ns / 1e6);
    load__print_cpu(elapsed, load_cpu, relay_cpu);
    load__print_kept("refused", &r->refusals);
    load__print_kept("CLOSED", &r->closed);
    load__print_kept("NOTICE", &r->notices);
    load__print_incomplete(&r->pool, rc);
    if (rc == 0 && (missing || r->n_dups || r->n_wrong || unexpected || r->n_unknown ||
                    r->n_closed || r->n_bad_msg || r->n_bad_ok || r->n_stray)) {
        fprintf(stderr, "  the relay sent wrong or missed deliveries (see the JSON line)\n");
    }
}

int load__fanout(const struct load_opts *o)
{
    struct run r = { .o = o, .n_subs = (uint32_t)o->subs, .n_pubs = (uint32_t)o->publishers };
    buf_init(&r.req);
    if (o->rate == 0) {
        fprintf(stderr, "load: fanout needs a --rate\n");
        return OST_EINVAL;
    }
    int rc = prepare(&r);
    if (rc < 0) {
        fprintf(stderr, "load: preparing the events: %s\n", ost_strerror(rc));
        goto out;
    }
    rc = load_ws_pool_open(&r.pool, r.n_subs + r.n_pubs, o->host, (uint16_t)o->port, on_message, &r,
                           load_ws_now_ns() + LOAD_OPEN_WAIT_S * 1000000000ull);
    if (rc < 0) {
        fprintf(stderr, "load: %s:%" PRIu64 ": %s\n", o->host, o->port, r.pool.failure);
        goto out;
    }
    for (uint32_t s = 0; rc == 0 && s < r.n_subs; s++) {
        rc = send_req(&r, s);
    }
    uint64_t deadline = load_ws_now_ns() + o->timeout_s * 1000000000ull;
    rc = rc ? rc : load_ws_pool_run(&r.pool, all_eose, deadline);
    double cpu0 = load__thread_cpu_s(), relay0 = load__proc_cpu_s(o->relay_pid);
    r.t_start = load_ws_now_ns();
    r.is_publishing = rc == 0 && r.n_closed == 0;
    load_ws_pool_set_tick(&r.pool, tick);
    rc = rc ? rc : load_ws_pool_run(&r.pool, is_done, deadline);
    double load_cpu = load__thread_cpu_s() - cpu0, relay1 = load__proc_cpu_s(o->relay_pid);
    uint64_t missing, unexpected;
    tally(&r, &missing, &unexpected);
    report(&r, rc, missing, unexpected, load_cpu,
           relay0 >= 0 && relay1 >= 0 ? relay1 - relay0 : -1);
    if (rc == 0 && (missing || unexpected || r.n_dups || r.n_wrong || r.n_unknown || r.n_closed ||
                    r.n_bad_msg || r.n_bad_ok || r.n_stray)) {
        rc = OST_EIO;
    }
out:
    load_ws_pool_fini(&r.pool, LOAD_CLOSE_WAIT_S * 1000000000ull);
    load__keys_fini(&r.keys);
    load__corpus_fini(&r.c);
    load__lat_fini(&r.lat);
    load__lat_fini(&r.ok_lat);
    free(r.kind);
    free(r.author);
    free(r.ptag_off);
    free(r.ptag_keys);
    free(r.sent_ns);
    free(r.answer);
    free(r.received);
    free(r.sub);
    free(r.sub_len);
    buf_fini(&r.req);
    return rc;
}
