/*
 * The storage contract, writing: handles and roles, duplicates, the NIP-01
 * replaceable and addressable rules (also within one batch), other kinds
 * stored as given, raw JSON returned byte for byte, data and sequence
 * numbers surviving a reopen.
 */
#include <stdbool.h>
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

#define tev        store_contract_ev
#define tev_make   store_contract_ev_make
#define tevs_free  store_contract_evs_free
#define write_tevs store_contract_write
#define hits       store_contract_hits
#define hits_clear store_contract_hits_clear
#define hit_is     store_contract_hit_is

static int write_one(struct store_conn *c, struct tev *t, enum store_status *st)
{
    return write_tevs(c, t, 1, st);
}

static void test_open_and_roles(void)
{
    struct store_fx fx;
    CHECK_OK(store_contract_fx_init(&fx, 0));
    CHECK_STR_EQ(store_backend_name(fx.s), store_contract_backend_name());

    /* A reader handle cannot write, and says so in every result. */
    struct tev t;
    enum store_status status;
    CHECK(tev_make(&t, 1, 1, 1, 100, 1, "[]"));
    int rc = write_one(fx.r, &t, &status);
    tevs_free(&t, 1);
    CHECK_INT_EQ(rc, OST_EINVAL);
    CHECK_INT_EQ(status, STORE_FAILED);
    CHECK_INT_EQ(store_delete_ids(fx.r, NULL, 0, NULL), OST_EINVAL);
    CHECK_INT_EQ(store_purge_expired(fx.r, 100), OST_EINVAL);
    /* Nor can a handle of an unknown role be opened. */
    struct store_conn *c = NULL;
    CHECK_INT_EQ(store_conn_open(fx.s, (enum store_role)7, &c), OST_EINVAL);
    CHECK(c == NULL);
    store_fx_fini(&fx);

    /* Bad options: an unknown backend, and nothing saying where to store. */
    struct store *s = NULL;
    struct store_options opt = { .backend = (enum store_backend)7 };
    CHECK_INT_EQ(store_open(&opt, &s), OST_EINVAL);
    opt.backend = store_contract_backend();
    CHECK_INT_EQ(store_open(&opt, &s), OST_EINVAL);
    CHECK(s == NULL);
}

static void test_duplicates(void)
{
    struct store_fx fx;
    struct tev t[3];
    enum store_status st[3];
    struct hits h = { 0 };
    CHECK_OK(store_contract_fx_init(&fx, 0));
    CHECK(tev_make(&t[0], 1, 1, 1, 100, 1, "[]"));
    CHECK(tev_make(&t[1], 1, 2, 1, 100, 1, "[]"));
    CHECK(tev_make(&t[2], 1, 2, 1, 100, 1, "[]"));
    CHECK_OK(write_tevs(fx.w, t, 1, st));
    CHECK_INT_EQ(st[0], STORE_STORED);
    /* Again alone, then twice within one batch beside a new event. */
    CHECK_OK(write_tevs(fx.w, t, 3, st));
    CHECK_INT_EQ(st[0], STORE_DUPLICATE);
    CHECK_INT_EQ(st[1], STORE_STORED);
    CHECK_INT_EQ(st[2], STORE_DUPLICATE);
    QUERY(fx.r, &h, "{\"authors\":[\"%s\"]}", hx(0, 1));
    CHECK_INT_EQ(h.n, 2);
    hits_clear(&h);
    tevs_free(t, 3);
    store_fx_fini(&fx);
}

/* Queries (pubkey, kind) and checks that exactly want is there. */
static bool only_version(struct store_conn *c, unsigned pk, unsigned kind, const struct tev *want)
{
    struct hits h = { 0 };
    struct filter_set *set = NULL;
    bool ok = store_contract_parse_set(&set, "{\"authors\":[\"%s\"],\"kinds\":[%u]}", hx(0, pk),
                                       kind) == 0 &&
              store_query_set(c, set, store_contract_hits_add, &h, NULL) == 0 && h.n == 1 &&
              hit_is(&h, 0, want);
    filter_set_free(set);
    hits_clear(&h);
    return ok;
}

