/*
 * The storage thread.
 *
 * Design: one bounded queue of struct batcher_req feeds one thread. A batch
 * starts with a blocking pop, then keeps popping until it holds batch_size
 * requests or batch_wait_ms have passed since its first one (a deadline on
 * CLOCK_MONOTONIC). It is written in one transaction, and only when
 * store_write_batch has returned, i.e. committed or failed as a whole, and
 * (pipelined) store_sync has made the commit durable, is the callback
 * called for each request: an OK true can never precede the commit's
 * reaching the disk. Shutdown closes the queue; pops keep returning what
 * is left until it is empty, so every accepted request is written and
 * answered exactly once before the threads exit.
 *
 * Pipelined, the fsync that synchronous = FULL put inside every commit
 * (about a third of each batch's time, with the storage thread idle while
 * the disk works) runs on the sync thread beside the next batch's inserts.
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

/* One batch: its requests and what the write made of them. A slot is
 * filled and written by the storage thread, then (pipelined) synced and
 * answered by the sync thread, then handed back. */
struct slot {
    struct batcher_req *reqs;
    const struct event **evs;           /* views into reqs */
    const struct store_deletion **dels; /* views into reqs */
    struct store_result *results;
    int n;
    bool has_stored; /* committed, and stored something: it needs a sync */
};

/* Owned by: the thread that created it. The storage thread reads cfg, done,
 * ud and s, and owns conn and the slot it is filling; a slot in sync_q
 * belongs to the sync thread; the queues have their own locks; the
 * counters are atomics. */
struct batcher {
    struct queue q;
    struct store *s;
    struct batcher_config cfg;
    batcher_done_fn done;
    void *ud;
    pthread_t thread;
    /* Pipelined (the store has store_sync): while the sync thread makes
     * batch k durable and answers it, the storage thread already writes
     * batch k+1. Slots go around free_q -> storage thread -> sync_q ->
     * sync thread -> free_q; without store_sync only slot 0 is used and
     * the storage thread answers itself. */
    bool is_pipelined;
    struct slot slots[BATCHER_SLOTS];
    struct queue free_q, sync_q; /* slot indexes */
    pthread_t sync_thread;
    struct store_conn *conn; /* storage thread */
    int64_t next_purge_ms;   /* storage thread: CLOCK_MONOTONIC */
    _Atomic uint64_t n_batches, n_events, n_failed, n_purge_passes, n_purged, n_syncs;
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

/* Pops the next batch into slot sl. Returns its size (0 when the wait for
 * the first request ended for a purge), or OST_ESHUTDOWN once the queue is
 * closed and empty. */
static int collect(struct batcher *b, struct slot *sl)
{
    int n = queue_pop_batch(&b->q, sl->reqs, b->cfg.batch_size, first_wait_ms(b));
    if (n <= 0) {
        return n < 0 ? n : 0;
    }
    int64_t deadline = now_ms() + b->cfg.batch_wait_ms;
    while ((uint32_t)n < b->cfg.batch_size) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            break;
        }
        int m = queue_pop_batch(&b->q, sl->reqs + n, b->cfg.batch_size - (uint32_t)n, (int)left);
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
        rc = store_conn_open(b->s, b->is_pipelined ? STORE_ROLE_WRITER_DEFERRED : STORE_ROLE_WRITER,
                             &b->conn);
        if (rc < 0 && !*has_logged) {
            log_error("storage thread: cannot open the database: %s", ost_strerror(rc));
            *has_logged = true;
        }
    }
    return rc;
}

/* Marks every result of sl failed with rc: nothing of it may be reported
 * stored. */
static void fail_slot(struct batcher *b, struct slot *sl, int rc)
{
    for (int i = 0; i < sl->n; i++) {
        store_result_set(&sl->results[i], STORE_FAILED, rc);
    }
    atomic_fetch_add_explicit(&b->n_failed, 1, memory_order_relaxed);
}

/* Writes the batch in sl (storage thread). */
static void write_slot(struct batcher *b, struct slot *sl, bool *has_logged)
{
    int rc = open_conn(b, has_logged);
    for (int i = 0; i < sl->n; i++) {
        sl->evs[i] = &sl->reqs[i].ev;
        sl->dels[i] = sl->reqs[i].del;
    }
    if (rc == 0) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = store_write_batch_del(b->conn, sl->evs, sl->dels, (size_t)sl->n, sl->results);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (b->cfg.on_batch != NULL) {
            double seconds =
                (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
            b->cfg.on_batch(b->ud, (size_t)sl->n, seconds);
        }
    }
    sl->has_stored = false;
    for (int i = 0; i < sl->n && rc == 0; i++) {
        sl->has_stored = sl->has_stored || sl->results[i].status == STORE_STORED;
    }
    if (rc < 0) {
        /* Nothing of the batch is stored, whatever any result says. */
        fail_slot(b, sl, rc);
    } else if (b->cfg.on_committed != NULL) {
        for (int i = 0; i < sl->n; i++) {
            b->cfg.on_committed(b->ud, &sl->reqs[i], &sl->results[i]);
        }
    }
    atomic_fetch_add_explicit(&b->n_batches, 1, memory_order_relaxed);
}

/* Answers each request of sl: only once it is durable. */
static void answer_slot(struct batcher *b, struct slot *sl)
{
    /* Counted before the callbacks, so whoever they wake sees the counts. */
    atomic_fetch_add_explicit(&b->n_events, (uint64_t)sl->n, memory_order_relaxed);
    for (int i = 0; i < sl->n; i++) {
        b->done(b->ud, &sl->reqs[i], &sl->results[i]);
    }
    sl->n = 0;
}

