/*
 * Tests for NIP-50 search: how a query becomes terms (extensions ignored,
 * FTS5 syntax taken as words), the live matcher, and the SQLite store's
 * full-text index: search alone and with every other field, relevance
 * order, limits, counts, completeness, deleted, replaced and expired events
 * gone from the index, the query plan, and the schema upgrades 3 -> 4 and
 * 1 -> 4. Each store lives in its own temporary directory.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "common/buf.h"
#include "common/err.h"
#include "filters/filter.h"
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

/* An event whose json lives in b; id number n. content is JSON string text
 * (escapes allowed), without the quotes. */
struct tev {
    struct buf b;
    struct event ev;
};

static bool tev_make(struct tev *t, unsigned n, const char *pk, unsigned kind, long long created_at,
                     const char *tags, const char *content)
{
    const char *reason = NULL;
    buf_init(&t->b);
    buf_printf(&t->b,
               "{\"id\":\"%064x\",\"pubkey\":\"%s\",\"created_at\":%lld,\"kind\":%u,"
               "\"tags\":%s,\"content\":\"%s\",\"sig\":\"" SIG_ZEROS "\"}",
               n, pk, created_at, kind, tags, content);
    if (buf_cstr(&t->b) == NULL || event_parse(t->b.data, t->b.len, NULL, &t->ev, &reason) < 0) {
        fprintf(stderr, "  event_parse: %s\n", reason != NULL ? reason : "out of memory");
        buf_fini(&t->b);
        return false;
    }
    return true;
}

static struct filter *parse(const char *json)
{
    struct filter *f = NULL;
    const char *reason = NULL;
    if (filter_parse(json, strlen(json), NULL, &f, &reason) != 0) {
        fprintf(stderr, "  %s: %s\n", json, reason != NULL ? reason : "out of memory");
        return NULL;
    }
    return f;
}

/* The terms of a filter joined by spaces, as filter_to_json writes them. */
static void check_terms(const char *json, const char *want)
{
    struct filter *f = parse(json);
    CHECK(f != NULL);
    const uint8_t *const *terms;
    const uint32_t *lens;
    size_t n = filter_search_terms(f, &terms, &lens);
    struct buf got;
    buf_init(&got);
    for (size_t i = 0; i < n; i++) {
        CHECK_INT_EQ(lens[i], strlen((const char *)terms[i]));
        buf_printf(&got, i ? " %s" : "%s", (const char *)terms[i]);
    }
    if (strcmp(buf_cstr(&got), want) != 0) {
        fprintf(stderr, "  %s\n", json);
    }
    CHECK_STR_EQ(buf_cstr(&got), want);
    buf_fini(&got);
    filter_free(f);
}

static void test_terms(void)
{
    check_terms("{\"search\":\"Best NOSTR apps\"}", "apps best nostr");
    check_terms("{\"search\":\"nostr nostr NOSTR\"}", "nostr");
    /* Extensions are ignored; a URL is not one. */
    check_terms("{\"search\":\"orange include:spam language:en domain:x.com nsfw:false\"}",
                "orange");
    check_terms("{\"search\":\"sentiment:positive\"}", "");
    check_terms("{\"search\":\"see https://example.com/a\"}", "a com example https see");
    check_terms("{\"search\":\"   \"}", "");
    /* FTS5 syntax is only words. */
    check_terms("{\"search\":\"\\\"quoted\\\" star* NEAR(a b) {content}:x (p OR q) -r ^s\"}",
                "a b content near or p q quoted r s star x");
    check_terms("{\"search\":\"don't \\u00c9t\\u00e9 caf\\u00e9\"}",
                "caf\xc3\xa9 don t \xc3\x89t\xc3\xa9");
    /* The canonical JSON carries the terms and parses back to them. */
    struct filter *f = parse("{\"kinds\":[1],\"search\":\"Hello, World! lang:en\"}");
    struct buf out;
    buf_init(&out);
    CHECK_OK(filter_to_json(f, &out));
    CHECK_STR_EQ(buf_cstr(&out), "{\"kinds\":[1],\"search\":\"hello world\"}");
    filter_free(f);
    f = parse("{\"search\":\"lang:en\"}");
    buf_reset(&out);
    CHECK_OK(filter_to_json(f, &out));
    CHECK_STR_EQ(buf_cstr(&out), "{}");
    buf_fini(&out);
    filter_free(f);
    /* The length limit counts unescaped bytes, at and over the limit. */
    struct filter_limits lim;
    filter_limits_default(&lim);
    const char *reason = NULL;
    char json[600];
    snprintf(json, sizeof(json), "{\"search\":\"%0256d\"}", 0);
    CHECK_OK(filter_parse(json, strlen(json), &lim, &f, &reason));
    filter_free(f);
    snprintf(json, sizeof(json), "{\"search\":\"%0257d\"}", 0);
    CHECK_INT_EQ(filter_parse(json, strlen(json), &lim, &f, &reason), OST_EINVAL);
    CHECK_STR_EQ(reason, "invalid: search query too long (over the relay's limit)");
    lim.is_search_enabled = false;
    CHECK_INT_EQ(filter_parse("{\"search\":\"x\"}", 14, &lim, &f, &reason), OST_EINVAL);
    CHECK_STR_EQ(reason, "unsupported: search is disabled on this relay");
}