static void test_replaceable(void)
{
    static const unsigned kinds[] = { 0, 3, 10000, 10002, 19999 };
    struct store_fx fx;
    CHECK_OK(store_contract_fx_init(&fx, 0));
    for (size_t k = 0; k < 5; k++) {
        unsigned kind = kinds[k], pk = 10 + (unsigned)k, n = 10 * (unsigned)k;
        struct tev t[6];
        enum store_status st[2];
        CHECK(tev_make(&t[0], 5, n + 1, pk, 100, kind, "[]"));
        CHECK(tev_make(&t[1], 5, n + 2, pk, 200, kind, "[]"));
        CHECK(tev_make(&t[2], 5, n + 3, pk, 50, kind, "[]"));
        /* Same created_at as t[1]: a lower and a higher id. */
        CHECK(tev_make(&t[3], 4, n + 9, pk, 200, kind, "[]"));
        CHECK(tev_make(&t[4], 6, n + 9, pk, 200, kind, "[]"));
        CHECK(tev_make(&t[5], 1, n + 9, pk + 100, 10, kind, "[]"));
        CHECK_OK(write_one(fx.w, &t[0], st));
        CHECK_INT_EQ(st[0], STORE_STORED);
        CHECK_OK(write_one(fx.w, &t[1], st));
        CHECK_INT_EQ(st[0], STORE_STORED);
        CHECK(only_version(fx.r, pk, kind, &t[1]));
        /* An older one arriving late is refused. */
        CHECK_OK(write_one(fx.w, &t[2], st));
        CHECK_INT_EQ(st[0], STORE_REPLACED_OLDER);
        /* The replaced version, sent again, is refused as older too. */
        CHECK_OK(write_one(fx.w, &t[0], st));
        CHECK_INT_EQ(st[0], STORE_REPLACED_OLDER);
        /* The stored version, sent again, is a duplicate. */
        CHECK_OK(write_one(fx.w, &t[1], st));
        CHECK_INT_EQ(st[0], STORE_DUPLICATE);
        /* Equal created_at: the higher id loses, the lower id wins. */
        CHECK_OK(write_one(fx.w, &t[4], st));
        CHECK_INT_EQ(st[0], STORE_REPLACED_OLDER);
        CHECK(only_version(fx.r, pk, kind, &t[1]));
        CHECK_OK(write_one(fx.w, &t[3], st));
        CHECK_INT_EQ(st[0], STORE_STORED);
        CHECK(only_version(fx.r, pk, kind, &t[3]));
        /* Another author's version is independent. */
        CHECK_OK(write_one(fx.w, &t[5], st));
        CHECK_INT_EQ(st[0], STORE_STORED);
        CHECK(only_version(fx.r, pk, kind, &t[3]));
        tevs_free(t, 6);
    }
    store_fx_fini(&fx);
}

static void test_replaceable_in_one_batch(void)
{
    struct store_fx fx;
    struct tev t[6];
    enum store_status st[6];
    CHECK_OK(store_contract_fx_init(&fx, 0));
    /* Old then new within one batch: both stored, the old one replaced. */
    CHECK(tev_make(&t[0], 1, 1, 1, 100, 0, "[]"));
    CHECK(tev_make(&t[1], 1, 2, 1, 200, 0, "[]"));
    /* New then old: the old one is refused. */
    CHECK(tev_make(&t[2], 1, 3, 2, 200, 10002, "[]"));
    CHECK(tev_make(&t[3], 1, 4, 2, 100, 10002, "[]"));
    /* Equal created_at in one batch: the lower id wins, either order. */
    CHECK(tev_make(&t[4], 2, 5, 3, 300, 30001, "[[\"d\",\"z\"]]"));
    CHECK(tev_make(&t[5], 1, 5, 3, 300, 30001, "[[\"d\",\"z\"]]"));
    CHECK_OK(write_tevs(fx.w, t, 6, st));
    CHECK_INT_EQ(st[0], STORE_STORED);
    CHECK_INT_EQ(st[1], STORE_STORED);
    CHECK_INT_EQ(st[2], STORE_STORED);
    CHECK_INT_EQ(st[3], STORE_REPLACED_OLDER);
    CHECK_INT_EQ(st[4], STORE_STORED);
    CHECK_INT_EQ(st[5], STORE_STORED);
    CHECK(only_version(fx.r, 1, 0, &t[1]));
    CHECK(only_version(fx.r, 2, 10002, &t[2]));
    CHECK(only_version(fx.r, 3, 30001, &t[5]));
    tevs_free(t, 6);
    store_fx_fini(&fx);
}

