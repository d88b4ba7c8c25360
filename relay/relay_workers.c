/*
 * The relay's handling of results from the worker threads: validation
 * verdicts (policy checks, then storage or broadcast), commits (OK, then
 * broadcast), stored events and ends of queries (to the io thread), and
 * indexed subscriptions (their queries released to the readers). Each
 * function runs on the thread named in its comment and only pushes
 * downstream.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hex.h"
#include "common/json.h"
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
#include "relay/recent.h"
#include "relay/relay.h"
#include "relay/relay_int.h"
#include "relay/server.h"
#include "store/batcher.h"
#include "store/reader.h"
#include "store/store.h"
#include "validate/event.h"
#include "validate/vpool.h"

/* ---- rules for a valid event, shared with `ostrich import` ---- */

int relay_check_event(const struct cfg *c, const struct nip13_policy *pow, struct event *ev,
                      int64_t now, const char **reason)
{
    /* With NIP-42 off kind 22242 is an ordinary kind. NIP-13 and NIP-40
     * only when [nips] has them on; with NIP-40 off ev->expiration stays 0
     * from event_parse, so the event is stored as one that never
     * expires. */
    if (ev->kind == NIP42_KIND && c->nips.nip42) {
        *reason = R_AUTH_KIND;
        return OST_EREJECT;
    }
    if (c->nips.nip13 && nip13_check(pow, ev, reason) < 0) {
        return OST_EREJECT;
    }
    if (c->nips.nip40 && nip40_check(ev, now, reason) < 0) {
        return OST_EREJECT;
    }
    return 0;
}

int relay_event_deletion(const struct cfg *c, const struct event *ev, struct store_deletion **out)
{
    /* NIP-09 and NIP-62: what the event deletes travels with it, so the
     * store deletes it in the transaction that stores the event. With the
     * NIP off the event carries no deletion and is stored as any other. */
    *out = NULL;
    if (ev->kind == NIP09_KIND && c->nips.nip09) {
        return nip09_parse(ev, out);
    }
    if (ev->kind == NIP62_KIND && c->nips.nip62) {
        return nip62_parse(ev, c->auth.relay_url, out);
    }
    return 0;
}

/* ---- worker threads ---- */

/* Answers with OK, uncounted: for AUTH events, and for EVENTs counted
 * already. */
static void post_answer(struct relay *r, uint64_t conn_id, const uint8_t id[32], bool accepted,
                        const char *reason)
{
    struct server_msg sm = { .type = SERVER_MSG_OK, .conn_id = conn_id };
    memcpy(sm.u.ok.id, id, 32);
    sm.u.ok.accepted = accepted;
    sm.u.ok.reason = reason;
    server_post(r->server, &sm);
}

