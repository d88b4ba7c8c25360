/* Tests for filters/subidx: adding, replacing and removing subscriptions,
 * one report per subscription, and a differential test against a linear
 * scan of every subscription with filter_set_matches. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/buf.h"
#include "common/hex.h"
#include "filters/filter.h"
#include "filters/subidx.h"
#include "validate/event.h"

static const char *hx(unsigned n)
{
    static char ring[8][65];
    static unsigned next;
    char *b = ring[next++ % 8];
    snprintf(b, 65, "%064x", n);
    return b;
}

struct tev {
    struct buf json;
    struct event ev;
};

static bool tev_make(struct tev *t, unsigned id, unsigned pk, unsigned kind, const char *tags)
{
    const char *reason = NULL;
    buf_init(&t->json);
    buf_printf(&t->json,
               "{\"id\":\"%s\",\"pubkey\":\"%s\",\"created_at\":1000,\"kind\":%u,\"tags\":%s,"
               "\"content\":\"\",\"sig\":\"%0128d\"}",
               hx(id), hx(pk), kind, tags, 0);
    if (event_parse(t->json.data, t->json.len, NULL, &t->ev, &reason) < 0) {
        fprintf(stderr, "  event_parse: %s\n", reason);
        buf_fini(&t->json);
        return false;
    }
    return true;
}

static struct filter_set *set_of(const char *json)
{
    struct filter_set *s;
    const char *reason;
    if (filter_set_parse(json, strlen(json), NULL, 10, &s, &reason) < 0) {
        fprintf(stderr, "  filter_set_parse(%s): %s\n", json, reason);
        return NULL;
    }
    return s;
}

/* Adds (conn_id, sub_id) with the filters in json; the set is freed when
 * the add fails. */
static int add(struct subidx *idx, uint64_t conn_id, const char *sub_id, const char *json)
{
    struct filter_set *s = set_of(json);
    if (s == NULL) {
        return OST_EINVAL;
    }
    int rc = subidx_add_take(idx, conn_id, sub_id, strlen(sub_id), s);
    if (rc < 0) {
        filter_set_free(s);
    }
    return rc;
}

#define MAX_HITS 512

struct hits {
    size_t n;
    struct {
        uint64_t conn_id;
        size_t len;
        char sub_id[SUBIDX_SUB_ID_MAX];
    } h[MAX_HITS];
};

static void collect(void *ud, uint64_t conn_id, const char *sub_id, size_t sub_id_len)
{
    struct hits *hs = ud;
    if (hs->n < MAX_HITS && sub_id_len <= SUBIDX_SUB_ID_MAX) {
        hs->h[hs->n].conn_id = conn_id;
        hs->h[hs->n].len = sub_id_len;
        memcpy(hs->h[hs->n].sub_id, sub_id, sub_id_len);
    }
    hs->n++;
}

/* How many times (conn_id, sub_id) was reported. */
static int times(const struct hits *hs, uint64_t conn_id, const char *sub_id)
{
    int n = 0;
    for (size_t i = 0; i < hs->n && i < MAX_HITS; i++) {
        n += hs->h[i].conn_id == conn_id && hs->h[i].len == strlen(sub_id) &&
             memcmp(hs->h[i].sub_id, sub_id, hs->h[i].len) == 0;
    }
    return n;
}

/* Matches the event described and fills hs; returns subidx_match's count
 * or -1 when the event cannot be built. */
static long match_ev(struct subidx *idx, unsigned id, unsigned pk, unsigned kind, const char *tags,
                     struct hits *hs)
{
    struct tev t;
    hs->n = 0;
    if (!tev_make(&t, id, pk, kind, tags)) {
        return -1;
    }
    size_t n = subidx_match(idx, &t.ev, collect, hs);
    buf_fini(&t.json);
    return (long)n;
}

