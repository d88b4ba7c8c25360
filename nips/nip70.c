/* NIP-70 protected events: the ["-"] tag and the author-only rule. */
#include "nips/nip70.h"

#include <string.h>

#include "common/err.h"
#include "common/json.h"
#include "validate/event.h"

#define R_NOT_AUTHOR "auth-required: this event may only be published by its author"

const char *const nip70_reasons[] = { R_NOT_AUTHOR, NULL };

bool nip70_is_protected(const struct event *ev)
{
    struct event_tag_iter tags, fields;
    struct json_str name;
    event_tags_begin(ev, &tags);
    while (event_tags_next(&tags, &fields)) {
        if (event_tag_next_str(&fields, &name) && json_str_equals(&name, "-", 1)) {
            return true;
        }
    }
    return false;
}

int nip70_check(const struct event *ev, const uint8_t (*authed)[32], size_t n, const char **reason)
{
    if (!nip70_is_protected(ev)) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (memcmp(authed[i], ev->pubkey, 32) == 0) {
            return 0;
        }
    }
    *reason = R_NOT_AUTHOR;
    return OST_EREJECT;
}
