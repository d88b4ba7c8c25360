/*
 * Writes of the OpenSearch backend: batches of events through _bulk, with
 * NIP-09 and NIP-62 tombstones and deletions, and the NIP-40 purge.
 *
 * A batch, in order:
 *  1. Refusals: one _mget of the tombstones that could refuse each event
 *     (its id deleted by its author, its address deleted, its author
 *     vanished), plus the deletions made by earlier events of the same
 *     batch. A refused event that is already stored is reported as a
 *     duplicate, as the SQLite backend does (it looks for the id first).
 *  2. One _bulk with every other event and the tombstones of the deletion
 *     requests among them, refresh=wait_for when configured. OpenSearch
 *     decides duplicates ("create" of an existing id: 409) and old versions
 *     of replaceable and addressable events (an external version that is
 *     not higher: 409) itself, so relays sharing the cluster agree.
 *     Items that fail for a passing reason (429, 5xx) are sent again in a
 *     smaller _bulk until the bounded wait ends; the rest get their answer.
 *  3. A 409 on an address is read back once (_mget) to tell "this very
 *     event is stored" (duplicate) from "a newer version is" (replaced).
 *  4. Each stored (or already stored) deletion request deletes its targets
 *     with _delete_by_query. Doing it for a duplicate too makes a retried
 *     request finish what a failed attempt left half done.
 * Only events whose own item succeeded are reported stored, so OK true is
 * never sent for an event OpenSearch did not store. OpenSearch writes each
 * acknowledged bulk item to its translog before answering (the default
 * index.translog.durability "request"), which is what makes the OK
 * durable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hex.h"
#include "common/log.h"
#include "store/store.h"
#include "store/store_os_dsl.h"
#include "store/store_os_http.h"
#include "store/store_os_int.h"
#include "store/store_os_resp.h"
#include "validate/event.h"

#define KIND_DELETION 5

/* One action of the _bulk: an event or one of its tombstones. */
struct action {
    size_t ev;       /* the event it belongs to */
    bool is_tomb;    /* a tombstone line pair, not the event */
    bool is_pending; /* not answered yet */
    size_t off;      /* its two lines in the lines buffer */
    size_t len;
};

/* Per event of the batch. */
struct slot {
    bool is_done;     /* results[i] is final */
    bool is_conflict; /* replaceable or addressable 409: read back */
    bool is_tomb_failed;
    int pending_rc; /* the code if the wait ends with it pending */
    int found;      /* enum found, after read_back */
    char doc_id[STORE_OS_DOC_ID_CAP];
};

struct batch {
    struct store_os_conn *c;
    const struct event *const *evs;
    const struct store_deletion *const *dels;
    size_t n;
    struct store_result *results;
    struct slot *slots;
    struct action *acts;
    size_t n_acts;
    struct buf lines;
    struct store_os_bulk_item *items;
};

static void finish(struct batch *b, size_t i, enum store_status st, int rc)
{
    store_result_set(&b->results[i], st, rc);
    b->slots[i].is_done = true;
}

static void id_hex(const uint8_t id[32], char out[65])
{
    hex_encode(id, 32, out);
    out[64] = '\0';
}

/* Appends "\"<s>\"," to out (ids never need escaping). */
static int append_id(struct buf *out, const char *s)
{
    int rc = buf_append_char(out, '"');
    rc = rc == 0 ? buf_append_str(out, s) : rc;
    return rc == 0 ? buf_append_str(out, "\",") : rc;
}

/* Finishes {"ids":[ ... ,]} by replacing the last comma. */
static int close_ids(struct buf *out)
{
    if (out->len > 0 && out->data[out->len - 1] == ',') {
        out->len--;
    }
    return buf_append_str(out, "]}");
}

/* Step 1 */

/* The first "d" tag value of an addressable event, unescaped into d. */
static int event_d(const struct event *ev, struct buf *d)
{
    struct event_tag_iter tags, fields;
    struct json_str name, value;
    buf_reset(d);
    event_tags_begin(ev, &tags);
    while (event_tags_next(&tags, &fields)) {
        if (event_tag_next_str(&fields, &name) && json_str_equals(&name, "d", 1)) {
            return event_tag_next_str(&fields, &value) ? json_str_decode(&value, d) : 0;
        }
    }
    return 0;
}

