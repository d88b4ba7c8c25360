/*
 * The relay: wiring between the io thread and the worker threads, and the
 * handling of each client message.
 *
 * Design (STYLE.md 3.7): EVENT goes io -> validation workers -> storage
 * thread -> (after commit) OK on the io thread and the event to the
 * broadcast thread; ephemeral events skip storage. REQ registers the
 * subscription with the broadcast thread, which indexes it and only then
 * releases the historical query to a reader thread; the io thread sends the
 * stored events, EOSE, and after EOSE only live events stored after the
 * query's snapshot (relay/bcast.h explains why nothing is lost or repeated).
 * Every blocking push goes downstream; the io thread never waits.
 */
#include "relay/relay.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include "common/err.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/thread.h"
#include "config/cfg.h"
#include "filters/filter.h"
#include "nips/nip09.h"
#include "nips/nip11.h"
#include "nips/nip13.h"
#include "nips/nip40.h"
#include "nips/nip42.h"
#include "nips/nip45.h"
#include "nips/nip62.h"
#include "nips/nip70.h"
#include "relay/bcast.h"
#include "relay/payload.h"
#include "relay/proto.h"
#include "relay/server.h"
#include "store/batcher.h"
#include "store/reader.h"
#include "store/store.h"
#include "validate/event.h"
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

/* How long a shutdown may spend answering and flushing. */
#define DRAIN_TIMEOUT_MS 10000
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
    /* Owned by: the io thread. Messages for the broadcast thread that found
     * its inbox full, in order. */
    struct bcast_msg *backlog;
    size_t n_backlog, cap_backlog;
};

/* The one process-wide pointer: signal handlers can reach nothing else. */
static struct server *signal_server;

static void on_signal(int sig)
{
    (void)sig;
    if (signal_server != NULL) {
        server_stop(signal_server);
    }
}

/* ---- io thread: messages to the broadcast thread ---- */

static void release_bcast_msg(struct bcast_msg *m)
{
    if (m->type == BCAST_SUB_ADD) {
        struct reader_job *job = m->u.add.job;
        filter_set_free(m->u.add.set);
        filter_set_free(job->filters);
        free(job);
    }
}

/* Keeps order: once one message waits in the backlog, later ones queue
 * behind it. Returns 0, or a negative code when the broadcast thread is
 * gone or the backlog is full (the message is released then). */
static int post_bcast(struct relay *r, struct bcast_msg *m)
{
    if (r->n_backlog == 0) {
        int rc = bcast_try_post(r->bcast, m);
        if (rc != OST_EAGAIN) {
            if (rc < 0) {
                release_bcast_msg(m);
            }
            return rc;
        }
    }
    if (r->n_backlog == r->cap_backlog) {
        size_t cap = r->cap_backlog ? r->cap_backlog * 2 : 64;
        struct bcast_msg *b = cap <= BACKLOG_MAX ? realloc(r->backlog, cap * sizeof(*b)) : NULL;
        if (b == NULL) {
            release_bcast_msg(m);
            return OST_EAGAIN;
        }
        r->backlog = b;
        r->cap_backlog = cap;
    }
    r->backlog[r->n_backlog++] = *m;
    return 0;
}

static void flush_backlog(struct relay *r)
{
    size_t i = 0;
    for (; i < r->n_backlog; i++) {
        int rc = bcast_try_post(r->bcast, &r->backlog[i]);
        if (rc == OST_EAGAIN) {
            break;
        }
        if (rc < 0) {
            release_bcast_msg(&r->backlog[i]);
        }
    }
    memmove(r->backlog, r->backlog + i, (r->n_backlog - i) * sizeof(*r->backlog));
    r->n_backlog -= i;
}

/* ---- io thread: client messages ---- */

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

/* Hands an EVENT's or AUTH's event to the validation workers. Returns NULL,
 * or the reason it could not. */
