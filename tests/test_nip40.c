/*
 * Tests for NIP-40 expiration: the tag (nips/nip40), the publish rule at
 * now - 1, now and now + 1, and the store's part: the expiration is stored,
 * queries and counts leave expired events out, store_purge_expired deletes
 * them in bounded passes, the storage thread purges on its interval, and a
 * schema version 1 database is upgraded to version 2 with the expiration
 * of its events filled in. Time is the store's injected clock, never a
 * sleep; each store lives in its own temporary directory.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "common/buf.h"
#include "common/err.h"
#include "filters/filter.h"
#include "nips/nip40.h"
#include "store/batcher.h"
#include "store/store.h"
#include "store/store_sqlite.h"
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

/* ---- the store ---- */

static int write_all(struct store_conn *c, struct tev *t, size_t n)
{
    const struct event *evs[16] = { 0 };
    struct store_result res[16];
    if (n > 16) {
        return OST_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        evs[i] = &t[i].ev;
    }
    int rc = store_write_batch(c, evs, n, res);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = res[i].status == STORE_STORED ? 0 : OST_EIO;
    }
    return rc;
}

static int count_hit(void *ud, const char *json, size_t len)
{
    (void)json;
    (void)len;
    (*(size_t *)ud)++;
    return 0;
}

/* Events returned and counted for the filters (text of a REQ's filters). */
static int returned(struct store_conn *c, const char *filters, size_t *n_query, uint64_t *n_count)
{
    struct filter_limits lim;
    struct filter_set *set = NULL;
    const char *reason = NULL;
    filter_limits_default(&lim);
    int rc = filter_set_parse(filters, strlen(filters), &lim, 16, &set, &reason);
    *n_query = 0;
    rc = rc == 0 ? store_query_set(c, set, count_hit, n_query, NULL) : rc;
    rc = rc == 0 ? store_count_set(c, set, n_count) : rc;
    filter_set_free(set);
    return rc;
}

/* The number of rows of the events and tags tables, expired or not. */
static int64_t rows(const char *path, const char *table)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char sql[64];
    int64_t n = -1;
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Every filter shape, so each query builder path hides expired events. */
static const char *const shapes[] = {
    "{}", "{\"kinds\":[1]}", "{\"authors\":[\"" PUBKEY "\"]}",
    "{\"authors\":[\"" PUBKEY "\"],\"kinds\":[1]}", "{\"#t\":[\"x\"]}", "{\"#t\":[\"x\",\"y\"]}",
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
};

/* Event 1 never expires, 2 expires at NOW + 1, 3 at NOW + 2. */
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

static void test_store_hides_expired(void)
{
    struct store_fx fx;
    struct tev t[3];
    CHECK_OK(store_fx_init(&fx, "nip40", false, NOW));
    CHECK(tev_expiring(&t[0], 1, 0));
    CHECK(tev_expiring(&t[1], 2, NOW + 1));
    CHECK(tev_expiring(&t[2], 3, NOW + 2));
    CHECK_OK(write_all(fx.w, t, 3));
    check_visible(&fx, 3);
    atomic_store(&fx.now, NOW + 1); /* event 2 expires at this second */
    check_visible(&fx, 2);
    atomic_store(&fx.now, NOW + 2);
    check_visible(&fx, 1);
    /* Still stored until purged; the clock going back shows them again. */
    CHECK_INT_EQ(rows(fx.path, "events"), 3);
    atomic_store(&fx.now, NOW);
    check_visible(&fx, 3);
    for (size_t i = 0; i < 3; i++) {
        buf_fini(&t[i].b);
    }
    store_fx_fini(&fx);
}

