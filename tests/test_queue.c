/* Tests for common/queue: order, bounds, close, timeouts, many threads. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <sched.h>

#include "check.h"
#include "common/queue.h"

struct msg {
    uint32_t producer;
    uint32_t seq;
};

static void test_fifo_and_wrap(void)
{
    struct queue q;
    CHECK_OK(queue_init(&q, sizeof(struct msg), 4));
    struct msg out[8];
    uint32_t next_seq = 0, want_seq = 0;
    int ok = 1;
    /* Push and pop in uneven batches so the ring wraps many times. */
    for (int round = 0; round < 50 && ok; round++) {
        int k = 1 + round % 4;
        for (int i = 0; i < k; i++) {
            struct msg m = { 0, next_seq++ };
            ok &= queue_try_push(&q, &m) == 0;
        }
        int n = queue_pop_batch(&q, out, 8, 0);
        ok &= n == k;
        for (int i = 0; i < n; i++) {
            ok &= out[i].seq == want_seq++;
        }
    }
    queue_fini(&q);
    CHECK(ok);
}

static void test_bounds_and_close(void)
{
    struct queue q;
    CHECK_OK(queue_init(&q, sizeof(struct msg), 2));
    struct msg m = { 1, 1 }, out[4];
    int rc1 = queue_try_push(&q, &m);
    int rc2 = queue_try_push(&q, &m);
    int rc3 = queue_try_push(&q, &m); /* full */
    size_t len = queue_len(&q);
    queue_close(&q);
    int rc4 = queue_try_push(&q, &m);
    int rc5 = queue_push(&q, &m);
    int drained = queue_pop_batch(&q, out, 1, -1);
    int drained2 = queue_pop_batch(&q, out, 4, -1);
    int after = queue_pop_batch(&q, out, 4, -1);
    queue_fini(&q);
    CHECK_OK(rc1);
    CHECK_OK(rc2);
    CHECK_INT_EQ(rc3, OST_EAGAIN);
    CHECK_INT_EQ(len, 2);
    CHECK_INT_EQ(rc4, OST_ESHUTDOWN);
    CHECK_INT_EQ(rc5, OST_ESHUTDOWN);
    CHECK_INT_EQ(drained, 1);
    CHECK_INT_EQ(drained2, 1);
    CHECK_INT_EQ(after, OST_ESHUTDOWN);

    struct queue e;
    CHECK_OK(queue_init(&e, sizeof(struct msg), 2));
    int rc_timeout = queue_pop_batch(&e, out, 4, 20);
    int rc_nowait = queue_pop_batch(&e, out, 4, 0);
    queue_fini(&e);
    CHECK_INT_EQ(rc_timeout, 0);
    CHECK_INT_EQ(rc_nowait, 0);
    CHECK_INT_EQ(queue_init(&e, 0, 2), OST_EINVAL);
    CHECK_INT_EQ(queue_init(&e, 8, 0), OST_EINVAL);
}

#define N_PRODUCERS  4
#define PER_PRODUCER 50000

struct stress {
    struct queue q;
    uint32_t producer;
    _Atomic uint32_t *seen; /* N_PRODUCERS * PER_PRODUCER counters */
    _Atomic int order_errors;
    _Atomic int total;
};

struct producer_arg {
    struct stress *s;
    uint32_t id;
};

static void *producer_main(void *arg)
{
    struct producer_arg *a = arg;
    for (uint32_t i = 0; i < PER_PRODUCER; i++) {
        struct msg m = { a->id, i };
        /* Mix blocking and non-blocking pushes. */
        if (i % 3 == 0) {
            while (queue_try_push(&a->s->q, &m) == OST_EAGAIN) {
                sched_yield();
            }
        } else {
            queue_push(&a->s->q, &m);
        }
    }
    return NULL;
}

