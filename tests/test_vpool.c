/*
 * Tests for validate/vpool: every job reaches the callback exactly once with
 * the right answer, a full queue refuses without blocking, ownership stays
 * with the caller when a submit fails, and shutdown answers every queued job.
 * Workers are held still with a gate in the callback, never with sleeps.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include <sched.h>

#include "check.h"
#include "common/buf.h"
#include "common/hex.h"
#include "common/thread.h"
#include "tests/evgen.h"
#include "validate/vpool.h"

#define SEED      0x7e57f00dull
#define BASE_TIME 1700000000
#define N_SRC     64  /* distinct events behind the jobs */
#define WAIT_S    120 /* deadline for any wait; only reached when a test fails */

/* The events jobs are made of, built before any pool starts and read-only
 * afterwards. */
struct fixture {
    struct buf valid[N_SRC];
    struct buf bad[N_SRC];
    int bad_want[N_SRC];
};

/* Shared between a test and the pool's callback. */
struct tally {
    const struct fixture *fx;
    size_t n_tags;
    atomic_uint *count; /* per tag: times delivered */
    atomic_bool has_bad_result;
    atomic_bool has_bad_thread;
    struct vpool *pool; /* written before the first submit */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t n_entered; /* protected by: mu */
    size_t n_done;    /* protected by: mu */
    bool is_gated;    /* protected by: mu; callbacks wait while set */
};

/* What job tag carries: most are valid, some tampered, some malformed
 * (truncated, with the id still readable) and some not JSON at all. */
static void job_source(const struct fixture *fx, uint64_t tag, const char **json, size_t *len,
                       int *want, bool *want_id)
{
    const struct buf *b = &fx->valid[tag % N_SRC];
    *want = 0;
    *want_id = true;
    if (tag % 101 == 50) {
        *json = "not json";
        *len = 8;
        *want = OST_EPARSE;
        *want_id = false;
        return;
    }
    if (tag % 13 == 7) {
        *len = b->len - 2;
        *json = b->data;
        *want = OST_EPARSE;
        return;
    }
    if ((tag / N_SRC) % 4 == 3) {
        b = &fx->bad[tag % N_SRC];
        *want = fx->bad_want[tag % N_SRC];
    }
    *json = b->data;
    *len = b->len;
}

static int fixture_init(struct fixture *fx)
{
    static const int want[EVGEN_TAMPER_COUNT] = { OST_EBADID, OST_EBADSIG, OST_EBADID, OST_EBADID,
                                                  OST_EBADID };
    struct evgen *g = NULL;
    for (size_t i = 0; i < N_SRC; i++) {
        buf_init(&fx->valid[i]);
        buf_init(&fx->bad[i]);
    }
    int rc = evgen_new(SEED, 8, BASE_TIME, &g);
    rc = rc ? rc : evgen_fill(g, 0, N_SRC, 0, fx->valid);
    for (size_t i = 0; i < N_SRC && rc == 0; i++) {
        enum evgen_tamper what = (enum evgen_tamper)(i % EVGEN_TAMPER_COUNT);
        rc = evgen_tamper(fx->valid[i].data, fx->valid[i].len, what, 0, &fx->bad[i]);
        fx->bad_want[i] = want[what];
    }
    evgen_free(g);
    return rc;
}

static void fixture_fini(struct fixture *fx)
{
    for (size_t i = 0; i < N_SRC; i++) {
        buf_fini(&fx->valid[i]);
        buf_fini(&fx->bad[i]);
    }
}

