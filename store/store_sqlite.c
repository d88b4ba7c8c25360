/*
 * The SQLite backend.
 *
 * Design. Schema version 5 (PRAGMA user_version):
 *   events(rowid INTEGER PRIMARY KEY, id BLOB, pubkey BLOB, kind INTEGER,
 *          created_at INTEGER, d_tag TEXT, raw TEXT, expiration INTEGER)
 *   tags(name, value BLOB, created_at, ev) WITHOUT ROWID, keyed by all four:
 *          one row per distinct (event, single-letter tag name, second
 *          element); created_at is copied from the event so a tag seek
 *          comes out in time order, and one b-tree serves both the seek
 *          and the check of a known event's tag.
 * The rowid is declared, so VACUUM cannot renumber what tags.ev points at.
 * expiration (version 2, NIP-40) is NULL for events without one; every
 * query adds "expiration IS NULL OR expiration > now" as a condition on the
 * rows its index finds, and a partial index over the non-NULL values lets
 * the storage thread find and purge expired rows in bounded passes. A
 * version 1 database is upgraded in place when it is opened: the column
 * and the index are added and filled from the stored JSON.
 * Version 3 (NIP-09, NIP-62) adds the records of deletions, which refuse
 * what was deleted when it is sent again (store_sqlite_delete.c):
 *   deleted_ids(id, pubkey), deleted_addrs(pubkey, kind, d_tag, created_at),
 *   vanished(pubkey, created_at).
 * Version 4 (NIP-50) adds events_fts, a contentless FTS5 table (unicode61
 * tokenizer, diacritics removed) whose rowid is the event's rowid and whose
 * one column is the event's decoded content. Since version 5 the store
 * keeps it in step itself: a write indexes the content it has decoded
 * anyway, and every deletion (replacement, NIP-09 or NIP-62 deletion,
 * NIP-40 purge, delete_ids) goes through store_sqlite__delete_rowid, which
 * reads the event back and removes its tag rows and the same text, in the
 * same transaction. The text is read back from raw rather than kept twice:
 * a contentless table stores only the index, and a delete needs the
 * original text. Search queries drive from events_fts.
 * The indexes that queries seek on end in (created_at DESC, id), the order
 * results are returned in, so a single-valued seek reads rows already sorted
 * and stops at LIMIT. WAL with synchronous=FULL: COMMIT returns after the
 * WAL is fsynced, so a batch reported stored survives a power loss.
 *
 * Queries are built per filter shape with bound parameters only. The most
 * selective field drives (ids, else authors with or without kinds, else one
 * tag condition, else kinds, else the time index), named with INDEXED BY so
 * the plan never depends on statistics; the other fields become conditions
 * on the rows found. IN lists are padded to a few sizes by repeating their
 * last value, so the number of distinct statements stays small; each
 * handle caches its prepared statements.
 *
 * A handle belongs to one thread (the connection is opened NOMUTEX).
 * This file: schema, handles, the statement cache and writes; queries are
 * in store_sqlite_query.c.
 */
#include "store/store_sqlite.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/stat.h>

#include <sqlite3.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "common/log.h"
#include "filters/filter.h"
#include "store/store.h"
#include "store/store_sqlite_int.h"
#include "validate/event.h"

/* The expired rows a purge pass takes: ?1 is now, ?2 the most rows. */
#define PURGE_ROWS                                                           \
    "SELECT rowid FROM events INDEXED BY events_expiration"                  \
    " WHERE expiration IS NOT NULL AND expiration <= ?1 ORDER BY expiration" \
    " LIMIT ?2"

