/*
 * Tests for store/store_sqlite through the store interface: duplicates, the
 * NIP-01 replaceable and addressable rules (also within one batch), raw JSON
 * returned byte for byte, restart, the schema version, query plans that
 * never scan a table, limits and multi-filter merging, deletion, and a
 * differential test of writes, queries and counts against a naive model.
 * Each test works in its own temporary directory.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>
#include <stdarg.h>

#include "check.h"
#include "common/buf.h"
#include "common/hex.h"
#include "filters/filter.h"
#include "store/store.h"
#include "store/store_sqlite.h"
#include "store_fx.h"
#include "validate/event.h"

/* hx(1, 1) and hx(1, 2), for filters written as literals. */
#define H1 "0100000000000000000000000000000000000000000000000000000000000001"
#define H2 "0100000000000000000000000000000000000000000000000000000000000002"

#define SIG_ZEROS                                                      \
    "0000000000000000000000000000000000000000000000000000000000000000" \
    "0000000000000000000000000000000000000000000000000000000000000000"

/* An event built from its parts; json must outlive ev. */
struct tev {
    struct buf json;
    struct event ev;
};

/* 64 hex characters: byte 0 is hi, the last four bytes hold n. Ids compare
 * as (hi, n). */
static const char *hx(unsigned hi, unsigned n)
{
    static char ring[8][65];
    static unsigned next;
    char *b = ring[next++ % 8];
    snprintf(b, 65, "%02x%054x%08x", hi & 0xff, 0, n);
    return b;
}

static bool tev_parse(struct tev *t)
{
    const char *reason = NULL;
    if (event_parse(t->json.data, t->json.len, NULL, &t->ev, &reason) < 0) {
        fprintf(stderr, "  event_parse: %s\n    %.*s\n", reason, (int)t->json.len, t->json.data);
        buf_fini(&t->json);
        return false;
    }
    return true;
}

/* Event with id hx(id_hi, id), pubkey hx(0, pk); tags is JSON text. */
static bool tev_make(struct tev *t, unsigned id_hi, unsigned id, unsigned pk, long long created_at,
                     unsigned kind, const char *tags)
{
    buf_init(&t->json);
    buf_printf(&t->json,
               "{\"id\":\"%s\",\"pubkey\":\"%s\",\"created_at\":%lld,\"kind\":%u,\"tags\":%s,"
               "\"content\":\"\",\"sig\":\"" SIG_ZEROS "\"}",
               hx(id_hi, id), hx(0, pk), created_at, kind, tags);
    return tev_parse(t);
}

static void tevs_free(struct tev *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        buf_fini(&t[i].json);
    }
}

/* Writes t[0..n) as one batch and records each status. */
static int write_tevs(struct store_conn *c, struct tev *t, size_t n, enum store_status *st)
{
    const struct event *evs[64] = { 0 };
    struct store_result res[64];
    if (n > 64) {
        return OST_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        evs[i] = &t[i].ev;
    }
    int rc = store_write_batch(c, evs, n, res);
    for (size_t i = 0; i < n; i++) {
        st[i] = res[i].status;
    }
    return rc;
}

static int write_one(struct store_conn *c, struct tev *t, enum store_status *st)
{
    return write_tevs(c, t, 1, st);
}

/* What a query returned, in order. */
struct hits {
    size_t n, cap;
    char **json;
    size_t *len;
    size_t stop_after; /* > 0: the callback stops the query after this many */
};

static int hits_add(void *ud, const char *json, size_t len)
{
    struct hits *h = ud;
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        char **js = realloc(h->json, cap * sizeof(*js));
        if (js == NULL) {
            return OST_ENOMEM;
        }
        h->json = js;
        size_t *lens = realloc(h->len, cap * sizeof(*lens));
        if (lens == NULL) {
            return OST_ENOMEM;
        }
        h->len = lens;
        h->cap = cap;
    }
    h->json[h->n] = malloc(len + 1);
    if (h->json[h->n] == NULL) {
        return OST_ENOMEM;
    }
    memcpy(h->json[h->n], json, len);
    h->json[h->n][len] = '\0';
    h->len[h->n++] = len;
    return h->n == h->stop_after ? -4242 : 0;
}

static void hits_clear(struct hits *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->json[i]);
    }
    free(h->json);
    free(h->len);
    memset(h, 0, sizeof(*h));
}