/* Does the deletion del, made by dev, refuse ev? Mirrors the stored
 * tombstones for requests earlier in the same batch. */
static enum store_status refused_in_batch(const struct event *dev, const struct store_deletion *del,
                                          const struct event *ev, struct buf *d)
{
    if (memcmp(dev->pubkey, ev->pubkey, 32) != 0) {
        return STORE_STORED;
    }
    if (del->is_vanish && dev->created_at >= ev->created_at) {
        return STORE_VANISHED;
    }
    for (size_t k = 0; ev->kind != KIND_DELETION && k < del->n_ids; k++) {
        if (memcmp(del->ids[k], ev->id, 32) == 0) {
            return STORE_DELETED;
        }
    }
    bool is_addr = event_kind_is_addressable(ev->kind);
    if (!is_addr && !event_kind_is_replaceable(ev->kind)) {
        return STORE_STORED;
    }
    if (is_addr && event_d(ev, d) < 0) {
        return STORE_STORED; /* out of memory: the stored tombstone still counts */
    }
    for (size_t k = 0; k < del->n_addrs; k++) {
        const struct store_addr *a = &del->addrs[k];
        bool is_same = a->kind == ev->kind && memcmp(a->pubkey, ev->pubkey, 32) == 0 &&
                       (!is_addr || (a->d_len == d->len && memcmp(a->d, d->data, d->len) == 0));
        if (is_same && dev->created_at >= ev->created_at) {
            return STORE_DELETED;
        }
    }
    return STORE_STORED;
}

/* Tombstone ids asked per event: "v:", "i:" and, for an address, "a:". */
#define TOMBS_PER_EVENT 3

static int check_refusals(struct batch *b)
{
    struct store_os_conn *c = b->c;
    struct store_os *s = store_os__store(&c->base);
    struct store_os_mget_doc *docs = calloc(b->n * TOMBS_PER_EVENT, sizeof(*docs));
    struct buf d;
    buf_init(&d);
    if (docs == NULL) {
        return OST_ENOMEM;
    }
    buf_reset(&c->body);
    int rc = buf_append_str(&c->body, "{\"ids\":[");
    char id[STORE_OS_DOC_ID_CAP];
    for (size_t i = 0; i < b->n && rc == 0; i++) {
        const struct event *ev = b->evs[i];
        store_os_dsl_tomb_vanish_doc_id(ev->pubkey, id);
        rc = append_id(&c->body, id);
        store_os_dsl_tomb_id_doc_id(ev->id, ev->pubkey, id);
        rc = rc == 0 ? append_id(&c->body, id) : rc;
        /* A regular event's "address" is its id: never a tombstone. */
        store_os_dsl_event_doc_id(ev, id);
        rc = rc == 0 ? append_id(&c->body, id) : rc;
    }
    rc = rc == 0 ? close_ids(&c->body) : rc;
    rc = rc == 0 ? store_os__path(c, "/%s/_mget", s->del_index) : rc;
    long st;
    rc = rc == 0 ? store_os__request(c, "POST", NULL, STORE_OS_RETRY, "a tombstone read", &st) : rc;
    rc = rc == 0 ? store_os_resp_mget(c->resp.data, c->resp.len, docs, b->n * TOMBS_PER_EVENT) : rc;
    for (size_t i = 0; i < b->n && rc == 0; i++) {
        const struct event *ev = b->evs[i];
        const struct store_os_mget_doc *v = &docs[i * TOMBS_PER_EVENT];
        const struct store_os_mget_doc *del_id = v + 1, *addr = v + 2;
        enum store_status refusal = STORE_STORED;
        if (v->is_found && v->has_created_at && v->created_at >= ev->created_at) {
            refusal = STORE_VANISHED;
        } else if (ev->kind != KIND_DELETION && del_id->is_found) {
            refusal = STORE_DELETED;
        } else if (addr->is_found && addr->has_created_at && addr->created_at >= ev->created_at &&
                   (event_kind_is_replaceable(ev->kind) || event_kind_is_addressable(ev->kind))) {
            refusal = STORE_DELETED;
        }
        for (size_t j = 0; j < i && refusal == STORE_STORED; j++) {
            if (b->dels != NULL && b->dels[j] != NULL && !b->slots[j].is_done) {
                refusal = refused_in_batch(b->evs[j], b->dels[j], ev, &d);
            }
        }
        if (refusal != STORE_STORED) {
            finish(b, i, refusal, 0);
        }
    }
    free(docs);
    buf_fini(&d);
    return rc == OST_EPARSE ? OST_EIO : rc;
}

