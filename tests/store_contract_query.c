/*
 * The storage contract, reading: limits and the merge order of several
 * filters, a callback that stops a query, NIP-67 completeness, NIP-01's
 * exact tag conditions, store_delete_ids, and counts (NIP-45), with the
 * pubkeys of what they count.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/buf.h"
#include "common/hex.h"
#include "filters/filter.h"
#include "store/store.h"
#include "store_contract.h"
#include "store_fx.h"
#include "validate/event.h"

#define tev        store_contract_ev
#define tev_make   store_contract_ev_make
#define tevs_free  store_contract_evs_free
#define write_tevs store_contract_write
#define hits       store_contract_hits
#define hits_clear store_contract_hits_clear
#define hit_is     store_contract_hit_is

static void test_limits_and_merge(void)
{
    struct store_fx fx;
    struct tev t[6];
    enum store_status st[6];
    struct hits h = { 0 };
    uint64_t count = 0;
    CHECK_OK(store_contract_fx_init(&fx, 0));
    /* t[1] and t[2] tie on created_at: the lower id comes first. */
    CHECK(tev_make(&t[0], 1, 1, 1, 300, 1, "[[\"t\",\"a\"]]"));
    CHECK(tev_make(&t[1], 1, 2, 2, 200, 1, "[[\"t\",\"a\"],[\"t\",\"b\"]]"));
    CHECK(tev_make(&t[2], 2, 0, 1, 200, 7, "[[\"t\",\"b\"],[\"t\",\"b\"]]"));
    CHECK(tev_make(&t[3], 1, 4, 2, 100, 7, "[[\"t\",\"a\"]]"));
    CHECK(tev_make(&t[4], 1, 5, 3, 50, 1, "[[\"T\",\"a\"]]"));
    CHECK(tev_make(&t[5], 1, 6, 3, 40, 1, "[[\"tt\",\"a\"],[\"t\"]]"));
    CHECK_OK(write_tevs(fx.w, t, 6, st));

    QUERY(fx.r, &h, "{\"limit\":0}");
    QUERY(fx.r, &h, "{\"ids\":[]}");
    QUERY(fx.r, &h, "{\"since\":100,\"until\":99}");
    CHECK_INT_EQ(h.n, 0);
    QUERY(fx.r, &h, "{\"limit\":3}");
    CHECK_INT_EQ(h.n, 3);
    CHECK(hit_is(&h, 0, &t[0]) && hit_is(&h, 1, &t[1]) && hit_is(&h, 2, &t[2]));
    hits_clear(&h);
    /* An event with two matching values comes once. */
    QUERY(fx.r, &h, "{\"#t\":[\"a\",\"b\"]}");
    CHECK_INT_EQ(h.n, 4);
    CHECK(hit_is(&h, 0, &t[0]) && hit_is(&h, 1, &t[1]) && hit_is(&h, 2, &t[2]) &&
          hit_is(&h, 3, &t[3]));
    hits_clear(&h);
    /* Each filter has its own limit; the union is in order, each event once. */
    QUERY(fx.r, &h, "{\"kinds\":[7],\"limit\":1},{\"#t\":[\"a\"],\"limit\":2},{\"#T\":[\"a\"]}");
    CHECK_INT_EQ(h.n, 4);
    CHECK(hit_is(&h, 0, &t[0]) && hit_is(&h, 1, &t[1]) && hit_is(&h, 2, &t[2]) &&
          hit_is(&h, 3, &t[4]));
    hits_clear(&h);
    /* Inclusive bounds. */
    QUERY(fx.r, &h, "{\"since\":100,\"until\":200}");
    CHECK_INT_EQ(h.n, 3);
    CHECK(hit_is(&h, 0, &t[1]) && hit_is(&h, 1, &t[2]) && hit_is(&h, 2, &t[3]));
    hits_clear(&h);
    /* A callback that stops ends the query with its code. */
    struct filter_set *set = NULL;
    CHECK_OK(store_contract_parse_set(&set, "{}"));
    h.stop_after = 2;
    int rc = store_query_set(fx.r, set, store_contract_hits_add, &h, NULL);
    filter_set_free(set);
    CHECK_INT_EQ(rc, STORE_CONTRACT_STOP);
    CHECK_INT_EQ(h.n, 2);
    hits_clear(&h);
    /* Counting ignores limit and counts an event once. */
    COUNT(fx.r, &count, "{\"#t\":[\"a\"],\"limit\":1},{\"kinds\":[1]}");
    CHECK_INT_EQ(count, 5);
    COUNT(fx.r, &count, "{\"ids\":[]},{\"kinds\":[]}");
    CHECK_INT_EQ(count, 0);
    COUNT(fx.r, &count, "{\"#t\":[\"b\"]}");
    CHECK_INT_EQ(count, 2);
    tevs_free(t, 6);
    store_fx_fini(&fx);
}

