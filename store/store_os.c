/*
 * The OpenSearch backend: opening, handles, requests and availability,
 * queries and counts. Writes are in store_os_write.c.
 *
 * Queries. One filter is one _search, its hits streamed to the caller in
 * the order OpenSearch sorted them (created_at descending then id, or by
 * relevance first for NIP-50), paged with search_after when its limit is
 * larger than a page. Several filters are one _msearch; each filter keeps
 * its own limit, and the union is sorted by (created_at, id) and
 * de-duplicated in memory before it is streamed, as the SQLite backend
 * does. Every query leaves out expired events (NIP-40) against the
 * store's clock.
 *
 * Snapshots. A query reports as its snapshot the sequence number of the
 * last batch that had returned when it started. With refresh_wait on, a
 * batch returns only once its events are searchable, so every event up to
 * that number was visible to the query, which is the join rule the relay
 * relies on; with it off, an event may become searchable up to one refresh
 * interval after its OK (the price of that setting).
 */
#include "store/store_os.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <stdarg.h>

#include "common/err.h"
#include "common/log.h"
#include "filters/filter.h"
#include "store/store_os_dsl.h"
#include "store/store_os_http.h"
#include "store/store_os_int.h"
#include "store/store_os_resp.h"
#include "validate/event.h"

/* Hits asked for in one _search; larger limits page with search_after. */
#define PAGE_HITS 2500
/* Pubkey buckets per page of a NIP-45 count. */
#define PUBKEY_PAGE 1000
/* OpenSearch's own limit on index names, in bytes. */
#define INDEX_NAME_MAX 255
/* Room for "-deletions". */
#define DEL_SUFFIX "-deletions"

static int64_t system_clock(void *ud)
{
    (void)ud;
    return (int64_t)time(NULL);
}

int64_t store_os__now(struct store_os *s)
{
    return s->clock(s->clock_ud);
}

int store_os__path(struct store_os_conn *c, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof(tmp)) {
        return OST_EINVAL;
    }
    buf_reset(&c->path);
    return buf_append(&c->path, tmp, (size_t)len);
}

static void set_available(struct store_os *s, bool is_up, const char *why)
{
    bool was = atomic_exchange(&s->is_available, is_up);
    if (was && !is_up) {
        log_warn("storage: OpenSearch at %s is unavailable (%s); events are refused with "
                 "\"error: storage unavailable\" until it answers again",
                 store_os_http_url(s->http), why);
    } else if (!was && is_up) {
        log_info("storage: OpenSearch at %s answers again", store_os_http_url(s->http));
    }
}

int store_os__request(struct store_os_conn *c, const char *method, const char *content_type,
                      enum store_os_try how, const char *what, long *status)
{
    struct store_os *s = store_os__store(&c->base);
    const char *path = buf_cstr(&c->path);
    const char *body = c->body.len > 0 ? c->body.data : NULL;
    if (path == NULL) {
        return OST_ENOMEM;
    }
    /* Retrying a cluster that was already down when this request began
     * would hold every queued batch for the whole wait. */
    bool is_retry = how == STORE_OS_RETRY && atomic_load(&s->is_available);
    long st = 0;
    int rc = is_retry ? store_os_http_request_retry(c->http, method, path, content_type, body,
                                                    c->body.len, &st, &c->resp)
                      : store_os_http_request(c->http, method, path, content_type, body,
                                              c->body.len, &st, &c->resp);
    if (rc == OST_ENOMEM) {
        return rc;
    }
    if (rc < 0) {
        const char *why = store_os_http_last_error(c->http);
        set_available(s, false, why[0] != '\0' ? why : ost_strerror(rc));
        return OST_EUNAVAIL;
    }
    if (st == 502 || st == 503 || st == 504) {
        char err[160];
        store_os_resp_error(c->resp.data, c->resp.len, err, sizeof(err));
        set_available(s, false, err);
        return OST_EUNAVAIL;
    }
    set_available(s, true, NULL);
    *status = st;
    if (st >= 200 && st < 300) {
        return 0;
    }
    if (st == 404) {
        return OST_ENOENT;
    }
    if (st == 429) {
        return OST_EAGAIN;
    }
    char err[200];
    store_os_resp_error(c->resp.data, c->resp.len, err, sizeof(err));
    log_warn("storage: OpenSearch refused %s (HTTP %ld): %s", what, st, err);
    return OST_EIO;
}

/* Opening: index checks */