static const char *submit_validation(struct relay *r, struct conn *c, const struct proto_msg *m)
{
    struct vpool_job job = { .conn_id = c->conn_id, .len = m->event_len };
    struct job_auth *ja = NULL;
    bool is_auth = m->type == PROTO_AUTH;
    /* Most connections never authenticate: their EVENTs carry nothing. */
    if (is_auth || c->auth.n_pubkeys > 0) {
        ja = malloc(sizeof(*ja));
        if (ja == NULL) {
            return R_NOMEM;
        }
        ja->is_auth = is_auth;
        memcpy(ja->challenge, c->auth.challenge, sizeof(ja->challenge));
        ja->n_pubkeys = c->auth.n_pubkeys;
        memcpy(ja->pubkeys, c->auth.pubkeys, sizeof(ja->pubkeys));
    }
    job.aux = ja;
    job.json = malloc(m->event_len + 1);
    if (job.json == NULL) {
        free(ja);
        return R_NOMEM;
    }
    memcpy(job.json, m->event, m->event_len);
    job.json[m->event_len] = '\0';
    int rc = vpool_try_submit_take(r->vpool, &job);
    if (rc < 0) {
        free(job.json);
        free(ja);
        return rc == OST_EAGAIN ? R_BUSY : R_SHUTTING_DOWN;
    }
    return NULL;
}

/* EVENT, and NIP-42's AUTH: both are validated by the workers. */
static void on_event_msg(struct relay *r, struct conn *c, const struct proto_msg *m)
{
    uint8_t id[32] = { 0 };
    bool has_id = event_peek_id(m->event, m->event_len, id) == 0;
    const char *reason = NULL;
    if (server_is_stopping(r->server)) {
        reason = R_SHUTTING_DOWN;
    } else if (m->type == PROTO_AUTH || nip42_check_write(&r->auth, &c->auth, &reason) == 0) {
        reason = submit_validation(r, c, m);
    }
    if (reason == NULL) {
        return;
    }
    if (has_id) {
        server_send_ok(r->server, c, id, false, reason);
    } else {
        server_send_notice(r->server, c, reason);
    }
}

static void drop_sub(struct relay *r, struct conn *c, struct conn_sub *sub)
{
    struct bcast_msg bm = { .type = BCAST_SUB_DEL, .conn_id = c->conn_id, .sub_key = sub->key };
    conn_sub_remove(c, sub);
    post_bcast(r, &bm);
}

static void on_req_msg(struct relay *r, struct conn *c, const struct proto_msg *m)
{
    const char *reason = NULL;
    struct filter_set *live = NULL, *stored = NULL;
    struct reader_job *job = NULL;

    /* NIP-01: a REQ with an id already in use replaces that subscription. */
    struct conn_sub *old = conn_sub_find(c, m->sub_id, m->sub_id_len);
    if (old != NULL) {
        drop_sub(r, c, old);
    }
    if (server_is_stopping(r->server)) {
        reason = R_SHUTTING_DOWN;
        goto refuse;
    }
    if (c->n_subs >= c->limits->max_subs) {
        reason = R_TOO_MANY_SUBS;
        goto refuse;
    }
    /* Two copies of the filters: the broadcast index owns one, the query
     * the other, and each is freed on its own thread. */
    int rc = filter_set_parse(m->filters, m->filters_len, &r->flim, r->max_filters, &live, &reason);
    if (rc == 0) {
        rc = filter_set_parse(m->filters, m->filters_len, &r->flim, r->max_filters, &stored,
                              &reason);
    }
    if (rc < 0) {
        if (rc == OST_ENOMEM) {
            reason = R_NOMEM;
        }
        goto refuse;
    }
    /* NIP-42: reads that need authentication, and direct messages. */
    if (nip42_check_read(&r->auth, &c->auth, &reason) < 0 ||
        nip42_check_dm_req(&r->auth, &c->auth, live, &reason) < 0) {
        goto refuse;
    }
    job = malloc(sizeof(*job));
    if (job == NULL) {
        reason = R_NOMEM;
        goto refuse;
    }
    uint64_t key = server_next_sub_key(r->server);
    /* The reader job names the subscription by its key, which is what the
     * io thread looks results up by. */
    reader_job_init(job, c->conn_id, READER_REQ, (const char *)&key, sizeof(key), stored);
    struct conn_sub *sub = conn_sub_add(c, m->sub_id, m->sub_id_len, key);
    if (sub == NULL) {
        reason = R_NOMEM;
        goto refuse;
    }
    struct bcast_msg bm = { .type = BCAST_SUB_ADD, .conn_id = c->conn_id, .sub_key = key };
    bm.u.add.set = live;
    bm.u.add.job = job;
    if (post_bcast(r, &bm) < 0) {
        conn_sub_remove(c, sub);
        server_send_closed(r->server, c, m->sub_id, m->sub_id_len, R_BUSY);
    }
    return;
refuse:
    free(job);
    filter_set_free(live);
    filter_set_free(stored);
    server_send_closed(r->server, c, m->sub_id, m->sub_id_len, reason);
}

