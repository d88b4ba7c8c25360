/*
 * NIP-13 proof of work: the difficulty of an event id (its leading zero
 * bits), the target difficulty a miner commits to in the third element of a
 * "nonce" tag, and the relay's minimum difficulty check.
 *
 * Threads: the functions on events are thread-agnostic. A struct
 * nip13_policy is built once at startup, is immutable afterwards, and may
 * then be read from any thread (the validation workers check events with
 * it); the reasons it returns point into it, so it is freed only after
 * every thread that could still hand one on has stopped.
 */
#ifndef OSTRICH_NIPS_NIP13_H
#define OSTRICH_NIPS_NIP13_H

#include <stdbool.h>
#include <stdint.h>

struct event;

/* An id has 256 bits, so no difficulty is larger. */
#define NIP13_MAX_DIFFICULTY 256u

/* The relay's proof-of-work rule; opaque, immutable once built. */
struct nip13_policy;

/* Lifecycle */

/* Builds the rule "an event needs an effective difficulty of at least
 * min_difficulty" (0: every event passes) together with every reason it can
 * return. Returns 0 with *out set, OST_EINVAL when min_difficulty is over
 * NIP13_MAX_DIFFICULTY, or OST_ENOMEM. Any thread; call it at startup. */
int nip13_policy_new(uint32_t min_difficulty, struct nip13_policy **out);

/* Frees p and with it every reason it returned. NULL does nothing. Only
 * after the threads that may hold one of its reasons are done. */
void nip13_policy_free(struct nip13_policy *p);

/* Operations */

/* Checks ev (borrowed) against p. Returns 0 when the event's effective
 * difficulty (nip13_difficulty) reaches the minimum, else OST_EREJECT with
 * *reason set to "pow: difficulty D is less than M" or, when the committed
 * target is what falls short, "pow: committed target difficulty D is less
 * than M". The reason is owned by p and stays valid until
 * nip13_policy_free, so it may travel to another thread through a queue.
 * Never blocks; any thread. */
int nip13_check(const struct nip13_policy *p, const struct event *ev, const char **reason);

/* Queries */

/* The minimum difficulty p requires. */
uint32_t nip13_policy_min_difficulty(const struct nip13_policy *p);

/* The number of leading zero bits of id (0..256), most significant bit of
 * id[0] first. */
uint32_t nip13_leading_zero_bits(const uint8_t id[32]);

/* The target difficulty committed in the third element of ev's first
 * "nonce" tag. Returns true and writes *target when that element is a
 * decimal integer in 0..NIP13_MAX_DIFFICULTY; false when there is no
 * commitment or it cannot be read (both commit to nothing). */
bool nip13_committed_target(const struct event *ev, uint32_t *target);

/* The difficulty the relay credits ev with: its leading zero bits, capped at
 * the committed target when there is one. */
uint32_t nip13_difficulty(const struct event *ev);

#endif
