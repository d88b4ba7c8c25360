/*
 * Helpers of the storage contract suite (tests/store_contract.h): building
 * events, writing them, and reading query results back. Also linked by the
 * SQLite-specific store tests.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>

#include "common/err.h"
#include "filters/filter.h"
#include "nips/nip09.h"
#include "nips/nip62.h"
#include "store_contract.h"

const char *store_contract_hx(unsigned hi, unsigned n)
{
    static char ring[8][65];
    static unsigned next;
    char *b = ring[next++ % 8];
    snprintf(b, 65, "%02x%054x%08x", hi & 0xff, 0, n);
    return b;
}

bool store_contract_ev_parse(struct store_contract_ev *t)
{
    const char *reason = NULL;
    if (buf_cstr(&t->json) == NULL ||
        event_parse(t->json.data, t->json.len, NULL, &t->ev, &reason) < 0) {
        fprintf(stderr, "  event_parse: %s\n    %.*s\n", reason != NULL ? reason : "out of memory",
                (int)t->json.len, t->json.data != NULL ? t->json.data : "");
        buf_fini(&t->json);
        return false;
    }
    return true;
}

bool store_contract_ev_build(struct store_contract_ev *t, const char *id, const char *pubkey,
                             long long created_at, unsigned kind, const char *tags,
                             const char *content)
{
    buf_init(&t->json);
    buf_printf(&t->json,
               "{\"id\":\"%s\",\"pubkey\":\"%s\",\"created_at\":%lld,\"kind\":%u,\"tags\":%s,"
               "\"content\":\"%s\",\"sig\":\"" STORE_CONTRACT_SIG_ZEROS "\"}",
               id, pubkey, created_at, kind, tags, content);
    return store_contract_ev_parse(t);
}

bool store_contract_ev_make(struct store_contract_ev *t, unsigned id_hi, unsigned id, unsigned pk,
                            long long created_at, unsigned kind, const char *tags)
{
    return store_contract_ev_build(t, store_contract_hx(id_hi, id), store_contract_hx(0, pk),
                                   created_at, kind, tags, "");
}

void store_contract_evs_free(struct store_contract_ev *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        buf_fini(&t[i].json);
    }
}

int store_contract_write(struct store_conn *c, struct store_contract_ev *t, size_t n,
                         enum store_status *st)
{
    const struct event *evs[STORE_CONTRACT_MAX_BATCH] = { 0 };
    struct store_result res[STORE_CONTRACT_MAX_BATCH];
    if (n > STORE_CONTRACT_MAX_BATCH) {
        return OST_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        evs[i] = &t[i].ev;
    }
    int rc = store_write_batch(c, evs, n, res);
    for (size_t i = 0; i < n; i++) {
        st[i] = res[i].status;
    }
    return rc;
}

int store_contract_write_del(struct store_conn *c, struct store_contract_ev *t, size_t n,
                             enum store_status *st, struct store_result *res)
{
    const struct event *evs[STORE_CONTRACT_MAX_BATCH] = { 0 };
    struct store_deletion *dels[STORE_CONTRACT_MAX_BATCH] = { NULL };
    struct store_result own[STORE_CONTRACT_MAX_BATCH];
    int rc = n <= STORE_CONTRACT_MAX_BATCH ? 0 : OST_EINVAL;
    res = res != NULL ? res : own;
    for (size_t i = 0; i < n && rc == 0; i++) {
        evs[i] = &t[i].ev;
        rc = nip09_parse(&t[i].ev, &dels[i]);
        if (rc == 0 && dels[i] == NULL) {
            rc = nip62_parse(&t[i].ev, STORE_CONTRACT_RELAY_URL, &dels[i]);
        }
    }
    if (rc == 0) {
        rc = store_write_batch_del(c, evs, (const struct store_deletion *const *)dels, n, res);
        for (size_t i = 0; i < n; i++) {
            st[i] = res[i].status;
        }
    }
    for (size_t i = 0; i < n && i < STORE_CONTRACT_MAX_BATCH; i++) {
        free(dels[i]);
    }
    return rc;
}

int store_contract_hits_add(void *ud, const char *json, size_t len)
{
    struct store_contract_hits *h = ud;
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        char **js = realloc(h->json, cap * sizeof(*js));
        if (js == NULL) {
            return OST_ENOMEM;
        }
        h->json = js;
        size_t *lens = realloc(h->len, cap * sizeof(*lens));
        if (lens == NULL) {
            return OST_ENOMEM;
        }
        h->len = lens;
        h->cap = cap;
    }
    h->json[h->n] = malloc(len + 1);
    if (h->json[h->n] == NULL) {
        return OST_ENOMEM;
    }
    memcpy(h->json[h->n], json, len);
    h->json[h->n][len] = '\0';
    h->len[h->n++] = len;
    return h->n == h->stop_after ? STORE_CONTRACT_STOP : 0;
}

void store_contract_hits_clear(struct store_contract_hits *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->json[i]);
    }
    free(h->json);
    free(h->len);
    memset(h, 0, sizeof(*h));
}

bool store_contract_hit_is(const struct store_contract_hits *h, size_t i,
                           const struct store_contract_ev *t)
{
    return i < h->n && h->len[i] == t->json.len && memcmp(h->json[i], t->json.data, h->len[i]) == 0;
}

int store_contract_parse_set(struct filter_set **out, const char *fmt, ...)
{
    char text[8192];
    const char *reason = NULL;
    struct filter_limits lim;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    filter_limits_default(&lim);
    int rc = filter_set_parse(text, strlen(text), &lim, 16, out, &reason);
    if (rc < 0) {
        fprintf(stderr, "  filter_set_parse(%s): %s\n", text, reason);
    }
    return rc;
}

/* Where store_contract_id_list collects. */
struct id_list {
    unsigned *ids;
    size_t cap, n;
};