static bool result_is_right(const struct tally *t, const struct vpool_result *res)
{
    const char *json;
    size_t len;
    int want;
    bool want_id;
    uint8_t id[32];
    job_source(t->fx, res->tag, &json, &len, &want, &want_id);
    if (res->rc != want || res->conn_id != res->tag * 3 + 1 || res->len != len ||
        memcmp(res->json, json, len) != 0) {
        return false;
    }
    if (res->rc == 0) {
        /* The parsed event is a view into the job's own JSON. */
        return res->ev.json == res->json && res->ev.json_len == res->len &&
               hex_decode_lower(json + 7, 32, id) == 0 && memcmp(res->ev.id, id, 32) == 0;
    }
    if (res->reason == NULL || strncmp(res->reason, "invalid: ", 9) != 0 ||
        res->has_id != want_id) {
        return false;
    }
    return !want_id || (hex_decode_lower(json + 7, 32, id) == 0 && memcmp(res->id, id, 32) == 0);
}

static void on_done(void *ud, struct vpool_result *res)
{
    struct tally *t = ud;
    char name[16] = "";
    pthread_getname_np(pthread_self(), name, sizeof(name));
    if (strncmp(name, "ost-val/", 8) != 0 || atoi(name + 8) >= vpool_worker_count(t->pool)) {
        atomic_store(&t->has_bad_thread, true);
    }
    if (res->tag >= t->n_tags || !result_is_right(t, res)) {
        atomic_store(&t->has_bad_result, true);
    } else {
        atomic_fetch_add(&t->count[res->tag], 1);
    }
    free(res->json);
    /* The pool holds no lock here: asking it for its queue length would
     * deadlock otherwise. */
    (void)vpool_queue_len(t->pool);
    pthread_mutex_lock(&t->mu);
    t->n_entered++;
    pthread_cond_broadcast(&t->cv);
    while (t->is_gated) {
        pthread_cond_wait(&t->cv, &t->mu);
    }
    t->n_done++;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static int tally_init(struct tally *t, const struct fixture *fx, size_t n_tags, bool is_gated)
{
    memset(t, 0, sizeof(*t));
    t->fx = fx;
    t->n_tags = n_tags;
    t->is_gated = is_gated;
    t->count = calloc(n_tags, sizeof(*t->count));
    atomic_init(&t->has_bad_result, false);
    atomic_init(&t->has_bad_thread, false);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, &attr);
    pthread_condattr_destroy(&attr);
    return t->count != NULL ? 0 : OST_ENOMEM;
}

static void tally_fini(struct tally *t)
{
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t->count);
}

static void gate_open(struct tally *t)
{
    pthread_mutex_lock(&t->mu);
    t->is_gated = false;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* Waits until *field (protected by t->mu) reaches target, up to WAIT_S. */
static bool wait_for(struct tally *t, const size_t *field, size_t target)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += WAIT_S;
    pthread_mutex_lock(&t->mu);
    while (*field < target && pthread_cond_timedwait(&t->cv, &t->mu, &deadline) == 0) {
    }
    bool is_reached = *field >= target;
    pthread_mutex_unlock(&t->mu);
    return is_reached;
}

static size_t done_now(struct tally *t)
{
    pthread_mutex_lock(&t->mu);
    size_t n = t->n_done;
    pthread_mutex_unlock(&t->mu);
    return n;
}

/* Builds job tag with a heap copy of its JSON; the caller owns job->json. */
static int make_job(const struct fixture *fx, uint64_t tag, struct vpool_job *job)
{
    const char *json;
    size_t len;
    int want;
    bool want_id;
    job_source(fx, tag, &json, &len, &want, &want_id);
    job->conn_id = tag * 3 + 1;
    job->tag = tag;
    job->len = len;
    job->json = malloc(len);
    if (job->json == NULL) {
        return OST_ENOMEM;
    }
    memcpy(job->json, json, len);
    return 0;
}

/* Submits tag without blocking; on failure frees the JSON, which the
 * caller still owns then, and returns the code. */
static int submit_try(struct tally *t, uint64_t tag)
{
    struct vpool_job job;
    int rc = make_job(t->fx, tag, &job);
    rc = rc ? rc : vpool_try_submit_take(t->pool, &job);
    if (rc < 0) {
        free(job.json);
    }
    return rc;
}