/* Reader thread: one counted event's pubkey, into the COUNT's NIP-45
 * registers. */
static void on_counted_pubkey(void *pubkey_ud, const uint8_t *pubkey)
{
    nip45_hll_add(pubkey_ud, pubkey);
}

/* NIP-45: the registers for a COUNT over set when it gets them (a job
 * without them otherwise, or when they cannot be allocated: the count
 * itself is still answered). */
static void attach_hll(struct reader_job *job, const struct filter_set *set)
{
    uint8_t offset;
    if (nip45_set_offset(set, &offset) != 1) {
        return;
    }
    struct nip45_hll *hll = malloc(sizeof(*hll));
    if (hll == NULL) {
        return;
    }
    nip45_hll_init(hll, offset);
    job->on_pubkey = on_counted_pubkey;
    job->pubkey_ud = hll;
}

static void on_count_msg(struct relay *r, struct conn *c, const struct proto_msg *m)
{
    const char *reason = NULL;
    struct filter_set *set = NULL;
    if (server_is_stopping(r->server)) {
        reason = R_SHUTTING_DOWN;
    } else if (filter_set_parse(m->filters, m->filters_len, &r->flim, r->max_filters, &set,
                                &reason) == 0) {
        /* NIP-42: a count cannot be filtered per event, so direct messages
         * are refused unless the filters keep to the connection's own. */
        if (nip42_check_read(&r->auth, &c->auth, &reason) < 0 ||
            nip42_check_dm_count(&r->auth, &c->auth, set, &reason) < 0) {
            filter_set_free(set);
            server_send_closed(r->server, c, m->sub_id, m->sub_id_len, reason);
            return;
        }
        struct reader_job job;
        reader_job_init(&job, c->conn_id, READER_COUNT, m->sub_id, m->sub_id_len, set);
        attach_hll(&job, set);
        int rc = reader_try_submit_take(r->reader, &job);
        if (rc == 0) {
            return;
        }
        free(job.pubkey_ud);
        filter_set_free(set);
        reason = rc == OST_EAGAIN ? R_BUSY : R_SHUTTING_DOWN;
    }
    server_send_closed(r->server, c, m->sub_id, m->sub_id_len, reason);
}

static void on_message(void *ud, struct conn *c, const char *msg, size_t len)
{
    struct relay *r = ud;
    struct proto_msg m;
    bool has_sub_id;
    const char *reason;
    if (proto_parse(msg, len, &m, &has_sub_id, &reason) < 0) {
        uint8_t id[32];
        const char *brace = memchr(msg, '{', len);
        if (has_sub_id) {
            server_send_closed(r->server, c, m.sub_id, m.sub_id_len, reason);
        } else if (m.type == PROTO_EVENT && brace != NULL &&
                   event_peek_id(brace, len - (size_t)(brace - msg), id) == 0) {
            server_send_ok(r->server, c, id, false, reason);
        } else {
            server_send_notice(r->server, c, reason);
        }
        return;
    }
    switch (m.type) {
    case PROTO_EVENT:
    case PROTO_AUTH:
        on_event_msg(r, c, &m);
        break;
    case PROTO_REQ:
        on_req_msg(r, c, &m);
        break;
    case PROTO_CLOSE: {
        struct conn_sub *sub = conn_sub_find(c, m.sub_id, m.sub_id_len);
        if (sub != NULL) {
            drop_sub(r, c, sub);
        }
        break;
    }
    case PROTO_COUNT:
        on_count_msg(r, c, &m);
        break;
    }
}

