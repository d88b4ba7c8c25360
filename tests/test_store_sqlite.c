/*
 * Tests of what only the SQLite backend does; what every backend does is
 * the storage contract (tests/store_contract*.c). Here: the file and its
 * directory, the schema version, a newer schema refused and every upgrade
 * (1 -> 2 for NIP-40, 2 -> 3 for NIP-09/62, 3 -> 4 for NIP-50), query plans
 * that never scan a table (fixed shapes, the differential test's random
 * shapes, the purge and the full-text search), the rows a purge removes,
 * the FTS5 index kept in step with the events, the bm25 relevance order,
 * and the store's reason table. Each test works in its own temporary
 * directory.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "common/buf.h"
#include "filters/filter.h"
#include "store/store.h"
#include "store/store_sqlite.h"
#include "store_contract.h"
#include "store_fx.h"
#include "validate/event.h"

/* hx(1, 1) and hx(1, 2), for filters written as literals. */
#define H1   "0100000000000000000000000000000000000000000000000000000000000001"
#define H2   "0100000000000000000000000000000000000000000000000000000000000002"
#define H0_1 "0000000000000000000000000000000000000000000000000000000000000001"
#define PK_A "00000000000000000000000000000000000000000000000000000000000000aa"
#define PK_B "00000000000000000000000000000000000000000000000000000000000000bb"
#define T    1700000000

#define tev       store_contract_ev
#define tevs_free store_contract_evs_free

/* Event id number n (hx(0, n)) of pk with content (JSON string text). */
static bool tev_make(struct tev *t, unsigned n, const char *pk, unsigned kind, long long created_at,
                     const char *tags, const char *content)
{
    return store_contract_ev_build(t, hx(0, n), pk, created_at, kind, tags, content);
}

/* Makes and writes one event (with what it deletes, NIP-09/62, and its
 * expiration, NIP-40); returns its status, or STORE_FAILED. */
static enum store_status put_exp(struct store_fx *fx, unsigned n, const char *pk, unsigned kind,
                                 long long created_at, const char *tags, const char *content,
                                 int64_t expiration)
{
    struct tev t;
    enum store_status st = STORE_FAILED;
    if (!tev_make(&t, n, pk, kind, created_at, tags, content)) {
        return STORE_FAILED;
    }
    t.ev.expiration = expiration;
    if (store_contract_write_del(fx->w, &t, 1, &st, NULL) < 0) {
        st = STORE_FAILED;
    }
    buf_fini(&t.json);
    return st;
}

static enum store_status put(struct store_fx *fx, unsigned n, const char *pk, unsigned kind,
                             long long created_at, const char *tags)
{
    return put_exp(fx, n, pk, kind, created_at, tags, "", 0);
}

/* Whether a query for id number n returns it; a failed query fails the
 * test. */
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

static int exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    rc = rc == SQLITE_OK ? sqlite3_exec(db, sql, NULL, NULL, NULL) : rc;
    sqlite3_close(db);
    return rc;
}

/* Appends the query plan of the lone filter in text to plan. */
static int plan_of(struct store_conn *c, const char *text, struct buf *plan)
{
    struct filter_set *set = NULL;
    int rc = store_contract_parse_set(&set, "%s", text);
    buf_reset(plan);
    rc = rc == 0 ? store_sqlite_query_plan(c, filter_set_at(set, 0), plan) : rc;
    filter_set_free(set);
    return rc == 0 && buf_cstr(plan) == NULL ? OST_ENOMEM : rc;
}

static void test_open(void)
{
    struct store_fx fx;
    struct stat st;
    CHECK_OK(store_fx_init(&fx, "store", true, 0));
    /* The data directory did not exist: the open created it. */
    CHECK(stat(fx.path, &st) == 0);
    CHECK_STR_EQ(store_backend_name(fx.s), "sqlite");
    CHECK_INT_EQ(store_sqlite_schema_version(fx.w), STORE_SQLITE_SCHEMA_VERSION);
    CHECK_INT_EQ(store_sqlite_schema_version(fx.r), STORE_SQLITE_SCHEMA_VERSION);
    store_fx_fini(&fx);

    struct store *s = NULL;
    struct store_options opt = { .backend = STORE_BACKEND_SQLITE };
    opt.sqlite.path = "";
    CHECK_INT_EQ(store_open(&opt, &s), OST_EINVAL);
    opt.sqlite.path = ":memory:";
    CHECK_INT_EQ(store_open(&opt, &s), OST_EINVAL);
    /* A parent that cannot be created. */
    opt.sqlite.path = "/proc/ost-no-such-dir/x.db";
    CHECK_INT_EQ(store_open(&opt, &s), OST_EIO);
}

/* The checkpointer thread copies the log into the database once it holds
 * checkpoint_pages pages, while the writer goes on; nothing is lost. */