/* Checks the mapping of one index, creating the index when it is missing.
 * A create that loses a race with another relay's create finds the index
 * there and checks it like any other. */
static int ready_index(struct store_os_conn *c, const char *index, bool is_events,
                       enum store_os_try how)
{
    struct store_os *s = store_os__store(&c->base);
    long st;
    for (int attempt = 0; attempt < 2; attempt++) {
        buf_reset(&c->body);
        int rc = store_os__path(c, "/%s/_mapping", index);
        rc = rc == 0 ? store_os__request(c, "GET", NULL, how, "a mapping read", &st) : rc;
        if (rc == 0) {
            struct buf problem;
            buf_init(&problem);
            rc = store_os_resp_mapping_check(c->resp.data, c->resp.len, index, is_events, &problem);
            if (rc == OST_EINVAL && !atomic_exchange(&s->is_mismatch_logged, true)) {
                log_error("storage: %s; use another [storage.opensearch] index, or delete this "
                          "one to let the relay create it",
                          problem.len > 0 ? buf_cstr(&problem) : "mapping does not fit");
            } else if (rc == OST_EPARSE) {
                log_error("storage: cannot read the mapping of OpenSearch index \"%s\"", index);
                rc = OST_EIO;
            }
            buf_fini(&problem);
            return rc;
        }
        if (rc != OST_ENOENT) {
            return rc;
        }
        buf_reset(&c->body);
        rc = is_events ? store_os_dsl_events_index(&s->index_opts, &c->body)
                       : store_os_dsl_deletions_index(&s->index_opts, &c->body);
        rc = rc == 0 ? store_os__path(c, "/%s", index) : rc;
        rc = rc == 0 ? store_os__request(c, "PUT", NULL, how, "an index creation", &st) : rc;
        if (rc == 0) {
            log_info("storage: created OpenSearch index \"%s\"", index);
            return 0;
        }
        /* 400 resource_already_exists_exception: someone else made it
         * meanwhile; read its mapping on the next pass. */
        if (rc != OST_EIO) {
            return rc;
        }
    }
    return OST_EIO;
}

int store_os__ready(struct store_os_conn *c, enum store_os_try how)
{
    struct store_os *s = store_os__store(&c->base);
    if (atomic_load(&s->is_ready)) {
        return 0;
    }
    int rc = ready_index(c, s->index, true, how);
    rc = rc == 0 ? ready_index(c, s->del_index, false, how) : rc;
    if (rc == 0) {
        atomic_store(&s->is_ready, true);
    }
    return rc;
}

/* Handles */

static int os_conn_open(struct store *base, enum store_role role, struct store_conn **out)
{
    struct store_os *s = (struct store_os *)base;
    struct store_os_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return OST_ENOMEM;
    }
    c->base.store = base;
    c->base.role = role;
    buf_init(&c->path);
    buf_init(&c->body);
    buf_init(&c->resp);
    buf_init(&c->aux);
    buf_init(&c->raws);
    int rc = store_os_http_new(s->http, &c->http);
    if (rc < 0) {
        free(c);
        return rc;
    }
    *out = &c->base;
    return 0;
}

static void os_conn_close(struct store_conn *base)
{
    struct store_os_conn *c = store_os__conn(base);
    store_os_http_free(c->http);
    buf_fini(&c->path);
    buf_fini(&c->body);
    buf_fini(&c->resp);
    buf_fini(&c->aux);
    buf_fini(&c->raws);
    free(c);
}

/* Queries */

static bool is_live(const struct filter *f)
{
    return filter_limit(f) > 0 && !filter_never_matches(f);
}

struct one_ctx {
    store_event_fn fn;
    void *ud;
};

static int one_hit(void *ud, const char *json, size_t len)
{
    struct one_ctx *x = ud;
    return x->fn(x->ud, json, len);
}

/* One filter, streamed in OpenSearch's order, page after page. */
static int query_one(struct store_os_conn *c, const struct filter *f, int64_t now,
                     store_event_fn fn, void *ud, bool *is_complete)
{
    struct store_os *s = store_os__store(&c->base);
    struct one_ctx x = { fn, ud };
    uint32_t left = filter_limit(f);
    uint32_t got = 0;
    int rc = store_os__path(c, "/%s/_search", s->index);
    buf_reset(&c->aux);
    while (rc == 0 && left > 0) {
        uint32_t size = left < PAGE_HITS ? left : PAGE_HITS;
        buf_reset(&c->body);
        rc = store_os_dsl_search_body(f, now, size, c->aux.len > 0 ? c->aux.data : NULL, c->aux.len,
                                      &c->body);
        long st;
        rc = rc == 0 ? store_os__request(c, "POST", NULL, STORE_OS_ONCE, "a search", &st) : rc;
        size_t n_hits = 0;
        rc = rc == 0
                 ? store_os_resp_search(c->resp.data, c->resp.len, one_hit, &x, &n_hits, &c->aux)
                 : rc;
        if (rc < 0) {
            break;
        }
        got += (uint32_t)n_hits;
        left -= (uint32_t)n_hits;
        if (n_hits < size) {
            break;
        }
    }
    *is_complete = got < filter_limit(f);
    return rc == OST_EPARSE ? OST_EIO : rc;
}

