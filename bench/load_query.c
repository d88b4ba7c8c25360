/*
 * Scenario query of bench/load: REQ -> EOSE latency and REQs/s on a loaded
 * store. Each connection keeps one REQ outstanding (sub ids q0, q1, ...);
 * each EOSE is followed by a CLOSE and the next REQ.
 *
 * The run ends after --reqs REQs, or with --seconds T once the REQs sent
 * in the first T seconds are answered.
 *
 * Shapes (L = --limit, A = a corpus author drawn with a seeded PRNG):
 *   author     {"authors":[A],"kinds":[1],"limit":L}
 *   authors10  10 authors, "kinds":[1,7]
 *   ptag       {"#p":[A],"limit":L}
 *   recent     {"kinds":[1],"limit":L}
 *   window     {"kinds":[1,7],"since":S,"until":S+3600,"limit":L}, S within
 *              the corpus' created_at range
 *   etag       {"#e":[E],"limit":L}, E an "e" value of a stored note
 *   ids        {"ids":[20 ids of stored notes]}
 *   search     {"search":"W","limit":L}, W a word of evgen's content
 *   mix        one of author 30%, ptag 15%, etag 15%, window 15%, ids 15%,
 *              search 10% per REQ; percentiles are reported per shape too.
 * etag, ids and mix need --corpus: the file that loaded the store, whose
 * first --sample lines give the ids and tags known to be stored (kinds 1
 * and 7 only: older replaceable events may have been replaced).
 *
 * Every event received is checked against its filter (author, kind, tag,
 * time window, id, search word in the content), and so are the limit and
 * the newest-first order (not for search, ordered by relevance, nor ids).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <strings.h>

#include "bench/load_int.h"
#include "bench/load_ws.h"
#include "common/err.h"

#define MAX_AUTHORS 10
#define N_IDS       20
#define WINDOW_S    3600

/* Words of evgen's content that no other word contains. */
static const char *const search_words[] = { "nostr", "bitcoin", "zap", "sats", "moon", "gm" };
#define N_SEARCH_WORDS (sizeof(search_words) / sizeof(search_words[0]))

/* The mix, in percent, over the shapes before LOAD_SHAPE_MIX. */
static const unsigned mix_weights[LOAD_SHAPE_MIX] = {
    [LOAD_SHAPE_AUTHOR] = 30, [LOAD_SHAPE_PTAG] = 15, [LOAD_SHAPE_ETAG] = 15,
    [LOAD_SHAPE_WINDOW] = 15, [LOAD_SHAPE_IDS] = 15,  [LOAD_SHAPE_SEARCH] = 10,
};

/* One connection's REQ. Owned by: the loop thread. */
struct client {
    bool is_busy; /* a REQ is waiting for its EOSE */
    enum load_shape shape;
    uint64_t sent_ns;
    uint32_t n_events;
    int64_t last_created_at;
    uint32_t pick[N_IDS]; /* authors, or sample ids / e values, by shape */
    uint32_t n_pick;
    bool seen[N_IDS]; /* ids: which of the ids came */
    int64_t since;
    const char *word;
    char sub[24];
    size_t sub_len;
};

struct run {
    const struct load_opts *o;
    struct load_ws_pool pool;
    struct client *clients;
    struct load_keys keys;
    char (*ids)[65]; /* ids and "e" values of stored notes, from the sample */
    char (*etags)[65];
    uint32_t n_ids, n_etags;
    int64_t t_min, t_max; /* created_at range of the sample */
    struct buf req;
    uint64_t rng, t_start, t_last;
    uint64_t reqs_sent, n_eose, n_closed, n_ev, n_wrong, n_over, n_unordered, n_empty;
    uint64_t n_ids_missing, n_stray, n_bad_msg;
    bool is_stopped; /* --seconds passed: no more REQs */
    struct load_lat lat, shape_lat[LOAD_SHAPE_MIX];
    struct load_kept notices, refusals;
};

