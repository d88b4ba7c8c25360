/*
 * The storage contract, NIP-50 search: search alone and with every other
 * field, limits, counts, completeness, query syntax taken as words, and
 * replaced, deleted and expired events gone from the results. Relevance
 * scores differ between engines (BM25 in SQLite FTS5 and in OpenSearch,
 * with different statistics), so the results are checked as sets, and
 * their order only where one event is plainly the most relevant.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/buf.h"
#include "filters/filter.h"
#include "store/store.h"
#include "store_contract.h"
#include "store_fx.h"
#include "validate/event.h"

#define PK_A "00000000000000000000000000000000000000000000000000000000000000aa"
#define PK_B "00000000000000000000000000000000000000000000000000000000000000bb"
#define T    1700000000

/* Stores event id number n that expires at expiration (0: never; what the
 * validation workers read from its tag, NIP-40); returns its status. */
static enum store_status put_exp(struct store_fx *fx, unsigned n, const char *pk, unsigned kind,
                                 long long created_at, const char *tags, const char *content,
                                 int64_t expiration)
{
    struct store_contract_ev t;
    enum store_status st = STORE_FAILED;
    if (!store_contract_ev_build(&t, hx(0, n), pk, created_at, kind, tags, content)) {
        return STORE_FAILED;
    }
    t.ev.expiration = expiration;
    if (store_contract_write(fx->w, &t, 1, &st) < 0) {
        st = STORE_FAILED;
    }
    buf_fini(&t.json);
    return st;
}

static enum store_status put(struct store_fx *fx, unsigned n, const char *pk, unsigned kind,
                             long long created_at, const char *tags, const char *content)
{
    return put_exp(fx, n, pk, kind, created_at, tags, content, 0);
}

static int cmp_unsigned(const void *a, const void *b)
{
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return x < y ? -1 : x > y;
}

/* Whether the filters return want_n events, all from pool (id numbers in
 * ascending order, "1 2 5"), each once, first the event numbered first
 * (0: any), with completeness is_complete. With want_n the size of pool
 * this is "exactly the set pool, the most relevant first". */
static bool search_is(struct store_fx *fx, const char *filters, unsigned first, size_t want_n,
                      const char *pool, bool is_complete)
{
    unsigned ids[64], sorted[64];
    size_t n = 0;
    struct store_snapshot snap = { 0 };
    int rc = store_contract_id_list(fx->r, filters, ids, 64, &n, &snap);
    bool ok = rc == 0 && n == want_n && (first == 0 || (n > 0 && ids[0] == first)) &&
              snap.is_complete == is_complete;
    memcpy(sorted, ids, n * sizeof(*ids));
    qsort(sorted, n, sizeof(*sorted), cmp_unsigned);
    for (size_t i = 0; ok && i < n; i++) {
        ok = i == 0 || sorted[i] != sorted[i - 1];
    }
    /* Each result must be in the pool; both are ascending. */
    const char *p = pool;
    for (size_t i = 0; ok && i < n;) {
        char *end;
        unsigned v = (unsigned)strtoul(p, &end, 10);
        if (end == p) {
            ok = false;
        } else if (v == sorted[i]) {
            i++;
        }
        p = end;
    }
    if (!ok) {
        fprintf(stderr, "  %s: rc %d, complete %d, got", filters, rc, snap.is_complete);
        for (size_t i = 0; i < n; i++) {
            fprintf(stderr, " %u", ids[i]);
        }
        fprintf(stderr, "; want %zu of {%s}, first %u, complete %d\n", want_n, pool, first,
                is_complete);
    }
    return ok;
}

/* The count of the filters in json, or UINT64_MAX when counting failed. */
static uint64_t count(struct store_fx *fx, const char *filters)
{
    uint64_t n = UINT64_MAX;
    if (store_contract_count(fx->r, filters, &n) != 0) {
        n = UINT64_MAX;
    }
    return n;
}