/* A result kept for the merge of several filters: its sort key and where
 * its JSON is in c->raws. */
struct merged {
    int64_t created_at;
    uint8_t id[32];
    size_t off;
    size_t len;
};

struct merge_ctx {
    struct store_os_conn *c;
    struct merged *rows;
    size_t n;
    size_t cap;
};

static int keep_hit(void *ud, const char *json, size_t len)
{
    struct merge_ctx *m = ud;
    struct event ev;
    const char *reason;
    struct event_limits lim = { .max_tags = UINT32_MAX, .max_content_len = UINT32_MAX };
    if (event_parse(json, len, &lim, &ev, &reason) < 0) {
        return OST_EIO; /* the store holds only events that parsed */
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 256;
        struct merged *grown = realloc(m->rows, cap * sizeof(*grown));
        if (grown == NULL) {
            return OST_ENOMEM;
        }
        m->rows = grown;
        m->cap = cap;
    }
    struct merged *r = &m->rows[m->n];
    r->created_at = ev.created_at;
    memcpy(r->id, ev.id, 32);
    r->off = m->c->raws.len;
    r->len = len;
    int rc = buf_append(&m->c->raws, json, len);
    if (rc == 0) {
        m->n++;
    }
    return rc;
}

static int cmp_merged(const void *pa, const void *pb)
{
    const struct merged *a = pa, *b = pb;
    if (a->created_at != b->created_at) {
        return a->created_at > b->created_at ? -1 : 1;
    }
    return memcmp(a->id, b->id, 32);
}

/* Per filter of a merge: its hits so far and the sort key of the last. */
struct page_state {
    uint32_t got;
    uint32_t last_size; /* hits asked for in its last page */
    size_t last_hits;
    struct buf last_sort;
};

struct msearch_ctx {
    struct merge_ctx *m;
    struct page_state *ps;
};

static int on_response(void *ud, size_t i, int status, const char *body, size_t len)
{
    struct msearch_ctx *x = ud;
    if (status >= 400) {
        char err[200];
        store_os_resp_error(body, len, err, sizeof(err));
        log_warn("storage: OpenSearch refused a search (HTTP %d): %s", status, err);
        return status == 429 ? OST_EAGAIN : status >= 500 ? OST_EUNAVAIL : OST_EIO;
    }
    struct page_state *p = &x->ps[i];
    int rc = store_os_resp_search(body, len, keep_hit, x->m, &p->last_hits, &p->last_sort);
    p->got += (uint32_t)p->last_hits;
    return rc;
}

static uint32_t page_size(const struct filter *f, uint32_t got)
{
    uint32_t left = filter_limit(f) - got;
    return left < PAGE_HITS ? left : PAGE_HITS;
}

/* Several filters: their first pages in one _msearch, further pages of a
 * filter with a large limit each after its own last sort key, then the
 * merge. */