static void test_checkpointer(void)
{
    struct store_fx fx;
    CHECK_OK(store_fx_init(&fx, "store", false, 0));
    store_fx_close(&fx);
    struct store_options opt = { .backend = STORE_BACKEND_SQLITE };
    opt.sqlite.path = fx.path;
    opt.sqlite.checkpoint_pages = 8;
    CHECK_OK(store_open(&opt, &fx.s));
    CHECK_OK(store_conn_open(fx.s, STORE_ROLE_WRITER, &fx.w));
    CHECK_OK(store_conn_open(fx.s, STORE_ROLE_READER, &fx.r));
    CHECK_INT_EQ(store_sqlite_checkpoints(fx.s), 0);
    for (unsigned i = 1; i <= 200; i++) {
        CHECK_INT_EQ(put(&fx, i, PK_A, 1, T + i, "[[\"t\",\"checkpoint\"]]"), STORE_STORED);
    }
    for (int waited = 0; store_sqlite_checkpoints(fx.s) == 0 && waited < 10000; waited += 10) {
        usleep(10000);
    }
    CHECK(store_sqlite_checkpoints(fx.s) >= 1);
    uint64_t n = 0;
    CHECK_OK(store_contract_count(fx.r, "{\"#t\":[\"checkpoint\"]}", &n));
    CHECK_INT_EQ(n, 200);
    store_fx_fini(&fx);
}

/* A log that stays below every threshold is still copied once writes
 * stop for a moment, so readers can go back to the mapped database file. */
static void test_checkpoint_when_quiet(void)
{
    struct store_fx fx;
    CHECK_OK(store_fx_init(&fx, "store", false, 0));
    store_fx_close(&fx);
    struct store_options opt = { .backend = STORE_BACKEND_SQLITE };
    opt.sqlite.path = fx.path;
    opt.sqlite.checkpoint_pages = 1000000;
    CHECK_OK(store_open(&opt, &fx.s));
    CHECK_OK(store_conn_open(fx.s, STORE_ROLE_WRITER, &fx.w));
    CHECK_OK(store_conn_open(fx.s, STORE_ROLE_READER, &fx.r));
    CHECK_INT_EQ(put(&fx, 1, PK_A, 1, T, "[]"), STORE_STORED);
    for (int waited = 0; store_sqlite_checkpoints(fx.s) == 0 && waited < 10000; waited += 10) {
        usleep(10000);
    }
    CHECK_INT_EQ(store_sqlite_checkpoints(fx.s), 1);
    /* Nothing new: no more checkpoints. */
    usleep(3 * STORE_SQLITE_CKPT_IDLE_MS * 1000);
    CHECK_INT_EQ(store_sqlite_checkpoints(fx.s), 1);
    store_fx_fini(&fx);
}

/* Snapshot number of a query on c. */
static int snapshot(struct store_conn *c, uint64_t *seq)
{
    struct store_snapshot snap = { 0 };
    unsigned ids[4];
    size_t n;
    int rc = store_contract_id_list(c, "{\"limit\":1}", ids, 4, &n, &snap);
    *seq = snap.seq;
    return rc;
}

static void test_restart(void)
{
    struct store_fx fx;
    struct tev t[3];
    struct store_result res[3];
    uint64_t snap = 0;
    CHECK_OK(store_fx_init(&fx, "store", true, 0));
    /* An empty store's snapshot is 0. */
    snap = 99;
    CHECK_OK(snapshot(fx.r, &snap));
    CHECK_INT_EQ(snap, 0);
    for (unsigned i = 0; i < 3; i++) {
        CHECK(tev_make(&t[i], i + 1, PK_A, 1, T + i, "[]", ""));
    }
    const struct event *evs[3] = { &t[0].ev, &t[1].ev, &t[2].ev };
    CHECK_OK(store_write_batch(fx.w, evs, 2, res));
    store_fx_close(&fx);
    CHECK_OK(store_fx_open(&fx));
    CHECK_INT_EQ(store_sqlite_schema_version(fx.r), STORE_SQLITE_SCHEMA_VERSION);
    /* The snapshot is the largest number stored, before and after writes. */
    CHECK_OK(snapshot(fx.r, &snap));
    CHECK_INT_EQ(snap, res[1].seq);
    CHECK_OK(store_write_batch(fx.w, evs + 2, 1, res + 2));
    CHECK(res[2].seq > res[1].seq);
    CHECK_OK(snapshot(fx.r, &snap));
    CHECK_INT_EQ(snap, res[2].seq);
    tevs_free(t, 3);
    store_fx_fini(&fx);
}

static void test_newer_schema_refused(void)
{
    struct store_fx fx;
    CHECK_OK(store_fx_init(&fx, "store", true, 0));
    store_fx_close(&fx);
    char sql[64];
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SQLITE_SCHEMA_VERSION + 1);
    CHECK_INT_EQ(exec_sql(fx.path, sql), SQLITE_OK);
    struct store_options opt = { .backend = STORE_BACKEND_SQLITE };
    opt.sqlite.path = fx.path;
    CHECK_INT_EQ(store_open(&opt, &fx.s), OST_EINVAL);
    CHECK(fx.s == NULL);
    /* The version this code writes is accepted. */
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STORE_SQLITE_SCHEMA_VERSION);
    CHECK_INT_EQ(exec_sql(fx.path, sql), SQLITE_OK);
    CHECK_OK(store_fx_open(&fx));
    store_fx_fini(&fx);
}

/* Plans of the main filter shapes: each is a SEARCH on the index named, and
 * no step scans a table or a whole index. */
