/*
 * Queries and counts of the SQLite backend.
 *
 * Design: a statement is built per filter shape in two passes over the same
 * code (text, then bindings), and found in the handle's statement cache by
 * its text. The most selective field of a filter drives through an index
 * named with INDEXED BY (ids, else authors with or without kinds, else the
 * tag condition with the fewest values, else kinds, else time), and the
 * other fields are conditions on the rows it finds. One filter streams rows
 * in their final order; several are merged in memory by (created_at, id)
 * inside one read transaction and read back in that order. Every SELECT
 * leaves out expired events (NIP-40) with a condition on the rows found,
 * against the store's clock read once per statement, so the plan and the
 * driving index stay those of the filter.
 *
 * NIP-50: a filter with search terms drives from the full-text index
 * (events_fts MATCH, joined to events by rowid), whatever its other fields,
 * which become conditions as usual, and its rows come out by relevance
 * (bm25, as FTS5's rank), then newest first. Each term is quoted as an FTS5
 * string and the strings are joined with AND, so no user input is ever read
 * as FTS5 syntax. When several filters are merged, the union is in time
 * order like any other; each search filter still keeps its most relevant
 * rows within its own limit.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "common/buf.h"
#include "common/err.h"
#include "filters/filter.h"
#include "store/store.h"
#include "store/store_sqlite.h"
#include "store/store_sqlite_int.h"

/* Builds a statement in two passes over the same code: the text pass
 * appends SQL with a '?' per value, the bind pass binds the values in the
 * same order, so text and bindings cannot disagree. */
struct sqlb {
    struct buf *sql;  /* text pass: the SQL is appended here */
    sqlite3_stmt *st; /* bind pass: values are bound here */
    int idx;          /* the last parameter number used */
    bool has_where;   /* the current SELECT has its WHERE */
    int rc;           /* the first failure */
    int64_t now;      /* bind pass: the time expiration is compared with */
    bool is_unranked; /* NIP-50: too many matches to rank (search_is_common) */
};

static void sb_sql(struct sqlb *b, const char *s)
{
    if (b->sql != NULL && b->rc == 0) {
        b->rc = buf_append_str(b->sql, s);
    }
}

static void sb_check(struct sqlb *b, int src)
{
    if (src != SQLITE_OK && b->rc == 0) {
        b->rc = store_sqlite__map_rc(src);
    }
}

static void sb_blob(struct sqlb *b, const void *p, size_t len)
{
    b->idx++;
    if (b->sql != NULL) {
        sb_sql(b, "?");
    } else {
        sb_check(b, store_sqlite__bind_blob(b->st, b->idx, p, len));
    }
}

static void sb_int(struct sqlb *b, int64_t v)
{
    b->idx++;
    if (b->sql != NULL) {
        sb_sql(b, "?");
    } else {
        sb_check(b, sqlite3_bind_int64(b->st, b->idx, v));
    }
}

/* The FTS5 query of f's search terms: "t1" AND "t2" ... Terms hold no '"'
 * (filter_search_terms), but one would be doubled, as FTS5 strings want. */
static int match_query(const struct filter *f, struct buf *out)
{
    const uint8_t *const *terms;
    const uint32_t *lens;
    size_t n = filter_search_terms(f, &terms, &lens);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = buf_append_str(out, i ? " AND \"" : "\"");
        for (uint32_t k = 0; k < lens[i] && rc == 0; k++) {
            rc = terms[i][k] == '"' ? buf_append_str(out, "\"\"")
                                    : buf_append_char(out, (char)terms[i][k]);
        }
        rc = rc == 0 ? buf_append_char(out, '"') : rc;
    }
    return rc < 0 ? OST_ENOMEM : 0;
}

/* The MATCH operand of a search filter, bound as a copy. */
static void sb_match(struct sqlb *b, const struct filter *f)
{
    b->idx++;
    if (b->sql != NULL) {
        sb_sql(b, "?");
        return;
    }
    struct buf q;
    buf_init(&q);
    int rc = match_query(f, &q);
    if (rc < 0 && b->rc == 0) {
        b->rc = rc;
    } else if (rc == 0) {
        sb_check(b,
                 sqlite3_bind_text64(b->st, b->idx, q.data, q.len, SQLITE_TRANSIENT, SQLITE_UTF8));
    }
    buf_fini(&q);
}

