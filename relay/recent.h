/*
 * The ids of recently stored events, so that a copy of one of them (what a
 * relay gets all day from clients that publish to many relays, and from
 * clients that retry) is answered "duplicate:" on the io thread, before
 * any signature work and without a database round trip.
 *
 * An entry is an event id with a hash of its signature: a copy is only
 * recognised when both match, so an event that reuses a stored id with a
 * different signature still goes through validation and gets the answer
 * for what it is. The set holds at most a fixed number of entries and
 * forgets the oldest first. It only ever answers for ids the relay has
 * stored: whoever feeds it adds an id once the event is durably stored,
 * and removes it when the event is deleted (NIP-09) or clears the set when
 * whole authors go (NIP-62) or the rules change (SIGHUP). An id it does not
 * hold is simply not answered here.
 *
 * Owned by: the io thread (single-threaded; no locks).
 */
#ifndef OSTRICH_RELAY_RECENT_H
#define OSTRICH_RELAY_RECENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Entries kept by default: about 2.5 MiB, and at a few thousand new events
 * per second, the last half minute or more of traffic. */
#define RECENT_DEFAULT_CAPACITY 65536

struct recent;

/* A set of at most capacity (>= 1) entries. Returns 0 or OST_ENOMEM /
 * OST_EINVAL; *out is written only on success. */
int recent_new(uint32_t capacity, struct recent **out);

/* NULL does nothing. */
void recent_free(struct recent *r);

/* The signature's key in the set: a hash of all 64 bytes. */
uint64_t recent_sig_hash(const uint8_t sig[64]);

/* Remembers (id, sig_hash), forgetting the oldest entry when full. An id
 * already held keeps its place and takes the new hash. */
void recent_add(struct recent *r, const uint8_t id[32], uint64_t sig_hash);

/* The key of a replaceable or addressable event's address (NIP-01: pubkey
 * and kind, and for an addressable kind the decoded value of its "d" tag,
 * "" for none). */
uint64_t recent_addr_hash(const uint8_t pubkey[32], uint32_t kind, const void *d, size_t d_len);

/* recent_add for the version of an address that the store now keeps: the
 * version the set held for that address before is forgotten, since the
 * store answers a copy of it differently ("duplicate:" with OK false, a
 * newer version is stored). */
void recent_add_version(struct recent *r, const uint8_t id[32], uint64_t sig_hash,
                        uint64_t addr_hash);

/* Whether (id, sig_hash) is held. */
bool recent_has(const struct recent *r, const uint8_t id[32], uint64_t sig_hash);

/* Forgets id, if held. */
void recent_forget(struct recent *r, const uint8_t id[32]);

/* Forgets the version held for an address (recent_addr_hash), if any. */
void recent_forget_addr(struct recent *r, uint64_t addr_hash);

/* Forgets everything. */
void recent_clear(struct recent *r);

/* Entries held. */
uint32_t recent_count(const struct recent *r);

#endif