static bool hit_is(const struct hits *h, size_t i, const struct tev *t)
{
    return i < h->n && h->len[i] == t->json.len && memcmp(h->json[i], t->json.data, h->len[i]) == 0;
}

/* Parses the filters of a REQ ("{...},{...}") formatted like printf. */
__attribute__((format(printf, 2, 3))) static int parse_set(struct filter_set **out, const char *fmt,
                                                           ...)
{
    char text[8192];
    const char *reason = NULL;
    struct filter_limits lim;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    filter_limits_default(&lim);
    int rc = filter_set_parse(text, strlen(text), &lim, 16, out, &reason);
    if (rc < 0) {
        fprintf(stderr, "  filter_set_parse(%s): %s\n", text, reason);
    }
    return rc;
}

/* Runs the filters given as text; results are added to h. */
#define QUERY(c, h, ...)                                            \
    do {                                                            \
        struct filter_set *set_ = NULL;                             \
        CHECK_OK(parse_set(&set_, __VA_ARGS__));                    \
        int qrc_ = store_query_set((c), set_, hits_add, (h), NULL); \
        filter_set_free(set_);                                      \
        CHECK_OK(qrc_);                                             \
    } while (0)

#define COUNT(c, out, ...)                            \
    do {                                              \
        struct filter_set *set_ = NULL;               \
        CHECK_OK(parse_set(&set_, __VA_ARGS__));      \
        int qrc_ = store_count_set((c), set_, (out)); \
        filter_set_free(set_);                        \
        CHECK_OK(qrc_);                               \
    } while (0)

static void test_open_and_roles(void)
{
    struct store_fx fx;
    struct stat st;
    CHECK_OK(store_fx_init(&fx, "store", true, 0));
    CHECK(stat(fx.path, &st) == 0);
    CHECK_STR_EQ(store_backend_name(fx.s), "sqlite");
    CHECK_INT_EQ(store_sqlite_schema_version(fx.w), STORE_SQLITE_SCHEMA_VERSION);
    CHECK_INT_EQ(store_sqlite_schema_version(fx.r), STORE_SQLITE_SCHEMA_VERSION);

    /* A reader handle cannot write, and says so in every result. */
    struct tev t;
    enum store_status status;
    CHECK(tev_make(&t, 1, 1, 1, 100, 1, "[]"));
    int rc = write_one(fx.r, &t, &status);
    tevs_free(&t, 1);
    CHECK_INT_EQ(rc, OST_EINVAL);
    CHECK_INT_EQ(status, STORE_FAILED);
    CHECK_INT_EQ(store_delete_ids(fx.r, NULL, 0, NULL), OST_EINVAL);
    store_fx_fini(&fx);

    /* Bad options. */
    struct store *s = NULL;
    struct store_options opt = { .backend = STORE_BACKEND_SQLITE };
    CHECK_INT_EQ(store_open(&opt, &s), OST_EINVAL);
    opt.sqlite.path = "";
    CHECK_INT_EQ(store_open(&opt, &s), OST_EINVAL);
    opt.sqlite.path = ":memory:";
    CHECK_INT_EQ(store_open(&opt, &s), OST_EINVAL);
    opt.backend = (enum store_backend)7;
    opt.sqlite.path = "/tmp/x.db";
    CHECK_INT_EQ(store_open(&opt, &s), OST_EINVAL);
    /* A parent that cannot be created. */
    opt.backend = STORE_BACKEND_SQLITE;
    opt.sqlite.path = "/proc/ost-no-such-dir/x.db";
    CHECK_INT_EQ(store_open(&opt, &s), OST_EIO);
}

static void test_duplicates(void)
{
    struct store_fx fx;
    struct tev t[3];
    enum store_status st[3];
    struct hits h = { 0 };
    CHECK_OK(store_fx_init(&fx, "store", true, 0));
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
    bool ok = parse_set(&set, "{\"authors\":[\"%s\"],\"kinds\":[%u]}", hx(0, pk), kind) == 0 &&
              store_query_set(c, set, hits_add, &h, NULL) == 0 && h.n == 1 && hit_is(&h, 0, want);
    filter_set_free(set);
    hits_clear(&h);
    return ok;
}

