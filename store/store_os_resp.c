/*
 * Parsers of OpenSearch responses. Design: each body is parsed once into a
 * jdoc tree and read from there; a parser checks the whole shape it needs
 * before calling back or writing an out-parameter, so a bad hit at the end
 * of a page never leaves the caller with half a page. Counts in a body are
 * compared with what the caller expects, never used to size anything.
 */
#include "store/store_os_resp.h"

#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hex.h"
#include "common/jdoc.h"
#include "store/store_os_dsl.h"

/* Parses body; anything that is not JSON is OST_EPARSE, whatever the
 * reason jdoc gives, except running out of memory. */
static int parse(const char *body, size_t len, struct jdoc **out)
{
    int rc = jdoc_parse(body, len, 0, out);
    return rc == OST_ENOMEM ? rc : rc < 0 ? OST_EPARSE : 0;
}

/* The value of an HTTP status field, or -1 when v is not one. */
static int status_of(const struct jdoc_val *v)
{
    int64_t st;
    if (!jdoc_int(v, &st) || st < 100 || st > 599) {
        return -1;
    }
    return (int)st;
}

static bool get_uint(const struct jdoc_val *v, uint64_t *out)
{
    int64_t x;
    if (!jdoc_int(v, &x) || x < 0) {
        return false;
    }
    *out = (uint64_t)x;
    return true;
}

/* _bulk */

/* Reads one item of "items": {"<action>":{"status":N,"error":{...}}}. */
static int bulk_item(const struct jdoc_val *item, struct store_os_bulk_item *out)
{
    /* The one member's name is the action (create, index, delete, update). */
    const struct jdoc_val *res = jdoc_at(item, 0);
    if (jdoc_type(item) != JDOC_OBJECT || jdoc_len(item) != 1 || jdoc_type(res) != JDOC_OBJECT) {
        return OST_EPARSE;
    }
    int st = status_of(jdoc_get(res, "status"));
    if (st < 0) {
        return OST_EPARSE;
    }
    out->status = st;
    out->is_conflict = st == 409;
    out->err_type[0] = '\0';
    size_t len = 0;
    const char *type = jdoc_str(jdoc_get(jdoc_get(res, "error"), "type"), &len);
    if (type != NULL) {
        if (len >= sizeof(out->err_type)) {
            len = sizeof(out->err_type) - 1;
        }
        memcpy(out->err_type, type, len);
        out->err_type[len] = '\0';
    }
    return 0;
}