static const char *const fixed_sql[ST_COUNT] = {
    [ST_BEGIN_WRITE] = "BEGIN IMMEDIATE",
    [ST_BEGIN_READ] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_HAS_ID] = "SELECT 1 FROM events WHERE id = ?1",
    [ST_FIND_REPL] = "SELECT rowid, created_at, id FROM events WHERE pubkey = ?1 AND kind = ?2",
    [ST_FIND_ADDR] = "SELECT rowid, created_at, id FROM events"
                     " WHERE pubkey = ?1 AND kind = ?2 AND d_tag = ?3",
    [ST_INSERT_EVENT] = "INSERT INTO events(id, pubkey, kind, created_at, d_tag, raw, expiration)"
                        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_INSERT_TAG] = "INSERT OR IGNORE INTO tags(name, value, created_at, ev)"
                      " VALUES(?1, ?2, ?3, ?4)",
    [ST_DELETE_TAG] = "DELETE FROM tags WHERE name = ?1 AND value = ?2 AND created_at = ?3"
                      " AND ev = ?4",
    [ST_FTS_INSERT] = "INSERT INTO events_fts(rowid, content) VALUES(?1, ?2)",
    [ST_FTS_DELETE] = "INSERT INTO events_fts(events_fts, rowid, content) VALUES('delete', ?1, ?2)",
    [ST_DELETE_EVENT] = "DELETE FROM events WHERE rowid = ?1",
    [ST_FIND_OWNED] = "SELECT rowid FROM events WHERE id = ?1 AND (?2 IS NULL OR pubkey = ?2)",
    [ST_RAW_BY_ROWID] = "SELECT raw FROM events WHERE rowid = ?1",
    [ST_USER_VERSION] = "PRAGMA user_version",
    /* AUTOINCREMENT keeps the largest rowid ever used here, deleted or not. */
    [ST_SNAPSHOT] = "SELECT seq FROM sqlite_sequence WHERE name = 'events'",
    [ST_PURGE_FIND] = PURGE_ROWS,
    [ST_IS_DELETED_ID] = "SELECT 1 FROM deleted_ids WHERE id = ?1 AND pubkey = ?2",
    [ST_IS_DELETED_ADDR] = "SELECT 1 FROM deleted_addrs"
                           " WHERE pubkey = ?1 AND kind = ?2 AND d_tag = ?3 AND created_at >= ?4",
    [ST_IS_VANISHED] = "SELECT 1 FROM vanished WHERE pubkey = ?1 AND created_at >= ?2",
    [ST_ADD_DELETED_ID] = "INSERT OR IGNORE INTO deleted_ids(id, pubkey) VALUES(?1, ?2)",
    [ST_ADD_DELETED_ADDR] = "INSERT INTO deleted_addrs(pubkey, kind, d_tag, created_at)"
                            " VALUES(?1, ?2, ?3, ?4) ON CONFLICT DO UPDATE"
                            " SET created_at = max(created_at, excluded.created_at)",
    [ST_ADD_VANISHED] =
        "INSERT INTO vanished(pubkey, created_at) VALUES(?1, ?2)"
        " ON CONFLICT DO UPDATE SET created_at = max(created_at, excluded.created_at)",
    [ST_FIND_DEL_ID] = "SELECT rowid FROM events WHERE id = ?1 AND pubkey = ?2 AND kind != 5",
    [ST_FIND_DEL_REPL] = "SELECT rowid FROM events INDEXED BY events_pubkey_kind"
                         " WHERE pubkey = ?1 AND kind = ?2 AND created_at <= ?3",
    [ST_FIND_DEL_ADDR] = "SELECT rowid FROM events INDEXED BY events_addr"
                         " WHERE pubkey = ?1 AND kind = ?2 AND d_tag = ?3 AND created_at <= ?4",
    [ST_FIND_VANISH] = "SELECT rowid FROM events INDEXED BY events_pubkey"
                       " WHERE pubkey = ?1 AND created_at <= ?2 AND rowid != ?3",
};

/* SQLite result codes to ours. BUSY after busy_timeout means the lock
 * stayed taken. */
int store_sqlite__map_rc(int src)
{
    switch (src & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_NOMEM:
        return OST_ENOMEM;
    case SQLITE_FULL:
        return OST_ENOSPC;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return OST_ETIMEDOUT;
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_MISUSE:
        return OST_EINVAL;
    default:
        return OST_EIO;
    }
}

