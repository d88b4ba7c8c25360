/*
 * What the OpenSearch backend sends: index settings and mappings, the
 * documents and _bulk lines for events and tombstones, and the query DSL
 * for NIP-01 filters. Pure functions that append JSON (or NDJSON) to a
 * buffer; no I/O, no state, any thread.
 *
 * The documents. The events index holds one document per stored event:
 *   {"id":"<hex>","pubkey":"<hex>","kind":K,"created_at":T,
 *    "tags":["e:<value>","p:<value>",...],"expiration":X,
 *    "content":"<content>","raw":"<the event's JSON text>"}
 * "tags" holds "<letter>:<value>" for each tag whose name is one letter
 * (the only tags a NIP-01 filter can name) and that has a value: a "#e"
 * condition is then one terms query on exact strings, and "e:x" can only
 * come from an "e" tag whose second element is x (not from a "p" tag with
 * the value x, nor from an "e" tag with x in third position). "expiration"
 * is present only for events with a NIP-40 expiration. "raw" is stored but
 * not indexed (an object field with indexing disabled), and queries fetch
 * only it, so a query returns the event's JSON byte for byte.
 *
 * A regular event's document id is its event id, written with "create", so
 * OpenSearch itself refuses a second copy (409). A replaceable or
 * addressable event's document id is its address, "a:" followed by the
 * hex SHA-256 of "<kind>:<pubkey hex>:<d>" (an address can be longer than
 * the 512 bytes a document id may hold), written with "index" and an
 * external version that orders versions the NIP-01 way (see
 * store_os_dsl_version): OpenSearch keeps a document only when its version
 * is higher than the stored one, atomically on the shard that owns the
 * address. That is what keeps the newest version per address when two
 * versions arrive in one batch or at two relays at once, with no read
 * before the write and no script.
 *
 * The deletions index ("<index>-deletions") holds tombstones, one field
 * {"created_at":T}: "i:<event id hex>:<author pubkey hex>" for an event
 * its author deleted by id (NIP-09), "a:<address hash>" for an address
 * deleted up to T (NIP-09 "a" tags), "v:<pubkey hex>" for an author who
 * vanished up to T (NIP-62). Address and vanish tombstones use external_gte
 * versions equal to T, so a later tombstone with a smaller T never lowers
 * a stored one.
 */
#ifndef OSTRICH_STORE_STORE_OS_DSL_H
#define OSTRICH_STORE_STORE_OS_DSL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct event;
struct filter;
struct store_addr;

/* The schema this code writes, kept in the mapping's _meta. */
#define STORE_OS_SCHEMA_VERSION 1
/* Tag values longer than this many characters are not indexed (Lucene
 * refuses terms over 32,766 bytes; 8,000 characters of UTF-8 stay under
 * it). Filters cannot ask for such values anyway (filter max_value_len). */
#define STORE_OS_TAG_IGNORE_ABOVE 8000
/* The analyzer (and tokenizer) of "content" for NIP-50 search. */
#define STORE_OS_ANALYZER "ostrich_words"
/* A document id written by this module: "a:" + 64 hex, or
 * "i:" + 64 hex + ":" + 64 hex, plus the NUL. */
#define STORE_OS_DOC_ID_CAP 136

/* Settings of an index the backend creates. */
struct store_os_index_opts {
    uint32_t shards;              /* 0: 1 */
    uint32_t replicas;            /* as given (0 is valid) */
    const char *refresh_interval; /* NULL: "1s" */
};

/* Index bodies */

/* Appends the body of PUT /<index> for the events index: settings from o,
 * mappings with "dynamic":"strict", _meta {"ostrich_schema": version} and
 * the fields above. Returns 0 or OST_ENOMEM (then out holds a prefix of the
 * body; the caller resets it). The same return for every function below. */
int store_os_dsl_events_index(const struct store_os_index_opts *o, struct buf *out);

/* Appends the body of PUT /<index>-deletions. */
int store_os_dsl_deletions_index(const struct store_os_index_opts *o, struct buf *out);

/* Document ids and versions */

/* Writes the document id of an address into out (NUL-terminated). d (raw
 * bytes) is ignored for a replaceable kind, whose address has d "". The
 * id functions cannot fail: the one thing that could, an allocation inside
 * OpenSSL's SHA-256, logs and aborts. */
void store_os_dsl_addr_doc_id(uint32_t kind, const uint8_t pubkey[32], const char *d, size_t d_len,
                              char out[STORE_OS_DOC_ID_CAP]);

/* Writes the document id under which ev is stored: its id in hex for a
 * regular event, its address's id for a replaceable or addressable one. */
void store_os_dsl_event_doc_id(const struct event *ev, char out[STORE_OS_DOC_ID_CAP]);

/* The external version of a replaceable or addressable event: created_at
 * (clamped to 0..2^32-1) in the high bits, and below it the complement of
 * the first 31 bits of the id, so a newer event has a higher version and,
 * at equal created_at, the lower id does. Two versions of one address with
 * the same created_at and the same first 31 bits of their ids (one chance
 * in two billion) tie, and the one stored first stays. */
int64_t store_os_dsl_version(const struct event *ev);