static void test_each_key_type(void)
{
    struct subidx *idx;
    struct hits hs;
    char f[512];
    CHECK_OK(subidx_new(&idx));
    snprintf(f, sizeof(f), "{\"ids\":[\"%s\",\"%s\"]}", hx(7), hx(8));
    CHECK_OK(add(idx, 1, "ids", f));
    snprintf(f, sizeof(f), "{\"authors\":[\"%s\"],\"kinds\":[1]}", hx(5));
    CHECK_OK(add(idx, 1, "authors", f));
    CHECK_OK(add(idx, 2, "tag", "{\"#t\":[\"x\"],\"#p\":[\"a\",\"b\"]}"));
    CHECK_OK(add(idx, 2, "kinds", "{\"kinds\":[1,2]}"));
    CHECK_OK(add(idx, 3, "all", "{\"since\":5}"));
    CHECK_OK(add(idx, 3, "never", "{\"ids\":[]}"));
    CHECK_INT_EQ(subidx_count(idx), 6);

    long n = match_ev(idx, 8, 5, 1, "[[\"t\",\"x\"],[\"p\",\"b\"]]", &hs);
    bool all = times(&hs, 1, "ids") == 1 && times(&hs, 1, "authors") == 1 &&
               times(&hs, 2, "tag") == 1 && times(&hs, 2, "kinds") == 1 &&
               times(&hs, 3, "all") == 1 && times(&hs, 3, "never") == 0;
    long m = match_ev(idx, 9, 6, 3, "[[\"t\",\"x\"],[\"p\",\"c\"]]", &hs);
    bool only_all = times(&hs, 3, "all") == 1;
    subidx_free(idx);
    CHECK_INT_EQ(n, 5);
    CHECK(all);
    CHECK_INT_EQ(m, 1);
    CHECK(only_all);
}

static void test_one_report_per_subscription(void)
{
    struct subidx *idx;
    struct hits hs;
    char f[1024];
    CHECK_OK(subidx_new(&idx));
    snprintf(f, sizeof(f),
             "{\"ids\":[\"%s\"]},{\"authors\":[\"%s\"]},{\"kinds\":[1]},{},"
             "{\"#t\":[\"x\",\"y\"]}",
             hx(1), hx(2));
    CHECK_OK(add(idx, 1, "s", f));
    long n = match_ev(idx, 1, 2, 1, "[[\"t\",\"x\"],[\"t\",\"y\"],[\"t\",\"x\"]]", &hs);
    int t = times(&hs, 1, "s");
    CHECK_OK(add(idx, 2, "s", "{\"#t\":[\"x\",\"y\"]}"));
    long m = match_ev(idx, 3, 3, 3, "[[\"t\",\"x\"],[\"t\",\"y\"]]", &hs);
    int t1 = times(&hs, 1, "s"), t2 = times(&hs, 2, "s");
    subidx_free(idx);
    CHECK_INT_EQ(n, 1);
    CHECK_INT_EQ(t, 1);
    CHECK_INT_EQ(m, 2);
    CHECK(t1 == 1 && t2 == 1);
}

static void test_replace_same_sub_id(void)
{
    struct subidx *idx;
    struct hits hs;
    CHECK_OK(subidx_new(&idx));
    CHECK_OK(add(idx, 1, "s", "{\"kinds\":[1]}"));
    CHECK_OK(add(idx, 2, "s", "{\"kinds\":[1]}"));
    CHECK_OK(add(idx, 1, "s", "{\"kinds\":[2]}"));
    size_t count = subidx_count(idx);
    long old = match_ev(idx, 1, 1, 1, "[]", &hs);
    int other_conn = times(&hs, 2, "s");
    long new = match_ev(idx, 1, 1, 2, "[]", &hs);
    int replaced = times(&hs, 1, "s");
    /* A failed add leaves the existing subscription and the caller's set. */
    struct filter_set *s = set_of("{\"kinds\":[3]}");
    char long_id[SUBIDX_SUB_ID_MAX + 1];
    memset(long_id, 'x', sizeof(long_id));
    int rc_long = s ? subidx_add_take(idx, 1, long_id, sizeof(long_id), s) : 0;
    int rc_empty = s ? subidx_add_take(idx, 1, "", 0, s) : 0;
    int rc_null = subidx_add_take(idx, 1, "s", 1, NULL);
    long kept = match_ev(idx, 1, 1, 2, "[]", &hs);
    int rc_max = s ? subidx_add_take(idx, 1, long_id, SUBIDX_SUB_ID_MAX, s) : -1;
    if (rc_max < 0) {
        filter_set_free(s);
    }
    long max_hit = match_ev(idx, 1, 1, 3, "[]", &hs);
    bool max_reported = hs.n == 1 && hs.h[0].len == SUBIDX_SUB_ID_MAX;
    size_t count_after = subidx_count(idx);
    subidx_free(idx);
    CHECK_INT_EQ(count, 2);
    CHECK(old == 1 && other_conn == 1);
    CHECK(new == 1 && replaced == 1);
    CHECK(s != NULL);
    CHECK_INT_EQ(rc_long, OST_EINVAL);
    CHECK_INT_EQ(rc_empty, OST_EINVAL);
    CHECK_INT_EQ(rc_null, OST_EINVAL);
    CHECK_INT_EQ(kept, 1);
    CHECK_OK(rc_max);
    CHECK(max_hit == 1 && max_reported);
    CHECK_INT_EQ(count_after, 3);
}