static void sb_letter(struct sqlb *b, const char *letter)
{
    b->idx++;
    if (b->sql != NULL) {
        sb_sql(b, "?");
    } else {
        sb_check(b, sqlite3_bind_text(b->st, b->idx, letter, 1, SQLITE_STATIC));
    }
}

/* Starts a condition: " WHERE " for the first, " AND " after. */
static void sb_and(struct sqlb *b)
{
    sb_sql(b, b->has_where ? " AND " : " WHERE ");
    b->has_where = true;
}

/* The number of slots an IN list of n values gets: 1, 2, 4, ... 64, then
 * multiples of 64. Extra slots repeat the last value. */
static size_t in_slots(size_t n)
{
    size_t m = 1;
    while (m < n && m < 64) {
        m *= 2;
    }
    return n <= 64 ? m : (n + 63) / 64 * 64;
}

static void sb_in_open(struct sqlb *b, const char *col, size_t i)
{
    if (i == 0) {
        sb_sql(b, col);
        sb_sql(b, " IN (");
    } else {
        sb_sql(b, ",");
    }
}

static void sb_in_hex32(struct sqlb *b, const char *col, const uint8_t (*v)[32], size_t n)
{
    size_t m = in_slots(n);
    for (size_t i = 0; i < m; i++) {
        sb_in_open(b, col, i);
        sb_blob(b, v[i < n ? i : n - 1], 32);
    }
    sb_sql(b, ")");
}

static void sb_in_kinds(struct sqlb *b, const uint32_t *v, size_t n)
{
    size_t m = in_slots(n);
    for (size_t i = 0; i < m; i++) {
        sb_in_open(b, "events.kind", i);
        sb_int(b, v[i < n ? i : n - 1]);
    }
    sb_sql(b, ")");
}

static void sb_in_values(struct sqlb *b, const char *col, const struct filter_tag_cond *tc)
{
    size_t n = tc->n_values, m = in_slots(n);
    for (size_t i = 0; i < m; i++) {
        size_t k = i < n ? i : n - 1;
        sb_in_open(b, col, i);
        sb_blob(b, tc->values[k], tc->value_lens[k]);
    }
    sb_sql(b, ")");
}

enum select_mode {
    SEL_RAW,   /* the stored JSON, in result order */
    SEL_KEYS,  /* rowid, created_at and id, in result order */
    SEL_ROWID, /* rowids only, unordered (for counting) */
};

enum driver {
    DRV_SEARCH, /* NIP-50: the full-text index, by relevance */
    DRV_IDS,
    DRV_AUTHORS_KINDS,
    DRV_AUTHORS,
    DRV_TAG_SEEK, /* one tag value: walk the tags key in time order */
    DRV_TAG_SET,  /* several values: the set of matching rowids */
    DRV_KINDS,
    DRV_TIME,
};

/* The index that drives a query of f, and in *tag the tag condition that
 * drives when one does (the one with the fewest values). */
static enum driver choose_driver(const struct filter *f, size_t *tag)
{
    const uint8_t(*hex)[32];
    const uint32_t *kinds;
    const struct filter_tag_cond *conds;
    size_t n_conds = filter_tag_conds(f, &conds);
    *tag = 0;
    for (size_t i = 1; i < n_conds; i++) {
        *tag = conds[i].n_values < conds[*tag].n_values ? i : *tag;
    }
    const uint8_t *const *terms;
    const uint32_t *lens;
    if (filter_search_terms(f, &terms, &lens) > 0) {
        return DRV_SEARCH;
    }
    if (filter_ids(f, &hex) > 0) {
        return DRV_IDS;
    }
    if (filter_authors(f, &hex) > 0) {
        return filter_kinds(f, &kinds) > 0 ? DRV_AUTHORS_KINDS : DRV_AUTHORS;
    }
    if (n_conds > 0) {
        return conds[*tag].n_values == 1 ? DRV_TAG_SEEK : DRV_TAG_SET;
    }
    return filter_kinds(f, &kinds) > 0 ? DRV_KINDS : DRV_TIME;
}

