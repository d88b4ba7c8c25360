/*
 * Test support: a store of either backend with one writer and one reader
 * handle, and a clock the test sets. SQLite lives in a fresh temporary
 * directory; OpenSearch in a fresh index of the cluster named by
 * OSTRICH_TEST_OPENSEARCH_URL. Used by the store contract suite, the
 * SQLite-specific store tests and the NIP tests; single-threaded apart from
 * the store's own clock reads.
 */
#ifndef OSTRICH_TESTS_STORE_FX_H
#define OSTRICH_TESTS_STORE_FX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

/* The environment that points the OpenSearch fixture at a cluster: the base
 * URL (required), basic-auth credentials (optional), and "1" to turn TLS
 * verification off for a test cluster with a self-signed certificate. */
#define STORE_FX_OS_URL_ENV      "OSTRICH_TEST_OPENSEARCH_URL"
#define STORE_FX_OS_USERNAME_ENV "OSTRICH_TEST_OPENSEARCH_USERNAME"
#define STORE_FX_OS_PASSWORD_ENV "OSTRICH_TEST_OPENSEARCH_PASSWORD"
#define STORE_FX_OS_INSECURE_ENV "OSTRICH_TEST_OPENSEARCH_INSECURE"

struct store_fx {
    enum store_backend backend;
    /* SQLite */
    char dir[64];
    char data_dir[96]; /* the database's directory: dir, or dir/data */
    char path[160];
    /* OpenSearch: "ostrich-test-<pid>-<n>", n counting this process's
     * fixtures, so runs and fixtures never share an index. */
    char index[64];
    unsigned index_n;
    _Atomic int64_t now; /* the store's clock when it is not 0 */
    struct store *s;
    struct store_conn *w;
    struct store_conn *r;
};

/* Why backend cannot be tested here (a phrase for a SKIP line), or NULL
 * when it can: OpenSearch needs STORE_FX_OS_URL_ENV. */
const char *store_fx_unavailable(enum store_backend backend);

/* Makes /tmp/ost-<tag>-XXXXXX and opens a SQLite store there. With
 * in_subdir the database goes in a data/ directory that does not exist
 * yet, so the open also tests that the store creates it. now, when not 0,
 * is the store's clock (change it with atomic_store on fx->now). Returns 0
 * or a negative code. */
int store_fx_init(struct store_fx *fx, const char *tag, bool in_subdir, int64_t now);

/* store_fx_init for either backend: SQLite as with in_subdir; OpenSearch
 * in a new index (created by the open). Returns 0 or a negative code;
 * OST_EINVAL when the backend is unavailable (see store_fx_unavailable). */
int store_fx_init_backend(struct store_fx *fx, enum store_backend backend, const char *tag,
                          int64_t now);

/* Closes and reopens the handles and the store on the same file or
 * index. */
int store_fx_open(struct store_fx *fx);
void store_fx_close(struct store_fx *fx);

/* Closes everything and removes the files and directories, or drops the
 * indexes. */
void store_fx_fini(struct store_fx *fx);

/* Drops the OpenSearch indexes of this process's fixtures that were not
 * finished (a failed check returns before store_fx_fini), so a failing run
 * leaves nothing behind on the cluster. Call once, at the end. */
void store_fx_drop_leftovers(void);

/* The number of rows of table (or of "table WHERE ..."; at most 140
 * characters) in the SQLite database at path, read on a connection of its
 * own, or -1. For tests that look under the store interface. */
int64_t store_fx_sqlite_rows(const char *path, const char *table);

#endif
