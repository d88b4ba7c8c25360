/*
 * Connections. Design: the outbound queue is a singly linked list of
 * conn_out items, capped in bytes (redis's client output buffer limit): a
 * client that stops reading is cut off instead of growing our memory, and
 * no other client waits for it. Event payloads are shared by reference and
 * framed with their subscription id only when written.
 */
#include "relay/conn.h"

#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

#include "common/err.h"
#include "relay/payload.h"
#include "relay/proto.h"
#include "relay/wsdeflate.h"

#define R_TOO_BIG "invalid: message too large (over the relay's max_message_bytes limit)"
#define R_BINARY  "invalid: binary messages are not supported; send JSON text"

/* At most this many messages, or about this many bytes, per write. */
#define CONN_FRAMES_PER_WRITE 256
#define CONN_BYTES_PER_WRITE  (256 * 1024)
/* How far past max_outbound_bytes a connection may go while its socket
 * still takes bytes (is_over_outbound). */
#define CONN_OUTBOUND_HARD_FACTOR 4

/* Approximate bytes an event frame adds around the event JSON. */
#define EVENT_FRAME_OVERHEAD (16 + PROTO_MAX_SUB_ID_LEN)

void conn_init(struct conn *c, uint64_t conn_id, struct lws *wsi, const struct conn_limits *lim)
{
    memset(c, 0, sizeof(*c));
    c->conn_id = conn_id;
    c->wsi = wsi;
    c->limits = lim;
    buf_init(&c->rx);
    lws_get_peer_simple(wsi, c->addr, sizeof(c->addr));
}

static void free_items(struct conn_out *o)
{
    while (o != NULL) {
        struct conn_out *next = o->next;
        payload_unref(o->payload);
        free(o);
        o = next;
    }
}

void conn_fini(struct conn *c)
{
    free_items(c->out_head);
    c->out_head = c->out_tail = NULL;
    for (uint32_t i = 0; i < c->n_subs; i++) {
        free_items(c->subs[i].pending_head);
    }
    free(c->subs);
    c->subs = NULL;
    c->n_subs = 0;
    buf_fini(&c->rx);
}

int conn_rx_append(struct conn *c, const void *in, size_t len, bool is_first, bool is_final,
                   bool is_binary, const char **reason)
{
    if (is_first) {
        buf_reset(&c->rx);
        c->rx_discard = false;
        if (is_binary) {
            c->rx_discard = !is_final;
            *reason = R_BINARY;
            return OST_EINVAL;
        }
    }
    if (c->rx_discard) {
        /* The refusal was answered at the first fragment; drop the rest. */
        if (is_final) {
            c->rx_discard = false;
        }
        return 0;
    }
    if (c->rx.len + len > c->limits->max_message_bytes) {
        buf_reset(&c->rx);
        c->rx_discard = !is_final;
        *reason = R_TOO_BIG;
        return OST_EINVAL;
    }
    if (buf_append(&c->rx, in, len) < 0) {
        buf_reset(&c->rx);
        c->rx_discard = !is_final;
        *reason = "error: out of memory";
        return OST_ENOMEM;
    }
    return is_final ? 1 : 0;
}

/* Whether queueing cost more bytes for c shows a client that does not
 * read. Over max_outbound_bytes, only when the socket itself is full
 * (lws holds bytes the kernel did not take): when the relay is what is
 * behind, under a burst the io thread has not yet written out, the client
 * would be cut off for the relay's delay. Past CONN_OUTBOUND_HARD_FACTOR
 * times the limit, in any case, so memory stays bounded. */
static bool is_over_outbound(const struct conn *c, size_t cost)
{
    size_t max = c->limits->max_outbound_bytes;
    size_t after = c->out_bytes + cost;
    return after > max && (lws_partial_buffered(c->wsi) || after / CONN_OUTBOUND_HARD_FACTOR > max);
}

static int enqueue(struct conn *c, struct conn_out *o, size_t cost)
{
    if (is_over_outbound(c, cost)) {
        payload_unref(o->payload);
        free(o);
        if (!c->is_closing) {
            c->is_closing = true;
            c->close_reason = "client is not reading fast enough";
            lws_callback_on_writable(c->wsi);
        }
        return OST_ENOSPC;
    }
    o->next = NULL;
    if (c->out_tail != NULL) {
        c->out_tail->next = o;
    } else {
        c->out_head = o;
    }
    c->out_tail = o;
    c->out_bytes += cost;
    lws_callback_on_writable(c->wsi);
    return 0;
}

int conn_send(struct conn *c, const char *data, size_t len)
{
    if (c->is_closing || c->is_close_after_flush) {
        return OST_ENOSPC;
    }
    struct conn_out *o = malloc(sizeof(*o) + len);
    if (o == NULL) {
        return OST_ENOMEM;
    }
    o->payload = NULL;
    o->sub_key = 0;
    o->len = len;
    memcpy(o->frame, data, len);
    return enqueue(c, o, len);
}

