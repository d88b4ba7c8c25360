/*
 * The storage thread ("ost-store"): takes validated events from one bounded
 * queue, writes them in batches (one transaction per batch) through a
 * writer handle it opens on its own thread, and only once the batch is
 * durable hands each event with its result to a callback, so the relay can
 * answer OK and then broadcast. When the store has store_sync, durability
 * is a stage of its own on a second thread ("ost-sync"): the storage
 * thread commits batch k without waiting for the disk and goes on to batch
 * k+1 while the sync thread fsyncs and answers batch k (several waiting
 * batches share one fsync). Between batches the storage thread also purges
 * expired events (NIP-40) on an interval, in bounded passes of their own
 * transaction.
 *
 * Threads: batcher_try_submit_take and batcher_submit_take from any thread
 * (the io thread uses the non-blocking one; validation workers, which are
 * upstream, may block); the callback runs on the sync thread, or on the
 * storage thread for a store without store_sync, always in the order the
 * batches were written. Shutdown: batcher_stop closes the queue; the
 * threads still write and answer every request already queued, and
 * batcher_free waits for that and joins them.
 */
#ifndef OSTRICH_STORE_BATCHER_H
#define OSTRICH_STORE_BATCHER_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "validate/event.h"

#define BATCHER_DEFAULT_BATCH_SIZE 256
#define BATCHER_DEFAULT_WAIT_MS    5
#define BATCHER_DEFAULT_QUEUE_CAP  4096
#define BATCHER_MAX_BATCH_SIZE     65536
/* Expired events deleted in one purge transaction at most. */
#define BATCHER_DEFAULT_PURGE_MAX 1000
/* Batches in flight at most when the store has store_sync: one being
 * filled and written, the others waiting for or in their sync. */
#define BATCHER_SLOTS 4

struct batcher;

/* One event to store. json is heap memory (malloc) holding the event; ev
 * is its parsed view and points into json. del is NULL, or what storing
 * the event deletes (NIP-09, NIP-62; see store_write_batch_del), owned by
 * the submitter's convention (the relay's is one malloc block). All move
 * into the batcher with a successful submit and come back in the callback;
 * the batcher only reads del. */
struct batcher_req {
    uint64_t conn_id;
    uint64_t tag; /* opaque to the batcher, returned in the callback */
    char *json;
    size_t len;
    struct event ev;
    struct store_deletion *del;
};

/* Called once per request, after its batch has committed durably (or
 * failed: then res->status is STORE_FAILED with an "error: ..." reason,
 * and no event of that batch may be taken as stored). The callback
 * takes ownership of req->json (free it or move it on); req and res are
 * borrowed for the call. */
typedef void (*batcher_done_fn)(void *ud, struct batcher_req *req, const struct store_result *res);

/* Called on the storage thread once per request of a batch that
 * committed, right after the commit and before it is durable (then done
 * follows once it is): what is stored is decided and visible to queries
 * by then, so new events can go to subscribers without waiting for the
 * disk. req and res are borrowed; req->json still belongs to the batcher. */
typedef void (*batcher_committed_fn)(void *ud, const struct batcher_req *req,
                                     const struct store_result *res);

/* Called on the storage thread after each batch's write, before its
 * callbacks, with the number of events and the seconds the write and
 * commit took (for metrics; not called when the writer handle could not be
 * opened). */
typedef void (*batcher_batch_fn)(void *ud, size_t n, double seconds);

struct batcher_config {
    uint32_t batch_size;               /* events per transaction at most; 0: the default */
    uint32_t batch_wait_ms;            /* how long a batch waits to fill after its first event;
                                          0: it takes only what is already queued */
    size_t queue_cap;                  /* requests waiting; 0: the default */
    uint32_t purge_interval_ms;        /* how often expired events are purged; 0: never */
    uint32_t purge_max;                /* events deleted per purge pass; 0: the default */
    batcher_batch_fn on_batch;         /* NULL, or called with done's ud after each write */
    batcher_committed_fn on_committed; /* NULL, or called with done's ud (see above) */
};

/* Counters for metrics and tests (relaxed reads of atomics). */
struct batcher_stats {
    uint64_t batches;        /* transactions attempted */
    uint64_t events;         /* requests answered */
    uint64_t failed_batches; /* transactions that did not commit */
    uint64_t purge_passes;   /* purge transactions attempted */
    uint64_t purged;         /* expired events deleted */
    uint64_t syncs;          /* store_sync calls (pipelined stores only) */
};

/* Starts the storage thread over s (borrowed; it must outlive the batcher).
 * cfg is copied. done(ud, req, res) is called for every request. The
 * thread opens its writer handle itself; while it cannot, requests are
 * answered with STORE_FAILED and the open is retried for the next batch.
 * Returns 0, OST_EINVAL (batch_size over BATCHER_MAX_BATCH_SIZE, NULL
 * arguments), OST_ENOMEM, or the error from starting the thread; on failure
 * nothing is left running. */
int batcher_new(struct store *s, const struct batcher_config *cfg, batcher_done_fn done, void *ud,
                struct batcher **out);

/* Queues req without blocking and takes ownership of req->json, but only
 * on success. Returns 0, OST_EAGAIN when the queue is full, or
 * OST_ESHUTDOWN after batcher_stop; on failure the caller still owns
 * req->json. Any thread. */
int batcher_try_submit_take(struct batcher *b, const struct batcher_req *req);

/* As batcher_try_submit_take, but waits while the queue is full (for
 * threads upstream of the storage thread; never the io thread). Returns 0
 * or OST_ESHUTDOWN; on failure the caller still owns req->json. */
int batcher_submit_take(struct batcher *b, const struct batcher_req *req);

/* Closes the queue: later submits fail with OST_ESHUTDOWN, and the thread
 * writes and answers what is queued, then exits. Does not block.
 * Idempotent; any thread. */
void batcher_stop(struct batcher *b);

/* Stops (if not yet stopped), waits until every queued request has been
 * committed and answered, joins the thread and frees b. NULL does nothing.
 * Called by the owner, never from the callback. */
void batcher_free(struct batcher *b);

/* Requests waiting in the queue (for metrics). Any thread. */
size_t batcher_queue_len(struct batcher *b);

/* Fills *out with the counters so far. Any thread. */
void batcher_stats(struct batcher *b, struct batcher_stats *out);

#endif