/* SELECT ... FROM ... and the driving search or tag condition, if any. */
static void sb_from(struct sqlb *b, const struct filter *f, enum driver drv, enum select_mode mode,
                    const struct filter_tag_cond *tc)
{
    static const char *const from[] = {
        [DRV_SEARCH] = " FROM events_fts CROSS JOIN events ON events.rowid = events_fts.rowid",
        [DRV_IDS] = " FROM events INDEXED BY events_id",
        [DRV_AUTHORS_KINDS] = " FROM events INDEXED BY events_pubkey_kind",
        [DRV_AUTHORS] = " FROM events INDEXED BY events_pubkey",
        [DRV_TAG_SEEK] = " FROM tags CROSS JOIN events ON events.rowid = tags.ev",
        [DRV_TAG_SET] = " FROM events NOT INDEXED",
        [DRV_KINDS] = " FROM events INDEXED BY events_kind",
        [DRV_TIME] = " FROM events INDEXED BY events_created",
    };
    static const char *const select[] = {
        [SEL_RAW] = "SELECT events.raw",
        [SEL_KEYS] = "SELECT events.rowid, events.created_at, events.id",
        [SEL_ROWID] = "SELECT events.rowid",
    };
    b->has_where = false;
    sb_sql(b, select[mode]);
    sb_sql(b, from[drv]);
    if (drv == DRV_SEARCH) {
        sb_and(b);
        sb_sql(b, "events_fts MATCH ");
        sb_match(b, f);
    } else if (drv == DRV_TAG_SEEK) {
        sb_and(b);
        sb_sql(b, "tags.name = ");
        sb_letter(b, &tc->letter);
        sb_sql(b, " AND tags.value = ");
        sb_blob(b, tc->values[0], tc->value_lens[0]);
    } else if (drv == DRV_TAG_SET) {
        sb_and(b);
        sb_sql(b, "events.rowid IN (SELECT ev FROM tags WHERE name = ");
        sb_letter(b, &tc->letter);
        sb_sql(b, " AND ");
        sb_in_values(b, "value", tc);
        sb_sql(b, ")");
    }
}

/* Appends (or binds) one SELECT for filter f. */
static void sb_filter(struct sqlb *b, const struct filter *f, enum select_mode mode)
{
    const uint8_t(*ids)[32], (*authors)[32];
    const uint32_t *kinds;
    const struct filter_tag_cond *conds;
    size_t n_ids = filter_ids(f, &ids), n_authors = filter_authors(f, &authors);
    size_t n_kinds = filter_kinds(f, &kinds), n_conds = filter_tag_conds(f, &conds);
    int64_t since, until;
    bool has_since = filter_since(f, &since), has_until = filter_until(f, &until);
    size_t tag;
    enum driver drv = choose_driver(f, &tag);
    bool is_tag_driven = drv == DRV_TAG_SEEK || drv == DRV_TAG_SET;
    /* In a tag seek the time conditions go on the tag rows (which carry the
     * event's created_at) so they narrow the index range. */
    const char *time_col = drv == DRV_TAG_SEEK ? "tags.created_at" : "events.created_at";

    sb_from(b, f, drv, mode, is_tag_driven ? &conds[tag] : NULL);
    /* NIP-40: "Relays SHOULD NOT send expired events to clients, even if
     * they are stored." Expired at the second of the expiration itself. */
    sb_and(b);
    sb_sql(b, "(events.expiration IS NULL OR events.expiration > ");
    sb_int(b, b->now);
    sb_sql(b, ")");
    if (n_ids > 0) {
        sb_and(b);
        sb_in_hex32(b, "events.id", ids, n_ids);
    }
    if (n_authors > 0) {
        sb_and(b);
        sb_in_hex32(b, "events.pubkey", authors, n_authors);
    }
    if (n_kinds > 0) {
        sb_and(b);
        sb_in_kinds(b, kinds, n_kinds);
    }
    if (has_since) {
        sb_and(b);
        sb_sql(b, time_col);
        sb_sql(b, " >= ");
        sb_int(b, since);
    }
    if (has_until) {
        sb_and(b);
        sb_sql(b, time_col);
        sb_sql(b, " <= ");
        sb_int(b, until);
    }
    for (size_t i = 0; i < n_conds; i++) {
        if (i == tag && is_tag_driven) {
            continue;
        }
        sb_and(b);
        /* Every column of the tag key is known: one seek per value. */
        sb_sql(b, "EXISTS (SELECT 1 FROM tags AS c WHERE c.name = ");
        sb_letter(b, &conds[i].letter);
        sb_sql(b, " AND ");
        sb_in_values(b, "c.value", &conds[i]);
        sb_sql(b, " AND c.created_at = events.created_at AND c.ev = events.rowid)");
    }
    if (mode != SEL_ROWID) {
        sb_sql(b, drv == DRV_SEARCH && b->is_unranked ? " ORDER BY events_fts.rowid DESC"
                  : drv == DRV_SEARCH
                      ? " ORDER BY events_fts.rank, events.created_at DESC, events.id"
                  : drv == DRV_TAG_SEEK ? " ORDER BY tags.created_at DESC, events.id"
                                        : " ORDER BY events.created_at DESC, events.id");
        sb_sql(b, " LIMIT ");
        sb_int(b, filter_limit(f));
    }
}