static struct conn_out *event_item(struct payload *p, uint64_t sub_key)
{
    struct conn_out *o = malloc(sizeof(*o));
    if (o != NULL) {
        o->next = NULL;
        o->payload = payload_ref(p);
        o->sub_key = sub_key;
        o->len = p->len + EVENT_FRAME_OVERHEAD;
    }
    return o;
}

int conn_send_event(struct conn *c, struct conn_sub *sub, struct payload *p)
{
    if (c->is_closing || c->is_close_after_flush) {
        return OST_ENOSPC;
    }
    struct conn_out *o = event_item(p, sub->key);
    if (o == NULL) {
        return OST_ENOMEM;
    }
    return enqueue(c, o, o->len);
}

int conn_hold_event(struct conn *c, struct conn_sub *sub, struct payload *p)
{
    if (c->is_closing || c->is_close_after_flush) {
        return OST_ENOSPC;
    }
    /* Held events count against the same outbound bound. */
    if (is_over_outbound(c, p->len + EVENT_FRAME_OVERHEAD)) {
        c->is_closing = true;
        c->close_reason = "client is not reading fast enough";
        lws_callback_on_writable(c->wsi);
        return OST_ENOSPC;
    }
    struct conn_out *o = event_item(p, sub->key);
    if (o == NULL) {
        return OST_ENOMEM;
    }
    if (sub->pending_tail != NULL) {
        sub->pending_tail->next = o;
    } else {
        sub->pending_head = o;
    }
    sub->pending_tail = o;
    c->out_bytes += o->len;
    return 0;
}

int conn_sub_go_live(struct conn *c, struct conn_sub *sub, uint64_t floor_seq)
{
    struct conn_out *o = sub->pending_head;
    sub->pending_head = sub->pending_tail = NULL;
    sub->is_live = true;
    sub->floor_seq = floor_seq;
    int rc = 0;
    while (o != NULL) {
        struct conn_out *next = o->next;
        c->out_bytes -= o->len;
        /* Events the historical query already saw were stored at or before
         * its snapshot; only later ones are new to this subscriber. */
        if (o->payload->seq > floor_seq && rc == 0 && !c->is_closing) {
            rc = enqueue(c, o, o->len);
        } else {
            payload_unref(o->payload);
            free(o);
        }
        o = next;
    }
    return rc;
}

/* Appends a WebSocket frame header for a final text frame of len bytes
 * (server frames are not masked), with RSV1 set for a compressed message,
 * to hdr; returns its size. */
