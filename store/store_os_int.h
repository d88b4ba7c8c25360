/*
 * Private declarations of the OpenSearch backend, shared by store_os.c
 * (open, handles, requests, availability, queries, counts) and
 * store_os_write.c (batches, deletions, purges). Nothing outside store/
 * includes this. The threading rules are those of store.h: a handle and
 * everything in it belong to one thread; the struct store_os fields are
 * read-only after open except the atomics.
 */
#ifndef OSTRICH_STORE_STORE_OS_INT_H
#define OSTRICH_STORE_STORE_OS_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "store/store.h"
#include "store/store_os_dsl.h"

struct store_os_http;
struct store_os_http_shared;

/* Owned by: the main thread; read-only between open and close except the
 * atomics, which any handle's thread updates. */
struct store_os {
    struct store base;
    char *index;     /* events */
    char *del_index; /* tombstones: "<index>-deletions" */
    struct store_os_http_shared *http;
    store_clock_fn clock; /* never NULL */
    void *clock_ud;
    bool is_refresh_wait;
    uint32_t request_timeout_ms;
    uint32_t retry_max_ms; /* the bounded wait of a batch */
    struct store_os_index_opts index_opts;
    char *refresh_interval; /* index_opts.refresh_interval points here */
    /* Both indexes checked (or created) with fitting mappings. */
    atomic_bool is_ready;
    /* The last request reached a cluster that answered it. Starts true so
     * the first failure is logged. */
    atomic_bool is_available;
    /* Set once a mapping mismatch has been logged, so it is logged once. */
    atomic_bool is_mismatch_logged;
    /* Sequence numbers: the last one handed out, and the last one whose
     * batch has returned (what a query started now can see). Written by
     * the one writer handle, read by readers. */
    atomic_uint_fast64_t seq_next;
    atomic_uint_fast64_t seq_done;
};

/* Owned by: the thread that opened it. */
struct store_os_conn {
    struct store_conn base;
    struct store_os_http *http;
    struct buf path; /* request path */
    struct buf body; /* request body */
    struct buf resp; /* response body */
    struct buf aux;  /* a second body, e.g. search_after keys */
    struct buf raws; /* merged query results: event JSON copies */
};

/* How a request is made: one try, or retried for the store's bounded wait
 * (only while the cluster was reachable at the last request, so that an
 * outage costs each batch one try, not the whole wait, and shutdown stays
 * quick). */
enum store_os_try {
    STORE_OS_ONCE = 0,
    STORE_OS_RETRY = 1,
};

static inline struct store_os_conn *store_os__conn(struct store_conn *c)
{
    return (struct store_os_conn *)c;
}

static inline struct store_os *store_os__store(struct store_conn *c)
{
    return (struct store_os *)c->store;
}

/* Sends c->body (as content_type; NULL body when body_len is 0 and method
 * is GET/HEAD/DELETE) to c->path and maps the outcome: 0 for a 2xx (the
 * answer in c->resp, *status set), OST_ENOENT for 404, OST_EAGAIN for 429,
 * OST_EUNAVAIL for no connection or 502/503/504, OST_EIO for another
 * status (logged with what and the cluster's error text), OST_ENOMEM.
 * Records the cluster's availability. */
int store_os__request(struct store_os_conn *c, const char *method, const char *content_type,
                      enum store_os_try how, const char *what, long *status);

/* Sets c->path to the printf-style format. Returns 0 or OST_ENOMEM. */
__attribute__((format(printf, 2, 3))) int store_os__path(struct store_os_conn *c, const char *fmt,
                                                         ...);

/* Checks or creates the indexes once per store. Returns 0, OST_EINVAL (a
 * mapping that does not fit, logged once) or a request code. */
int store_os__ready(struct store_os_conn *c, enum store_os_try how);

/* The store's clock. */
int64_t store_os__now(struct store_os *s);

/* store_write_batch_del, store_delete_ids and store_purge_expired of this
 * backend (store_os_write.c). */
int store_os__write_batch(struct store_conn *c, const struct event *const *evs,
                          const struct store_deletion *const *dels, size_t n,
                          struct store_result *results);
int store_os__delete_ids(struct store_conn *c, const uint8_t (*ids)[32], size_t n,
                         const uint8_t *pubkey);
int store_os__purge_expired(struct store_conn *c, uint32_t max_n);

#endif