int store_sqlite__db_error(struct store_sqlite_conn *c, const char *what, int src)
{
    log_error("sqlite %s: %s: %s", c->s->path, what, sqlite3_errmsg(c->db));
    return store_sqlite__map_rc(src);
}

/* Creates each missing directory on the way to the file at path. */
static int make_parent_dirs(const char *path)
{
    char *dir = strdup(path);
    if (dir == NULL) {
        return OST_ENOMEM;
    }
    int rc = 0;
    char *slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        for (char *p = dir + 1; rc == 0; p++) {
            bool is_end = *p == '\0';
            if (*p != '/' && !is_end) {
                continue;
            }
            *p = '\0';
            if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
                log_error("cannot create directory %s: %s", dir, strerror(errno));
                rc = OST_EIO;
            }
            if (is_end) {
                break;
            }
            *p = '/';
        }
    }
    free(dir);
    return rc;
}

int store_sqlite__open_db(const struct store_sqlite *s, int flags, sqlite3 **out)
{
    sqlite3 *db = NULL;
    int src = sqlite3_open_v2(s->path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (src == SQLITE_OK) {
        sqlite3_busy_timeout(db, s->busy_timeout_ms);
        /* FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on
         * power loss, and OK true promises the event is on disk. */
        /* A 64 MiB page cache and memory-mapped reads: without them every
         * index probe that misses SQLite's small default cache becomes a
         * pread(2) copy, which dominated the storage thread's time. */
        src = sqlite3_exec(db,
                           "PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY;"
                           " PRAGMA cache_size = -65536; PRAGMA mmap_size = 1073741824",
                           NULL, NULL, NULL);
    }
    if (src != SQLITE_OK) {
        log_error("sqlite %s: cannot open: %s", s->path,
                  db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(src));
        sqlite3_close(db);
        return store_sqlite__map_rc(src) == OST_ENOMEM ? OST_ENOMEM : OST_EIO;
    }
    *out = db;
    return 0;
}

/* Steps st to its end, ignoring rows, and resets it. */
int store_sqlite__run(struct store_sqlite_conn *c, sqlite3_stmt *st, const char *what)
{
    int src;
    do {
        src = sqlite3_step(st);
    } while (src == SQLITE_ROW);
    int rc = src == SQLITE_DONE ? 0 : store_sqlite__db_error(c, what, src);
    sqlite3_reset(st);
    return rc;
}

/* Binds a blob; an empty one stays a blob, never NULL. */
int store_sqlite__bind_blob(sqlite3_stmt *st, int idx, const void *p, size_t len)
{
    if (len == 0) {
        return sqlite3_bind_zeroblob(st, idx, 0);
    }
    return sqlite3_bind_blob64(st, idx, p, len, SQLITE_STATIC);
}

/* Statement cache */

static uint64_t hash_sql(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    }
    return h;
}

/* The prepared statement for sql[0..len), from the cache or prepared now.
 * The statement stays owned by the cache. */
