/*
 * The storage contract, NIP-40 expiration: the expiration is stored with
 * the event, queries and counts of every filter shape leave events out from
 * the second of their expiration, and store_purge_expired deletes them in
 * bounded passes, earliest expiration first. Time is the store's injected
 * clock, never a sleep; moving it back shows what is still stored.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/buf.h"
#include "nips/nip40.h"
#include "store/store.h"
#include "store_contract.h"
#include "store_fx.h"
#include "validate/event.h"

#define PUBKEY "00000000000000000000000000000000000000000000000000000000000000aa"
#define NOW    1700000000

#define tev store_contract_ev

/* Event number n (its id ends in n), expiring at expiration (0: no tag),
 * with ev.expiration set as nip40_check sets it. */
static bool tev_expiring(struct tev *t, unsigned n, long long expiration)
{
    char tags[96];
    if (expiration == 0) {
        snprintf(tags, sizeof(tags), "[[\"t\",\"x\"]]");
    } else {
        snprintf(tags, sizeof(tags), "[[\"t\",\"x\"],[\"expiration\",\"%lld\"]]", expiration);
    }
    if (!store_contract_ev_build(t, hx(0, n), PUBKEY, NOW - 1000 + n, 1, tags, "")) {
        return false;
    }
    /* Checked at time 0 so that every expiration is accepted here. */
    const char *reason = NULL;
    if (nip40_check(&t->ev, 0, &reason) < 0) {
        buf_fini(&t->json);
        return false;
    }
    return true;
}

static int write_all(struct store_conn *c, struct tev *t, size_t n)
{
    enum store_status st[STORE_CONTRACT_MAX_BATCH];
    int rc = store_contract_write(c, t, n, st);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = st[i] == STORE_STORED ? 0 : OST_EIO;
    }
    return rc;
}

/* Events returned and counted for the filters (text of a REQ's filters). */
static int returned(struct store_conn *c, const char *filters, size_t *n_query, uint64_t *n_count)
{
    unsigned ids[64];
    int rc = store_contract_id_list(c, filters, ids, 64, n_query, NULL);
    return rc == 0 ? store_contract_count(c, filters, n_count) : rc;
}

/* Every filter shape, so each query builder path hides expired events. */
static const char *const shapes[] = {
    "{}",
    "{\"kinds\":[1]}",
    "{\"authors\":[\"" PUBKEY "\"]}",
    "{\"authors\":[\"" PUBKEY "\"],\"kinds\":[1]}",
    "{\"#t\":[\"x\"]}",
    "{\"#t\":[\"x\",\"y\"]}",
    /* ids of every event the tests write */
    "{\"ids\":["
    "\"0000000000000000000000000000000000000000000000000000000000000001\","
    "\"0000000000000000000000000000000000000000000000000000000000000002\","
    "\"0000000000000000000000000000000000000000000000000000000000000003\","
    "\"0000000000000000000000000000000000000000000000000000000000000004\","
    "\"0000000000000000000000000000000000000000000000000000000000000005\","
    "\"0000000000000000000000000000000000000000000000000000000000000006\","
    "\"0000000000000000000000000000000000000000000000000000000000000007\","
    "\"0000000000000000000000000000000000000000000000000000000000000008\"]}",
    "{\"kinds\":[1]},{\"#t\":[\"x\"]}", /* two filters: the merge path */
    "{\"since\":1699999000,\"limit\":20}",
};

/* Checks that every shape returns and counts want events at the store's
 * clock. */
static void check_visible(struct store_fx *fx, size_t want)
{
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        size_t n_query = 0;
        uint64_t n_count = 0;
        CHECK_OK(returned(fx->r, shapes[i], &n_query, &n_count));
        if (n_query != want || n_count != want) {
            fprintf(stderr, "  filters %s at %lld: %zu returned, %llu counted, want %zu\n",
                    shapes[i], (long long)atomic_load(&fx->now), n_query,
                    (unsigned long long)n_count, want);
        }
        CHECK_INT_EQ(n_query, want);
        CHECK_INT_EQ(n_count, want);
    }
}

/* check_visible as a bool, for use inside CHECK. */
static bool visible(struct store_fx *fx, size_t want)
{
    int failed_before = check_failed;
    check_failed = 0;
    check_visible(fx, want);
    bool ok = !check_failed;
    check_failed = failed_before;
    return ok;
}