static void on_closed(void *ud, struct conn *c)
{
    struct relay *r = ud;
    if (c->n_subs > 0) {
        struct bcast_msg bm = { .type = BCAST_CONN_GONE, .conn_id = c->conn_id };
        post_bcast(r, &bm);
    }
}

static void on_sub_dropped(void *ud, uint64_t conn_id, uint64_t sub_key)
{
    struct relay *r = ud;
    struct bcast_msg bm = { .type = BCAST_SUB_DEL, .conn_id = conn_id, .sub_key = sub_key };
    post_bcast(r, &bm);
}

static void on_idle(void *ud)
{
    struct relay *r = ud;
    if (r->n_backlog > 0) {
        flush_backlog(r);
    }
}

/* ---- worker threads ---- */

static void post_ok(struct relay *r, uint64_t conn_id, const uint8_t id[32], bool accepted,
                    const char *reason)
{
    struct server_msg sm = { .type = SERVER_MSG_OK, .conn_id = conn_id };
    memcpy(sm.u.ok.id, id, 32);
    sm.u.ok.accepted = accepted;
    sm.u.ok.reason = reason;
    server_post(r->server, &sm);
}

static void broadcast(struct relay *r, const struct event *ev, uint64_t seq)
{
    struct bcast_msg bm = { .type = BCAST_EVENT };
    bm.u.payload = payload_new(ev, seq);
    if (bm.u.payload == NULL) {
        log_warn("out of memory: a new event was not broadcast");
        return;
    }
    if (bcast_post(r->bcast, &bm) < 0) {
        payload_unref(bm.u.payload);
    }
}

/* Validation worker: route the verdict. */
static void on_validated(void *ud, struct vpool_result *res)
{
    struct relay *r = ud;
    if (res->rc < 0) {
        if (res->has_id) {
            post_ok(r, res->conn_id, res->id, false, res->reason);
        } else {
            struct server_msg sm = { .type = SERVER_MSG_NOTICE, .conn_id = res->conn_id };
            sm.u.notice = res->reason;
            server_post(r->server, &sm);
        }
        free(res->json);
        return;
    }
    /* Policy on a valid event, before it is stored or passed on: NIP-13
     * proof of work, then NIP-40 expiration, which also records the
     * expiration time in res->ev for the store. Both reasons outlive the
     * queue to the io thread (nips/nip13.h). */
    const char *policy_reason = NULL;
    if (nip13_check(r->pow, &res->ev, &policy_reason) < 0 ||
        nip40_check(&res->ev, (int64_t)time(NULL), &policy_reason) < 0) {
        post_ok(r, res->conn_id, res->ev.id, false, policy_reason);
        free(res->json);
        return;
    }
    if (event_kind_is_ephemeral(res->ev.kind)) {
        /* NIP-01: ephemeral events are not stored, only passed on. */
        post_ok(r, res->conn_id, res->ev.id, true, "");
        broadcast(r, &res->ev, UINT64_MAX);
        free(res->json);
        return;
    }
    /* NIP-09 and NIP-62: what the event deletes travels with it, so the
     * store deletes it in the transaction that stores the event. */
    struct store_deletion *del = NULL;
    int rc = 0;
    if (res->ev.kind == NIP09_KIND) {
        rc = nip09_parse(&res->ev, &del);
    } else if (res->ev.kind == NIP62_KIND) {
        rc = nip62_parse(&res->ev, r->auth.relay_url, &del);
    }
    if (rc < 0) {
        post_ok(r, res->conn_id, res->ev.id, false, R_NOMEM);
        free(res->json);
        return;
    }
    struct batcher_req req = {
        .conn_id = res->conn_id, .json = res->json, .len = res->len, .ev = res->ev, .del = del
    };
    if (batcher_submit_take(r->batcher, &req) < 0) {
        post_ok(r, res->conn_id, res->ev.id, false, R_SHUTTING_DOWN);
        free(res->json);
        free(del);
    }
}

/* Validation worker: the vpool callback, ahead of on_validated. A NIP-42
 * AUTH event ends here: when it names the connection's challenge and this
 * relay, the io thread records its key and answers OK. An EVENT is checked
 * against NIP-42 (kind 22242 is never published) and NIP-70 (a protected
 * event needs its author authenticated on the connection) first. */
