/*
 * The storage contract, NIP-09 deletion requests and NIP-62 requests to
 * vanish, with the deletions read from the events as the relay reads them:
 * deletion by "e" and by "a", the deletion event kept, someone else's
 * deletion ignored, republishing refused with its reason (after a reopen
 * too), newer addressable versions accepted, deletions of deletions
 * without effect, deletions and their targets within one batch in both
 * orders, and vanish.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/buf.h"
#include "store/store.h"
#include "store_contract.h"
#include "store_fx.h"
#include "validate/event.h"

#define PK_A "00000000000000000000000000000000000000000000000000000000000000aa"
#define PK_B "00000000000000000000000000000000000000000000000000000000000000bb"
#define T    1700000000
#define URL  STORE_CONTRACT_RELAY_URL

#define tev store_contract_ev

/* Event id number n (hx(0, n)) of pk. */
static bool tev_make(struct tev *t, unsigned n, const char *pk, unsigned kind, long long created_at,
                     const char *tags)
{
    return store_contract_ev_build(t, hx(0, n), pk, created_at, kind, tags, "");
}

/* Makes and writes one event with what it deletes; returns its status, or
 * STORE_FAILED. */
static enum store_status put(struct store_fx *fx, unsigned n, const char *pk, unsigned kind,
                             long long created_at, const char *tags)
{
    struct tev t;
    enum store_status st = STORE_FAILED;
    if (!tev_make(&t, n, pk, kind, created_at, tags)) {
        return STORE_FAILED;
    }
    if (store_contract_write_del(fx->w, &t, 1, &st, NULL) < 0) {
        st = STORE_FAILED;
    }
    buf_fini(&t.json);
    return st;
}

/* Whether a query for id number n returns it. A failed query fails the
 * test, whichever answer the caller expects. */
static bool has(struct store_fx *fx, unsigned n)
{
    bool is_there = false;
    int rc = store_contract_has(fx->r, hx(0, n), &is_there);
    if (rc < 0) {
        fprintf(stderr, "  query for event %u: %s\n", n, ost_strerror(rc));
        check_failed = 1;
    }
    return is_there;
}

/* The tags of a deletion request for event id number n. */
static const char *e_tags(unsigned n)
{
    static char tags[128];
    snprintf(tags, sizeof(tags), "[[\"e\",\"%064x\"],[\"k\",\"1\"]]", n);
    return tags;
}

static void test_delete_by_e(void)
{
    struct store_fx fx;
    CHECK_OK(store_contract_fx_init(&fx, 0));
    CHECK_INT_EQ(put(&fx, 1, PK_A, 1, T - 10, "[]"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 2, PK_A, 1, T - 10, "[]"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 100, PK_A, 5, T, e_tags(1)), STORE_STORED);
    CHECK(!has(&fx, 1));
    CHECK(has(&fx, 2));
    /* The deletion request itself is kept and returned. */
    CHECK(has(&fx, 100));
    /* Republishing the deleted event is refused, with its reason. */
    struct tev t;
    struct store_result res;
    CHECK(tev_make(&t, 1, PK_A, 1, T - 10, "[]"));
    const struct event *evs[1] = { &t.ev };
    CHECK_OK(store_write_batch(fx.w, evs, 1, &res));
    CHECK_INT_EQ(res.status, STORE_DELETED);
    CHECK_STR_EQ(res.reason, "blocked: this event was deleted by its author");
    buf_fini(&t.json);
    CHECK(!has(&fx, 1));
    /* Sending the deletion again is a duplicate; the record stays. */
    CHECK_INT_EQ(put(&fx, 100, PK_A, 5, T, e_tags(1)), STORE_DUPLICATE);
    /* After a reopen too. */
    store_fx_close(&fx);
    CHECK_OK(store_fx_open(&fx));
    CHECK_INT_EQ(put(&fx, 1, PK_A, 1, T - 10, "[]"), STORE_DELETED);
    CHECK(has(&fx, 2));
    store_fx_fini(&fx);
}