/* NIP-50: whether the search terms of f match more than
 * STORE_SQLITE_SEARCH_CANDIDATES events. Counting that far walks the
 * index without ranking anything. */
static int search_is_common(struct store_sqlite_conn *c, const struct filter *f, bool *out)
{
    static const char sql[] =
        "SELECT count(*) FROM (SELECT 1 FROM events_fts WHERE events_fts MATCH ? LIMIT ?)";
    sqlite3_stmt *st = NULL;
    struct sqlb b = { 0 };
    int rc = store_sqlite__cached_stmt(c, sql, sizeof(sql) - 1, &st);
    if (rc < 0) {
        return rc;
    }
    b.st = st;
    sb_match(&b, f);
    sb_int(&b, STORE_SQLITE_SEARCH_CANDIDATES + 1);
    int src = b.rc == 0 ? sqlite3_step(st) : SQLITE_OK;
    if (b.rc == 0 && src != SQLITE_ROW) {
        b.rc = store_sqlite__db_error(c, "search", src);
    }
    *out = b.rc == 0 && sqlite3_column_int64(st, 0) > STORE_SQLITE_SEARCH_CANDIDATES;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return b.rc;
}

/* The prepared and bound statement for one filter. */
static int filter_stmt(struct store_sqlite_conn *c, const struct filter *f, enum select_mode mode,
                       sqlite3_stmt **out)
{
    bool is_unranked = false;
    const uint8_t *const *terms;
    const uint32_t *lens;
    if (mode != SEL_ROWID && filter_search_terms(f, &terms, &lens) > 0) {
        int rc = search_is_common(c, f, &is_unranked);
        if (rc < 0) {
            return rc;
        }
    }
    buf_reset(&c->sql);
    struct sqlb b = { .sql = &c->sql, .is_unranked = is_unranked };
    sb_filter(&b, f, mode);
    if (b.rc < 0) {
        return b.rc;
    }
    int rc = store_sqlite__cached_stmt(c, c->sql.data, c->sql.len, out);
    if (rc < 0) {
        return rc;
    }
    b = (struct sqlb){ .st = *out, .now = store_sqlite__now(c), .is_unranked = is_unranked };
    sb_filter(&b, f, mode);
    return b.rc;
}

/* Ends the use of a cached statement; the bindings point into a filter that
 * is about to go. */
static void stmt_done(sqlite3_stmt *st)
{
    if (st != NULL) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

/* True when f can contribute rows to a query. */
static bool is_live(const struct filter *f)
{
    return filter_limit(f) > 0 && !filter_never_matches(f);
}

/* Queries */

/* One filter: rows come out of SQLite already in order. */
static int query_one(struct store_sqlite_conn *c, const struct filter *f, store_event_fn fn,
                     void *ud, bool *is_complete)
{
    sqlite3_stmt *st = NULL;
    int rc = filter_stmt(c, f, SEL_RAW, &st);
    int src = SQLITE_DONE;
    uint32_t n = 0;
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *json = (const char *)sqlite3_column_text(st, 0);
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        rc = json != NULL ? fn(ud, json, len) : OST_ENOMEM;
        n++;
    }
    /* Fewer rows than the limit: the limit cut nothing. */
    *is_complete = n < filter_limit(f);
    if (rc == 0 && src != SQLITE_DONE) {
        rc = store_sqlite__db_error(c, "query", src);
    }
    stmt_done(st);
    return rc;
}

static int cmp_keys(const void *pa, const void *pb)
{
    const struct store_sqlite_key *a = pa, *b = pb;
    if (a->created_at != b->created_at) {
        return a->created_at > b->created_at ? -1 : 1;
    }
    return memcmp(a->id, b->id, 32);
}

