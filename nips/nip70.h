/*
 * NIP-70: protected events. An event with a ["-"] tag may only be published
 * by its author, which the relay knows once the connection has
 * authenticated as that key with NIP-42. Pure functions; any thread.
 */
#ifndef OSTRICH_NIPS_NIP70_H
#define OSTRICH_NIPS_NIP70_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event;

/* Whether ev carries a tag whose first string is "-". NIP-70's tag has that
 * one item; a longer tag starting with "-" is treated as protected too, so
 * that a variant cannot slip past the rule. */
bool nip70_is_protected(const struct event *ev);

/* Whether ev may be published by a connection authenticated as the n keys
 * of authed (borrowed; NULL when n is 0). Returns 0 when ev is not protected
 * or its author is among the keys, else OST_EREJECT with *reason set to
 * "auth-required: this event may only be published by its author". */
int nip70_check(const struct event *ev, const uint8_t (*authed)[32], size_t n, const char **reason);

/* Every reason this module returns, ending with NULL (for tests). */
extern const char *const nip70_reasons[];

#endif