static void test_addressable(void)
{
    struct store_fx fx;
    struct tev t[9];
    enum store_status st[9];
    struct hits h = { 0 };
    CHECK_OK(store_contract_fx_init(&fx, 0));
    CHECK(tev_make(&t[0], 1, 1, 1, 100, 30023, "[[\"d\",\"a\"]]"));
    CHECK(tev_make(&t[1], 1, 2, 1, 100, 30023, "[[\"d\",\"b\"]]"));
    /* The same address "a", newer, written with an escape and a later d. */
    CHECK(
        tev_make(&t[2], 1, 3, 1, 200, 30023, "[[\"t\",\"x\"],[\"d\",\"\\u0061\"],[\"d\",\"b\"]]"));
    /* No d tag, ["d"] and ["d",""] are all the address "". */
    CHECK(tev_make(&t[3], 1, 4, 1, 100, 30023, "[]"));
    CHECK(tev_make(&t[4], 1, 5, 1, 300, 30023, "[[\"d\"]]"));
    CHECK(tev_make(&t[5], 1, 6, 1, 200, 30023, "[[\"d\",\"\"]]"));
    /* Other kind, other author: other addresses. */
    CHECK(tev_make(&t[6], 1, 7, 1, 50, 30000, "[[\"d\",\"a\"]]"));
    CHECK(tev_make(&t[7], 1, 8, 2, 50, 30023, "[[\"d\",\"a\"]]"));
    /* Older "b" arriving late. */
    CHECK(tev_make(&t[8], 1, 9, 1, 99, 30023, "[[\"d\",\"b\"]]"));
    CHECK_OK(write_tevs(fx.w, t, 9, st));
    static const enum store_status want[9] = {
        STORE_STORED,         STORE_STORED, STORE_STORED, STORE_STORED,         STORE_STORED,
        STORE_REPLACED_OLDER, STORE_STORED, STORE_STORED, STORE_REPLACED_OLDER,
    };
    for (size_t i = 0; i < 9; i++) {
        CHECK_INT_EQ(st[i], want[i]);
    }
    QUERY(fx.r, &h, "{\"authors\":[\"%s\"],\"kinds\":[30023]}", hx(0, 1));
    CHECK_INT_EQ(h.n, 3);
    CHECK(hit_is(&h, 0, &t[4])); /* "" at 300 */
    CHECK(hit_is(&h, 1, &t[2])); /* "a" at 200 */
    CHECK(hit_is(&h, 2, &t[1])); /* "b" at 100 */
    hits_clear(&h);
    QUERY(fx.r, &h, "{\"#d\":[\"a\"]}");
    CHECK_INT_EQ(h.n, 3); /* t[2], t[6], t[7] */
    hits_clear(&h);
    tevs_free(t, 9);
    store_fx_fini(&fx);
}

static void test_regular_kinds(void)
{
    struct store_fx fx;
    struct tev t[6];
    enum store_status st[6];
    uint64_t count = 0;
    CHECK_OK(store_contract_fx_init(&fx, 0));
    /* Kind 5 (deletion) and others are stored as they are, every version. */
    CHECK(tev_make(&t[0], 1, 1, 1, 100, 5, "[[\"e\",\"00\"]]"));
    CHECK(tev_make(&t[1], 1, 2, 1, 100, 5, "[]"));
    CHECK(tev_make(&t[2], 1, 3, 1, 100, 1, "[]"));
    CHECK(tev_make(&t[3], 1, 4, 1, 90, 1, "[]"));
    /* Ephemeral kinds too: what to keep is the caller's policy. */
    CHECK(tev_make(&t[4], 1, 5, 1, 90, 20001, "[]"));
    CHECK(tev_make(&t[5], 1, 6, 1, 95, 20001, "[]"));
    CHECK_OK(write_tevs(fx.w, t, 6, st));
    for (size_t i = 0; i < 6; i++) {
        CHECK_INT_EQ(st[i], STORE_STORED);
    }
    COUNT(fx.r, &count, "{\"kinds\":[5]}");
    CHECK_INT_EQ(count, 2);
    COUNT(fx.r, &count, "{\"kinds\":[1]}");
    CHECK_INT_EQ(count, 2);
    COUNT(fx.r, &count, "{\"kinds\":[20001]}");
    CHECK_INT_EQ(count, 2);
    tevs_free(t, 6);
    store_fx_fini(&fx);
}