int store_os_resp_bulk(const char *body, size_t len, struct store_os_bulk_item *items, size_t n)
{
    struct jdoc *d = NULL;
    int rc = parse(body, len, &d);
    if (rc < 0) {
        goto out;
    }
    const struct jdoc_val *root = jdoc_root(d);
    const struct jdoc_val *list = jdoc_get(root, "items");
    bool has_errors;
    rc = OST_EPARSE;
    if (!jdoc_bool(jdoc_get(root, "errors"), &has_errors) || jdoc_type(list) != JDOC_ARRAY ||
        jdoc_len(list) != n) {
        goto out;
    }
    /* Checked whole before items is written: out-parameters change only on
     * success. */
    for (size_t i = 0; i < n; i++) {
        struct store_os_bulk_item tmp;
        rc = bulk_item(jdoc_at(list, i), &tmp);
        if (rc < 0) {
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        bulk_item(jdoc_at(list, i), &items[i]);
    }
    rc = 0;
out:
    jdoc_free(d);
    return rc;
}

/* _search and _msearch */

/* The decoded _source.raw of a hit, or NULL. */
static const char *hit_raw(const struct jdoc_val *hit, size_t *len)
{
    return jdoc_str(jdoc_get(jdoc_get(hit, "_source"), "raw"), len);
}

int store_os_resp_search(const char *body, size_t len, store_os_hit_fn fn, void *ud, size_t *n_hits,
                         struct buf *last_sort)
{
    struct jdoc *d = NULL;
    int rc = parse(body, len, &d);
    if (rc < 0) {
        goto out;
    }
    const struct jdoc_val *hits = jdoc_get(jdoc_get(jdoc_root(d), "hits"), "hits");
    size_t n = jdoc_len(hits);
    const char *sort = NULL;
    size_t sort_len = 0;
    rc = OST_EPARSE;
    if (jdoc_type(hits) != JDOC_ARRAY) {
        goto out;
    }
    /* Shards that failed or a search cut by its timeout leave a subset
     * that looks like a whole answer: a relay must not send it as the
     * stored events up to EOSE. */
    int64_t failed = 0;
    bool timed_out = false;
    if ((jdoc_int(jdoc_get(jdoc_get(jdoc_root(d), "_shards"), "failed"), &failed) && failed > 0) ||
        (jdoc_bool(jdoc_get(jdoc_root(d), "timed_out"), &timed_out) && timed_out)) {
        rc = OST_EUNAVAIL;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (hit_raw(jdoc_at(hits, i), NULL) == NULL) {
            goto out;
        }
    }
    if (last_sort != NULL && n > 0) {
        const struct jdoc_val *s = jdoc_get(jdoc_at(hits, n - 1), "sort");
        if (jdoc_type(s) != JDOC_ARRAY) {
            goto out;
        }
        sort = jdoc_raw(s, &sort_len);
    }
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t raw_len;
        const char *raw = hit_raw(jdoc_at(hits, i), &raw_len);
        rc = fn(ud, raw, raw_len);
    }
    if (rc < 0) {
        goto out;
    }
    if (last_sort != NULL) {
        buf_reset(last_sort);
        rc = sort != NULL ? buf_append(last_sort, sort, sort_len) : 0;
        if (rc < 0) {
            goto out;
        }
    }
    *n_hits = n;
out:
    jdoc_free(d);
    return rc;
}

int store_os_resp_msearch(const char *body, size_t len, size_t n, store_os_msearch_fn fn, void *ud)
{
    struct jdoc *d = NULL;
    int rc = parse(body, len, &d);
    if (rc < 0) {
        goto out;
    }
    const struct jdoc_val *list = jdoc_get(jdoc_root(d), "responses");
    rc = OST_EPARSE;
    if (jdoc_type(list) != JDOC_ARRAY || jdoc_len(list) != n) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct jdoc_val *r = jdoc_at(list, i);
        const struct jdoc_val *st = jdoc_get(r, "status");
        if (jdoc_type(r) != JDOC_OBJECT || (st != NULL && status_of(st) < 0)) {
            goto out;
        }
    }
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct jdoc_val *r = jdoc_at(list, i);
        const struct jdoc_val *st = jdoc_get(r, "status");
        /* A failed search without a status must not pass for a good one. */
        int status = st != NULL ? status_of(st) : jdoc_get(r, "error") != NULL ? 500 : 200;
        size_t r_len;
        const char *r_raw = jdoc_raw(r, &r_len);
        rc = fn(ud, i, status, r_raw, r_len);
    }
out:
    jdoc_free(d);
    return rc;
}

/* _count */

int store_os_resp_count(const char *body, size_t len, uint64_t *out)
{
    struct jdoc *d = NULL;
    int rc = parse(body, len, &d);
    if (rc == 0 && !get_uint(jdoc_get(jdoc_root(d), "count"), out)) {
        rc = OST_EPARSE;
    }
    jdoc_free(d);
    return rc;
}

/* The composite aggregation of pubkeys */