/* A small corpus: id numbers 1..7. */
static void put_corpus(struct store_fx *fx)
{
    CHECK_INT_EQ(put(fx, 1, PK_A, 1, T - 60, "[]", "Nostr relays are great"), STORE_STORED);
    CHECK_INT_EQ(put(fx, 2, PK_B, 1, T - 50, "[[\"t\",\"nostr\"]]", "nostr nostr nostr nostr"),
                 STORE_STORED);
    CHECK_INT_EQ(put(fx, 3, PK_A, 30023, T - 40, "[[\"d\",\"x\"]]", "A long article about nostr"),
                 STORE_STORED);
    CHECK_INT_EQ(put(fx, 4, PK_B, 1, T - 30, "[]", "bitcoin only"), STORE_STORED);
    CHECK_INT_EQ(put(fx, 5, PK_A, 1, T - 20, "[]", "Caf\\u00e9 and nostr, \\\"quoted\\\""),
                 STORE_STORED);
    CHECK_INT_EQ(put(fx, 6, PK_B, 1, T - 10, "[[\"t\",\"nostr\"]]", "relays for bitcoin"),
                 STORE_STORED);
    CHECK_INT_EQ(put(fx, 7, PK_A, 1, T, "[]", "NEAR star* (paren) content:x"), STORE_STORED);
}

static void test_search(void)
{
    struct store_fx fx;
    CHECK_OK(store_contract_fx_init(&fx, T));
    put_corpus(&fx);
    if (check_failed) {
        store_fx_fini(&fx);
        return;
    }
    /* Every word must be there; 2 says nostr four times in four words and
     * is plainly the most relevant. */
    CHECK(search_is(&fx, "{\"search\":\"nostr\"}", 2, 4, "1 2 3 5", true));
    CHECK_IDS(fx.r, "{\"search\":\"NOSTR RELAYS\"}", "1", 1);
    CHECK(search_is(&fx, "{\"search\":\"relays\"}", 0, 2, "1 6", true));
    /* Combined with every other field. */
    CHECK_IDS(fx.r, "{\"search\":\"nostr\",\"kinds\":[30023]}", "3", 1);
    CHECK_IDS(fx.r, "{\"search\":\"nostr\",\"authors\":[\"" PK_B "\"]}", "2", 1);
    CHECK_IDS(fx.r, "{\"search\":\"relays\",\"#t\":[\"nostr\"]}", "6", 1);
    CHECK(search_is(&fx, "{\"search\":\"nostr\",\"since\":1699999950,\"until\":1699999980}", 2, 3,
                    "2 3 5", true));
    CHECK_IDS(fx.r,
              "{\"search\":\"nostr\",\"ids\":[\"0000000000000000000000000000000000000000000000"
              "000000000000000001\"]}",
              "1", 1);
    /* The limit keeps the most relevant; a full page is not complete. */
    CHECK(search_is(&fx, "{\"search\":\"nostr\",\"limit\":1}", 2, 1, "2", false));
    CHECK(search_is(&fx, "{\"search\":\"nostr\",\"limit\":2}", 2, 2, "1 2 3 5", false));
    CHECK(search_is(&fx, "{\"search\":\"nostr\",\"limit\":4}", 2, 4, "1 2 3 5", false));
    CHECK(search_is(&fx, "{\"search\":\"nostr\",\"limit\":5}", 2, 4, "1 2 3 5", true));
    /* Case and diacritics fold in the stored search. */
    CHECK_IDS(fx.r, "{\"search\":\"cafe\"}", "5", 1);
    CHECK_IDS(fx.r, "{\"search\":\"CAF\\u00c9\"}", "5", 1);
    /* Extensions are ignored; nothing left is no search at all. */
    CHECK(search_is(&fx, "{\"search\":\"bitcoin include:spam language:en\"}", 0, 2, "4 6", true));
    CHECK_IDS(fx.r, "{\"search\":\"include:spam\",\"kinds\":[30023]}", "3", 1);
    /* Query syntax is taken as words and never fails. */
    CHECK_IDS(fx.r, "{\"search\":\"NEAR\"}", "7", 1);
    CHECK_IDS(fx.r, "{\"search\":\"star*\"}", "7", 1);
    CHECK_IDS(fx.r, "{\"search\":\"st*\"}", "", 1);
    CHECK_IDS(fx.r, "{\"search\":\"(paren\"}", "7", 1);
    CHECK_IDS(fx.r, "{\"search\":\"\\\"quoted\\\"\"}", "5", 1);
    CHECK_IDS(fx.r, "{\"search\":\"\\\"\"}", "7 6 5 4 3 2 1", 1);
    CHECK_IDS(fx.r, "{\"search\":\"{content}:x AND OR NOT\"}", "", 1);
    CHECK_IDS(fx.r, "{\"search\":\"nostr NOT\"}", "", 1);
    CHECK_IDS(fx.r, "{\"search\":\"events_fts:x - ^ + :\"}", "7 6 5 4 3 2 1", 1);
    /* Several filters, with and without search: each event once, newest
     * first. */
    CHECK_IDS(fx.r, "{\"search\":\"nostr\"},{\"kinds\":[1],\"authors\":[\"" PK_B "\"]}",
              "6 5 4 3 2 1", 1);
    CHECK_IDS(fx.r, "{\"search\":\"nostr\",\"limit\":1},{\"search\":\"bitcoin\"}", "6 4 2", 0);
    /* Counts. */
    CHECK_INT_EQ(count(&fx, "{\"search\":\"nostr\"}"), 4);
    CHECK_INT_EQ(count(&fx, "{\"search\":\"nostr\",\"limit\":1}"), 4);
    CHECK_INT_EQ(count(&fx, "{\"search\":\"nostr\",\"kinds\":[1]}"), 3);
    CHECK_INT_EQ(count(&fx, "{\"search\":\"nostr\"},{\"search\":\"bitcoin\"}"), 6);
    CHECK_INT_EQ(count(&fx, "{\"search\":\"x*\\\"y\"}"), 0);
    store_fx_fini(&fx);
}