static size_t frame_header(unsigned char hdr[10], size_t len, bool is_compressed)
{
    hdr[0] = is_compressed ? 0xC1 : 0x81; /* FIN, (RSV1,) text */
    if (len < 126) {
        hdr[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xFFFF) {
        hdr[1] = 126;
        hdr[2] = (unsigned char)(len >> 8);
        hdr[3] = (unsigned char)len;
        return 4;
    }
    hdr[1] = 127;
    for (int i = 0; i < 8; i++) {
        hdr[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    }
    return 10;
}

/* The compressed form of an EVENT message for sub, appended to b: the
 * prefix and the closing bracket as stored blocks around the event's JSON,
 * compressed once for all its recipients (relay/wsdeflate.h). */
static int append_deflated(struct wsdeflate *z, struct buf *b, const struct conn_sub *sub,
                           struct payload *p)
{
    if (p->z == NULL) {
        struct buf out;
        buf_init(&out);
        int rc = wsdeflate_compress(z, p->json, p->len, &out);
        if (rc < 0) {
            buf_fini(&out);
            return rc;
        }
        p->z = (unsigned char *)out.data; /* the buffer moves to the payload */
        p->z_len = out.len;
    }
    /* `["EVENT","<id>",` as one stored block, written in place: its header
     * is filled in once the prefix's length is known (a subscription id
     * keeps it far below a block's 65,535 bytes). */
    size_t at = b->len;
    int rc = buf_append(b, "\0\0\0\0\0", 5);
    rc = rc == 0 ? proto_fmt_event(b, sub->id, sub->id_len, "", 0) : rc;
    if (rc < 0) {
        return rc;
    }
    b->len--; /* the ']' of the empty message */
    size_t n = b->len - at - 5;
    unsigned char *h = (unsigned char *)b->data + at;
    h[1] = (unsigned char)n;
    h[2] = (unsigned char)(n >> 8);
    h[3] = (unsigned char)~n;
    h[4] = (unsigned char)(~n >> 8);
    rc = buf_append(b, p->z, p->z_len);
    rc = rc == 0 ? wsdeflate_stored("]", 1, b) : rc;
    return rc == 0 ? wsdeflate_end(b) : rc;
}

/* Appends o to the batch in b as one complete frame. Returns 0, 1 when o
 * is for a subscription closed since it was queued (nothing appended), or
 * OST_ENOMEM. */
static int append_frame(struct conn *c, struct buf *b, const struct conn_out *o,
                        struct wsdeflate *z)
{
    size_t start = b->len;
    /* Room for the largest header; the message is moved up against the
     * real header once its length is known. */
    int rc = buf_reserve(b, 10 + o->len);
    if (rc < 0) {
        return rc;
    }
    b->len += 10;
    bool is_compressed = false;
    if (o->payload != NULL) {
        struct conn_sub *sub = conn_sub_find_key(c, o->sub_key);
        if (sub == NULL) {
            b->len = start;
            return 1;
        }
        is_compressed = c->is_deflate && z != NULL && o->payload->len >= WSDEFLATE_MIN_BYTES;
        rc = is_compressed
                 ? append_deflated(z, b, sub, o->payload)
                 : proto_fmt_event(b, sub->id, sub->id_len, o->payload->json, o->payload->len);
    } else {
        rc = buf_append(b, o->frame, o->len);
    }
    if (rc < 0) {
        b->len = start;
        return rc;
    }
    size_t msg_len = b->len - start - 10;
    unsigned char hdr[10];
    size_t h = frame_header(hdr, msg_len, is_compressed);
    memmove(b->data + start + h, b->data + start + 10, msg_len);
    memcpy(b->data + start, hdr, h);
    b->len = start + h + msg_len;
    return 0;
}

int conn_on_writeable(struct conn *c, struct buf *scratch, struct wsdeflate *z)
{
    if (c->is_closing || (c->is_close_after_flush && c->out_head == NULL)) {
        enum lws_close_status code = c->close_code != 0 ? (enum lws_close_status)c->close_code
                                                        : LWS_CLOSE_STATUS_POLICY_VIOLATION;
        lws_close_reason(c->wsi, code, (unsigned char *)c->close_reason, strlen(c->close_reason));
        return -1;
    }
    buf_reset(scratch);
    if (buf_reserve(scratch, LWS_PRE + 8) < 0) {
        return -1;
    }
    if (c->is_ping_due) {
        /* A write of its own: lws frames it, and a callback starts only
         * after the previous write has gone out whole, so it never lands
         * inside one of the raw frames below. The payload is not empty
         * because lws 4.1 passes on no pong without one. */
        static const char payload[] = "ostrich";
        c->is_ping_due = false;
        memcpy(scratch->data + LWS_PRE, payload, sizeof(payload) - 1);
        if (lws_write(c->wsi, (unsigned char *)scratch->data + LWS_PRE, sizeof(payload) - 1,
                      LWS_WRITE_PING) < 0) {
            return -1;
        }
        if (c->out_head != NULL || c->is_close_after_flush) {
            lws_callback_on_writable(c->wsi);
        }
        return 0;
    }
    /* Many queued messages go out in one write: they are framed here and
     * handed to lws as raw bytes, so a burst of OKs or of a REQ's events
     * costs one send(2) instead of one per message; with permessage-deflate
     * the event frames are compressed here too, since lws's own extension
     * never sees raw bytes. Bounded, so one busy connection cannot hold the io
     * thread for long; lws keeps any part the socket did not take and
     * calls back only once it is sent. */
    scratch->len = LWS_PRE;
    int n_frames = 0;
    while (c->out_head != NULL && n_frames < CONN_FRAMES_PER_WRITE &&
           scratch->len - LWS_PRE < CONN_BYTES_PER_WRITE) {
        struct conn_out *o = c->out_head;
        c->out_head = o->next;
        if (c->out_head == NULL) {
            c->out_tail = NULL;
        }
        c->out_bytes -= o->len;
        int rc = append_frame(c, scratch, o, z);
        c->n_events_written += rc == 0 && o->payload != NULL;
        payload_unref(o->payload);
        free(o);
        if (rc < 0) {
            return -1;
        }
        n_frames += rc == 0;
    }
    size_t len = scratch->len - LWS_PRE;
    if (len > 0) {
        int n = lws_write(c->wsi, (unsigned char *)scratch->data + LWS_PRE, len, LWS_WRITE_RAW);
        if (n < (int)len) {
            return -1;
        }
        c->n_bytes_written += len;
    }
    if (c->out_head != NULL || c->is_close_after_flush) {
        lws_callback_on_writable(c->wsi);
    }
    return 0;
}

void conn_close(struct conn *c, uint16_t code, const char *reason, bool is_after_flush)
{
    if (c->is_closing || c->is_close_after_flush) {
        return;
    }
    c->is_closing = !is_after_flush;
    c->is_close_after_flush = is_after_flush;
    c->close_code = code;
    c->close_reason = reason;
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_REASON_BASE, CONN_CLOSE_GRACE_S);
    lws_callback_on_writable(c->wsi);
}

void conn_ping(struct conn *c)
{
    c->is_ping_due = true;
    lws_callback_on_writable(c->wsi);
}

struct conn_sub *conn_sub_find(struct conn *c, const char *id, size_t id_len)
{
    for (uint32_t i = 0; i < c->n_subs; i++) {
        if (c->subs[i].id_len == id_len && memcmp(c->subs[i].id, id, id_len) == 0) {
            return &c->subs[i];
        }
    }
    return NULL;
}

struct conn_sub *conn_sub_find_key(struct conn *c, uint64_t key)
{
    for (uint32_t i = 0; i < c->n_subs; i++) {
        if (c->subs[i].key == key) {
            return &c->subs[i];
        }
    }
    return NULL;
}

struct conn_sub *conn_sub_add(struct conn *c, const char *id, size_t id_len, uint64_t key)
{
    if (c->n_subs >= c->limits->max_subs || id_len > PROTO_MAX_SUB_ID_LEN) {
        return NULL;
    }
    if (c->n_subs == c->cap_subs) {
        /* Grown on demand: a connection with one subscription should not
         * pay for max_subs of them. Callers hold no conn_sub pointer across
         * this call. */
        uint32_t cap = c->cap_subs ? 2 * c->cap_subs : 2;
        if (cap > c->limits->max_subs) {
            cap = c->limits->max_subs;
        }
        struct conn_sub *subs = realloc(c->subs, cap * sizeof(*subs));
        if (subs == NULL) {
            return NULL;
        }
        c->subs = subs;
        c->cap_subs = cap;
    }
    struct conn_sub *s = &c->subs[c->n_subs++];
    memset(s, 0, sizeof(*s));
    s->key = key;
    memcpy(s->id, id, id_len);
    s->id[id_len] = '\0';
    s->id_len = id_len;
    return s;
}

void conn_sub_remove(struct conn *c, struct conn_sub *sub)
{
    for (struct conn_out *o = sub->pending_head; o != NULL; o = o->next) {
        c->out_bytes -= o->len;
    }
    free_items(sub->pending_head);
    /* Keep the array dense: move the last subscription into the hole. */
    struct conn_sub *last = &c->subs[c->n_subs - 1];
    if (sub != last) {
        *sub = *last;
    }
    c->n_subs--;
}

static size_t slot_of(uint64_t id, size_t cap)
{
    /* Ids are sequential; a multiplicative hash spreads them. */
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 16) & (cap - 1);
}

