/*
 * A bounded ring of fixed-size messages, copied in and out by value.
 *
 * Safe for any number of producers and consumers: one mutex and two condition
 * variables (not empty, not full). Waits use CLOCK_MONOTONIC. Heap payloads
 * travel as pointers inside a message; a successful push moves them to the
 * consumer, and the producer must not touch them afterwards.
 *
 * queue_close wakes every waiter: later pushes fail with OST_ESHUTDOWN, pops
 * drain what is left and then return OST_ESHUTDOWN.
 */
#ifndef OSTRICH_COMMON_QUEUE_H
#define OSTRICH_COMMON_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include <pthread.h>

/* Transparent so it can be embedded; touch only through the functions. */
struct queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty; /* protected by: mu */
    pthread_cond_t not_full;  /* protected by: mu */
    unsigned char *slots;     /* cap * elem_size bytes */
    size_t elem_size;
    size_t cap;
    size_t head;      /* protected by: mu; index of the oldest message */
    size_t count;     /* protected by: mu */
    bool is_closed;   /* protected by: mu */
    size_t n_waiting; /* protected by: mu; producers blocked in queue_push */
};

/* Allocates cap slots of elem_size bytes. Returns 0, OST_EINVAL or OST_ENOMEM;
 * on failure nothing is allocated. */
int queue_init(struct queue *q, size_t elem_size, size_t cap);

/* Frees the slots. No thread may be using the queue. Messages still inside
 * are discarded without looking at them: drain first if they own memory. */
void queue_fini(struct queue *q);

/* Copies msg in without blocking. Returns 0, OST_EAGAIN when full, or
 * OST_ESHUTDOWN after queue_close. */
int queue_try_push(struct queue *q, const void *msg);

/* Copies msg in, waiting while the queue is full. Returns 0 or
 * OST_ESHUTDOWN. Only threads downstream of the consumer may block here
 * (see STYLE.md 3.7). */
int queue_push(struct queue *q, const void *msg);

/* Moves up to max messages into out (an array of max * elem_size bytes).
 * Waits up to timeout_ms for the first one (-1: forever, 0: do not wait).
 * Returns the number moved (0 on timeout), or OST_ESHUTDOWN once the queue
 * is closed and empty. */
int queue_pop_batch(struct queue *q, void *out, size_t max, int timeout_ms);

/* Wakes every waiter; later pushes fail. Idempotent. */
void queue_close(struct queue *q);

/* The number of messages inside at this moment (for metrics). */
size_t queue_len(struct queue *q);

#endif
