/*
 * Strict NIP-01 event parsing. Design: a recursive-descent parser that knows
 * the event's shape (an object of exactly seven fields, tags at most two
 * levels deep), so it needs no token buffer and no allocation; the generic
 * JSON primitives do the string, number and UTF-8 checks.
 */
#include "validate/event.h"

#include <string.h>

#include "common/err.h"
#include "common/hex.h"

#define R_NOT_OBJECT "invalid: event must be a JSON object"
#define R_UNKNOWN_FIELD \
    "invalid: unknown field in event (allowed: id, pubkey, created_at, kind, tags, content, sig)"
#define R_DUP_FIELD       "invalid: duplicate field in event"
#define R_MISSING_ID      "invalid: event has no \"id\""
#define R_MISSING_PUBKEY  "invalid: event has no \"pubkey\""
#define R_MISSING_CREATED "invalid: event has no \"created_at\""
#define R_MISSING_KIND    "invalid: event has no \"kind\""
#define R_MISSING_TAGS    "invalid: event has no \"tags\""
#define R_MISSING_CONTENT "invalid: event has no \"content\""
#define R_MISSING_SIG     "invalid: event has no \"sig\""
#define R_ID              "invalid: \"id\" must be 64 lowercase hex characters"
#define R_PUBKEY          "invalid: \"pubkey\" must be 64 lowercase hex characters"
#define R_SIG             "invalid: \"sig\" must be 128 lowercase hex characters"
#define R_CREATED_AT      "invalid: \"created_at\" must be a non-negative integer"
#define R_KIND            "invalid: \"kind\" must be an integer between 0 and 65535"
#define R_TAGS            "invalid: \"tags\" must be an array of arrays of strings"
#define R_TAG_EMPTY       "invalid: every tag must start with a non-empty string"
#define R_TOO_MANY_TAGS   "invalid: too many tags (over the relay's max_event_tags limit)"
#define R_CONTENT         "invalid: \"content\" must be a string"
#define R_CONTENT_LONG    "invalid: content too long (over the relay's max_content_bytes limit)"
#define R_TRAILING        "invalid: unexpected data after the event object"
#define R_SYNTAX          "invalid: malformed event JSON"

const char *const event_reasons[] = {
    R_NOT_OBJECT,
    R_UNKNOWN_FIELD,
    R_DUP_FIELD,
    R_MISSING_ID,
    R_MISSING_PUBKEY,
    R_MISSING_CREATED,
    R_MISSING_KIND,
    R_MISSING_TAGS,
    R_MISSING_CONTENT,
    R_MISSING_SIG,
    R_ID,
    R_PUBKEY,
    R_SIG,
    R_CREATED_AT,
    R_KIND,
    R_TAGS,
    R_TAG_EMPTY,
    R_TOO_MANY_TAGS,
    R_CONTENT,
    R_CONTENT_LONG,
    R_TRAILING,
    R_SYNTAX,
    NULL,
};

enum field {
    F_ID,
    F_PUBKEY,
    F_CREATED_AT,
    F_KIND,
    F_TAGS,
    F_CONTENT,
    F_SIG,
    F_COUNT,
};

static const struct {
    const char *name;
    size_t len;
    const char *missing;
} fields[F_COUNT] = {
    [F_ID] = { "id", 2, R_MISSING_ID },
    [F_PUBKEY] = { "pubkey", 6, R_MISSING_PUBKEY },
    [F_CREATED_AT] = { "created_at", 10, R_MISSING_CREATED },
    [F_KIND] = { "kind", 4, R_MISSING_KIND },
    [F_TAGS] = { "tags", 4, R_MISSING_TAGS },
    [F_CONTENT] = { "content", 7, R_MISSING_CONTENT },
    [F_SIG] = { "sig", 3, R_MISSING_SIG },
};

static int field_lookup(const struct json_str *key)
{
    for (int i = 0; i < F_COUNT; i++) {
        if (json_str_equals(key, fields[i].name, fields[i].len)) {
            return i;
        }
    }
    return -1;
}

/* A string value of exactly 2 * n lowercase hex characters. */
static int parse_hex_field(const char *p, const char *end, uint8_t *out, size_t n,
                           const char **next)
{
    if (p >= end || *p != '"' || (size_t)(end - p) < 2 * n + 2 || p[2 * n + 1] != '"') {
        return OST_EPARSE;
    }
    if (hex_decode_lower(p + 1, n, out) < 0) {
        return OST_EPARSE;
    }
    *next = p + 2 * n + 2;
    return 0;
}