int conn_table_init(struct conn_table *t)
{
    t->cap = 1024;
    t->count = 0;
    t->slots = calloc(t->cap, sizeof(*t->slots));
    return t->slots ? 0 : OST_ENOMEM;
}

void conn_table_fini(struct conn_table *t)
{
    free(t->slots);
    t->slots = NULL;
}

static void insert_slot(struct conn **slots, size_t cap, struct conn *c)
{
    size_t i = slot_of(c->conn_id, cap);
    while (slots[i] != NULL) {
        i = (i + 1) & (cap - 1);
    }
    slots[i] = c;
}

int conn_table_put(struct conn_table *t, struct conn *c)
{
    if ((t->count + 1) * 2 > t->cap) {
        size_t cap = t->cap * 2;
        struct conn **slots = calloc(cap, sizeof(*slots));
        if (slots == NULL) {
            return OST_ENOMEM;
        }
        for (size_t i = 0; i < t->cap; i++) {
            if (t->slots[i] != NULL) {
                insert_slot(slots, cap, t->slots[i]);
            }
        }
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    insert_slot(t->slots, t->cap, c);
    t->count++;
    return 0;
}

struct conn *conn_table_get(const struct conn_table *t, uint64_t conn_id)
{
    size_t i = slot_of(conn_id, t->cap);
    while (t->slots[i] != NULL) {
        if (t->slots[i]->conn_id == conn_id) {
            return t->slots[i];
        }
        i = (i + 1) & (t->cap - 1);
    }
    return NULL;
}

void conn_table_del(struct conn_table *t, uint64_t conn_id)
{
    size_t i = slot_of(conn_id, t->cap);
    while (t->slots[i] != NULL && t->slots[i]->conn_id != conn_id) {
        i = (i + 1) & (t->cap - 1);
    }
    if (t->slots[i] == NULL) {
        return;
    }
    t->slots[i] = NULL;
    t->count--;
    /* Re-insert the rest of the cluster so lookups never stop early at the
     * hole (linear probing deletion). */
    for (size_t j = (i + 1) & (t->cap - 1); t->slots[j] != NULL; j = (j + 1) & (t->cap - 1)) {
        struct conn *moved = t->slots[j];
        t->slots[j] = NULL;
        insert_slot(t->slots, t->cap, moved);
    }
}
