/*
 * The io thread's inbox and the replies it sends: what the worker threads
 * post (OK, NOTICE, stored and live events, EOSE, CLOSED, COUNT, AUTH,
 * FORGET) waits on io_q until the service loop wakes, and the NIP-01
 * replies are framed here. Part of the server module (relay/server_int.h).
 */
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "common/err.h"
#include "common/log.h"
#include "common/queue.h"
#include "nips/nip42.h"
#include "nips/nip45.h"
#include "relay/metrics.h"
#include "relay/payload.h"
#include "relay/proto.h"
#include "relay/server.h"
#include "relay/server_int.h"

#define IO_BATCH 256

/* Formats into the scratch buffer behind LWS_PRE-free space and queues. */
static void send_scratch(struct server *s, struct conn *c)
{
    if (conn_send(c, s->scratch.data, s->scratch.len) < 0) {
        log_debug("[c:%llu] outbound queue full, closing", (unsigned long long)c->conn_id);
    }
}

/* send_scratch for a message of the given verb, counted. */
void server__send_counted(struct server *s, struct conn *c, enum metrics_msg_out type)
{
    metrics_inc(&s->m->messages_out[type]);
    send_scratch(s, c);
}

void server_send_notice(struct server *s, struct conn *c, const char *reason)
{
    buf_reset(&s->scratch);
    if (proto_fmt_notice(&s->scratch, reason) == 0) {
        server__send_counted(s, c, METRICS_OUT_NOTICE);
    }
}

void server_send_ok(struct server *s, struct conn *c, const uint8_t id[32], bool accepted,
                    const char *reason)
{
    buf_reset(&s->scratch);
    if (proto_fmt_ok(&s->scratch, id, accepted, reason) == 0) {
        server__send_counted(s, c, METRICS_OUT_OK);
    }
}

void server_send_closed(struct server *s, struct conn *c, const char *sub_id, size_t sub_id_len,
                        const char *reason)
{
    buf_reset(&s->scratch);
    if (proto_fmt_closed(&s->scratch, sub_id, sub_id_len, reason) == 0) {
        server__send_counted(s, c, METRICS_OUT_CLOSED);
    }
}

/* Whether the event in p may go to c (NIP-42 direct message rule). A
 * stored event's payload carries a parsed event only when the reader found
 * it to be a direct message; otherwise ev is zeroed, of kind 0. */
static bool may_see(const struct server *s, const struct conn *c, const struct payload *p)
{
    return s->cfg->auth_policy == NULL || nip42_may_see(s->cfg->auth_policy, &c->auth, &p->ev);
}

static void deliver_live(struct server *s, struct server_msg *m)
{
    struct payload *p = m->u.live.payload;
    for (uint32_t i = 0; i < m->u.live.n; i++) {
        struct conn *c = conn_table_get(&s->conns, m->u.live.to[i].conn_id);
        struct conn_sub *sub = c ? conn_sub_find_key(c, m->u.live.to[i].sub_key) : NULL;
        if (sub == NULL) {
            continue; /* closed since the broadcast thread matched it */
        }
        if (!may_see(s, c, p)) {
            continue;
        }
        int rc = 1; /* stored before the subscription's query snapshot: not new to it */
        if (!sub->is_live) {
            rc = conn_hold_event(c, sub, p);
        } else if (p->seq > sub->floor_seq) {
            rc = conn_send_event(c, sub, p);
        }
        if (rc == 0) {
            metrics_inc(&s->m->broadcast_deliveries);
        }
    }
    free(m->u.live.to);
    payload_unref(p);
}

