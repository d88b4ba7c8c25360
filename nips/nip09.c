/*
 * NIP-09 deletion requests: reading the targets of a kind 5 event. The
 * relay calls nip09_parse on a validation worker; the store applies the
 * result (nips/nip09.h says why the work is split this way).
 */
#include "nips/nip09.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hex.h"
#include "common/json.h"
#include "store/store.h"
#include "validate/event.h"

/* The longest kind a coordinate may carry ("65535"). */
#define KIND_DIGITS_MAX 5

/* Reads an "e" value: an event id as 64 lowercase hex characters. */
static bool parse_id(const struct json_str *value, uint8_t id[32])
{
    uint8_t text[64];
    size_t len = json_str_decode_into(value, text, sizeof(text));
    return len == sizeof(text) && hex_decode_lower((const char *)text, 32, id) == 0;
}

/* Reads an "a" value, unescaped in text[0..len): "<kind>:<pubkey>:<d>".
 * a->d points into text. */
static bool parse_addr(const char *text, size_t len, struct store_addr *a)
{
    size_t i = 0;
    uint32_t kind = 0;
    /* NIP-01 writes the kind in plain decimal. */
    while (i < len && i < KIND_DIGITS_MAX && text[i] >= '0' && text[i] <= '9') {
        kind = kind * 10 + (uint32_t)(text[i] - '0');
        i++;
    }
    if (i == 0 || kind > EVENT_KIND_MAX || i + 1 + 64 + 1 > len || text[i] != ':' ||
        text[i + 1 + 64] != ':' || hex_decode_lower(text + i + 1, 32, a->pubkey) < 0) {
        return false;
    }
    a->kind = kind;
    a->d = text + i + 1 + 64 + 1;
    a->d_len = len - (i + 1 + 64 + 1);
    return true;
}

int nip09_parse(const struct event *ev, struct store_deletion **out)
{
    *out = NULL;
    if (ev->kind != NIP09_KIND || ev->n_tags == 0) {
        return 0;
    }
    /* One block, sized for the worst case of every tag a target: the
     * struct, the addresses, the ids, then the unescaped "a" values (never
     * longer than the tags' JSON). A deletion request is rare and small,
     * so the slack costs nothing worth a second pass. */
    size_t n = ev->n_tags;
    size_t size =
        sizeof(struct store_deletion) + n * sizeof(struct store_addr) + n * 32 + ev->tags_len;
    struct store_deletion *del = malloc(size);
    if (del == NULL) {
        return OST_ENOMEM;
    }
    struct store_addr *addrs = (struct store_addr *)(del + 1);
    uint8_t(*ids)[32] = (uint8_t(*)[32])(addrs + n);
    char *text = (char *)(ids + n);
    char *text_end = text + ev->tags_len;
    *del = (struct store_deletion){ .ids = ids, .addrs = addrs };

    struct event_tag_iter tags, fields;
    struct json_str name, value;
    event_tags_begin(ev, &tags);
    while (event_tags_next(&tags, &fields)) {
        if (!event_tag_next_str(&fields, &name) || !event_tag_next_str(&fields, &value)) {
            continue;
        }
        if (json_str_equals(&name, "e", 1)) {
            if (parse_id(&value, ids[del->n_ids])) {
                del->n_ids++;
            }
        } else if (json_str_equals(&name, "a", 1)) {
            size_t cap = (size_t)(text_end - text);
            size_t len = json_str_decode_into(&value, (uint8_t *)text, cap);
            if (len <= cap && parse_addr(text, len, &addrs[del->n_addrs])) {
                del->n_addrs++;
                text += len;
            }
        }
    }
    if (del->n_ids == 0 && del->n_addrs == 0) {
        free(del);
        return 0;
    }
    *out = del;
    return 0;
}