static void test_delete_before_arrival(void)
{
    struct store_fx fx;
    CHECK_OK(store_contract_fx_init(&fx, 0));
    /* The deletion comes first: the event is refused when it arrives. */
    CHECK_INT_EQ(put(&fx, 100, PK_A, 5, T, e_tags(1)), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 1, PK_A, 1, T - 10, "[]"), STORE_DELETED);
    CHECK(!has(&fx, 1));
    store_fx_fini(&fx);
}

static void test_other_author(void)
{
    struct store_fx fx;
    CHECK_OK(store_contract_fx_init(&fx, 0));
    CHECK_INT_EQ(put(&fx, 1, PK_A, 1, T - 10, "[]"), STORE_STORED);
    /* B asks to delete A's event: stored as any event, deletes nothing. */
    CHECK_INT_EQ(put(&fx, 100, PK_B, 5, T, e_tags(1)), STORE_STORED);
    CHECK(has(&fx, 1));
    CHECK(has(&fx, 100));
    /* Nor does it block an event of A that was not stored yet. */
    CHECK_INT_EQ(put(&fx, 101, PK_B, 5, T, e_tags(2)), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 2, PK_A, 1, T - 10, "[]"), STORE_STORED);
    CHECK(has(&fx, 2));
    /* Nor does an address of A in B's request. */
    CHECK_INT_EQ(put(&fx, 3, PK_A, 30023, T - 10, "[[\"d\",\"x\"]]"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 102, PK_B, 5, T, "[[\"a\",\"30023:" PK_A ":x\"]]"), STORE_STORED);
    CHECK(has(&fx, 3));
    CHECK_INT_EQ(put(&fx, 4, PK_A, 30023, T - 5, "[[\"d\",\"x\"]]"), STORE_STORED);
    store_fx_fini(&fx);
}

static void test_delete_by_a(void)
{
    struct store_fx fx;
    CHECK_OK(store_contract_fx_init(&fx, 0));
    CHECK_INT_EQ(put(&fx, 1, PK_A, 30023, T - 10, "[[\"d\",\"x\"]]"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 2, PK_A, 30023, T - 10, "[[\"d\",\"y\"]]"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 3, PK_A, 30024, T - 10, "[[\"d\",\"x\"]]"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 4, PK_B, 30023, T - 10, "[[\"d\",\"x\"]]"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 5, PK_A, 10002, T - 10, "[]"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 100, PK_A, 5, T, "[[\"a\",\"30023:" PK_A ":x\"]]"), STORE_STORED);
    /* Only that pubkey, kind and d value. */
    CHECK(!has(&fx, 1));
    CHECK(has(&fx, 2));
    CHECK(has(&fx, 3));
    CHECK(has(&fx, 4));
    CHECK(has(&fx, 100));
    /* Versions at or before the deletion are refused; a newer one is not. */
    CHECK_INT_EQ(put(&fx, 6, PK_A, 30023, T - 1, "[[\"d\",\"x\"]]"), STORE_DELETED);
    CHECK_INT_EQ(put(&fx, 7, PK_A, 30023, T, "[[\"d\",\"x\"]]"), STORE_DELETED);
    CHECK_INT_EQ(put(&fx, 8, PK_A, 30023, T + 1, "[[\"d\",\"x\"]]"), STORE_STORED);
    CHECK(has(&fx, 8));
    /* A later deletion of the same address moves the bound. */
    CHECK_INT_EQ(put(&fx, 101, PK_A, 5, T + 5, "[[\"a\",\"30023:" PK_A ":x\"]]"), STORE_STORED);
    CHECK(!has(&fx, 8));
    CHECK_INT_EQ(put(&fx, 9, PK_A, 30023, T + 5, "[[\"d\",\"x\"]]"), STORE_DELETED);
    /* An older deletion does not move it back. */
    CHECK_INT_EQ(put(&fx, 102, PK_A, 5, T + 2, "[[\"a\",\"30023:" PK_A ":x\"]]"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 10, PK_A, 30023, T + 4, "[[\"d\",\"x\"]]"), STORE_DELETED);
    CHECK_INT_EQ(put(&fx, 11, PK_A, 30023, T + 6, "[[\"d\",\"x\"]]"), STORE_STORED);
    /* A replaceable kind's address has an empty d. */
    CHECK_INT_EQ(put(&fx, 103, PK_A, 5, T, "[[\"a\",\"10002:" PK_A ":\"]]"), STORE_STORED);
    CHECK(!has(&fx, 5));
    CHECK_INT_EQ(put(&fx, 12, PK_A, 10002, T, "[]"), STORE_DELETED);
    CHECK_INT_EQ(put(&fx, 13, PK_A, 10002, T + 1, "[]"), STORE_STORED);
    /* A regular kind has no address: nothing happens. */
    CHECK_INT_EQ(put(&fx, 14, PK_A, 1, T - 10, "[]"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 104, PK_A, 5, T, "[[\"a\",\"1:" PK_A ":\"]]"), STORE_STORED);
    CHECK(has(&fx, 14));
    store_fx_fini(&fx);
}

