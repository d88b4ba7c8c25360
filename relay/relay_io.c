/*
 * The relay's handling of client messages, on the io thread: EVENT and AUTH
 * go to the validation workers, REQ to the broadcast thread (which indexes
 * the subscription and then releases its query), CLOSE and disconnects
 * update the index, COUNT goes to a reader thread. Never blocks: a full
 * queue is answered at once, or held in order for the broadcast thread.
 */
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
#include "relay/recent.h"
#include "relay/relay_int.h"
#include "relay/server.h"
#include "store/batcher.h"
#include "store/reader.h"
#include "store/store.h"
#include "store/store_os.h"
#include "validate/event.h"
#include "validate/vpool.h"

/* ---- io thread: messages to the broadcast thread ---- */

void relay__release_bcast_msg(struct bcast_msg *m)
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
                relay__release_bcast_msg(m);
            }
            return rc;
        }
    }
    if (r->n_backlog == r->cap_backlog) {
        size_t cap = r->cap_backlog ? r->cap_backlog * 2 : 64;
        struct bcast_msg *b = cap <= BACKLOG_MAX ? realloc(r->backlog, cap * sizeof(*b)) : NULL;
        if (b == NULL) {
            relay__release_bcast_msg(m);
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
            relay__release_bcast_msg(&r->backlog[i]);
        }
    }
    memmove(r->backlog, r->backlog + i, (r->n_backlog - i) * sizeof(*r->backlog));
    r->n_backlog -= i;
}

/* ---- io thread: client messages ---- */

/* Hands an EVENT's or AUTH's event to the validation workers. Returns NULL,
 * or the reason it could not. */
