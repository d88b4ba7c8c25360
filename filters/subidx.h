/*
 * The live subscription index: which subscriptions want a new event.
 *
 * A subscription is (conn_id, sub_id) plus the filter_set of its REQ. Each
 * filter is indexed under the most selective key it has (its ids, else its
 * authors, else the values of one tag condition, else its kinds); filters
 * with none of these sit on a short list that every event visits. Matching
 * an event looks up its id, pubkey, single-letter tags and kind, then checks
 * each candidate filter in full, so its cost follows the number of
 * candidates, not the number of subscriptions.
 *
 * Owned by: the broadcast thread. Not thread-safe: one thread at a time
 * creates, changes, matches and frees an index (moving it between threads
 * needs the usual queue hand-off). The index owns every filter_set added to
 * it and frees them on removal, replacement or subidx_free.
 */
#ifndef OSTRICH_FILTERS_SUBIDX_H
#define OSTRICH_FILTERS_SUBIDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event;
struct filter_set;

/* NIP-01: a subscription id is a non-empty string of at most 64 chars. */
#define SUBIDX_SUB_ID_MAX 64

struct subidx;

/* Called once per matching subscription. sub_id (not NUL-terminated) is
 * borrowed for the duration of the call. The callback must not change the
 * index. */
typedef void (*subidx_match_fn)(void *ud, uint64_t conn_id, const char *sub_id, size_t sub_id_len);

/* Creates an empty index. Returns 0 with *out set, or OST_ENOMEM. */
int subidx_new(struct subidx **out);

/* Frees idx and every filter set it holds. NULL does nothing. */
void subidx_free(struct subidx *idx);

/* Adds the subscription (conn_id, sub_id) with the filters of set, or
 * replaces the one with the same conn_id and sub_id (NIP-01: a REQ with an
 * existing id overwrites it), freeing the old set. sub_id[0..sub_id_len)
 * is raw bytes, copied. The index takes ownership of set only on success;
 * if the call fails, ownership stays with the caller, and the index is
 * unchanged (an existing subscription of that id stays as it was).
 * Returns 0, OST_EINVAL (sub_id empty or longer than SUBIDX_SUB_ID_MAX, or
 * set NULL) or OST_ENOMEM. Never blocks. */
int subidx_add_take(struct subidx *idx, uint64_t conn_id, const char *sub_id, size_t sub_id_len,
                    struct filter_set *set);

/* Removes the subscription (conn_id, sub_id) and frees its set. Returns
 * true when it existed. Costs O(filter keys of that subscription). */
bool subidx_remove(struct subidx *idx, uint64_t conn_id, const char *sub_id, size_t sub_id_len);

/* Removes every subscription of conn_id (the connection closed). Returns
 * how many there were. Costs O(their filter keys). */
size_t subidx_remove_conn(struct subidx *idx, uint64_t conn_id);

/* Calls fn once for each subscription with at least one filter matching ev
 * (once even when several of its filters match), in no particular order.
 * ev is borrowed. Returns the number of calls. Does not allocate. */
size_t subidx_match(struct subidx *idx, const struct event *ev, subidx_match_fn fn, void *ud);

/* The number of subscriptions in idx. */
size_t subidx_count(const struct subidx *idx);

#endif