int store_os_resp_pubkeys(const char *body, size_t len, store_os_pubkey_fn fn, void *ud,
                          size_t *n_buckets, struct buf *after_key)
{
    struct jdoc *d = NULL;
    int rc = parse(body, len, &d);
    if (rc < 0) {
        goto out;
    }
    const struct jdoc_val *agg = jdoc_get(jdoc_get(jdoc_root(d), "aggregations"), "pubkeys");
    const struct jdoc_val *buckets = jdoc_get(agg, "buckets");
    const struct jdoc_val *after = jdoc_get(agg, "after_key");
    size_t n = jdoc_len(buckets);
    rc = OST_EPARSE;
    if (jdoc_type(buckets) != JDOC_ARRAY || (after != NULL && jdoc_type(after) != JDOC_OBJECT)) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t pk[32];
        size_t hex_len = 0;
        const char *hex =
            jdoc_str(jdoc_get(jdoc_get(jdoc_at(buckets, i), "key"), "pubkey"), &hex_len);
        if (hex == NULL || hex_len != 64 || hex_decode_lower(hex, 32, pk) < 0) {
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t pk[32];
        const char *hex = jdoc_str(jdoc_get(jdoc_get(jdoc_at(buckets, i), "key"), "pubkey"), NULL);
        hex_decode_lower(hex, 32, pk);
        fn(ud, pk);
    }
    buf_reset(after_key);
    rc = 0;
    if (after != NULL) {
        size_t raw_len;
        const char *raw = jdoc_raw(after, &raw_len);
        rc = buf_append(after_key, raw, raw_len);
        if (rc < 0) {
            goto out;
        }
    }
    *n_buckets = n;
out:
    jdoc_free(d);
    return rc;
}

/* _mget */

static int mget_doc(const struct jdoc_val *doc, struct store_os_mget_doc *out)
{
    bool found;
    if (jdoc_get(doc, "error") != NULL || !jdoc_bool(jdoc_get(doc, "found"), &found)) {
        return OST_EPARSE;
    }
    memset(out, 0, sizeof(*out));
    out->is_found = found;
    if (!found) {
        return 0;
    }
    const struct jdoc_val *src = jdoc_get(doc, "_source");
    const struct jdoc_val *created = jdoc_get(src, "created_at");
    const struct jdoc_val *id = jdoc_get(src, "id");
    if (created != NULL) {
        if (!jdoc_int(created, &out->created_at)) {
            return OST_EPARSE;
        }
        out->has_created_at = true;
    }
    if (id != NULL) {
        uint8_t bin[32];
        size_t id_len = 0;
        const char *hex = jdoc_str(id, &id_len);
        if (hex == NULL || id_len != 64 || hex_decode_lower(hex, 32, bin) < 0) {
            return OST_EPARSE;
        }
        memcpy(out->event_id, hex, 65);
    }
    return 0;
}

int store_os_resp_mget(const char *body, size_t len, struct store_os_mget_doc *docs, size_t n)
{
    struct jdoc *d = NULL;
    int rc = parse(body, len, &d);
    if (rc < 0) {
        goto out;
    }
    const struct jdoc_val *list = jdoc_get(jdoc_root(d), "docs");
    rc = OST_EPARSE;
    if (jdoc_type(list) != JDOC_ARRAY || jdoc_len(list) != n) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct store_os_mget_doc tmp;
        rc = mget_doc(jdoc_at(list, i), &tmp);
        if (rc < 0) {
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        mget_doc(jdoc_at(list, i), &docs[i]);
    }
    rc = 0;
out:
    jdoc_free(d);
    return rc;
}

/* _delete_by_query */

int store_os_resp_deleted(const char *body, size_t len, uint64_t *deleted)
{
    struct jdoc *d = NULL;
    int rc = parse(body, len, &d);
    if (rc < 0) {
        goto out;
    }
    const struct jdoc_val *root = jdoc_root(d);
    const struct jdoc_val *failures = jdoc_get(root, "failures");
    bool timed_out = false;
    uint64_t n;
    rc = OST_EPARSE;
    if (!get_uint(jdoc_get(root, "deleted"), &n) ||
        (failures != NULL && jdoc_type(failures) != JDOC_ARRAY)) {
        goto out;
    }
    /* Both leave part of the matching documents in place. */
    rc = OST_EIO;
    if (jdoc_len(failures) > 0 ||
        (jdoc_bool(jdoc_get(root, "timed_out"), &timed_out) && timed_out)) {
        goto out;
    }
    *deleted = n;
    rc = 0;
out:
    jdoc_free(d);
    return rc;
}