static void test_raw_bytes_exact(void)
{
    /* Spacing, escapes and key order exactly as a client sent them. */
    static const char raw[] =
        "{ \"kind\": 1, \"id\": \""
        "01000000000000000000000000000000000000000000000000000000"
        "00000001\",\n  \"pubkey\":\""
        "0000000000000000000000000000000000000000000000000000000"
        "000000001\", \"created_at\":1700000000, \"tags\":[[\"t\",\"caf\\u00e9\"],[\"alt\","
        "\"\\ud83d\\ude00\"]], \"content\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\/ \\n\\t"
        "\\u0000 \xc3\xa9\", \"sig\":\"" STORE_CONTRACT_SIG_ZEROS "\" }";
    struct store_fx fx;
    struct tev t;
    enum store_status st;
    struct hits h = { 0 };
    CHECK_OK(store_contract_fx_init(&fx, 0));
    buf_init(&t.json);
    CHECK_OK(buf_append(&t.json, raw, sizeof(raw) - 1));
    CHECK(store_contract_ev_parse(&t));
    CHECK_OK(write_one(fx.w, &t, &st));
    CHECK_INT_EQ(st, STORE_STORED);
    /* Found by the unescaped tag value, and returned byte for byte. */
    QUERY(fx.r, &h, "{\"#t\":[\"caf\xc3\xa9\"]}");
    CHECK_INT_EQ(h.n, 1);
    CHECK_INT_EQ(h.len[0], sizeof(raw) - 1);
    CHECK_MEM_EQ(h.json[0], raw, sizeof(raw) - 1);
    hits_clear(&h);
    QUERY(fx.r, &h, "{\"#t\":[\"caf\\u00e9\"]},{\"kinds\":[1]}");
    CHECK_INT_EQ(h.n, 1);
    CHECK_MEM_EQ(h.json[0], raw, sizeof(raw) - 1);
    hits_clear(&h);
    tevs_free(&t, 1);
    store_fx_fini(&fx);
}

static void test_restart(void)
{
    struct store_fx fx;
    struct tev t[40];
    enum store_status st[40];
    struct hits h = { 0 };
    uint64_t count = 0;
    CHECK_OK(store_contract_fx_init(&fx, 0));
    for (unsigned i = 0; i < 40; i++) {
        CHECK(tev_make(&t[i], 2, i, i % 3, 1000 + i, i < 39 ? 1 : 0, "[[\"t\",\"keep\"]]"));
    }
    CHECK_OK(write_tevs(fx.w, t, 40, st));
    store_fx_close(&fx);
    CHECK_OK(store_fx_open(&fx));
    COUNT(fx.r, &count, "{\"#t\":[\"keep\"]}");
    CHECK_INT_EQ(count, 40);
    QUERY(fx.r, &h, "{\"kinds\":[1],\"limit\":100}");
    CHECK_INT_EQ(h.n, 39);
    for (unsigned i = 0; i < 39; i++) {
        CHECK(hit_is(&h, i, &t[38 - i]));
    }
    hits_clear(&h);
    /* The replaceable state survived too. */
    struct tev older;
    CHECK(tev_make(&older, 3, 0, 39 % 3, 5, 0, "[]"));
    CHECK_OK(write_one(fx.w, &older, st));
    CHECK_INT_EQ(st[0], STORE_REPLACED_OLDER);
    tevs_free(&older, 1);
    CHECK_OK(write_tevs(fx.w, t, 1, st));
    CHECK_INT_EQ(st[0], STORE_DUPLICATE);
    tevs_free(t, 40);
    store_fx_fini(&fx);
}