static int submit_wait(struct tally *t, uint64_t tag)
{
    struct vpool_job job;
    int rc = make_job(t->fx, tag, &job);
    rc = rc ? rc : vpool_submit_take(t->pool, &job);
    if (rc < 0) {
        free(job.json);
    }
    return rc;
}

/* Checks that tags [0, n_expected) arrived exactly once and no other did. */
static void check_tally(struct tally *t, size_t n_expected)
{
    CHECK(!atomic_load(&t->has_bad_result));
    CHECK(!atomic_load(&t->has_bad_thread));
    for (size_t i = 0; i < t->n_tags; i++) {
        unsigned n = atomic_load(&t->count[i]);
        if (n != (i < n_expected)) {
            fprintf(stderr, "  tag %zu delivered %u times\n", i, n);
        }
        CHECK_INT_EQ(n, i < n_expected);
    }
    CHECK_INT_EQ(done_now(t), n_expected);
}

/* The per-test setup: fixture, tally and a pool (cfg may leave fields 0). */
struct env {
    struct fixture fx;
    struct tally t;
    struct vpool_config cfg;
};

static struct env *env_new(size_t n_tags, bool is_gated, int n_workers, size_t queue_cap)
{
    struct env *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return NULL;
    }
    e->cfg.n_workers = n_workers;
    e->cfg.queue_cap = queue_cap;
    e->cfg.engine = SIG_ENGINE_NATIVE;
    if (fixture_init(&e->fx) < 0 || tally_init(&e->t, &e->fx, n_tags, is_gated) < 0 ||
        vpool_new(&e->cfg, on_done, &e->t, &e->t.pool) < 0) {
        fprintf(stderr, "  test setup failed\n");
        fixture_fini(&e->fx);
        free(e->t.count);
        free(e);
        return NULL;
    }
    return e;
}

/* Lets every callback through and frees the pool, then the rest. */
static void env_free(struct env *e)
{
    gate_open(&e->t);
    vpool_free(e->t.pool);
    tally_fini(&e->t);
    fixture_fini(&e->fx);
    free(e);
}

struct producer {
    struct tally *t;
    uint64_t first, n;
    bool is_try;      /* retry try_submit instead of blocking */
    uint64_t n_taken; /* submits that succeeded, a prefix of the range */
    int rc;           /* the first failure, or 0 */
};

static void *producer_main(void *arg)
{
    struct producer *pr = arg;
    for (uint64_t i = 0; i < pr->n; i++) {
        int rc;
        if (pr->is_try) {
            while ((rc = submit_try(pr->t, pr->first + i)) == OST_EAGAIN) {
                sched_yield();
            }
        } else {
            rc = submit_wait(pr->t, pr->first + i);
        }
        if (rc < 0) {
            pr->rc = rc;
            break;
        }
        pr->n_taken++;
    }
    return NULL;
}

static void run_producers(struct tally *t, struct producer pr[2], uint64_t n_each)
{
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        pr[i] = (struct producer){
            .t = t, .first = (uint64_t)i * n_each, .n = n_each, .is_try = i == 1
        };
        CHECK_OK(thread_start(&th[i], i ? "producer/1" : "producer/0", producer_main, &pr[i]));
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
    }
}

/* 5,000 jobs from two producers through a small queue: each arrives once,
 * with the right verdict. */
static void test_delivered_once(void)
{
    enum {
        N = 5000
    };
    struct producer pr[2];
    struct env *e = env_new(N, false, 2, 64);
    CHECK(e != NULL);
    run_producers(&e->t, pr, N / 2);
    bool is_done = wait_for(&e->t, &e->t.n_done, N);
    int rc0 = pr[0].rc, rc1 = pr[1].rc;
    if (is_done) {
        CHECK_INT_EQ(vpool_worker_count(e->t.pool), 2);
        vpool_free(e->t.pool);
        e->t.pool = NULL;
        check_tally(&e->t, N);
    }
    env_free(e);
    CHECK(is_done);
    CHECK_OK(rc0);
    CHECK_OK(rc1);
}