static void test_query_plans(void)
{
    static const struct {
        const char *filter;
        const char *want;
        bool is_sorted; /* the index order is the result order: no sort step */
    } cases[] = {
        { "{\"ids\":[\"" H1 "\",\"" H2 "\"]}", "SEARCH events USING INDEX events_id (id=?)",
          false },
        { "{\"authors\":[\"" H1 "\"],\"kinds\":[1]}",
          "SEARCH events USING INDEX events_pubkey_kind (pubkey=? AND kind=?)", true },
        { "{\"authors\":[\"" H1 "\",\"" H2 "\"],\"kinds\":[1,7],\"since\":5}",
          "SEARCH events USING INDEX events_pubkey_kind (pubkey=? AND kind=? AND created_at>?)",
          false },
        { "{\"authors\":[\"" H1 "\"]}", "SEARCH events USING INDEX events_pubkey (pubkey=?)",
          true },
        { "{\"kinds\":[1]}", "SEARCH events USING INDEX events_kind (kind=?)", true },
        { "{\"kinds\":[1,7,30023]}", "SEARCH events USING INDEX events_kind (kind=?)", false },
        { "{\"#e\":[\"" H1 "\"]}", "SEARCH tags USING PRIMARY KEY (name=? AND value=?)", false },
        { "{\"#p\":[\"" H1 "\",\"" H2 "\"],\"kinds\":[1]}",
          "SEARCH tags USING PRIMARY KEY (name=? AND value=?)", false },
        { "{\"#t\":[\"nostr\"],\"#p\":[\"" H1 "\"],\"until\":9}",
          "SEARCH c USING PRIMARY KEY (name=? AND value=? AND created_at=? AND ev=?)", false },
        { "{\"since\":10,\"until\":20,\"limit\":5}",
          "SEARCH events USING INDEX events_created (created_at>? AND created_at<?)", true },
        { "{\"until\":20,\"limit\":5}", "SEARCH events USING INDEX events_created (created_at<?)",
          true },
    };
    struct store_fx fx;
    struct buf plan;
    CHECK_OK(store_fx_init(&fx, "store", true, 0));
    buf_init(&plan);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK_OK(plan_of(fx.w, cases[i].filter, &plan));
        const char *text = plan.data;
        if (strstr(text, cases[i].want) == NULL || strstr(text, "SCAN") != NULL ||
            (cases[i].is_sorted && strstr(text, "TEMP B-TREE") != NULL)) {
            fprintf(stderr, "  filter %s:\n%s", cases[i].filter, text);
        }
        CHECK(strstr(text, cases[i].want) != NULL);
        CHECK(strstr(text, "SCAN") == NULL);
        CHECK(!cases[i].is_sorted || strstr(text, "TEMP B-TREE") == NULL);
    }
    /* One tag value is read in time order, and only the id tie-break sorts. */
    CHECK_OK(plan_of(fx.w, "{\"#e\":[\"" H1 "\"],\"limit\":3}", &plan));
    CHECK(strstr(plan.data, "USE TEMP B-TREE FOR RIGHT PART OF ORDER BY") != NULL);
    buf_fini(&plan);
    store_fx_fini(&fx);
}

/* True when f has a condition that an index can seek on. */
static bool has_seek(const struct filter *f)
{
    const uint8_t(*h)[32];
    const uint32_t *kinds;
    const struct filter_tag_cond *conds;
    int64_t t;
    return filter_ids(f, &h) || filter_authors(f, &h) || filter_kinds(f, &kinds) ||
           filter_tag_conds(f, &conds) || filter_since(f, &t) || filter_until(f, &t);
}

/* The differential test's random filters (store_contract_diff.c): every
 * one with a condition an index can seek on is planned without a scan. */
static void test_random_plans(void)
{
    uint64_t seed = 0x5eedf00d2024ull;
    uint8_t ids[64][32];
    struct store_fx fx;
    struct buf text, plan;
    CHECK_OK(store_fx_init(&fx, "store", true, 0));
    buf_init(&text);
    buf_init(&plan);
    for (unsigned i = 0; i < 64; i++) {
        for (unsigned k = 0; k < 32; k++) {
            ids[i][k] = (uint8_t)store_contract_rnd(&seed, 256);
        }
    }
    for (unsigned q = 0; q < 1000; q++) {
        struct filter_set *set = NULL;
        buf_reset(&text);
        store_contract_random_filter(&text, &seed, (const uint8_t(*)[32])ids, 64);
        CHECK(buf_cstr(&text) != NULL);
        CHECK_OK(store_contract_parse_set(&set, "%s", text.data));
        const struct filter *f = filter_set_at(set, 0);
        buf_reset(&plan);
        int rc = store_sqlite_query_plan(fx.r, f, &plan);
        bool is_ok = rc == 0 && buf_cstr(&plan) != NULL &&
                     (!has_seek(f) || strstr(plan.data, "SCAN") == NULL);
        if (!is_ok) {
            fprintf(stderr, "  filter %u: %s: rc %d\n%s", q, text.data, rc,
                    plan.len ? plan.data : "");
        }
        filter_set_free(set);
        CHECK(is_ok);
    }
    buf_fini(&text);
    buf_fini(&plan);
    store_fx_fini(&fx);
}

