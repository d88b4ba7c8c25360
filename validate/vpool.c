/*
 * The validation worker pool.
 *
 * Design: one bounded queue of struct vpool_job feeds N worker threads
 * ("ost-val/N"). Each worker creates its verify_ctx on its own thread when it
 * starts and destroys it when it exits, so no verification state is shared.
 * A worker pops jobs in small batches, validates each one and calls the
 * callback with no lock held. Shutdown closes the queue; queue_pop_batch
 * keeps returning jobs until the queue is empty and only then reports
 * OST_ESHUTDOWN, so every job accepted by a submit reaches the callback
 * exactly once before its worker exits.
 */
#include "validate/vpool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "common/queue.h"
#include "common/thread.h"

#define VPOOL_DEFAULT_QUEUE_CAP 4096
#define VPOOL_MAX_WORKERS       256

/* Jobs taken per lock round trip. Kept small so that a slow engine does not
 * leave one worker holding a long batch while the others sit idle. */
#define VPOOL_BATCH 16

#define R_NOMEM "error: out of memory"

/* Owned by: its worker thread (p and index are written before it starts). */
struct vpool_worker {
    struct vpool *p;
    int index;
    pthread_t thread;
};

/* Created and freed by the owning thread; workers only read cfg, done and
 * ud, and share the queue, which has its own lock. */
struct vpool {
    struct queue q;
    struct vpool_config cfg;
    vpool_done_fn done;
    void *ud;
    int n_workers; /* threads started */
    struct vpool_worker *workers;
};

/* Validates one job and hands the result over. ctx is NULL when the worker
 * has no verify_ctx: the job is still answered, as an internal error. */
static void run_job(struct vpool *p, struct verify_ctx *ctx, const struct vpool_job *job)
{
    struct vpool_result res;
    memset(&res, 0, sizeof(res));
    res.conn_id = job->conn_id;
    res.tag = job->tag;
    res.json = job->json;
    res.len = job->len;
    res.aux = job->aux;
    if (ctx != NULL) {
        res.rc = verify_event(ctx, job->json, job->len, &p->cfg.limits, (int64_t)time(NULL),
                              &res.ev, &res.reason);
    } else {
        res.rc = OST_ENOMEM;
        res.reason = R_NOMEM;
    }
    if (res.rc < 0) {
        res.has_id = event_peek_id(job->json, job->len, res.id) == 0;
    }
    p->done(p->ud, &res);
}

static void *worker_main(void *arg)
{
    struct vpool_worker *w = arg;
    struct vpool *p = w->p;
    struct vpool_job batch[VPOOL_BATCH];
    struct verify_ctx ctx;
    bool has_ctx = false;
    bool has_logged = false;

    for (;;) {
        /* A worker whose verify_ctx could not be created retries before each
         * batch: the shortage may pass, and until it does the jobs are
         * answered with an error instead of being dropped. */
        if (!has_ctx) {
            int rc = verify_ctx_init(&ctx, p->cfg.engine);
            has_ctx = rc == 0;
            if (!has_ctx && !has_logged) {
                log_error("validation worker %d: cannot create its verifier: %s", w->index,
                          ost_strerror(rc));
                has_logged = true;
            }
        }
        int n = queue_pop_batch(&p->q, batch, VPOOL_BATCH, -1);
        if (n < 0) {
            break; /* closed and drained */
        }
        for (int i = 0; i < n; i++) {
            run_job(p, has_ctx ? &ctx : NULL, &batch[i]);
        }
    }
    if (has_ctx) {
        verify_ctx_fini(&ctx);
    }
    return NULL;
}

static bool config_is_valid(const struct vpool_config *cfg)
{
    if (cfg->n_workers < 0 || cfg->n_workers > VPOOL_MAX_WORKERS) {
        return false;
    }
    return cfg->engine == SIG_ENGINE_NATIVE || cfg->engine == SIG_ENGINE_FALLBACK;
}

/* Closes the queue, joins every started worker and frees p. */
static void shutdown_and_free(struct vpool *p)
{
    queue_close(&p->q);
    for (int i = 0; i < p->n_workers; i++) {
        pthread_join(p->workers[i].thread, NULL);
    }
    queue_fini(&p->q);
    free(p->workers);
    free(p);
}

int vpool_new(const struct vpool_config *cfg, vpool_done_fn done, void *ud, struct vpool **out)
{
    if (cfg == NULL || done == NULL || !config_is_valid(cfg)) {
        return OST_EINVAL;
    }
    int n = cfg->n_workers != 0 ? cfg->n_workers : thread_cpu_count();
    size_t cap = cfg->queue_cap != 0 ? cfg->queue_cap : VPOOL_DEFAULT_QUEUE_CAP;
    bool has_queue = false;
    int rc = OST_ENOMEM;

    struct vpool *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return OST_ENOMEM;
    }
    p->cfg = *cfg;
    p->cfg.n_workers = n;
    p->cfg.queue_cap = cap;
    p->done = done;
    p->ud = ud;
    p->workers = calloc((size_t)n, sizeof(*p->workers));
    if (p->workers == NULL) {
        goto fail;
    }
    rc = queue_init(&p->q, sizeof(struct vpool_job), cap);
    if (rc < 0) {
        goto fail;
    }
    has_queue = true;
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "ost-val/%d", i);
        p->workers[i].p = p;
        p->workers[i].index = i;
        rc = thread_start(&p->workers[i].thread, name, worker_main, &p->workers[i]);
        if (rc < 0) {
            goto fail;
        }
        p->n_workers = i + 1;
    }
    *out = p;
    return 0;

fail:
    if (has_queue) {
        /* Nothing has been queued, so the workers started so far exit as
         * soon as the queue closes; shutdown_and_free joins them. */
        shutdown_and_free(p);
    } else {
        free(p->workers);
        free(p);
    }
    return rc;
}

int vpool_try_submit_take(struct vpool *p, const struct vpool_job *job)
{
    return queue_try_push(&p->q, job);
}

int vpool_submit_take(struct vpool *p, const struct vpool_job *job)
{
    return queue_push(&p->q, job);
}

void vpool_stop(struct vpool *p)
{
    queue_close(&p->q);
}

void vpool_free(struct vpool *p)
{
    if (p == NULL) {
        return;
    }
    shutdown_and_free(p);
}

size_t vpool_queue_len(struct vpool *p)
{
    return queue_len(&p->q);
}

int vpool_worker_count(const struct vpool *p)
{
    return p->n_workers;
}
