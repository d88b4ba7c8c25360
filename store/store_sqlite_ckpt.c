/*
 * The SQLite backend's checkpointer: a thread of its own that copies the
 * write-ahead log back into the database file, so the storage thread never
 * does it inside a commit.
 *
 * Design: SQLite's automatic checkpoint runs in the connection that
 * commits, after the commit, and its reads and writes of every page the
 * log holds sat on the storage thread's critical path (a third of its time
 * under load, with the default 1,000-page log). The writer handle replaces
 * it with a WAL hook (see on_wal) that asks this thread for a checkpoint
 * once the log holds half of checkpoint_pages, and completes one
 * itself at checkpoint_pages. A request is one message on a bounded queue
 * of one; a request that finds one pending is dropped, since a single
 * checkpoint covers both. Checkpoints are PASSIVE: they copy what no
 * reader still needs and never wait for, or block, the writer or a reader,
 * so the background one runs beside the storage thread on the other core.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/err.h"
#include "common/log.h"
#include "common/queue.h"
#include "common/thread.h"
#include "store/store_sqlite.h"
#include "store/store_sqlite_int.h"

/* Runs on the writer's thread after each commit. From half of
 * checkpoint_pages on, the checkpointer copies frames in the background;
 * at checkpoint_pages the writer finishes the job itself, between two of
 * its transactions, which is when a checkpoint can complete and let the
 * next transaction start the log over: a background checkpoint racing a
 * busy writer never quite catches up, and the log would grow without
 * bound. By then the checkpointer has copied nearly everything, so what
 * is left for the writer is short. */
static int on_wal(void *ud, sqlite3 *db, const char *name, int n_pages)
{
    struct store_sqlite *s = ud;
    atomic_store_explicit(&s->wal_pages, (uint32_t)n_pages, memory_order_relaxed);
    if ((uint32_t)n_pages >= s->checkpoint_pages) {
        int n_log = 0, n_done = 0;
        if (sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, &n_log, &n_done) ==
            SQLITE_OK) {
            atomic_fetch_add_explicit(&s->n_checkpoints, 1, memory_order_relaxed);
        }
    } else if ((uint32_t)n_pages >= s->checkpoint_pages / 2) {
        int msg = 1;
        (void)queue_try_push(&s->ckpt_q, &msg); /* one pending request is enough */
    }
    return SQLITE_OK;
}

int store_sqlite__ckpt_writer(struct store_sqlite *s, sqlite3 *db)
{
    /* The hook replaces SQLite's automatic checkpoint. */
    sqlite3_wal_hook(db, on_wal, s);
    return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
    struct store_sqlite *s = arg;
    sqlite3 *db = NULL;
    int msg;
    int n;
    /* A request, or a quiet spell with frames still in the log: a log
     * copied whole lets readers skip it and read the database file, which
     * is mapped in memory, instead of the log's pages through pread. */
    while ((n = queue_pop_batch(&s->ckpt_q, &msg, 1, STORE_SQLITE_CKPT_IDLE_MS)) >= 0) {
        uint32_t pages = atomic_load_explicit(&s->wal_pages, memory_order_relaxed);
        if (n == 0 && pages == 0) {
            continue; /* quiet, and nothing left to copy */
        }
        if (db == NULL && store_sqlite__open_db(s, SQLITE_OPEN_READWRITE, &db) < 0) {
            continue; /* logged; the next request tries again */
        }
        int n_log = 0, n_done = 0;
        int src = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &n_log, &n_done);
        if (src == SQLITE_OK) {
            atomic_fetch_add_explicit(&s->n_checkpoints, 1, memory_order_relaxed);
            if (n_done == n_log) {
                /* Done, unless a commit landed meanwhile (it set a new count). */
                atomic_compare_exchange_strong(&s->wal_pages, &pages, 0);
            }
        } else if (src != SQLITE_BUSY) {
            log_warn("sqlite %s: checkpoint: %s", s->path, sqlite3_errmsg(db));
        }
    }
    sqlite3_close(db);
    return NULL;
}

int store_sqlite__ckpt_start(struct store_sqlite *s)
{
    int rc = queue_init(&s->ckpt_q, sizeof(int), 1);
    if (rc < 0) {
        return rc;
    }
    rc = thread_start(&s->ckpt_thread, "ost-ckpt", ckpt_main, s);
    if (rc < 0) {
        queue_fini(&s->ckpt_q);
        return rc;
    }
    s->has_ckpt = true;
    return 0;
}

void store_sqlite__ckpt_stop(struct store_sqlite *s)
{
    if (!s->has_ckpt) {
        return;
    }
    queue_close(&s->ckpt_q);
    pthread_join(s->ckpt_thread, NULL);
    queue_fini(&s->ckpt_q);
    s->has_ckpt = false;
}

uint64_t store_sqlite_checkpoints(const struct store *base)
{
    const struct store_sqlite *s = (const struct store_sqlite *)base;
    return atomic_load_explicit(&s->n_checkpoints, memory_order_relaxed);
}

/*
 * store_sync: the deferred writer commits with synchronous = NORMAL, which
 * writes the transaction's frames to the log but does not fsync it; this
 * fsyncs the log file on another thread. The log is only ever appended to
 * or started over after a checkpoint has copied it into the database file
 * and synced that, so one fdatasync of the log covers every transaction
 * committed before it, wherever it lies: a transaction is durable exactly
 * as if its commit had synced. SQLite keeps its own descriptors private,
 * so this one is opened on the same file, and opened again if the file was
 * replaced (SQLite removes the log when the last handle closes).
 */
int store_sqlite__sync(struct store *base)
{
    struct store_sqlite *s = (struct store_sqlite *)base;
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s-wal", s->path) >= sizeof(path)) {
        return OST_EINVAL;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno != ENOENT) {
            log_error("sqlite %s: cannot sync: %s", path, strerror(errno));
            return OST_EIO;
        }
        /* No log: every commit went into the database file, and the last
         * handle's close synced it. */
        return 0;
    }
    if (s->wal_fd >= 0 && (st.st_dev != s->wal_dev || st.st_ino != s->wal_ino)) {
        close(s->wal_fd);
        s->wal_fd = -1;
    }
    if (s->wal_fd < 0) {
        s->wal_fd = open(path, O_RDONLY | O_CLOEXEC);
        if (s->wal_fd < 0) {
            log_error("sqlite %s: cannot open to sync: %s", path, strerror(errno));
            return OST_EIO;
        }
        s->wal_dev = st.st_dev;
        s->wal_ino = st.st_ino;
    }
    if (fdatasync(s->wal_fd) != 0) {
        log_error("sqlite %s: cannot sync: %s", path, strerror(errno));
        return OST_EIO;
    }
    return 0;
}

void store_sqlite__sync_close(struct store_sqlite *s)
{
    if (s->wal_fd >= 0) {
        close(s->wal_fd);
        s->wal_fd = -1;
    }
}
