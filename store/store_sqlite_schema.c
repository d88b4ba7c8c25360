/*
 * The SQLite schema: version 1 and each upgrade step after it, and the
 * function that creates or upgrades a database when the store opens it.
 * Part of the SQLite backend (store/store_sqlite.c describes the design);
 * see store/store_sqlite_int.h.
 */
#include <stddef.h>

#include <sqlite3.h>

#include "common/err.h"
#include "common/log.h"
#include "store/store_sqlite.h"
#include "store/store_sqlite_int.h"

static const char *const schema_v1[] = {
    "CREATE TABLE events(rowid INTEGER PRIMARY KEY AUTOINCREMENT, id BLOB NOT NULL, pubkey BLOB "
    "NOT NULL,"
    " kind INTEGER NOT NULL, created_at INTEGER NOT NULL, d_tag TEXT, raw TEXT NOT NULL)",
    "CREATE UNIQUE INDEX events_id ON events(id)",
    "CREATE INDEX events_created ON events(created_at DESC, id)",
    "CREATE INDEX events_kind ON events(kind, created_at DESC, id)",
    "CREATE INDEX events_pubkey ON events(pubkey, created_at DESC, id)",
    "CREATE INDEX events_pubkey_kind ON events(pubkey, kind, created_at DESC, id)",
    "CREATE INDEX events_addr ON events(pubkey, kind, d_tag) WHERE d_tag IS NOT NULL",
    "CREATE TABLE tags(ev INTEGER NOT NULL, name TEXT NOT NULL, value BLOB NOT NULL,"
    " created_at INTEGER NOT NULL)",
    "CREATE INDEX tags_value ON tags(name, value, created_at DESC, ev)",
    "CREATE UNIQUE INDEX tags_ev ON tags(ev, name, value)",
    "PRAGMA user_version = 1",
};

/* Version 1 to 2: NIP-40 expiration. Events stored before it are filled
 * from the first "expiration" tag of their JSON when its value is a plain
 * decimal integer (what nip40_check accepts, within 18 digits); any other
 * value leaves NULL, so the event never expires. A new database runs these
 * too, over an empty table. */
static const char *const schema_v2[] = {
    "ALTER TABLE events ADD COLUMN expiration INTEGER",
    "UPDATE events SET expiration = ("
    "SELECT CASE WHEN json_extract(t.value, '$[1]') GLOB '[0-9]*'"
    " AND NOT json_extract(t.value, '$[1]') GLOB '*[^0-9]*'"
    " AND length(json_extract(t.value, '$[1]')) <= 18"
    " THEN CAST(json_extract(t.value, '$[1]') AS INTEGER) END"
    " FROM json_each(events.raw, '$.tags') AS t"
    " WHERE json_extract(t.value, '$[0]') = 'expiration' ORDER BY t.key LIMIT 1)"
    " WHERE instr(raw, '\"expiration\"') > 0",
    "CREATE INDEX events_expiration ON events(expiration) WHERE expiration IS NOT NULL",
    "PRAGMA user_version = 2",
};

/* Version 2 to 3: NIP-09 deletions and NIP-62 vanish requests. Deletions
 * recorded before it are not known (version 2 stored kind 5 events but
 * deleted nothing), so the tables start empty. */
static const char *const schema_v3[] = {
    "CREATE TABLE deleted_ids(id BLOB NOT NULL, pubkey BLOB NOT NULL, PRIMARY KEY(id, pubkey))"
    " WITHOUT ROWID",
    "CREATE TABLE deleted_addrs(pubkey BLOB NOT NULL, kind INTEGER NOT NULL, d_tag TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, PRIMARY KEY(pubkey, kind, d_tag)) WITHOUT ROWID",
    "CREATE TABLE vanished(pubkey BLOB NOT NULL PRIMARY KEY, created_at INTEGER NOT NULL)"
    " WITHOUT ROWID",
    "PRAGMA user_version = 3",
};

/* Version 3 to 4: NIP-50 full-text search over content. The index is built
 * for the events already stored; a new database builds it over nothing. */
static const char *const schema_v4[] = {
    "CREATE VIRTUAL TABLE events_fts USING fts5(content, content='',"
    " tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER events_fts_insert AFTER INSERT ON events BEGIN"
    " INSERT INTO events_fts(rowid, content) VALUES(new.rowid, json_extract(new.raw, '$.content'));"
    " END",
    "CREATE TRIGGER events_fts_delete AFTER DELETE ON events BEGIN"
    " INSERT INTO events_fts(events_fts, rowid, content)"
    " VALUES('delete', old.rowid, json_extract(old.raw, '$.content'));"
    " END",
    "INSERT INTO events_fts(rowid, content) SELECT rowid, json_extract(raw, '$.content') FROM "
    "events",
    "PRAGMA user_version = 4",
};