static int query_merge(struct store_os_conn *c, const struct filter **live, size_t n_live,
                       int64_t now, store_event_fn fn, void *ud, bool *is_complete)
{
    struct store_os *s = store_os__store(&c->base);
    struct merge_ctx m = { .c = c };
    struct page_state *ps = calloc(n_live, sizeof(*ps));
    if (ps == NULL) {
        return OST_ENOMEM;
    }
    for (size_t i = 0; i < n_live; i++) {
        buf_init(&ps[i].last_sort);
    }
    buf_reset(&c->raws);
    buf_reset(&c->body);
    int rc = 0;
    for (size_t i = 0; i < n_live && rc == 0; i++) {
        ps[i].last_size = page_size(live[i], 0);
        rc = buf_append_str(&c->body, "{}\n");
        rc = rc == 0 ? store_os_dsl_search_body(live[i], now, ps[i].last_size, NULL, 0, &c->body)
                     : rc;
        rc = rc == 0 ? buf_append_char(&c->body, '\n') : rc;
    }
    long st;
    rc = rc == 0 ? store_os__path(c, "/%s/_msearch", s->index) : rc;
    rc = rc == 0 ? store_os__request(c, "POST", "application/x-ndjson", STORE_OS_ONCE,
                                     "a multi-search", &st)
                 : rc;
    struct msearch_ctx x = { &m, ps };
    rc = rc == 0 ? store_os_resp_msearch(c->resp.data, c->resp.len, n_live, on_response, &x) : rc;
    for (size_t i = 0; i < n_live && rc == 0; i++) {
        struct page_state *p = &ps[i];
        rc = store_os__path(c, "/%s/_search", s->index);
        while (rc == 0 && p->last_hits == p->last_size && p->got < filter_limit(live[i])) {
            p->last_size = page_size(live[i], p->got);
            buf_reset(&c->body);
            rc = store_os_dsl_search_body(live[i], now, p->last_size, p->last_sort.data,
                                          p->last_sort.len, &c->body);
            rc = rc == 0 ? store_os__request(c, "POST", NULL, STORE_OS_ONCE, "a search", &st) : rc;
            rc = rc == 0 ? store_os_resp_search(c->resp.data, c->resp.len, keep_hit, &m,
                                                &p->last_hits, &p->last_sort)
                         : rc;
            p->got += rc == 0 ? (uint32_t)p->last_hits : 0;
        }
        *is_complete &= p->got < filter_limit(live[i]);
    }
    if (rc == 0 && m.n > 1) {
        qsort(m.rows, m.n, sizeof(*m.rows), cmp_merged);
    }
    for (size_t i = 0; i < m.n && rc == 0; i++) {
        if (i > 0 && memcmp(m.rows[i].id, m.rows[i - 1].id, 32) == 0) {
            continue; /* equal keys sort next to each other */
        }
        rc = fn(ud, c->raws.data + m.rows[i].off, m.rows[i].len);
    }
    for (size_t i = 0; i < n_live; i++) {
        buf_fini(&ps[i].last_sort);
    }
    free(ps);
    free(m.rows);
    return rc == OST_EPARSE ? OST_EIO : rc;
}

static int os_query(struct store_conn *base, const struct filter *const *filters, size_t n,
                    store_event_fn fn, void *ud, struct store_snapshot *snap)
{
    struct store_os_conn *c = store_os__conn(base);
    struct store_os *s = store_os__store(base);
    /* What the query can see: every batch that returned before it began. */
    uint64_t seq = atomic_load(&s->seq_done);
    const struct filter **live = calloc(n > 0 ? n : 1, sizeof(*live));
    if (live == NULL) {
        return OST_ENOMEM;
    }
    size_t n_live = 0;
    bool is_complete = true;
    for (size_t i = 0; i < n; i++) {
        if (is_live(filters[i])) {
            live[n_live++] = filters[i];
        } else if (!filter_never_matches(filters[i])) {
            is_complete = false; /* limit 0: whatever matches was not sent */
        }
    }
    int rc = n_live > 0 ? store_os__ready(c, STORE_OS_ONCE) : 0;
    int64_t now = store_os__now(s);
    if (rc == 0 && n_live == 1) {
        bool one_complete;
        rc = query_one(c, live[0], now, fn, ud, &one_complete);
        is_complete &= one_complete;
    } else if (rc == 0 && n_live > 1) {
        rc = query_merge(c, live, n_live, now, fn, ud, &is_complete);
    }
    free(live);
    if (rc == 0 && snap != NULL) {
        snap->seq = seq;
        snap->is_complete = is_complete;
    }
    return rc;
}

/* Counts */

struct pk_ctx {
    store_pubkey_fn fn;
    void *ud;
};

static void on_pubkey(void *ud, const uint8_t pubkey[32])
{
    struct pk_ctx *x = ud;
    x->fn(x->ud, pubkey);
}

/* NIP-45: the distinct pubkeys of the counted events, a page of buckets at
 * a time. HyperLogLog registers keep a maximum, so one call per distinct
 * pubkey gives the same registers as one per event. */