static enum load_shape draw_shape(struct run *r)
{
    if (r->o->shape != LOAD_SHAPE_MIX) {
        return r->o->shape;
    }
    unsigned x = (unsigned)(load__rand(&r->rng) % 100);
    for (int s = 0; s < LOAD_SHAPE_MIX; s++) {
        if (x < mix_weights[s]) {
            return (enum load_shape)s;
        }
        x -= mix_weights[s];
    }
    return LOAD_SHAPE_AUTHOR;
}

/* Draws n distinct values below m into c->pick. */
static void draw_distinct(struct run *r, struct client *c, uint32_t n, uint32_t m)
{
    c->n_pick = 0;
    while (c->n_pick < n && c->n_pick < m) {
        uint32_t v = (uint32_t)(load__rand(&r->rng) % m);
        bool is_new = true;
        for (uint32_t i = 0; i < c->n_pick; i++) {
            is_new = is_new && c->pick[i] != v;
        }
        if (is_new) {
            c->pick[c->n_pick++] = v;
        }
    }
}

/* Writes the filter of c's next REQ into b. */
static int write_filter(struct run *r, struct client *c, struct buf *b)
{
    int rc = 0;
    switch (c->shape) {
    case LOAD_SHAPE_AUTHOR:
    case LOAD_SHAPE_AUTHORS10:
        draw_distinct(r, c, c->shape == LOAD_SHAPE_AUTHOR ? 1 : MAX_AUTHORS, r->keys.n);
        rc = buf_append_str(b, "\"authors\":[");
        for (uint32_t a = 0; a < c->n_pick; a++) {
            rc = rc ? rc : buf_printf(b, "%s\"%s\"", a ? "," : "", r->keys.hex[c->pick[a]]);
        }
        return rc ? rc
                  : buf_append_str(b, c->shape == LOAD_SHAPE_AUTHOR ? "],\"kinds\":[1],"
                                                                    : "],\"kinds\":[1,7],");
    case LOAD_SHAPE_PTAG:
        draw_distinct(r, c, 1, r->keys.n);
        return buf_printf(b, "\"#p\":[\"%s\"],", r->keys.hex[c->pick[0]]);
    case LOAD_SHAPE_RECENT:
        return buf_append_str(b, "\"kinds\":[1],");
    case LOAD_SHAPE_WINDOW: {
        uint64_t span =
            r->t_max - r->t_min > WINDOW_S ? (uint64_t)(r->t_max - r->t_min - WINDOW_S) : 1;
        c->since = r->t_min + (int64_t)(load__rand(&r->rng) % span);
        return buf_printf(b, "\"kinds\":[1,7],\"since\":%lld,\"until\":%lld,", (long long)c->since,
                          (long long)(c->since + WINDOW_S));
    }
    case LOAD_SHAPE_ETAG:
        draw_distinct(r, c, 1, r->n_etags);
        return buf_printf(b, "\"#e\":[\"%s\"],", r->etags[c->pick[0]]);
    case LOAD_SHAPE_IDS:
        draw_distinct(r, c, N_IDS, r->n_ids);
        memset(c->seen, 0, sizeof(c->seen));
        rc = buf_append_str(b, "\"ids\":[");
        for (uint32_t a = 0; a < c->n_pick; a++) {
            rc = rc ? rc : buf_printf(b, "%s\"%s\"", a ? "," : "", r->ids[c->pick[a]]);
        }
        return rc ? rc : buf_append_str(b, "],");
    default:
        c->word = search_words[load__rand(&r->rng) % N_SEARCH_WORDS];
        return buf_printf(b, "\"search\":\"%s\",", c->word);
    }
}