/* What the events index holds at an event's document id. */
enum found {
    FOUND_NONE = 0,
    FOUND_SAME,  /* this very event */
    FOUND_OTHER, /* another version of its address */
};

static bool is_picked(const struct slot *sl, bool want_conflicts)
{
    return want_conflicts ? sl->is_conflict : sl->is_done;
}

/* One _mget of the document ids of the picked events (the refused ones, or
 * the addresses that answered 409), filling their slots' found. */
static int read_back(struct batch *b, bool want_conflicts)
{
    struct store_os_conn *c = b->c;
    struct store_os *s = store_os__store(&c->base);
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        n += is_picked(&b->slots[i], want_conflicts);
    }
    if (n == 0) {
        return 0;
    }
    struct store_os_mget_doc *docs = calloc(n, sizeof(*docs));
    if (docs == NULL) {
        return OST_ENOMEM;
    }
    buf_reset(&c->body);
    int rc = buf_append_str(&c->body, "{\"ids\":[");
    for (size_t i = 0; i < b->n && rc == 0; i++) {
        if (is_picked(&b->slots[i], want_conflicts)) {
            store_os_dsl_event_doc_id(b->evs[i], b->slots[i].doc_id);
            rc = append_id(&c->body, b->slots[i].doc_id);
        }
    }
    rc = rc == 0 ? close_ids(&c->body) : rc;
    rc = rc == 0 ? store_os__path(c, "/%s/_mget?_source=id", s->index) : rc;
    long st;
    rc = rc == 0 ? store_os__request(c, "POST", NULL, STORE_OS_RETRY, "an event read", &st) : rc;
    rc = rc == 0 ? store_os_resp_mget(c->resp.data, c->resp.len, docs, n) : rc;
    for (size_t i = 0, k = 0; i < b->n && rc == 0; i++) {
        if (!is_picked(&b->slots[i], want_conflicts)) {
            continue;
        }
        char hex[65];
        id_hex(b->evs[i]->id, hex);
        b->slots[i].found = !docs[k].is_found                    ? FOUND_NONE
                            : strcmp(docs[k].event_id, hex) == 0 ? FOUND_SAME
                                                                 : FOUND_OTHER;
        k++;
    }
    free(docs);
    return rc == OST_EPARSE ? OST_EIO : rc;
}

/* A refused event that is stored after all (a request to vanish, which is
 * kept, sent again) is a duplicate. */
static int recheck_refused(struct batch *b)
{
    int rc = read_back(b, false);
    for (size_t i = 0; i < b->n && rc == 0; i++) {
        if (b->slots[i].is_done && b->slots[i].found == FOUND_SAME) {
            store_result_set(&b->results[i], STORE_DUPLICATE, 0);
        }
    }
    return rc;
}

/* Step 2 */

static int add_action(struct batch *b, size_t ev, bool is_tomb, size_t off)
{
    struct action *a = &b->acts[b->n_acts++];
    a->ev = ev;
    a->is_tomb = is_tomb;
    a->is_pending = true;
    a->off = off;
    a->len = b->lines.len - off;
    return 0;
}

/* The tombstones of a deletion request: what a later copy of a target
 * must be refused by. Addresses of other authors are not the requester's
 * to delete, and only replaceable and addressable kinds have one. */