static void full_run(struct tally *t)
{
    CHECK_OK(submit_try(t, 0));
    CHECK(wait_for(t, &t->n_entered, 1)); /* the one worker is held in the gate */
    for (uint64_t tag = 1; tag <= 4; tag++) {
        CHECK_OK(submit_try(t, tag));
    }
    CHECK_INT_EQ(vpool_queue_len(t->pool), 4);
    CHECK_INT_EQ(submit_try(t, 5), OST_EAGAIN);
    CHECK_INT_EQ(vpool_queue_len(t->pool), 4);
    gate_open(t);
    CHECK(wait_for(t, &t->n_done, 5));
    vpool_stop(t->pool);
    CHECK_INT_EQ(submit_try(t, 6), OST_ESHUTDOWN);
    CHECK_INT_EQ(submit_wait(t, 7), OST_ESHUTDOWN);
    vpool_free(t->pool);
    t->pool = NULL;
    check_tally(t, 5);
}

/* A full queue refuses at once with OST_EAGAIN, and a refused job stays the
 * caller's (freeing it here would be a double free under ASan otherwise). */
static void test_try_submit_full(void)
{
    struct env *e = env_new(8, true, 1, 4);
    CHECK(e != NULL);
    full_run(&e->t);
    env_free(e);
}

static void shutdown_run(struct tally *t, size_t n_queued)
{
    /* Hold both workers, each with one job, then queue the rest. */
    for (uint64_t tag = 0; tag < 2; tag++) {
        CHECK_OK(submit_try(t, tag));
        CHECK(wait_for(t, &t->n_entered, tag + 1));
    }
    for (uint64_t tag = 2; tag < 2 + n_queued; tag++) {
        CHECK_OK(submit_try(t, tag));
    }
    CHECK_INT_EQ(vpool_queue_len(t->pool), n_queued);
    vpool_stop(t->pool);
    vpool_stop(t->pool);
    CHECK_INT_EQ(submit_try(t, 2 + n_queued), OST_ESHUTDOWN);
    CHECK_INT_EQ(submit_wait(t, 2 + n_queued), OST_ESHUTDOWN);
    gate_open(t);
    vpool_free(t->pool); /* returns only after every queued job is answered */
    t->pool = NULL;
    check_tally(t, 2 + n_queued);
}

/* Stop with thousands queued: every queued job is still answered once. */
static void test_shutdown_drains(void)
{
    enum {
        QUEUED = 4000
    };
    struct env *e = env_new(QUEUED + 4, true, 2, 8192);
    CHECK(e != NULL);
    shutdown_run(&e->t, QUEUED);
    env_free(e);
}

struct stopper {
    struct tally *t;
    bool is_loaded; /* some results were out before the stop */
};

static void *stopper_main(void *arg)
{
    struct stopper *s = arg;
    s->is_loaded = wait_for(s->t, &s->t->n_done, 500);
    vpool_stop(s->t->pool);
    return NULL;
}

/* Stop while two producers are still submitting: what was accepted is
 * answered exactly once, and the rest is refused with OST_ESHUTDOWN. */
