/*
 * Private declarations of the SQLite backend, shared by store_sqlite.c
 * (schema, handles, statement cache, writes) and store_sqlite_query.c
 * (query building, queries, counts). Nothing outside store/ includes this.
 * The threading rules are those of store_sqlite.h: a handle and everything
 * in it belong to one thread.
 */
#ifndef OSTRICH_STORE_STORE_SQLITE_INT_H
#define OSTRICH_STORE_STORE_SQLITE_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pthread.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "common/buf.h"
#include "common/queue.h"
#include "store/store.h"

/* Prepared query shapes kept per handle; the least recently used goes. */
#define STORE_SQLITE_STMT_CACHE_CAP 64

/* The fixed statements every handle prepares when it opens (SQL in
 * store_sqlite.c). */
enum {
    ST_BEGIN_WRITE,
    ST_BEGIN_READ,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_HAS_ID,
    ST_FIND_REPL,
    ST_FIND_ADDR,
    ST_INSERT_EVENT,
    ST_INSERT_TAG,
    ST_DELETE_TAG,
    ST_FTS_INSERT,
    ST_FTS_DELETE,
    ST_DELETE_EVENT,
    ST_FIND_OWNED,
    ST_RAW_BY_ROWID,
    ST_USER_VERSION,
    ST_SNAPSHOT,
    ST_PURGE_FIND,
    /* NIP-09 and NIP-62 (store_sqlite_delete.c) */
    ST_IS_DELETED_ID,
    ST_IS_DELETED_ADDR,
    ST_IS_VANISHED,
    ST_ADD_DELETED_ID,
    ST_ADD_DELETED_ADDR,
    ST_ADD_VANISHED,
    ST_FIND_DEL_ID,
    ST_FIND_DEL_REPL,
    ST_FIND_DEL_ADDR,
    ST_FIND_VANISH,
    ST_COUNT,
};

/* Owned by: the main thread; read-only between open and close. */
struct store_sqlite {
    struct store base;
    char *path;
    int busy_timeout_ms;
    store_clock_fn clock; /* never NULL */
    void *clock_ud;
    /* The checkpointer (store_sqlite_ckpt.c): its thread and inbox, the
     * log size that asks for a checkpoint, and how many it has run. */
    uint32_t checkpoint_pages;
    struct queue ckpt_q;
    pthread_t ckpt_thread;
    bool has_ckpt;
    atomic_uint_fast64_t n_checkpoints;
    atomic_uint wal_pages; /* the log's size at the last commit; 0 once copied whole */
    /* store_sync's descriptor of the log file (-1 until the first sync),
     * and which file it is: owned by the one thread that syncs. */
    int wal_fd;
    dev_t wal_dev;
    ino_t wal_ino;
};

struct store_sqlite_stmt {
    uint64_t hash;
    char *sql;
    sqlite3_stmt *st;
    uint64_t last_used;
};

/* The sort key of one result row while several filters are merged. */
struct store_sqlite_key {
    int64_t created_at;
    int64_t rowid;
    uint8_t id[32];
};

/* Owned by: the thread that opened it. */
struct store_sqlite_conn {
    struct store_conn base;
    const struct store_sqlite *s;
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    struct store_sqlite_stmt cache[STORE_SQLITE_STMT_CACHE_CAP];
    uint64_t tick;
    struct buf sql;   /* scratch: query text being built */
    struct buf value; /* scratch: one unescaped tag value */
    struct buf d_tag; /* scratch: the d tag of the event being written */
    struct buf text;  /* scratch: decoded content for the full-text index */
    struct buf raw;   /* scratch: a stored event read back to delete it */
    int64_t *rowids;  /* scratch: versions of a replaceable event */
    size_t rowids_cap;
    struct store_sqlite_key *keys; /* scratch: rows of a multi-filter query */
    size_t keys_cap;
};

static inline struct store_sqlite_conn *store_sqlite__conn(struct store_conn *c)
{
    return (struct store_sqlite_conn *)c;
}