static size_t count_tombs(const struct event *ev, const struct store_deletion *del)
{
    size_t n = del->n_ids + (del->is_vanish ? 1 : 0);
    for (size_t k = 0; k < del->n_addrs; k++) {
        const struct store_addr *a = &del->addrs[k];
        n += memcmp(a->pubkey, ev->pubkey, 32) == 0 &&
             (event_kind_is_replaceable(a->kind) || event_kind_is_addressable(a->kind));
    }
    return n;
}

static int build_lines(struct batch *b)
{
    struct store_os *s = store_os__store(&b->c->base);
    size_t cap = 0;
    for (size_t i = 0; i < b->n; i++) {
        const struct store_deletion *del = b->dels != NULL ? b->dels[i] : NULL;
        cap += 1 + (del != NULL ? count_tombs(b->evs[i], del) : 0);
    }
    b->acts = calloc(cap > 0 ? cap : 1, sizeof(*b->acts));
    b->items = calloc(cap > 0 ? cap : 1, sizeof(*b->items));
    if (b->acts == NULL || b->items == NULL) {
        return OST_ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < b->n && rc == 0; i++) {
        const struct event *ev = b->evs[i];
        const struct store_deletion *del = b->dels != NULL ? b->dels[i] : NULL;
        if (b->slots[i].is_done) {
            continue;
        }
        size_t off = b->lines.len;
        rc = store_os_dsl_bulk_event(s->index, ev, &b->lines);
        rc = rc == 0 ? add_action(b, i, false, off) : rc;
        for (size_t k = 0; del != NULL && k < del->n_ids && rc == 0; k++) {
            off = b->lines.len;
            rc = store_os_dsl_bulk_tomb_id(s->del_index, del->ids[k], ev->pubkey, ev->created_at,
                                           &b->lines);
            rc = rc == 0 ? add_action(b, i, true, off) : rc;
        }
        for (size_t k = 0; del != NULL && k < del->n_addrs && rc == 0; k++) {
            const struct store_addr *a = &del->addrs[k];
            if (memcmp(a->pubkey, ev->pubkey, 32) != 0 ||
                !(event_kind_is_replaceable(a->kind) || event_kind_is_addressable(a->kind))) {
                continue;
            }
            struct store_addr addr = *a;
            if (!event_kind_is_addressable(a->kind)) {
                addr.d = "";
                addr.d_len = 0;
            }
            off = b->lines.len;
            rc = store_os_dsl_bulk_tomb_addr(s->del_index, &addr, ev->created_at, &b->lines);
            rc = rc == 0 ? add_action(b, i, true, off) : rc;
        }
        if (del != NULL && del->is_vanish && rc == 0) {
            off = b->lines.len;
            rc = store_os_dsl_bulk_tomb_vanish(s->del_index, ev->pubkey, ev->created_at, &b->lines);
            rc = rc == 0 ? add_action(b, i, true, off) : rc;
        }
    }
    return rc;
}