/* NIP-67: a query is complete when no filter was cut by its limit. */
static int complete_for(struct store_conn *c, const char *filters, bool *is_complete)
{
    struct filter_set *set = NULL;
    struct hits h = { 0 };
    struct store_snapshot snap = { 0 };
    int rc = store_contract_parse_set(&set, "%s", filters);
    rc = rc ? rc : store_query_set(c, set, store_contract_hits_add, &h, &snap);
    hits_clear(&h);
    filter_set_free(set);
    *is_complete = snap.is_complete;
    return rc;
}

static void test_completeness(void)
{
    struct store_fx fx;
    CHECK_OK(store_contract_fx_init(&fx, 0));
    struct tev t[3];
    enum store_status st[3];
    for (unsigned i = 0; i < 3; i++) {
        CHECK(tev_make(&t[i], 9, i + 1, 5, 100 + i, 1, "[]"));
    }
    CHECK_OK(write_tevs(fx.w, t, 3, st));
    tevs_free(t, 3);
    static const struct {
        const char *filters;
        bool want;
    } cases[] = {
        { "{\"kinds\":[1],\"limit\":3}", false }, /* exactly the limit: maybe more */
        { "{\"kinds\":[1],\"limit\":4}", true },  /* fewer than the limit */
        { "{\"kinds\":[1],\"limit\":0}", false }, /* asked for none */
        { "{\"ids\":[]}", true },                 /* can never match */
        { "{\"kinds\":[2],\"limit\":1}", true },  /* no match at all */
        { "{\"kinds\":[1],\"limit\":4},{\"kinds\":[1],\"limit\":2}", false },
        { "{\"kinds\":[1],\"limit\":9},{\"kinds\":[7],\"limit\":2}", true },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool is_complete = !cases[i].want;
        CHECK_OK(complete_for(fx.r, cases[i].filters, &is_complete));
        if (is_complete != cases[i].want) {
            fprintf(stderr, "  case %s\n", cases[i].filters);
        }
        CHECK(is_complete == cases[i].want);
    }
    store_fx_fini(&fx);
}

/* NIP-01: "#e" matches the value in second position of an "e" tag, and
 * nothing else: not the same value in a "p" tag, in third position, under
 * an upper-case or longer tag name, or as part of a value. */
static void test_tag_exact(void)
{
    struct store_fx fx;
    struct tev t[8];
    enum store_status st[8];
    char tags[8][256];
    const char *x = "0300000000000000000000000000000000000000000000000000000000000001";
    const char *y = "0300000000000000000000000000000000000000000000000000000000000002";
    snprintf(tags[0], sizeof(tags[0]), "[[\"p\",\"%s\"]]", x);
    snprintf(tags[1], sizeof(tags[1]), "[[\"e\",\"%s\",\"%s\"]]", y, x);
    snprintf(tags[2], sizeof(tags[2]), "[[\"e\",\"%s\"]]", x);
    snprintf(tags[3], sizeof(tags[3]), "[[\"e\",\"%s\",\"wss://r\",\"reply\"]]", x);
    snprintf(tags[4], sizeof(tags[4]), "[[\"E\",\"%s\"]]", x);
    snprintf(tags[5], sizeof(tags[5]), "[[\"ee\",\"%s\"],[\"e\"]]", x);
    snprintf(tags[6], sizeof(tags[6]), "[[\"t\",\"a:b\"],[\"e\",\"%s\"]]", y);
    snprintf(tags[7], sizeof(tags[7]), "[[\"t\",\"e:%s\"]]", x);
    CHECK_OK(store_contract_fx_init(&fx, 0));
    for (unsigned i = 0; i < 8; i++) {
        CHECK(tev_make(&t[i], 0, i + 1, 1, 100 + i, 1, tags[i]));
    }
    CHECK_OK(write_tevs(fx.w, t, 8, st));
    for (unsigned i = 0; i < 8; i++) {
        CHECK_INT_EQ(st[i], STORE_STORED);
    }
    char filters[256];
    snprintf(filters, sizeof(filters), "{\"#e\":[\"%s\"]}", x);
    CHECK_IDS(fx.r, filters, "4 3", 1);
    uint64_t count = 0;
    COUNT(fx.r, &count, "%s", filters);
    CHECK_INT_EQ(count, 2);
    snprintf(filters, sizeof(filters), "{\"#p\":[\"%s\"]}", x);
    CHECK_IDS(fx.r, filters, "1", 1);
    snprintf(filters, sizeof(filters), "{\"#E\":[\"%s\"]}", x);
    CHECK_IDS(fx.r, filters, "5", 1);
    snprintf(filters, sizeof(filters), "{\"#e\":[\"%s\"]}", y);
    CHECK_IDS(fx.r, filters, "7 2", 1);
    CHECK_IDS(fx.r, "{\"#t\":[\"a\"]}", "", 1);
    CHECK_IDS(fx.r, "{\"#t\":[\"b\"]}", "", 1);
    CHECK_IDS(fx.r, "{\"#t\":[\"a:b\"]}", "7", 1);
    snprintf(filters, sizeof(filters), "{\"#e\":[\"%s\"],\"#t\":[\"a:b\"]}", y);
    CHECK_IDS(fx.r, filters, "7", 1);
    tevs_free(t, 8);
    store_fx_fini(&fx);
}