/* Whatever removes an event takes it out of the search too. */
static void test_search_removed(void)
{
    struct store_fx fx;
    CHECK_OK(store_contract_fx_init(&fx, T));
    /* Replaced: only the newest version is found, by its own words. */
    CHECK_INT_EQ(put(&fx, 1, PK_A, 0, T - 10, "[]", "old profile alpha"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 2, PK_A, 0, T, "[]", "new profile beta"), STORE_STORED);
    CHECK_IDS(fx.r, "{\"search\":\"alpha\"}", "", 1);
    CHECK_IDS(fx.r, "{\"search\":\"profile\"}", "2", 1);
    CHECK_INT_EQ(put(&fx, 3, PK_A, 30000, T - 10, "[[\"d\",\"k\"]]", "gamma"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 4, PK_A, 30000, T, "[[\"d\",\"k\"]]", "delta"), STORE_STORED);
    CHECK_IDS(fx.r, "{\"search\":\"gamma\"}", "", 1);
    CHECK_IDS(fx.r, "{\"search\":\"delta\"}", "4", 1);
    /* Deleted by id. */
    CHECK_INT_EQ(put(&fx, 5, PK_A, 1, T, "[]", "epsilon words"), STORE_STORED);
    uint8_t id[32] = { 0 };
    id[31] = 5;
    CHECK_INT_EQ(store_delete_ids(fx.w, (const uint8_t(*)[32])id, 1, NULL), 1);
    CHECK_IDS(fx.r, "{\"search\":\"epsilon\"}", "", 1);
    /* Deleted by its author (NIP-09). */
    struct store_contract_ev t;
    enum store_status st = STORE_FAILED;
    CHECK_INT_EQ(put(&fx, 7, PK_A, 1, T, "[]", "eta words"), STORE_STORED);
    char tags[96];
    snprintf(tags, sizeof(tags), "[[\"e\",\"%s\"]]", hx(0, 7));
    CHECK(store_contract_ev_build(&t, hx(0, 8), PK_A, T + 1, 5, tags, "eta"));
    int rc = store_contract_write_del(fx.w, &t, 1, &st, NULL);
    buf_fini(&t.json);
    CHECK_OK(rc);
    CHECK_INT_EQ(st, STORE_STORED);
    CHECK_IDS(fx.r, "{\"search\":\"eta words\"}", "", 1);
    CHECK_IDS(fx.r, "{\"search\":\"eta\"}", "8", 1);
    /* Expired: hidden at once, then purged. */
    CHECK_INT_EQ(put_exp(&fx, 6, PK_A, 1, T, "[[\"expiration\",\"1700000005\"]]", "zeta", T + 5),
                 STORE_STORED);
    CHECK_IDS(fx.r, "{\"search\":\"zeta\"}", "6", 1);
    atomic_store(&fx.now, T + 5);
    CHECK_IDS(fx.r, "{\"search\":\"zeta\"}", "", 1);
    CHECK_INT_EQ(store_purge_expired(fx.w, 10), 1);
    CHECK_IDS(fx.r, "{\"search\":\"zeta\"}", "", 1);
    atomic_store(&fx.now, T);
    CHECK_IDS(fx.r, "{\"search\":\"zeta\"}", "", 1);
    CHECK_INT_EQ(count(&fx, "{\"search\":\"words\"}"), 0);
    store_fx_fini(&fx);
}

