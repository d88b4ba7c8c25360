/*
 * The broadcast thread. Design (after strfry's inverted index of live
 * filters): subidx finds the candidate subscriptions for an event by id,
 * author, tag value and kind, then checks each full filter; the event's
 * JSON is shared by reference with every recipient.
 */
#include "relay/bcast.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "common/err.h"
#include "common/log.h"
#include "common/queue.h"
#include "common/thread.h"
#include "filters/filter.h"
#include "filters/subidx.h"
#include "relay/payload.h"
#include "relay/server.h"

#define BCAST_BATCH 128

struct bcast {
    struct queue inbox;
    pthread_t thread;
    bool is_joined;
    struct server *server;
    bcast_sub_added_fn on_sub_added;
    void *ud;
    struct subidx *idx; /* owned by: the broadcast thread */
    /* Recipients of the event being matched; owned by: the broadcast thread. */
    struct server_recipient *to;
    uint32_t n_to, cap_to;
};

static void collect(void *ud, uint64_t conn_id, const char *sub_id, size_t sub_id_len)
{
    struct bcast *b = ud;
    if (sub_id_len != sizeof(uint64_t)) {
        return;
    }
    if (b->n_to == b->cap_to) {
        uint32_t cap = b->cap_to ? b->cap_to * 2 : 64;
        struct server_recipient *to = realloc(b->to, cap * sizeof(*to));
        if (to == NULL) {
            return; /* this recipient misses the event; logged by the caller */
        }
        b->to = to;
        b->cap_to = cap;
    }
    uint64_t key;
    memcpy(&key, sub_id, sizeof(key));
    b->to[b->n_to++] = (struct server_recipient){ conn_id, key };
}

static void on_event(struct bcast *b, struct payload *p)
{
    b->n_to = 0;
    subidx_match(b->idx, &p->ev, collect, b);
    if (b->n_to == 0) {
        payload_unref(p);
        return;
    }
    struct server_msg m = { .type = SERVER_MSG_LIVE };
    m.u.live.payload = p;
    m.u.live.n = b->n_to;
    m.u.live.to = malloc(b->n_to * sizeof(*m.u.live.to));
    if (m.u.live.to == NULL) {
        log_warn("out of memory delivering an event to %u subscribers", b->n_to);
        payload_unref(p);
        return;
    }
    memcpy(m.u.live.to, b->to, b->n_to * sizeof(*b->to));
    if (server_post(b->server, &m) < 0) {
        free(m.u.live.to);
        payload_unref(p);
    }
}

static void handle(struct bcast *b, struct bcast_msg *m)
{
    switch (m->type) {
    case BCAST_SUB_ADD:
        /* The key doubles as the subscription name inside the index: it is
         * unique per process, so the io thread can tell a replaced
         * subscription's stragglers from the new one's events. */
        if (subidx_add_take(b->idx, m->conn_id, (const char *)&m->sub_key, sizeof(m->sub_key),
                            m->u.add.set) < 0) {
            filter_set_free(m->u.add.set);
        }
        b->on_sub_added(b->ud, m->conn_id, m->sub_key, m->u.add.job);
        break;
    case BCAST_SUB_DEL:
        subidx_remove(b->idx, m->conn_id, (const char *)&m->sub_key, sizeof(m->sub_key));
        break;
    case BCAST_CONN_GONE:
        subidx_remove_conn(b->idx, m->conn_id);
        break;
    case BCAST_EVENT:
        on_event(b, m->u.payload);
        break;
    }
}

static void *bcast_main(void *arg)
{
    struct bcast *b = arg;
    struct bcast_msg batch[BCAST_BATCH];
    int n;
    while ((n = queue_pop_batch(&b->inbox, batch, BCAST_BATCH, -1)) >= 0) {
        for (int i = 0; i < n; i++) {
            handle(b, &batch[i]);
        }
    }
    return NULL;
}

int bcast_new(struct server *server, size_t queue_cap, bcast_sub_added_fn on_sub_added, void *ud,
              struct bcast **out)
{
    struct bcast *b = calloc(1, sizeof(*b));
    if (b == NULL) {
        return OST_ENOMEM;
    }
    b->server = server;
    b->on_sub_added = on_sub_added;
    b->ud = ud;
    int rc = subidx_new(&b->idx);
    if (rc < 0) {
        goto fail_idx;
    }
    rc = queue_init(&b->inbox, sizeof(struct bcast_msg), queue_cap);
    if (rc < 0) {
        goto fail_queue;
    }
    rc = thread_start(&b->thread, "ost-bcast", bcast_main, b);
    if (rc < 0) {
        goto fail_thread;
    }
    *out = b;
    return 0;
fail_thread:
    queue_fini(&b->inbox);
fail_queue:
    subidx_free(b->idx);
fail_idx:
    free(b);
    return rc;
}

int bcast_try_post(struct bcast *b, const struct bcast_msg *m)
{
    return queue_try_push(&b->inbox, m);
}

int bcast_post(struct bcast *b, const struct bcast_msg *m)
{
    return queue_push(&b->inbox, m);
}

void bcast_stop(struct bcast *b)
{
    queue_close(&b->inbox);
}

void bcast_join(struct bcast *b)
{
    if (!b->is_joined) {
        pthread_join(b->thread, NULL);
        b->is_joined = true;
    }
}

void bcast_free(struct bcast *b)
{
    if (b == NULL) {
        return;
    }
    bcast_stop(b);
    bcast_join(b);
    subidx_free(b->idx);
    queue_fini(&b->inbox);
    free(b->to);
    free(b);
}

size_t bcast_queue_len(struct bcast *b)
{
    return queue_len(&b->inbox);
}
