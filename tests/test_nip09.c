/*
 * Tests for NIP-09 deletion requests and NIP-62 requests to vanish: the tag
 * readers (nips/nip09, nips/nip62) and the store's part: deletion by "e"
 * and by "a", the deletion event kept, someone else's deletion ignored,
 * republishing refused with its reason, newer addressable versions
 * accepted, deletions of deletions without effect, deletions within one
 * batch, vanish, and the schema upgrades 2 -> 3 and 1 -> 3. Each store
 * lives in its own temporary directory.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "common/buf.h"
#include "common/err.h"
#include "filters/filter.h"
#include "nips/nip09.h"
#include "nips/nip62.h"
#include "store/store.h"
#include "store/store_sqlite.h"
#include "store_fx.h"
#include "validate/event.h"

#define SIG_ZEROS                                                      \
    "0000000000000000000000000000000000000000000000000000000000000000" \
    "0000000000000000000000000000000000000000000000000000000000000000"
#define PK_A "00000000000000000000000000000000000000000000000000000000000000aa"
#define PK_B "00000000000000000000000000000000000000000000000000000000000000bb"
#define T    1700000000
#define URL  "wss://relay.example.com"

/* An event whose json lives in b; id number n. */
struct tev {
    struct buf b;
    struct event ev;
};

static bool tev_make(struct tev *t, unsigned n, const char *pk, unsigned kind, long long created_at,
                     const char *tags)
{
    const char *reason = NULL;
    buf_init(&t->b);
    buf_printf(&t->b,
               "{\"id\":\"%064x\",\"pubkey\":\"%s\",\"created_at\":%lld,\"kind\":%u,"
               "\"tags\":%s,\"content\":\"\",\"sig\":\"" SIG_ZEROS "\"}",
               n, pk, created_at, kind, tags);
    if (buf_cstr(&t->b) == NULL || event_parse(t->b.data, t->b.len, NULL, &t->ev, &reason) < 0) {
        fprintf(stderr, "  event_parse: %s\n", reason != NULL ? reason : "out of memory");
        buf_fini(&t->b);
        return false;
    }
    return true;
}

/* ---- the tag readers ---- */

static void test_nip09_parse(void)
{
    struct tev t;
    struct store_deletion *del = NULL;
    /* Not kind 5: nothing, whatever the tags. */
    CHECK(tev_make(&t, 1, PK_A, 1, T, "[[\"e\",\"" PK_B "\"]]"));
    CHECK_OK(nip09_parse(&t.ev, &del));
    CHECK(del == NULL);
    buf_fini(&t.b);
    /* Kind 5 naming nothing usable. */
    CHECK(tev_make(&t, 1, PK_A, 5, T,
                   "[[\"e\"],[\"e\",\"" PK_B "0\"],[\"e\",\"00000000000000000000000000000000000000"
                   "000000000000000000000000AA\"],[\"a\",\"1:" PK_A "\"],[\"a\",\"70000:" PK_A
                   ":x\"],[\"a\",\":" PK_A ":x\"],[\"a\",\"123456:" PK_A ":x\"],[\"k\",\"1\"]]"));
    CHECK_OK(nip09_parse(&t.ev, &del));
    CHECK(del == NULL);
    buf_fini(&t.b);

    CHECK(tev_make(&t, 1, PK_A, 5, T,
                   "[[\"e\",\"" PK_B "\"],[\"k\",\"1\"],[\"a\",\"30023:" PK_A
                   ":my:slug\"],[\"a\",\"10002:" PK_A ":\"],[\"\\u0061\",\"3\\u0030000:" PK_B
                   ":\\u00e9\"],[\"e\",\"" PK_A "\",\"wss://x\"]]"));
    CHECK_OK(nip09_parse(&t.ev, &del));
    CHECK(del != NULL);
    CHECK_INT_EQ(del->n_ids, 2);
    CHECK_INT_EQ(del->ids[0][31], 0xbb);
    CHECK_INT_EQ(del->ids[1][31], 0xaa);
    CHECK_INT_EQ(del->n_addrs, 3);
    CHECK(!del->is_vanish);
    CHECK_INT_EQ(del->addrs[0].kind, 30023);
    CHECK_INT_EQ(del->addrs[0].pubkey[31], 0xaa);
    CHECK_INT_EQ(del->addrs[0].d_len, 7);
    CHECK_MEM_EQ(del->addrs[0].d, "my:slug", 7);
    CHECK_INT_EQ(del->addrs[1].kind, 10002);
    CHECK_INT_EQ(del->addrs[1].d_len, 0);
    /* Escapes are decoded: kind 30000, d "é" (two bytes). */
    CHECK_INT_EQ(del->addrs[2].kind, 30000);
    CHECK_INT_EQ(del->addrs[2].pubkey[31], 0xbb);
    CHECK_INT_EQ(del->addrs[2].d_len, 2);
    CHECK_MEM_EQ(del->addrs[2].d, "\xc3\xa9", 2);
    free(del);
    buf_fini(&t.b);
}