static int send_req(struct run *r, struct client *c, uint32_t conn)
{
    const struct load_opts *o = r->o;
    c->is_busy = false;
    if (r->reqs_sent == o->reqs ||
        (o->has_seconds && load_ws_now_ns() - r->t_start >= o->seconds * 1000000000ull)) {
        r->is_stopped = true;
        return 0;
    }
    c->sub_len = (size_t)snprintf(c->sub, sizeof(c->sub), "q%" PRIu64, r->reqs_sent++);
    c->shape = draw_shape(r);
    struct buf *b = &r->req;
    buf_reset(b);
    int rc = buf_printf(b, "[\"REQ\",\"%s\",{", c->sub);
    rc = rc ? rc : write_filter(r, c, b);
    if (rc == 0 && c->shape == LOAD_SHAPE_IDS) {
        b->len--; /* the ids shape asks for every id: no limit */
        rc = buf_append_str(b, "}]");
    } else {
        rc = rc ? rc : buf_printf(b, "\"limit\":%" PRIu64 "}]", o->limit);
    }
    const char *parts[1] = { b->data };
    size_t lens[1] = { b->len };
    rc = rc ? rc : load_ws_send_text(&r->pool, conn, parts, lens, 1);
    c->sent_ns = load_ws_now_ns();
    c->n_events = 0;
    c->last_created_at = INT64_MAX;
    c->is_busy = rc == 0;
    return rc;
}

static bool has_tag(const char *ev, size_t len, char name, const char *value)
{
    char pat[72];
    snprintf(pat, sizeof(pat), "[\"%c\",\"%.64s\"", name, value);
    return memmem(ev, len, pat, 70) != NULL;
}

/* Whether the content of the event holds word, ignoring ASCII case. */
static bool content_has(const char *ev, size_t len, const char *word)
{
    const char *p = load__field(ev, len, "\"content\":"), *next, *reason;
    struct json_str s;
    if (p == NULL || json_scan_string(p, ev + len, &s, NULL, &next, &reason) < 0) {
        return false;
    }
    size_t n = strlen(word);
    for (size_t i = 0; i + n <= s.len; i++) {
        if (strncasecmp(s.p + i, word, n) == 0) {
            return true;
        }
    }
    return false;
}

/* Whether a stored event sent for c's REQ satisfies its filter. */
static bool event_fits(struct run *r, struct client *c, const char *ev, size_t len)
{
    const char *id = load__field(ev, len, "\"id\":"), *pk = load__field(ev, len, "\"pubkey\":");
    const char *kp = load__field(ev, len, "\"kind\":"), *end = ev + len;
    const char *cp = load__field(ev, len, "\"created_at\":");
    if (id == NULL || pk == NULL || kp == NULL || cp == NULL || end - pk < 66 || end - id < 66) {
        return false;
    }
    long kind = strtol(kp, NULL, 10);
    long long created_at = strtoll(cp, NULL, 10);
    if (c->shape != LOAD_SHAPE_SEARCH && c->shape != LOAD_SHAPE_IDS &&
        created_at > c->last_created_at) {
        r->n_unordered++;
    }
    c->last_created_at = created_at;
    switch (c->shape) {
    case LOAD_SHAPE_AUTHOR:
    case LOAD_SHAPE_AUTHORS10:
        for (uint32_t a = 0; a < c->n_pick; a++) {
            if (memcmp(pk + 1, r->keys.hex[c->pick[a]], 64) == 0) {
                return kind == 1 || (kind == 7 && c->shape == LOAD_SHAPE_AUTHORS10);
            }
        }
        return false;
    case LOAD_SHAPE_PTAG:
        return has_tag(ev, len, 'p', r->keys.hex[c->pick[0]]);
    case LOAD_SHAPE_RECENT:
        return kind == 1;
    case LOAD_SHAPE_WINDOW:
        return (kind == 1 || kind == 7) && created_at >= c->since &&
               created_at <= c->since + WINDOW_S;
    case LOAD_SHAPE_ETAG:
        return has_tag(ev, len, 'e', r->etags[c->pick[0]]);
    case LOAD_SHAPE_IDS:
        for (uint32_t a = 0; a < c->n_pick; a++) {
            if (memcmp(id + 1, r->ids[c->pick[a]], 64) == 0 && !c->seen[a]) {
                c->seen[a] = true;
                return true;
            }
        }
        return false;
    default:
        return content_has(ev, len, c->word);
    }
}