static void on_verified(void *ud, struct vpool_result *res)
{
    struct relay *r = ud;
    struct job_auth *ja = res->aux;
    const char *reason = NULL;
    res->aux = NULL;
    if (res->rc < 0) {
        free(ja);
        on_validated(ud, res);
        return;
    }
    if (ja != NULL && ja->is_auth) {
        if (nip42_check_auth(&res->ev, ja->challenge, r->auth.relay_url, (int64_t)time(NULL),
                             &reason) == 0) {
            struct server_msg sm = { .type = SERVER_MSG_AUTH, .conn_id = res->conn_id };
            memcpy(sm.u.auth.id, res->ev.id, 32);
            memcpy(sm.u.auth.pubkey, res->ev.pubkey, 32);
            server_post(r->server, &sm);
        } else {
            post_ok(r, res->conn_id, res->ev.id, false, reason);
        }
        free(ja);
        free(res->json);
        return;
    }
    if (res->ev.kind == NIP42_KIND) {
        reason = R_AUTH_KIND;
    } else {
        nip70_check(&res->ev, ja ? ja->pubkeys : NULL, ja ? ja->n_pubkeys : 0, &reason);
    }
    free(ja);
    if (reason != NULL) {
        post_ok(r, res->conn_id, res->ev.id, false, reason);
        free(res->json);
        return;
    }
    on_validated(ud, res);
}

/* Storage thread, after the commit. */
static void on_stored(void *ud, struct batcher_req *req, const struct store_result *res)
{
    struct relay *r = ud;
    switch (res->status) {
    case STORE_STORED:
        post_ok(r, req->conn_id, req->ev.id, true, "");
        broadcast(r, &req->ev, res->seq);
        break;
    case STORE_DUPLICATE:
        post_ok(r, req->conn_id, req->ev.id, true, R_DUPLICATE);
        break;
    case STORE_REPLACED_OLDER:
    case STORE_FAILED:
    case STORE_DELETED:
    case STORE_VANISHED:
        post_ok(r, req->conn_id, req->ev.id, false, res->reason);
        break;
    }
    free(req->json);
    free(req->del);
}

static uint64_t job_sub_key(const struct reader_job *job)
{
    uint64_t key;
    memcpy(&key, job->sub_id, sizeof(key));
    return key;
}

/* Reader thread: one stored event for a REQ. */
static int on_stored_event(void *ud, const struct reader_job *job, const char *json, size_t len)
{
    struct relay *r = ud;
    struct server_msg sm = { .type = SERVER_MSG_HIST, .conn_id = job->conn_id };
    sm.sub_key = job_sub_key(job);
    if (r->auth.is_dm_protected && nip42_set_may_match_dm(job->filters)) {
        /* The io thread applies the NIP-42 DM rule per recipient and needs a
         * direct message's kind, author and tags for it. A stored event
         * always parses; one that did not would be withheld. */
        struct event ev;
        const char *reason;
        if (event_parse(json, len, NULL, &ev, &reason) < 0) {
            return 0;
        }
        sm.u.payload =
            nip42_kind_is_dm(ev.kind) ? payload_new(&ev, 0) : payload_new_json(json, len);
    } else {
        sm.u.payload = payload_new_json(json, len);
    }
    if (sm.u.payload == NULL) {
        return OST_ENOMEM;
    }
    if (server_post(r->server, &sm) < 0) {
        payload_unref(sm.u.payload);
        return OST_ESHUTDOWN;
    }
    return 0;
}