static bool is_transient_status(int status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

/* Reads the answer to one _bulk round over the pending actions. */
static int read_items(struct batch *b, size_t n_sent)
{
    struct store_os_conn *c = b->c;
    int rc = store_os_resp_bulk(c->resp.data, c->resp.len, b->items, n_sent);
    if (rc < 0) {
        return OST_EIO;
    }
    size_t k = 0;
    for (size_t a = 0; a < b->n_acts; a++) {
        struct action *act = &b->acts[a];
        if (!act->is_pending) {
            continue;
        }
        const struct store_os_bulk_item *it = &b->items[k++];
        struct slot *sl = &b->slots[act->ev];
        if (is_transient_status(it->status)) {
            sl->pending_rc = it->status == 429 ? OST_EAGAIN : OST_EUNAVAIL;
            continue;
        }
        act->is_pending = false;
        if (act->is_tomb) {
            /* 409: a tombstone that reaches as far is already there. */
            if (!(it->status >= 200 && it->status < 300) && !it->is_conflict) {
                log_warn("storage: OpenSearch refused a deletion record (HTTP %d): %s", it->status,
                         it->err_type);
                sl->is_tomb_failed = true;
            }
            continue;
        }
        const struct event *ev = b->evs[act->ev];
        if (it->status >= 200 && it->status < 300) {
            finish(b, act->ev, STORE_STORED, 0);
        } else if (it->is_conflict &&
                   (event_kind_is_replaceable(ev->kind) || event_kind_is_addressable(ev->kind))) {
            sl->is_conflict = true;
        } else if (it->is_conflict) {
            finish(b, act->ev, STORE_DUPLICATE, 0);
        } else {
            log_warn("storage: OpenSearch refused an event (HTTP %d): %s", it->status,
                     it->err_type);
            finish(b, act->ev, STORE_FAILED, OST_EREJECT);
        }
    }
    return 0;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = { .tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L };
    nanosleep(&ts, NULL);
}

static int send_bulk(struct batch *b)
{
    struct store_os_conn *c = b->c;
    struct store_os *s = store_os__store(&c->base);
    uint64_t deadline = mono_ms() + s->retry_max_ms;
    uint32_t backoff = STORE_OS_HTTP_BACKOFF_FIRST_MS;
    /* Waiting for active shards longer than the request may take would
     * turn a red index into a timeout instead of an answer. */
    uint32_t shard_wait = s->request_timeout_ms > 2 ? s->request_timeout_ms / 2 : 1;
    int rc = store_os__path(c, "/_bulk?refresh=%s&timeout=%ums",
                            s->is_refresh_wait ? "wait_for" : "false", shard_wait);
    for (;;) {
        size_t n_sent = 0;
        buf_reset(&c->body);
        for (size_t a = 0; a < b->n_acts && rc == 0; a++) {
            if (b->acts[a].is_pending) {
                rc = buf_append(&c->body, b->lines.data + b->acts[a].off, b->acts[a].len);
                n_sent++;
            }
        }
        if (rc < 0 || n_sent == 0) {
            return rc;
        }
        long st;
        rc = store_os__request(c, "POST", "application/x-ndjson", STORE_OS_RETRY, "a bulk write",
                               &st);
        rc = rc == 0 ? read_items(b, n_sent) : rc;
        if (rc < 0) {
            return rc;
        }
        bool has_pending = false;
        for (size_t a = 0; a < b->n_acts; a++) {
            has_pending |= b->acts[a].is_pending;
        }
        uint64_t now = mono_ms();
        if (!has_pending || now >= deadline) {
            return 0;
        }
        uint32_t wait = backoff;
        if (now + wait > deadline) {
            wait = (uint32_t)(deadline - now);
        }
        sleep_ms(wait);
        backoff =
            backoff * 2 > STORE_OS_HTTP_BACKOFF_MAX_MS ? STORE_OS_HTTP_BACKOFF_MAX_MS : backoff * 2;
    }
}

/* Step 3 */

static int resolve_conflicts(struct batch *b)
{
    int rc = read_back(b, true);
    for (size_t i = 0; i < b->n && rc == 0; i++) {
        if (!b->slots[i].is_conflict) {
            continue;
        }
        switch (b->slots[i].found) {
        case FOUND_NONE:
            /* The newer version was deleted between the write and this
             * read: nothing is stored for the address now; try again. */
            finish(b, i, STORE_FAILED, OST_EAGAIN);
            break;
        case FOUND_SAME:
            finish(b, i, STORE_DUPLICATE, 0);
            break;
        case FOUND_OTHER:
            finish(b, i, STORE_REPLACED_OLDER, 0);
            break;
        }
    }
    return rc;
}

/* Step 4 */

static int delete_by_query(struct store_os_conn *c, const char *extra, uint64_t *deleted)
{
    struct store_os *s = store_os__store(&c->base);
    long st;
    int rc =
        store_os__path(c, "/%s/_delete_by_query?refresh=true&conflicts=proceed%s", s->index, extra);
    rc = rc == 0 ? store_os__request(c, "POST", NULL, STORE_OS_RETRY, "a deletion", &st) : rc;
    uint64_t n = 0;
    rc = rc == 0 ? store_os_resp_deleted(c->resp.data, c->resp.len, &n) : rc;
    if (rc == 0 && deleted != NULL) {
        *deleted = n;
    }
    return rc == OST_EPARSE ? OST_EIO : rc;
}

/* A _delete_by_query reads what searches see: events written since the
 * last refresh are only there after one. */
static int refresh_for_delete(struct store_os_conn *c)
{
    struct store_os *s = store_os__store(&c->base);
    if (s->is_refresh_wait) {
        return 0;
    }
    long st;
    buf_reset(&c->body);
    int rc = store_os__path(c, "/%s/_refresh", s->index);
    return rc == 0 ? store_os__request(c, "POST", NULL, STORE_OS_RETRY, "a refresh", &st) : rc;
}

static int apply_deletion(struct store_os_conn *c, const struct event *ev,
                          const struct store_deletion *del)
{
    int rc = 0;
    if (del->n_ids > 0) {
        buf_reset(&c->body);
        rc = store_os_dsl_delete_ids_body(del->ids, del->n_ids, ev->pubkey, true, &c->body);
        rc = rc == 0 ? delete_by_query(c, "", NULL) : rc;
    }
    for (size_t k = 0; k < del->n_addrs && rc == 0; k++) {
        struct store_addr a = del->addrs[k];
        if (memcmp(a.pubkey, ev->pubkey, 32) != 0 ||
            !(event_kind_is_replaceable(a.kind) || event_kind_is_addressable(a.kind))) {
            continue;
        }
        if (!event_kind_is_addressable(a.kind)) {
            a.d = "";
            a.d_len = 0;
        }
        buf_reset(&c->body);
        rc = store_os_dsl_delete_addr_body(&a, ev->created_at, &c->body);
        rc = rc == 0 ? delete_by_query(c, "", NULL) : rc;
    }
    if (del->is_vanish && rc == 0) {
        buf_reset(&c->body);
        rc = store_os_dsl_delete_vanish_body(ev->pubkey, ev->created_at, ev->id, &c->body);
        rc = rc == 0 ? delete_by_query(c, "", NULL) : rc;
    }
    return rc;
}

static void apply_deletions(struct batch *b)
{
    bool is_refreshed = false;
    for (size_t i = 0; i < b->n && b->dels != NULL; i++) {
        enum store_status st = b->results[i].status;
        if (b->dels[i] == NULL || (st != STORE_STORED && st != STORE_DUPLICATE)) {
            continue;
        }
        int rc = is_refreshed ? 0 : refresh_for_delete(b->c);
        is_refreshed = rc == 0;
        rc = rc == 0 ? apply_deletion(b->c, b->evs[i], b->dels[i]) : rc;
        if (rc < 0) {
            /* The request is stored but its targets may not all be gone:
             * OK false makes the client send it again, and the duplicate
             * then runs the deletion once more. */
            store_result_set(&b->results[i], STORE_FAILED, rc);
        }
    }
}

/* The batch */

int store_os__write_batch(struct store_conn *base, const struct event *const *evs,
                          const struct store_deletion *const *dels, size_t n,
                          struct store_result *results)
{
    struct store_os_conn *c = store_os__conn(base);
    struct store_os *s = store_os__store(base);
    struct batch b = { .c = c, .evs = evs, .dels = dels, .n = n, .results = results };
    buf_init(&b.lines);
    b.slots = calloc(n > 0 ? n : 1, sizeof(*b.slots));
    int rc = b.slots != NULL ? 0 : OST_ENOMEM;
    rc = rc == 0 && n > 0 ? store_os__ready(c, STORE_OS_RETRY) : rc;
    rc = rc == 0 && n > 0 ? check_refusals(&b) : rc;
    rc = rc == 0 && n > 0 ? recheck_refused(&b) : rc;
    rc = rc == 0 ? build_lines(&b) : rc;
    /* From here on some events may be stored, so failures are per event
     * and the batch returns 0 with each event's own answer. */
    int send_rc = rc == 0 ? send_bulk(&b) : 0;
    int read_rc = rc == 0 && send_rc == 0 ? resolve_conflicts(&b) : 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct slot *sl = &b.slots[i];
        if (!sl->is_done) {
            int why = send_rc < 0          ? send_rc
                      : read_rc < 0        ? read_rc
                      : sl->pending_rc < 0 ? sl->pending_rc
                                           : OST_EUNAVAIL;
            store_result_set(&results[i], STORE_FAILED, why);
        } else if (sl->is_tomb_failed && results[i].status == STORE_STORED) {
            store_result_set(&results[i], STORE_FAILED, OST_EIO);
        }
    }
    if (rc == 0) {
        apply_deletions(&b);
        for (size_t i = 0; i < n; i++) {
            if (results[i].status == STORE_STORED) {
                results[i].seq = atomic_fetch_add(&s->seq_next, 1) + 1;
            }
        }
        atomic_store(&s->seq_done, atomic_load(&s->seq_next));
    }
    buf_fini(&b.lines);
    free(b.items);
    free(b.acts);
    free(b.slots);
    return rc;
}