int store_sqlite__cached_stmt(struct store_sqlite_conn *c, const char *sql, size_t len,
                              sqlite3_stmt **out)
{
    uint64_t h = hash_sql(sql, len);
    struct store_sqlite_stmt *victim = &c->cache[0];
    for (size_t i = 0; i < STORE_SQLITE_STMT_CACHE_CAP; i++) {
        struct store_sqlite_stmt *e = &c->cache[i];
        if (e->st != NULL && e->hash == h && strlen(e->sql) == len &&
            memcmp(e->sql, sql, len) == 0) {
            e->last_used = ++c->tick;
            *out = e->st;
            return 0;
        }
        if (e->st == NULL || (victim->st != NULL && e->last_used < victim->last_used)) {
            victim = e;
        }
    }
    sqlite3_stmt *st = NULL;
    int src = sqlite3_prepare_v3(c->db, sql, (int)len, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (src != SQLITE_OK) {
        return store_sqlite__db_error(c, "prepare query", src);
    }
    char *copy = strndup(sql, len);
    if (copy == NULL) {
        sqlite3_finalize(st);
        return OST_ENOMEM;
    }
    sqlite3_finalize(victim->st);
    free(victim->sql);
    *victim =
        (struct store_sqlite_stmt){ .hash = h, .sql = copy, .st = st, .last_used = ++c->tick };
    *out = st;
    return 0;
}

/* Handles */

static void sqlite_conn_close(struct store_conn *base)
{
    struct store_sqlite_conn *c = store_sqlite__conn(base);
    for (size_t i = 0; i < STORE_SQLITE_STMT_CACHE_CAP; i++) {
        sqlite3_finalize(c->cache[i].st);
        free(c->cache[i].sql);
    }
    for (size_t i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(c->st[i]);
    }
    sqlite3_close(c->db);
    buf_fini(&c->sql);
    buf_fini(&c->value);
    buf_fini(&c->d_tag);
    buf_fini(&c->text);
    buf_fini(&c->raw);
    free(c->rowids);
    free(c->keys);
    free(c);
}

static int sqlite_conn_open(struct store *base, enum store_role role, struct store_conn **out)
{
    const struct store_sqlite *s = (const struct store_sqlite *)base;
    struct store_sqlite_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return OST_ENOMEM;
    }
    c->base.store = base;
    c->base.role = role;
    c->s = s;
    buf_init(&c->sql);
    buf_init(&c->value);
    buf_init(&c->d_tag);
    buf_init(&c->text);
    buf_init(&c->raw);
    int rc = store_sqlite__open_db(s, SQLITE_OPEN_READWRITE, &c->db);
    if (rc < 0) {
        goto fail;
    }
    if (role == STORE_ROLE_READER) {
        int src = sqlite3_exec(c->db, "PRAGMA query_only = 1", NULL, NULL, NULL);
        if (src != SQLITE_OK) {
            rc = store_sqlite__db_error(c, "query_only", src);
            goto fail;
        }
    } else {
        /* A deferred writer's commits reach the log without an fsync; the
         * storage thread's sync stage makes them durable (store_sync). */
        int src = role == STORE_ROLE_WRITER_DEFERRED
                      ? sqlite3_exec(c->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL)
                      : SQLITE_OK;
        if (src != SQLITE_OK) {
            rc = store_sqlite__db_error(c, "synchronous", src);
            goto fail;
        }
        src = store_sqlite__ckpt_writer((struct store_sqlite *)s, c->db);
        if (src != SQLITE_OK) {
            rc = store_sqlite__db_error(c, "wal_autocheckpoint", src);
            goto fail;
        }
    }
    for (size_t i = 0; i < ST_COUNT; i++) {
        int src =
            sqlite3_prepare_v3(c->db, fixed_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i], NULL);
        if (src != SQLITE_OK) {
            rc = store_sqlite__db_error(c, fixed_sql[i], src);
            goto fail;
        }
    }
    *out = &c->base;
    return 0;

fail:
    sqlite_conn_close(&c->base);
    return rc;
}

/* Writing */

/* The unescaped bytes of s: borrowed from the event when it has no escapes,
 * else decoded into b. */
static int str_bytes(const struct json_str *s, struct buf *b, const void **p, size_t *len)
{
    if (!s->has_escapes) {
        *p = s->p;
        *len = s->len;
        return 0;
    }
    buf_reset(b);
    int rc = json_str_decode(s, b);
    *p = b->data;
    *len = b->len;
    return rc;
}

/* NIP-01: the address of an addressable event uses the first value of its
 * first "d" tag; no such tag or no value counts as "". */
