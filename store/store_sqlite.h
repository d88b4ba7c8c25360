/*
 * The SQLite backend of the storage interface (store/store.h).
 *
 * One database file in WAL mode with synchronous=FULL, so a commit that
 * returned has reached the disk. Each handle is one SQLite connection with
 * its own prepared statements, created on the thread that uses it: one
 * writer (the storage thread) and any number of readers, which WAL lets run
 * beside the writer. Stored event JSON is returned byte for byte.
 */
#ifndef OSTRICH_STORE_STORE_SQLITE_H
#define OSTRICH_STORE_STORE_SQLITE_H

#include <stdint.h>

struct buf;
struct filter;
struct store;
struct store_conn;
struct store_options;

/* The write-ahead log size, in pages, at which the checkpointer thread
 * copies it into the database (store_options.sqlite.checkpoint_pages 0):
 * 16 MiB of 4 KiB pages: readers look pages up in the log, so it is kept
 * short. */
#define STORE_SQLITE_CHECKPOINT_PAGES 4096

/* How long the log may wait, with no write, before the checkpointer
 * copies what is left in it (milliseconds). */
#define STORE_SQLITE_CKPT_IDLE_MS 500

/* The schema this code writes, kept in PRAGMA user_version. */
#define STORE_SQLITE_SCHEMA_VERSION 5

/* Opens (creating when missing) the database at opt->sqlite.path, creating
 * its parent directory, and brings the schema to
 * STORE_SQLITE_SCHEMA_VERSION. opt is borrowed. Returns as store_open. Call
 * it through store_open. */
int store_sqlite_open(const struct store_options *opt, struct store **out);

/* How many checkpoints the checkpointer thread of s has completed (for
 * tests and diagnostics). s must be of this backend. */
uint64_t store_sqlite_checkpoints(const struct store *s);

/* The schema version recorded in the database c is connected to (>= 0), or
 * a negative code. c must be a handle of this backend. */
int store_sqlite_schema_version(struct store_conn *c);

/* Appends SQLite's EXPLAIN QUERY PLAN for the statement a query of f alone
 * would run, one step per line, for tests and diagnostics. c must be a
 * handle of this backend; f is borrowed. Returns 0, OST_ENOMEM or OST_EIO. */
int store_sqlite_query_plan(struct store_conn *c, const struct filter *f, struct buf *out);

#endif
