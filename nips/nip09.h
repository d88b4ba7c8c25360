/*
 * NIP-09 deletion requests: reads the "e" and "a" tags of a kind 5 event
 * into a struct store_deletion, which the relay passes with the event to
 * the storage thread; the store deletes the targets and records them in
 * the transaction that stores the request (store/store.h,
 * store_write_batch_del).
 *
 * Why the relay parses and the store applies: the store sits below nips/
 * and cannot call this module, and the deletion must commit with the
 * request's own insert so that its OK means both happened. Parsing here, on
 * a validation worker, keeps tag formats out of the store and off the
 * storage thread. Thread-agnostic; no state.
 */
#ifndef OSTRICH_NIPS_NIP09_H
#define OSTRICH_NIPS_NIP09_H

struct event;
struct store_deletion;

/* The kind of a deletion request. */
#define NIP09_KIND 5

/* Reads the targets of ev (borrowed), a kind 5 event: each "e" tag whose
 * value is 64 lowercase hex characters (an event id), and each "a" tag
 * whose value is "<kind>:<64 lowercase hex pubkey>:<d>" with a decimal
 * kind of at most 65535 (d may be empty and may hold ':'). Other tags and
 * malformed values are skipped: NIP-09 gives a relay no reason to refuse
 * the request. Which targets the request's pubkey may delete is the
 * store's rule. Returns 0 with *out set to one malloc block holding the
 * struct and its arrays (the caller frees it with free), or to NULL when ev
 * is not kind 5 or names no target; or OST_ENOMEM. Any thread. */
int nip09_parse(const struct event *ev, struct store_deletion **out);

#endif