static int stream_pubkeys(struct store_os_conn *c, const struct filter *const *live, size_t n_live,
                          int64_t now, store_pubkey_fn fn, void *ud)
{
    struct store_os *s = store_os__store(&c->base);
    struct pk_ctx x = { fn, ud };
    struct buf after;
    buf_init(&after);
    int rc = store_os__path(c, "/%s/_search", s->index);
    for (;;) {
        buf_reset(&c->body);
        rc = rc == 0
                 ? store_os_dsl_pubkeys_body(live, n_live, now, PUBKEY_PAGE,
                                             after.len > 0 ? after.data : NULL, after.len, &c->body)
                 : rc;
        long st;
        rc = rc == 0 ? store_os__request(c, "POST", NULL, STORE_OS_ONCE, "a count", &st) : rc;
        size_t n_buckets = 0;
        rc = rc == 0 ? store_os_resp_pubkeys(c->resp.data, c->resp.len, on_pubkey, &x, &n_buckets,
                                             &after)
                     : rc;
        if (rc < 0 || after.len == 0 || n_buckets == 0) {
            break;
        }
    }
    buf_fini(&after);
    return rc;
}

static int os_count(struct store_conn *base, const struct filter *const *filters, size_t n,
                    store_pubkey_fn fn, void *ud, uint64_t *out)
{
    struct store_os_conn *c = store_os__conn(base);
    struct store_os *s = store_os__store(base);
    const struct filter **live = calloc(n > 0 ? n : 1, sizeof(*live));
    if (live == NULL) {
        return OST_ENOMEM;
    }
    size_t n_live = 0;
    for (size_t i = 0; i < n; i++) {
        if (!filter_never_matches(filters[i])) {
            live[n_live++] = filters[i];
        }
    }
    uint64_t count = 0;
    int rc = n_live > 0 ? store_os__ready(c, STORE_OS_ONCE) : 0;
    int64_t now = store_os__now(s);
    if (rc == 0 && n_live > 0) {
        buf_reset(&c->body);
        rc = store_os_dsl_count_body(live, n_live, now, &c->body);
        rc = rc == 0 ? store_os__path(c, "/%s/_count", s->index) : rc;
        long st;
        rc = rc == 0 ? store_os__request(c, "POST", NULL, STORE_OS_ONCE, "a count", &st) : rc;
        rc = rc == 0 ? store_os_resp_count(c->resp.data, c->resp.len, &count) : rc;
    }
    if (rc == 0 && n_live > 0 && fn != NULL && count > 0) {
        rc = stream_pubkeys(c, live, n_live, now, fn, ud);
    }
    free(live);
    if (rc == 0) {
        *out = count;
    }
    return rc == OST_EPARSE ? OST_EIO : rc;
}

/* Lifecycle */

static void os_close(struct store *base)
{
    struct store_os *s = (struct store_os *)base;
    store_os_http_shared_free(s->http);
    free(s->index);
    free(s->del_index);
    free(s->refresh_interval);
    free(s);
}

static const struct store_ops os_ops = {
    .name = "opensearch",
    .close = os_close,
    .conn_open = os_conn_open,
    .conn_close = os_conn_close,
    .write_batch = store_os__write_batch,
    .query = os_query,
    .count = os_count,
    .delete_ids = store_os__delete_ids,
    .purge_expired = store_os__purge_expired,
};

/* OpenSearch's rules for an index name, so a bad name is refused at start
 * with the reason instead of by the first request. */