static void test_delete_ids(void)
{
    struct store_fx fx;
    struct tev t[3];
    enum store_status st[3];
    uint64_t count = 0;
    uint8_t ids[3][32], pk[32];
    CHECK_OK(store_contract_fx_init(&fx, 0));
    for (unsigned i = 0; i < 3; i++) {
        CHECK(tev_make(&t[i], 1, i, 1, 100 + i, 1, "[[\"t\",\"x\"]]"));
        memcpy(ids[i], t[i].ev.id, 32);
    }
    CHECK_OK(write_tevs(fx.w, t, 3, st));
    CHECK_OK(hex_decode_lower(hx(0, 2), 32, pk));
    CHECK_INT_EQ(store_delete_ids(fx.w, ids, 2, pk), 0); /* not the author */
    CHECK_INT_EQ(store_delete_ids(fx.w, ids, 2, t[0].ev.pubkey), 2);
    CHECK_INT_EQ(store_delete_ids(fx.w, ids, 2, NULL), 0); /* already gone */
    COUNT(fx.r, &count, "{\"#t\":[\"x\"]}");
    CHECK_INT_EQ(count, 1);
    CHECK_INT_EQ(store_delete_ids(fx.w, ids + 2, 1, NULL), 1);
    COUNT(fx.r, &count, "{}");
    CHECK_INT_EQ(count, 0);
    /* A deleted event can be stored again. */
    CHECK_OK(write_tevs(fx.w, t, 1, st));
    CHECK_INT_EQ(st[0], STORE_STORED);
    tevs_free(t, 3);
    store_fx_fini(&fx);
}

/* The pubkeys store_count_set_pubkeys reported: each distinct one with the
 * number of calls for it. */
struct seen {
    uint8_t pk[16][32];
    unsigned calls[16];
    size_t n;
    unsigned total;
    bool is_overflow;
};

static void seen_add(void *ud, const uint8_t *pubkey)
{
    struct seen *s = ud;
    s->total++;
    for (size_t i = 0; i < s->n; i++) {
        if (memcmp(s->pk[i], pubkey, 32) == 0) {
            s->calls[i]++;
            return;
        }
    }
    if (s->n == 16) {
        s->is_overflow = true;
        return;
    }
    memcpy(s->pk[s->n], pubkey, 32);
    s->calls[s->n++] = 1;
}

/* Counts filters with pubkeys and checks the contract: *out is the count
 * (as store_count_set says), the set of pubkeys reported is exactly want
 * (pubkey numbers, hx(0, n)), and the callback ran once per counted event
 * or once per distinct pubkey, or anything between (backends differ). */