/* Reader thread: a query ended. */
static void on_query_done(void *ud, struct reader_job *job, const struct reader_result *res)
{
    struct relay *r = ud;
    struct server_msg sm = { .conn_id = job->conn_id };
    if (job->kind == READER_COUNT) {
        sm.type = SERVER_MSG_COUNT;
        sm.u.count.n = res->count;
        sm.u.count.reason = res->rc < 0 ? res->reason : NULL;
        /* The registers move on with the answer; a refused count drops them. */
        sm.u.count.hll = res->rc == 0 ? job->pubkey_ud : NULL;
        if (res->rc < 0) {
            free(job->pubkey_ud);
        }
        sm.u.count.sub_id = malloc(job->sub_id_len);
        if (sm.u.count.sub_id == NULL) {
            log_warn("out of memory answering a COUNT");
            free(sm.u.count.hll);
            filter_set_free(job->filters);
            return;
        }
        memcpy(sm.u.count.sub_id, job->sub_id, job->sub_id_len);
        sm.u.count.sub_id_len = job->sub_id_len;
    } else {
        sm.sub_key = job_sub_key(job);
        if (res->rc == 0) {
            sm.type = SERVER_MSG_EOSE;
            sm.u.eose.seq = res->snapshot.seq;
            sm.u.eose.is_complete = res->snapshot.is_complete;
        } else {
            sm.type = SERVER_MSG_CLOSED;
            sm.u.notice = res->rc == OST_ESHUTDOWN ? R_SHUTTING_DOWN : res->reason;
        }
    }
    if (server_post(r->server, &sm) < 0 && sm.type == SERVER_MSG_COUNT) {
        free(sm.u.count.sub_id);
        free(sm.u.count.hll);
    }
    filter_set_free(job->filters);
}

/* Broadcast thread: the subscription is indexed; its query may start. */
static void on_sub_added(void *ud, uint64_t conn_id, uint64_t sub_key, void *job_ptr)
{
    struct relay *r = ud;
    struct reader_job *job = job_ptr;
    int rc = reader_try_submit_take(r->reader, job);
    if (rc < 0) {
        filter_set_free(job->filters);
        struct server_msg sm = { .type = SERVER_MSG_CLOSED, .conn_id = conn_id };
        sm.sub_key = sub_key;
        sm.u.notice = rc == OST_EAGAIN ? R_BUSY : R_SHUTTING_DOWN;
        server_post(r->server, &sm);
    }
    free(job);
}

/* ---- lifecycle ---- */

/* Every connection is a file descriptor: take the hard limit, so a busy
 * relay is not capped by a distribution's small default soft limit. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            log_warn("cannot raise the open file limit to %llu", (unsigned long long)rl.rlim_max);
        }
    }
}

static int build_documents(struct relay *r)
{
    const struct cfg *c = r->cfg;
    struct nip11_info info = {
        .name = c->relay.name,
        .description = c->relay.description,
        .pubkey = c->relay.pubkey,
        .contact = c->relay.contact,
        .software = "ostrich",
        .version = OSTRICH_VERSION,
    };
    /* Only what this build implements and enables: NIP-01, NIP-11, NIP-13
     * (the check runs even with no minimum, which the document states) and
     * NIP-40; NIP-42 and NIP-70 are always on ([auth] says what needs it).
     * NIP-09 and NIP-62 are always on; a vanish request names this relay
     * by [auth] relay_url or "ALL_RELAYS". */
    static const uint32_t nips[] = { 1, 9, 11, 13, 40, 42, 45, 62, 67, 70 };
    memcpy(info.supported_nips, nips, sizeof(nips));
    info.n_nips = sizeof(nips) / sizeof(nips[0]);
    info.limitation = (struct nip11_limitation){
        .max_message_length = (uint64_t)c->limits.max_message_bytes,
        .max_subscriptions = (uint64_t)c->limits.max_subscriptions,
        .max_filters = (uint64_t)c->limits.max_filters,
        .max_limit = (uint64_t)c->limits.max_limit,
        .max_subid_length = PROTO_MAX_SUB_ID_CHARS,
        .max_event_tags = (uint64_t)c->limits.max_event_tags,
        .max_content_length = (uint64_t)c->limits.max_content_bytes,
        .created_at_lower_limit = c->limits.created_at_lower_limit,
        .created_at_upper_limit = c->limits.created_at_upper_limit,
        .default_limit = (uint64_t)c->limits.default_limit,
        .min_pow_difficulty = (uint64_t)c->limits.min_pow_difficulty,
        /* NIP-42 is always on; these say what it is required for. */
        .auth_required = c->auth.required_for_write || c->auth.required_for_read,
        .restricted_writes = c->auth.required_for_write || c->auth.allow_pubkeys.n > 0,
    };
    int rc = nip11_build(&info, &r->nip11);
    rc = rc ? rc : nip11_build_html(&info, &r->html);
    rc = rc ? rc : (buf_cstr(&r->nip11) && buf_cstr(&r->html) ? 0 : OST_ENOMEM);
    return rc;
}