/* The store's current time, in Unix seconds (NIP-40). */
static inline int64_t store_sqlite__now(const struct store_sqlite_conn *c)
{
    return c->s->clock(c->s->clock_ud);
}

/* Opens a connection with the settings every handle shares. Returns 0 or
 * a code after logging. */
int store_sqlite__open_db(const struct store_sqlite *s, int flags, sqlite3 **out);

/* The checkpointer: started by store_sqlite_open and stopped by the
 * store's close; store_sqlite__ckpt_writer hands the writer handle's
 * checkpoints to it. Return 0 or a code. */
int store_sqlite__ckpt_start(struct store_sqlite *s);
void store_sqlite__ckpt_stop(struct store_sqlite *s);
int store_sqlite__ckpt_writer(struct store_sqlite *s, sqlite3 *db);

/* store_sync for SQLite (store_sqlite_ckpt.c): fsyncs the log file; the
 * descriptor is closed by store_sqlite__sync_close at the store's close. */
int store_sqlite__sync(struct store *base);
void store_sqlite__sync_close(struct store_sqlite *s);

/* SQLite result codes to ours. */
int store_sqlite__map_rc(int src);

/* Logs what failed with SQLite's message and returns the mapped code. */
int store_sqlite__db_error(struct store_sqlite_conn *c, const char *what, int src);

/* Steps st to its end, ignoring rows, and resets it. Returns 0 or a code. */
int store_sqlite__run(struct store_sqlite_conn *c, sqlite3_stmt *st, const char *what);

/* Binds a blob (borrowed until the statement is reset); an empty one stays
 * a blob, never NULL. Returns an SQLite result code. */
int store_sqlite__bind_blob(sqlite3_stmt *st, int idx, const void *p, size_t len);

/* The prepared statement for sql[0..len), from the handle's cache or
 * prepared now; it stays owned by the cache. Returns 0 or a code. */
int store_sqlite__cached_stmt(struct store_sqlite_conn *c, const char *sql, size_t len,
                              sqlite3_stmt **out);

/* Deletes the stored event at rowid with its tags. Returns 0 or a code. */
int store_sqlite__delete_rowid(struct store_sqlite_conn *c, int64_t rowid);

/* Appends rowid to c->rowids[*n] (grown as needed). Returns 0 or
 * OST_ENOMEM. */
int store_sqlite__push_rowid(struct store_sqlite_conn *c, size_t *n, int64_t rowid);

/* NIP-09, NIP-62 (store_sqlite_delete.c), inside the open write
 * transaction. store_sqlite__refusal sets *status to STORE_DELETED or
 * STORE_VANISHED when a recorded deletion refuses ev, else leaves it
 * alone; d is ev's address d value (NULL when it has none). Returns 0 or a
 * code. */
int store_sqlite__refusal(struct store_sqlite_conn *c, const struct event *ev, const void *d,
                          size_t d_len, enum store_status *status);

/* Records what ev (just stored at rowid) deletes, and deletes it. del is
 * borrowed. Returns 0 or a code. */
int store_sqlite__apply_deletion(struct store_sqlite_conn *c, const struct event *ev, int64_t rowid,
                                 const struct store_deletion *del);

/* The query and count operations of struct store_ops. */
int store_sqlite__query(struct store_conn *c, const struct filter *const *filters, size_t n,
                        store_event_fn fn, void *ud, struct store_snapshot *snap);
int store_sqlite__count(struct store_conn *c, const struct filter *const *filters, size_t n,
                        store_pubkey_fn fn, void *ud, uint64_t *out);

/* Creates the schema in an empty database at s->path, upgrades an older
 * one step by step, or checks a current one, in one write transaction.
 * Returns 0, OST_EINVAL (a newer schema), OST_ENOMEM or OST_EIO (logged). */
int store_sqlite__init_schema(const struct store_sqlite *s, sqlite3 *db);

#endif