/* Answers an EVENT with OK and counts the verdict. */
static void post_ok(struct relay *r, uint64_t conn_id, const uint8_t id[32], bool accepted,
                    const char *reason)
{
    metrics_count_ok(&r->metrics, accepted, reason);
    post_answer(r, conn_id, id, accepted, reason);
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
            /* Counted by relay__on_verified, which tells an AUTH from an EVENT. */
            post_answer(r, res->conn_id, res->id, false, res->reason);
        } else {
            struct server_msg sm = { .type = SERVER_MSG_NOTICE, .conn_id = res->conn_id };
            sm.u.notice = res->reason;
            server_post(r->server, &sm);
        }
        free(res->json);
        return;
    }
    /* Policy on a valid event, before it is stored or passed on; the
     * reasons outlive the queue to the io thread (relay.h). */
    const char *policy_reason = NULL;
    if (relay_check_event(r->cfg, r->pow, &res->ev, (int64_t)time(NULL), &policy_reason) < 0) {
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
    struct store_deletion *del = NULL;
    int rc = relay_event_deletion(r->cfg, &res->ev, &del);
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
void relay__on_verified(void *ud, struct vpool_result *res)
{
    struct relay *r = ud;
    struct job_auth *ja = res->aux;
    const char *reason = NULL;
    res->aux = NULL;
    metrics_observe_since(&r->metrics.validation_seconds, res->tag);
    if (res->rc < 0) {
        if (res->has_id && (ja == NULL || !ja->is_auth)) {
            metrics_count_ok(&r->metrics, false, res->reason);
        }
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
            post_answer(r, res->conn_id, res->ev.id, false, reason);
        }
        free(ja);
        free(res->json);
        return;
    }
    /* With NIP-70 off a ["-"] tag protects nothing and the event is
     * accepted from anyone. The rules that do not depend on the
     * connection follow in on_validated. */
    if (r->cfg->nips.nip70) {
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

/* Whether copies of ev may be answered as duplicates on the io thread
 * (relay/recent.h) once it is stored: only where the store's own answer
 * for a copy stays "duplicate:" with OK true for as long as the set holds
 * the id, and no per-connection rule comes first. Not one that expires
 * (then it is refused as expired), not a protected one (NIP-70 asks the
 * sender to authenticate first). A replaceable or addressable event goes
 * in as the version of its address, which the next version stored
 * replaces; deletions forget what they delete. */
static bool may_answer_copies(const struct event *ev)
{
    return !event_kind_is_ephemeral(ev->kind) && ev->expiration == 0 && !nip70_is_protected(ev);
}

/* The address key of a replaceable or addressable event (NIP-01: the
 * first value of its first "d" tag, "" for none), as nip09_parse reads it
 * from an "a" tag: unescaped. Returns false when it cannot be made (out of
 * memory): then the event is not remembered. */
static bool addr_key(const struct event *ev, uint64_t *out)
{
    struct event_tag_iter tags, fields;
    struct json_str name, value;
    struct buf d;
    bool is_ok = true;
    buf_init(&d);
    if (event_kind_is_addressable(ev->kind)) {
        event_tags_begin(ev, &tags);
        while (event_tags_next(&tags, &fields)) {
            if (!event_tag_next_str(&fields, &name) || !json_str_equals(&name, "d", 1)) {
                continue;
            }
            if (event_tag_next_str(&fields, &value)) {
                is_ok = json_str_decode(&value, &d) == 0;
            }
            break;
        }
    }
    *out = recent_addr_hash(ev->pubkey, ev->kind, d.data, d.len);
    buf_fini(&d);
    return is_ok;
}

/* Tells the io thread what a stored deletion removed, before the OK for
 * it goes out: a copy of a deleted event must not be answered
 * "duplicate:" from then on. */
static void post_forget(struct relay *r, const struct store_deletion *del)
{
    struct server_msg sm = { .type = SERVER_MSG_FORGET };
    sm.u.forget.is_all = del->is_vanish;
    size_t n = del->n_ids, n_addrs = del->n_addrs;
    if (del->is_vanish || n + n_addrs == 0) {
        n = n_addrs = 0;
    } else {
        sm.u.forget.ids = malloc(n * sizeof(*sm.u.forget.ids) + n_addrs * sizeof(uint64_t));
        if (sm.u.forget.ids == NULL) {
            sm.u.forget.is_all = true; /* forgetting too much is safe */
            n = n_addrs = 0;
        }
    }
    if (n + n_addrs > 0) {
        memcpy(sm.u.forget.ids, del->ids, n * sizeof(*sm.u.forget.ids));
        sm.u.forget.addrs = (uint64_t *)(void *)(sm.u.forget.ids + n);
        for (size_t i = 0; i < n_addrs; i++) {
            const struct store_addr *a = &del->addrs[i];
            sm.u.forget.addrs[i] = recent_addr_hash(a->pubkey, a->kind, a->d, a->d_len);
        }
        sm.u.forget.n = n;
        sm.u.forget.n_addrs = n_addrs;
    }
    if (!sm.u.forget.is_all && n + n_addrs == 0) {
        return;
    }
    if (server_post(r->server, &sm) < 0) {
        free(sm.u.forget.ids);
    }
}

/* Sync thread (storage thread for a store without store_sync), once the
 * batch is durable. */
void relay__on_stored(void *ud, struct batcher_req *req, const struct store_result *res)
{
    struct relay *r = ud;
    bool is_kept = res->status == STORE_STORED || res->status == STORE_DUPLICATE;
    if (res->status == STORE_STORED && req->del != NULL) {
        post_forget(r, req->del);
    }
    if (is_kept) {
        const char *reason = res->status == STORE_STORED ? "" : R_DUPLICATE;
        struct server_msg sm = { .type = SERVER_MSG_OK, .conn_id = req->conn_id };
        memcpy(sm.u.ok.id, req->ev.id, 32);
        sm.u.ok.accepted = true;
        sm.u.ok.reason = reason;
        sm.u.ok.is_recent = may_answer_copies(&req->ev);
        sm.u.ok.sig_hash = recent_sig_hash(req->ev.sig);
        sm.u.ok.is_version =
            event_kind_is_replaceable(req->ev.kind) || event_kind_is_addressable(req->ev.kind);
        if (sm.u.ok.is_recent && sm.u.ok.is_version && !addr_key(&req->ev, &sm.u.ok.addr_hash)) {
            sm.u.ok.is_recent = false;
        }
        metrics_count_ok(&r->metrics, true, reason);
        server_post(r->server, &sm);
    } else {
        post_ok(r, req->conn_id, req->ev.id, false, res->reason);
    }
    free(req->json);
    free(req->del);
}

/* Storage thread, right after the commit: a new event goes to its
 * subscribers now, while the sync thread makes it durable (the OK waits
 * for that). What the store decided is final at the commit, so nothing it
 * refused is ever sent; should the sync fail, subscribers will have seen
 * an event whose author is told "error:" and may send it again. */
void relay__on_committed(void *ud, const struct batcher_req *req, const struct store_result *res)
{
    struct relay *r = ud;
    if (res->status == STORE_STORED) {
        broadcast(r, &req->ev, res->seq);
    }
}

static uint64_t job_sub_key(const struct reader_job *job)
{
    uint64_t key;
    memcpy(&key, job->sub_id, sizeof(key));
    return key;
}

/* Reader thread: one stored event for a REQ. */
int relay__on_stored_event(void *ud, const struct reader_job *job, const char *json, size_t len)
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
void relay__on_query_done(void *ud, struct reader_job *job, const struct reader_result *res)
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
void relay__on_sub_added(void *ud, uint64_t conn_id, uint64_t sub_key, void *job_ptr)
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

/* Storage thread: a batch was written (or failed as a whole). */
void relay__on_batch(void *ud, size_t n, double seconds)
{
    struct relay *r = ud;
    metrics_observe_seconds(&r->metrics.storage_commit_seconds, seconds);
    metrics_observe_size(&r->metrics.storage_batch_events, n);
}
