/*
 * The storage thread.
 *
 * Design: one bounded queue of struct batcher_req feeds one thread. A batch
 * starts with a blocking pop, then keeps popping until it holds batch_size
 * requests or batch_wait_ms have passed since its first one (a deadline on
 * CLOCK_MONOTONIC). It is written in one transaction, and only when
 * store_write_batch has returned, i.e. committed or failed as a whole, is
 * the callback called for each request: an OK true can never precede the
 * commit. Shutdown closes the queue; pops keep returning what is left until
 * it is empty, so every accepted request is written and answered exactly
 * once before the thread exits.
 *
 * Purging expired events (NIP-40) needs no thread of its own: when an
 * interval is set, the first pop of a batch waits no longer than until the
 * next purge is due, and between batches a due purge deletes at most
 * purge_max rows in its own transaction, so writes never wait behind a
 * long delete. A pass that hit the bound leaves the next one due at once,
 * and batches and passes then alternate until the backlog is gone. The
 * first pass runs at startup, for what expired while the relay was down.
 */
#include "store/batcher.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "common/queue.h"
#include "common/thread.h"

/* Owned by: the thread that created it. The storage thread reads cfg, done,
 * ud and s, and owns conn and the batch arrays; the queue has its own lock;
 * the counters are atomics. */
struct batcher {
    struct queue q;
    struct store *s;
    struct batcher_config cfg;
    batcher_done_fn done;
    void *ud;
    pthread_t thread;
    struct batcher_req *reqs;           /* storage thread: the batch */
    const struct event **evs;           /* storage thread: views into reqs */
    const struct store_deletion **dels; /* storage thread: views into reqs */
    struct store_result *results;       /* storage thread */
    struct store_conn *conn;            /* storage thread */
    int64_t next_purge_ms;              /* storage thread: CLOCK_MONOTONIC */
    _Atomic uint64_t n_batches, n_events, n_failed, n_purge_passes, n_purged;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How long the first pop of a batch may wait: until the next purge is
 * due, or forever when there is none. */
static int first_wait_ms(const struct batcher *b)
{
    if (b->cfg.purge_interval_ms == 0) {
        return -1;
    }
    int64_t left = b->next_purge_ms - now_ms();
    return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

/* Pops the next batch into b->reqs. Returns its size (0 when the wait for
 * the first request ended for a purge), or OST_ESHUTDOWN once the queue is
 * closed and empty. */
static int collect(struct batcher *b)
{
    int n = queue_pop_batch(&b->q, b->reqs, b->cfg.batch_size, first_wait_ms(b));
    if (n <= 0) {
        return n < 0 ? n : 0;
    }
    int64_t deadline = now_ms() + b->cfg.batch_wait_ms;
    while ((uint32_t)n < b->cfg.batch_size) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            break;
        }
        int m = queue_pop_batch(&b->q, b->reqs + n, b->cfg.batch_size - (uint32_t)n, (int)left);
        if (m <= 0) {
            break; /* the wait is over, or the queue is closed and empty */
        }
        n += m;
    }
    return n;
}

/* Opens the writer handle when it is not open yet. */
static int open_conn(struct batcher *b, bool *has_logged)
{
    int rc = 0;
    if (b->conn == NULL) {
        rc = store_conn_open(b->s, STORE_ROLE_WRITER, &b->conn);
        if (rc < 0 && !*has_logged) {
            log_error("storage thread: cannot open the database: %s", ost_strerror(rc));
            *has_logged = true;
        }
    }
    return rc;
}

/* Writes one batch and answers each request. */
static void write_and_answer(struct batcher *b, int n, bool *has_logged)
{
    int rc = open_conn(b, has_logged);
    for (int i = 0; i < n; i++) {
        b->evs[i] = &b->reqs[i].ev;
        b->dels[i] = b->reqs[i].del;
    }
    if (rc == 0) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = store_write_batch_del(b->conn, b->evs, b->dels, (size_t)n, b->results);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (b->cfg.on_batch != NULL) {
            double seconds =
                (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
            b->cfg.on_batch(b->ud, (size_t)n, seconds);
        }
    }
    if (rc < 0) {
        /* Nothing of the batch is stored, whatever any result says. */
        for (int i = 0; i < n; i++) {
            store_result_set(&b->results[i], STORE_FAILED, rc);
        }
        atomic_fetch_add_explicit(&b->n_failed, 1, memory_order_relaxed);
    }
    atomic_fetch_add_explicit(&b->n_batches, 1, memory_order_relaxed);
    /* Counted before the callbacks, so whoever they wake sees the counts. */
    atomic_fetch_add_explicit(&b->n_events, (uint64_t)n, memory_order_relaxed);
    for (int i = 0; i < n; i++) {
        b->done(b->ud, &b->reqs[i], &b->results[i]);
    }
}

