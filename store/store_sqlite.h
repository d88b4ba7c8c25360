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

/* The write-ahead log size, in pages, at which the writer completes a
 * checkpoint (store_options.sqlite.checkpoint_pages 0); the checkpointer
 * thread starts copying at half of it. 128 MiB of 4 KiB pages. Under a
 * stream of new events the disk's write bandwidth is the limit: every
 * commit writes each page it changed to the log, and each checkpoint
 * writes each page the log changed once more, to the database. The
 * longer the stretch of log a checkpoint copies, the more often it finds
 * the same page changed many times and writes it once: under the load
 * benchmark the database writes were three quarters of the log writes
 * with a 16 MiB log and under half with 128 MiB, and ingest rose by a
 * fifth or more. Readers find recent pages
 * in the log through its index; once writes pause the checkpointer
 * empties it (STORE_SQLITE_CKPT_IDLE_MS). */
#define STORE_SQLITE_CHECKPOINT_PAGES 32768

/* How long the log may wait, with no write, before the checkpointer
 * copies what is left in it (milliseconds). */
#define STORE_SQLITE_CKPT_IDLE_MS 500

/* NIP-50: a search whose terms match more events than this is not ranked
 * by relevance: its matches come newest stored first. FTS5 computes the
 * relevance (bm25) of every match before it can sort them, and a common
 * word matches much of the store: ranking them all took 0.15 s on 173,000
 * events and 0.6 s on 840,000, holding a reader thread that long for any
 * client that asked. Walking the matches in the order they were stored
 * stops at the filter's limit. Rarer terms, where relevance tells the
 * results apart, are ranked as before. */
#define STORE_SQLITE_SEARCH_CANDIDATES 2000

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