/* Errors */

/* Writes text into a fixed buffer for a log line: printable ASCII as is,
 * runs of whitespace as one space, any other byte as '?'. */
struct line {
    char *p;
    size_t cap, len;
    bool is_space; /* the last byte written was a space (or none yet) */
};

static void line_put(struct line *l, const char *s, size_t n)
{
    for (size_t i = 0; i < n && l->len + 1 < l->cap; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ws = c == ' ' || c == '\n' || c == '\r' || c == '\t';
        if (ws && l->is_space) {
            continue;
        }
        l->p[l->len++] = ws ? ' ' : (c > 0x20 && c < 0x7f) ? (char)c : '?';
        l->is_space = ws;
    }
    l->p[l->len] = '\0';
}

/* Writes "<type>: <reason>" from an error object (or a plain string, or a
 * {"message":...} some gateways send); false when v is none of these. */
static bool put_error(struct line *l, const struct jdoc_val *root)
{
    const struct jdoc_val *err = jdoc_get(root, "error");
    size_t len = 0;
    const char *s = jdoc_str(err, &len);
    if (s != NULL) {
        line_put(l, s, len);
        return true;
    }
    size_t type_len = 0, reason_len = 0;
    const char *type = jdoc_str(jdoc_get(err, "type"), &type_len);
    const char *reason = jdoc_str(jdoc_get(err, "reason"), &reason_len);
    if (type == NULL && reason == NULL) {
        s = jdoc_str(jdoc_get(root, "message"), &len);
        s = s != NULL ? s : jdoc_str(jdoc_get(root, "Message"), &len);
        if (s != NULL) {
            line_put(l, s, len);
        }
        return s != NULL;
    }
    if (type != NULL) {
        line_put(l, type, type_len);
    }
    if (type != NULL && reason != NULL) {
        line_put(l, ": ", 2);
    }
    if (reason != NULL) {
        line_put(l, reason, reason_len);
    }
    return true;
}

void store_os_resp_error(const char *body, size_t len, char *out, size_t cap)
{
    if (cap == 0) {
        return;
    }
    struct line l = { out, cap, 0, true };
    out[0] = '\0';
    struct jdoc *d = NULL;
    if (parse(body, len, &d) == 0 && put_error(&l, jdoc_root(d))) {
        jdoc_free(d);
        return;
    }
    jdoc_free(d);
    if (len == 0) {
        line_put(&l, "(empty body)", 12);
        return;
    }
    line_put(&l, body, len);
    /* Trailing whitespace collapsed to one space says nothing. */
    if (l.len > 0 && out[l.len - 1] == ' ') {
        out[--l.len] = '\0';
    }
}

/* _mapping */

struct want_field {
    const char *name;
    const char *type; /* "object" stands for an object with "enabled": false */
};

static const struct want_field events_fields[] = {
    { "id", "keyword" },      { "pubkey", "keyword" },  { "kind", "integer" },
    { "created_at", "long" }, { "expiration", "long" }, { "tags", "keyword" },
    { "content", "text" },    { "raw", "object" },
};

static const struct want_field deletions_fields[] = {
    { "created_at", "long" },
};

/* Compares one field with what the backend needs; writes the problem and
 * returns OST_EINVAL when it differs (OST_ENOMEM when the problem does not
 * fit in memory). */