static bool check_pubkeys(struct store_conn *c, const char *filters, uint64_t want_count,
                          const unsigned *want, size_t n_want)
{
    struct filter_set *set = NULL;
    struct seen s = { 0 };
    uint64_t n = UINT64_MAX, plain = UINT64_MAX;
    bool ok = store_contract_parse_set(&set, "%s", filters) == 0 &&
              store_count_set_pubkeys(c, set, seen_add, &s, &n) == 0 &&
              store_count_set(c, set, &plain) == 0 && n == want_count && plain == want_count &&
              !s.is_overflow && s.n == n_want && s.total >= n_want && s.total <= n;
    for (size_t i = 0; ok && i < n_want; i++) {
        uint8_t pk[32];
        bool is_found = false;
        ok = hex_decode_lower(hx(0, want[i]), 32, pk) == 0;
        for (size_t k = 0; ok && k < s.n; k++) {
            is_found |= memcmp(s.pk[k], pk, 32) == 0;
        }
        ok = ok && is_found;
    }
    if (!ok) {
        fprintf(stderr,
                "  %s: count %llu (plain %llu), want %llu; %zu distinct pubkeys in %u calls, "
                "want %zu\n",
                filters, (unsigned long long)n, (unsigned long long)plain,
                (unsigned long long)want_count, s.n, s.total, n_want);
    }
    filter_set_free(set);
    return ok;
}

#define NOW 1700000000

static void test_count_pubkeys(void)
{
    struct store_fx fx;
    struct tev t[9];
    enum store_status st[9];
    CHECK_OK(store_contract_fx_init(&fx, NOW));
    /* pk 1: three notes; pk 2: one; pk 3: a reaction; pk 4: an expired
     * note; pk 5: a note deleted later; pk 6: a note and a reaction. */
    CHECK(tev_make(&t[0], 0, 1, 1, NOW - 10, 1, "[[\"t\",\"a\"]]"));
    CHECK(tev_make(&t[1], 0, 2, 1, NOW - 9, 1, "[]"));
    CHECK(tev_make(&t[2], 0, 3, 1, NOW - 8, 1, "[]"));
    CHECK(tev_make(&t[3], 0, 4, 2, NOW - 7, 1, "[[\"t\",\"a\"]]"));
    CHECK(tev_make(&t[4], 0, 5, 3, NOW - 6, 7, "[[\"t\",\"a\"]]"));
    CHECK(tev_make(&t[5], 0, 6, 4, NOW - 5, 1, "[[\"expiration\",\"1699999999\"]]"));
    t[5].ev.expiration = NOW - 1;
    CHECK(tev_make(&t[6], 0, 7, 5, NOW - 4, 1, "[]"));
    CHECK(tev_make(&t[7], 0, 8, 6, NOW - 3, 1, "[]"));
    CHECK(tev_make(&t[8], 0, 9, 6, NOW - 2, 7, "[]"));
    CHECK_OK(write_tevs(fx.w, t, 9, st));
    CHECK_INT_EQ(store_delete_ids(fx.w, (const uint8_t(*)[32])t[6].ev.id, 1, NULL), 1);

    static const unsigned notes[] = { 1, 2, 6 };
    CHECK(check_pubkeys(fx.r, "{\"kinds\":[1]}", 5, notes, 3));
    static const unsigned all[] = { 1, 2, 3, 6 };
    CHECK(check_pubkeys(fx.r, "{\"kinds\":[1],\"limit\":1},{\"kinds\":[7]}", 7, all, 4));
    CHECK(check_pubkeys(fx.r, "{}", 7, all, 4));
    static const unsigned tagged[] = { 1, 2, 3 };
    char filters[160];
    snprintf(filters, sizeof(filters), "{\"#t\":[\"a\"]},{\"authors\":[\"%s\"]}", hx(0, 2));
    CHECK(check_pubkeys(fx.r, filters, 3, tagged, 3));
    CHECK(check_pubkeys(fx.r, "{\"kinds\":[9]}", 0, NULL, 0));
    /* The expired note's author comes back with the clock. */
    atomic_store(&fx.now, NOW - 3);
    static const unsigned earlier[] = { 1, 2, 4, 6 };
    CHECK(check_pubkeys(fx.r, "{\"kinds\":[1]}", 6, earlier, 4));
    tevs_free(t, 9);
    store_fx_fini(&fx);
}

const struct store_contract_test store_contract_query_tests[] = {
    STORE_CONTRACT_TEST(limits_and_merge), STORE_CONTRACT_TEST(completeness),
    STORE_CONTRACT_TEST(tag_exact),        STORE_CONTRACT_TEST(delete_ids),
    STORE_CONTRACT_TEST(count_pubkeys),
};
const size_t store_contract_query_n =
    sizeof(store_contract_query_tests) / sizeof(store_contract_query_tests[0]);
