/*
 * Test support: a SQLite store in a fresh temporary directory with one
 * writer and one reader handle, and a clock the test sets. Used by the store
 * and NIP tests; single-threaded apart from the store's own clock reads.
 */
#ifndef OSTRICH_TESTS_STORE_FX_H
#define OSTRICH_TESTS_STORE_FX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct store;
struct store_conn;

struct store_fx {
    char dir[64];
    char data_dir[96]; /* the database's directory: dir, or dir/data */
    char path[160];
    _Atomic int64_t now; /* the store's clock when it is not 0 */
    struct store *s;
    struct store_conn *w;
    struct store_conn *r;
};

/* Makes /tmp/ost-<tag>-XXXXXX and opens a store there. With in_subdir the
 * database goes in a data/ directory that does not exist yet, so the open
 * also tests that the store creates it. now, when not 0, is the store's
 * clock (change it with atomic_store on fx->now). Returns 0 or a negative
 * code. */
int store_fx_init(struct store_fx *fx, const char *tag, bool in_subdir, int64_t now);

/* Closes and reopens the handles and the store on the same file. */
int store_fx_open(struct store_fx *fx);
void store_fx_close(struct store_fx *fx);

/* Closes everything and removes the files and directories. */
void store_fx_fini(struct store_fx *fx);

#endif
