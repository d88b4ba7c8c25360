/*
 * Full validation of one event: strict parse, relay limits, created_at
 * window, id check and signature check, in that order (cheapest first).
 *
 * A verify_ctx holds one thread's hashing state and signature verifier;
 * create one per thread and never share it. verify_event never blocks.
 */
#ifndef OSTRICH_VALIDATE_VERIFY_H
#define OSTRICH_VALIDATE_VERIFY_H

#include <stdint.h>

#include "validate/canon.h"
#include "validate/event.h"
#include "validate/sig.h"

struct verify_limits {
    struct event_limits event;
    /* created_at must lie in [now - max_age_s, now + max_future_s]; 0 in a
     * field means no bound on that side. */
    uint32_t created_at_max_age_s;
    uint32_t created_at_max_future_s;
};

struct verify_ctx {
    struct canon_ctx canon;
    struct sig_verifier *sig;
};

/* Returns 0, OST_EINVAL (unknown engine) or OST_ENOMEM; on failure nothing
 * is left allocated. */
int verify_ctx_init(struct verify_ctx *v, enum sig_engine engine);
void verify_ctx_fini(struct verify_ctx *v);

/* Validates json[0..len) as an event against lim at time now (Unix seconds).
 * json is borrowed; on success *out points into it. Returns 0, or a negative
 * code with *reason set to a static string with its NIP-01 prefix:
 * OST_EPARSE (malformed), OST_EREJECT (a limit or the time window),
 * OST_EBADID, OST_EBADSIG, or OST_ENOMEM ("error: ..."). */
int verify_event(struct verify_ctx *v, const char *json, size_t len,
                 const struct verify_limits *lim, int64_t now, struct event *out,
                 const char **reason);

/* The reasons verify_event adds to event_parse's, ending with NULL. */
extern const char *const verify_reasons[];

#endif