static void test_nip62_parse(void)
{
    static const struct {
        unsigned kind;
        const char *tags;
        const char *relay_url;
        bool is_vanish;
    } cases[] = {
        { 62, "[[\"relay\",\"ALL_RELAYS\"]]", "", true },
        { 62, "[[\"relay\",\"ALL_RELAYS\"]]", URL, true },
        { 62, "[[\"relay\",\"\\u0041LL_RELAYS\"]]", "", true },
        { 62, "[[\"relay\",\"" URL "\"]]", URL, true },
        { 62, "[[\"relay\",\"wss://other.example.com\"],[\"relay\",\"" URL "/\"]]", URL, true },
        { 62, "[[\"relay\",\"ws://RELAY.example.com/\"]]", URL, true },
        /* Another relay, no configured URL, the wrong case, no tag. */
        { 62, "[[\"relay\",\"wss://other.example.com\"]]", URL, false },
        { 62, "[[\"relay\",\"" URL "\"]]", "", false },
        { 62, "[[\"relay\",\"all_relays\"]]", URL, false },
        { 62, "[[\"relay\"],[\"r\",\"ALL_RELAYS\"]]", URL, false },
        { 62, "[]", URL, false },
        { 1, "[[\"relay\",\"ALL_RELAYS\"]]", URL, false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tev t;
        struct store_deletion *del = NULL;
        CHECK(tev_make(&t, 1, PK_A, cases[i].kind, T, cases[i].tags));
        CHECK_OK(nip62_parse(&t.ev, cases[i].relay_url, &del));
        if ((del != NULL) != cases[i].is_vanish) {
            fprintf(stderr, "  case %zu: %s with \"%s\"\n", i, cases[i].tags, cases[i].relay_url);
        }
        CHECK((del != NULL) == cases[i].is_vanish);
        CHECK(del == NULL || (del->is_vanish && del->n_ids == 0 && del->n_addrs == 0));
        free(del);
        buf_fini(&t.b);
    }
}

/* Writes t[0..n) in one batch, each with what it deletes as the relay
 * parses it (relay URL URL), and writes each status into st. */
static int write_batch(struct store_fx *fx, struct tev *t, size_t n, enum store_status *st)
{
    const struct event *evs[8];
    struct store_deletion *dels[8] = { NULL };
    struct store_result res[8];
    int rc = n <= 8 ? 0 : OST_EINVAL;
    for (size_t i = 0; i < n && rc == 0; i++) {
        evs[i] = &t[i].ev;
        rc = nip09_parse(&t[i].ev, &dels[i]);
        if (rc == 0 && dels[i] == NULL) {
            rc = nip62_parse(&t[i].ev, URL, &dels[i]);
        }
    }
    if (rc == 0) {
        rc = store_write_batch_del(fx->w, evs, (const struct store_deletion *const *)dels, n, res);
    }
    for (size_t i = 0; i < n; i++) {
        if (rc == 0) {
            st[i] = res[i].status;
        }
        free(dels[i]);
    }
    return rc;
}

/* Makes and writes one event; returns its status, or STORE_FAILED. */
static enum store_status put(struct store_fx *fx, unsigned n, const char *pk, unsigned kind,
                             long long created_at, const char *tags)
{
    struct tev t;
    enum store_status st = STORE_FAILED;
    if (!tev_make(&t, n, pk, kind, created_at, tags)) {
        return STORE_FAILED;
    }
    if (write_batch(fx, &t, 1, &st) < 0) {
        st = STORE_FAILED;
    }
    buf_fini(&t.b);
    return st;
}

static int count_hit(void *ud, const char *json, size_t len)
{
    (void)json;
    (void)len;
    (*(size_t *)ud)++;
    return 0;
}

/* Whether a query for id number n returns it. A failed query fails the
 * test, whichever answer the caller expects. */
static bool has(struct store_fx *fx, unsigned n)
{
    char json[128];
    struct filter_limits lim;
    struct filter *f = NULL;
    const char *reason = NULL;
    size_t hits = 0;
    filter_limits_default(&lim);
    snprintf(json, sizeof(json), "{\"ids\":[\"%064x\"]}", n);
    int rc = filter_parse(json, strlen(json), &lim, &f, &reason);
    if (rc == 0) {
        const struct filter *fs[1] = { f };
        rc = store_query(fx->r, fs, 1, count_hit, &hits);
    }
    filter_free(f);
    if (rc < 0) {
        fprintf(stderr, "  query for event %u: %s\n", n, ost_strerror(rc));
        check_failed = 1;
    }
    return hits == 1;
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
    CHECK_OK(store_fx_init(&fx, "nip09", false, 0));
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
    buf_fini(&t.b);
    CHECK(!has(&fx, 1));
    /* Sending the deletion again is a duplicate; the record stays. */
    CHECK_INT_EQ(put(&fx, 100, PK_A, 5, T, e_tags(1)), STORE_DUPLICATE);
    /* After a restart too. */
    store_fx_close(&fx);
    CHECK_OK(store_fx_open(&fx));
    CHECK_INT_EQ(put(&fx, 1, PK_A, 1, T - 10, "[]"), STORE_DELETED);
    store_fx_fini(&fx);
}

static void test_delete_before_arrival(void)
{
    struct store_fx fx;
    CHECK_OK(store_fx_init(&fx, "nip09", false, 0));
    /* The deletion comes first: the event is refused when it arrives. */
    CHECK_INT_EQ(put(&fx, 100, PK_A, 5, T, e_tags(1)), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 1, PK_A, 1, T - 10, "[]"), STORE_DELETED);
    CHECK(!has(&fx, 1));
    store_fx_fini(&fx);
}