static void test_live_match(void)
{
    static const struct {
        const char *search;
        const char *content;
        bool is_match;
    } cases[] = {
        { "nostr", "I love Nostr!", true },
        { "NOSTR relay", "a relay for nostr", true },
        { "nostr relay", "nostr only", false },
        { "nos", "nostr", false },
        { "nostr", "nostrich", false },
        { "nostr", "#nostr_apps", true },
        { "hello", "say \\\"hello\\\"\\nworld", true },
        { "world", "say hello\\u000aworld", true },
        { "caf\\u00e9", "un caf\\u00e9 noir", true },
        { "caf\\u00e9", "un café noir", true },
        { "include:spam", "anything", true },
        { "lang:en orange", "ORANGE", true },
        { "x*", "x", true },
        { "\\\"a b\\\"", "b then a", true },
        { "NEAR", "near", true },
        { "kind", "", false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char json[200];
        struct tev t;
        snprintf(json, sizeof(json), "{\"search\":\"%s\"}", cases[i].search);
        struct filter *f = parse(json);
        CHECK(f != NULL);
        CHECK(tev_make(&t, 1, PK_A, 1, T, "[]", cases[i].content));
        if (filter_matches(f, &t.ev) != cases[i].is_match) {
            fprintf(stderr, "  case %zu: %s in %s\n", i, cases[i].search, cases[i].content);
        }
        CHECK(filter_matches(f, &t.ev) == cases[i].is_match);
        buf_fini(&t.b);
        filter_free(f);
    }
}

/* Stores one event that expires at expiration (0: never; what the
 * validation workers read from its tag, NIP-40); returns its status. */
static enum store_status put_exp(struct store_fx *fx, unsigned n, const char *pk, unsigned kind,
                                 long long created_at, const char *tags, const char *content,
                                 int64_t expiration)
{
    struct tev t;
    struct store_result res;
    if (!tev_make(&t, n, pk, kind, created_at, tags, content)) {
        return STORE_FAILED;
    }
    t.ev.expiration = expiration;
    const struct event *ev = &t.ev;
    int rc = store_write_batch(fx->w, &ev, 1, &res);
    buf_fini(&t.b);
    return rc == 0 ? res.status : STORE_FAILED;
}

static enum store_status put(struct store_fx *fx, unsigned n, const char *pk, unsigned kind,
                             long long created_at, const char *tags, const char *content)
{
    return put_exp(fx, n, pk, kind, created_at, tags, content, 0);
}

/* Appends the id number (the last 4 bytes of the id) of each result. */
static int collect(void *ud, const char *json, size_t len)
{
    struct buf *out = ud;
    const char *id = memmem(json, len, "\"id\":\"", 6);
    if (id == NULL) {
        return OST_EIO;
    }
    unsigned n = (unsigned)strtoul(id + 6 + 56, NULL, 16);
    return buf_printf(out, out->len ? " %u" : "%u", n) < 0 ? OST_ENOMEM : 0;
}

/* The id numbers a query of the filters in json (a REQ's list) returns, in
 * order, and whether it was complete. */
static void check_query(struct store_fx *fx, const char *json, const char *want, int is_complete)
{
    struct filter_set *set = NULL;
    const char *reason = NULL;
    struct buf got;
    struct store_snapshot snap;
    buf_init(&got);
    CHECK_OK(filter_set_parse(json, strlen(json), NULL, 16, &set, &reason));
    CHECK_OK(store_query_set(fx->r, set, collect, &got, &snap));
    if (strcmp(buf_cstr(&got), want) != 0) {
        fprintf(stderr, "  %s\n", json);
    }
    CHECK_STR_EQ(buf_cstr(&got), want);
    if (is_complete >= 0) {
        CHECK_INT_EQ(snap.is_complete, is_complete);
    }
    buf_fini(&got);
    filter_set_free(set);
}

/* The count of the filters in json, or UINT64_MAX when counting failed. */
static uint64_t count(struct store_fx *fx, const char *json)
{
    struct filter_set *set = NULL;
    const char *reason = NULL;
    uint64_t n = UINT64_MAX;
    if (filter_set_parse(json, strlen(json), NULL, 16, &set, &reason) == 0 &&
        store_count_set(fx->r, set, &n) != 0) {
        n = UINT64_MAX;
    }
    filter_set_free(set);
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

static void test_store_search(void)
{
    struct store_fx fx;
    CHECK_OK(store_fx_init(&fx, "nip50", false, T));
    put_corpus(&fx);
    /* Relevance first: 2 says nostr four times; the others tie on counts
     * and follow in bm25 order (shorter documents first). */
    check_query(&fx, "{\"search\":\"nostr\"}", "2 5 1 3", 1);
    check_query(&fx, "{\"search\":\"NOSTR RELAYS\"}", "1", 1);
    check_query(&fx, "{\"search\":\"relays\"}", "6 1", 1);
    /* Combined with every other field. */
    check_query(&fx, "{\"search\":\"nostr\",\"kinds\":[30023]}", "3", 1);
    check_query(&fx, "{\"search\":\"nostr\",\"authors\":[\"" PK_B "\"]}", "2", 1);
    check_query(&fx, "{\"search\":\"relays\",\"#t\":[\"nostr\"]}", "6", 1);
    check_query(&fx, "{\"search\":\"nostr\",\"since\":1699999950,\"until\":1699999980}", "2 5 3",
                1);
    check_query(&fx,
                "{\"search\":\"nostr\",\"ids\":[\"0000000000000000000000000000000000000000000000"
                "000000000000000001\"]}",
                "1", 1);
    /* The limit keeps the most relevant; a full page is not complete. */
    check_query(&fx, "{\"search\":\"nostr\",\"limit\":2}", "2 5", 0);
    check_query(&fx, "{\"search\":\"nostr\",\"limit\":4}", "2 5 1 3", 0);
    check_query(&fx, "{\"search\":\"nostr\",\"limit\":5}", "2 5 1 3", 1);
    /* Diacritics and case fold in the stored search. */
    check_query(&fx, "{\"search\":\"cafe\"}", "5", 1);
    check_query(&fx, "{\"search\":\"CAF\\u00c9\"}", "5", 1);
    /* Extensions are ignored; nothing left is no search at all. */
    check_query(&fx, "{\"search\":\"bitcoin include:spam language:en\"}", "4 6", 1);
    check_query(&fx, "{\"search\":\"include:spam\",\"kinds\":[30023]}", "3", 1);
    /* FTS5 syntax is taken as words and never fails. */
    check_query(&fx, "{\"search\":\"NEAR\"}", "7", 1);
    check_query(&fx, "{\"search\":\"star*\"}", "7", 1);
    check_query(&fx, "{\"search\":\"st*\"}", "", 1);
    check_query(&fx, "{\"search\":\"(paren\"}", "7", 1);
    check_query(&fx, "{\"search\":\"\\\"quoted\\\"\"}", "5", 1);
    check_query(&fx, "{\"search\":\"\\\"\"}", "7 6 5 4 3 2 1", 1);
    check_query(&fx, "{\"search\":\"{content}:x AND OR NOT\"}", "", 1);
    check_query(&fx, "{\"search\":\"nostr NOT\"}", "", 1);
    check_query(&fx, "{\"search\":\"events_fts:x - ^ + :\"}", "7 6 5 4 3 2 1", 1);
    /* Several filters, with and without search: each event once, newest
     * first. */
    check_query(&fx, "{\"search\":\"nostr\"},{\"kinds\":[1],\"authors\":[\"" PK_B "\"]}",
                "6 5 4 3 2 1", 1);
    check_query(&fx, "{\"search\":\"nostr\",\"limit\":1},{\"search\":\"bitcoin\"}", "6 4 2", 0);
    /* Counts. */
    CHECK_INT_EQ(count(&fx, "{\"search\":\"nostr\"}"), 4);
    CHECK_INT_EQ(count(&fx, "{\"search\":\"nostr\",\"limit\":1}"), 4);
    CHECK_INT_EQ(count(&fx, "{\"search\":\"nostr\",\"kinds\":[1]}"), 3);
    CHECK_INT_EQ(count(&fx, "{\"search\":\"nostr\"},{\"search\":\"bitcoin\"}"), 6);
    CHECK_INT_EQ(count(&fx, "{\"search\":\"x*\\\"y\"}"), 0);
    store_fx_fini(&fx);
}

/* Whatever deletes an event's row takes it out of the index. */
static void test_store_removed(void)
{
    struct store_fx fx;
    CHECK_OK(store_fx_init(&fx, "nip50", false, T));
    /* Replaced: only the newest version is found, by its own words. */
    CHECK_INT_EQ(put(&fx, 1, PK_A, 0, T - 10, "[]", "old profile alpha"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 2, PK_A, 0, T, "[]", "new profile beta"), STORE_STORED);
    check_query(&fx, "{\"search\":\"alpha\"}", "", 1);
    check_query(&fx, "{\"search\":\"profile\"}", "2", 1);
    CHECK_INT_EQ(put(&fx, 3, PK_A, 30000, T - 10, "[[\"d\",\"k\"]]", "gamma"), STORE_STORED);
    CHECK_INT_EQ(put(&fx, 4, PK_A, 30000, T, "[[\"d\",\"k\"]]", "delta"), STORE_STORED);
    check_query(&fx, "{\"search\":\"gamma\"}", "", 1);
    check_query(&fx, "{\"search\":\"delta\"}", "4", 1);
    /* Deleted by id. */
    CHECK_INT_EQ(put(&fx, 5, PK_A, 1, T, "[]", "epsilon words"), STORE_STORED);
    uint8_t id[32] = { 0 };
    id[31] = 5;
    CHECK_INT_EQ(store_delete_ids(fx.w, (const uint8_t(*)[32])id, 1, NULL), 1);
    check_query(&fx, "{\"search\":\"epsilon\"}", "", 1);
    /* Expired: hidden at once, then purged from the index too. */
    CHECK_INT_EQ(put_exp(&fx, 6, PK_A, 1, T, "[[\"expiration\",\"1700000005\"]]", "zeta", T + 5),
                 STORE_STORED);
    check_query(&fx, "{\"search\":\"zeta\"}", "6", 1);
    fx.now = T + 5;
    check_query(&fx, "{\"search\":\"zeta\"}", "", 1);
    CHECK_INT_EQ(store_purge_expired(fx.w, 10), 1);
    check_query(&fx, "{\"search\":\"zeta\"}", "", 1);
    /* The index holds exactly the stored rows: FTS5's own check passes and
     * a word of every removed event is gone. */
    sqlite3 *db = NULL;
    CHECK_INT_EQ(sqlite3_open(fx.path, &db), SQLITE_OK);
    CHECK_INT_EQ(
        sqlite3_exec(db, "INSERT INTO events_fts(events_fts, rank) VALUES('integrity-check', 1)",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    store_fx_fini(&fx);
}

static void test_query_plan(void)
{
    struct store_fx fx;
    CHECK_OK(store_fx_init(&fx, "nip50", false, T));
    static const char *const filters[] = {
        "{\"search\":\"nostr\"}",
        "{\"search\":\"nostr\",\"kinds\":[1],\"since\":1}",
        "{\"search\":\"nostr\",\"authors\":[\"" PK_A "\"],\"#t\":[\"x\",\"y\"]}",
    };
    for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
        struct filter *f = parse(filters[i]);
        struct buf plan;
        buf_init(&plan);
        CHECK_OK(store_sqlite_query_plan(fx.r, f, &plan));
        const char *text = buf_cstr(&plan);
        CHECK(strstr(text, "SCAN events_fts VIRTUAL TABLE INDEX") != NULL);
        CHECK(strstr(text, "SEARCH events USING INTEGER PRIMARY KEY (rowid=?)") != NULL);
        CHECK(strstr(text, "SCAN events\n") == NULL && strstr(text, "SCAN events ") == NULL);
        CHECK(strstr(text, "SCAN tags") == NULL);
        buf_fini(&plan);
        filter_free(f);
    }
    store_fx_fini(&fx);
}

/* An older database gets its index built from the stored JSON. */
static void check_upgrade(const char *downgrade)
{
    struct store_fx fx;
    CHECK_OK(store_fx_init(&fx, "nip50", false, T));
    put_corpus(&fx);
    store_fx_close(&fx);
    sqlite3 *db = NULL;
    CHECK_INT_EQ(sqlite3_open(fx.path, &db), SQLITE_OK);
    CHECK_INT_EQ(sqlite3_exec(db, downgrade, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    CHECK_OK(store_fx_open(&fx));
    CHECK_INT_EQ(store_sqlite_schema_version(fx.w), STORE_SQLITE_SCHEMA_VERSION);
    check_query(&fx, "{\"search\":\"nostr\"}", "2 5 1 3", 1);
    check_query(&fx, "{\"search\":\"cafe quoted\"}", "5", 1);
    /* New events are indexed and deletions reach the index. */
    CHECK_INT_EQ(put(&fx, 8, PK_B, 1, T, "[]", "nostr again"), STORE_STORED);
    check_query(&fx, "{\"search\":\"again\"}", "8", 1);
    uint8_t id[32] = { 0 };
    id[31] = 1;
    CHECK_INT_EQ(store_delete_ids(fx.w, (const uint8_t(*)[32])id, 1, NULL), 1);
    store_fx_close(&fx);
    CHECK_OK(store_fx_open(&fx));
    CHECK_INT_EQ(store_sqlite_schema_version(fx.r), STORE_SQLITE_SCHEMA_VERSION);
    check_query(&fx, "{\"search\":\"nostr\",\"kinds\":[1]}", "2 8 5", 1);
    store_fx_fini(&fx);
}

#define DOWN_TO_V3                                                                           \
    "DROP TRIGGER events_fts_insert; DROP TRIGGER events_fts_delete; DROP TABLE events_fts;" \
    " PRAGMA user_version = 3;"

static void test_migration_v3_to_v4(void)
{
    check_upgrade(DOWN_TO_V3);
}

static void test_migration_v1_to_v4(void)
{
    check_upgrade(DOWN_TO_V3
                  " DROP TABLE deleted_ids; DROP TABLE deleted_addrs;"
                  " DROP TABLE vanished; DROP INDEX events_expiration;"
                  " ALTER TABLE events DROP COLUMN expiration; PRAGMA user_version = 1;");
}

CHECK_MAIN({ "terms", test_terms }, { "live_match", test_live_match },
           { "store_search", test_store_search }, { "store_removed", test_store_removed },
           { "query_plan", test_query_plan }, { "migration_v3_to_v4", test_migration_v3_to_v4 },
           { "migration_v1_to_v4", test_migration_v1_to_v4 })