/* Runs one purge pass when one is due. */
static void purge_if_due(struct batcher *b, bool *has_logged)
{
    if (b->cfg.purge_interval_ms == 0 || now_ms() < b->next_purge_ms) {
        return;
    }
    int n = open_conn(b, has_logged);
    if (n == 0) {
        n = store_purge_expired(b->conn, b->cfg.purge_max);
        atomic_fetch_add_explicit(&b->n_purge_passes, 1, memory_order_relaxed);
    }
    if (n > 0) {
        atomic_fetch_add_explicit(&b->n_purged, (uint64_t)n, memory_order_relaxed);
        log_debug("storage thread: purged %d expired events", n);
    } else if (n < 0 && b->conn != NULL) {
        /* At most one line per interval. */
        log_warn("storage thread: purging expired events failed: %s", ost_strerror(n));
    }
    bool is_full = n > 0 && (uint32_t)n == b->cfg.purge_max;
    b->next_purge_ms = now_ms() + (is_full ? 0 : b->cfg.purge_interval_ms);
}

static void *batcher_main(void *arg)
{
    struct batcher *b = arg;
    bool has_logged = false;
    for (;;) {
        int n = collect(b);
        if (n < 0) {
            break; /* closed and drained */
        }
        if (n > 0) {
            write_and_answer(b, n, &has_logged);
        }
        purge_if_due(b, &has_logged);
    }
    store_conn_close(b->conn);
    b->conn = NULL;
    return NULL;
}

static void free_arrays(struct batcher *b)
{
    free(b->reqs);
    free(b->evs);
    free(b->dels);
    free(b->results);
}

int batcher_new(struct store *s, const struct batcher_config *cfg, batcher_done_fn done, void *ud,
                struct batcher **out)
{
    if (s == NULL || cfg == NULL || done == NULL || out == NULL ||
        cfg->batch_size > BATCHER_MAX_BATCH_SIZE || cfg->batch_wait_ms > INT32_MAX ||
        cfg->purge_interval_ms > INT32_MAX) {
        return OST_EINVAL;
    }
    struct batcher *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        return OST_ENOMEM;
    }
    b->s = s;
    b->cfg = *cfg;
    b->cfg.batch_size = cfg->batch_size != 0 ? cfg->batch_size : BATCHER_DEFAULT_BATCH_SIZE;
    b->cfg.queue_cap = cfg->queue_cap != 0 ? cfg->queue_cap : BATCHER_DEFAULT_QUEUE_CAP;
    b->cfg.purge_max = cfg->purge_max != 0 ? cfg->purge_max : BATCHER_DEFAULT_PURGE_MAX;
    b->next_purge_ms = now_ms();
    b->done = done;
    b->ud = ud;
    b->reqs = calloc(b->cfg.batch_size, sizeof(*b->reqs));
    b->evs = calloc(b->cfg.batch_size, sizeof(*b->evs));
    b->dels = calloc(b->cfg.batch_size, sizeof(*b->dels));
    b->results = calloc(b->cfg.batch_size, sizeof(*b->results));
    int rc = OST_ENOMEM;
    if (b->reqs == NULL || b->evs == NULL || b->dels == NULL || b->results == NULL) {
        goto fail;
    }
    rc = queue_init(&b->q, sizeof(struct batcher_req), b->cfg.queue_cap);
    if (rc < 0) {
        goto fail;
    }
    rc = thread_start(&b->thread, "ost-store", batcher_main, b);
    if (rc < 0) {
        queue_fini(&b->q);
        goto fail;
    }
    *out = b;
    return 0;

fail:
    free_arrays(b);
    free(b);
    return rc;
}

int batcher_try_submit_take(struct batcher *b, const struct batcher_req *req)
{
    return queue_try_push(&b->q, req);
}

int batcher_submit_take(struct batcher *b, const struct batcher_req *req)
{
    return queue_push(&b->q, req);
}

void batcher_stop(struct batcher *b)
{
    queue_close(&b->q);
}

void batcher_free(struct batcher *b)
{
    if (b == NULL) {
        return;
    }
    queue_close(&b->q);
    pthread_join(b->thread, NULL);
    queue_fini(&b->q);
    free_arrays(b);
    free(b);
}

size_t batcher_queue_len(struct batcher *b)
{
    return queue_len(&b->q);
}

void batcher_stats(struct batcher *b, struct batcher_stats *out)
{
    out->batches = atomic_load_explicit(&b->n_batches, memory_order_relaxed);
    out->events = atomic_load_explicit(&b->n_events, memory_order_relaxed);
    out->failed_batches = atomic_load_explicit(&b->n_failed, memory_order_relaxed);
    out->purge_passes = atomic_load_explicit(&b->n_purge_passes, memory_order_relaxed);
    out->purged = atomic_load_explicit(&b->n_purged, memory_order_relaxed);
}