static const char *index_name_problem(const char *name)
{
    if (name == NULL || name[0] == '\0') {
        return "is empty";
    }
    if (strlen(name) + strlen(DEL_SUFFIX) > INDEX_NAME_MAX) {
        return "is too long";
    }
    if (name[0] == '-' || name[0] == '_' || name[0] == '+' || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0) {
        return "starts with -, _ or +, or is . or ..";
    }
    for (const char *p = name; *p != '\0'; p++) {
        if ((*p >= 'A' && *p <= 'Z') || strchr("\\/*?\"<>| ,#:", *p) != NULL) {
            return "has upper-case letters or one of \\ / * ? \" < > | space , # :";
        }
    }
    return NULL;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int store_os_open(const struct store_options *opt, struct store **out)
{
    const char *problem = index_name_problem(opt->opensearch.index);
    if (problem != NULL) {
        log_error("storage.opensearch.index \"%s\" %s",
                  opt->opensearch.index ? opt->opensearch.index : "", problem);
        return OST_EINVAL;
    }
    struct store_os *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return OST_ENOMEM;
    }
    s->base.ops = &os_ops;
    s->clock = opt->clock != NULL ? opt->clock : system_clock;
    s->clock_ud = opt->clock_ud;
    s->is_refresh_wait = opt->opensearch.is_refresh_wait;
    s->request_timeout_ms = opt->opensearch.request_timeout_ms > 0
                                ? opt->opensearch.request_timeout_ms
                                : STORE_OS_HTTP_REQUEST_TIMEOUT_MS;
    s->retry_max_ms = opt->opensearch.retry_max_ms > 0 ? opt->opensearch.retry_max_ms
                                                       : STORE_OS_HTTP_RETRY_MAX_MS;
    size_t len = strlen(opt->opensearch.index);
    s->index = strdup(opt->opensearch.index);
    s->del_index = malloc(len + sizeof(DEL_SUFFIX));
    const char *ri = opt->opensearch.refresh_interval;
    s->refresh_interval = strdup(ri != NULL && ri[0] != '\0' ? ri : "1s");
    int rc = 0;
    if (s->index == NULL || s->del_index == NULL || s->refresh_interval == NULL) {
        rc = OST_ENOMEM;
        goto fail;
    }
    memcpy(s->del_index, s->index, len);
    memcpy(s->del_index + len, DEL_SUFFIX, sizeof(DEL_SUFFIX));
    s->index_opts.shards = opt->opensearch.shards;
    s->index_opts.replicas = opt->opensearch.replicas;
    s->index_opts.refresh_interval = s->refresh_interval;
    atomic_init(&s->is_ready, false);
    atomic_init(&s->is_available, true);
    atomic_init(&s->is_mismatch_logged, false);
    /* Sequence numbers only order this process's writes, but the contract
     * wants them to grow across restarts too: start from the clock in
     * microseconds, which no batch of a previous run can have passed. */
    atomic_init(&s->seq_next, now_us());
    atomic_init(&s->seq_done, atomic_load(&s->seq_next));
    struct store_os_http_opts ho = {
        .url = opt->opensearch.url,
        .username = opt->opensearch.username,
        .password = opt->opensearch.password,
        .ca_file = opt->opensearch.ca_file,
        .is_tls_verify = opt->opensearch.is_tls_verify,
        .connect_timeout_ms = opt->opensearch.connect_timeout_ms,
        .request_timeout_ms = opt->opensearch.request_timeout_ms,
        .retry_max_ms = opt->opensearch.retry_max_ms,
    };
    rc = store_os_http_shared_new(&ho, &s->http);
    if (rc < 0) {
        if (rc == OST_EINVAL) {
            log_error("storage.opensearch.url \"%s\": expected an http:// or https:// URL",
                      opt->opensearch.url ? opt->opensearch.url : "");
        }
        goto fail;
    }
    /* One look at the cluster now, so a misfit index stops the relay at
     * start with its reason; an unreachable cluster does not. */
    struct store_conn *probe;
    rc = os_conn_open(&s->base, STORE_ROLE_WRITER, &probe);
    if (rc < 0) {
        goto fail;
    }
    rc = store_os__ready(store_os__conn(probe), STORE_OS_ONCE);
    char why[160];
    snprintf(why, sizeof(why), "%s", store_os_http_last_error(store_os__conn(probe)->http));
    os_conn_close(probe);
    if (rc == OST_EINVAL || rc == OST_ENOMEM) {
        goto fail;
    }
    if (rc < 0) {
        log_warn("storage: OpenSearch at %s cannot be used yet (%s); the relay starts and "
                 "checks its indexes again on each request",
                 store_os_http_url(s->http), why[0] != '\0' ? why : ost_strerror(rc));
    }
    *out = &s->base;
    return 0;
fail:
    os_close(&s->base);
    return rc;
}

bool store_os_is_available(const struct store *base)
{
    const struct store_os *s = (const struct store_os *)base;
    return atomic_load(&s->is_available);
}

int store_os_drop(struct store *base)
{
    struct store_os *s = (struct store_os *)base;
    struct store_conn *h;
    int rc = os_conn_open(base, STORE_ROLE_WRITER, &h);
    if (rc < 0) {
        return rc;
    }
    struct store_os_conn *c = store_os__conn(h);
    const char *indexes[] = { s->index, s->del_index };
    for (size_t i = 0; i < 2 && rc == 0; i++) {
        long st;
        buf_reset(&c->body);
        rc = store_os__path(c, "/%s", indexes[i]);
        rc = rc == 0 ? store_os__request(c, "DELETE", NULL, STORE_OS_ONCE, "an index deletion", &st)
                     : rc;
        rc = rc == OST_ENOENT ? 0 : rc;
    }
    os_conn_close(h);
    atomic_store(&s->is_ready, false);
    return rc;
}