static int on_eose(struct run *r, struct client *c, uint32_t conn, const struct load_msg *m)
{
    uint64_t t = load_ws_now_ns();
    int rc = load__lat_add(&r->lat, t - c->sent_ns);
    rc = rc ? rc : load__lat_add(&r->shape_lat[c->shape], t - c->sent_ns);
    r->t_last = t;
    struct json_str text;
    if (m->n >= 2 && load__msg_str(m, 0, &text) && load__str_is(&text, "EOSE")) {
        r->n_eose++;
        r->n_empty += c->n_events == 0;
        for (uint32_t a = 0; c->shape == LOAD_SHAPE_IDS && a < c->n_pick; a++) {
            r->n_ids_missing += !c->seen[a];
        }
        const char *parts[3] = { "[\"CLOSE\",\"", c->sub, "\"]" };
        size_t lens[3] = { 10, c->sub_len, 2 };
        rc = rc ? rc : load_ws_send_text(&r->pool, conn, parts, lens, 3);
    } else {
        r->n_closed++;
        if (load__msg_str(m, 2, &text)) {
            load__keep(&r->refusals, text.p, text.len);
        }
    }
    return rc ? rc : send_req(r, c, conn);
}

static int on_message(void *arg, uint32_t conn, const char *data, size_t len)
{
    struct run *r = arg;
    struct client *c = &r->clients[conn];
    struct load_msg m;
    struct json_str label, sub;
    if (load__msg_split(data, len, &m) < 0 || !load__msg_str(&m, 0, &label)) {
        r->n_bad_msg++;
        return 0;
    }
    bool is_mine = load__msg_str(&m, 1, &sub) && c->is_busy && sub.len == c->sub_len &&
                   memcmp(sub.p, c->sub, sub.len) == 0;
    bool is_end = load__str_is(&label, "EOSE") || load__str_is(&label, "CLOSED");
    if (load__str_is(&label, "EVENT") && m.n == 3 && *m.at[2] == '{') {
        if (!is_mine) {
            r->n_stray++;
            return 0;
        }
        r->n_ev++;
        uint64_t cap = c->shape == LOAD_SHAPE_IDS ? c->n_pick : r->o->limit;
        r->n_over += ++c->n_events > cap;
        r->n_wrong += !event_fits(r, c, m.at[2], (size_t)(m.end[2] - m.at[2]));
    } else if (is_end && is_mine) {
        return on_eose(r, c, conn, &m);
    } else if (is_end) {
        r->n_stray++;
    } else {
        load__other_msg(&label, &m, &r->notices, &r->n_bad_msg);
    }
    return 0;
}

static bool is_done(void *arg)
{
    const struct run *r = arg;
    return r->n_eose + r->n_closed == r->reqs_sent && (r->is_stopped || r->reqs_sent == r->o->reqs);
}

/* Ids and "e" values of the kind 1 and 7 events among the first --sample
 * lines of the corpus, and its created_at range. */
