/* A store in a temporary directory or a fresh OpenSearch index, for tests. */
#include "store_fx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <sqlite3.h>

#include "common/err.h"
#include "store/store.h"
#include "store/store_os.h"

/* Fixtures of this process whose index may still exist, by index_n; a
 * test that fails returns before store_fx_fini, and the suite's end drops
 * what such tests left. */
#define FX_MAX_INDEXES 1024
static unsigned fx_indexes;
static bool fx_is_live[FX_MAX_INDEXES];

/* The name of this process's n-th index: lower case, as OpenSearch needs. */
static void index_name(struct store_fx *fx, unsigned n)
{
    fx->index_n = n;
    snprintf(fx->index, sizeof(fx->index), "ostrich-test-%ld-%u", (long)getpid(), n);
}

static int64_t fx_clock(void *ud)
{
    struct store_fx *fx = ud;
    return atomic_load(&fx->now);
}

const char *store_fx_unavailable(enum store_backend backend)
{
    switch (backend) {
    case STORE_BACKEND_SQLITE:
        return NULL;
    case STORE_BACKEND_OPENSEARCH: {
        const char *url = getenv(STORE_FX_OS_URL_ENV);
        return url != NULL && url[0] != '\0' ? NULL : STORE_FX_OS_URL_ENV " is not set";
    }
    }
    return "unknown backend";
}

/* The options of the test cluster. Requests fail fast so that a test
 * against a cluster that went away ends quickly; refreshes are frequent
 * because every batch waits for one. */
static void os_options(const struct store_fx *fx, struct store_options *opt)
{
    const char *insecure = getenv(STORE_FX_OS_INSECURE_ENV);
    opt->opensearch.url = getenv(STORE_FX_OS_URL_ENV);
    opt->opensearch.index = fx->index;
    opt->opensearch.username = getenv(STORE_FX_OS_USERNAME_ENV);
    opt->opensearch.password = getenv(STORE_FX_OS_PASSWORD_ENV);
    opt->opensearch.is_tls_verify = insecure == NULL || strcmp(insecure, "1") != 0;
    opt->opensearch.connect_timeout_ms = 2000;
    opt->opensearch.request_timeout_ms = 30000;
    opt->opensearch.retry_max_ms = 2000;
    opt->opensearch.is_refresh_wait = true;
    opt->opensearch.shards = 1;
    opt->opensearch.replicas = 0;
    opt->opensearch.refresh_interval = "200ms";
}

int store_fx_open(struct store_fx *fx)
{
    struct store_options opt = { .backend = fx->backend };
    if (fx->backend == STORE_BACKEND_OPENSEARCH) {
        os_options(fx, &opt);
    } else {
        opt.sqlite.path = fx->path;
    }
    if (atomic_load(&fx->now) != 0) {
        opt.clock = fx_clock;
        opt.clock_ud = fx;
    }
    int rc = store_open(&opt, &fx->s);
    rc = rc == 0 ? store_conn_open(fx->s, STORE_ROLE_WRITER, &fx->w) : rc;
    rc = rc == 0 ? store_conn_open(fx->s, STORE_ROLE_READER, &fx->r) : rc;
    return rc;
}

void store_fx_close(struct store_fx *fx)
{
    store_conn_close(fx->r);
    store_conn_close(fx->w);
    store_close(fx->s);
    fx->r = fx->w = NULL;
    fx->s = NULL;
}

int store_fx_init(struct store_fx *fx, const char *tag, bool in_subdir, int64_t now)
{
    memset(fx, 0, sizeof(*fx));
    fx->backend = STORE_BACKEND_SQLITE;
    atomic_init(&fx->now, now);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/ost-%s-XXXXXX", tag);
    if (mkdtemp(fx->dir) == NULL) {
        return OST_EIO;
    }
    snprintf(fx->data_dir, sizeof(fx->data_dir), "%s%s", fx->dir, in_subdir ? "/data" : "");
    snprintf(fx->path, sizeof(fx->path), "%s/ostrich.db", fx->data_dir);
    return store_fx_open(fx);
}

int store_fx_init_backend(struct store_fx *fx, enum store_backend backend, const char *tag,
                          int64_t now)
{
    if (backend != STORE_BACKEND_OPENSEARCH) {
        return backend == STORE_BACKEND_SQLITE ? store_fx_init(fx, tag, true, now) : OST_EINVAL;
    }
    memset(fx, 0, sizeof(*fx));
    fx->backend = STORE_BACKEND_OPENSEARCH;
    atomic_init(&fx->now, now);
    if (store_fx_unavailable(backend) != NULL || fx_indexes + 1 >= FX_MAX_INDEXES) {
        return OST_EINVAL;
    }
    /* The tag names only SQLite's directory. */
    index_name(fx, ++fx_indexes);
    fx_is_live[fx->index_n] = true;
    return store_fx_open(fx);
}

/* Drops the indexes of the open store fx->s (its handles closed). */
static void os_drop(struct store_fx *fx)
{
    int rc = store_os_drop(fx->s);
    if (rc < 0) {
        fprintf(stderr, "  store_fx: could not drop index %s: %s\n", fx->index, ost_strerror(rc));
    } else {
        fx_is_live[fx->index_n] = false;
    }
}

void store_fx_fini(struct store_fx *fx)
{
    static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
    char p[200];
    if (fx->backend == STORE_BACKEND_OPENSEARCH) {
        store_conn_close(fx->r);
        store_conn_close(fx->w);
        fx->r = fx->w = NULL;
        if (fx->s != NULL) {
            os_drop(fx);
        }
        store_fx_close(fx);
        return;
    }
    store_fx_close(fx);
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s%s", fx->path, suffixes[i]);
        unlink(p);
    }
    if (strcmp(fx->data_dir, fx->dir) != 0) {
        rmdir(fx->data_dir);
    }
    rmdir(fx->dir);
}

void store_fx_drop_leftovers(void)
{
    for (unsigned n = 1; n <= fx_indexes; n++) {
        struct store_fx fx = { .backend = STORE_BACKEND_OPENSEARCH };
        if (!fx_is_live[n]) {
            continue;
        }
        index_name(&fx, n);
        atomic_init(&fx.now, 0);
        struct store_options opt = { .backend = STORE_BACKEND_OPENSEARCH };
        os_options(&fx, &opt);
        if (store_open(&opt, &fx.s) == 0) {
            os_drop(&fx);
            store_close(fx.s);
        }
    }
}

int64_t store_fx_sqlite_rows(const char *path, const char *table)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char sql[160];
    int64_t n = -1;
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    if (sqlite3_open(path, &db) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}