static int find_d_tag(struct store_sqlite_conn *c, const struct event *ev, const void **p,
                      size_t *len)
{
    struct event_tag_iter tags, fields;
    struct json_str name, value;
    *p = "";
    *len = 0;
    event_tags_begin(ev, &tags);
    while (event_tags_next(&tags, &fields)) {
        if (!event_tag_next_str(&fields, &name) || filter_tag_letter(&name) != 'd') {
            continue;
        }
        if (event_tag_next_str(&fields, &value)) {
            return str_bytes(&value, &c->d_tag, p, len);
        }
        return 0;
    }
    return 0;
}

int store_sqlite__push_rowid(struct store_sqlite_conn *c, size_t *n, int64_t rowid)
{
    if (*n == c->rowids_cap) {
        size_t cap = c->rowids_cap ? 2 * c->rowids_cap : 4;
        int64_t *grown = realloc(c->rowids, cap * sizeof(*grown));
        if (grown == NULL) {
            return OST_ENOMEM;
        }
        c->rowids = grown;
        c->rowids_cap = cap;
    }
    c->rowids[(*n)++] = rowid;
    return 0;
}

/* Adds (ST_INSERT_TAG) or removes (ST_DELETE_TAG) the tag rows of ev,
 * stored at rowid: one per distinct single-letter tag name and second
 * element (unescaped bytes). */