static void test_remove(void)
{
    struct subidx *idx;
    struct hits hs;
    CHECK_OK(subidx_new(&idx));
    CHECK_OK(add(idx, 1, "a", "{\"#e\":[\"x\"]}"));
    CHECK_OK(add(idx, 1, "b", "{\"#e\":[\"x\"]}"));
    bool wrong_conn = subidx_remove(idx, 2, "a", 1);
    bool wrong_id = subidx_remove(idx, 1, "ab", 2);
    bool removed = subidx_remove(idx, 1, "a", 1);
    bool again = subidx_remove(idx, 1, "a", 1);
    long n = match_ev(idx, 1, 1, 1, "[[\"e\",\"x\"]]", &hs);
    int b = times(&hs, 1, "b");
    size_t count = subidx_count(idx);
    bool removed_b = subidx_remove(idx, 1, "b", 1);
    long none = match_ev(idx, 1, 1, 1, "[[\"e\",\"x\"]]", &hs);
    size_t empty = subidx_count(idx);
    subidx_free(idx);
    CHECK(!wrong_conn && !wrong_id && removed && !again && removed_b);
    CHECK(n == 1 && b == 1);
    CHECK_INT_EQ(count, 1);
    CHECK_INT_EQ(none, 0);
    CHECK_INT_EQ(empty, 0);
}

static void test_remove_conn(void)
{
    struct subidx *idx;
    struct hits hs;
    CHECK_OK(subidx_new(&idx));
    CHECK_OK(add(idx, 1, "a", "{\"kinds\":[1]}"));
    CHECK_OK(add(idx, 1, "b", "{}"));
    CHECK_OK(add(idx, 1, "c", "{\"#p\":[\"q\"]}"));
    CHECK_OK(add(idx, 2, "a", "{\"kinds\":[1]}"));
    size_t gone = subidx_remove_conn(idx, 1);
    size_t count = subidx_count(idx);
    long n = match_ev(idx, 1, 1, 1, "[[\"p\",\"q\"]]", &hs);
    int other = times(&hs, 2, "a");
    size_t again = subidx_remove_conn(idx, 1), unknown = subidx_remove_conn(idx, 99);
    /* The connection can subscribe again after it was emptied. */
    int rc = add(idx, 1, "a", "{\"kinds\":[1]}");
    long m = match_ev(idx, 1, 1, 1, "[]", &hs);
    subidx_free(idx);
    CHECK_INT_EQ(gone, 3);
    CHECK_INT_EQ(count, 1);
    CHECK(n == 1 && other == 1);
    CHECK(again == 0 && unknown == 0);
    CHECK_OK(rc);
    CHECK_INT_EQ(m, 2);
}

static void test_escaped_event_tags(void)
{
    struct subidx *idx;
    struct hits hs;
    CHECK_OK(subidx_new(&idx));
    CHECK_OK(add(idx, 1, "s", "{\"#t\":[\"\xc3\xa9t\xc3\xa9\"]}"));
    long a = match_ev(idx, 1, 1, 1, "[[\"t\",\"\\u00e9t\\u00e9\"]]", &hs);
    long b = match_ev(idx, 1, 1, 1, "[[\"\\u0074\",\"\xc3\xa9t\xc3\xa9\"]]", &hs);
    long c = match_ev(idx, 1, 1, 1, "[[\"t\",\"\\u00e9t\\u00e9\\u00e9\"]]", &hs);
    long d = match_ev(idx, 1, 1, 1, "[[\"tt\",\"\xc3\xa9t\xc3\xa9\"],[\"t\"]]", &hs);
    subidx_free(idx);
    CHECK(a == 1 && b == 1 && c == 0 && d == 0);
}