static void test_purge(void)
{
    struct store_fx fx;
    struct tev t[8];
    CHECK_OK(store_fx_init(&fx, "nip40", false, NOW));
    /* 1 and 2 never expire; 3..8 expire at NOW + 1 .. NOW + 6. */
    for (unsigned i = 0; i < 8; i++) {
        CHECK(tev_expiring(&t[i], i + 1, i < 2 ? 0 : NOW + i - 1));
    }
    CHECK_OK(write_all(fx.w, t, 8));
    CHECK_INT_EQ(rows(fx.path, "tags"), 8);
    /* Nothing has expired yet: nothing goes. */
    CHECK_INT_EQ(store_purge_expired(fx.w, 100), 0);
    CHECK_INT_EQ(store_purge_expired(fx.w, 0), 0);
    /* Readers may not purge. */
    CHECK_INT_EQ(store_purge_expired(fx.r, 100), OST_EINVAL);
    /* At NOW + 3 three have expired (at + 1, + 2 and + 3); two per pass. */
    atomic_store(&fx.now, NOW + 3);
    CHECK_INT_EQ(store_purge_expired(fx.w, 2), 2);
    CHECK_INT_EQ(rows(fx.path, "events"), 6);
    CHECK_INT_EQ(store_purge_expired(fx.w, 2), 1);
    CHECK_INT_EQ(store_purge_expired(fx.w, 2), 0);
    CHECK_INT_EQ(rows(fx.path, "events"), 5);
    CHECK_INT_EQ(rows(fx.path, "tags"), 5);
    check_visible(&fx, 5);
    /* Far later only the two without an expiration remain, tags included. */
    atomic_store(&fx.now, NOW + 1000);
    CHECK_INT_EQ(store_purge_expired(fx.w, 100), 3);
    CHECK_INT_EQ(rows(fx.path, "events"), 2);
    CHECK_INT_EQ(rows(fx.path, "tags"), 2);
    check_visible(&fx, 2);
    /* A purged event may be stored again (it is no longer a duplicate). */
    CHECK_OK(write_all(fx.w, &t[2], 1));
    for (size_t i = 0; i < 8; i++) {
        buf_fini(&t[i].b);
    }
    store_fx_fini(&fx);
}

/* The statements of a purge pass (as in store_sqlite.c) find their rows
 * through the partial index and tags_ev: no scan. */