static int read_sample(struct run *r)
{
    struct load_corpus c;
    r->t_max = (int64_t)time(NULL);
    r->t_min = r->t_max - 86400;
    if (r->o->corpus == NULL) {
        return 0;
    }
    int rc = load__corpus_read(&c, r->o->corpus, r->o->sample);
    if (rc == 0 && c.n == 0) {
        fprintf(stderr, "load: %s: no events\n", r->o->corpus);
        rc = OST_EINVAL;
    }
    if (rc < 0) {
        load__corpus_fini(&c);
        return rc;
    }
    r->ids = calloc(c.n, sizeof(*r->ids));
    r->etags = calloc(c.n, sizeof(*r->etags));
    rc = r->ids == NULL || r->etags == NULL ? OST_ENOMEM : 0;
    r->t_min = INT64_MAX;
    r->t_max = 0;
    for (uint64_t i = 0; rc == 0 && i < c.n; i++) {
        const char *ev = c.ev[i].data, *kp = load__field(ev, c.ev[i].len, "\"kind\":");
        const char *cp = load__field(ev, c.ev[i].len, "\"created_at\":");
        const char *ep = memmem(ev, c.ev[i].len, "[\"e\",\"", 6);
        int64_t t = cp != NULL ? strtoll(cp, NULL, 10) : 0;
        r->t_min = t < r->t_min ? t : r->t_min;
        r->t_max = t > r->t_max ? t : r->t_max;
        long kind = kp != NULL ? strtol(kp, NULL, 10) : -1;
        if (kind != 1 && kind != 7) {
            continue;
        }
        memcpy(r->ids[r->n_ids], ev + 7, 64);
        r->ids[r->n_ids++][64] = '\0';
        if (ep != NULL && ev + c.ev[i].len - ep > 6 + 64) {
            memcpy(r->etags[r->n_etags], ep + 6, 64);
            r->etags[r->n_etags++][64] = '\0';
        }
    }
    load__corpus_fini(&c);
    return rc;
}

static int prepare(struct run *r)
{
    const struct load_opts *o = r->o;
    bool needs_sample =
        o->shape == LOAD_SHAPE_ETAG || o->shape == LOAD_SHAPE_IDS || o->shape == LOAD_SHAPE_MIX;
    if (needs_sample && o->corpus == NULL) {
        fprintf(stderr, "load: query --shape %s needs --corpus (the file that loaded the store)\n",
                load__shape_names[o->shape]);
        return OST_EINVAL;
    }
    int rc = load__keys_init(&r->keys, o->seed, (uint32_t)o->keys);
    rc = rc ? rc : read_sample(r);
    if (rc == 0 && needs_sample && (r->n_ids < N_IDS || r->n_etags == 0)) {
        fprintf(stderr, "load: %s: too few notes with \"e\" tags in the first %" PRIu64 " lines\n",
                o->corpus, o->sample);
        rc = OST_EINVAL;
    }
    return rc;
}

static void report(struct run *r, int rc, double load_cpu, double relay_cpu)
{
    const struct load_opts *o = r->o;
    struct load_pct l = load__lat_pct(&r->lat);
    double elapsed = (double)(r->t_last - r->t_start) / 1e9;
    double rate = elapsed > 0 ? (double)r->lat.n / elapsed : 0;
    load__json_begin(o);
    printf(",\"shape\":\"%s\"", load__shape_names[o->shape]);
    load__put_members("conns reqs limit reqs_per_s eose closed events empty wrong over_limit "
                      "unordered ids_missing stray bad_messages notices",
                      (double)o->conns, (double)r->lat.n, (double)o->limit, rate, (double)r->n_eose,
                      (double)r->n_closed, (double)r->n_ev, (double)r->n_empty, (double)r->n_wrong,
                      (double)r->n_over, (double)r->n_unordered, (double)r->n_ids_missing,
                      (double)r->n_stray, (double)r->n_bad_msg, (double)r->notices.n);
    load__put_members("seed keys elapsed_s lat_p50_ms lat_p99_ms lat_max_ms load_cpu_s relay_cpu_s",
                      (double)o->seed, (double)o->keys, elapsed, l.p50, l.p99, l.max, load_cpu,
                      relay_cpu);
    struct load_pct per[LOAD_SHAPE_MIX];
    for (int s = 0; o->shape == LOAD_SHAPE_MIX && s < LOAD_SHAPE_MIX; s++) {
        per[s] = load__lat_pct(&r->shape_lat[s]);
        if (r->shape_lat[s].n > 0) {
            char keys[160];
            const char *n = load__shape_names[s];
            snprintf(keys, sizeof(keys), "%s_reqs %s_p50_ms %s_p99_ms %s_max_ms", n, n, n, n);
            load__put_members(keys, (double)r->shape_lat[s].n, per[s].p50, per[s].p99, per[s].max);
        }
    }
    load__json_end(rc);

    fprintf(stderr,
            "query %s: %zu REQs, %" PRIu64 " connections: %.0f REQ/s, REQ->EOSE p50 %.2f ms, "
            "p99 %.2f ms, max %.2f ms\n  %.1f events/REQ, %" PRIu64 " empty, %" PRIu64
            " CLOSED, %" PRIu64 " wrong, %" PRIu64 " over the limit, %" PRIu64
            " out of order, %" PRIu64 " ids missing\n",
            load__shape_names[o->shape], r->lat.n, o->conns, rate, l.p50, l.p99, l.max,
            r->lat.n ? (double)r->n_ev / (double)r->lat.n : 0.0, r->n_empty, r->n_closed,
            r->n_wrong, r->n_over, r->n_unordered, r->n_ids_missing);
    for (int s = 0; o->shape == LOAD_SHAPE_MIX && s < LOAD_SHAPE_MIX; s++) {
        if (r->shape_lat[s].n > 0) {
            fprintf(stderr, "  %-9s %6zu REQs: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
                    load__shape_names[s], r->shape_lat[s].n, per[s].p50, per[s].p99, per[s].max);
        }
    }
    load__print_cpu(elapsed, load_cpu, relay_cpu);
    load__print_kept("CLOSED", &r->refusals);
    load__print_kept("NOTICE", &r->notices);
    load__print_incomplete(&r->pool, rc);
}