static int index_tags(struct store_sqlite_conn *c, const struct event *ev, int64_t rowid, int which)
{
    struct event_tag_iter tags, fields;
    struct json_str name, value;
    sqlite3_stmt *st = c->st[which];
    event_tags_begin(ev, &tags);
    while (event_tags_next(&tags, &fields)) {
        if (!event_tag_next_str(&fields, &name) || !event_tag_next_str(&fields, &value)) {
            continue;
        }
        char letter = filter_tag_letter(&name);
        if (letter == 0) {
            continue;
        }
        const void *p;
        size_t len;
        int rc = str_bytes(&value, &c->value, &p, &len);
        if (rc < 0) {
            return rc;
        }
        sqlite3_bind_text(st, 1, &letter, 1, SQLITE_TRANSIENT);
        store_sqlite__bind_blob(st, 2, p, len);
        sqlite3_bind_int64(st, 3, ev->created_at);
        sqlite3_bind_int64(st, 4, rowid);
        rc = store_sqlite__run(c, st, which == ST_INSERT_TAG ? "insert tag" : "delete tag");
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* Adds (ST_FTS_INSERT) or removes (ST_FTS_DELETE) ev's content in the
 * full-text index. Both use the same decoding, which a contentless FTS5
 * table needs: a delete must give exactly the text that was inserted. An
 * empty content is never indexed. */
static int index_content(struct store_sqlite_conn *c, const struct event *ev, int64_t rowid,
                         int which)
{
    if (ev->content.len == 0) {
        return 0;
    }
    const void *p;
    size_t len;
    int rc = str_bytes(&ev->content, &c->text, &p, &len);
    if (rc < 0) {
        return rc;
    }
    sqlite3_stmt *st = c->st[which];
    sqlite3_bind_int64(st, 1, rowid);
    sqlite3_bind_text64(st, 2, p, len, SQLITE_STATIC, SQLITE_UTF8);
    return store_sqlite__run(c, st, which == ST_FTS_INSERT ? "index content" : "unindex content");
}

/* Every deletion of an event comes here (replacement, NIP-09, NIP-62,
 * NIP-40 purge, delete_ids): the event is read back and parsed, so its tag
 * rows and full-text entry are removed by their keys. */
int store_sqlite__delete_rowid(struct store_sqlite_conn *c, int64_t rowid)
{
    sqlite3_stmt *st = c->st[ST_RAW_BY_ROWID];
    sqlite3_bind_int64(st, 1, rowid);
    int src = sqlite3_step(st);
    int rc = 0;
    buf_reset(&c->raw);
    if (src == SQLITE_ROW) {
        const void *raw = sqlite3_column_text(st, 0);
        int len = sqlite3_column_bytes(st, 0);
        rc = raw != NULL ? buf_append(&c->raw, raw, (size_t)len) : OST_ENOMEM;
    }
    sqlite3_reset(st);
    if (src == SQLITE_DONE) {
        return 0; /* already gone */
    }
    if (src != SQLITE_ROW) {
        return store_sqlite__db_error(c, "read event", src);
    }
    struct event ev;
    const char *reason;
    const struct event_limits lim = { .max_tags = UINT32_MAX, .max_content_len = UINT32_MAX };
    if (rc == 0 && event_parse(c->raw.data, c->raw.len, &lim, &ev, &reason) < 0) {
        /* Only events that parsed were stored. */
        log_error("sqlite %s: stored event at rowid %lld does not parse: %s", c->s->path,
                  (long long)rowid, reason);
        rc = OST_EIO;
    }
    rc = rc == 0 ? index_tags(c, &ev, rowid, ST_DELETE_TAG) : rc;
    rc = rc == 0 ? index_content(c, &ev, rowid, ST_FTS_DELETE) : rc;
    if (rc == 0) {
        sqlite3_bind_int64(c->st[ST_DELETE_EVENT], 1, rowid);
        rc = store_sqlite__run(c, c->st[ST_DELETE_EVENT], "delete event");
    }
    return rc;
}

/* Decides against the stored versions of a replaceable event, or of an
 * addressable one when d (its d tag value) is not NULL: sets *is_older when
 * one of them wins, else deletes them all. */
static int replace_versions(struct store_sqlite_conn *c, const struct event *ev, const void *d,
                            size_t d_len, bool *is_older)
{
    bool is_addr = d != NULL;
    int rc = 0;
    sqlite3_stmt *st = c->st[is_addr ? ST_FIND_ADDR : ST_FIND_REPL];
    sqlite3_bind_blob(st, 1, ev->pubkey, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ev->kind);
    if (is_addr) {
        sqlite3_bind_text64(st, 3, d, d_len, SQLITE_STATIC, SQLITE_UTF8);
    }
    size_t n = 0;
    int src;
    *is_older = false;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t created_at = sqlite3_column_int64(st, 1);
        const void *id = sqlite3_column_blob(st, 2);
        /* NIP-01: the newest wins; at equal created_at, the lowest id. */
        if (created_at > ev->created_at ||
            (created_at == ev->created_at && id != NULL && memcmp(id, ev->id, 32) < 0)) {
            *is_older = true;
        }
        if (store_sqlite__push_rowid(c, &n, sqlite3_column_int64(st, 0)) < 0) {
            sqlite3_reset(st);
            return OST_ENOMEM;
        }
    }
    sqlite3_reset(st);
    if (src != SQLITE_DONE) {
        return store_sqlite__db_error(c, "find versions", src);
    }
    for (size_t i = 0; i < n && !*is_older && rc == 0; i++) {
        rc = store_sqlite__delete_rowid(c, c->rowids[i]);
    }
    return rc;
}

/* Writes one event, with what it deletes (del, NULL for nothing), inside
 * the open transaction. A negative return aborts the whole batch. */
static int write_one(struct store_sqlite_conn *c, const struct event *ev,
                     const struct store_deletion *del, struct store_result *res)
{
    sqlite3_stmt *st = c->st[ST_HAS_ID];
    sqlite3_bind_blob(st, 1, ev->id, 32, SQLITE_STATIC);
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    if (src == SQLITE_ROW) {
        store_result_set(res, STORE_DUPLICATE, 0);
        return 0;
    }
    if (src != SQLITE_DONE) {
        return store_sqlite__db_error(c, "find id", src);
    }
    const void *d = NULL;
    size_t d_len = 0;
    int rc = event_kind_is_addressable(ev->kind) ? find_d_tag(c, ev, &d, &d_len) : 0;
    enum store_status refused = STORE_STORED;
    if (rc == 0) {
        rc = store_sqlite__refusal(c, ev, d, d_len, &refused);
    }
    if (rc == 0 && refused != STORE_STORED) {
        store_result_set(res, refused, 0);
        return 0;
    }
    if (rc == 0 && (d != NULL || event_kind_is_replaceable(ev->kind))) {
        bool is_older;
        rc = replace_versions(c, ev, d, d_len, &is_older);
        if (rc == 0 && is_older) {
            store_result_set(res, STORE_REPLACED_OLDER, 0);
            return 0;
        }
    }
    if (rc < 0) {
        return rc;
    }
    st = c->st[ST_INSERT_EVENT];
    sqlite3_bind_blob(st, 1, ev->id, 32, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, ev->pubkey, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, ev->kind);
    sqlite3_bind_int64(st, 4, ev->created_at);
    if (d != NULL) {
        sqlite3_bind_text64(st, 5, d, d_len, SQLITE_STATIC, SQLITE_UTF8);
    } else {
        sqlite3_bind_null(st, 5);
    }
    sqlite3_bind_text64(st, 6, ev->json, ev->json_len, SQLITE_STATIC, SQLITE_UTF8);
    if (ev->expiration != 0) {
        sqlite3_bind_int64(st, 7, ev->expiration);
    } else {
        sqlite3_bind_null(st, 7);
    }
    rc = store_sqlite__run(c, st, "insert event");
    int64_t rowid = sqlite3_last_insert_rowid(c->db);
    rc = rc == 0 ? index_tags(c, ev, rowid, ST_INSERT_TAG) : rc;
    rc = rc == 0 ? index_content(c, ev, rowid, ST_FTS_INSERT) : rc;
    if (rc == 0 && del != NULL) {
        rc = store_sqlite__apply_deletion(c, ev, rowid, del);
    }
    if (rc == 0) {
        store_result_set(res, STORE_STORED, 0);
        res->seq = (uint64_t)rowid;
    }
    return rc;
}

/* Ends a write transaction: commits when everything so far worked (rc is
 * 0), else rolls back if SQLite has not already. Returns the outcome. */
static int end_write(struct store_sqlite_conn *c, int rc)
{
    if (rc == 0) {
        rc = store_sqlite__run(c, c->st[ST_COMMIT], "commit");
    }
    if (rc < 0 && !sqlite3_get_autocommit(c->db)) {
        (void)store_sqlite__run(c, c->st[ST_ROLLBACK], "rollback");
    }
    return rc;
}

static int sqlite_write_batch(struct store_conn *base, const struct event *const *evs,
                              const struct store_deletion *const *dels, size_t n,
                              struct store_result *results)
{
    struct store_sqlite_conn *c = store_sqlite__conn(base);
    int rc = store_sqlite__run(c, c->st[ST_BEGIN_WRITE], "begin");
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = write_one(c, evs[i], dels != NULL ? dels[i] : NULL, &results[i]);
    }
    return end_write(c, rc);
}