static int id_add(void *ud, const char *json, size_t len)
{
    struct id_list *l = ud;
    struct event ev;
    const char *reason = NULL;
    if (event_parse(json, len, NULL, &ev, &reason) < 0) {
        fprintf(stderr, "  a query returned what is not an event (%s): %.*s\n", reason, (int)len,
                json);
        return OST_EIO;
    }
    if (l->n == l->cap) {
        return OST_ENOSPC;
    }
    l->ids[l->n++] = (unsigned)ev.id[28] << 24 | (unsigned)ev.id[29] << 16 |
                     (unsigned)ev.id[30] << 8 | ev.id[31];
    return 0;
}

int store_contract_id_list(struct store_conn *c, const char *filters, unsigned *ids, size_t cap,
                           size_t *n, struct store_snapshot *snap)
{
    struct filter_set *set = NULL;
    struct id_list l = { .ids = ids, .cap = cap };
    int rc = store_contract_parse_set(&set, "%s", filters);
    rc = rc == 0 ? store_query_set(c, set, id_add, &l, snap) : rc;
    filter_set_free(set);
    *n = l.n;
    return rc;
}

int store_contract_ids(struct store_conn *c, const char *filters, struct buf *out,
                       struct store_snapshot *snap)
{
    unsigned ids[256];
    size_t n = 0;
    int rc = store_contract_id_list(c, filters, ids, 256, &n, snap);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = buf_printf(out, i ? " %u" : "%u", ids[i]) < 0 ? OST_ENOMEM : 0;
    }
    /* An empty answer is "", not a NULL buffer. */
    return rc == 0 && buf_cstr(out) == NULL ? OST_ENOMEM : rc;
}

int store_contract_count(struct store_conn *c, const char *filters, uint64_t *out)
{
    struct filter_set *set = NULL;
    int rc = store_contract_parse_set(&set, "%s", filters);
    rc = rc == 0 ? store_count_set(c, set, out) : rc;
    filter_set_free(set);
    return rc;
}

int store_contract_has(struct store_conn *c, const char *id, bool *is_there)
{
    unsigned ids[2];
    size_t n = 0;
    char filters[96];
    snprintf(filters, sizeof(filters), "{\"ids\":[\"%s\"]}", id);
    int rc = store_contract_id_list(c, filters, ids, 2, &n, NULL);
    if (rc == 0) {
        *is_there = n == 1;
    }
    return rc;
}