static void test_reasons(void)
{
    static const int codes[] = { 0,          OST_EEXIST,    OST_ENOMEM, OST_ENOSPC, OST_ETIMEDOUT,
                                 OST_EAGAIN, OST_ESHUTDOWN, OST_EINVAL, OST_EIO,    OST_EUNAVAIL,
                                 OST_EREJECT };
    struct store_result r;
    bool seen[16] = { false };
    size_t n = 0;
    while (store_reasons[n] != NULL) {
        n++;
    }
    CHECK(n <= 16);
    for (size_t i = 0; i <= sizeof(codes) / sizeof(codes[0]) + STORE_VANISHED; i++) {
        const char *reason;
        if (i < sizeof(codes) / sizeof(codes[0])) {
            reason = store_error_reason(codes[i]);
        } else {
            store_result_set(&r, (enum store_status)(i - sizeof(codes) / sizeof(codes[0])), 0);
            reason = r.reason;
            CHECK_INT_EQ(r.rc, 0);
        }
        for (size_t k = 0; k < n; k++) {
            seen[k] |= strcmp(reason, store_reasons[k]) == 0;
        }
    }
    for (size_t k = 0; k < n; k++) {
        CHECK(seen[k]);
        /* NIP-01 prefixes, "" for success. */
        CHECK(k == 0 || strncmp(store_reasons[k], "error: ", 7) == 0 ||
              strncmp(store_reasons[k], "duplicate: ", 11) == 0 ||
              strncmp(store_reasons[k], "blocked: ", 9) == 0);
    }
    store_result_set(&r, STORE_FAILED, OST_ENOSPC);
    CHECK_INT_EQ(r.rc, OST_ENOSPC);
    CHECK_STR_EQ(r.reason, "error: the database is full");
    store_result_set(&r, STORE_DELETED, 0);
    CHECK_STR_EQ(r.reason, "blocked: this event was deleted by its author");
    CHECK_INT_EQ(r.rc, 0);
    store_result_set(&r, STORE_VANISHED, 0);
    CHECK_STR_EQ(r.reason, "blocked: the author of this event asked to vanish from this relay");
}

/* ---- NIP-40: the rows an expired event keeps until purged ---- */

static void test_purge_rows(void)
{
    struct store_fx fx;
    CHECK_OK(store_fx_init(&fx, "store", false, T));
    /* 1 and 2 never expire; 3..8 expire at T + 1 .. T + 6. */
    for (unsigned i = 0; i < 8; i++) {
        CHECK_INT_EQ(
            put_exp(&fx, i + 1, PK_A, 1, T - 100 + i, "[[\"t\",\"x\"]]", "", i < 2 ? 0 : T + i - 1),
            STORE_STORED);
    }
    CHECK_INT_EQ(store_fx_sqlite_rows(fx.path, "tags"), 8);
    /* Hidden, but still stored until purged. */
    atomic_store(&fx.now, T + 3);
    uint64_t n = 0;
    CHECK_OK(store_contract_count(fx.r, "{}", &n));
    CHECK_INT_EQ(n, 5);
    CHECK_INT_EQ(store_fx_sqlite_rows(fx.path, "events"), 8);
    CHECK_INT_EQ(store_purge_expired(fx.w, 2), 2);
    CHECK_INT_EQ(store_fx_sqlite_rows(fx.path, "events"), 6);
    CHECK_INT_EQ(store_purge_expired(fx.w, 2), 1);
    CHECK_INT_EQ(store_fx_sqlite_rows(fx.path, "events"), 5);
    CHECK_INT_EQ(store_fx_sqlite_rows(fx.path, "tags"), 5);
    /* Far later only the two without an expiration remain, tags included. */
    atomic_store(&fx.now, T + 1000);
    CHECK_INT_EQ(store_purge_expired(fx.w, 100), 3);
    CHECK_INT_EQ(store_fx_sqlite_rows(fx.path, "events"), 2);
    CHECK_INT_EQ(store_fx_sqlite_rows(fx.path, "tags"), 2);
    store_fx_fini(&fx);
}

/* The statements of a purge pass (as in store_sqlite.c) find their rows
 * through the partial index, and delete each tag row by its key: no scan. */