static void configure(struct relay *r)
{
    const struct cfg *c = r->cfg;
    filter_limits_default(&r->flim);
    r->flim.max_limit = (uint32_t)c->limits.max_limit;
    r->flim.default_limit = (uint32_t)c->limits.default_limit;
    if (r->flim.default_limit > r->flim.max_limit) {
        r->flim.default_limit = r->flim.max_limit;
    }
    r->max_filters = (uint32_t)c->limits.max_filters;
    r->scfg = (struct server_config){
        .bind = c->relay.bind,
        .port = (int)c->relay.port,
        .tls_cert = c->relay.tls_cert,
        .tls_key = c->relay.tls_key,
        .nip11_json = r->nip11.data,
        .html_page = r->html.data,
        .conn_limits = {
            .max_message_bytes = (size_t)c->limits.max_message_bytes,
            .max_outbound_bytes = (size_t)c->limits.max_outbound_bytes,
            .max_subs = (uint32_t)c->limits.max_subscriptions,
        },
        .io_queue_cap = 65536,
        .auth_policy = &r->auth,
    };
}

/* The NIP-42 policy from [auth]; the allow list is decoded and sorted once.
 * Returns 0, OST_ENOMEM or OST_EINVAL. */
static int configure_auth(struct relay *r)
{
    const struct cfg *c = r->cfg;
    size_t n = c->auth.allow_pubkeys.n;
    r->auth = (struct nip42_policy){
        .relay_url = c->auth.relay_url,
        .is_write_required = c->auth.required_for_write,
        .is_read_required = c->auth.required_for_read,
        .is_dm_protected = c->auth.protect_dms,
    };
    if (n == 0) {
        return 0;
    }
    r->allow = calloc(n, sizeof(*r->allow));
    if (r->allow == NULL) {
        return OST_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        /* cfg checked each entry: 64 lowercase hex characters. */
        if (hex_decode_lower(c->auth.allow_pubkeys.items[i], 32, r->allow[i]) < 0) {
            log_error("auth.allow_pubkeys: item %zu is not a key", i + 1);
            return OST_EINVAL;
        }
    }
    r->auth.allow = r->allow;
    r->auth.n_allow = n;
    nip42_policy_sort(&r->auth);
    return 0;
}

static int start_workers(struct relay *r)
{
    const struct cfg *c = r->cfg;
    struct store_options so = { .backend = STORE_BACKEND_SQLITE };
    so.sqlite.path = c->storage.sqlite.path;
    int rc = store_open(&so, &r->store);
    if (rc < 0) {
        log_error("cannot open the store at %s: %s", c->storage.sqlite.path, ost_strerror(rc));
        return rc;
    }
    struct batcher_config bc = {
        .batch_size = (uint32_t)c->storage.batch_size,
        .batch_wait_ms = (uint32_t)c->storage.batch_wait_ms,
        .purge_interval_ms = (uint32_t)c->storage.expiration_purge_interval_s * 1000u,
    };
    rc = batcher_new(r->store, &bc, on_stored, r, &r->batcher);
    if (rc < 0) {
        log_error("cannot start the storage thread: %s", ost_strerror(rc));
        return rc;
    }
    struct reader_config rc_cfg = { .n_threads = (int)c->storage.readers };
    rc = reader_new(r->store, &rc_cfg, on_stored_event, on_query_done, r, &r->reader);
    if (rc < 0) {
        log_error("cannot start the reader threads: %s", ost_strerror(rc));
        return rc;
    }
    rc = bcast_new(r->server, 65536, on_sub_added, r, &r->bcast);
    if (rc < 0) {
        log_error("cannot start the broadcast thread: %s", ost_strerror(rc));
        return rc;
    }
    /* Before the workers that read it; freed in relay_run after they stop. */
    rc = nip13_policy_new((uint32_t)c->limits.min_pow_difficulty, &r->pow);
    if (rc < 0) {
        log_error("limits.min_pow_difficulty: %s", ost_strerror(rc));
        return rc;
    }
    struct vpool_config vc = {
        .n_workers = (int)c->validation.workers,
        .engine = c->validation.engine == CFG_ENGINE_FALLBACK ? SIG_ENGINE_FALLBACK
                                                              : SIG_ENGINE_NATIVE,
        .limits = {
            .event = {
                .max_tags = (uint32_t)c->limits.max_event_tags,
                .max_content_len = (uint32_t)c->limits.max_content_bytes,
            },
            .created_at_max_age_s = (uint32_t)c->limits.created_at_lower_limit,
            .created_at_max_future_s = (uint32_t)c->limits.created_at_upper_limit,
        },
    };
    rc = vpool_new(&vc, on_verified, r, &r->vpool);
    if (rc < 0) {
        log_error("cannot start the validation workers: %s", ost_strerror(rc));
        return rc;
    }
    return 0;
}