static void test_free_with_live_subscriptions(void)
{
    /* Under ASan this fails on any leak of sets, keys or nodes. */
    struct subidx *idx;
    char f[256];
    CHECK_OK(subidx_new(&idx));
    for (unsigned i = 0; i < 300; i++) {
        char sub_id[16];
        snprintf(sub_id, sizeof(sub_id), "s%u", i % 7);
        snprintf(f, sizeof(f), "{\"ids\":[\"%s\"]},{\"#e\":[\"v%u\"]},{\"kinds\":[%u]},{}", hx(i),
                 i, i % 50);
        CHECK_OK(add(idx, i % 40, sub_id, f));
    }
    CHECK_INT_EQ(subidx_count(idx), 280);
    subidx_free(idx);
    subidx_free(NULL);
}

/* ---- Differential test against a linear scan ---- */

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static unsigned pick(uint64_t *s, unsigned n)
{
    return (unsigned)(rnd(s) % n);
}

#define POOL  10
#define CONNS 24
#define SUBS  6
#define N_OPS 30000
static const char *const names[] = { "e", "p", "t", "\\u0065", "ee" };
static const char *const values[] = { "a", "b", "\\u0061", "c\\\"d", "", "\xc3\xa9" };
static const unsigned kinds[] = { 0, 1, 7, 30023 };

static void put_hex(struct buf *b, const uint8_t pool[POOL][32], unsigned i)
{
    char hex[64];
    hex_encode(pool[i], 32, hex);
    buf_printf(b, "\"%.64s\"", hex);
}

static void gen_filters(uint64_t *r, const uint8_t pool[POOL][32], struct buf *b)
{
    buf_reset(b);
    unsigned n_filters = 1 + pick(r, 3);
    for (unsigned f = 0; f < n_filters; f++) {
        const char *sep = "";
        buf_append_str(b, f ? ",{" : "{");
        static const char *const lists[] = { "ids", "authors", "kinds", "#e", "#t", "#p" };
        for (unsigned l = 0; l < 6; l++) {
            if (pick(r, 4) != 0) {
                continue;
            }
            unsigned n = pick(r, 30) == 0 ? 0 : 1 + pick(r, 3);
            buf_printf(b, "%s\"%s\":[", sep, lists[l]);
            for (unsigned i = 0; i < n; i++) {
                buf_append_str(b, i ? "," : "");
                if (l < 2) {
                    put_hex(b, pool, pick(r, POOL));
                } else if (l == 2) {
                    buf_printf(b, "%u", kinds[pick(r, 4)]);
                } else {
                    buf_printf(b, "\"%s\"", values[pick(r, 6)]);
                }
            }
            buf_append_char(b, ']');
            sep = ",";
        }
        if (pick(r, 5) == 0) {
            buf_printf(b, "%s\"since\":%u", sep, 1000 + pick(r, 20));
        }
        buf_append_char(b, '}');
    }
}

static void gen_event(uint64_t *r, const uint8_t pool[POOL][32], struct buf *b)
{
    buf_reset(b);
    buf_append_str(b, "{\"id\":");
    put_hex(b, pool, pick(r, POOL));
    buf_append_str(b, ",\"pubkey\":");
    put_hex(b, pool, pick(r, POOL));
    buf_printf(b, ",\"created_at\":%u,\"kind\":%u,\"tags\":[", 1000 + pick(r, 20),
               kinds[pick(r, 4)]);
    unsigned n_tags = pick(r, 5);
    for (unsigned t = 0; t < n_tags; t++) {
        buf_printf(b, "%s[\"%s\"", t ? "," : "", names[pick(r, 5)]);
        for (unsigned k = pick(r, 3); k > 0; k--) {
            buf_printf(b, ",\"%s\"", values[pick(r, 6)]);
        }
        buf_append_char(b, ']');
    }
    buf_printf(b, "],\"content\":\"\",\"sig\":\"%0128d\"}", 0);
}

struct model {
    struct filter_set *sets[CONNS][SUBS]; /* NULL: no such subscription */
    size_t live;
};

