/*
 * The storage interface: backend selection, dispatch through struct
 * store_ops, the reason table, and the filter_set conveniences. Holds no
 * state of its own; the threading rules are those of store.h.
 */
#include "store/store.h"

#include <stdlib.h>

#include "common/err.h"
#include "filters/filter.h"
#include "store/store_os.h"
#include "store/store_sqlite.h"

#define R_STORED    ""
#define R_DUPLICATE "duplicate: already have this event"
#define R_REPLACED  "duplicate: a newer version of this event is already stored"
#define R_NOMEM     "error: out of memory"
#define R_FULL      "error: the database is full"
#define R_BUSY      "error: the database is busy, try again"
#define R_SHUTDOWN  "error: relay is shutting down"
#define R_INVALID   "error: internal storage error"
#define R_IO        "error: could not access the database"
#define R_UNAVAIL   "error: storage unavailable"
#define R_REFUSED   "error: the storage backend refused this event"
/* NIP-01's "blocked:" prefix: the event is valid and new to the relay, but
 * the relay refuses it by rule, here the author's own earlier request
 * (NIP-09, NIP-62), not because of what the sender did wrong ("invalid:")
 * or because it is already stored ("duplicate:"). */
#define R_DELETED  "blocked: this event was deleted by its author"
#define R_VANISHED "blocked: the author of this event asked to vanish from this relay"

const char *const store_reasons[] = {
    R_STORED,  R_DUPLICATE, R_REPLACED, R_NOMEM,    R_FULL,    R_BUSY,    R_SHUTDOWN,
    R_INVALID, R_IO,        R_DELETED,  R_VANISHED, R_UNAVAIL, R_REFUSED, NULL,
};

const char *store_error_reason(int rc)
{
    switch (rc) {
    case 0:
        return R_STORED;
    case OST_EEXIST:
        return R_DUPLICATE;
    case OST_ENOMEM:
        return R_NOMEM;
    case OST_ENOSPC:
        return R_FULL;
    case OST_ETIMEDOUT:
    case OST_EAGAIN:
        return R_BUSY;
    case OST_ESHUTDOWN:
        return R_SHUTDOWN;
    case OST_EINVAL:
        return R_INVALID;
    case OST_EUNAVAIL:
        return R_UNAVAIL;
    case OST_EREJECT:
        return R_REFUSED;
    default:
        return R_IO;
    }
}

void store_result_set(struct store_result *r, enum store_status status, int rc)
{
    r->status = status;
    r->rc = status == STORE_FAILED ? rc : 0;
    r->seq = 0;
    switch (status) {
    case STORE_STORED:
        r->reason = R_STORED;
        break;
    case STORE_DUPLICATE:
        r->reason = R_DUPLICATE;
        break;
    case STORE_REPLACED_OLDER:
        r->reason = R_REPLACED;
        break;
    case STORE_FAILED:
        r->reason = store_error_reason(rc);
        break;
    case STORE_DELETED:
        r->reason = R_DELETED;
        break;
    case STORE_VANISHED:
        r->reason = R_VANISHED;
        break;
    }
}

int store_open(const struct store_options *opt, struct store **out)
{
    if (opt == NULL || out == NULL) {
        return OST_EINVAL;
    }
    switch (opt->backend) {
    case STORE_BACKEND_SQLITE:
        return store_sqlite_open(opt, out);
    case STORE_BACKEND_OPENSEARCH:
        return store_os_open(opt, out);
    }
    return OST_EINVAL;
}

void store_close(struct store *s)
{
    if (s != NULL) {
        s->ops->close(s);
    }
}

int store_conn_open(struct store *s, enum store_role role, struct store_conn **out)
{
    if (role != STORE_ROLE_WRITER && role != STORE_ROLE_READER &&
        role != STORE_ROLE_WRITER_DEFERRED) {
        return OST_EINVAL;
    }
    if (role == STORE_ROLE_WRITER_DEFERRED && s->ops->sync == NULL) {
        role = STORE_ROLE_WRITER;
    }
    return s->ops->conn_open(s, role, out);
}

