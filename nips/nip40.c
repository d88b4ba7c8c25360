/*
 * NIP-40 expiration: the tag and the publish rule. The relay calls
 * nip40_check on a validation worker before an event is stored or
 * broadcast; the store keeps the time it sets and filters on it.
 */
#include "nips/nip40.h"

#include <stdlib.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "validate/event.h"

#define R_BAD_VALUE "invalid: \"expiration\" tag value must be a Unix timestamp in seconds"
#define R_EXPIRED   "invalid: event has expired"

const char *const nip40_reasons[] = { R_BAD_VALUE, R_EXPIRED, NULL };

/* Reads s as a non-negative decimal integer below 2^63 (digits only, as
 * created_at is written). An escaped string is decoded first. */
static bool parse_time(const struct json_str *s, int64_t *out)
{
    uint64_t v;
    if (!json_str_to_uint(s, INT64_MAX, &v)) {
        return false;
    }
    *out = (int64_t)v;
    return true;
}

int nip40_parse(const struct event *ev, bool *has_expiration, int64_t *expiration,
                const char **reason)
{
    struct event_tag_iter tags, fields;
    struct json_str name, value;
    event_tags_begin(ev, &tags);
    while (event_tags_next(&tags, &fields)) {
        if (!event_tag_next_str(&fields, &name) || !json_str_equals(&name, "expiration", 10)) {
            continue;
        }
        /* NIP-40: ["expiration", "<Unix timestamp in seconds>"]; the first
         * such tag decides. */
        int64_t t;
        if (!event_tag_next_str(&fields, &value) || !parse_time(&value, &t)) {
            *reason = R_BAD_VALUE;
            return OST_EREJECT;
        }
        *has_expiration = true;
        *expiration = t;
        return 0;
    }
    *has_expiration = false;
    return 0;
}

int nip40_check(struct event *ev, int64_t now, const char **reason)
{
    bool has_expiration;
    int64_t expiration = 0;
    int rc = nip40_parse(ev, &has_expiration, &expiration, reason);
    if (rc < 0) {
        return rc;
    }
    /* NIP-40: "Relays SHOULD drop any events that are published to them if
     * they are expired." An expiration of 0 is always in the past, so 0 can
     * mean "none" in the stored event. */
    if (has_expiration && nip40_is_expired(expiration, now)) {
        *reason = R_EXPIRED;
        return OST_EREJECT;
    }
    ev->expiration = has_expiration ? expiration : 0;
    return 0;
}