static void test_delete_deletion(void)
{
    struct store_fx fx;
    CHECK_OK(store_contract_fx_init(&fx, 0));
    CHECK_INT_EQ(put(&fx, 1, PK_A, 1, T - 10, "[]"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 100, PK_A, 5, T, e_tags(1)), STORE_STORED);
    /* NIP-09: a deletion request against a deletion request has no
     * effect: the first stays, and the event stays deleted. */
    CHECK_INT_EQ(put(&fx, 101, PK_A, 5, T + 1, e_tags(100)), STORE_STORED);
    CHECK(has(&fx, 100));
    CHECK(has(&fx, 101));
    CHECK_INT_EQ(put(&fx, 1, PK_A, 1, T - 10, "[]"), STORE_DELETED);
    /* Nor is a deletion refused for having been named in one. */
    CHECK_INT_EQ(put(&fx, 103, PK_A, 5, T + 2, e_tags(102)), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 102, PK_A, 5, T + 3, e_tags(1)), STORE_STORED);
    store_fx_fini(&fx);
}

static void test_same_batch(void)
{
    struct store_fx fx;
    struct tev t[6];
    enum store_status st[6];
    CHECK_OK(store_contract_fx_init(&fx, 0));
    /* Target then deletion; deletion then target. */
    CHECK(tev_make(&t[0], 1, PK_A, 1, T - 10, "[]"));
    CHECK(tev_make(&t[1], 100, PK_A, 5, T, e_tags(1)));
    CHECK(tev_make(&t[2], 101, PK_A, 5, T, e_tags(2)));
    CHECK(tev_make(&t[3], 2, PK_A, 1, T - 10, "[]"));
    /* The same for an address. */
    CHECK(tev_make(&t[4], 3, PK_A, 30023, T - 10, "[[\"d\",\"x\"]]"));
    CHECK(tev_make(&t[5], 102, PK_A, 5, T,
                   "[[\"a\",\"30023:" PK_A ":x\"],[\"a\",\"30023:" PK_A ":y\"]]"));
    CHECK_OK(store_contract_write_del(fx.w, t, 6, st, NULL));
    CHECK_INT_EQ(st[0], STORE_STORED);
    CHECK_INT_EQ(st[1], STORE_STORED);
    CHECK_INT_EQ(st[2], STORE_STORED);
    CHECK_INT_EQ(st[3], STORE_DELETED);
    CHECK_INT_EQ(st[4], STORE_STORED);
    CHECK_INT_EQ(st[5], STORE_STORED);
    CHECK(!has(&fx, 1));
    CHECK(!has(&fx, 2));
    CHECK(!has(&fx, 3));
    CHECK(has(&fx, 100) && has(&fx, 101) && has(&fx, 102));
    store_contract_evs_free(t, 6);
    CHECK(tev_make(&t[0], 4, PK_A, 30023, T - 5, "[[\"d\",\"y\"]]"));
    CHECK_OK(store_contract_write_del(fx.w, t, 1, st, NULL));
    store_contract_evs_free(t, 1);
    CHECK_INT_EQ(st[0], STORE_DELETED);
    store_fx_fini(&fx);
}