static int sqlite_delete_ids(struct store_conn *base, const uint8_t (*ids)[32], size_t n,
                             const uint8_t *pubkey)
{
    struct store_sqlite_conn *c = store_sqlite__conn(base);
    sqlite3_stmt *st = c->st[ST_FIND_OWNED];
    int deleted = 0;
    int rc = store_sqlite__run(c, c->st[ST_BEGIN_WRITE], "begin");
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite3_bind_blob(st, 1, ids[i], 32, SQLITE_STATIC);
        if (pubkey != NULL) {
            sqlite3_bind_blob(st, 2, pubkey, 32, SQLITE_STATIC);
        } else {
            sqlite3_bind_null(st, 2);
        }
        int src = sqlite3_step(st);
        int64_t rowid = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        sqlite3_reset(st);
        if (src != SQLITE_ROW) {
            rc = src == SQLITE_DONE ? 0 : store_sqlite__db_error(c, "find id", src);
            continue;
        }
        rc = store_sqlite__delete_rowid(c, rowid);
        if (rc == 0) {
            deleted++;
        }
    }
    rc = end_write(c, rc);
    return rc < 0 ? rc : deleted;
}

static int sqlite_purge_expired(struct store_conn *base, uint32_t max_n)
{
    struct store_sqlite_conn *c = store_sqlite__conn(base);
    if (max_n == 0) {
        return 0;
    }
    sqlite3_stmt *st = c->st[ST_PURGE_FIND];
    size_t n = 0;
    int rc = store_sqlite__run(c, c->st[ST_BEGIN_WRITE], "begin");
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, store_sqlite__now(c));
        sqlite3_bind_int64(st, 2, max_n);
        int src;
        while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
            rc = store_sqlite__push_rowid(c, &n, sqlite3_column_int64(st, 0));
        }
        if (rc == 0 && src != SQLITE_DONE) {
            rc = store_sqlite__db_error(c, "find expired", src);
        }
        sqlite3_reset(st);
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = store_sqlite__delete_rowid(c, c->rowids[i]);
    }
    rc = end_write(c, rc);
    return rc < 0 ? rc : (int)n;
}

