/*
 * Tests for the store's threads: store/batcher (every request answered
 * exactly once and only after its commit, batching under load, draining on
 * stop, refusals that leave ownership with the caller, commit and open
 * failures) and store/reader (REQ and COUNT jobs, cancellation on stop).
 * Threads are held still with gates in the callbacks, never with sleeps;
 * a fake backend written here stands in where a failure must be forced.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>
#include <unistd.h>

#include "check.h"
#include "common/buf.h"
#include "common/hex.h"
#include "filters/filter.h"
#include "store/batcher.h"
#include "store/reader.h"
#include "store/store.h"
#include "validate/event.h"

#define WAIT_S 120 /* deadline for any wait; only reached when a test fails */

#define SIG_ZEROS                                                      \
    "0000000000000000000000000000000000000000000000000000000000000000" \
    "0000000000000000000000000000000000000000000000000000000000000000"

/* A store in a fresh temporary directory. */
struct fx {
    char dir[64];
    char path[128];
    struct store *s;
};

static int fx_init(struct fx *fx)
{
    memset(fx, 0, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/ost-batcher-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        return OST_EIO;
    }
    snprintf(fx->path, sizeof(fx->path), "%s/ostrich.db", fx->dir);
    struct store_options opt = { .backend = STORE_BACKEND_SQLITE };
    opt.sqlite.path = fx->path;
    return store_open(&opt, &fx->s);
}

static void fx_fini(struct fx *fx)
{
    static const char *const suffixes[] = { "", "-wal", "-shm" };
    char p[160];
    store_close(fx->s);
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", fx->path, suffixes[i]);
        unlink(p);
    }
    rmdir(fx->dir);
}

/* A kind-1 event with id number n, as heap JSON in a request. */
static bool make_req(struct batcher_req *req, uint64_t tag, unsigned n, long long created_at)
{
    char *json = malloc(512);
    const char *reason = NULL;
    if (json == NULL) {
        return false;
    }
    int len = snprintf(json, 512,
                       "{\"id\":\"%064x\",\"pubkey\":\"%064x\",\"created_at\":%lld,\"kind\":1,"
                       "\"tags\":[],\"content\":\"note %u\",\"sig\":\"" SIG_ZEROS "\"}",
                       n, 7u, created_at, n);
    memset(req, 0, sizeof(*req));
    req->conn_id = 1;
    req->tag = tag;
    req->json = json;
    req->len = (size_t)len;
    if (event_parse(json, req->len, NULL, &req->ev, &reason) < 0) {
        fprintf(stderr, "  event_parse: %s\n", reason);
        free(json);
        return false;
    }
    return true;
}

static void deadline_in(struct timespec *ts, int s)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += s;
}

/* Shared between a test and the callbacks. */
struct tally {
    struct store *s;          /* for the callback's own reader handle */
    struct store_conn *check; /* owned by the storage thread while it runs */
    size_t n_tags;
    atomic_uint *count;       /* per tag: times answered */
    atomic_int *status;       /* per tag: the last status, or a reader job's rc */
    atomic_uint *n_events;    /* per tag: events a reader job delivered */
    _Atomic uint64_t *answer; /* per tag: a reader job's result count */
    int64_t *last_at;         /* per tag: created_at of its last event */
    atomic_bool has_bad;      /* a callback saw something wrong */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t n_done;   /* protected by: mu */
    bool is_entered; /* protected by: mu; the gated callback is waiting */
    bool is_gated;   /* protected by: mu; the callback for tag 0 waits while set */
    int stop_after;  /* reader: on_event returns this code (when < 0) */
};

static int tally_init(struct tally *t, struct store *s, size_t n_tags)
{
    memset(t, 0, sizeof(*t));
    t->s = s;
    t->n_tags = n_tags;
    t->count = calloc(n_tags, sizeof(*t->count));
    t->status = calloc(n_tags, sizeof(*t->status));
    t->n_events = calloc(n_tags, sizeof(*t->n_events));
    t->answer = calloc(n_tags, sizeof(*t->answer));
    t->last_at = calloc(n_tags, sizeof(*t->last_at));
    if (t->count == NULL || t->status == NULL || t->n_events == NULL || t->answer == NULL ||
        t->last_at == NULL) {
        return OST_ENOMEM;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, &attr);
    pthread_condattr_destroy(&attr);
    return 0;
}

