/*
 * Private to the relay module, which spans three files: relay.c (start-up,
 * configuration, shutdown), relay_io.c (client messages on the io thread)
 * and relay_workers.c (results from the validation, storage, reader and
 * broadcast threads). Nothing outside relay/relay*.c includes this.
 */
#ifndef OSTRICH_RELAY_RELAY_INT_H
#define OSTRICH_RELAY_RELAY_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "filters/filter.h"
#include "nips/nip13.h"
#include "nips/nip42.h"
#include "relay/bcast.h"
#include "relay/metrics.h"
#include "relay/server.h"
#include "store/batcher.h"
#include "store/reader.h"
#include "store/store.h"
#include "validate/vpool.h"

#define R_SHUTTING_DOWN "error: relay is shutting down"
#define R_BUSY          "rate-limited: relay is busy, try again shortly"
#define R_TOO_MANY_SUBS                                                               \
    "rate-limited: too many open subscriptions on this connection (over the relay's " \
    "max_subscriptions limit)"
#define R_NOMEM     "error: out of memory"
#define R_DUPLICATE "duplicate: already have this event"
#define R_NO_ID     "invalid: event has no readable id; see the NOTICE reason"
#define R_AUTH_KIND "invalid: kind 22242 events are sent with AUTH and never published"
#define R_AUTH_OFF  "unsupported: authentication is disabled on this relay"
#define R_COUNT_OFF "unsupported: COUNT is disabled on this relay"

/* Control messages held for the broadcast thread while its inbox is full. */
#define BACKLOG_MAX 65536

struct relay {
    const struct cfg *cfg;
    struct server *server;
    struct vpool *vpool;
    struct store *store;
    struct batcher *batcher;
    struct reader *reader;
    struct bcast *bcast;
    struct nip13_policy *pow; /* immutable once built; read by the validation workers */
    /* NIP-42 rules; immutable once configured, read by every thread. */
    struct nip42_policy auth;
    uint8_t (*allow)[32]; /* the storage of auth.allow */
    struct filter_limits flim;
    uint32_t max_filters;
    struct server_config scfg;
    struct buf nip11;
    struct buf html;
    _Atomic bool is_pipeline_done;
    /* Counted by every thread (atomics). */
    struct metrics metrics;
    const char *config_path; /* the file cfg came from; NULL: built-in defaults */
    /* Owned by: the io thread. The running options: cfg, then each SIGHUP's
     * merge of it with the reloadable options of the file (relay_reload.c),
     * and what reloads replaced, kept until exit. */
    const struct cfg *live;
    struct relay_reload *reloads;
    /* Owned by: the io thread. Messages for the broadcast thread that found
     * its inbox full, in order. */
    struct bcast_msg *backlog;
    size_t n_backlog, cap_backlog;
    /* Owned by: the io thread. Ids of events stored lately, to answer
     * their copies as duplicates before any validation (relay/recent.h). */
    struct recent *recent;
};

/* What a validation worker needs to know about the connection an event came
 * from, carried as the job's aux: for an AUTH event, the challenge to check
 * it against; for an EVENT, the keys the connection had authenticated when
 * it sent it (NIP-70). Made on the io thread, freed by the worker. */
struct job_auth {
    bool is_auth;
    char challenge[NIP42_CHALLENGE_LEN + 1];
    uint32_t n_pubkeys;
    uint8_t pubkeys[NIP42_MAX_PUBKEYS][32];
};

/* Configuration, shared by start-up (relay.c) and SIGHUP (relay_reload.c),
 * on the io thread. */
void relay__set_limits(struct relay *r, const struct cfg *c);
int relay__set_auth_lists(struct relay *r, const struct cfg *c);
int relay__build_documents(const struct cfg *c, struct buf *nip11, struct buf *html);

/* SIGHUP: relay__request_reload is async-signal-safe and only raises a
 * flag and wakes the io thread, which then calls relay__reload_pending
 * (from relay__on_idle). relay__free_reloads releases what reloads kept,
 * at exit. */
void relay__request_reload(struct server *s);
void relay__reload_pending(struct relay *r);
void relay__free_reloads(struct relay *r);

/* Client messages and connection events, on the io thread (relay_io.c). */
void relay__on_message(void *ud, struct conn *c, const char *msg, size_t len);
void relay__on_closed(void *ud, struct conn *c);
void relay__on_sub_dropped(void *ud, uint64_t conn_id, uint64_t sub_key);
void relay__on_stored_id(void *ud, const struct server_msg *m);
void relay__on_forget_ids(void *ud, const struct server_msg *m);
void relay__on_idle(void *ud);
/* The relay's gauges for /metrics and /health (io thread). */
void relay__sample(void *ud, struct metrics_gauges *g);
/* Releases what a broadcast-thread message owns (io thread). */
void relay__release_bcast_msg(struct bcast_msg *m);

/* Results from the worker threads (relay_workers.c), each on the thread
 * named in its comment there. */
void relay__on_verified(void *ud, struct vpool_result *res);
void relay__on_stored(void *ud, struct batcher_req *req, const struct store_result *res);
void relay__on_committed(void *ud, const struct batcher_req *req, const struct store_result *res);
int relay__on_stored_event(void *ud, const struct reader_job *job, const char *json, size_t len);
void relay__on_query_done(void *ud, struct reader_job *job, const struct reader_result *res);
void relay__on_sub_added(void *ud, uint64_t conn_id, uint64_t sub_key, void *job_ptr);
void relay__on_batch(void *ud, size_t n, double seconds);

#endif
