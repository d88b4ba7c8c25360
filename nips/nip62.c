/*
 * NIP-62 requests to vanish: the "relay" tag check. The relay calls
 * nip62_parse on a validation worker; the store does the deletion.
 */
#include "nips/nip62.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/json.h"
#include "nips/nip42.h"
#include "store/store.h"
#include "validate/event.h"

/* Longer relay tag values cannot name a relay URL anyone configures. */
#define URL_MAX 2048

bool nip62_names_relay(const struct event *ev, const char *relay_url)
{
    struct event_tag_iter tags, fields;
    struct json_str name, value;
    uint8_t url[URL_MAX];
    event_tags_begin(ev, &tags);
    while (event_tags_next(&tags, &fields)) {
        if (!event_tag_next_str(&fields, &name) || !json_str_equals(&name, "relay", 5) ||
            !event_tag_next_str(&fields, &value)) {
            continue;
        }
        if (json_str_equals(&value, NIP62_ALL_RELAYS, strlen(NIP62_ALL_RELAYS))) {
            return true;
        }
        /* NIP-62: "Relays MUST fully delete any events from the .pubkey if
         * their service url is tagged in the event." Without a configured
         * URL the relay cannot tell its own name from another relay's. */
        size_t len = json_str_decode_into(&value, url, sizeof(url));
        if (relay_url[0] != '\0' && len <= sizeof(url) &&
            nip42_relay_matches(relay_url, (const char *)url, len)) {
            return true;
        }
    }
    return false;
}

int nip62_parse(const struct event *ev, const char *relay_url, struct store_deletion **out)
{
    *out = NULL;
    if (ev->kind != NIP62_KIND || !nip62_names_relay(ev, relay_url)) {
        return 0;
    }
    struct store_deletion *del = calloc(1, sizeof(*del));
    if (del == NULL) {
        return OST_ENOMEM;
    }
    del->is_vanish = true;
    *out = del;
    return 0;
}