/* Runs on its own thread during shutdown, so that the io thread can keep
 * draining the answers these stops produce. Upstream first: every queued
 * EVENT is validated, stored and answered before the next stage closes. */
static void *stopper_main(void *arg)
{
    struct relay *r = arg;
    vpool_free(r->vpool);
    r->vpool = NULL;
    batcher_free(r->batcher);
    r->batcher = NULL;
    bcast_stop(r->bcast);
    bcast_join(r->bcast);
    reader_free(r->reader);
    r->reader = NULL;
    atomic_store(&r->is_pipeline_done, true);
    server_wake(r->server);
    return NULL;
}

static void stop_all(struct relay *r)
{
    /* Startup failed part way: nothing is being served, stop in order. */
    vpool_free(r->vpool);
    batcher_free(r->batcher);
    if (r->bcast != NULL) {
        bcast_stop(r->bcast);
        bcast_join(r->bcast);
    }
    reader_free(r->reader);
}

int relay_run(const struct cfg *cfg)
{
    struct relay r;
    memset(&r, 0, sizeof(r));
    r.cfg = cfg;
    buf_init(&r.nip11);
    buf_init(&r.html);
    int rc;
    if (cfg->storage.backend != CFG_BACKEND_SQLITE) {
        log_error("storage.backend: only \"sqlite\" is available in this build");
        rc = OST_EINVAL;
        goto out;
    }
    raise_fd_limit();
    rc = build_documents(&r);
    if (rc < 0) {
        goto out;
    }
    configure(&r);
    rc = configure_auth(&r);
    if (rc < 0) {
        goto out;
    }
    struct server_hooks hooks = {
        .ud = &r,
        .on_message = on_message,
        .on_closed = on_closed,
        .on_sub_dropped = on_sub_dropped,
        .on_idle = on_idle,
    };
    rc = server_new(&r.scfg, &hooks, &r.server);
    if (rc < 0) {
        goto out;
    }
    rc = start_workers(&r);
    if (rc < 0) {
        stop_all(&r);
        goto out;
    }

    pthread_setname_np(pthread_self(), "ost-io");
    signal_server = r.server;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    log_info("ostrich %s listening on %s://%s:%d (store: %s, %d validation workers)",
             OSTRICH_VERSION, cfg->relay.tls_cert[0] ? "wss" : "ws", cfg->relay.bind,
             server_port(r.server), cfg->storage.sqlite.path, vpool_worker_count(r.vpool));
    server_run(r.server);
    log_info("shutting down: answering queued events and flushing the store");

    pthread_t stopper;
    rc = thread_start(&stopper, "ost-stop", stopper_main, &r);
    if (rc < 0) {
        stopper_main(&r);
    }
    server_drain(r.server, &r.is_pipeline_done, DRAIN_TIMEOUT_MS);
    if (rc == 0) {
        pthread_join(stopper, NULL);
    }
    rc = 0;
    log_info("stopped");
out:
    signal_server = NULL;
    server_free(r.server);
    bcast_free(r.bcast);
    for (size_t i = 0; i < r.n_backlog; i++) {
        release_bcast_msg(&r.backlog[i]);
    }
    free(r.backlog);
    free(r.allow);
    store_close(r.store);
    nip13_policy_free(r.pow);
    buf_fini(&r.nip11);
    buf_fini(&r.html);
    return rc;
}