/* Compares subidx_match with a scan of the model; adds the count to *total. */
static bool check_match(struct subidx *idx, const struct model *m, const struct event *ev,
                        size_t *total)
{
    static struct hits hs;
    hs.n = 0;
    size_t n = subidx_match(idx, ev, collect, &hs), want = 0;
    *total += n;
    if (n != hs.n || n > MAX_HITS) {
        return false;
    }
    for (unsigned c = 0; c < CONNS; c++) {
        for (unsigned s = 0; s < SUBS; s++) {
            char sub_id[8];
            snprintf(sub_id, sizeof(sub_id), "sub%u", s);
            bool expect = m->sets[c][s] != NULL && filter_set_matches(m->sets[c][s], ev);
            want += expect;
            if (times(&hs, c, sub_id) != (int)expect) {
                fprintf(stderr, "  conn %u %s: reported %d times, want %d\n", c, sub_id,
                        times(&hs, c, sub_id), expect);
                return false;
            }
        }
    }
    return n == want; /* nothing reported outside the model */
}

static void test_differential(void)
{
    uint64_t seed = 0x5b1dcafe42ULL, r;
    const char *env = getenv("OSTRICH_TEST_SEED");
    if (env != NULL) {
        seed = strtoull(env, NULL, 0);
    }
    r = seed;
    uint8_t pool[POOL][32];
    for (int i = 0; i < POOL; i++) {
        for (int j = 0; j < 32; j++) {
            pool[i][j] = (uint8_t)rnd(&r);
        }
    }
    struct subidx *idx;
    CHECK_OK(subidx_new(&idx));
    static struct model m;
    memset(&m, 0, sizeof(m));
    struct buf b;
    buf_init(&b);
    int failed = 0, op = 0;
    size_t n_reported = 0;
    for (; op < N_OPS && !failed; op++) {
        unsigned c = pick(&r, CONNS), s = pick(&r, SUBS), what = pick(&r, 100);
        char sub_id[8];
        snprintf(sub_id, sizeof(sub_id), "sub%u", s);
        if (what < 40) {
            gen_filters(&r, pool, &b);
            struct filter_set *mine = set_of(buf_cstr(&b)), *model = set_of(buf_cstr(&b));
            failed = mine == NULL || model == NULL ||
                     subidx_add_take(idx, c, sub_id, strlen(sub_id), mine) != 0;
            if (failed) {
                filter_set_free(mine);
                filter_set_free(model);
                break;
            }
            m.live += m.sets[c][s] == NULL;
            filter_set_free(m.sets[c][s]);
            m.sets[c][s] = model;
        } else if (what < 50) {
            bool was = m.sets[c][s] != NULL;
            failed = subidx_remove(idx, c, sub_id, strlen(sub_id)) != was;
            m.live -= was;
            filter_set_free(m.sets[c][s]);
            m.sets[c][s] = NULL;
        } else if (what < 52) {
            size_t had = 0;
            for (unsigned i = 0; i < SUBS; i++) {
                had += m.sets[c][i] != NULL;
                filter_set_free(m.sets[c][i]);
                m.sets[c][i] = NULL;
            }
            m.live -= had;
            failed = subidx_remove_conn(idx, c) != had;
        } else {
            struct event ev;
            const char *reason;
            gen_event(&r, pool, &b);
            failed = event_parse(b.data, b.len, NULL, &ev, &reason) < 0 ||
                     !check_match(idx, &m, &ev, &n_reported);
        }
        failed |= subidx_count(idx) != m.live;
        if (failed) {
            break;
        }
    }
    if (failed) {
        fprintf(stderr, "  seed 0x%" PRIx64 ": mismatch at op %d\n    %.*s\n", seed, op, (int)b.len,
                b.data);
    }
    subidx_free(idx); /* with live subscriptions */
    for (unsigned c = 0; c < CONNS; c++) {
        for (unsigned s = 0; s < SUBS; s++) {
            filter_set_free(m.sets[c][s]);
        }
    }
    buf_fini(&b);
    CHECK(!failed);
    CHECK(n_reported > 1000); /* matching happened, so the comparison meant something */
}

CHECK_MAIN({ "each_key_type", test_each_key_type },
           { "one_report_per_subscription", test_one_report_per_subscription },
           { "replace_same_sub_id", test_replace_same_sub_id }, { "remove", test_remove },
           { "remove_conn", test_remove_conn }, { "escaped_event_tags", test_escaped_event_tags },
           { "free_with_live_subscriptions", test_free_with_live_subscriptions },
           { "differential", test_differential })