static int parse_tags(const char *p, const char *end, const struct event_limits *lim,
                      struct event *ev, const char **next, const char **reason)
{
    const char *start = p;
    uint32_t n = 0;
    if (p >= end || *p != '[') {
        *reason = R_TAGS;
        return OST_EPARSE;
    }
    p = json_skip_ws(p + 1, end);
    if (p < end && *p == ']') {
        p++;
        goto done;
    }
    for (;;) {
        if (p >= end || *p != '[') {
            *reason = R_TAGS;
            return OST_EPARSE;
        }
        n++;
        if (lim != NULL && lim->max_tags != 0 && n > lim->max_tags) {
            *reason = R_TOO_MANY_TAGS;
            return OST_EREJECT;
        }
        p = json_skip_ws(p + 1, end);
        /* An empty tag, [], is accepted: clients send them, and NIP-01 puts
         * no lower bound on a tag's length. */
        bool is_empty = p < end && *p == ']';
        if (is_empty) {
            p++;
        }
        for (bool first = true; !is_empty; first = false) {
            struct json_str s;
            if (p >= end || *p != '"') {
                *reason = R_TAGS;
                return OST_EPARSE;
            }
            int rc = json_scan_string(p, end, &s, NULL, &p, reason);
            if (rc < 0) {
                return rc;
            }
            if (first && s.len == 0) {
                *reason = R_TAG_EMPTY;
                return OST_EPARSE;
            }
            p = json_skip_ws(p, end);
            if (p < end && *p == ',') {
                p = json_skip_ws(p + 1, end);
                continue;
            }
            if (p < end && *p == ']') {
                p++;
                break;
            }
            *reason = R_TAGS;
            return OST_EPARSE;
        }
        p = json_skip_ws(p, end);
        if (p < end && *p == ',') {
            p = json_skip_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == ']') {
            p++;
            break;
        }
        *reason = R_TAGS;
        return OST_EPARSE;
    }
done:
    ev->tags = start;
    ev->tags_len = (size_t)(p - start);
    ev->n_tags = n;
    *next = p;
    return 0;
}

/* Parses the value of one field at p into ev. */
static int parse_field(int f, const char *p, const char *end, const struct event_limits *lim,
                       struct event *ev, const char **next, const char **reason)
{
    int64_t v;
    int rc;
    const char *ignored;
    switch (f) {
    case F_ID:
        rc = parse_hex_field(p, end, ev->id, 32, next);
        *reason = R_ID;
        return rc;
    case F_PUBKEY:
        rc = parse_hex_field(p, end, ev->pubkey, 32, next);
        *reason = R_PUBKEY;
        return rc;
    case F_SIG:
        rc = parse_hex_field(p, end, ev->sig, 64, next);
        *reason = R_SIG;
        return rc;
    case F_CREATED_AT:
    case F_KIND:
        if (json_scan_int(p, end, &v, next, &ignored) < 0 || v < 0 ||
            (f == F_KIND && v > (int64_t)EVENT_KIND_MAX)) {
            *reason = f == F_KIND ? R_KIND : R_CREATED_AT;
            return OST_EPARSE;
        }
        if (f == F_KIND) {
            ev->kind = (uint32_t)v;
        } else {
            ev->created_at = v;
        }
        return 0;
    case F_TAGS:
        return parse_tags(p, end, lim, ev, next, reason);
    case F_CONTENT:
        if (p >= end || *p != '"') {
            *reason = R_CONTENT;
            return OST_EPARSE;
        }
        rc = json_scan_string(p, end, &ev->content, &ev->content_decoded_len, next, reason);
        if (rc < 0) {
            return rc;
        }
        if (lim != NULL && lim->max_content_len != 0 &&
            ev->content_decoded_len > lim->max_content_len) {
            *reason = R_CONTENT_LONG;
            return OST_EREJECT;
        }
        return 0;
    default:
        *reason = R_UNKNOWN_FIELD;
        return OST_EPARSE;
    }
}

int event_parse(const char *json, size_t len, const struct event_limits *lim, struct event *out,
                const char **reason)
{
    const char *end = json + len;
    const char *p = json_skip_ws(json, end);
    struct event ev;
    unsigned seen = 0;
    int rc;

    memset(&ev, 0, sizeof(ev));
    if (p >= end || *p != '{') {
        *reason = R_NOT_OBJECT;
        return OST_EPARSE;
    }
    ev.json = p;
    p = json_skip_ws(p + 1, end);
    if (p < end && *p == '}') {
        *reason = R_MISSING_ID;
        return OST_EPARSE;
    }
    for (;;) {
        struct json_str key;
        if (p >= end || *p != '"') {
            *reason = R_SYNTAX;
            return OST_EPARSE;
        }
        rc = json_scan_string(p, end, &key, NULL, &p, reason);
        if (rc < 0) {
            return rc;
        }
        int f = field_lookup(&key);
        if (f < 0) {
            *reason = R_UNKNOWN_FIELD;
            return OST_EPARSE;
        }
        if (seen & (1u << f)) {
            *reason = R_DUP_FIELD;
            return OST_EPARSE;
        }
        seen |= 1u << f;
        p = json_skip_ws(p, end);
        if (p >= end || *p != ':') {
            *reason = R_SYNTAX;
            return OST_EPARSE;
        }
        p = json_skip_ws(p + 1, end);
        rc = parse_field(f, p, end, lim, &ev, &p, reason);
        if (rc < 0) {
            return rc == OST_EREJECT ? rc : OST_EPARSE;
        }
        p = json_skip_ws(p, end);
        if (p < end && *p == ',') {
            p = json_skip_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == '}') {
            p++;
            break;
        }
        *reason = R_SYNTAX;
        return OST_EPARSE;
    }
    for (int f = 0; f < F_COUNT; f++) {
        if (!(seen & (1u << f))) {
            *reason = fields[f].missing;
            return OST_EPARSE;
        }
    }
    ev.json_len = (size_t)(p - ev.json);
    if (json_skip_ws(p, end) != end) {
        *reason = R_TRAILING;
        return OST_EPARSE;
    }
    *out = ev;
    return 0;
}