bool store_has_sync(const struct store *s)
{
    return s->ops->sync != NULL;
}

int store_sync(struct store *s)
{
    return s->ops->sync != NULL ? s->ops->sync(s) : 0;
}

void store_conn_close(struct store_conn *c)
{
    if (c != NULL) {
        c->store->ops->conn_close(c);
    }
}

int store_write_batch(struct store_conn *c, const struct event *const *evs, size_t n,
                      struct store_result *results)
{
    return store_write_batch_del(c, evs, NULL, n, results);
}

int store_write_batch_del(struct store_conn *c, const struct event *const *evs,
                          const struct store_deletion *const *dels, size_t n,
                          struct store_result *results)
{
    int rc = c->role != STORE_ROLE_READER ? c->store->ops->write_batch(c, evs, dels, n, results)
                                          : OST_EINVAL;
    if (rc < 0) {
        /* Whatever the backend wrote into results, nothing was committed. */
        for (size_t i = 0; i < n; i++) {
            store_result_set(&results[i], STORE_FAILED, rc);
        }
    }
    return rc;
}

int store_query(struct store_conn *c, const struct filter *const *filters, size_t n,
                store_event_fn fn, void *ud)
{
    return c->store->ops->query(c, filters, n, fn, ud, NULL);
}

int store_count(struct store_conn *c, const struct filter *const *filters, size_t n, uint64_t *out)
{
    return c->store->ops->count(c, filters, n, NULL, NULL, out);
}

int store_delete_ids(struct store_conn *c, const uint8_t (*ids)[32], size_t n,
                     const uint8_t *pubkey)
{
    if (c->role == STORE_ROLE_READER) {
        return OST_EINVAL;
    }
    return c->store->ops->delete_ids(c, ids, n, pubkey);
}

int store_purge_expired(struct store_conn *c, uint32_t max_n)
{
    if (c->role == STORE_ROLE_READER) {
        return OST_EINVAL;
    }
    return c->store->ops->purge_expired(c, max_n);
}

/* The filters of set as an array of pointers; *out is freed by the caller.
 * A REQ holds a handful of filters, so this small allocation is cheap next
 * to the query it serves. */
static int set_to_array(const struct filter_set *set, const struct filter ***out, size_t *n)
{
    size_t count = filter_set_count(set);
    const struct filter **arr = calloc(count > 0 ? count : 1, sizeof(*arr));
    if (arr == NULL) {
        return OST_ENOMEM;
    }
    for (size_t i = 0; i < count; i++) {
        arr[i] = filter_set_at(set, i);
    }
    *out = arr;
    *n = count;
    return 0;
}

int store_query_set(struct store_conn *c, const struct filter_set *set, store_event_fn fn, void *ud,
                    struct store_snapshot *snap)
{
    const struct filter **arr;
    size_t n;
    int rc = set_to_array(set, &arr, &n);
    if (rc < 0) {
        return rc;
    }
    rc = c->store->ops->query(c, arr, n, fn, ud, snap);
    free(arr);
    return rc;
}

int store_count_set(struct store_conn *c, const struct filter_set *set, uint64_t *out)
{
    const struct filter **arr;
    size_t n;
    int rc = set_to_array(set, &arr, &n);
    if (rc < 0) {
        return rc;
    }
    rc = store_count(c, arr, n, out);
    free(arr);
    return rc;
}

int store_count_set_pubkeys(struct store_conn *c, const struct filter_set *set, store_pubkey_fn fn,
                            void *ud, uint64_t *out)
{
    const struct filter **arr;
    size_t n;
    int rc = set_to_array(set, &arr, &n);
    if (rc < 0) {
        return rc;
    }
    rc = c->store->ops->count(c, arr, n, fn, ud, out);
    free(arr);
    return rc;
}

const char *store_backend_name(const struct store *s)
{
    return s->ops->name;
}