static void test_purge_plan(void)
{
    static const struct {
        const char *sql;
        const char *want;
    } sql[] = {
        { "EXPLAIN QUERY PLAN SELECT rowid FROM events INDEXED BY events_expiration"
          " WHERE expiration IS NOT NULL AND expiration <= 5 ORDER BY expiration LIMIT 10",
          "INDEX events_expiration (expiration>? AND expiration<?)" },
        { "EXPLAIN QUERY PLAN DELETE FROM tags WHERE name = 't' AND value = x'00'"
          " AND created_at = 5 AND ev = 1",
          "SEARCH tags USING PRIMARY KEY (name=? AND value=? AND created_at=? AND ev=?)" },
    };
    struct store_fx fx;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    struct buf plan;
    buf_init(&plan);
    CHECK_OK(store_fx_init(&fx, "store", false, T));
    CHECK_INT_EQ(sqlite3_open(fx.path, &db), SQLITE_OK);
    for (size_t i = 0; i < 2; i++) {
        buf_reset(&plan);
        CHECK_INT_EQ(sqlite3_prepare_v2(db, sql[i].sql, -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
            buf_printf(&plan, "%s\n", (const char *)sqlite3_column_text(st, 3));
        }
        sqlite3_finalize(st);
        const char *text = buf_cstr(&plan);
        CHECK(text != NULL);
        if (strstr(text, "SCAN") != NULL || strstr(text, sql[i].want) == NULL) {
            fprintf(stderr, "  %s\n%s", sql[i].sql, text);
        }
        CHECK(strstr(text, sql[i].want) != NULL);
        CHECK(strstr(text, "SCAN") == NULL);
    }
    sqlite3_close(db);
    buf_fini(&plan);
    store_fx_fini(&fx);
}

/* ---- NIP-50: the FTS5 index ---- */

/* A small corpus: id numbers 1..7 (as in the contract's search test). */
static void put_corpus(struct store_fx *fx)
{
    static const struct {
        const char *pk;
        unsigned kind;
        const char *tags, *content;
    } c[] = {
        { PK_A, 1, "[]", "Nostr relays are great" },
        { PK_B, 1, "[[\"t\",\"nostr\"]]", "nostr nostr nostr nostr" },
        { PK_A, 30023, "[[\"d\",\"x\"]]", "A long article about nostr" },
        { PK_B, 1, "[]", "bitcoin only" },
        { PK_A, 1, "[]", "Caf\\u00e9 and nostr, \\\"quoted\\\"" },
        { PK_B, 1, "[[\"t\",\"nostr\"]]", "relays for bitcoin" },
        { PK_A, 1, "[]", "NEAR star* (paren) content:x" },
    };
    for (unsigned i = 0; i < 7; i++) {
        CHECK_INT_EQ(put_exp(fx, i + 1, c[i].pk, c[i].kind, T - 60 + 10 * (long long)i, c[i].tags,
                             c[i].content, 0),
                     STORE_STORED);
    }
}

/* bm25 order: 2 says nostr four times; the others tie on counts and follow
 * shorter documents first. The contract checks these as sets. */
static void test_search_order(void)
{
    struct store_fx fx;
    CHECK_OK(store_fx_init(&fx, "store", false, T));
    put_corpus(&fx);
    CHECK_IDS(fx.r, "{\"search\":\"nostr\"}", "2 5 1 3", 1);
    CHECK_IDS(fx.r, "{\"search\":\"relays\"}", "6 1", 1);
    CHECK_IDS(fx.r, "{\"search\":\"nostr\",\"since\":1699999950,\"until\":1699999980}", "2 5 3", 1);
    CHECK_IDS(fx.r, "{\"search\":\"nostr\",\"limit\":2}", "2 5", 0);
    CHECK_IDS(fx.r, "{\"search\":\"nostr\",\"limit\":4}", "2 5 1 3", 0);
    CHECK_IDS(fx.r, "{\"search\":\"nostr\",\"limit\":5}", "2 5 1 3", 1);
    CHECK_IDS(fx.r, "{\"search\":\"bitcoin include:spam language:en\"}", "4 6", 1);
    store_fx_fini(&fx);
}

/* Terms that match more than STORE_SQLITE_SEARCH_CANDIDATES events are not
 * ranked: the newest stored matches come first, and the most relevant
 * event, stored first, comes last; the filter's other conditions still
 * apply, and counts are not capped. A rarer term is ranked. */
static void test_search_ranks_newest_matches(void)
{
    enum {
        N = STORE_SQLITE_SEARCH_CANDIDATES + 10
    };
    struct store_fx fx;
    struct tev *t = calloc(N + 1, sizeof(*t));
    enum store_status *st = calloc(N + 1, sizeof(*st));
    CHECK(t != NULL && st != NULL);
    CHECK_OK(store_fx_init(&fx, "store", false, T));
    for (unsigned i = 0; i <= N; i++) {
        const char *content = i == 0   ? "nostr nostr nostr nostr nostr nostr"
                              : i == N ? "nostr nostr nostr"
                                       : "nostr is a protocol with a few more words";
        CHECK(tev_make(&t[i], i + 1, PK_A, 1, T - 100000 + i, "[]", content));
    }
    for (unsigned i = 0; i <= N; i += STORE_CONTRACT_MAX_BATCH) {
        unsigned n = N + 1 - i < STORE_CONTRACT_MAX_BATCH ? N + 1 - i : STORE_CONTRACT_MAX_BATCH;
        CHECK_OK(store_contract_write_del(fx.w, t + i, n, st + i, NULL));
    }
    CHECK_INT_EQ(st[0], STORE_STORED);
    char want[16], want3[48];
    snprintf(want, sizeof(want), "%u", N + 1);
    snprintf(want3, sizeof(want3), "%u %u %u", N + 1, N, N - 1);
    CHECK_IDS(fx.r, "{\"search\":\"nostr\",\"limit\":1}", want, 0);
    CHECK_IDS(fx.r, "{\"search\":\"nostr\",\"ids\":[\"" H0_1 "\"]}", "1", 1);
    CHECK_IDS(fx.r, "{\"search\":\"nostr\",\"until\":1699900001}", "2 1", 1);
    CHECK_IDS(fx.r, "{\"search\":\"nostr\",\"limit\":3}", want3, 0);
    uint64_t n = 0;
    CHECK_OK(store_contract_count(fx.r, "{\"search\":\"nostr\"}", &n));
    CHECK_INT_EQ(n, N + 1);
    store_contract_evs_free(t, N + 1);
    free(t);
    free(st);
    store_fx_fini(&fx);
}

/* Whatever deletes an event's row takes it out of the index: FTS5's own
 * check passes after replacements, deletions and purges. */
static void test_search_index(void)
{
    struct store_fx fx;
    CHECK_OK(store_fx_init(&fx, "store", false, T));
    put_corpus(&fx);
    CHECK_INT_EQ(put(&fx, 10, PK_A, 0, T - 10, "[]"), STORE_STORED);
    CHECK_INT_EQ(put_exp(&fx, 11, PK_A, 0, T, "[]", "new profile", 0), STORE_STORED);
    CHECK_INT_EQ(put_exp(&fx, 12, PK_A, 1, T, "[]", "zeta", T + 5), STORE_STORED);
    CHECK_INT_EQ(put_exp(&fx, 13, PK_A, 30023, T, "[[\"d\",\"x\"]]", "newer article", 0),
                 STORE_STORED);
    uint8_t id[32] = { 0 };
    id[31] = 5;
    CHECK_INT_EQ(store_delete_ids(fx.w, (const uint8_t(*)[32])id, 1, NULL), 1);
    atomic_store(&fx.now, T + 5);
    CHECK_INT_EQ(store_purge_expired(fx.w, 10), 1);
    CHECK_INT_EQ(exec_sql(fx.path, "INSERT INTO events_fts(events_fts, rank)"
                                   " VALUES('integrity-check', 1)"),
                 SQLITE_OK);
    CHECK_INT_EQ(store_fx_sqlite_rows(fx.path, "events"), 7);
    store_fx_fini(&fx);
}

static void test_search_plan(void)
{
    static const char *const filters[] = {
        "{\"search\":\"nostr\"}",
        "{\"search\":\"nostr\",\"kinds\":[1],\"since\":1}",
        "{\"search\":\"nostr\",\"authors\":[\"" PK_A "\"],\"#t\":[\"x\",\"y\"]}",
    };
    struct store_fx fx;
    struct buf plan;
    buf_init(&plan);
    CHECK_OK(store_fx_init(&fx, "store", false, T));
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        CHECK_OK(plan_of(fx.r, filters[i], &plan));
        const char *text = plan.data;
        CHECK(strstr(text, "SCAN events_fts VIRTUAL TABLE INDEX") != NULL);
        CHECK(strstr(text, "SEARCH events USING INTEGER PRIMARY KEY (rowid=?)") != NULL);
        CHECK(strstr(text, "SCAN events\n") == NULL && strstr(text, "SCAN events ") == NULL);
        CHECK(strstr(text, "SCAN tags") == NULL);
    }
    buf_fini(&plan);
    store_fx_fini(&fx);
}

