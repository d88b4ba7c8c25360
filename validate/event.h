/*
 * Strict parsing of one Nostr event from its JSON (NIP-01).
 *
 * The parsed event is a view into the caller's JSON plus the decoded binary
 * fields (id, pubkey, sig, created_at, kind). Nothing is allocated: the
 * caller keeps the JSON alive for as long as it uses the event, and moving
 * the JSON to another thread moves the event with it. Thread-agnostic.
 */
#ifndef OSTRICH_VALIDATE_EVENT_H
#define OSTRICH_VALIDATE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/json.h"

#define EVENT_KIND_MAX 65535u

/* Limits applied while parsing; 0 in a field means "no limit". */
struct event_limits {
    uint32_t max_tags;        /* number of tags */
    uint32_t max_content_len; /* content bytes after JSON unescaping */
};

/* Transparent value type; owned by whoever owns json. */
struct event {
    uint8_t id[32];
    uint8_t pubkey[32];
    uint8_t sig[64];
    int64_t created_at;
    uint32_t kind;
    uint32_t n_tags;
    const char *json; /* borrowed: the event object, '{' to '}' */
    size_t json_len;
    const char *tags; /* borrowed: the tags array, '[' to ']' */
    size_t tags_len;
    struct json_str content;      /* the bytes between the quotes */
    uint32_t content_decoded_len; /* content bytes after unescaping */
    /* NIP-40 expiration time in Unix seconds, 0 for none. event_parse
     * leaves it 0; nip40_check (nips/nip40.h) sets it from the tag before
     * the event is stored, and the store keeps it to hide the event once
     * it has expired. */
    int64_t expiration;
};

/* Iterates the tags of a parsed event, and the strings of one tag. */
struct event_tag_iter {
    const char *p;
    const char *end;
};

/* Parses json[0..len) (one JSON object, surrounding whitespace allowed)
 * into *out. lim may be NULL for no limits. json is borrowed and *out points
 * into it. Returns 0; OST_EPARSE for malformed input, or OST_EREJECT when a
 * limit of lim is exceeded; either way *reason is set to a static string
 * that starts with "invalid: ". *out is written only on success. */
int event_parse(const char *json, size_t len, const struct event_limits *lim, struct event *out,
                const char **reason);

/* Best effort for error replies: finds a top-level "id" holding 64
 * lowercase hex characters in json that may be malformed elsewhere. Returns
 * 0 and writes id, or OST_ENOENT. */
int event_peek_id(const char *json, size_t len, uint8_t id[32]);

/* As event_peek_id, for the top-level "id" and "sig" (128 lowercase hex
 * characters) both; stops scanning once it has both. Returns 0 and writes
 * id and sig, or OST_ENOENT. Nothing else of the event is checked. */
int event_peek_id_sig(const char *json, size_t len, uint8_t id[32], uint8_t sig[64]);

/* Tag iteration over a parsed event, which has already been validated:
 *   struct event_tag_iter tags, fields; struct json_str s;
 *   event_tags_begin(ev, &tags);
 *   while (event_tags_next(&tags, &fields))
 *       while (event_tag_next_str(&fields, &s)) ...               */
void event_tags_begin(const struct event *ev, struct event_tag_iter *it);
bool event_tags_next(struct event_tag_iter *it, struct event_tag_iter *fields);
bool event_tag_next_str(struct event_tag_iter *fields, struct json_str *out);

/* True for NIP-01's ephemeral kinds (20000 <= kind < 30000). */
static inline bool event_kind_is_ephemeral(uint32_t kind)
{
    return kind >= 20000 && kind < 30000;
}

/* True for NIP-01's replaceable kinds (0, 3, 10000 <= kind < 20000). */
static inline bool event_kind_is_replaceable(uint32_t kind)
{
    return kind == 0 || kind == 3 || (kind >= 10000 && kind < 20000);
}

/* True for NIP-01's addressable kinds (30000 <= kind < 40000). */
static inline bool event_kind_is_addressable(uint32_t kind)
{
    return kind >= 30000 && kind < 40000;
}

/* The table of every reason event_parse can return (for tests), ending with
 * NULL. */
extern const char *const event_reasons[];

#endif
