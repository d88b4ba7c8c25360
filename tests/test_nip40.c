/*
 * Tests for NIP-40 expiration: the tag (nips/nip40), the publish rule at
 * now - 1, now and now + 1, and the storage thread purging on its
 * interval. What the store does with expirations (hidden from the second
 * they pass, purged in bounded passes) is part of the storage contract
 * (tests/store_contract_nip40.c), run on every backend; the SQLite rows,
 * purge plan and schema upgrade are in tests/test_store_sqlite.c. Time is
 * the store's injected clock, never a sleep.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include "check.h"
#include "common/buf.h"
#include "common/err.h"
#include "nips/nip40.h"
#include "store/batcher.h"
#include "store/store.h"
#include "store_fx.h"
#include "validate/event.h"

#define SIG_ZEROS                                                      \
    "0000000000000000000000000000000000000000000000000000000000000000" \
    "0000000000000000000000000000000000000000000000000000000000000000"
#define PUBKEY "00000000000000000000000000000000000000000000000000000000000000aa"

#define NOW    1700000000
#define WAIT_S 120 /* deadline for any wait; only reached when a test fails */

/* An event whose json lives in b. */
struct tev {
    struct buf b;
    struct event ev;
};

/* Event number n (its id ends in n) with the given tags, parsed and put
 * through nip40_check at now when is_checked, as the relay does. */
static bool tev_make(struct tev *t, unsigned n, const char *tags)
{
    const char *reason = NULL;
    buf_init(&t->b);
    buf_printf(&t->b,
               "{\"id\":\"%056x%08x\",\"pubkey\":\"" PUBKEY "\",\"created_at\":%u,\"kind\":1,"
               "\"tags\":%s,\"content\":\"\",\"sig\":\"" SIG_ZEROS "\"}",
               0, n, NOW - 1000 + n, tags);
    if (buf_cstr(&t->b) == NULL || event_parse(t->b.data, t->b.len, NULL, &t->ev, &reason) < 0) {
        fprintf(stderr, "  event_parse: %s\n", reason != NULL ? reason : "out of memory");
        buf_fini(&t->b);
        return false;
    }
    return true;
}

/* Event n expiring at expiration (0: no tag), with ev.expiration set the
 * way nip40_check sets it. */
static bool tev_expiring(struct tev *t, unsigned n, long long expiration)
{
    char tags[96];
    if (expiration == 0) {
        snprintf(tags, sizeof(tags), "[[\"t\",\"x\"]]");
    } else {
        snprintf(tags, sizeof(tags), "[[\"t\",\"x\"],[\"expiration\",\"%lld\"]]", expiration);
    }
    if (!tev_make(t, n, tags)) {
        return false;
    }
    const char *reason = NULL;
    /* Checked at time 0 so that every expiration is accepted here. */
    if (nip40_check(&t->ev, 0, &reason) < 0) {
        buf_fini(&t->b);
        return false;
    }
    return true;
}

/* ---- the tag and the publish rule ---- */