static void test_store_hides_expired(void)
{
    struct store_fx fx;
    struct tev t[3];
    CHECK_OK(store_contract_fx_init(&fx, NOW));
    /* Event 1 never expires, 2 expires at NOW + 1, 3 at NOW + 2. */
    CHECK(tev_expiring(&t[0], 1, 0));
    CHECK(tev_expiring(&t[1], 2, NOW + 1));
    CHECK(tev_expiring(&t[2], 3, NOW + 2));
    CHECK_OK(write_all(fx.w, t, 3));
    CHECK(visible(&fx, 3));
    atomic_store(&fx.now, NOW + 1); /* event 2 expires at this second */
    CHECK(visible(&fx, 2));
    atomic_store(&fx.now, NOW + 2);
    CHECK(visible(&fx, 1));
    /* Still stored until purged: the clock going back shows them again. */
    atomic_store(&fx.now, NOW);
    CHECK(visible(&fx, 3));
    /* An event stored after it expired is stored, and hidden. */
    struct tev late;
    CHECK(tev_expiring(&late, 4, NOW - 5));
    CHECK_OK(write_all(fx.w, &late, 1));
    store_contract_evs_free(&late, 1);
    CHECK(visible(&fx, 3));
    atomic_store(&fx.now, NOW - 5);
    CHECK(visible(&fx, 3));
    atomic_store(&fx.now, NOW - 6);
    CHECK(visible(&fx, 4));
    store_contract_evs_free(t, 3);
    store_fx_fini(&fx);
}

static void test_purge(void)
{
    struct store_fx fx;
    struct tev t[8];
    CHECK_OK(store_contract_fx_init(&fx, NOW));
    /* 1..6 expire at NOW + 6 .. NOW + 1, so the order they were written in
     * is not that of their expiration; 7 and 8 never expire. */
    for (unsigned i = 0; i < 8; i++) {
        CHECK(tev_expiring(&t[i], i + 1, i < 6 ? NOW + 6 - i : 0));
    }
    CHECK_OK(write_all(fx.w, t, 8));
    /* Nothing has expired yet: nothing goes. */
    CHECK_INT_EQ(store_purge_expired(fx.w, 100), 0);
    CHECK_INT_EQ(store_purge_expired(fx.w, 0), 0);
    /* Readers may not purge. */
    CHECK_INT_EQ(store_purge_expired(fx.r, 100), OST_EINVAL);
    CHECK(visible(&fx, 8));
    /* At NOW + 3 three have expired (at + 1, + 2 and + 3); two per pass,
     * the earliest first: back at NOW + 2, only the one expiring at
     * NOW + 3 is still stored among them. */
    atomic_store(&fx.now, NOW + 3);
    CHECK_INT_EQ(store_purge_expired(fx.w, 2), 2);
    atomic_store(&fx.now, NOW + 2);
    CHECK(visible(&fx, 6));
    atomic_store(&fx.now, NOW + 3);
    CHECK_INT_EQ(store_purge_expired(fx.w, 2), 1);
    CHECK_INT_EQ(store_purge_expired(fx.w, 2), 0);
    CHECK(visible(&fx, 5));
    /* Gone for good: the clock going back does not bring them back. */
    atomic_store(&fx.now, NOW);
    CHECK(visible(&fx, 5));
    /* Far later only the two without an expiration remain. */
    atomic_store(&fx.now, NOW + 1000);
    CHECK_INT_EQ(store_purge_expired(fx.w, 100), 3);
    CHECK(visible(&fx, 2));
    atomic_store(&fx.now, NOW);
    CHECK(visible(&fx, 2));
    /* A purged event may be stored again (it is no longer a duplicate). */
    CHECK_OK(write_all(fx.w, &t[5], 1));
    CHECK(visible(&fx, 3));
    store_contract_evs_free(t, 8);
    store_fx_fini(&fx);
}

const struct store_contract_test store_contract_nip40_tests[] = {
    STORE_CONTRACT_TEST(store_hides_expired),
    STORE_CONTRACT_TEST(purge),
};
const size_t store_contract_nip40_n =
    sizeof(store_contract_nip40_tests) / sizeof(store_contract_nip40_tests[0]);