int load__query(const struct load_opts *o)
{
    struct run r = { .o = o, .rng = o->seed };
    buf_init(&r.req);
    r.clients = calloc(o->conns, sizeof(*r.clients));
    int rc = r.clients == NULL ? OST_ENOMEM : prepare(&r);
    if (rc < 0) {
        fprintf(stderr, "load: preparing the queries: %s\n", ost_strerror(rc));
        goto out;
    }
    rc = load_ws_pool_open(&r.pool, (uint32_t)o->conns, o->host, (uint16_t)o->port, on_message, &r,
                           load_ws_now_ns() + LOAD_OPEN_WAIT_S * 1000000000ull);
    if (rc < 0) {
        fprintf(stderr, "load: %s:%" PRIu64 ": %s\n", o->host, o->port, r.pool.failure);
        goto out;
    }
    double cpu0 = load__thread_cpu_s(), relay0 = load__proc_cpu_s(o->relay_pid);
    r.t_start = load_ws_now_ns();
    r.t_last = r.t_start;
    for (uint32_t i = 0; rc == 0 && i < o->conns; i++) {
        rc = send_req(&r, &r.clients[i], i);
    }
    if (rc == 0) {
        rc = load_ws_pool_run(&r.pool, is_done, r.t_start + o->timeout_s * 1000000000ull);
    }
    double load_cpu = load__thread_cpu_s() - cpu0, relay1 = load__proc_cpu_s(o->relay_pid);
    report(&r, rc, load_cpu, relay0 >= 0 && relay1 >= 0 ? relay1 - relay0 : -1);
    if (rc == 0 &&
        (r.n_wrong || r.n_over || r.n_unordered || r.n_ids_missing || r.n_bad_msg || r.n_stray)) {
        fprintf(stderr, "  the relay sent unexpected answers (see the JSON line)\n");
        rc = OST_EIO;
    }
out:
    load_ws_pool_fini(&r.pool, LOAD_CLOSE_WAIT_S * 1000000000ull);
    load__keys_fini(&r.keys);
    for (int s = 0; s < LOAD_SHAPE_MIX; s++) {
        load__lat_fini(&r.shape_lat[s]);
    }
    load__lat_fini(&r.lat);
    free(r.ids);
    free(r.etags);
    free(r.clients);
    buf_fini(&r.req);
    return rc;
}
