/*
 * The fixture the storage-thread and reader-pool tests share: a SQLite
 * store in a fresh temporary directory, requests holding small kind-1
 * events, and a tally of the answers the callbacks saw, with a gate that
 * holds one callback still while a test queues more (never a sleep).
 */
#ifndef OSTRICH_TESTS_WORKERS_FX_H
#define OSTRICH_TESTS_WORKERS_FX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pthread.h>

#include "store/batcher.h"
#include "store/store.h"

/* A store in a fresh temporary directory. */
struct workers_fx {
    char dir[64];
    char path[128];
    struct store *s;
};

int workers_fx_init(struct workers_fx *fx);
void workers_fx_fini(struct workers_fx *fx);

/* A kind-1 event with id number n, as heap JSON in a request. */
bool workers_fx_req(struct batcher_req *req, uint64_t tag, unsigned n, long long created_at);

/* Shared between a test and the callbacks. */
struct workers_fx_tally {
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

int workers_fx_tally_init(struct workers_fx_tally *t, struct store *s, size_t n_tags);
void workers_fx_tally_fini(struct workers_fx_tally *t);

/* Waits until n callbacks are done. Returns false at the deadline. */
bool workers_fx_wait_done(struct workers_fx_tally *t, size_t n);

/* Waits until the gated callback has started waiting. */
bool workers_fx_wait_entered(struct workers_fx_tally *t);

void workers_fx_open_gate(struct workers_fx_tally *t);

/* Holds the calling callback while the gate is closed. */
void workers_fx_pass_gate(struct workers_fx_tally *t);

/* Counts one callback as done and wakes whoever waits for it. */
void workers_fx_mark_done(struct workers_fx_tally *t);

#endif