static void *consumer_main(void *arg)
{
    struct stress *s = arg;
    struct msg out[64];
    uint32_t last[N_PRODUCERS];
    memset(last, 0xff, sizeof(last));
    for (;;) {
        int n = queue_pop_batch(&s->q, out, 64, -1);
        if (n < 0) {
            break;
        }
        for (int i = 0; i < n; i++) {
            /* Each consumer sees any one producer's messages in order. */
            if (last[out[i].producer] != UINT32_MAX && out[i].seq <= last[out[i].producer]) {
                atomic_fetch_add(&s->order_errors, 1);
            }
            last[out[i].producer] = out[i].seq;
            atomic_fetch_add(&s->seen[out[i].producer * PER_PRODUCER + out[i].seq], 1);
            atomic_fetch_add(&s->total, 1);
        }
    }
    return NULL;
}

static void test_many_threads_exactly_once(void)
{
    struct stress s;
    memset(&s, 0, sizeof(s));
    CHECK_OK(queue_init(&s.q, sizeof(struct msg), 128));
    s.seen = calloc(N_PRODUCERS * PER_PRODUCER, sizeof(*s.seen));
    CHECK(s.seen != NULL);
    pthread_t prod[N_PRODUCERS], cons[2];
    struct producer_arg args[N_PRODUCERS];
    for (int i = 0; i < 2; i++) {
        pthread_create(&cons[i], NULL, consumer_main, &s);
    }
    for (uint32_t i = 0; i < N_PRODUCERS; i++) {
        args[i] = (struct producer_arg){ &s, i };
        pthread_create(&prod[i], NULL, producer_main, &args[i]);
    }
    for (int i = 0; i < N_PRODUCERS; i++) {
        pthread_join(prod[i], NULL);
    }
    queue_close(&s.q);
    for (int i = 0; i < 2; i++) {
        pthread_join(cons[i], NULL);
    }
    int missing = 0, doubled = 0;
    for (size_t i = 0; i < N_PRODUCERS * PER_PRODUCER; i++) {
        missing += s.seen[i] == 0;
        doubled += s.seen[i] > 1;
    }
    free(s.seen);
    queue_fini(&s.q);
    CHECK_INT_EQ(missing, 0);
    CHECK_INT_EQ(doubled, 0);
    CHECK_INT_EQ(s.order_errors, 0);
    CHECK_INT_EQ(s.total, N_PRODUCERS * PER_PRODUCER);
}

struct blocker {
    struct queue *q;
    _Atomic int pushed;
    int rc;
};

static void *blocked_pusher(void *arg)
{
    struct blocker *b = arg;
    struct msg m = { 0, 7 };
    b->rc = queue_push(b->q, &m);
    atomic_store(&b->pushed, 1);
    return NULL;
}

static void test_blocking_push_wakes(void)
{
    struct queue q;
    CHECK_OK(queue_init(&q, sizeof(struct msg), 1));
    struct msg m = { 0, 1 }, out[2];
    CHECK_OK(queue_try_push(&q, &m));
    struct blocker b = { &q, 0, -1 };
    pthread_t t;
    pthread_create(&t, NULL, blocked_pusher, &b);
    /* The pusher is blocked until a slot frees; popping releases it. */
    int n1 = queue_pop_batch(&q, out, 2, -1);
    int n2 = queue_pop_batch(&q, out, 2, 5000);
    pthread_join(t, NULL);
    /* A pusher blocked on a full queue is released by close. */
    CHECK_OK(queue_try_push(&q, &m));
    struct blocker b2 = { &q, 0, -1 };
    pthread_t t2;
    pthread_create(&t2, NULL, blocked_pusher, &b2);
    queue_close(&q);
    pthread_join(t2, NULL);
    queue_fini(&q);
    CHECK_INT_EQ(n1, 1);
    CHECK_INT_EQ(n2, 1);
    CHECK_INT_EQ(out[0].seq, 7);
    CHECK_OK(b.rc);
    CHECK_INT_EQ(b2.rc, OST_ESHUTDOWN);
}

CHECK_MAIN({ "fifo_and_wrap", test_fifo_and_wrap }, { "bounds_and_close", test_bounds_and_close },
           { "many_threads_exactly_once", test_many_threads_exactly_once },
           { "blocking_push_wakes", test_blocking_push_wakes })