/* Appends the keys of the rows filter f selects to c->keys[*n..]. */
static int collect_keys(struct store_sqlite_conn *c, const struct filter *f, size_t *n)
{
    sqlite3_stmt *st = NULL;
    int rc = filter_stmt(c, f, SEL_KEYS, &st);
    int src = SQLITE_DONE;
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == c->keys_cap) {
            size_t cap = c->keys_cap ? 2 * c->keys_cap : 256;
            struct store_sqlite_key *grown = realloc(c->keys, cap * sizeof(*grown));
            if (grown == NULL) {
                rc = OST_ENOMEM;
                break;
            }
            c->keys = grown;
            c->keys_cap = cap;
        }
        struct store_sqlite_key *k = &c->keys[(*n)++];
        k->rowid = sqlite3_column_int64(st, 0);
        k->created_at = sqlite3_column_int64(st, 1);
        const void *id = sqlite3_column_blob(st, 2);
        if (id == NULL || sqlite3_column_bytes(st, 2) != 32) {
            rc = OST_EIO;
            break;
        }
        memcpy(k->id, id, 32);
    }
    if (rc == 0 && src != SQLITE_DONE && src != SQLITE_ROW) {
        rc = store_sqlite__db_error(c, "query", src);
    }
    stmt_done(st);
    return rc;
}

/* Several filters: each gives its own newest rows (its limit applies to it
 * alone); the union is sorted, de-duplicated and then read in order. The
 * caller's read transaction keeps the rowids valid between the two steps. */
static int query_merge(struct store_sqlite_conn *c, const struct filter *const *filters, size_t n,
                       store_event_fn fn, void *ud, bool *is_complete)
{
    size_t n_keys = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (is_live(filters[i])) {
            size_t before = n_keys;
            rc = collect_keys(c, filters[i], &n_keys);
            *is_complete &= n_keys - before < filter_limit(filters[i]);
        }
    }
    if (rc == 0 && n_keys > 1) {
        qsort(c->keys, n_keys, sizeof(*c->keys), cmp_keys);
    }
    sqlite3_stmt *st = c->st[ST_RAW_BY_ROWID];
    for (size_t i = 0; i < n_keys && rc == 0; i++) {
        if (i > 0 && c->keys[i].rowid == c->keys[i - 1].rowid) {
            continue; /* equal keys sort next to each other */
        }
        sqlite3_bind_int64(st, 1, c->keys[i].rowid);
        int src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            const char *json = (const char *)sqlite3_column_text(st, 0);
            size_t len = (size_t)sqlite3_column_bytes(st, 0);
            rc = json != NULL ? fn(ud, json, len) : OST_ENOMEM;
        } else {
            rc = store_sqlite__db_error(c, "read event", src);
        }
        sqlite3_reset(st);
    }
    return rc;
}

/* The sequence number of the read transaction's snapshot. */
static int read_snapshot(struct store_sqlite_conn *c, uint64_t *out)
{
    sqlite3_stmt *st = c->st[ST_SNAPSHOT];
    int src = sqlite3_step(st);
    int rc = 0;
    if (src == SQLITE_ROW) {
        *out = (uint64_t)sqlite3_column_int64(st, 0);
    } else if (src == SQLITE_DONE) {
        *out = 0; /* nothing was ever stored */
    } else {
        rc = store_sqlite__db_error(c, "read snapshot", src);
    }
    sqlite3_reset(st);
    return rc;
}

int store_sqlite__query(struct store_conn *base, const struct filter *const *filters, size_t n,
                        store_event_fn fn, void *ud, struct store_snapshot *snap)
{
    struct store_sqlite_conn *c = store_sqlite__conn(base);
    size_t n_live = 0, last = 0;
    /* A filter that can never match is complete; one with limit 0 asked for
     * nothing, so whatever matches it was not sent. */
    bool is_complete = true;
    for (size_t i = 0; i < n; i++) {
        if (is_live(filters[i])) {
            n_live++;
            last = i;
        } else if (!filter_never_matches(filters[i])) {
            is_complete = false;
        }
    }
    if (n_live == 0 && snap == NULL) {
        return 0;
    }
    /* One read transaction: the snapshot number and the rows come from the
     * same view of the database. */
    int rc = store_sqlite__run(c, c->st[ST_BEGIN_READ], "begin");
    if (rc < 0) {
        return rc;
    }
    uint64_t seq = 0;
    rc = snap != NULL ? read_snapshot(c, &seq) : 0;
    if (rc == 0 && n_live == 1) {
        bool one_complete;
        rc = query_one(c, filters[last], fn, ud, &one_complete);
        is_complete &= one_complete;
    } else if (rc == 0 && n_live > 1) {
        rc = query_merge(c, filters, n, fn, ud, &is_complete);
    }
    int end_rc = store_sqlite__run(c, c->st[ST_COMMIT], "end read");
    rc = rc < 0 ? rc : end_rc;
    if (rc == 0 && snap != NULL) {
        snap->seq = seq;
        snap->is_complete = is_complete;
    }
    return rc;
}