/* Deletions by id and the NIP-40 purge */

int store_os__delete_ids(struct store_conn *base, const uint8_t (*ids)[32], size_t n,
                         const uint8_t *pubkey)
{
    struct store_os_conn *c = store_os__conn(base);
    if (n == 0) {
        return 0;
    }
    int rc = store_os__ready(c, STORE_OS_RETRY);
    rc = rc == 0 ? refresh_for_delete(c) : rc;
    buf_reset(&c->body);
    rc = rc == 0 ? store_os_dsl_delete_ids_body(ids, n, pubkey, false, &c->body) : rc;
    uint64_t deleted = 0;
    rc = rc == 0 ? delete_by_query(c, "", &deleted) : rc;
    return rc < 0 ? rc : (int)deleted;
}

struct id_list {
    uint8_t (*ids)[32];
    size_t n;
    size_t cap;
};

static int collect_id(void *ud, const char *json, size_t len)
{
    struct id_list *l = ud;
    if (l->n == l->cap) {
        return OST_EIO; /* more hits than the size asked for */
    }
    return event_peek_id(json, len, l->ids[l->n++]) < 0 ? OST_EIO : 0;
}

/* Earliest expiration first, as the contract asks: a sorted search picks
 * the events, then they are deleted by id (a _delete_by_query alone
 * deletes in no particular order). */
