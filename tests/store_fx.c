/* A store in a temporary directory, for tests. */
#include "store_fx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "common/err.h"
#include "store/store.h"

static int64_t fx_clock(void *ud)
{
    struct store_fx *fx = ud;
    return atomic_load(&fx->now);
}

int store_fx_open(struct store_fx *fx)
{
    struct store_options opt = { .backend = STORE_BACKEND_SQLITE };
    opt.sqlite.path = fx->path;
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
    atomic_init(&fx->now, now);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/ost-%s-XXXXXX", tag);
    if (mkdtemp(fx->dir) == NULL) {
        return OST_EIO;
    }
    snprintf(fx->data_dir, sizeof(fx->data_dir), "%s%s", fx->dir, in_subdir ? "/data" : "");
    snprintf(fx->path, sizeof(fx->path), "%s/ostrich.db", fx->data_dir);
    return store_fx_open(fx);
}

void store_fx_fini(struct store_fx *fx)
{
    static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
    char p[200];
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
