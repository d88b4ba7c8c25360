/*
 * Tests for store/reader, the reader pool: REQ and COUNT jobs answered
 * from a real SQLite store, newest first; cancellation on stop; a
 * callback that stops its job; job validation. Threads are held still
 * with the fixture's gate, never with sleeps.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "filters/filter.h"
#include "store/reader.h"
#include "store/store.h"
#include "tests/workers_fx.h"
#include "validate/event.h"

static int on_event(void *ud, const struct reader_job *job, const char *json, size_t len)
{
    struct workers_fx_tally *t = ud;
    struct event ev;
    const char *reason = NULL;
    if (job->conn_id == 0 && t->is_gated) {
        workers_fx_pass_gate(t);
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
    struct workers_fx_tally *t = ud;
    if (job->conn_id >= t->n_tags || job->sub_id_len != 3 || memcmp(job->sub_id, "sub", 3) != 0 ||
        (res->rc == 0) != (res->reason == NULL)) {
        atomic_store(&t->has_bad, true);
    } else {
        atomic_fetch_add(&t->count[job->conn_id], 1);
        atomic_store(&t->status[job->conn_id], res->rc);
        atomic_store(&t->answer[job->conn_id], res->count);
    }
    filter_set_free(job->filters);
    workers_fx_mark_done(t);
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
        if (!workers_fx_req(&req, i, i, 1000 + i / 2)) {
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
    struct workers_fx fx;
    struct workers_fx_tally t;
    struct reader *r = NULL;
    struct reader_config cfg = { .n_threads = 3, .queue_cap = JOBS };
    CHECK_OK(workers_fx_init(&fx));
    CHECK_OK(fill_store(fx.s, EVENTS));
    CHECK_OK(workers_fx_tally_init(&t, fx.s, JOBS));
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
    CHECK(workers_fx_wait_done(&t, JOBS));
    reader_free(r);
    CHECK(!atomic_load(&t.has_bad));
    for (unsigned i = 0; i < JOBS; i++) {
        CHECK_INT_EQ(atomic_load(&t.count[i]), 1);
        CHECK_INT_EQ(atomic_load(&t.status[i]), 0);
        CHECK_INT_EQ(atomic_load(&t.answer[i]), i % 2 == 0 ? 10 : EVENTS);
        CHECK_INT_EQ(atomic_load(&t.n_events[i]), i % 2 == 0 ? 10 : 0);
        CHECK(i % 2 == 1 || t.last_at[i] == 1000 + (EVENTS - 10) / 2);
    }
    workers_fx_tally_fini(&t);
    workers_fx_fini(&fx);
}

/* Holds the only thread inside job 0's first event, queues more, stops. */
static void test_reader_stop_cancels(void)
{
    enum {
        CAP = 5
    };
    struct workers_fx fx;
    struct workers_fx_tally t;
    struct reader *r = NULL;
    struct reader_config cfg = { .n_threads = 1, .queue_cap = CAP };
    struct reader_job job;
    CHECK_OK(workers_fx_init(&fx));
    CHECK_OK(fill_store(fx.s, 20));
    CHECK_OK(workers_fx_tally_init(&t, fx.s, CAP + 2));
    t.is_gated = true;
    CHECK_OK(reader_new(fx.s, &cfg, on_event, on_done, &t, &r));
    for (unsigned i = 0; i <= CAP; i++) {
        CHECK_OK(make_job(&job, i, READER_REQ, "{}"));
        CHECK_OK(reader_try_submit_take(r, &job));
        if (i == 0) {
            CHECK(workers_fx_wait_entered(&t));
        }
    }
    /* Full, then stopped: refused, and the filters are still ours. */
    CHECK_OK(make_job(&job, CAP + 1, READER_COUNT, "{}"));
    CHECK_INT_EQ(reader_try_submit_take(r, &job), OST_EAGAIN);
    reader_stop(r);
    CHECK_INT_EQ(reader_try_submit_take(r, &job), OST_ESHUTDOWN);
    filter_set_free(job.filters);
    workers_fx_open_gate(&t);
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
    workers_fx_tally_fini(&t);
    workers_fx_fini(&fx);
}

static void test_reader_callback_stops(void)
{
    struct workers_fx fx;
    struct workers_fx_tally t;
    struct reader *r = NULL;
    struct reader_config cfg = { .n_threads = 1 };
    struct reader_job job;
    CHECK_OK(workers_fx_init(&fx));
    CHECK_OK(fill_store(fx.s, 5));
    CHECK_OK(workers_fx_tally_init(&t, fx.s, 1));
    t.stop_after = -77;
    CHECK_OK(reader_new(fx.s, &cfg, on_event, on_done, &t, &r));
    CHECK_OK(make_job(&job, 0, READER_REQ, "{}"));
    CHECK_OK(reader_try_submit_take(r, &job));
    CHECK(workers_fx_wait_done(&t, 1));
    reader_free(r);
    CHECK(!atomic_load(&t.has_bad));
    CHECK_INT_EQ(atomic_load(&t.status[0]), -77);
    CHECK_INT_EQ(atomic_load(&t.n_events[0]), 1);
    CHECK_INT_EQ(atomic_load(&t.answer[0]), 0);
    workers_fx_tally_fini(&t);
    workers_fx_fini(&fx);
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
    struct workers_fx fx;
    struct workers_fx_tally t;
    CHECK_OK(workers_fx_init(&fx));
    CHECK_INT_EQ(reader_new(fx.s, &bad, on_event, on_done, &t, &r), OST_EINVAL);
    workers_fx_fini(&fx);
    reader_free(NULL);
}

CHECK_MAIN({ "reader_req_and_count", test_reader_req_and_count },
           { "reader_stop_cancels", test_reader_stop_cancels },
           { "reader_callback_stops", test_reader_callback_stops },
           { "reader_job_init", test_reader_job_init })
