/*
 * Bounded ring queue. Design: a single lock covers head/count; consumers pop
 * in batches so one lock round trip moves many messages, which is what keeps
 * a mutex queue competitive with lock-free ones at our message rates.
 */
#include "common/queue.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"

int queue_init(struct queue *q, size_t elem_size, size_t cap)
{
    if (elem_size == 0 || cap == 0 || cap > SIZE_MAX / elem_size) {
        return OST_EINVAL;
    }
    memset(q, 0, sizeof(*q));
    q->slots = malloc(elem_size * cap);
    if (q->slots == NULL) {
        return OST_ENOMEM;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_empty, &attr);
    pthread_cond_init(&q->not_full, &attr);
    pthread_condattr_destroy(&attr);
    q->elem_size = elem_size;
    q->cap = cap;
    return 0;
}

void queue_fini(struct queue *q)
{
    if (q->slots == NULL) {
        return;
    }
    pthread_cond_destroy(&q->not_full);
    pthread_cond_destroy(&q->not_empty);
    pthread_mutex_destroy(&q->mu);
    free(q->slots);
    q->slots = NULL;
}

/* Called with q->mu held and a free slot available. */
static void put_locked(struct queue *q, const void *msg)
{
    size_t tail = (q->head + q->count) % q->cap;
    memcpy(q->slots + tail * q->elem_size, msg, q->elem_size);
    q->count++;
    pthread_cond_signal(&q->not_empty);
}

int queue_try_push(struct queue *q, const void *msg)
{
    int rc = 0;
    pthread_mutex_lock(&q->mu);
    if (q->is_closed) {
        rc = OST_ESHUTDOWN;
    } else if (q->count == q->cap) {
        rc = OST_EAGAIN;
    } else {
        put_locked(q, msg);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int queue_push(struct queue *q, const void *msg)
{
    int rc = 0;
    pthread_mutex_lock(&q->mu);
    while (!q->is_closed && q->count == q->cap) {
        q->n_waiting++;
        pthread_cond_wait(&q->not_full, &q->mu);
        q->n_waiting--;
    }
    if (q->is_closed) {
        rc = OST_ESHUTDOWN;
    } else {
        put_locked(q, msg);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

static void deadline_after(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int queue_pop_batch(struct queue *q, void *out, size_t max, int timeout_ms)
{
    struct timespec deadline;
    if (timeout_ms > 0) {
        deadline_after(&deadline, timeout_ms);
    }
    pthread_mutex_lock(&q->mu);
    while (q->count == 0 && !q->is_closed && timeout_ms != 0) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&q->not_empty, &q->mu);
        } else if (pthread_cond_timedwait(&q->not_empty, &q->mu, &deadline) != 0) {
            break;
        }
    }
    if (q->count == 0) {
        int rc = q->is_closed ? OST_ESHUTDOWN : 0;
        pthread_mutex_unlock(&q->mu);
        return rc;
    }
    size_t n = q->count < max ? q->count : max;
    unsigned char *dst = out;
    /* At most two memcpy calls: the run up to the end of the ring, then the
     * wrapped part. */
    size_t first = q->cap - q->head;
    if (first > n) {
        first = n;
    }
    memcpy(dst, q->slots + q->head * q->elem_size, first * q->elem_size);
    memcpy(dst + first * q->elem_size, q->slots, (n - first) * q->elem_size);
    q->head = (q->head + n) % q->cap;
    q->count -= n;
    if (q->n_waiting > 0) {
        pthread_cond_broadcast(&q->not_full);
    }
    if (q->count > 0) {
        /* Let another consumer take the rest. */
        pthread_cond_signal(&q->not_empty);
    }
    pthread_mutex_unlock(&q->mu);
    return (int)n;
}

void queue_close(struct queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->is_closed = true;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
}

size_t queue_len(struct queue *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->count;
    pthread_mutex_unlock(&q->mu);
    return n;
}