/* The sync thread ("ost-sync"): takes every written batch waiting, makes
 * them durable with one store_sync (a group commit: the more batches wait,
 * the fewer syncs per event), then answers them in the order they were
 * written. When the sync fails, their stored events are not reported
 * stored: they get "error:" answers, though the store may keep them. */
static void *sync_main(void *arg)
{
    struct batcher *b = arg;
    int idx[BATCHER_SLOTS];
    int m;
    while ((m = queue_pop_batch(&b->sync_q, idx, BATCHER_SLOTS, -1)) > 0) {
        /* A batch that only found duplicates and refusals wrote nothing:
         * its answers need no sync (what a duplicate names was stored by
         * an earlier batch, synced before this one is answered). */
        bool is_needed = false;
        for (int i = 0; i < m; i++) {
            is_needed = is_needed || b->slots[idx[i]].has_stored;
        }
        int rc = is_needed ? store_sync(b->s) : 0;
        if (is_needed) {
            atomic_fetch_add_explicit(&b->n_syncs, 1, memory_order_relaxed);
        }
        for (int i = 0; i < m; i++) {
            struct slot *sl = &b->slots[idx[i]];
            if (rc < 0 && sl->has_stored) {
                fail_slot(b, sl, rc);
            }
            answer_slot(b, sl);
            (void)queue_push(&b->free_q, &idx[i]); /* room for every slot */
        }
    }
    return NULL;
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

/* The slot the next batch goes into: a free one, waiting for the sync
 * thread to hand one back when all are in flight (which holds new batches
 * back while syncs are slow). */
static int take_slot(struct batcher *b)
{
    int i = 0;
    if (b->is_pipelined) {
        (void)queue_pop_batch(&b->free_q, &i, 1, -1); /* never closed before this thread ends */
    }
    return i;
}

static void *batcher_main(void *arg)
{
    struct batcher *b = arg;
    bool has_logged = false;
    for (;;) {
        int i = take_slot(b);
        struct slot *sl = &b->slots[i];
        int n = collect(b, sl);
        if (n < 0) {
            break; /* closed and drained */
        }
        sl->n = n;
        if (n > 0) {
            write_slot(b, sl, &has_logged);
        }
        if (n > 0 && b->is_pipelined) {
            (void)queue_push(&b->sync_q, &i); /* room for every slot */
        } else {
            answer_slot(b, sl);
            if (b->is_pipelined) {
                (void)queue_push(&b->free_q, &i);
            }
        }
        purge_if_due(b, &has_logged);
    }
    store_conn_close(b->conn);
    b->conn = NULL;
    if (b->is_pipelined) {
        queue_close(&b->sync_q); /* the sync thread answers what is left, then ends */
    }
    return NULL;
}

static void free_slots(struct batcher *b)
{
    for (int i = 0; i < BATCHER_SLOTS; i++) {
        free(b->slots[i].reqs);
        free(b->slots[i].evs);
        free(b->slots[i].dels);
        free(b->slots[i].results);
    }
}

static int alloc_slots(struct batcher *b)
{
    int n_slots = b->is_pipelined ? BATCHER_SLOTS : 1;
    for (int i = 0; i < n_slots; i++) {
        struct slot *sl = &b->slots[i];
        sl->reqs = calloc(b->cfg.batch_size, sizeof(*sl->reqs));
        sl->evs = calloc(b->cfg.batch_size, sizeof(*sl->evs));
        sl->dels = calloc(b->cfg.batch_size, sizeof(*sl->dels));
        sl->results = calloc(b->cfg.batch_size, sizeof(*sl->results));
        if (sl->reqs == NULL || sl->evs == NULL || sl->dels == NULL || sl->results == NULL) {
            return OST_ENOMEM;
        }
    }
    return 0;
}

/* The pipeline's queues, with every slot free; and its thread. */
static int start_sync(struct batcher *b)
{
    int rc = queue_init(&b->free_q, sizeof(int), BATCHER_SLOTS);
    if (rc < 0) {
        return rc;
    }
    rc = queue_init(&b->sync_q, sizeof(int), BATCHER_SLOTS);
    if (rc < 0) {
        queue_fini(&b->free_q);
        return rc;
    }
    for (int i = 0; i < BATCHER_SLOTS; i++) {
        (void)queue_push(&b->free_q, &i);
    }
    rc = thread_start(&b->sync_thread, "ost-sync", sync_main, b);
    if (rc < 0) {
        queue_fini(&b->sync_q);
        queue_fini(&b->free_q);
    }
    return rc;
}

/* Ends the sync thread (once the storage thread has closed sync_q). */
static void stop_sync(struct batcher *b)
{
    queue_close(&b->sync_q);
    pthread_join(b->sync_thread, NULL);
    queue_fini(&b->sync_q);
    queue_fini(&b->free_q);
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
    b->is_pipelined = store_has_sync(s);
    int rc = alloc_slots(b);
    if (rc < 0) {
        goto fail;
    }
    rc = queue_init(&b->q, sizeof(struct batcher_req), b->cfg.queue_cap);
    if (rc < 0) {
        goto fail;
    }
    rc = b->is_pipelined ? start_sync(b) : 0;
    if (rc < 0) {
        queue_fini(&b->q);
        goto fail;
    }
    rc = thread_start(&b->thread, "ost-store", batcher_main, b);
    if (rc < 0) {
        if (b->is_pipelined) {
            stop_sync(b);
        }
        queue_fini(&b->q);
        goto fail;
    }
    *out = b;
    return 0;

fail:
    free_slots(b);
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
    if (b->is_pipelined) {
        stop_sync(b);
    }
    queue_fini(&b->q);
    free_slots(b);
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
    out->syncs = atomic_load_explicit(&b->n_syncs, memory_order_relaxed);
}