static void test_other_author(void)
{
    struct store_fx fx;
    CHECK_OK(store_fx_init(&fx, "nip09", false, 0));
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
    CHECK_OK(store_fx_init(&fx, "nip09", false, 0));
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
    CHECK_OK(store_fx_init(&fx, "nip09", false, 0));
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
    struct tev t[4];
    enum store_status st[4];
    CHECK_OK(store_fx_init(&fx, "nip09", false, 0));
    CHECK(tev_make(&t[0], 1, PK_A, 1, T - 10, "[]"));
    CHECK(tev_make(&t[1], 100, PK_A, 5, T, e_tags(1)));
    CHECK(tev_make(&t[2], 101, PK_A, 5, T, e_tags(2)));
    CHECK(tev_make(&t[3], 2, PK_A, 1, T - 10, "[]"));
    CHECK_OK(write_batch(&fx, t, 4, st));
    CHECK_INT_EQ(st[0], STORE_STORED);
    CHECK_INT_EQ(st[1], STORE_STORED);
    CHECK_INT_EQ(st[2], STORE_STORED);
    CHECK_INT_EQ(st[3], STORE_DELETED);
    CHECK(!has(&fx, 1));
    CHECK(!has(&fx, 2));
    for (size_t i = 0; i < 4; i++) {
        buf_fini(&t[i].b);
    }
    store_fx_fini(&fx);
}