/* SELECT count(*) FROM (q1 UNION q2 ...): UNION removes the events that
 * several filters match. With has_pubkeys the rows are the events' pubkeys
 * instead, one per counted event, for the caller to count and stream. */
static void sb_count(struct sqlb *b, const struct filter *const *filters, size_t n,
                     bool has_pubkeys)
{
    sb_sql(b,
           has_pubkeys ? "SELECT pubkey FROM events WHERE rowid IN (" : "SELECT count(*) FROM (");
    bool is_first = true;
    for (size_t i = 0; i < n; i++) {
        if (filter_never_matches(filters[i])) {
            continue;
        }
        sb_sql(b, is_first ? "" : " UNION ");
        sb_filter(b, filters[i], SEL_ROWID);
        is_first = false;
    }
    sb_sql(b, ")");
}

/* Steps a pubkey-per-event count statement: counts the rows and hands
 * each pubkey to fn. */
static int step_pubkeys(struct store_sqlite_conn *c, sqlite3_stmt *st, store_pubkey_fn fn, void *ud,
                        uint64_t *out)
{
    uint64_t n = 0;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        const uint8_t *pubkey = sqlite3_column_blob(st, 0);
        if (pubkey == NULL || sqlite3_column_bytes(st, 0) != 32) {
            return OST_EIO;
        }
        fn(ud, pubkey);
        n++;
    }
    if (src != SQLITE_DONE) {
        return store_sqlite__db_error(c, "count", src);
    }
    *out = n;
    return 0;
}

int store_sqlite__count(struct store_conn *base, const struct filter *const *filters, size_t n,
                        store_pubkey_fn fn, void *ud, uint64_t *out)
{
    struct store_sqlite_conn *c = store_sqlite__conn(base);
    size_t n_live = 0;
    for (size_t i = 0; i < n; i++) {
        n_live += !filter_never_matches(filters[i]);
    }
    if (n_live == 0) {
        *out = 0;
        return 0;
    }
    buf_reset(&c->sql);
    struct sqlb b = { .sql = &c->sql };
    sb_count(&b, filters, n, fn != NULL);
    sqlite3_stmt *st = NULL;
    int rc = b.rc < 0 ? b.rc : store_sqlite__cached_stmt(c, c->sql.data, c->sql.len, &st);
    if (rc < 0) {
        return rc;
    }
    b = (struct sqlb){ .st = st, .now = store_sqlite__now(c) };
    sb_count(&b, filters, n, fn != NULL);
    rc = b.rc;
    if (rc == 0 && fn != NULL) {
        rc = step_pubkeys(c, st, fn, ud, out);
        stmt_done(st);
        return rc;
    }
    int src = rc == 0 ? sqlite3_step(st) : SQLITE_DONE;
    if (rc == 0 && src == SQLITE_ROW) {
        *out = (uint64_t)sqlite3_column_int64(st, 0);
    } else if (rc == 0) {
        rc = store_sqlite__db_error(c, "count", src);
    }
    stmt_done(st);
    return rc;
}

int store_sqlite_query_plan(struct store_conn *base, const struct filter *f, struct buf *out)
{
    struct store_sqlite_conn *c = store_sqlite__conn(base);
    buf_reset(&c->sql);
    struct sqlb b = { .sql = &c->sql };
    sb_sql(&b, "EXPLAIN QUERY PLAN ");
    sb_filter(&b, f, SEL_RAW);
    if (b.rc < 0) {
        return b.rc;
    }
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v2(c->db, c->sql.data, (int)c->sql.len, &st, NULL);
    int rc = src == SQLITE_OK ? 0 : store_sqlite__db_error(c, "explain", src);
    while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(st, 3);
        rc = buf_append_str(out, detail != NULL ? detail : "");
        rc = rc == 0 ? buf_append_char(out, '\n') : rc;
    }
    if (rc == 0 && src != SQLITE_DONE) {
        rc = store_sqlite__db_error(c, "explain", src);
    }
    sqlite3_finalize(st);
    return rc;
}