/* For ASCII text the stored search cuts words as the live matcher does
 * (filter_matches, for events that arrive after EOSE): a word is a run of
 * letters and digits, so "#nostr_apps", "content:x", "don't" and "1.5" are
 * two words each. Otherwise a REQ would find other events in the store than
 * its subscription finds live. Each query's stored answer must be the set
 * filter_matches picks from the same events. */
static void test_search_like_live(void)
{
    static const char *const contents[] = {
        "#nostr_apps are fun",
        "content:x and y",
        "don't panic",
        "version 1.5 released",
        "mail me at a@b.com",
        "C3PO and R2D2",
        "the quick fox",
        "nostr",
        "NOSTR relay",
        "relay-operators",
        "x.y.z",
        "foo/bar?baz=1",
        "tab\\tnew\\nline",
        "semi;colon,comma",
        "under_score_word",
        "CamelCaseWord",
    };
    static const char *const queries[] = {
        "nostr",     "apps",  "content",   "x",       "y",     "don",           "t",     "panic",
        "1",         "5",     "1.5",       "a@b.com", "b",     "com",           "c3po",  "r2d2",
        "quick fox", "relay", "operators", "bar",     "baz",   "nostr_apps",    "don't", "new",
        "line",      "colon", "comma",     "score",   "under", "camelcaseword",
    };
    enum {
        N_CONTENTS = sizeof(contents) / sizeof(contents[0])
    };
    struct store_fx fx;
    struct store_contract_ev t[N_CONTENTS];
    enum store_status st[N_CONTENTS];
    CHECK_OK(store_contract_fx_init(&fx, T));
    for (unsigned i = 0; i < N_CONTENTS; i++) {
        CHECK(
            store_contract_ev_build(&t[i], hx(0, i + 1), PK_A, T - 100 + i, 1, "[]", contents[i]));
    }
    CHECK_OK(store_contract_write(fx.w, t, N_CONTENTS, st));
    for (size_t q = 0; q < sizeof(queries) / sizeof(queries[0]); q++) {
        char filters[128], pool[256] = "";
        size_t want_n = 0, len = 0;
        struct filter_set *set = NULL;
        snprintf(filters, sizeof(filters), "{\"search\":\"%s\"}", queries[q]);
        CHECK_OK(store_contract_parse_set(&set, "%s", filters));
        for (unsigned i = 0; i < N_CONTENTS; i++) {
            if (filter_set_matches(set, &t[i].ev)) {
                len += (size_t)snprintf(pool + len, sizeof(pool) - len, "%s%u", want_n ? " " : "",
                                        i + 1);
                want_n++;
            }
        }
        filter_set_free(set);
        CHECK(search_is(&fx, filters, 0, want_n, pool, true));
        CHECK_INT_EQ(count(&fx, filters), want_n);
    }
    store_contract_evs_free(t, N_CONTENTS);
    store_fx_fini(&fx);
}

const struct store_contract_test store_contract_nip50_tests[] = {
    STORE_CONTRACT_TEST(search),
    STORE_CONTRACT_TEST(search_removed),
    STORE_CONTRACT_TEST(search_like_live),
};
const size_t store_contract_nip50_n =
    sizeof(store_contract_nip50_tests) / sizeof(store_contract_nip50_tests[0]);