/* ---- schema upgrades ---- */

/* Version 4 as it was: a rowid tags table with two indexes, and triggers
 * that kept the full-text index. */
#define DOWN_TO_V4                                                                               \
    "CREATE TABLE tags_v4(ev INTEGER NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL,"         \
    " created_at INTEGER NOT NULL);"                                                             \
    " INSERT INTO tags_v4(ev, name, value, created_at) SELECT ev, name, value, created_at FROM " \
    "tags;"                                                                                      \
    " DROP TABLE tags; ALTER TABLE tags_v4 RENAME TO tags;"                                      \
    " CREATE INDEX tags_value ON tags(name, value, created_at DESC, ev);"                        \
    " CREATE UNIQUE INDEX tags_ev ON tags(ev, name, value);"                                     \
    " CREATE TRIGGER events_fts_insert AFTER INSERT ON events BEGIN"                             \
    " INSERT INTO events_fts(rowid, content) VALUES(new.rowid, json_extract(new.raw, "           \
    "'$.content'));"                                                                             \
    " END;"                                                                                      \
    " CREATE TRIGGER events_fts_delete AFTER DELETE ON events BEGIN"                             \
    " INSERT INTO events_fts(events_fts, rowid, content)"                                        \
    " VALUES('delete', old.rowid, json_extract(old.raw, '$.content'));"                          \
    " END;"                                                                                      \
    " PRAGMA user_version = 4;"
#define DOWN_TO_V3                                                                \
    DOWN_TO_V4 " DROP TRIGGER events_fts_insert; DROP TRIGGER events_fts_delete;" \
               " DROP TABLE events_fts; PRAGMA user_version = 3;"
#define DOWN_TO_V2                                                                       \
    DOWN_TO_V3 " DROP TABLE deleted_ids; DROP TABLE deleted_addrs; DROP TABLE vanished;" \
               " PRAGMA user_version = 2;"
#define DOWN_TO_V1                                                                         \
    DOWN_TO_V2 " DROP INDEX events_expiration; ALTER TABLE events DROP COLUMN expiration;" \
               " PRAGMA user_version = 1;"

/* The tags of a deletion request for event id number n. */
static const char *e_tags(unsigned n)
{
    static char tags[128];
    snprintf(tags, sizeof(tags), "[[\"e\",\"%064x\"],[\"k\",\"1\"]]", n);
    return tags;
}

/* NIP-09/62: deletions work on an upgraded database. */
static void check_upgrade_deletions(const char *downgrade)
{
    struct store_fx fx;
    CHECK_OK(store_fx_init(&fx, "store", false, 0));
    CHECK_INT_EQ(store_sqlite_schema_version(fx.w), STORE_SQLITE_SCHEMA_VERSION);
    /* Stored by an older relay: a note, and a deletion it did not apply. */
    struct tev t[2];
    CHECK(tev_make(&t[0], 1, PK_A, 1, T - 10, "[]", ""));
    CHECK(tev_make(&t[1], 100, PK_A, 5, T, e_tags(1), ""));
    const struct event *evs[2] = { &t[0].ev, &t[1].ev };
    struct store_result res[2];
    CHECK_OK(store_write_batch(fx.w, evs, 2, res));
    tevs_free(t, 2);
    store_fx_close(&fx);
    CHECK_INT_EQ(exec_sql(fx.path, downgrade), SQLITE_OK);

    CHECK_OK(store_fx_open(&fx));
    CHECK_INT_EQ(store_sqlite_schema_version(fx.w), STORE_SQLITE_SCHEMA_VERSION);
    CHECK(has(&fx, 1));
    CHECK(has(&fx, 100));
    CHECK_INT_EQ(put(&fx, 101, PK_A, 5, T + 1, e_tags(1)), STORE_STORED);
    CHECK(!has(&fx, 1));
    CHECK_INT_EQ(put(&fx, 1, PK_A, 1, T - 10, "[]"), STORE_DELETED);
    /* Opening it again changes nothing. */
    store_fx_close(&fx);
    CHECK_OK(store_fx_open(&fx));
    CHECK_INT_EQ(store_sqlite_schema_version(fx.r), STORE_SQLITE_SCHEMA_VERSION);
    CHECK_INT_EQ(put(&fx, 1, PK_A, 1, T - 10, "[]"), STORE_DELETED);
    store_fx_fini(&fx);
}