/* Diagnostics */

int store_sqlite_schema_version(struct store_conn *base)
{
    struct store_sqlite_conn *c = store_sqlite__conn(base);
    sqlite3_stmt *st = c->st[ST_USER_VERSION];
    int src = sqlite3_step(st);
    int rc = src == SQLITE_ROW ? sqlite3_column_int(st, 0)
                               : store_sqlite__db_error(c, "user_version", src);
    sqlite3_reset(st);
    return rc;
}

/* The store */

static void sqlite_close(struct store *base)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    store_sqlite__ckpt_stop(s);
    store_sqlite__sync_close(s);
    free(s->path);
    free(s);
}

static const struct store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sqlite_close,
    .conn_open = sqlite_conn_open,
    .conn_close = sqlite_conn_close,
    .write_batch = sqlite_write_batch,
    .sync = store_sqlite__sync,
    .query = store_sqlite__query,
    .count = store_sqlite__count,
    .delete_ids = sqlite_delete_ids,
    .purge_expired = sqlite_purge_expired,
};

static int64_t system_clock(void *ud)
{
    (void)ud;
    return (int64_t)time(NULL);
}

int store_sqlite_open(const struct store_options *opt, struct store **out)
{
    const char *path = opt->sqlite.path;
    if (path == NULL || path[0] == '\0' || path[0] == ':' ||
        opt->sqlite.busy_timeout_ms > INT32_MAX) {
        return OST_EINVAL;
    }
    /* Handles are opened NOMUTEX, one per thread: that needs a library
     * built thread-safe. */
    if (sqlite3_threadsafe() == 0) {
        log_error("sqlite %s: this SQLite library is built without thread support", path);
        return OST_EINVAL;
    }
    struct store_sqlite *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return OST_ENOMEM;
    }
    s->base.ops = &sqlite_ops;
    s->wal_fd = -1;
    s->clock = opt->clock != NULL ? opt->clock : system_clock;
    s->clock_ud = opt->clock_ud;
    s->busy_timeout_ms = opt->sqlite.busy_timeout_ms != 0 ? (int)opt->sqlite.busy_timeout_ms
                                                          : STORE_DEFAULT_BUSY_TIMEOUT_MS;
    s->path = strdup(path);
    sqlite3 *db = NULL;
    int rc = s->path != NULL ? make_parent_dirs(path) : OST_ENOMEM;
    if (rc == 0) {
        rc = store_sqlite__open_db(s, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &db);
    }
    if (rc == 0) {
        rc = store_sqlite__init_schema(s, db);
    }
    sqlite3_close(db);
    s->checkpoint_pages = opt->sqlite.checkpoint_pages != 0 ? opt->sqlite.checkpoint_pages
                                                            : STORE_SQLITE_CHECKPOINT_PAGES;
    if (rc == 0) {
        rc = store_sqlite__ckpt_start(s);
    }
    if (rc < 0) {
        sqlite_close(&s->base);
        return rc;
    }
    *out = &s->base;
    return 0;
}