int store_os__purge_expired(struct store_conn *base, uint32_t max_n)
{
    struct store_os_conn *c = store_os__conn(base);
    struct store_os *s = store_os__store(base);
    if (max_n == 0) {
        return 0;
    }
    struct id_list l = { calloc(max_n, 32), 0, max_n };
    if (l.ids == NULL) {
        return OST_ENOMEM;
    }
    int rc = store_os__ready(c, STORE_OS_RETRY);
    buf_reset(&c->body);
    rc = rc == 0 ? store_os_dsl_expired_search_body(store_os__now(s), max_n, &c->body) : rc;
    rc = rc == 0 ? store_os__path(c, "/%s/_search", s->index) : rc;
    long st;
    rc = rc == 0 ? store_os__request(c, "POST", NULL, STORE_OS_RETRY, "a purge search", &st) : rc;
    size_t n_hits = 0;
    rc = rc == 0 ? store_os_resp_search(c->resp.data, c->resp.len, collect_id, &l, &n_hits, NULL)
                 : rc;
    uint64_t deleted = 0;
    if (rc == 0 && l.n > 0) {
        buf_reset(&c->body);
        rc = store_os_dsl_delete_ids_body((const uint8_t(*)[32])l.ids, l.n, NULL, false, &c->body);
        rc = rc == 0 ? delete_by_query(c, "", &deleted) : rc;
    }
    free(l.ids);
    rc = rc == OST_EPARSE ? OST_EIO : rc;
    return rc < 0 ? rc : (int)deleted;
}