static const char *submit_validation(struct relay *r, struct conn *c, const struct proto_msg *m)
{
    /* The tag is when the job was submitted, for the validation histogram. */
    struct vpool_job job = { .conn_id = c->conn_id, .len = m->event_len, .tag = metrics_now_ns() };
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

/* Rate limits (relay/ratelimit.h): charges one message of kind k to c,
 * on the clock of its arrival. Returns NULL, or the reason to refuse it
 * with, before any work is done on it. */
static const char *rate_check(struct relay *r, struct conn *c, enum ratelimit_kind k)
{
    const char *reason = NULL;
    if (ratelimit_conn_take(&c->rl, &r->scfg.rate, k, c->last_msg_ms, &reason) == 0) {
        return NULL;
    }
    metrics_inc(
        &r->metrics.rate_limited[k == RATELIMIT_EVENT ? METRICS_RATE_EVENT : METRICS_RATE_REQ]);
    return reason;
}

/* After max_refused rate refusals in a row (each answered already), the
 * connection is told why and closed: a client that does not slow down
 * costs no more than that. */
static void close_if_over_rate(struct relay *r, struct conn *c)
{
    if (!ratelimit_conn_is_over(&c->rl, &r->scfg.rate) || c->is_closing ||
        c->is_close_after_flush) {
        return;
    }
    const char *why = ratelimit_reasons[RATELIMIT_R_REFUSED];
    metrics_inc(&r->metrics.connections_rejected[METRICS_REJECT_RATE]);
    struct log_conn lc = { .conn_id = c->conn_id, .addr = c->addr };
    log_conn_info(&lc,
                  "closing: %u messages in a row over the rate limits (rate_limit.max_refused)",
                  c->rl.n_refused);
    server_send_notice(r->server, c, why);
    conn_close(c, CONN_CLOSE_POLICY, why, true);
}

/* A copy of an event stored lately (same id, same signature) is answered
 * here, before any validation: nothing is stored or broadcast. Returns
 * whether it answered. */
static bool answer_if_recent(struct relay *r, struct conn *c, const struct proto_msg *m)
{
    uint8_t id[32], sig[64];
    if (event_peek_id_sig(m->event, m->event_len, id, sig) < 0 ||
        !recent_has(r->recent, id, recent_sig_hash(sig))) {
        return false;
    }
    metrics_count_ok(&r->metrics, true, R_DUPLICATE);
    server_send_ok(r->server, c, id, true, R_DUPLICATE);
    return true;
}

/* EVENT, and NIP-42's AUTH: both are validated by the workers. */
static void on_event_msg(struct relay *r, struct conn *c, const struct proto_msg *m)
{
    const char *reason = NULL;
    if (m->type == PROTO_AUTH && !r->cfg->nips.nip42) {
        /* No challenge was sent, so there is nothing an AUTH could answer. */
        server_send_notice(r->server, c, R_AUTH_OFF);
        return;
    }
    if (server_is_stopping(r->server)) {
        reason = R_SHUTTING_DOWN;
    } else if ((reason = rate_check(r, c, RATELIMIT_EVENT)) != NULL) {
        /* Refused before it is copied or validated. */
    } else if (m->type == PROTO_AUTH || nip42_check_write(&r->auth, &c->auth, &reason) == 0) {
        if (m->type == PROTO_EVENT && answer_if_recent(r, c, m)) {
            return;
        }
        reason = submit_validation(r, c, m);
    }
    if (reason == NULL) {
        return;
    }
    /* Only a refusal needs the id, so only a refusal looks for it. */
    uint8_t id[32];
    if (event_peek_id(m->event, m->event_len, id) == 0) {
        if (m->type == PROTO_EVENT) {
            metrics_count_ok(&r->metrics, false, reason);
        }
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
    reason = rate_check(r, c, RATELIMIT_REQ);
    if (reason != NULL) {
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
    if (!r->cfg->nips.nip45) {
        reason = R_COUNT_OFF;
    } else if (server_is_stopping(r->server)) {
        reason = R_SHUTTING_DOWN;
    } else if ((reason = rate_check(r, c, RATELIMIT_REQ)) != NULL) {
        /* Refused before its filters are parsed. */
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

/* The metrics category of a client message's verb. */
static enum metrics_msg_in msg_in_type(enum proto_type type)
{
    switch (type) {
    case PROTO_EVENT:
        return METRICS_IN_EVENT;
    case PROTO_REQ:
        return METRICS_IN_REQ;
    case PROTO_CLOSE:
        return METRICS_IN_CLOSE;
    case PROTO_COUNT:
        return METRICS_IN_COUNT;
    case PROTO_AUTH:
        return METRICS_IN_AUTH;
    }
    return METRICS_IN_INVALID;
}

void relay__on_message(void *ud, struct conn *c, const char *msg, size_t len)
{
    struct relay *r = ud;
    struct proto_msg m;
    bool has_sub_id;
    const char *reason;
    if (proto_parse(msg, len, &m, &has_sub_id, &reason) < 0) {
        metrics_inc(&r->metrics.messages_in[METRICS_IN_INVALID]);
        uint8_t id[32];
        const char *brace = memchr(msg, '{', len);
        if (has_sub_id) {
            server_send_closed(r->server, c, m.sub_id, m.sub_id_len, reason);
        } else if (m.type == PROTO_EVENT && brace != NULL &&
                   event_peek_id(brace, len - (size_t)(brace - msg), id) == 0) {
            metrics_count_ok(&r->metrics, false, reason);
            server_send_ok(r->server, c, id, false, reason);
        } else {
            server_send_notice(r->server, c, reason);
        }
        return;
    }
    metrics_inc(&r->metrics.messages_in[msg_in_type(m.type)]);
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
    close_if_over_rate(r, c);
}

void relay__on_closed(void *ud, struct conn *c)
{
    struct relay *r = ud;
    if (c->n_subs > 0) {
        struct bcast_msg bm = { .type = BCAST_CONN_GONE, .conn_id = c->conn_id };
        post_bcast(r, &bm);
    }
}

void relay__on_sub_dropped(void *ud, uint64_t conn_id, uint64_t sub_key)
{
    struct relay *r = ud;
    struct bcast_msg bm = { .type = BCAST_SUB_DEL, .conn_id = conn_id, .sub_key = sub_key };
    post_bcast(r, &bm);
}

void relay__on_stored_id(void *ud, const struct server_msg *m)
{
    struct relay *r = ud;
    if (m->u.ok.is_version) {
        recent_add_version(r->recent, m->u.ok.id, m->u.ok.sig_hash, m->u.ok.addr_hash);
    } else {
        recent_add(r->recent, m->u.ok.id, m->u.ok.sig_hash);
    }
}

void relay__on_forget_ids(void *ud, const struct server_msg *m)
{
    struct relay *r = ud;
    if (m->u.forget.is_all) {
        recent_clear(r->recent);
        return;
    }
    for (size_t i = 0; i < m->u.forget.n; i++) {
        recent_forget(r->recent, m->u.forget.ids[i]);
    }
    for (size_t i = 0; i < m->u.forget.n_addrs; i++) {
        recent_forget_addr(r->recent, m->u.forget.addrs[i]);
    }
}

/* Io thread. The worker threads' queues only while serving: once a
 * shutdown has begun, the stopper thread frees them. */
void relay__sample(void *ud, struct metrics_gauges *g)
{
    struct relay *r = ud;
    bool is_os = r->cfg->storage.backend == CFG_BACKEND_OPENSEARCH;
    g->storage_backend = is_os ? "opensearch" : "sqlite";
    g->is_storage_up = !is_os || store_os_is_available(r->store);
    g->broadcast_queue = r->n_backlog; /* held on the io thread for a full inbox */
    if (server_is_stopping(r->server)) {
        return;
    }
    g->validation_queue = vpool_queue_len(r->vpool);
    g->storage_queue = batcher_queue_len(r->batcher);
    g->query_queue = reader_queue_len(r->reader);
    g->broadcast_queue += bcast_queue_len(r->bcast);
}

void relay__on_idle(void *ud)
{
    struct relay *r = ud;
    if (r->n_backlog > 0) {
        flush_backlog(r);
    }
    relay__reload_pending(r);
}