static void test_vanish(void)
{
    struct store_fx fx;
    CHECK_OK(store_fx_init(&fx, "nip09", false, 0));
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
    buf_fini(&t.b);
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
    store_fx_fini(&fx);
}

static void test_reasons(void)
{
    struct store_result r;
    store_result_set(&r, STORE_DELETED, 0);
    CHECK_STR_EQ(r.reason, "blocked: this event was deleted by its author");
    CHECK_INT_EQ(r.rc, 0);
    store_result_set(&r, STORE_VANISHED, 0);
    CHECK_STR_EQ(r.reason, "blocked: the author of this event asked to vanish from this relay");
}

/* ---- schema upgrades ---- */

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    CHECK_INT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT_EQ(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

#define DOWN_TO_V3                                                                           \
    "DROP TRIGGER events_fts_insert; DROP TRIGGER events_fts_delete; DROP TABLE events_fts;" \
    " PRAGMA user_version = 3;"
#define DOWN_TO_V2                                                                       \
    DOWN_TO_V3 " DROP TABLE deleted_ids; DROP TABLE deleted_addrs; DROP TABLE vanished;" \
               " PRAGMA user_version = 2;"
#define DOWN_TO_V1                                                                         \
    DOWN_TO_V2 " DROP INDEX events_expiration; ALTER TABLE events DROP COLUMN expiration;" \
               " PRAGMA user_version = 1;"

static void check_upgrade(const char *downgrade)
{
    struct store_fx fx;
    CHECK_OK(store_fx_init(&fx, "nip09", false, 0));
    CHECK_INT_EQ(store_sqlite_schema_version(fx.w), STORE_SQLITE_SCHEMA_VERSION);
    /* Stored by an older relay: a note, and a deletion it did not apply. */
    struct tev t[2];
    CHECK(tev_make(&t[0], 1, PK_A, 1, T - 10, "[]"));
    CHECK(tev_make(&t[1], 100, PK_A, 5, T, e_tags(1)));
    const struct event *evs[2] = { &t[0].ev, &t[1].ev };
    struct store_result res[2];
    CHECK_OK(store_write_batch(fx.w, evs, 2, res));
    buf_fini(&t[0].b);
    buf_fini(&t[1].b);
    store_fx_close(&fx);
    exec_sql(fx.path, downgrade);

    CHECK_OK(store_fx_open(&fx));
    CHECK_INT_EQ(store_sqlite_schema_version(fx.w), STORE_SQLITE_SCHEMA_VERSION);
    CHECK(has(&fx, 1));
    CHECK(has(&fx, 100));
    /* Deletions work on the upgraded database. */
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
    check_upgrade(DOWN_TO_V2);
}

static void test_migration_v1_to_v3(void)
{
    check_upgrade(DOWN_TO_V1);
}

CHECK_MAIN({ "nip09_parse", test_nip09_parse }, { "nip62_parse", test_nip62_parse },
           { "delete_by_e", test_delete_by_e },
           { "delete_before_arrival", test_delete_before_arrival },
           { "other_author", test_other_author }, { "delete_by_a", test_delete_by_a },
           { "delete_deletion", test_delete_deletion }, { "same_batch", test_same_batch },
           { "vanish", test_vanish }, { "reasons", test_reasons },
           { "migration_v2_to_v3", test_migration_v2_to_v3 },
           { "migration_v1_to_v3", test_migration_v1_to_v3 })