static int check_field(const struct jdoc_val *props, const struct want_field *w, const char *index,
                       struct buf *problem)
{
    const struct jdoc_val *f = jdoc_get(props, w->name);
    size_t len = 0;
    const char *type = jdoc_str(jdoc_get(f, "type"), &len);
    /* GET _mapping leaves "type" out of an object field that has
     * properties; one without them shows "type":"object". */
    bool is_object = jdoc_type(f) == JDOC_OBJECT && (type == NULL || strcmp(type, "object") == 0);
    bool want_object = strcmp(w->type, "object") == 0;
    bool enabled = true;
    const char *got = type;
    if (f == NULL) {
        got = "missing";
    } else if (is_object && want_object) {
        if (jdoc_bool(jdoc_get(f, "enabled"), &enabled) && !enabled) {
            return 0;
        }
        got = "an indexed object";
    } else if (is_object) {
        got = "object";
    } else if (type == NULL) {
        got = "not a field mapping";
    } else if (!want_object && strlen(type) == len && strcmp(type, w->type) == 0) {
        return 0;
    }
    int got_len = got == type ? (int)(len < 40 ? len : 40) : (int)strlen(got);
    int rc =
        buf_printf(problem, "index \"%s\": field \"%s\" is %.*s, expected %s%s", index, w->name,
                   got_len, got, w->type, want_object ? " with \"enabled\": false" : "");
    return rc < 0 ? rc : OST_EINVAL;
}

/* Checks the "mappings" of one concrete index. */
static int check_mappings(const struct jdoc_val *m, bool is_events, const char *index,
                          struct buf *problem)
{
    const struct jdoc_val *schema = jdoc_get(jdoc_get(m, "_meta"), "ostrich_schema");
    int64_t version = 0;
    int rc = 0;
    if (schema != NULL && !jdoc_int(schema, &version)) {
        rc = buf_printf(problem, "index \"%s\": _meta.ostrich_schema is not an integer", index);
        return rc < 0 ? rc : OST_EINVAL;
    }
    if (version > STORE_OS_SCHEMA_VERSION) {
        rc = buf_printf(problem,
                        "index \"%s\": schema version %lld is newer than this relay's %d (the "
                        "index was written by a newer relay)",
                        index, (long long)version, STORE_OS_SCHEMA_VERSION);
        return rc < 0 ? rc : OST_EINVAL;
    }
    const struct jdoc_val *props = jdoc_get(m, "properties");
    if (props != NULL && jdoc_type(props) != JDOC_OBJECT) {
        return OST_EPARSE;
    }
    const struct want_field *fields = is_events ? events_fields : deletions_fields;
    size_t n = is_events ? sizeof(events_fields) / sizeof(events_fields[0])
                         : sizeof(deletions_fields) / sizeof(deletions_fields[0]);
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = check_field(props, &fields[i], index, problem);
    }
    return rc;
}

int store_os_resp_mapping_check(const char *body, size_t len, const char *index, bool is_events,
                                struct buf *problem)
{
    struct jdoc *d = NULL;
    buf_reset(problem);
    int rc = parse(body, len, &d);
    if (rc < 0) {
        goto out;
    }
    /* The one key is the concrete index, which may differ from index when
     * that is an alias; an alias over several indices answers with each,
     * and every one of them must fit. */
    const struct jdoc_val *root = jdoc_root(d);
    size_t n = jdoc_len(root);
    rc = OST_EPARSE;
    if (jdoc_type(root) != JDOC_OBJECT || n == 0) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct jdoc_val *m = jdoc_get(jdoc_at(root, i), "mappings");
        if (jdoc_type(m) != JDOC_OBJECT) {
            rc = OST_EPARSE;
            goto out;
        }
        rc = check_mappings(m, is_events, index, problem);
        if (rc < 0) {
            goto out;
        }
    }
    rc = 0;
out:
    if (rc != OST_EINVAL) {
        buf_reset(problem);
    }
    jdoc_free(d);
    return rc;
}

/* _cluster/health */

int store_os_resp_health(const char *body, size_t len, bool *is_red)
{
    struct jdoc *d = NULL;
    int rc = parse(body, len, &d);
    if (rc < 0) {
        goto out;
    }
    const char *status = jdoc_str(jdoc_get(jdoc_root(d), "status"), NULL);
    rc = OST_EPARSE;
    if (status == NULL) {
        goto out;
    }
    if (strcmp(status, "red") == 0) {
        *is_red = true;
    } else if (strcmp(status, "green") == 0 || strcmp(status, "yellow") == 0) {
        *is_red = false;
    } else {
        goto out;
    }
    rc = 0;
out:
    jdoc_free(d);
    return rc;
}