static void tally_fini(struct tally *t)
{
    store_conn_close(t->check);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t->count);
    free(t->status);
    free(t->n_events);
    free(t->answer);
    free(t->last_at);
}

/* Waits until n callbacks are done. Returns false at the deadline. */
static bool wait_done(struct tally *t, size_t n)
{
    struct timespec dl;
    deadline_in(&dl, WAIT_S);
    bool ok = true;
    pthread_mutex_lock(&t->mu);
    while (ok && t->n_done < n) {
        ok = pthread_cond_timedwait(&t->cv, &t->mu, &dl) == 0;
    }
    pthread_mutex_unlock(&t->mu);
    return ok;
}

/* Waits until the gated callback has started waiting. */
static bool wait_entered(struct tally *t)
{
    struct timespec dl;
    deadline_in(&dl, WAIT_S);
    bool ok = true;
    pthread_mutex_lock(&t->mu);
    while (ok && !t->is_entered) {
        ok = pthread_cond_timedwait(&t->cv, &t->mu, &dl) == 0;
    }
    pthread_mutex_unlock(&t->mu);
    return ok;
}

static void open_gate(struct tally *t)
{
    pthread_mutex_lock(&t->mu);
    t->is_gated = false;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

/* Holds the calling callback while the gate is closed. */
static void pass_gate(struct tally *t)
{
    pthread_mutex_lock(&t->mu);
    t->is_entered = true;
    pthread_cond_broadcast(&t->cv);
    while (t->is_gated) {
        pthread_cond_wait(&t->cv, &t->mu);
    }
    pthread_mutex_unlock(&t->mu);
}

static void mark_done(struct tally *t)
{
    pthread_mutex_lock(&t->mu);
    t->n_done++;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static int count_hit(void *ud, const char *json, size_t len)
{
    (void)json;
    (void)len;
    (*(unsigned *)ud)++;
    return 0;
}

/* True when the event is readable through c, a handle other than the
 * storage thread's: proof that its batch committed. */
static bool is_readable(struct store_conn *c, const struct event *ev)
{
    char text[80] = "{\"ids\":[\"";
    hex_encode(ev->id, 32, text + 9);
    memcpy(text + 73, "\"]}", 4);
    struct filter *f = NULL;
    const char *reason = NULL;
    unsigned n = 0;
    if (filter_parse(text, strlen(text), NULL, &f, &reason) < 0) {
        return false;
    }
    const struct filter *fs[1] = { f };
    int rc = store_query(c, fs, 1, count_hit, &n);
    filter_free(f);
    return rc == 0 && n == 1;
}

static void on_stored(void *ud, struct batcher_req *req, const struct store_result *res)
{
    struct tally *t = ud;
    if (req->tag == 0 && t->is_gated) {
        pass_gate(t);
    }
    if (req->tag >= t->n_tags) {
        atomic_store(&t->has_bad, true);
    } else {
        atomic_fetch_add(&t->count[req->tag], 1);
        atomic_store(&t->status[req->tag], (int)res->status);
    }
    if (res->status == STORE_STORED) {
        if (t->check == NULL && t->s != NULL &&
            store_conn_open(t->s, STORE_ROLE_READER, &t->check) < 0) {
            atomic_store(&t->has_bad, true);
        }
        if (t->check != NULL && !is_readable(t->check, &req->ev)) {
            atomic_store(&t->has_bad, true);
        }
    } else if (res->status == STORE_FAILED &&
               (res->rc >= 0 || strncmp(res->reason, "error: ", 7) != 0)) {
        atomic_store(&t->has_bad, true);
    }
    free(req->json);
    mark_done(t);
}

static bool all_once_with(const struct tally *t, size_t n, enum store_status want)
{
    for (size_t i = 0; i < n; i++) {
        if (atomic_load(&t->count[i]) != 1 || atomic_load(&t->status[i]) != (int)want) {
            fprintf(stderr, "  tag %zu: answered %u times, status %d\n", i,
                    atomic_load(&t->count[i]), atomic_load(&t->status[i]));
            return false;
        }
    }
    return !atomic_load(&t->has_bad);
}

static void test_answered_after_commit(void)
{
    enum {
        N = 600
    };
    struct fx fx;
    struct tally t;
    struct batcher *b = NULL;
    struct batcher_config cfg = { .batch_size = 32, .batch_wait_ms = 2, .queue_cap = 64 };
    CHECK_OK(fx_init(&fx));
    CHECK_OK(tally_init(&t, fx.s, N));
    CHECK_OK(batcher_new(fx.s, &cfg, on_stored, &t, &b));
    for (unsigned i = 0; i < N; i++) {
        struct batcher_req req;
        /* Every tenth event is a copy of the one before: a duplicate. */
        CHECK(make_req(&req, i, i % 10 == 9 ? i - 1 : i, 1000 + i));
        int rc = batcher_submit_take(b, &req);
        if (rc < 0) {
            free(req.json);
        }
        CHECK_OK(rc);
    }
    CHECK(wait_done(&t, N));
    struct batcher_stats stats;
    batcher_stats(b, &stats);
    batcher_free(b);
    CHECK_INT_EQ(stats.events, N);
    CHECK(stats.batches >= N / 32 && stats.batches <= N);
    for (size_t i = 0; i < N; i++) {
        CHECK_INT_EQ(atomic_load(&t.count[i]), 1);
        CHECK_INT_EQ(atomic_load(&t.status[i]), i % 10 == 9 ? STORE_DUPLICATE : STORE_STORED);
    }
    CHECK(!atomic_load(&t.has_bad));
    tally_fini(&t);
    fx_fini(&fx);
}

/* Holds the callback of tag 0 while the queue fills. The storage thread
 * may still write up to BATCHER_SLOTS - 1 more batches (the SQLite store
 * is pipelined: callbacks run on the sync thread) and then waits for a
 * slot, so what queues meanwhile goes out in full batches. */
static void test_batching_groups(void)
{
    enum {
        N = 201,
        BATCH = 32
    };
    struct fx fx;
    struct tally t;
    struct batcher *b = NULL;
    struct batcher_config cfg = { .batch_size = BATCH, .batch_wait_ms = 1, .queue_cap = N };
    struct batcher_req req;
    struct batcher_stats stats;
    CHECK_OK(fx_init(&fx));
    CHECK_OK(tally_init(&t, fx.s, N));
    t.is_gated = true;
    CHECK_OK(batcher_new(fx.s, &cfg, on_stored, &t, &b));
    CHECK(make_req(&req, 0, 0, 1000));
    CHECK_OK(batcher_try_submit_take(b, &req));
    CHECK(wait_entered(&t));
    for (unsigned i = 1; i < N; i++) {
        CHECK(make_req(&req, i, i, 1000 + i));
        CHECK_OK(batcher_try_submit_take(b, &req));
    }
    CHECK(batcher_queue_len(b) >= N - 1 - (BATCHER_SLOTS - 1) * BATCH);
    open_gate(&t);
    CHECK(wait_done(&t, N));
    batcher_stats(b, &stats);
    batcher_free(b);
    CHECK(all_once_with(&t, N, STORE_STORED));
    /* One batch for tag 0, at most BATCHER_SLOTS - 1 written while it was
     * held, then full batches of what had queued up. */
    CHECK(stats.batches <= BATCHER_SLOTS + (N - 1 + BATCH - 1) / BATCH);
    CHECK(stats.batches >= 1 + (N - 1 + BATCH - 1) / BATCH);
    CHECK_INT_EQ(stats.syncs > 0, 1);
    CHECK_INT_EQ(stats.events, N);
    CHECK_INT_EQ(stats.failed_batches, 0);
    tally_fini(&t);
    fx_fini(&fx);
}

static void test_stop_drains_and_refuses(void)
{
    enum {
        N = 50,
        CAP = 8
    };
    struct fx fx;
    struct tally t;
    struct batcher *b = NULL;
    struct batcher_config cfg = { .batch_size = 4, .batch_wait_ms = 0, .queue_cap = CAP };
    struct batcher_req req;
    CHECK_OK(fx_init(&fx));
    CHECK_OK(tally_init(&t, fx.s, N));
    t.is_gated = true;
    CHECK_OK(batcher_new(fx.s, &cfg, on_stored, &t, &b));
    CHECK(make_req(&req, 0, 0, 1000));
    CHECK_OK(batcher_submit_take(b, &req));
    CHECK(wait_entered(&t));
    /* The storage thread takes up to BATCHER_SLOTS - 1 more batches while
     * the callback is held, then waits for a slot and the queue fills.
     * Full: refused without blocking, and the JSON is still ours (freeing
     * it here would be a double free under ASan if the batcher had it). */
    unsigned n_in = 1;
    int rc = 0;
    while (n_in < N - 1 && rc == 0) {
        CHECK(make_req(&req, n_in, n_in, 1000 + n_in));
        rc = batcher_try_submit_take(b, &req);
        if (rc == 0) {
            n_in++;
        }
    }
    CHECK_INT_EQ(rc, OST_EAGAIN);
    free(req.json);
    CHECK(n_in >= CAP + 1);
    CHECK(n_in <= CAP + 1 + (BATCHER_SLOTS - 1) * 4);
    batcher_stop(b);
    batcher_stop(b);
    CHECK(make_req(&req, n_in, n_in, 2000));
    CHECK_INT_EQ(batcher_try_submit_take(b, &req), OST_ESHUTDOWN);
    CHECK_INT_EQ(batcher_submit_take(b, &req), OST_ESHUTDOWN);
    free(req.json);
    open_gate(&t);
    batcher_free(b); /* waits for the drain */
    CHECK(all_once_with(&t, n_in, STORE_STORED));
    CHECK_INT_EQ(atomic_load(&t.count[n_in]), 0);
    /* Everything acknowledged is in the database. */
    struct store_conn *c = NULL;
    struct filter *f = NULL;
    const char *reason = NULL;
    uint64_t count = 0;
    CHECK_OK(store_conn_open(fx.s, STORE_ROLE_READER, &c));
    CHECK_OK(filter_parse("{}", 2, NULL, &f, &reason));
    const struct filter *fs[1] = { f };
    rc = store_count(c, fs, 1, &count);
    filter_free(f);
    store_conn_close(c);
    CHECK_OK(rc);
    CHECK_INT_EQ(count, n_in);
    tally_fini(&t);
    fx_fini(&fx);
}

/* A backend whose failures the test controls. */
struct fake_store {
    struct store base;
    atomic_bool is_open_failing;
    atomic_bool is_write_failing;
    atomic_bool is_sync_failing;
    atomic_bool is_all_duplicate; /* writes find every event stored already */
    atomic_uint n_syncs;
    atomic_bool has_deferred; /* a write came through a STORE_ROLE_WRITER_DEFERRED handle */
};

static void fake_close(struct store *s)
{
    (void)s;
}

static int fake_conn_open(struct store *s, enum store_role role, struct store_conn **out)
{
    struct fake_store *fs = (struct fake_store *)s;
    if (atomic_load(&fs->is_open_failing)) {
        return OST_EIO;
    }
    struct store_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return OST_ENOMEM;
    }
    c->store = s;
    c->role = role;
    *out = c;
    return 0;
}

static void fake_conn_close(struct store_conn *c)
{
    free(c);
}

/* Claims success in every result even when the commit "fails": the batcher
 * must not believe them. */
static int fake_write_batch(struct store_conn *c, const struct event *const *evs,
                            const struct store_deletion *const *dels, size_t n,
                            struct store_result *results)
{
    (void)dels;
    struct fake_store *fs = (struct fake_store *)c->store;
    (void)evs;
    if (c->role == STORE_ROLE_WRITER_DEFERRED) {
        atomic_store(&fs->has_deferred, true);
    }
    for (size_t i = 0; i < n; i++) {
        store_result_set(&results[i],
                         atomic_load(&fs->is_all_duplicate) ? STORE_DUPLICATE : STORE_STORED, 0);
    }
    return atomic_load(&fs->is_write_failing) ? OST_ENOSPC : 0;
}

static int fake_query(struct store_conn *c, const struct filter *const *filters, size_t n,
                      store_event_fn fn, void *ud, struct store_snapshot *snap)
{
    (void)snap;
    (void)c;
    (void)filters;
    (void)n;
    (void)fn;
    (void)ud;
    return OST_EIO;
}

static int fake_count(struct store_conn *c, const struct filter *const *filters, size_t n,
                      store_pubkey_fn fn, void *ud, uint64_t *out)
{
    (void)c;
    (void)filters;
    (void)n;
    (void)fn;
    (void)ud;
    (void)out;
    return OST_EIO;
}

static int fake_delete_ids(struct store_conn *c, const uint8_t (*ids)[32], size_t n,
                           const uint8_t *pubkey)
{
    (void)c;
    (void)ids;
    (void)n;
    (void)pubkey;
    return OST_EIO;
}

static int fake_sync(struct store *s)
{
    struct fake_store *fs = (struct fake_store *)s;
    atomic_fetch_add(&fs->n_syncs, 1);
    return atomic_load(&fs->is_sync_failing) ? OST_EIO : 0;
}

static const struct store_ops fake_ops = {
    .name = "fake",
    .close = fake_close,
    .conn_open = fake_conn_open,
    .conn_close = fake_conn_close,
    .write_batch = fake_write_batch,
    .query = fake_query,
    .count = fake_count,
    .delete_ids = fake_delete_ids,
};

/* Submits tag and waits for its answer. */
static bool submit_and_wait(struct batcher *b, struct tally *t, unsigned tag)
{
    struct batcher_req req;
    if (!make_req(&req, tag, tag, 1000 + tag)) {
        return false;
    }
    if (batcher_try_submit_take(b, &req) < 0) {
        free(req.json);
        return false;
    }
    return wait_done(t, tag + 1);
}

/* ops: fake_ops (answered by the storage thread) or fake_sync_ops
 * (pipelined: synced and answered by the sync thread). */
static void check_failures_answer_errors(const struct store_ops *ops)
{
    struct fake_store fs = { .base.ops = ops };
    struct tally t;
    struct batcher *b = NULL;
    struct batcher_config cfg = { .batch_size = 8, .batch_wait_ms = 0, .queue_cap = 8 };
    struct batcher_stats stats;
    bool is_pipelined = ops->sync != NULL;
    atomic_init(&fs.is_open_failing, true);
    atomic_init(&fs.is_write_failing, false);
    atomic_init(&fs.is_sync_failing, false);
    atomic_init(&fs.is_all_duplicate, false);
    atomic_init(&fs.n_syncs, 0);
    atomic_init(&fs.has_deferred, false);
    CHECK_OK(tally_init(&t, NULL, 7));
    CHECK_OK(batcher_new(&fs.base, &cfg, on_stored, &t, &b));
    /* No handle yet: answered with an error; the open is retried. */
    CHECK(submit_and_wait(b, &t, 0));
    CHECK_INT_EQ(atomic_load(&t.status[0]), STORE_FAILED);
    atomic_store(&fs.is_open_failing, false);
    CHECK(submit_and_wait(b, &t, 1));
    CHECK_INT_EQ(atomic_load(&t.status[1]), STORE_STORED);
    /* A failed commit fails every event of its batch. */
    atomic_store(&fs.is_write_failing, true);
    CHECK(submit_and_wait(b, &t, 2));
    CHECK_INT_EQ(atomic_load(&t.status[2]), STORE_FAILED);
    atomic_store(&fs.is_write_failing, false);
    CHECK(submit_and_wait(b, &t, 3));
    CHECK_INT_EQ(atomic_load(&t.status[3]), STORE_STORED);
    /* A committed batch whose sync fails is not reported stored. */
    atomic_store(&fs.is_sync_failing, true);
    CHECK(submit_and_wait(b, &t, 4));
    CHECK_INT_EQ(atomic_load(&t.status[4]), is_pipelined ? STORE_FAILED : STORE_STORED);
    atomic_store(&fs.is_sync_failing, false);
    CHECK(submit_and_wait(b, &t, 5));
    CHECK_INT_EQ(atomic_load(&t.status[5]), STORE_STORED);
    /* A batch that stored nothing needs no sync, even while syncs fail. */
    atomic_store(&fs.is_all_duplicate, true);
    atomic_store(&fs.is_sync_failing, true);
    CHECK(submit_and_wait(b, &t, 6));
    CHECK_INT_EQ(atomic_load(&t.status[6]), STORE_DUPLICATE);
    batcher_stats(b, &stats);
    batcher_free(b);
    CHECK(!atomic_load(&t.has_bad));
    CHECK_INT_EQ(stats.failed_batches, is_pipelined ? 3 : 2);
    CHECK_INT_EQ(stats.batches, 7);
    /* Pipelined: one sync per written batch (tags 1, 3, 4, 5; one at a
     * time here), through a deferred writer. */
    CHECK_INT_EQ(stats.syncs, is_pipelined ? 4 : 0);
    CHECK_INT_EQ(atomic_load(&fs.n_syncs), is_pipelined ? 4 : 0);
    CHECK_INT_EQ(atomic_load(&fs.has_deferred), is_pipelined);
    tally_fini(&t);

    struct batcher_config bad = { .batch_size = BATCHER_MAX_BATCH_SIZE + 1 };
    CHECK_INT_EQ(batcher_new(&fs.base, &bad, on_stored, &t, &b), OST_EINVAL);
    CHECK_INT_EQ(batcher_new(&fs.base, &cfg, NULL, &t, &b), OST_EINVAL);
    batcher_free(NULL);
}

static void test_failures_answer_errors(void)
{
    /* The same backend with store_sync: the batcher pipelines it. */
    struct store_ops sync_ops = fake_ops;
    sync_ops.sync = fake_sync;
    check_failures_answer_errors(&fake_ops);
    check_failures_answer_errors(&sync_ops);
}

/* Reader pool */

static int on_event(void *ud, const struct reader_job *job, const char *json, size_t len)
{
    struct tally *t = ud;
    struct event ev;
    const char *reason = NULL;
    if (job->conn_id == 0 && t->is_gated) {
        pass_gate(t);
    }
    if (job->conn_id >= t->n_tags || event_parse(json, len, NULL, &ev, &reason) < 0) {
        atomic_store(&t->has_bad, true);
        return OST_EINVAL;
    }
    /* Newest first. Only this job's thread touches its slot. */
    unsigned n = atomic_fetch_add(&t->n_events[job->conn_id], 1);
    if (n > 0 && ev.created_at > t->last_at[job->conn_id]) {
        atomic_store(&t->has_bad, true);
    }
    t->last_at[job->conn_id] = ev.created_at;
    return t->stop_after;
}

static void on_done(void *ud, struct reader_job *job, const struct reader_result *res)
{
    struct tally *t = ud;
    if (job->conn_id >= t->n_tags || job->sub_id_len != 3 || memcmp(job->sub_id, "sub", 3) != 0 ||
        (res->rc == 0) != (res->reason == NULL)) {
        atomic_store(&t->has_bad, true);
    } else {
        atomic_fetch_add(&t->count[job->conn_id], 1);
        atomic_store(&t->status[job->conn_id], res->rc);
        atomic_store(&t->answer[job->conn_id], res->count);
    }
    filter_set_free(job->filters);
    mark_done(t);
}

static int make_job(struct reader_job *job, uint64_t conn_id, enum reader_kind kind,
                    const char *filters)
{
    struct filter_set *set = NULL;
    const char *reason = NULL;
    int rc = filter_set_parse(filters, strlen(filters), NULL, 8, &set, &reason);
    if (rc == 0) {
        rc = reader_job_init(job, conn_id, kind, "sub", 3, set);
    }
    if (rc < 0) {
        filter_set_free(set);
    }
    return rc;
}

/* n kind-1 events with created_at 1000 + i / 2 (pairs tie). */
static int fill_store(struct store *s, unsigned n)
{
    struct store_conn *w = NULL;
    int rc = store_conn_open(s, STORE_ROLE_WRITER, &w);
    for (unsigned i = 0; i < n && rc == 0; i++) {
        struct batcher_req req;
        struct store_result res;
        if (!make_req(&req, i, i, 1000 + i / 2)) {
            rc = OST_EINVAL;
            break;
        }
        const struct event *ev = &req.ev;
        rc = store_write_batch(w, &ev, 1, &res);
        free(req.json);
    }
    store_conn_close(w);
    return rc;
}

static void test_reader_req_and_count(void)
{
    enum {
        JOBS = 40,
        EVENTS = 50
    };
    struct fx fx;
    struct tally t;
    struct reader *r = NULL;
    struct reader_config cfg = { .n_threads = 3, .queue_cap = JOBS };
    CHECK_OK(fx_init(&fx));
    CHECK_OK(fill_store(fx.s, EVENTS));
    CHECK_OK(tally_init(&t, fx.s, JOBS));
    CHECK_OK(reader_new(fx.s, &cfg, on_event, on_done, &t, &r));
    CHECK_INT_EQ(reader_thread_count(r), 3);
    for (unsigned i = 0; i < JOBS; i++) {
        struct reader_job job;
        if (i % 2 == 0) {
            CHECK_OK(make_job(&job, i, READER_REQ,
                              "{\"kinds\":[1],\"limit\":10},{\"since\":1020,\"limit\":3}"));
        } else {
            CHECK_OK(
                make_job(&job, i, READER_COUNT, "{\"kinds\":[1],\"limit\":10},{\"kinds\":[7]}"));
        }
        int rc = reader_try_submit_take(r, &job);
        if (rc < 0) {
            filter_set_free(job.filters);
        }
        CHECK_OK(rc);
    }
    CHECK(wait_done(&t, JOBS));
    reader_free(r);
    CHECK(!atomic_load(&t.has_bad));
    for (unsigned i = 0; i < JOBS; i++) {
        CHECK_INT_EQ(atomic_load(&t.count[i]), 1);
        CHECK_INT_EQ(atomic_load(&t.status[i]), 0);
        CHECK_INT_EQ(atomic_load(&t.answer[i]), i % 2 == 0 ? 10 : EVENTS);
        CHECK_INT_EQ(atomic_load(&t.n_events[i]), i % 2 == 0 ? 10 : 0);
        CHECK(i % 2 == 1 || t.last_at[i] == 1000 + (EVENTS - 10) / 2);
    }
    tally_fini(&t);
    fx_fini(&fx);
}

/* Holds the only thread inside job 0's first event, queues more, stops. */
static void test_reader_stop_cancels(void)
{
    enum {
        CAP = 5
    };
    struct fx fx;
    struct tally t;
    struct reader *r = NULL;
    struct reader_config cfg = { .n_threads = 1, .queue_cap = CAP };
    struct reader_job job;
    CHECK_OK(fx_init(&fx));
    CHECK_OK(fill_store(fx.s, 20));
    CHECK_OK(tally_init(&t, fx.s, CAP + 2));
    t.is_gated = true;
    CHECK_OK(reader_new(fx.s, &cfg, on_event, on_done, &t, &r));
    for (unsigned i = 0; i <= CAP; i++) {
        CHECK_OK(make_job(&job, i, READER_REQ, "{}"));
        CHECK_OK(reader_try_submit_take(r, &job));
        if (i == 0) {
            CHECK(wait_entered(&t));
        }
    }
    /* Full, then stopped: refused, and the filters are still ours. */
    CHECK_OK(make_job(&job, CAP + 1, READER_COUNT, "{}"));
    CHECK_INT_EQ(reader_try_submit_take(r, &job), OST_EAGAIN);
    reader_stop(r);
    CHECK_INT_EQ(reader_try_submit_take(r, &job), OST_ESHUTDOWN);
    filter_set_free(job.filters);
    open_gate(&t);
    reader_free(r);
    CHECK(!atomic_load(&t.has_bad));
    /* Job 0 delivered the event it was held in and no more. */
    CHECK_INT_EQ(atomic_load(&t.n_events[0]), 1);
    CHECK_INT_EQ(atomic_load(&t.answer[0]), 1);
    for (unsigned i = 0; i <= CAP; i++) {
        CHECK_INT_EQ(atomic_load(&t.count[i]), 1);
        CHECK_INT_EQ(atomic_load(&t.status[i]), OST_ESHUTDOWN);
        CHECK(i == 0 || atomic_load(&t.n_events[i]) == 0);
    }
    CHECK_INT_EQ(atomic_load(&t.count[CAP + 1]), 0);
    tally_fini(&t);
    fx_fini(&fx);
}

static void test_reader_callback_stops(void)
{
    struct fx fx;
    struct tally t;
    struct reader *r = NULL;
    struct reader_config cfg = { .n_threads = 1 };
    struct reader_job job;
    CHECK_OK(fx_init(&fx));
    CHECK_OK(fill_store(fx.s, 5));
    CHECK_OK(tally_init(&t, fx.s, 1));
    t.stop_after = -77;
    CHECK_OK(reader_new(fx.s, &cfg, on_event, on_done, &t, &r));
    CHECK_OK(make_job(&job, 0, READER_REQ, "{}"));
    CHECK_OK(reader_try_submit_take(r, &job));
    CHECK(wait_done(&t, 1));
    reader_free(r);
    CHECK(!atomic_load(&t.has_bad));
    CHECK_INT_EQ(atomic_load(&t.status[0]), -77);
    CHECK_INT_EQ(atomic_load(&t.n_events[0]), 1);
    CHECK_INT_EQ(atomic_load(&t.answer[0]), 0);
    tally_fini(&t);
    fx_fini(&fx);
}

static void test_reader_job_init(void)
{
    struct reader_job job;
    struct filter_set *set = NULL;
    const char *reason = NULL;
    char id[READER_SUB_ID_MAX + 1];
    memset(id, 'x', sizeof(id));
    CHECK_OK(filter_set_parse("{}", 2, NULL, 1, &set, &reason));
    CHECK_INT_EQ(reader_job_init(&job, 1, READER_REQ, id, 0, set), OST_EINVAL);
    CHECK_INT_EQ(reader_job_init(&job, 1, READER_REQ, id, READER_SUB_ID_MAX + 1, set), OST_EINVAL);
    CHECK_INT_EQ(reader_job_init(&job, 1, READER_REQ, id, 1, NULL), OST_EINVAL);
    CHECK_INT_EQ(reader_job_init(&job, 1, (enum reader_kind)9, id, 1, set), OST_EINVAL);
    CHECK_OK(reader_job_init(&job, 1, READER_COUNT, id, READER_SUB_ID_MAX, set));
    CHECK_INT_EQ(job.sub_id_len, READER_SUB_ID_MAX);
    CHECK_MEM_EQ(job.sub_id, id, READER_SUB_ID_MAX);
    CHECK(job.filters == set);
    filter_set_free(set);
    struct reader_config bad = { .n_threads = READER_MAX_N_THREADS + 1 };
    struct reader *r = NULL;
    struct fake_store fs = { .base.ops = &fake_ops };
    struct tally t;
    CHECK_INT_EQ(reader_new(&fs.base, &bad, on_event, on_done, &t, &r), OST_EINVAL);
    reader_free(NULL);
}

CHECK_MAIN({ "answered_after_commit", test_answered_after_commit },
           { "batching_groups", test_batching_groups },
           { "stop_drains_and_refuses", test_stop_drains_and_refuses },
           { "failures_answer_errors", test_failures_answer_errors },
           { "reader_req_and_count", test_reader_req_and_count },
           { "reader_stop_cancels", test_reader_stop_cancels },
           { "reader_callback_stops", test_reader_callback_stops },
           { "reader_job_init", test_reader_job_init })
