/*
 * The validation worker pool: N threads take events from one bounded queue,
 * run verify_event on each with their own verify_ctx (no lock is held while
 * verifying), and hand every result to a callback.
 *
 * Threads: vpool_try_submit/vpool_submit from any thread (normally the io
 * thread); the callback runs on the worker threads. Shutdown: vpool_stop
 * closes the queue, and the workers finish every job already queued (each
 * one reaches the callback exactly once) before vpool_free joins them.
 */
#ifndef OSTRICH_VALIDATE_VPOOL_H
#define OSTRICH_VALIDATE_VPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "validate/event.h"
#include "validate/sig.h"
#include "validate/verify.h"

struct vpool;

/* One event to validate. json is heap memory (malloc) that moves into the
 * pool with a successful submit and comes back in the result; so does aux,
 * the submitter's own data about the job (may be NULL), which the pool
 * never reads. */
struct vpool_job {
    uint64_t conn_id;
    uint64_t tag; /* opaque to the pool, returned in the result */
    char *json;
    size_t len;
    void *aux;
};

/* Delivered to the callback, which takes ownership of json and aux (free
 * them or move them on). When rc is 0, ev is valid and points into json. When rc is
 * negative, reason is a static string with its NIP-01 prefix, and has_id
 * says whether id could still be read (for an OK false reply). */
struct vpool_result {
    uint64_t conn_id;
    uint64_t tag;
    char *json;
    size_t len;
    void *aux;
    int rc;
    const char *reason;
    bool has_id;
    uint8_t id[32];
    struct event ev;
};

typedef void (*vpool_done_fn)(void *ud, struct vpool_result *res);

struct vpool_config {
    int n_workers;    /* 0: one per online CPU */
    size_t queue_cap; /* jobs waiting; 0: 4096 */
    enum sig_engine engine;
    struct verify_limits limits;
};

/* Starts the workers. cfg is copied; done(ud, result) is called on a
 * worker thread for every job. Returns 0, OST_EINVAL, OST_ENOMEM, or the
 * error from starting a thread; on failure nothing is left running. */
int vpool_new(const struct vpool_config *cfg, vpool_done_fn done, void *ud, struct vpool **out);

/* Queues job without blocking and takes ownership of job->json and
 * job->aux, but only on success. Returns 0, OST_EAGAIN when the queue is
 * full, or OST_ESHUTDOWN after vpool_stop; on failure the caller still owns
 * job->json and job->aux. */
int vpool_try_submit_take(struct vpool *p, const struct vpool_job *job);

/* As vpool_try_submit_take, but waits while the queue is full (for
 * benchmarks and tools; the io thread never waits). */
int vpool_submit_take(struct vpool *p, const struct vpool_job *job);

/* Closes the queue; workers drain what is queued and then exit. Idempotent. */
void vpool_stop(struct vpool *p);

/* Stops (if not yet stopped), joins the workers and frees the pool. Every
 * queued job has reached the callback when this returns. NULL does nothing. */
void vpool_free(struct vpool *p);

/* Jobs waiting in the queue (for metrics). */
size_t vpool_queue_len(struct vpool *p);

/* The number of worker threads. */
int vpool_worker_count(const struct vpool *p);

#endif