/* Handles one io_q message; releases what it carries. */
static void handle_msg(struct server *s, struct server_msg *m)
{
    if (m->type == SERVER_MSG_LIVE) {
        deliver_live(s, m);
        return;
    }
    if (m->type == SERVER_MSG_FORGET) {
        if (s->hooks.on_forget != NULL) {
            s->hooks.on_forget(s->hooks.ud, m);
        }
        free(m->u.forget.ids);
        return;
    }
    struct conn *c = conn_table_get(&s->conns, m->conn_id);
    struct conn_sub *sub = NULL;
    if (c != NULL && m->type != SERVER_MSG_OK && m->type != SERVER_MSG_NOTICE &&
        m->type != SERVER_MSG_COUNT && m->type != SERVER_MSG_AUTH) {
        sub = conn_sub_find_key(c, m->sub_key);
    }
    switch (m->type) {
    case SERVER_MSG_OK:
        if (m->u.ok.is_recent && s->hooks.on_stored != NULL) {
            s->hooks.on_stored(s->hooks.ud, m);
        }
        if (c != NULL) {
            server_send_ok(s, c, m->u.ok.id, m->u.ok.accepted, m->u.ok.reason);
        }
        break;
    case SERVER_MSG_NOTICE:
        if (c != NULL) {
            server_send_notice(s, c, m->u.notice);
        }
        break;
    case SERVER_MSG_HIST:
        if (sub != NULL && !sub->is_live && may_see(s, c, m->u.payload)) {
            conn_send_event(c, sub, m->u.payload);
        }
        payload_unref(m->u.payload);
        break;
    case SERVER_MSG_EOSE:
        if (sub != NULL && !sub->is_live) {
            buf_reset(&s->scratch);
            if (proto_fmt_eose(&s->scratch, sub->id, sub->id_len,
                               m->u.eose.is_complete && s->cfg->eose_finish_hint) == 0) {
                server__send_counted(s, c, METRICS_OUT_EOSE);
            }
            conn_sub_go_live(c, sub, m->u.eose.seq);
        }
        break;
    case SERVER_MSG_CLOSED:
        if (sub != NULL) {
            server_send_closed(s, c, sub->id, sub->id_len, m->u.notice);
            conn_sub_remove(c, sub);
            s->hooks.on_sub_dropped(s->hooks.ud, m->conn_id, m->sub_key);
        }
        break;
    case SERVER_MSG_COUNT:
        if (c != NULL && m->u.count.reason != NULL) {
            server_send_closed(s, c, m->u.count.sub_id, m->u.count.sub_id_len, m->u.count.reason);
        } else if (c != NULL) {
            char hll[NIP45_HLL_HEX_LEN];
            if (m->u.count.hll != NULL) {
                nip45_hll_to_hex(m->u.count.hll, hll);
            }
            buf_reset(&s->scratch);
            if (proto_fmt_count(&s->scratch, m->u.count.sub_id, m->u.count.sub_id_len, m->u.count.n,
                                hll, m->u.count.hll != NULL ? sizeof(hll) : 0) == 0) {
                server__send_counted(s, c, METRICS_OUT_COUNT);
            }
        }
        free(m->u.count.sub_id);
        free(m->u.count.hll);
        break;
    case SERVER_MSG_AUTH:
        if (c != NULL) {
            const char *reason = "";
            bool is_added = nip42_auth_add(&c->auth, m->u.auth.pubkey, &reason) == 0;
            server_send_ok(s, c, m->u.auth.id, is_added, reason);
        }
        break;
    case SERVER_MSG_LIVE:
    case SERVER_MSG_FORGET:
        break;
    }
}

void server__on_wakeup(struct server *s)
{
    /* Clear the flag before draining: a post that lands after the last pop
     * sets it again and calls lws_cancel_service, so no wakeup is lost. */
    atomic_store(&s->wake_pending, 0);
    struct server_msg batch[IO_BATCH];
    int n;
    while ((n = queue_pop_batch(&s->io_q, batch, IO_BATCH, 0)) > 0) {
        for (int i = 0; i < n; i++) {
            handle_msg(s, &batch[i]);
        }
    }
    if (s->hooks.on_idle != NULL) {
        s->hooks.on_idle(s->hooks.ud);
    }
}

int server_post(struct server *s, const struct server_msg *m)
{
    int rc = queue_push(&s->io_q, m);
    if (rc == 0 && atomic_exchange(&s->wake_pending, 1) == 0) {
        lws_cancel_service(s->ctx);
    }
    return rc;
}

void server__drop_msgs(struct server *s)
{
    struct server_msg batch[IO_BATCH];
    int n;
    while ((n = queue_pop_batch(&s->io_q, batch, IO_BATCH, 0)) > 0) {
        for (int i = 0; i < n; i++) {
            if (batch[i].type == SERVER_MSG_LIVE) {
                free(batch[i].u.live.to);
                payload_unref(batch[i].u.live.payload);
            } else if (batch[i].type == SERVER_MSG_HIST) {
                payload_unref(batch[i].u.payload);
            } else if (batch[i].type == SERVER_MSG_COUNT) {
                free(batch[i].u.count.sub_id);
                free(batch[i].u.count.hll);
            } else if (batch[i].type == SERVER_MSG_FORGET) {
                free(batch[i].u.forget.ids);
            }
        }
    }
}