/* _bulk lines (each line ends with '\n') */

/* Appends the action line and document of ev for the events index named
 * index (see the file comment). */
int store_os_dsl_bulk_event(const char *index, const struct event *ev, struct buf *out);

/* Appends the tombstone that ev_id, signed by pubkey, was deleted at
 * created_at. */
int store_os_dsl_bulk_tomb_id(const char *del_index, const uint8_t ev_id[32],
                              const uint8_t pubkey[32], int64_t created_at, struct buf *out);

/* Appends the tombstone that every version of a with created_at at or
 * before created_at is deleted. */
int store_os_dsl_bulk_tomb_addr(const char *del_index, const struct store_addr *a,
                                int64_t created_at, struct buf *out);

/* Appends the tombstone that pubkey vanished at created_at. */
int store_os_dsl_bulk_tomb_vanish(const char *del_index, const uint8_t pubkey[32],
                                  int64_t created_at, struct buf *out);

/* The tombstone ids store_os_dsl_bulk_tomb_* write, for _mget. */
void store_os_dsl_tomb_id_doc_id(const uint8_t ev_id[32], const uint8_t pubkey[32],
                                 char out[STORE_OS_DOC_ID_CAP]);
void store_os_dsl_tomb_vanish_doc_id(const uint8_t pubkey[32], char out[STORE_OS_DOC_ID_CAP]);

/* Queries */

/* Appends the query of one filter as a bool query:
 * {"bool":{"filter":[...],"must":[...],"must_not":[...]}} with
 *   ids        {"terms":{"id":[hex,...]}}
 *   authors    {"terms":{"pubkey":[hex,...]}}
 *   kinds      {"terms":{"kind":[k,...]}}
 *   since/until {"range":{"created_at":{"gte":since,"lte":until}}} (one
 *              range, with only the bounds the filter has)
 *   "#x"       one {"terms":{"tags":["x:<value>",...]}} per letter
 *   search     must: {"match":{"content":{"query":"<words joined by
 *              spaces>","operator":"and"}}} (NIP-50)
 *   NIP-40     must_not: {"range":{"expiration":{"lte":now}}}
 * Empty arrays are left out. The caller skips filters for which
 * filter_never_matches is true (such a filter is written as
 * {"match_none":{}}, so a body over several filters stays correct). */
int store_os_dsl_filter_query(const struct filter *f, int64_t now, struct buf *out);

/* Appends a _search body for f: {"size":size,"query":<filter query>,
 * "sort":[...],"_source":["raw"],"track_total_hits":false} plus
 * "search_after":<search_after> when search_after is not NULL (the raw
 * JSON of the last hit's "sort" array). The sort is
 * [{"created_at":"desc"},{"id":"asc"}], with "_score" first when f has
 * search terms. */
int store_os_dsl_search_body(const struct filter *f, int64_t now, uint32_t size,
                             const char *search_after, size_t search_after_len, struct buf *out);

/* Appends {"query":<q>} for _count and _delete_by_query, where q matches
 * any of filters[0..n) ({"bool":{"should":[...],"minimum_should_match":1}};
 * n must be at least 1: OST_EINVAL for 0). */
int store_os_dsl_count_body(const struct filter *const *filters, size_t n, int64_t now,
                            struct buf *out);

/* Appends a _search body that lists the distinct pubkeys of the events
 * matching any of filters[0..n): size 0 and a composite aggregation named
 * "pubkeys" over "pubkey", page_size buckets a page, after after_key (raw
 * JSON of the previous page's "after_key", or NULL for the first page).
 * OST_EINVAL for n 0. */
int store_os_dsl_pubkeys_body(const struct filter *const *filters, size_t n, int64_t now,
                              uint32_t page_size, const char *after_key, size_t after_key_len,
                              struct buf *out);

/* Appends {"query":...} for _delete_by_query on the events index: the
 * events with ids[0..n) and, when pubkey is not NULL, that pubkey, kind 5
 * left out when is_keep_kind5 (NIP-09: a deletion never deletes a
 * deletion). */
int store_os_dsl_delete_ids_body(const uint8_t (*ids)[32], size_t n, const uint8_t *pubkey,
                                 bool is_keep_kind5, struct buf *out);

/* Appends {"query":...} matching every version of a with created_at at or
 * before created_at. */
int store_os_dsl_delete_addr_body(const struct store_addr *a, int64_t created_at, struct buf *out);

/* Appends {"query":...} matching every event of pubkey with created_at at
 * or before created_at (NIP-62, kind 5 included) except the one with id
 * keep_id (the request to vanish itself, kept as its record). */
int store_os_dsl_delete_vanish_body(const uint8_t pubkey[32], int64_t created_at,
                                    const uint8_t keep_id[32], struct buf *out);

/* Appends {"query":...} matching events whose expiration is at or before
 * now (NIP-40 purge). */
int store_os_dsl_expired_body(int64_t now, struct buf *out);

/* Appends a _search body for the size events whose expiration is at or
 * before now, earliest expiration first (then by id), fetching "raw". */
int store_os_dsl_expired_search_body(int64_t now, uint32_t size, struct buf *out);

#endif
