/*
 * The reader pool: a few threads ("ost-read/N") that answer REQ and COUNT
 * from the store, so stored-event queries never run on the io thread. Each
 * thread opens its own reader handle on itself; jobs come from one bounded
 * queue.
 *
 * Threads: reader_try_submit_take from any thread (normally the io thread);
 * the callbacks run on the reader threads, one job at a time per thread.
 * Shutdown cancels: after reader_stop no new query starts, a running query
 * stops before its next event, and every job accepted by a submit still
 * reaches on_done exactly once (with OST_ESHUTDOWN when it was cancelled);
 * reader_free waits for that and joins the threads.
 */
#ifndef OSTRICH_STORE_READER_H
#define OSTRICH_STORE_READER_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct filter_set;
struct store;

/* NIP-01: a subscription id is at most 64 characters: up to 256 bytes. */
#define READER_SUB_ID_MAX        256
#define READER_DEFAULT_QUEUE_CAP 1024
#define READER_DEFAULT_N_THREADS 2
#define READER_MAX_N_THREADS     64

enum reader_kind {
    READER_REQ = 0,   /* each stored event, then completion (EOSE) */
    READER_COUNT = 1, /* the number of matching events (NIP-45) */
};

/* Called on a reader thread with the pubkey (32 bytes, borrowed) of each
 * event a COUNT counts (NIP-45 HyperLogLog). */
typedef void (*reader_pubkey_fn)(void *pubkey_ud, const uint8_t *pubkey);

/* One query. filters (heap, from filter_set_parse) moves into the pool with
 * a successful submit and comes back in on_done. sub_id is a copy.
 * on_pubkey (COUNT only; NULL: none, as reader_job_init leaves it) and
 * pubkey_ud travel with the job untouched; what pubkey_ud points to is the
 * submitter's, and on_done is where it gets it back. */
struct reader_job {
    uint64_t conn_id;
    enum reader_kind kind;
    uint16_t sub_id_len;
    char sub_id[READER_SUB_ID_MAX];
    struct filter_set *filters;
    reader_pubkey_fn on_pubkey;
    void *pubkey_ud;
};

/* How a job ended. rc is 0; OST_ESHUTDOWN when reader_stop cancelled it;
 * the negative code on_event returned to stop it; or a store error.
 * reason is NULL when rc is 0, else a static "error: ..." string for a
 * CLOSED reply. count is the COUNT answer, or for REQ the number of events
 * delivered. */
struct reader_result {
    int rc;
    const char *reason;
    uint64_t count;
    struct store_snapshot snapshot; /* REQ: the query's snapshot (sequence, completeness) */
};

/* Called on a reader thread for each stored event of a REQ, newest first,
 * with the raw JSON as stored (borrowed for the call). Return 0 to go on, or
 * a negative code to stop this query (the connection is gone, its outbound
 * buffer is full). */
typedef int (*reader_event_fn)(void *ud, const struct reader_job *job, const char *json,
                               size_t len);

/* Called on a reader thread exactly once per job, after its last event.
 * Takes ownership of job->filters (free it or move it on); job and res are
 * borrowed for the call. */
typedef void (*reader_done_fn)(void *ud, struct reader_job *job, const struct reader_result *res);

struct reader_config {
    int n_threads;    /* 0: READER_DEFAULT_N_THREADS */
    size_t queue_cap; /* jobs waiting; 0: READER_DEFAULT_QUEUE_CAP */
};

struct reader;

/* Fills *job. sub_id[0..sub_id_len) is copied; filters is stored, not yet
 * taken (a submit takes it). Returns 0, or OST_EINVAL when sub_id is empty
 * or longer than READER_SUB_ID_MAX, filters is NULL or kind is unknown. */
int reader_job_init(struct reader_job *job, uint64_t conn_id, enum reader_kind kind,
                    const char *sub_id, size_t sub_id_len, struct filter_set *filters);

/* Starts the threads over s (borrowed; it must outlive the pool). cfg is
 * copied. While a thread cannot open its handle, its jobs are answered
 * with an error and the open is retried for the next job. Returns 0,
 * OST_EINVAL, OST_ENOMEM, or the error from starting a thread; on failure
 * nothing is left running. */
int reader_new(struct store *s, const struct reader_config *cfg, reader_event_fn on_event,
               reader_done_fn on_done, void *ud, struct reader **out);

/* Queues job without blocking and takes ownership of job->filters, but
 * only on success. Returns 0, OST_EAGAIN when the queue is full,
 * OST_ESHUTDOWN after reader_stop, or OST_EINVAL when job->filters is
 * NULL; on failure the caller still owns job->filters. Any thread. */
int reader_try_submit_take(struct reader *r, const struct reader_job *job);

/* Cancels: closes the queue and tells running queries to stop. Does not
 * block. Idempotent; any thread. */
void reader_stop(struct reader *r);

/* Stops (if not yet stopped), waits until every accepted job has reached
 * on_done, joins the threads and frees r. NULL does nothing. Called by the
 * owner, never from a callback. */
void reader_free(struct reader *r);

/* Jobs waiting in the queue (for metrics). Any thread. */
size_t reader_queue_len(struct reader *r);

/* The number of reader threads. */
int reader_thread_count(const struct reader *r);

#endif
