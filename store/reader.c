/*
 * The reader pool.
 *
 * Design: one bounded queue of struct reader_job feeds N threads. Each
 * thread opens its reader handle when it starts (SQLite connections and
 * their statements stay on their thread) and takes one job at a time, since
 * a query can be long and a batch would leave other threads idle. Results
 * go straight from the store's callback to on_event with no copy.
 *
 * Cancellation: reader_stop sets is_stopping before it closes the queue.
 * A thread checks the flag before it starts a job and before each event it
 * delivers, so after reader_stop every remaining job is answered with
 * OST_ESHUTDOWN instead of being run, and the queue's drain-then-report
 * behaviour guarantees that each accepted job reaches on_done once.
 */
#include "store/reader.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/log.h"
#include "common/queue.h"
#include "common/thread.h"
#include "store/store.h"

/* Owned by: its reader thread (r and index are written before it starts). */
struct reader_worker {
    struct reader *r;
    int index;
    pthread_t thread;
};

/* Owned by: the thread that created it. Reader threads read s, on_event,
 * on_done and ud, share the queue (its own lock) and read is_stopping. */
struct reader {
    struct queue q;
    struct store *s;
    reader_event_fn on_event;
    reader_done_fn on_done;
    void *ud;
    atomic_bool is_stopping;
    int n_threads; /* threads started */
    struct reader_worker *workers;
};

/* What one REQ passes through the store's callback. */
struct delivery {
    struct reader *r;
    const struct reader_job *job;
    uint64_t n;
};

static int deliver(void *ud, const char *json, size_t len)
{
    struct delivery *d = ud;
    if (atomic_load_explicit(&d->r->is_stopping, memory_order_relaxed)) {
        return OST_ESHUTDOWN;
    }
    int rc = d->r->on_event(d->r->ud, d->job, json, len);
    if (rc == 0) {
        d->n++;
    }
    return rc;
}

/* Runs (or cancels) one job and answers it. conn is NULL when the thread
 * has no handle: the job is answered with rc. */
static void run_job(struct reader *r, struct store_conn *conn, int rc, struct reader_job *job)
{
    struct reader_result res = { 0 };
    if (atomic_load_explicit(&r->is_stopping, memory_order_relaxed)) {
        rc = OST_ESHUTDOWN;
    }
    if (rc == 0 && job->kind == READER_COUNT && job->on_pubkey != NULL) {
        rc =
            store_count_set_pubkeys(conn, job->filters, job->on_pubkey, job->pubkey_ud, &res.count);
    } else if (rc == 0 && job->kind == READER_COUNT) {
        rc = store_count_set(conn, job->filters, &res.count);
    } else if (rc == 0) {
        struct delivery d = { .r = r, .job = job };
        rc = store_query_set(conn, job->filters, deliver, &d, &res.snapshot);
        res.count = d.n;
    }
    res.rc = rc;
    res.reason = rc < 0 ? store_error_reason(rc) : NULL;
    r->on_done(r->ud, job, &res);
}

static void *reader_main(void *arg)
{
    struct reader_worker *w = arg;
    struct reader *r = w->r;
    struct store_conn *conn = NULL;
    bool has_logged = false;
    struct reader_job job;
    for (;;) {
        int n = queue_pop_batch(&r->q, &job, 1, -1);
        if (n < 0) {
            break; /* closed and drained */
        }
        if (n == 0) {
            continue;
        }
        int rc = 0;
        if (conn == NULL && !atomic_load_explicit(&r->is_stopping, memory_order_relaxed)) {
            rc = store_conn_open(r->s, STORE_ROLE_READER, &conn);
            if (rc < 0 && !has_logged) {
                log_error("reader %d: cannot open the database: %s", w->index, ost_strerror(rc));
                has_logged = true;
            }
        }
        run_job(r, conn, rc, &job);
    }
    store_conn_close(conn);
    return NULL;
}

int reader_job_init(struct reader_job *job, uint64_t conn_id, enum reader_kind kind,
                    const char *sub_id, size_t sub_id_len, struct filter_set *filters)
{
    if (sub_id_len == 0 || sub_id_len > READER_SUB_ID_MAX || filters == NULL ||
        (kind != READER_REQ && kind != READER_COUNT)) {
        return OST_EINVAL;
    }
    memset(job, 0, sizeof(*job));
    job->conn_id = conn_id;
    job->kind = kind;
    job->sub_id_len = (uint16_t)sub_id_len;
    memcpy(job->sub_id, sub_id, sub_id_len);
    job->filters = filters;
    return 0;
}

/* Stops, joins every started thread and frees r. */
static void shutdown_and_free(struct reader *r)
{
    reader_stop(r);
    for (int i = 0; i < r->n_threads; i++) {
        pthread_join(r->workers[i].thread, NULL);
    }
    queue_fini(&r->q);
    free(r->workers);
    free(r);
}

int reader_new(struct store *s, const struct reader_config *cfg, reader_event_fn on_event,
               reader_done_fn on_done, void *ud, struct reader **out)
{
    if (s == NULL || cfg == NULL || on_event == NULL || on_done == NULL || out == NULL ||
        cfg->n_threads < 0 || cfg->n_threads > READER_MAX_N_THREADS) {
        return OST_EINVAL;
    }
    int n = cfg->n_threads != 0 ? cfg->n_threads : READER_DEFAULT_N_THREADS;
    size_t cap = cfg->queue_cap != 0 ? cfg->queue_cap : READER_DEFAULT_QUEUE_CAP;
    struct reader *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return OST_ENOMEM;
    }
    r->s = s;
    r->on_event = on_event;
    r->on_done = on_done;
    r->ud = ud;
    atomic_init(&r->is_stopping, false);
    r->workers = calloc((size_t)n, sizeof(*r->workers));
    int rc = r->workers != NULL ? queue_init(&r->q, sizeof(struct reader_job), cap) : OST_ENOMEM;
    if (rc < 0) {
        free(r->workers);
        free(r);
        return rc;
    }
    for (int i = 0; i < n; i++) {
        char name[32]; // "ost-read/63" at most, within the 15 a thread name takes
        snprintf(name, sizeof(name), "ost-read/%d", i);
        r->workers[i].r = r;
        r->workers[i].index = i;
        rc = thread_start(&r->workers[i].thread, name, reader_main, &r->workers[i]);
        if (rc < 0) {
            /* Nothing has been queued yet, so the started threads exit at
             * once. */
            shutdown_and_free(r);
            return rc;
        }
        r->n_threads = i + 1;
    }
    *out = r;
    return 0;
}

int reader_try_submit_take(struct reader *r, const struct reader_job *job)
{
    if (job->filters == NULL) {
        return OST_EINVAL;
    }
    return queue_try_push(&r->q, job);
}

void reader_stop(struct reader *r)
{
    /* The flag goes first: a thread that wakes because of the close must
     * already see it. */
    atomic_store_explicit(&r->is_stopping, true, memory_order_relaxed);
    queue_close(&r->q);
}

void reader_free(struct reader *r)
{
    if (r == NULL) {
        return;
    }
    shutdown_and_free(r);
}

size_t reader_queue_len(struct reader *r)
{
    return queue_len(&r->q);
}

int reader_thread_count(const struct reader *r)
{
    return r->n_threads;
}