static void test_migration_v2_to_v3(void)
{
    check_upgrade_deletions(DOWN_TO_V2);
}

static void test_migration_v1_to_v3(void)
{
    check_upgrade_deletions(DOWN_TO_V1);
}

/* NIP-40: a version 1 database gets the expiration of its events filled
 * in from their tags. */
static void test_migration_v1_to_v2(void)
{
    static const char *const tags[] = {
        "[[\"t\",\"x\"]]",
        "[[\"t\",\"x\"],[\"expiration\",\"1700000001\"]]",
        "[[\"expiration\",\"1700000002\"],[\"t\",\"x\"]]",
        /* Values nip40_check refuses never expire. */
        "[[\"t\",\"x\"],[\"expiration\",\"soon\"]]",
        "[[\"t\",\"x\"],[\"expiration\",\"1\"],[\"expiration\",\"x\"]]",
    };
    /* The filter shapes that read the expiration column. */
    static const char *const shapes[] = {
        "{}",
        "{\"kinds\":[1]}",
        "{\"authors\":[\"" PK_A "\"]}",
        "{\"authors\":[\"" PK_A "\"],\"kinds\":[1]}",
        "{\"#t\":[\"x\"]}",
        "{\"#t\":[\"x\",\"y\"]}",
        "{\"ids\":[\"0000000000000000000000000000000000000000000000000000000000000001\","
        "\"0000000000000000000000000000000000000000000000000000000000000002\","
        "\"0000000000000000000000000000000000000000000000000000000000000003\","
        "\"0000000000000000000000000000000000000000000000000000000000000004\","
        "\"0000000000000000000000000000000000000000000000000000000000000005\"]}",
        "{\"kinds\":[1]},{\"#t\":[\"x\"]}",
    };
    struct store_fx fx;
    uint64_t n = 0;
    CHECK_OK(store_fx_init(&fx, "store", false, T));
    /* Written while the store knew nothing of expiration: ev.expiration 0. */
    for (unsigned i = 0; i < 5; i++) {
        CHECK_INT_EQ(put(&fx, i + 1, PK_A, 1, T - 1000 + i, tags[i]), STORE_STORED);
    }
    store_fx_close(&fx);
    CHECK_INT_EQ(exec_sql(fx.path, DOWN_TO_V1), SQLITE_OK);

    CHECK_OK(store_fx_open(&fx));
    CHECK_INT_EQ(store_sqlite_schema_version(fx.w), STORE_SQLITE_SCHEMA_VERSION);
    CHECK_INT_EQ(store_fx_sqlite_rows(fx.path, "events"), 5);
    /* At T: event 5 (expired at 1) is hidden; 2 and 3 not yet. */
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        CHECK_IDS(fx.r, shapes[i], "4 3 2 1", 1);
        CHECK_OK(store_contract_count(fx.r, shapes[i], &n));
        CHECK_INT_EQ(n, 4);
    }
    atomic_store(&fx.now, T + 2);
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        CHECK_IDS(fx.r, shapes[i], "4 1", 1);
        CHECK_OK(store_contract_count(fx.r, shapes[i], &n));
        CHECK_INT_EQ(n, 2);
    }
    CHECK_INT_EQ(store_purge_expired(fx.w, 100), 3);
    CHECK_INT_EQ(store_fx_sqlite_rows(fx.path, "events"), 2);
    /* Opening the upgraded database again changes nothing. */
    store_fx_close(&fx);
    CHECK_OK(store_fx_open(&fx));
    CHECK_INT_EQ(store_sqlite_schema_version(fx.r), STORE_SQLITE_SCHEMA_VERSION);
    CHECK_INT_EQ(store_fx_sqlite_rows(fx.path, "events"), 2);
    store_fx_fini(&fx);
}