static void test_vanish(void)
{
    struct store_fx fx;
    CHECK_OK(store_contract_fx_init(&fx, 0));
    CHECK_INT_EQ(put(&fx, 1, PK_A, 1, T - 10, "[]"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 2, PK_A, 30023, T - 5, "[[\"d\",\"x\"]]"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 3, PK_A, 5, T - 3, e_tags(50)), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 4, PK_A, 1, T, "[]"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 5, PK_A, 1, T + 10, "[]"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 6, PK_B, 1, T - 10, "[]"), STORE_STORED);
    /* A request naming another relay is an ordinary event. */
    CHECK_INT_EQ(put(&fx, 99, PK_A, 62, T, "[[\"relay\",\"wss://other.example.com\"]]"),
                 STORE_STORED);
    CHECK(has(&fx, 1));
    CHECK_INT_EQ(put(&fx, 100, PK_A, 62, T, "[[\"relay\",\"ALL_RELAYS\"]]"), STORE_STORED);
    /* Everything of A up to T goes, deletions and the other kind 62
     * included; the request stays; later events and B's stay. */
    CHECK(!has(&fx, 1));
    CHECK(!has(&fx, 2));
    CHECK(!has(&fx, 3));
    CHECK(!has(&fx, 4));
    CHECK(!has(&fx, 99));
    CHECK(has(&fx, 100));
    CHECK(has(&fx, 5));
    CHECK(has(&fx, 6));
    /* Older events of A are refused afterwards, with their reason. */
    struct tev t;
    struct store_result res;
    CHECK(tev_make(&t, 1, PK_A, 1, T - 10, "[]"));
    const struct event *evs[1] = { &t.ev };
    CHECK_OK(store_write_batch(fx.w, evs, 1, &res));
    CHECK_INT_EQ(res.status, STORE_VANISHED);
    CHECK_STR_EQ(res.reason, "blocked: the author of this event asked to vanish from this relay");
    buf_fini(&t.json);
    CHECK_INT_EQ(put(&fx, 7, PK_A, 1, T, "[]"), STORE_VANISHED);
    CHECK_INT_EQ(put(&fx, 8, PK_A, 5, T - 1, e_tags(5)), STORE_VANISHED);
    CHECK_INT_EQ(put(&fx, 9, PK_A, 1, T + 1, "[]"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 10, PK_B, 1, T - 1, "[]"), STORE_STORED);
    /* A request naming this relay's URL works the same way. */
    CHECK_INT_EQ(put(&fx, 101, PK_A, 62, T + 20, "[[\"relay\",\"" URL "\"]]"), STORE_STORED);
    CHECK(!has(&fx, 5));
    CHECK(!has(&fx, 9));
    CHECK(!has(&fx, 100));
    CHECK(has(&fx, 101));
    CHECK_INT_EQ(put(&fx, 11, PK_A, 1, T + 15, "[]"), STORE_VANISHED);
    /* The vanish outlives a reopen. */
    store_fx_close(&fx);
    CHECK_OK(store_fx_open(&fx));
    CHECK_INT_EQ(put(&fx, 12, PK_A, 1, T + 19, "[]"), STORE_VANISHED);
    CHECK(has(&fx, 6) && has(&fx, 10));
    store_fx_fini(&fx);
}

const struct store_contract_test store_contract_nip09_tests[] = {
    STORE_CONTRACT_TEST(delete_by_e),     STORE_CONTRACT_TEST(delete_before_arrival),
    STORE_CONTRACT_TEST(other_author),    STORE_CONTRACT_TEST(delete_by_a),
    STORE_CONTRACT_TEST(delete_deletion), STORE_CONTRACT_TEST(same_batch),
    STORE_CONTRACT_TEST(vanish),
};
const size_t store_contract_nip09_n =
    sizeof(store_contract_nip09_tests) / sizeof(store_contract_nip09_tests[0]);
