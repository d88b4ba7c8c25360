/*
 * NIP-40 expiration: reads an event's "expiration" tag and refuses events
 * published after they expired. Storing the time and hiding expired events
 * from queries is the store's part (struct event's expiration field, see
 * store/store.h). Thread-agnostic; no state.
 */
#ifndef OSTRICH_NIPS_NIP40_H
#define OSTRICH_NIPS_NIP40_H

#include <stdbool.h>
#include <stdint.h>

struct event;

/* Reads the first "expiration" tag of ev (borrowed). Returns 0 with
 * *has_expiration and, when it is true, *expiration (Unix seconds) written;
 * or OST_EREJECT with *reason set to a static "invalid: ..." string when the
 * tag has no value or its value is not a non-negative decimal integer that
 * fits 63 bits. Any thread. */
int nip40_parse(const struct event *ev, bool *has_expiration, int64_t *expiration,
                const char **reason);

/* The publish rule: parses as nip40_parse, then refuses an event whose
 * expiration is at or before now ("invalid: event has expired"). On success
 * sets ev->expiration to the expiration time, or to 0 when there is none,
 * which is what the store reads. Returns 0 or OST_EREJECT with *reason set
 * to a static string. Any thread. */
int nip40_check(struct event *ev, int64_t now, const char **reason);

/* True when an event expiring at expiration has expired at now (NIP-40:
 * the timestamp is the time at which it "SHOULD be considered expired",
 * so at that second it is). */
static inline bool nip40_is_expired(int64_t expiration, int64_t now)
{
    return expiration <= now;
}

/* Every reason these functions return, ending with NULL (for tests). */
extern const char *const nip40_reasons[];

#endif