static void test_stop_under_load(void)
{
    enum {
        N_EACH = 50000
    };
    struct producer pr[2];
    struct stopper s;
    pthread_t th;
    struct env *e = env_new(2 * N_EACH, false, 2, 256);
    CHECK(e != NULL);
    s.t = &e->t;
    if (thread_start(&th, "stopper", stopper_main, &s) != 0) {
        env_free(e);
        CHECK(!"thread_start");
    }
    run_producers(&e->t, pr, N_EACH);
    pthread_join(th, NULL);
    vpool_free(e->t.pool);
    e->t.pool = NULL;
    bool is_ok = s.is_loaded && !atomic_load(&e->t.has_bad_result);
    for (int p = 0; p < 2 && is_ok; p++) {
        is_ok = pr[p].rc == (pr[p].n_taken < N_EACH ? OST_ESHUTDOWN : 0);
        for (uint64_t i = 0; i < N_EACH && is_ok; i++) {
            is_ok = atomic_load(&e->t.count[pr[p].first + i]) == (i < pr[p].n_taken);
        }
    }
    size_t n_taken = (size_t)(pr[0].n_taken + pr[1].n_taken), n_done = done_now(&e->t);
    env_free(e);
    CHECK(is_ok);
    CHECK_INT_EQ(n_done, n_taken);
}

static void defaults_run(struct tally *t, int n_workers)
{
    size_t n = 0;
    for (int w = 0; w < n_workers; w++) {
        CHECK_OK(submit_try(t, n++));
        CHECK(wait_for(t, &t->n_entered, n));
    }
    while (n < t->n_tags && submit_try(t, n) == 0) {
        n++;
    }
    CHECK_INT_EQ(n - (size_t)n_workers, 4096);
    gate_open(t);
    vpool_free(t->pool);
    t->pool = NULL;
    check_tally(t, n);
}

/* n_workers 0 means one per CPU, queue_cap 0 means 4096. */
static void test_defaults(void)
{
    int n_cpu = thread_cpu_count();
    struct env *e = env_new(4096 + (size_t)n_cpu + 1, true, 0, 0);
    CHECK(e != NULL);
    int n_workers = vpool_worker_count(e->t.pool);
    if (n_workers == n_cpu) {
        defaults_run(&e->t, n_workers);
    }
    env_free(e);
    CHECK_INT_EQ(n_workers, n_cpu);
}

static void test_fallback_engine(void)
{
    enum {
        N = 200
    };
    struct env *e = env_new(N, false, 2, 16);
    CHECK(e != NULL);
    vpool_free(e->t.pool);
    e->cfg.engine = SIG_ENGINE_FALLBACK;
    int rc = vpool_new(&e->cfg, on_done, &e->t, &e->t.pool);
    for (uint64_t tag = 0; tag < N && rc == 0; tag++) {
        rc = submit_wait(&e->t, tag);
    }
    if (rc == 0) {
        vpool_free(e->t.pool);
        e->t.pool = NULL;
        check_tally(&e->t, N);
    }
    env_free(e);
    CHECK_OK(rc);
}

static void noop_done(void *ud, struct vpool_result *res)
{
    (void)ud;
    free(res->json);
}

static void test_bad_config(void)
{
    struct vpool_config cfg;
    struct vpool *p = NULL;
    memset(&cfg, 0, sizeof(cfg));
    cfg.n_workers = -1;
    CHECK_INT_EQ(vpool_new(&cfg, noop_done, NULL, &p), OST_EINVAL);
    cfg.n_workers = 1;
    cfg.engine = (enum sig_engine)7;
    CHECK_INT_EQ(vpool_new(&cfg, noop_done, NULL, &p), OST_EINVAL);
    cfg.engine = SIG_ENGINE_NATIVE;
    CHECK_INT_EQ(vpool_new(&cfg, NULL, NULL, &p), OST_EINVAL);
    CHECK(p == NULL);
    CHECK_OK(vpool_new(&cfg, noop_done, NULL, &p));
    CHECK_INT_EQ(vpool_worker_count(p), 1);
    vpool_free(p);
    vpool_free(NULL);
}

CHECK_MAIN({ "delivered_once", test_delivered_once }, { "try_submit_full", test_try_submit_full },
           { "shutdown_drains", test_shutdown_drains }, { "stop_under_load", test_stop_under_load },
           { "defaults", test_defaults }, { "fallback_engine", test_fallback_engine },
           { "bad_config", test_bad_config })