static void test_replaceable(void)
{
    static const unsigned kinds[] = { 0, 3, 10000, 10002, 19999 };
    struct store_fx fx;
    CHECK_OK(store_fx_init(&fx, "store", true, 0));
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
    struct tev t[4];
    enum store_status st[4];
    CHECK_OK(store_fx_init(&fx, "store", true, 0));
    /* Old then new within one batch: both stored, the old one replaced. */
    CHECK(tev_make(&t[0], 1, 1, 1, 100, 0, "[]"));
    CHECK(tev_make(&t[1], 1, 2, 1, 200, 0, "[]"));
    /* New then old: the old one is refused. */
    CHECK(tev_make(&t[2], 1, 3, 2, 200, 10002, "[]"));
    CHECK(tev_make(&t[3], 1, 4, 2, 100, 10002, "[]"));
    CHECK_OK(write_tevs(fx.w, t, 4, st));
    CHECK_INT_EQ(st[0], STORE_STORED);
    CHECK_INT_EQ(st[1], STORE_STORED);
    CHECK_INT_EQ(st[2], STORE_STORED);
    CHECK_INT_EQ(st[3], STORE_REPLACED_OLDER);
    CHECK(only_version(fx.r, 1, 0, &t[1]));
    CHECK(only_version(fx.r, 2, 10002, &t[2]));
    tevs_free(t, 4);
    store_fx_fini(&fx);
}