/* Version 4 to 5: writes that cost less. The tag rows move into one
 * b-tree keyed (name, value, created_at, ev), which serves both the seek by
 * value in time order and the check of one event's tag (every column of
 * the key is known then); version 4 kept a rowid table and two indexes.
 * The full-text index is kept in step by the store itself instead of by
 * triggers that parse the event's JSON again: the store inserts and
 * deletes the decoded content it already has (store_sqlite.c), and since
 * every deletion of an event now goes through one function that reads the
 * event's tags and content back, nothing is left behind. */
static const char *const schema_v5[] = {
    "CREATE TABLE tags_v5(name TEXT NOT NULL, value BLOB NOT NULL, created_at INTEGER NOT NULL,"
    " ev INTEGER NOT NULL, PRIMARY KEY(name, value, created_at DESC, ev)) WITHOUT ROWID",
    "INSERT OR IGNORE INTO tags_v5(name, value, created_at, ev)"
    " SELECT name, value, created_at, ev FROM tags",
    "DROP TABLE tags",
    "ALTER TABLE tags_v5 RENAME TO tags",
    "DROP TRIGGER events_fts_insert",
    "DROP TRIGGER events_fts_delete",
    "PRAGMA user_version = 5",
};

/* Runs the statements of one schema step. */
static int run_steps(sqlite3 *db, const char *const *steps, size_t n, const char **what)
{
    int src = SQLITE_OK;
    for (size_t i = 0; i < n && src == SQLITE_OK; i++) {
        *what = steps[i];
        src = sqlite3_exec(db, steps[i], NULL, NULL, NULL);
    }
    return src;
}

/* Creates the schema in an empty database, or upgrades an older one step by
 * step, or checks the version of a current one, in one write transaction
 * (which also proves the file can be written): an upgrade that fails
 * leaves the database as it was. */
int store_sqlite__init_schema(const struct store_sqlite *s, sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    const char *what = "journal_mode";
    int src = sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
    if (src == SQLITE_OK) {
        what = "begin";
        src = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    }
    if (src == SQLITE_OK) {
        what = "user_version";
        src = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    }
    int version = -1;
    if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        version = sqlite3_column_int(st, 0);
        src = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (version == 0 && src == SQLITE_OK) {
        src = run_steps(db, schema_v1, sizeof(schema_v1) / sizeof(*schema_v1), &what);
    }
    if (version >= 0 && version <= 1 && src == SQLITE_OK) {
        if (version == 1) {
            log_info("sqlite %s: upgrading the schema from version 1 to 2", s->path);
        }
        src = run_steps(db, schema_v2, sizeof(schema_v2) / sizeof(*schema_v2), &what);
    }
    if (version >= 0 && version <= 2 && src == SQLITE_OK) {
        if (version >= 1) {
            log_info("sqlite %s: upgrading the schema from version 2 to 3", s->path);
        }
        src = run_steps(db, schema_v3, sizeof(schema_v3) / sizeof(*schema_v3), &what);
    }
    if (version >= 0 && version <= 3 && src == SQLITE_OK) {
        if (version >= 1) {
            log_info("sqlite %s: upgrading the schema from version 3 to 4", s->path);
        }
        src = run_steps(db, schema_v4, sizeof(schema_v4) / sizeof(*schema_v4), &what);
    }
    if (version >= 0 && version <= 4 && src == SQLITE_OK) {
        if (version >= 1) {
            log_info("sqlite %s: upgrading the schema from version 4 to 5", s->path);
        }
        src = run_steps(db, schema_v5, sizeof(schema_v5) / sizeof(*schema_v5), &what);
    }
    if (src == SQLITE_OK) {
        what = "commit";
        src = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    }
    if (src != SQLITE_OK) {
        log_error("sqlite %s: %s: %s", s->path, what, sqlite3_errmsg(db));
        return store_sqlite__map_rc(src) == OST_ENOMEM ? OST_ENOMEM : OST_EIO;
    }
    if (version > STORE_SQLITE_SCHEMA_VERSION) {
        log_error("sqlite %s: schema version %d is newer than this relay's (%d)", s->path, version,
                  STORE_SQLITE_SCHEMA_VERSION);
        return OST_EINVAL;
    }
    return 0;
}