/* Sequence numbers grow with every stored event and are never reused, even
 * when the newest row is replaced or the store reopened; a query's
 * snapshot number is the largest one it could see. The relay's EOSE join
 * depends on both. */
static int store_seq(struct store_conn *c, struct tev *t, uint64_t *seq)
{
    const struct event *evs[1] = { &t->ev };
    struct store_result res;
    int rc = store_write_batch(c, evs, 1, &res);
    if (rc == 0 && res.status != STORE_STORED) {
        rc = OST_EINVAL;
    }
    *seq = res.seq;
    return rc;
}

/* Runs filters (the text after a REQ's id) and reports the snapshot. */
static int query_snapshot(struct store_conn *c, const char *filters, struct store_snapshot *snap)
{
    struct filter_set *set = NULL;
    struct hits h = { 0 };
    int rc = store_contract_parse_set(&set, "%s", filters);
    rc = rc ? rc : store_query_set(c, set, store_contract_hits_add, &h, snap);
    hits_clear(&h);
    filter_set_free(set);
    return rc;
}

static int snapshot(struct store_conn *c, uint64_t *seq)
{
    struct store_snapshot snap = { 0 };
    int rc = query_snapshot(c, "{\"limit\":1}", &snap);
    *seq = snap.seq;
    return rc;
}

static void test_sequence_numbers(void)
{
    struct store_fx fx;
    CHECK_OK(store_contract_fx_init(&fx, 0));
    uint64_t snap0 = 0, snap = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0;
    /* Nothing stored yet: any number below the first event's (SQLite says
     * 0; OpenSearch starts from the clock, so numbers grow across
     * restarts without reading the index). */
    CHECK_OK(snapshot(fx.r, &snap0));
    struct tev t[5];
    CHECK(tev_make(&t[0], 7, 1, 1, 100, 1, "[]"));
    CHECK(tev_make(&t[1], 7, 2, 2, 100, 0, "[]"));
    CHECK(tev_make(&t[2], 7, 3, 2, 200, 0, "[]")); /* replaces t[1], the newest row */
    CHECK(tev_make(&t[3], 7, 4, 3, 300, 1, "[]"));
    CHECK(tev_make(&t[4], 7, 5, 3, 50, 1, "[]"));
    CHECK_OK(store_seq(fx.w, &t[0], &s1));
    CHECK(s1 > snap0);
    CHECK_OK(store_seq(fx.w, &t[1], &s2));
    CHECK_OK(snapshot(fx.r, &snap));
    CHECK_INT_EQ(snap, s2);
    CHECK_OK(store_seq(fx.w, &t[2], &s3));
    CHECK(s1 < s2 && s2 < s3);
    /* Reopening keeps counting up: a restart never reuses a number, and a
     * snapshot taken before the next write sees everything and nothing
     * that comes after it. */
    store_fx_close(&fx);
    CHECK_OK(store_fx_open(&fx));
    CHECK_OK(snapshot(fx.r, &snap));
    CHECK(snap >= s3);
    CHECK_OK(store_seq(fx.w, &t[3], &s4));
    CHECK(s4 > snap);
    CHECK_OK(snapshot(fx.r, &snap));
    CHECK_INT_EQ(snap, s4);
    /* An older event stored later still gets a larger number. */
    CHECK_OK(store_seq(fx.w, &t[4], &s5));
    CHECK(s5 > s4);
    tevs_free(t, 5);
    store_fx_fini(&fx);
}

const struct store_contract_test store_contract_write_tests[] = {
    STORE_CONTRACT_TEST(open_and_roles),   STORE_CONTRACT_TEST(duplicates),
    STORE_CONTRACT_TEST(replaceable),      STORE_CONTRACT_TEST(replaceable_in_one_batch),
    STORE_CONTRACT_TEST(addressable),      STORE_CONTRACT_TEST(regular_kinds),
    STORE_CONTRACT_TEST(raw_bytes_exact),  STORE_CONTRACT_TEST(restart),
    STORE_CONTRACT_TEST(sequence_numbers),
};
const size_t store_contract_write_n =
    sizeof(store_contract_write_tests) / sizeof(store_contract_write_tests[0]);