static void test_parse(void)
{
    static const struct {
        const char *tags;
        int rc;
        bool has;
        int64_t expiration;
    } cases[] = {
        { "[]", 0, false, 0 },
        { "[[\"expiration\",\"1600000000\"]]", 0, true, 1600000000 },
        { "[[\"expiration\",\"0\"]]", 0, true, 0 },
        { "[[\"expiration\",\"9223372036854775807\"]]", 0, true, INT64_MAX },
        { "[[\"expiration\",\"\\u0031\\u0032\"]]", 0, true, 12 }, /* escaped "12" */
        { "[[\"\\u0065xpiration\",\"5\"]]", 0, true, 5 },         /* escaped name */
        { "[[\"t\",\"a\"],[\"expiration\",\"7\",\"extra\"]]", 0, true, 7 },
        { "[[\"expiration\",\"7\"],[\"expiration\",\"x\"]]", 0, true, 7 }, /* the first decides */
        { "[[\"expirations\",\"x\"]]", 0, false, 0 },
        { "[[\"expiration\",\"9223372036854775808\"]]", OST_EREJECT, false, 0 },
        { "[[\"expiration\",\"x\"],[\"expiration\",\"7\"]]", OST_EREJECT, false, 0 },
        { "[[\"expiration\",\"\"]]", OST_EREJECT, false, 0 },
        { "[[\"expiration\"]]", OST_EREJECT, false, 0 },
        { "[[\"expiration\",\"-5\"]]", OST_EREJECT, false, 0 },
        { "[[\"expiration\",\"+5\"]]", OST_EREJECT, false, 0 },
        { "[[\"expiration\",\"1.5\"]]", OST_EREJECT, false, 0 },
        { "[[\"expiration\",\"1e9\"]]", OST_EREJECT, false, 0 },
        { "[[\"expiration\",\" 5\"]]", OST_EREJECT, false, 0 },
        { "[[\"expiration\",\"soon\"]]", OST_EREJECT, false, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tev t;
        bool has = false;
        int64_t expiration = -1;
        const char *reason = NULL;
        CHECK(tev_make(&t, 1, cases[i].tags));
        int rc = nip40_parse(&t.ev, &has, &expiration, &reason);
        if (rc != cases[i].rc) {
            fprintf(stderr, "  tags %s\n", cases[i].tags);
        }
        CHECK_INT_EQ(rc, cases[i].rc);
        if (rc == 0) {
            CHECK(has == cases[i].has);
            if (has) {
                CHECK_INT_EQ(expiration, cases[i].expiration);
            }
        } else {
            CHECK(reason != NULL);
            CHECK_STR_EQ(reason, nip40_reasons[0]);
        }
        buf_fini(&t.b);
    }
}

/* Runs nip40_check on a fresh event expiring at expiration, at now. */
static int check_at(const char *tags, int64_t now, const char **reason, int64_t *stored)
{
    struct tev t;
    if (!tev_make(&t, 1, tags)) {
        return OST_EINVAL;
    }
    t.ev.expiration = -1;
    int rc = nip40_check(&t.ev, now, reason);
    *stored = t.ev.expiration;
    buf_fini(&t.b);
    return rc;
}

static void test_publish_rule(void)
{
    const char *tags = "[[\"expiration\",\"1700000000\"]]";
    const char *reason = NULL;
    int64_t stored = 0;
    /* Expired at the second of its expiration and after; alive before. */
    CHECK_INT_EQ(check_at(tags, NOW, &reason, &stored), OST_EREJECT);
    CHECK_STR_EQ(reason, "invalid: event has expired");
    CHECK_INT_EQ(check_at(tags, NOW + 1, &reason, &stored), OST_EREJECT);
    CHECK_STR_EQ(reason, "invalid: event has expired");
    reason = NULL;
    CHECK_OK(check_at(tags, NOW - 1, &reason, &stored));
    CHECK(reason == NULL);
    CHECK_INT_EQ(stored, NOW);
    /* No tag: accepted, and the store sees no expiration. */
    CHECK_OK(check_at("[]", NOW, &reason, &stored));
    CHECK_INT_EQ(stored, 0);
    /* A bad value is refused whatever the time. */
    CHECK_INT_EQ(check_at("[[\"expiration\",\"x\"]]", NOW, &reason, &stored), OST_EREJECT);
    CHECK_STR_EQ(reason, nip40_reasons[0]);
    CHECK(nip40_is_expired(NOW, NOW));
    CHECK(nip40_is_expired(NOW - 1, NOW));
    CHECK(!nip40_is_expired(NOW + 1, NOW));
}

/* Every reason is produced by some input (test_parse and test_publish_rule
 * reach both); the table ends with NULL. */
static void test_reasons(void)
{
    size_t n = 0;
    while (nip40_reasons[n] != NULL) {
        CHECK(strncmp(nip40_reasons[n], "invalid: ", 9) == 0);
        n++;
    }
    CHECK_INT_EQ(n, 2);
    CHECK_STR_EQ(nip40_reasons[1], "invalid: event has expired");
}

/* ---- the storage thread ---- */

static void on_done(void *ud, struct batcher_req *req, const struct store_result *res)
{
    (void)res;
    atomic_fetch_add((_Atomic int *)ud, 1);
    free(req->json);
}

/* Waits until the batcher has answered at least events requests and
 * purged at least purged events, or the deadline passes. It polls, since
 * the batcher offers no notification for a purge. */
static bool wait_stats(struct batcher *b, uint64_t events, uint64_t purged)
{
    struct batcher_stats st;
    time_t deadline = time(NULL) + WAIT_S;
    const struct timespec tick = { .tv_nsec = 5 * 1000 * 1000 };
    for (;;) {
        batcher_stats(b, &st);
        if (st.events >= events && st.purged >= purged) {
            return true;
        }
        if (time(NULL) > deadline) {
            return false;
        }
        nanosleep(&tick, NULL);
    }
}

static void test_batcher_purges(void)
{
    struct store_fx fx;
    struct batcher *b = NULL;
    _Atomic int n_done = 0;
    CHECK_OK(store_fx_init(&fx, "nip40", false, NOW));
    struct batcher_config cfg = { .batch_wait_ms = 0, .purge_interval_ms = 10, .purge_max = 2 };
    CHECK_OK(batcher_new(fx.s, &cfg, on_done, (void *)&n_done, &b));
    for (unsigned i = 0; i < 5; i++) {
        struct tev t;
        CHECK(tev_expiring(&t, i + 1, NOW + 1 + i));
        struct batcher_req req = { .json = t.b.data, .len = t.b.len, .ev = t.ev };
        CHECK_OK(batcher_submit_take(b, &req)); /* the json moves with req */
    }
    /* All five stored; nothing expired yet, so passes delete nothing. */
    CHECK(wait_stats(b, 5, 0));
    CHECK_INT_EQ(store_fx_sqlite_rows(fx.path, "events"), 5);
    /* Five expire: passes of two run back to back until all are gone. */
    atomic_store(&fx.now, NOW + 100);
    CHECK(wait_stats(b, 5, 5));
    struct batcher_stats st;
    batcher_stats(b, &st);
    CHECK(st.purge_passes >= 3);
    batcher_free(b);
    CHECK_INT_EQ(atomic_load(&n_done), 5);
    CHECK_INT_EQ(store_fx_sqlite_rows(fx.path, "events"), 0);
    store_fx_fini(&fx);
}

CHECK_MAIN({ "parse", test_parse }, { "publish_rule", test_publish_rule },
           { "reasons", test_reasons }, { "batcher_purges", test_batcher_purges })