static void test_addressable(void)
{
    struct store_fx fx;
    struct tev t[9];
    enum store_status st[9];
    struct hits h = { 0 };
    CHECK_OK(store_fx_init(&fx, "store", true, 0));
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
    struct tev t[4];
    enum store_status st[4];
    uint64_t count = 0;
    CHECK_OK(store_fx_init(&fx, "store", true, 0));
    /* Kind 5 (deletion) and others are stored as they are, every version. */
    CHECK(tev_make(&t[0], 1, 1, 1, 100, 5, "[[\"e\",\"00\"]]"));
    CHECK(tev_make(&t[1], 1, 2, 1, 100, 5, "[]"));
    CHECK(tev_make(&t[2], 1, 3, 1, 100, 1, "[]"));
    CHECK(tev_make(&t[3], 1, 4, 1, 90, 1, "[]"));
    CHECK_OK(write_tevs(fx.w, t, 4, st));
    for (size_t i = 0; i < 4; i++) {
        CHECK_INT_EQ(st[i], STORE_STORED);
    }
    COUNT(fx.r, &count, "{\"kinds\":[5]}");
    CHECK_INT_EQ(count, 2);
    COUNT(fx.r, &count, "{\"kinds\":[1]}");
    CHECK_INT_EQ(count, 2);
    tevs_free(t, 4);
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
        "\\u0000 \xc3\xa9\", \"sig\":\"" SIG_ZEROS "\" }";
    struct store_fx fx;
    struct tev t;
    enum store_status st;
    struct hits h = { 0 };
    CHECK_OK(store_fx_init(&fx, "store", true, 0));
    buf_init(&t.json);
    CHECK_OK(buf_append(&t.json, raw, sizeof(raw) - 1));
    CHECK(tev_parse(&t));
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
    CHECK_OK(store_fx_init(&fx, "store", true, 0));
    for (unsigned i = 0; i < 40; i++) {
        CHECK(tev_make(&t[i], 2, i, i % 3, 1000 + i, i < 39 ? 1 : 0, "[[\"t\",\"keep\"]]"));
    }
    CHECK_OK(write_tevs(fx.w, t, 40, st));
    store_fx_close(&fx);
    CHECK_OK(store_fx_open(&fx));
    CHECK_INT_EQ(store_sqlite_schema_version(fx.r), STORE_SQLITE_SCHEMA_VERSION);
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

static void test_newer_schema_refused(void)
{
    struct store_fx fx;
    sqlite3 *db = NULL;
    CHECK_OK(store_fx_init(&fx, "store", true, 0));
    store_fx_close(&fx);
    CHECK_INT_EQ(sqlite3_open(fx.path, &db), SQLITE_OK);
    CHECK_INT_EQ(sqlite3_exec(db, "PRAGMA user_version = 5", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct store_options opt = { .backend = STORE_BACKEND_SQLITE };
    opt.sqlite.path = fx.path;
    CHECK_INT_EQ(store_open(&opt, &fx.s), OST_EINVAL);
    CHECK(fx.s == NULL);
    /* The version this code writes is accepted. */
    CHECK_INT_EQ(sqlite3_open(fx.path, &db), SQLITE_OK);
    CHECK_INT_EQ(sqlite3_exec(db, "PRAGMA user_version = 4", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
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
        { "{\"#e\":[\"" H1 "\"]}",
          "SEARCH tags USING COVERING INDEX tags_value (name=? AND value=?)", false },
        { "{\"#p\":[\"" H1 "\",\"" H2 "\"],\"kinds\":[1]}",
          "SEARCH tags USING COVERING INDEX tags_value (name=? AND value=?)", false },
        { "{\"#t\":[\"nostr\"],\"#p\":[\"" H1 "\"],\"until\":9}",
          "SEARCH c USING COVERING INDEX tags_ev (ev=? AND name=? AND value=?)", false },
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
        struct filter_set *set = NULL;
        CHECK_OK(parse_set(&set, "%s", cases[i].filter));
        buf_reset(&plan);
        int rc = store_sqlite_query_plan(fx.w, filter_set_at(set, 0), &plan);
        filter_set_free(set);
        CHECK_OK(rc);
        const char *text = buf_cstr(&plan);
        CHECK(text != NULL);
        if (strstr(text, cases[i].want) == NULL || strstr(text, "SCAN") != NULL ||
            (cases[i].is_sorted && strstr(text, "TEMP B-TREE") != NULL)) {
            fprintf(stderr, "  filter %s:\n%s", cases[i].filter, text);
        }
        CHECK(strstr(text, cases[i].want) != NULL);
        CHECK(strstr(text, "SCAN") == NULL);
        CHECK(!cases[i].is_sorted || strstr(text, "TEMP B-TREE") == NULL);
    }
    /* One tag value is read in time order, and only the id tie-break sorts. */
    struct filter_set *set = NULL;
    CHECK_OK(parse_set(&set, "{\"#e\":[\"" H1 "\"],\"limit\":3}"));
    buf_reset(&plan);
    int rc = store_sqlite_query_plan(fx.w, filter_set_at(set, 0), &plan);
    filter_set_free(set);
    CHECK_OK(rc);
    CHECK(strstr(buf_cstr(&plan), "USE TEMP B-TREE FOR RIGHT PART OF ORDER BY") != NULL);
    buf_fini(&plan);
    store_fx_fini(&fx);
}

static void test_limits_and_merge(void)
{
    struct store_fx fx;
    struct tev t[6];
    enum store_status st[6];
    struct hits h = { 0 };
    uint64_t count = 0;
    CHECK_OK(store_fx_init(&fx, "store", true, 0));
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
    CHECK_OK(parse_set(&set, "{}"));
    h.stop_after = 2;
    int rc = store_query_set(fx.r, set, hits_add, &h, NULL);
    filter_set_free(set);
    CHECK_INT_EQ(rc, -4242);
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

static void test_delete_ids(void)
{
    struct store_fx fx;
    struct tev t[3];
    enum store_status st[3];
    uint64_t count = 0;
    uint8_t ids[3][32], pk[32];
    CHECK_OK(store_fx_init(&fx, "store", true, 0));
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

static void test_reasons(void)
{
    static const int codes[] = { 0,          OST_EEXIST,    OST_ENOMEM, OST_ENOSPC, OST_ETIMEDOUT,
                                 OST_EAGAIN, OST_ESHUTDOWN, OST_EINVAL, OST_EIO };
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
}

/* Differential test: seeded random events (with duplicates, replaceable and
 * addressable kinds, escaped tag values and many equal timestamps) are
 * written in random batches while a naive model applies the NIP-01 rules;
 * then seeded random REQs are answered by the store and by a scan of the
 * model with filter_matches, and must agree event for event, in order. */

#define DIFF_SEED    0x5eedf00d2024ull
#define DIFF_EVENTS  3000
#define DIFF_QUERIES 300

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

static unsigned rnd(uint64_t *s, unsigned n)
{
    return (unsigned)(rng_next(s) >> 33) % n;
}

/* Fixed tags; d is the unescaped value of a "d" tag, else NULL. */
static const struct {
    const char *json;
    const char *d;
} tag_pool[] = {
    { "[\"t\",\"nostr\"]", NULL },
    { "[\"t\",\"caf\\u00e9\"]", NULL },
    { "[\"t\",\"caf\xc3\xa9\"]", NULL },
    { "[\"t\",\"\\u0041\"]", NULL },
    { "[\"t\",\"A\"]", NULL },
    { "[\"t\",\"\"]", NULL },
    { "[\"t\"]", NULL },
    { "[\"alt\",\"nostr\"]", NULL },
    { "[\"T\",\"nostr\"]", NULL },
    { "[\"d\",\"x\"]", "x" },
    { "[\"d\",\"\\u0078\"]", "x" },
    { "[\"d\",\"y\"]", "y" },
    { "[\"d\"]", "" },
    { "[\"d\",\"\"]", "" },
};
#define TAG_POOL_N (sizeof(tag_pool) / sizeof(tag_pool[0]))

static const unsigned kind_pool[] = { 1, 1, 1, 7, 5, 0, 3, 10002, 30023, 30023, 31000 };
static const char *const t_filter_pool[] = { "nostr", "caf\\u00e9", "A", "\\u0041", "", "zzz" };

/* One event of the model. */
struct dev {
    struct tev t;
    unsigned pk;
    const char *d; /* the address part for addressable kinds */
    bool is_alive;
};

/* Event i: mostly new, sometimes a copy of an earlier one. */
static bool dev_make(struct dev *devs, unsigned i, uint64_t *seed)
{
    struct dev *e = &devs[i];
    memset(e, 0, sizeof(*e));
    if (i > 0 && rnd(seed, 100) < 3) {
        const struct dev *src = &devs[rnd(seed, i)];
        buf_init(&e->t.json);
        buf_append(&e->t.json, src->t.json.data, src->t.json.len);
        e->pk = src->pk;
        e->d = src->d;
        return tev_parse(&e->t);
    }
    struct buf tags;
    buf_init(&tags);
    buf_append_char(&tags, '[');
    unsigned n_tags = rnd(seed, 5);
    const char *d = NULL;
    for (unsigned k = 0; k < n_tags; k++) {
        if (k > 0) {
            buf_append_char(&tags, ',');
        }
        unsigned pick = rnd(seed, TAG_POOL_N + 2);
        if (pick == TAG_POOL_N) {
            buf_printf(&tags, "[\"e\",\"%s\",\"wss://r\"]", hx(3, rnd(seed, 30)));
        } else if (pick == TAG_POOL_N + 1) {
            buf_printf(&tags, "[\"p\",\"%s\"]", hx(0, rnd(seed, 8)));
        } else {
            buf_append_str(&tags, tag_pool[pick].json);
            d = d == NULL ? tag_pool[pick].d : d;
        }
    }
    buf_append_char(&tags, ']');
    unsigned kind = kind_pool[rnd(seed, sizeof(kind_pool) / sizeof(kind_pool[0]))];
    e->pk = rnd(seed, 6);
    e->d = event_kind_is_addressable(kind) ? (d != NULL ? d : "") : NULL;
    bool ok = buf_cstr(&tags) != NULL &&
              tev_make(&e->t, rnd(seed, 256), i, e->pk, 1000 + rnd(seed, 300), kind, tags.data);
    buf_fini(&tags);
    return ok;
}

/* The model's answer to writing event i (events before it already applied). */
static enum store_status model_write(struct dev *devs, unsigned i)
{
    struct dev *e = &devs[i];
    const struct event *ev = &e->t.ev;
    bool is_repl = event_kind_is_replaceable(ev->kind) || event_kind_is_addressable(ev->kind);
    for (unsigned j = 0; j < i; j++) {
        if (devs[j].is_alive && memcmp(devs[j].t.ev.id, ev->id, 32) == 0) {
            return STORE_DUPLICATE;
        }
    }
    for (unsigned j = 0; is_repl && j < i; j++) {
        const struct event *o = &devs[j].t.ev;
        if (!devs[j].is_alive || devs[j].pk != e->pk || o->kind != ev->kind ||
            (e->d != NULL && strcmp(devs[j].d, e->d) != 0)) {
            continue;
        }
        if (o->created_at > ev->created_at ||
            (o->created_at == ev->created_at && memcmp(o->id, ev->id, 32) < 0)) {
            return STORE_REPLACED_OLDER;
        }
    }
    for (unsigned j = 0; is_repl && j < i; j++) {
        if (devs[j].pk == e->pk && devs[j].t.ev.kind == ev->kind &&
            (e->d == NULL || strcmp(devs[j].d, e->d) == 0)) {
            devs[j].is_alive = false;
        }
    }
    e->is_alive = true;
    return STORE_STORED;
}

/* Appends a random filter object to out. */
static void random_filter(struct buf *out, uint64_t *seed, const struct dev *devs)
{
    bool first = true;
    buf_append_char(out, '{');
#define FIELD(name) (buf_append_str(out, first ? name : "," name), first = false)
    if (rnd(seed, 100) < 15) {
        FIELD("\"ids\":[");
        unsigned n = rnd(seed, 4);
        for (unsigned k = 0; k < n; k++) {
            /* Ids of events (live or not), and some that never were. */
            unsigned i = rnd(seed, DIFF_EVENTS + DIFF_EVENTS / 4);
            char id[65] = { 0 };
            if (i < DIFF_EVENTS) {
                hex_encode(devs[i].t.ev.id, 32, id);
            }
            buf_printf(out, "%s\"%s\"", k ? "," : "", i < DIFF_EVENTS ? id : hx(255, i));
        }
        buf_append_char(out, ']');
    }
    if (rnd(seed, 100) < 40) {
        FIELD("\"authors\":[");
        for (unsigned k = 0, n = 1 + rnd(seed, 3); k < n; k++) {
            buf_printf(out, "%s\"%s\"", k ? "," : "", hx(0, rnd(seed, 8)));
        }
        buf_append_char(out, ']');
    }
    if (rnd(seed, 100) < 40) {
        FIELD("\"kinds\":[");
        for (unsigned k = 0, n = 1 + rnd(seed, 3); k < n; k++) {
            unsigned kind = kind_pool[rnd(seed, sizeof(kind_pool) / sizeof(kind_pool[0]))];
            buf_printf(out, "%s%u", k ? "," : "", kind);
        }
        buf_append_char(out, ']');
    }
    if (rnd(seed, 100) < 15) {
        FIELD("\"#e\":[");
        for (unsigned k = 0, n = 1 + rnd(seed, 2); k < n; k++) {
            buf_printf(out, "%s\"%s\"", k ? "," : "", hx(3, rnd(seed, 30)));
        }
        buf_append_char(out, ']');
    }
    if (rnd(seed, 100) < 15) {
        FIELD("\"#p\":[");
        for (unsigned k = 0, n = 1 + rnd(seed, 2); k < n; k++) {
            buf_printf(out, "%s\"%s\"", k ? "," : "", hx(0, rnd(seed, 8)));
        }
        buf_append_char(out, ']');
    }
    if (rnd(seed, 100) < 20) {
        FIELD("\"#t\":[");
        for (unsigned k = 0, n = 1 + rnd(seed, 2); k < n; k++) {
            buf_printf(out, "%s\"%s\"", k ? "," : "", t_filter_pool[rnd(seed, 6)]);
        }
        buf_append_char(out, ']');
    }
    if (rnd(seed, 100) < 10) {
        FIELD("\"#d\":[");
        buf_printf(out, "\"%s\"]", rnd(seed, 2) ? "x" : "");
    }
    if (rnd(seed, 100) < 30) {
        FIELD("\"since\":");
        buf_printf(out, "%u", 1000 + rnd(seed, 300));
    }
    if (rnd(seed, 100) < 30) {
        FIELD("\"until\":");
        buf_printf(out, "%u", 1000 + rnd(seed, 300));
    }
    if (rnd(seed, 100) < 70) {
        FIELD("\"limit\":");
        buf_printf(out, "%u", rnd(seed, 40));
    }
#undef FIELD
    buf_append_char(out, '}');
}

struct diff_key {
    int64_t created_at;
    const uint8_t *id;
    unsigned idx;
};

static int cmp_diff_key(const void *pa, const void *pb)
{
    const struct diff_key *a = pa, *b = pb;
    if (a->created_at != b->created_at) {
        return a->created_at > b->created_at ? -1 : 1;
    }
    return memcmp(a->id, b->id, 32);
}

/* The naive answer: per filter, every live match sorted and cut at the
 * limit; then the union, sorted. Returns the count of keys written. *count
 * gets the number of live events any filter matches, ignoring limits. */
static size_t naive_query(const struct dev *devs, const struct filter_set *set, struct diff_key *k,
                          struct diff_key *scratch, bool *in_union, uint64_t *count)
{
    memset(in_union, 0, DIFF_EVENTS * sizeof(*in_union));
    *count = 0;
    for (unsigned i = 0; i < DIFF_EVENTS; i++) {
        *count += devs[i].is_alive && filter_set_matches(set, &devs[i].t.ev);
    }
    for (size_t f = 0; f < filter_set_count(set); f++) {
        size_t n = 0;
        for (unsigned i = 0; i < DIFF_EVENTS; i++) {
            if (devs[i].is_alive && filter_matches(filter_set_at(set, f), &devs[i].t.ev)) {
                scratch[n++] = (struct diff_key){ devs[i].t.ev.created_at, devs[i].t.ev.id, i };
            }
        }
        qsort(scratch, n, sizeof(*scratch), cmp_diff_key);
        uint32_t limit = filter_limit(filter_set_at(set, f));
        for (size_t j = 0; j < n && j < limit; j++) {
            in_union[scratch[j].idx] = true;
        }
    }
    size_t n = 0;
    for (unsigned i = 0; i < DIFF_EVENTS; i++) {
        if (in_union[i]) {
            k[n++] = (struct diff_key){ devs[i].t.ev.created_at, devs[i].t.ev.id, i };
        }
    }
    qsort(k, n, sizeof(*k), cmp_diff_key);
    return n;
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

static void test_differential(void)
{
    uint64_t seed = DIFF_SEED;
    struct store_fx fx;
    struct dev *devs = calloc(DIFF_EVENTS, sizeof(*devs));
    struct diff_key *want = calloc(DIFF_EVENTS, sizeof(*want));
    struct diff_key *scratch = calloc(DIFF_EVENTS, sizeof(*scratch));
    bool *in_union = calloc(DIFF_EVENTS, sizeof(*in_union));
    struct buf text, plan;
    struct hits h = { 0 };
    buf_init(&text);
    buf_init(&plan);
    CHECK(devs != NULL && want != NULL && scratch != NULL && in_union != NULL);
    CHECK_OK(store_fx_init(&fx, "store", true, 0));
    for (unsigned i = 0; i < DIFF_EVENTS; i++) {
        CHECK(dev_make(devs, i, &seed));
    }
    for (unsigned i = 0; i < DIFF_EVENTS;) {
        const struct event *evs[64] = { 0 };
        struct store_result res[64];
        unsigned n = 1 + rnd(&seed, 64);
        n = n < DIFF_EVENTS - i ? n : DIFF_EVENTS - i;
        for (unsigned k = 0; k < n; k++) {
            evs[k] = &devs[i + k].t.ev;
        }
        CHECK_OK(store_write_batch(fx.w, evs, n, res));
        for (unsigned k = 0; k < n; k++) {
            enum store_status model = model_write(devs, i + k);
            if (res[k].status != model) {
                fprintf(stderr, "  seed %#llx: event %u: store %d, model %d\n",
                        (unsigned long long)DIFF_SEED, i + k, res[k].status, model);
            }
            CHECK_INT_EQ(res[k].status, model);
        }
        i += n;
    }
    for (unsigned q = 0; q < DIFF_QUERIES; q++) {
        struct filter_set *set = NULL;
        uint64_t count = 0, want_count = 0;
        buf_reset(&text);
        for (unsigned f = 0, n = 1 + rnd(&seed, 3); f < n; f++) {
            if (f > 0) {
                buf_append_char(&text, ',');
            }
            random_filter(&text, &seed, devs);
        }
        CHECK(buf_cstr(&text) != NULL);
        CHECK_OK(parse_set(&set, "%s", text.data));
        int rc = store_query_set(fx.r, set, hits_add, &h, NULL);
        int count_rc = store_count_set(fx.r, set, &count);
        size_t n_want = naive_query(devs, set, want, scratch, in_union, &want_count);
        bool is_same = rc == 0 && count_rc == 0 && h.n == n_want && count == want_count;
        for (size_t i = 0; is_same && i < n_want; i++) {
            is_same = hit_is(&h, i, &devs[want[i].idx].t);
        }
        for (size_t f = 0; is_same && f < filter_set_count(set); f++) {
            const struct filter *flt = filter_set_at(set, f);
            buf_reset(&plan);
            is_same = store_sqlite_query_plan(fx.r, flt, &plan) == 0 && buf_cstr(&plan) != NULL &&
                      (!has_seek(flt) || strstr(plan.data, "SCAN") == NULL);
        }
        if (!is_same) {
            fprintf(stderr,
                    "  seed %#llx, query %u: %s\n    store: rc %d, %zu events, count %d/%" PRIu64
                    "; naive: %zu events, count %" PRIu64 "\n%s",
                    (unsigned long long)DIFF_SEED, q, text.data, rc, h.n, count_rc, count, n_want,
                    want_count, plan.len ? plan.data : "");
        }
        filter_set_free(set);
        hits_clear(&h);
        CHECK(is_same);
    }
    for (unsigned i = 0; i < DIFF_EVENTS; i++) {
        buf_fini(&devs[i].t.json);
    }
    free(devs);
    free(want);
    free(scratch);
    free(in_union);
    buf_fini(&text);
    buf_fini(&plan);
    store_fx_fini(&fx);
}

/* Sequence numbers grow with every stored event and are never reused, even
 * when the newest row is replaced; a query's snapshot number is the largest
 * one it could see. The relay's EOSE join depends on both. */
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
    const char *reason = NULL;
    struct filter_set *set = NULL;
    int rc = filter_set_parse(filters, strlen(filters), NULL, 4, &set, &reason);
    struct hits h = { 0 };
    rc = rc ? rc : store_query_set(c, set, hits_add, &h, snap);
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
    CHECK_OK(store_fx_init(&fx, "store", true, 0));
    uint64_t snap = 99, s1 = 0, s2 = 0, s3 = 0, s4 = 0;
    CHECK_OK(snapshot(fx.r, &snap));
    CHECK_INT_EQ(snap, 0); /* nothing stored yet */
    struct tev t[4];
    CHECK(tev_make(&t[0], 7, 1, 1, 100, 1, "[]"));
    CHECK(tev_make(&t[1], 7, 2, 2, 100, 0, "[]"));
    CHECK(tev_make(&t[2], 7, 3, 2, 200, 0, "[]")); /* replaces t[1], the newest row */
    CHECK(tev_make(&t[3], 7, 4, 3, 300, 1, "[]"));
    CHECK_OK(store_seq(fx.w, &t[0], &s1));
    CHECK_OK(store_seq(fx.w, &t[1], &s2));
    CHECK_OK(snapshot(fx.r, &snap));
    CHECK_INT_EQ(snap, s2);
    CHECK_OK(store_seq(fx.w, &t[2], &s3));
    CHECK(s1 < s2 && s2 < s3);
    /* Reopening keeps counting up: a restart never reuses a number. */
    store_fx_close(&fx);
    CHECK_OK(store_fx_open(&fx));
    CHECK_OK(snapshot(fx.r, &snap));
    CHECK_INT_EQ(snap, s3);
    CHECK_OK(store_seq(fx.w, &t[3], &s4));
    CHECK(s4 > s3);
    CHECK_OK(snapshot(fx.r, &snap));
    CHECK_INT_EQ(snap, s4);
    tevs_free(t, 4);
    store_fx_fini(&fx);
}

/* NIP-67: a query is complete when no filter was cut by its limit. */
static int complete_for(struct store_conn *c, const char *filters, bool *is_complete)
{
    struct store_snapshot snap = { 0 };
    int rc = query_snapshot(c, filters, &snap);
    *is_complete = snap.is_complete;
    return rc;
}

static void test_completeness(void)
{
    struct store_fx fx;
    CHECK_OK(store_fx_init(&fx, "store", true, 0));
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

CHECK_MAIN({ "open_and_roles", test_open_and_roles }, { "duplicates", test_duplicates },
           { "replaceable", test_replaceable },
           { "replaceable_in_one_batch", test_replaceable_in_one_batch },
           { "addressable", test_addressable }, { "regular_kinds", test_regular_kinds },
           { "raw_bytes_exact", test_raw_bytes_exact }, { "restart", test_restart },
           { "newer_schema_refused", test_newer_schema_refused },
           { "query_plans", test_query_plans }, { "limits_and_merge", test_limits_and_merge },
           { "delete_ids", test_delete_ids }, { "reasons", test_reasons },
           { "differential", test_differential }, { "sequence_numbers", test_sequence_numbers },
           { "completeness", test_completeness })