static void test_purge_plan(void)
{
    struct store_fx fx;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    struct buf plan;
    buf_init(&plan);
    CHECK_OK(store_fx_init(&fx, "nip40", false, NOW));
    CHECK_INT_EQ(sqlite3_open(fx.path, &db), SQLITE_OK);
    static const char *const sql[] = {
        "EXPLAIN QUERY PLAN DELETE FROM events WHERE rowid IN (SELECT rowid FROM events INDEXED BY"
        " events_expiration WHERE expiration IS NOT NULL AND expiration <= 5 ORDER BY expiration"
        " LIMIT 10)",
        "EXPLAIN QUERY PLAN DELETE FROM tags WHERE ev IN (SELECT rowid FROM events INDEXED BY"
        " events_expiration WHERE expiration IS NOT NULL AND expiration <= 5 ORDER BY expiration"
        " LIMIT 10)",
    };
    for (size_t i = 0; i < 2; i++) {
        buf_reset(&plan);
        CHECK_INT_EQ(sqlite3_prepare_v2(db, sql[i], -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
            buf_printf(&plan, "%s\n", (const char *)sqlite3_column_text(st, 3));
        }
        sqlite3_finalize(st);
        const char *text = buf_cstr(&plan);
        CHECK(text != NULL);
        if (strstr(text, "SCAN") != NULL || strstr(text, "events_expiration (") == NULL) {
            fprintf(stderr, "  %s\n%s", sql[i], text);
        }
        CHECK(strstr(text, "INDEX events_expiration (expiration>? AND expiration<?)") != NULL);
        CHECK(strstr(text, "SCAN") == NULL);
    }
    sqlite3_close(db);
    buf_fini(&plan);
    store_fx_fini(&fx);
}

/* Puts a current database back into the shape of version 1: no
 * expiration column, no index on it, no deletion records (version 3), no
 * search index (version 4), user_version 1. */
static void downgrade_to_v1(const char *path)
{
    sqlite3 *db = NULL;
    CHECK_INT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT_EQ(sqlite3_exec(db,
                              "DROP TRIGGER events_fts_insert; DROP TRIGGER events_fts_delete;"
                              " DROP TABLE events_fts;"
                              " DROP TABLE deleted_ids; DROP TABLE deleted_addrs;"
                              " DROP TABLE vanished; DROP INDEX events_expiration;"
                              " ALTER TABLE events DROP COLUMN expiration;"
                              " PRAGMA user_version = 1",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    sqlite3_close(db);
}

static void test_migration_v1_to_v2(void)
{
    struct store_fx fx;
    struct tev t[5];
    CHECK_OK(store_fx_init(&fx, "nip40", false, NOW));
    CHECK_INT_EQ(store_sqlite_schema_version(fx.w), STORE_SQLITE_SCHEMA_VERSION);
    /* Written while the store knew nothing of expiration: ev.expiration 0. */
    CHECK(tev_make(&t[0], 1, "[[\"t\",\"x\"]]"));
    CHECK(tev_make(&t[1], 2, "[[\"t\",\"x\"],[\"expiration\",\"1700000001\"]]"));
    CHECK(tev_make(&t[2], 3, "[[\"expiration\",\"1700000002\"],[\"t\",\"x\"]]"));
    /* Values nip40_check refuses never expire. */
    CHECK(tev_make(&t[3], 4, "[[\"t\",\"x\"],[\"expiration\",\"soon\"]]"));
    CHECK(tev_make(&t[4], 5, "[[\"t\",\"x\"],[\"expiration\",\"1\"],[\"expiration\",\"x\"]]"));
    CHECK_OK(write_all(fx.w, t, 5));
    store_fx_close(&fx);
    downgrade_to_v1(fx.path);

    CHECK_OK(store_fx_open(&fx));
    CHECK_INT_EQ(store_sqlite_schema_version(fx.w), STORE_SQLITE_SCHEMA_VERSION);
    CHECK_INT_EQ(rows(fx.path, "events"), 5);
    /* At NOW: event 5 (expired at 1) is hidden; 2 and 3 not yet. */
    check_visible(&fx, 4);
    atomic_store(&fx.now, NOW + 2);
    check_visible(&fx, 2);
    CHECK_INT_EQ(store_purge_expired(fx.w, 100), 3);
    CHECK_INT_EQ(rows(fx.path, "events"), 2);
    /* Opening the upgraded database again changes nothing. */
    store_fx_close(&fx);
    CHECK_OK(store_fx_open(&fx));
    CHECK_INT_EQ(store_sqlite_schema_version(fx.r), STORE_SQLITE_SCHEMA_VERSION);
    CHECK_INT_EQ(rows(fx.path, "events"), 2);
    for (size_t i = 0; i < 5; i++) {
        buf_fini(&t[i].b);
    }
    store_fx_fini(&fx);
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
    CHECK_INT_EQ(rows(fx.path, "events"), 5);
    /* Five expire: passes of two run back to back until all are gone. */
    atomic_store(&fx.now, NOW + 100);
    CHECK(wait_stats(b, 5, 5));
    struct batcher_stats st;
    batcher_stats(b, &st);
    CHECK(st.purge_passes >= 3);
    batcher_free(b);
    CHECK_INT_EQ(atomic_load(&n_done), 5);
    CHECK_INT_EQ(rows(fx.path, "events"), 0);
    store_fx_fini(&fx);
}

CHECK_MAIN({ "parse", test_parse }, { "publish_rule", test_publish_rule },
           { "reasons", test_reasons }, { "store_hides_expired", test_store_hides_expired },
           { "purge", test_purge }, { "purge_plan", test_purge_plan },
           { "migration_v1_to_v2", test_migration_v1_to_v2 },
           { "batcher_purges", test_batcher_purges })