/* NIP-50: an older database gets its index built from the stored JSON. */
static void check_upgrade_search(const char *downgrade)
{
    struct store_fx fx;
    CHECK_OK(store_fx_init(&fx, "store", false, T));
    put_corpus(&fx);
    store_fx_close(&fx);
    CHECK_INT_EQ(exec_sql(fx.path, downgrade), SQLITE_OK);

    CHECK_OK(store_fx_open(&fx));
    CHECK_INT_EQ(store_sqlite_schema_version(fx.w), STORE_SQLITE_SCHEMA_VERSION);
    CHECK_IDS(fx.r, "{\"search\":\"nostr\"}", "2 5 1 3", 1);
    CHECK_IDS(fx.r, "{\"search\":\"cafe quoted\"}", "5", 1);
    /* New events are indexed and deletions reach the index. */
    CHECK_INT_EQ(put_exp(&fx, 8, PK_B, 1, T, "[]", "nostr again", 0), STORE_STORED);
    CHECK_IDS(fx.r, "{\"search\":\"again\"}", "8", 1);
    uint8_t id[32] = { 0 };
    id[31] = 1;
    CHECK_INT_EQ(store_delete_ids(fx.w, (const uint8_t(*)[32])id, 1, NULL), 1);
    store_fx_close(&fx);
    CHECK_OK(store_fx_open(&fx));
    CHECK_INT_EQ(store_sqlite_schema_version(fx.r), STORE_SQLITE_SCHEMA_VERSION);
    CHECK_IDS(fx.r, "{\"search\":\"nostr\",\"kinds\":[1]}", "2 8 5", 1);
    /* Entries indexed from the JSON by the upgrade are deleted by the
     * store's own decoding of the same content without a trace. */
    for (unsigned i = 2; i <= 7; i++) {
        id[31] = (uint8_t)i;
        CHECK_INT_EQ(store_delete_ids(fx.w, (const uint8_t(*)[32])id, 1, NULL), 1);
    }
    CHECK_INT_EQ(exec_sql(fx.path, "INSERT INTO events_fts(events_fts, rank)"
                                   " VALUES('integrity-check', 1)"),
                 SQLITE_OK);
    /* Only event 8 is left with the word. */
    CHECK_INT_EQ(store_fx_sqlite_rows(fx.path, "events_fts WHERE events_fts MATCH 'nostr'"), 1);
    CHECK_INT_EQ(store_fx_sqlite_rows(fx.path, "events_fts WHERE events_fts MATCH 'cafe'"), 0);
    store_fx_fini(&fx);
}

static void test_migration_v3_to_v4(void)
{
    check_upgrade_search(DOWN_TO_V3);
}

static void test_migration_v1_to_v4(void)
{
    check_upgrade_search(DOWN_TO_V1);
}

/* Version 4 to 5: the tag rows and the full-text entries written by
 * version 4 (through its triggers) are found, and deleted with their
 * events, by version 5. */
static void test_migration_v4_to_v5(void)
{
    struct store_fx fx;
    CHECK_OK(store_fx_init(&fx, "store", false, T));
    put_corpus(&fx);
    CHECK_INT_EQ(put_exp(&fx, 20, PK_A, 0, T - 5, "[[\"t\",\"profile\"]]", "nostr profile", 0),
                 STORE_STORED);
    int64_t n_tags = store_fx_sqlite_rows(fx.path, "tags");
    store_fx_close(&fx);
    CHECK_INT_EQ(exec_sql(fx.path, DOWN_TO_V4), SQLITE_OK);

    CHECK_OK(store_fx_open(&fx));
    CHECK_INT_EQ(store_sqlite_schema_version(fx.w), STORE_SQLITE_SCHEMA_VERSION);
    CHECK_INT_EQ(store_fx_sqlite_rows(fx.path, "tags"), n_tags);
    CHECK_IDS(fx.r, "{\"search\":\"profile\"}", "20", 1);
    CHECK_IDS(fx.r, "{\"search\":\"cafe quoted\"}", "5", 1);
    CHECK_IDS(fx.r, "{\"#t\":[\"profile\"]}", "20", 1);
    /* A newer profile replaces it: its tag row and index entry go too. */
    CHECK_INT_EQ(put_exp(&fx, 21, PK_A, 0, T - 4, "[]", "plain", 0), STORE_STORED);
    CHECK_IDS(fx.r, "{\"#t\":[\"profile\"]}", "", 1);
    CHECK_IDS(fx.r, "{\"search\":\"profile\"}", "", 1);
    CHECK_INT_EQ(store_fx_sqlite_rows(fx.path, "events_fts WHERE events_fts MATCH 'profile'"), 0);
    CHECK_INT_EQ(store_fx_sqlite_rows(fx.path, "events_fts WHERE events_fts MATCH 'plain'"), 1);
    CHECK_INT_EQ(store_fx_sqlite_rows(fx.path, "tags"), n_tags - 1);
    CHECK_INT_EQ(exec_sql(fx.path, "INSERT INTO events_fts(events_fts, rank)"
                                   " VALUES('integrity-check', 1)"),
                 SQLITE_OK);
    store_fx_fini(&fx);
}

CHECK_MAIN({ "open", test_open }, { "restart", test_restart },
           { "checkpointer", test_checkpointer },
           { "checkpoint_when_quiet", test_checkpoint_when_quiet },
           { "newer_schema_refused", test_newer_schema_refused },
           { "query_plans", test_query_plans }, { "random_plans", test_random_plans },
           { "reasons", test_reasons }, { "purge_rows", test_purge_rows },
           { "purge_plan", test_purge_plan }, { "search_order", test_search_order },
           { "search_ranks_newest_matches", test_search_ranks_newest_matches },
           { "search_index", test_search_index }, { "search_plan", test_search_plan },
           { "migration_v1_to_v2", test_migration_v1_to_v2 },
           { "migration_v2_to_v3", test_migration_v2_to_v3 },
           { "migration_v1_to_v3", test_migration_v1_to_v3 },
           { "migration_v3_to_v4", test_migration_v3_to_v4 },
           { "migration_v1_to_v4", test_migration_v1_to_v4 },
           { "migration_v4_to_v5", test_migration_v4_to_v5 })
