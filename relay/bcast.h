/*
 * The broadcast thread ("ost-bcast"): owns the live subscription index and
 * matches every new event against it, sending one shared payload plus a
 * recipient list to the io thread.
 *
 * It has one inbox, so the order in which it sees things is the order they
 * were pushed. A new subscription is indexed before its historical query is
 * released (through on_sub_added): every event stored after the query's
 * snapshot therefore reaches the broadcast thread after the subscription is
 * in the index, which is what lets the io thread join stored and live events
 * at EOSE without losing or repeating one.
 */
#ifndef OSTRICH_RELAY_BCAST_H
#define OSTRICH_RELAY_BCAST_H

#include <stddef.h>
#include <stdint.h>

struct bcast;
struct filter_set;
struct payload;
struct server;

enum bcast_msg_type {
    BCAST_SUB_ADD,   /* add: index set under (conn_id, sub_key), then release job */
    BCAST_SUB_DEL,   /* drop (conn_id, sub_key) */
    BCAST_CONN_GONE, /* drop every subscription of conn_id */
    BCAST_EVENT,     /* payload: a new event (stored or ephemeral) */
};

struct bcast_msg {
    enum bcast_msg_type type;
    uint64_t conn_id;
    uint64_t sub_key;
    union {
        struct {
            struct filter_set *set; /* moves to the index */
            void *job;              /* handed to on_sub_added */
        } add;
        struct payload *payload; /* a reference that moves in */
    } u;
};

/* Called on the broadcast thread once a subscription is indexed; job is
 * whatever the BCAST_SUB_ADD carried (the relay submits its query). */
typedef void (*bcast_sub_added_fn)(void *ud, uint64_t conn_id, uint64_t sub_key, void *job);

/* Starts the thread. server receives the deliveries. Returns 0 or a
 * negative code; on failure nothing is running. */
int bcast_new(struct server *server, size_t queue_cap, bcast_sub_added_fn on_sub_added, void *ud,
              struct bcast **out);

/* Posts without blocking (io thread). Ownership of the message's pointers
 * moves only on success. Returns 0, OST_EAGAIN or OST_ESHUTDOWN. */
int bcast_try_post(struct bcast *b, const struct bcast_msg *m);

/* Posts, waiting while the inbox is full (storage and validation threads,
 * which are upstream of the broadcast thread). */
int bcast_post(struct bcast *b, const struct bcast_msg *m);

/* Closes the inbox; the thread handles what is queued and exits. */
void bcast_stop(struct bcast *b);

/* Waits for the thread to finish (after bcast_stop). Posting stays safe
 * and fails with OST_ESHUTDOWN. Idempotent. */
void bcast_join(struct bcast *b);

/* Stops, joins and frees (releasing the index). NULL does nothing. */
void bcast_free(struct bcast *b);

size_t bcast_queue_len(struct bcast *b);

#endif
