/*
 * What the OpenSearch backend reads: the parsers of the responses to the
 * requests store_os_dsl builds, written from the OpenSearch REST reference
 * (_bulk, _search, _msearch, _count, _mget, _delete_by_query, errors,
 * _mapping, _cluster/health). Pure functions over a body the caller owns;
 * no I/O, no state, any thread.
 *
 * Every parser answers OST_EPARSE for a body that is not JSON or lacks
 * what the reference says is there, so a proxy's HTML error page or a
 * truncated body is an error, never an empty result. They never trust a
 * count from the body to size anything. Any of them may also return
 * OST_ENOMEM.
 */
#ifndef OSTRICH_STORE_STORE_OS_RESP_H
#define OSTRICH_STORE_STORE_OS_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* Room for an OpenSearch error type ("version_conflict_engine_exception"). */
#define STORE_OS_ERR_TYPE_CAP 64

/* The outcome of one _bulk item. */
struct store_os_bulk_item {
    int status;                           /* the item's HTTP status (201, 200, 409, 429, ...) */
    bool is_conflict;                     /* status 409: the id exists, or a version is not newer */
    char err_type[STORE_OS_ERR_TYPE_CAP]; /* error.type, "" when none (cut to fit) */
};

/* Parses a _bulk response body into items[0..n), one per action in the
 * request, in order. Returns 0; OST_EPARSE when the body is not a bulk
 * response or holds a number of items other than n. "errors":false with
 * every item 200/201 is the usual case; any item may fail on its own. */
int store_os_resp_bulk(const char *body, size_t len, struct store_os_bulk_item *items, size_t n);

/* Called for each hit of a search response, in order: json[0..len) is the
 * decoded "raw" field of its _source (the event's JSON, borrowed for the
 * call). Return 0 to go on or a negative code to stop (returned by the
 * parser). */
typedef int (*store_os_hit_fn)(void *ud, const char *json, size_t len);

/* Parses a _search response (or one element of an _msearch "responses"
 * array, passed as its own body by store_os_resp_msearch): calls fn for
 * each hit; *n_hits is the number of hits; when last_sort is not NULL its
 * contents are replaced with the raw JSON of the last hit's "sort" array
 * (for search_after; left empty when there are no hits). A hit without a
 * string "raw" in its _source is OST_EPARSE. A response whose
 * _shards.failed is above 0 or whose timed_out is true holds only part of
 * the answer: OST_EUNAVAIL, before any call of fn. Returns 0, fn's code,
 * OST_EUNAVAIL or OST_EPARSE. */
int store_os_resp_search(const char *body, size_t len, store_os_hit_fn fn, void *ud, size_t *n_hits,
                         struct buf *last_sort);

/* Called for response i of an _msearch; body[0..len) is that response's
 * JSON (borrowed for the call), to be read with store_os_resp_search.
 * status is its "status" (when missing: 500 for a response with an
 * "error", else 200); a failed search has an "error" object and a status
 * >= 400. */
typedef int (*store_os_msearch_fn)(void *ud, size_t i, int status, const char *body, size_t len);

/* Parses an _msearch response and calls fn for each of its n responses in
 * order. Returns 0, fn's code, or OST_EPARSE (also when there are not
 * exactly n responses). */
int store_os_resp_msearch(const char *body, size_t len, size_t n, store_os_msearch_fn fn, void *ud);

/* Parses a _count response: *out = "count". */
int store_os_resp_count(const char *body, size_t len, uint64_t *out);

/* Called for each pubkey bucket of a composite aggregation page (32 bytes
 * decoded from the bucket key's hex; a key that is not 64 lowercase hex is
 * OST_EPARSE). */
typedef void (*store_os_pubkey_fn)(void *ud, const uint8_t pubkey[32]);

/* Parses a page of the "pubkeys" composite aggregation
 * (store_os_dsl_pubkeys_body): calls fn per bucket, sets *n_buckets, and
 * replaces after_key with the raw JSON of "after_key" (empty when the
 * aggregation has none: the last page). */
int store_os_resp_pubkeys(const char *body, size_t len, store_os_pubkey_fn fn, void *ud,
                          size_t *n_buckets, struct buf *after_key);

/* One document of an _mget response. */
struct store_os_mget_doc {
    bool is_found;
    int64_t created_at; /* its _source "created_at", when found and present */
    bool has_created_at;
    char event_id[65]; /* its _source "id" (hex) when found and present, else "" */
};

/* Parses an _mget response with docs[0..n) in request order. Returns 0, or
 * OST_EPARSE (also when there are not exactly n docs, or one has an
 * "error"). */
int store_os_resp_mget(const char *body, size_t len, struct store_os_mget_doc *docs, size_t n);

/* Parses a _delete_by_query response: *deleted = "deleted". A response
 * with a non-empty "failures" array, or "timed_out":true, is OST_EIO (part
 * of the documents were not deleted). */
int store_os_resp_deleted(const char *body, size_t len, uint64_t *deleted);

/* Reads the error of a failed request ({"error":{"type":...,"reason":...},
 * "status":N}, or "error" as a plain string, as some proxies send) into
 * out as "<type>: <reason>" cut to cap - 1 bytes and NUL-terminated; for a
 * body that is not such JSON, its first printable bytes. For log lines;
 * never fails. */
void store_os_resp_error(const char *body, size_t len, char *out, size_t cap);

/* Checks a GET /<index>/_mapping response against the mapping
 * store_os_dsl_events_index (is_events) or store_os_dsl_deletions_index
 * writes: every field this backend reads or writes must be there with the
 * same type (and "raw" with indexing disabled), and the schema version in
 * _meta must not be newer than STORE_OS_SCHEMA_VERSION. Extra fields are
 * allowed. Returns 0, OST_EINVAL with problem holding one line that names
 * the index, the field and both types (e.g. "index \"ev\": field \"kind\"
 * is text, expected integer"), or OST_EPARSE. */
int store_os_resp_mapping_check(const char *body, size_t len, const char *index, bool is_events,
                                struct buf *problem);

/* Parses a _cluster/health response: *is_red = status is "red". */
int store_os_resp_health(const char *body, size_t len, bool *is_red);

#endif
