/*
 * Tests for the storage thread, store/batcher: every request answered
 * exactly once and only after its commit (and, pipelined, its sync),
 * batching under load, draining on stop, refusals that leave ownership
 * with the caller, commit, sync and open failures (tests/test_reader.c
 * has the reader pool).
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
#include "store/store.h"
#include "tests/workers_fx.h"
#include "validate/event.h"

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
    struct workers_fx_tally *t = ud;
    if (req->tag == 0 && t->is_gated) {
        workers_fx_pass_gate(t);
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
    workers_fx_mark_done(t);
}

static bool all_once_with(const struct workers_fx_tally *t, size_t n, enum store_status want)
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
    struct workers_fx fx;
    struct workers_fx_tally t;
    struct batcher *b = NULL;
    struct batcher_config cfg = { .batch_size = 32, .batch_wait_ms = 2, .queue_cap = 64 };
    CHECK_OK(workers_fx_init(&fx));
    CHECK_OK(workers_fx_tally_init(&t, fx.s, N));
    CHECK_OK(batcher_new(fx.s, &cfg, on_stored, &t, &b));
    for (unsigned i = 0; i < N; i++) {
        struct batcher_req req;
        /* Every tenth event is a copy of the one before: a duplicate. */
        CHECK(workers_fx_req(&req, i, i % 10 == 9 ? i - 1 : i, 1000 + i));
        int rc = batcher_submit_take(b, &req);
        if (rc < 0) {
            free(req.json);
        }
        CHECK_OK(rc);
    }
    CHECK(workers_fx_wait_done(&t, N));
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
    workers_fx_tally_fini(&t);
    workers_fx_fini(&fx);
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
    struct workers_fx fx;
    struct workers_fx_tally t;
    struct batcher *b = NULL;
    struct batcher_config cfg = { .batch_size = BATCH, .batch_wait_ms = 1, .queue_cap = N };
    struct batcher_req req;
    struct batcher_stats stats;
    CHECK_OK(workers_fx_init(&fx));
    CHECK_OK(workers_fx_tally_init(&t, fx.s, N));
    t.is_gated = true;
    CHECK_OK(batcher_new(fx.s, &cfg, on_stored, &t, &b));
    CHECK(workers_fx_req(&req, 0, 0, 1000));
    CHECK_OK(batcher_try_submit_take(b, &req));
    CHECK(workers_fx_wait_entered(&t));
    for (unsigned i = 1; i < N; i++) {
        CHECK(workers_fx_req(&req, i, i, 1000 + i));
        CHECK_OK(batcher_try_submit_take(b, &req));
    }
    CHECK(batcher_queue_len(b) >= N - 1 - (BATCHER_SLOTS - 1) * BATCH);
    workers_fx_open_gate(&t);
    CHECK(workers_fx_wait_done(&t, N));
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
    workers_fx_tally_fini(&t);
    workers_fx_fini(&fx);
}

static void test_stop_drains_and_refuses(void)
{
    enum {
        N = 50,
        CAP = 8
    };
    struct workers_fx fx;
    struct workers_fx_tally t;
    struct batcher *b = NULL;
    struct batcher_config cfg = { .batch_size = 4, .batch_wait_ms = 0, .queue_cap = CAP };
    struct batcher_req req;
    CHECK_OK(workers_fx_init(&fx));
    CHECK_OK(workers_fx_tally_init(&t, fx.s, N));
    t.is_gated = true;
    CHECK_OK(batcher_new(fx.s, &cfg, on_stored, &t, &b));
    CHECK(workers_fx_req(&req, 0, 0, 1000));
    CHECK_OK(batcher_submit_take(b, &req));
    CHECK(workers_fx_wait_entered(&t));
    /* The storage thread takes up to BATCHER_SLOTS - 1 more batches while
     * the callback is held, then waits for a slot and the queue fills.
     * Full: refused without blocking, and the JSON is still ours (freeing
     * it here would be a double free under ASan if the batcher had it). */
    unsigned n_in = 1;
    int rc = 0;
    while (n_in < N - 1 && rc == 0) {
        CHECK(workers_fx_req(&req, n_in, n_in, 1000 + n_in));
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
    CHECK(workers_fx_req(&req, n_in, n_in, 2000));
    CHECK_INT_EQ(batcher_try_submit_take(b, &req), OST_ESHUTDOWN);
    CHECK_INT_EQ(batcher_submit_take(b, &req), OST_ESHUTDOWN);
    free(req.json);
    workers_fx_open_gate(&t);
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
    workers_fx_tally_fini(&t);
    workers_fx_fini(&fx);
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
static bool submit_and_wait(struct batcher *b, struct workers_fx_tally *t, unsigned tag)
{
    struct batcher_req req;
    if (!workers_fx_req(&req, tag, tag, 1000 + tag)) {
        return false;
    }
    if (batcher_try_submit_take(b, &req) < 0) {
        free(req.json);
        return false;
    }
    return workers_fx_wait_done(t, tag + 1);
}

/* ops: fake_ops (answered by the storage thread) or fake_sync_ops
 * (pipelined: synced and answered by the sync thread). */
static void check_failures_answer_errors(const struct store_ops *ops)
{
    struct fake_store fs = { .base.ops = ops };
    struct workers_fx_tally t;
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
    CHECK_OK(workers_fx_tally_init(&t, NULL, 7));
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
    workers_fx_tally_fini(&t);

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

CHECK_MAIN({ "answered_after_commit", test_answered_after_commit },
           { "batching_groups", test_batching_groups },
           { "stop_drains_and_refuses", test_stop_drains_and_refuses },
           { "failures_answer_errors", test_failures_answer_errors })