/* Scans the top-level members of json for "id" and, when sig is not NULL,
 * "sig", until it has what it looks for. */
static int peek_fields(const char *json, size_t len, uint8_t id[32], uint8_t *sig)
{
    const char *end = json + len;
    const char *p = json_skip_ws(json, end);
    const char *reason;
    bool has_id = false, has_sig = sig == NULL;
    if (p >= end || *p != '{') {
        return OST_ENOENT;
    }
    p = json_skip_ws(p + 1, end);
    while (p < end && *p == '"') {
        struct json_str key;
        if (json_scan_string(p, end, &key, NULL, &p, &reason) < 0) {
            return OST_ENOENT;
        }
        p = json_skip_ws(p, end);
        if (p >= end || *p != ':') {
            return OST_ENOENT;
        }
        p = json_skip_ws(p + 1, end);
        bool is_id = !has_id && json_str_equals(&key, "id", 2);
        bool is_sig = !has_sig && json_str_equals(&key, "sig", 3);
        if (is_id || is_sig) {
            uint8_t tmp[64];
            size_t n = is_id ? 32 : 64;
            if (parse_hex_field(p, end, tmp, n, &p) < 0) {
                return OST_ENOENT;
            }
            memcpy(is_id ? id : sig, tmp, n);
            has_id = has_id || is_id;
            has_sig = has_sig || is_sig;
            if (has_id && has_sig) {
                return 0;
            }
        } else if (json_scan_value(p, end, 16, &p, &reason) < 0) {
            return OST_ENOENT;
        }
        p = json_skip_ws(p, end);
        if (p >= end || *p != ',') {
            return OST_ENOENT;
        }
        p = json_skip_ws(p + 1, end);
    }
    return OST_ENOENT;
}

int event_peek_id(const char *json, size_t len, uint8_t id[32])
{
    uint8_t tmp[32];
    if (peek_fields(json, len, tmp, NULL) < 0) {
        return OST_ENOENT;
    }
    memcpy(id, tmp, 32);
    return 0;
}

int event_peek_id_sig(const char *json, size_t len, uint8_t id[32], uint8_t sig[64])
{
    uint8_t tmp_id[32], tmp_sig[64];
    if (peek_fields(json, len, tmp_id, tmp_sig) < 0) {
        return OST_ENOENT;
    }
    memcpy(id, tmp_id, 32);
    memcpy(sig, tmp_sig, 64);
    return 0;
}

void event_tags_begin(const struct event *ev, struct event_tag_iter *it)
{
    it->p = ev->tags + 1;
    it->end = ev->tags + ev->tags_len - 1;
}

/* Skips a string known to be valid, starting at its opening quote. */
static const char *skip_valid_string(const char *p, bool *has_escapes)
{
    p++;
    for (;;) {
        if (*p == '"') {
            return p;
        }
        if (*p == '\\') {
            *has_escapes = true;
            p += 2;
        } else {
            p++;
        }
    }
}

bool event_tags_next(struct event_tag_iter *it, struct event_tag_iter *fields_out)
{
    const char *p = it->p;
    while (p < it->end && *p != '[') {
        p++; /* whitespace and commas between tags */
    }
    if (p >= it->end) {
        return false;
    }
    const char *start = p + 1;
    p = start;
    for (;;) {
        if (*p == '"') {
            bool ignored = false;
            p = skip_valid_string(p, &ignored) + 1;
        } else if (*p == ']') {
            break;
        } else {
            p++;
        }
    }
    fields_out->p = start;
    fields_out->end = p;
    it->p = p + 1;
    return true;
}

bool event_tag_next_str(struct event_tag_iter *fields_it, struct json_str *out)
{
    const char *p = fields_it->p;
    while (p < fields_it->end && *p != '"') {
        p++;
    }
    if (p >= fields_it->end) {
        return false;
    }
    bool has_escapes = false;
    const char *close = skip_valid_string(p, &has_escapes);
    out->p = p + 1;
    out->len = (uint32_t)(close - p - 1);
    out->has_escapes = has_escapes;
    fields_it->p = close + 1;
    return true;
}
