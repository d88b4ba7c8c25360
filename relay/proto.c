/*
 * NIP-01 message parsing and formatting. The envelope is checked with the
 * generic JSON scanner first (bounded depth, strict syntax), so the
 * type-specific code below only walks text that is known to be valid JSON.
 */
#include "relay/proto.h"

#include <inttypes.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hex.h"
#include "common/json.h"

#define R_NOT_ARRAY   "invalid: message must be a JSON array whose first element is the message type"
#define R_UNKNOWN     "invalid: unknown message type (expected EVENT, REQ, CLOSE, COUNT or AUTH)"
#define R_EVENT_SHAPE "invalid: EVENT message must be [\"EVENT\", <event object>]"
#define R_AUTH_SHAPE  "invalid: AUTH message must be [\"AUTH\", <signed event object>]"
#define R_REQ_SHAPE   "invalid: REQ message must be [\"REQ\", <subscription id>, <filter>, ...]"
#define R_COUNT_SHAPE "invalid: COUNT message must be [\"COUNT\", <subscription id>, <filter>, ...]"
#define R_CLOSE_SHAPE "invalid: CLOSE message must be [\"CLOSE\", <subscription id>]"
#define R_SUB_ID      "invalid: subscription id must be a non-empty string of at most 64 characters"
#define R_NO_FILTERS  "invalid: REQ needs at least one filter"
#define R_FILTER_TYPE "invalid: filters must be JSON objects"
#define R_TRAILING    "invalid: unexpected data after the JSON message"

const char *const proto_reasons[] = {
    R_NOT_ARRAY, R_UNKNOWN,    R_EVENT_SHAPE, R_REQ_SHAPE, R_COUNT_SHAPE, R_CLOSE_SHAPE,
    R_SUB_ID,    R_NO_FILTERS, R_FILTER_TYPE, R_TRAILING,  R_AUTH_SHAPE,  NULL,
};

static const struct {
    const char *name;
    size_t len;
    enum proto_type type;
} types[] = {
    { "EVENT", 5, PROTO_EVENT }, { "REQ", 3, PROTO_REQ },   { "CLOSE", 5, PROTO_CLOSE },
    { "COUNT", 5, PROTO_COUNT }, { "AUTH", 4, PROTO_AUTH },
};

/* Reads the subscription id string at p into out. */
static int read_sub_id(const char *p, const char *end, struct proto_msg *out, const char **next)
{
    struct json_str s;
    const char *reason;
    uint32_t dlen;
    if (p >= end || *p != '"' || json_scan_string(p, end, &s, &dlen, next, &reason) < 0 ||
        dlen == 0 || dlen > PROTO_MAX_SUB_ID_LEN) {
        return OST_EPARSE;
    }
    struct buf b;
    buf_init(&b);
    if (json_str_decode(&s, &b) < 0) {
        buf_fini(&b);
        return OST_ENOMEM;
    }
    size_t n_chars = 0;
    for (size_t i = 0; i < b.len; i++) {
        n_chars += ((unsigned char)b.data[i] & 0xC0) != 0x80; /* not a continuation byte */
    }
    if (n_chars > PROTO_MAX_SUB_ID_CHARS) {
        buf_fini(&b);
        return OST_EPARSE;
    }
    memcpy(out->sub_id, b.data, b.len);
    out->sub_id_len = b.len;
    out->sub_id[b.len] = '\0';
    buf_fini(&b);
    return 0;
}

int proto_parse(const char *msg, size_t len, struct proto_msg *out, bool *has_sub_id,
                const char **reason)
{
    const char *end = msg + len;
    const char *p, *after;
    struct proto_msg m;
    memset(&m, 0, sizeof(m));
    *has_sub_id = false;

    /* Whole-message validation first: malformed JSON and nesting attacks
     * stop here, before anything looks inside. */
    int rc = json_scan_value(msg, end, PROTO_MAX_DEPTH, &after, reason);
    if (rc < 0) {
        return rc;
    }
    if (json_skip_ws(after, end) != end) {
        *reason = R_TRAILING;
        return OST_EPARSE;
    }
    p = json_skip_ws(msg, end);
    if (*p != '[') {
        *reason = R_NOT_ARRAY;
        return OST_EPARSE;
    }
    p = json_skip_ws(p + 1, end);
    struct json_str type;
    if (*p != '"' || json_scan_string(p, end, &type, NULL, &p, reason) < 0) {
        *reason = R_NOT_ARRAY;
        return OST_EPARSE;
    }
    size_t t = 0;
    while (t < sizeof(types) / sizeof(types[0]) &&
           !json_str_equals(&type, types[t].name, types[t].len)) {
        t++;
    }
    if (t == sizeof(types) / sizeof(types[0])) {
        *reason = R_UNKNOWN;
        return OST_EPARSE;
    }
    m.type = types[t].type;
    p = json_skip_ws(p, end);

    if (m.type == PROTO_EVENT || m.type == PROTO_AUTH) {
        /* ["EVENT", {...}], and NIP-42's ["AUTH", {...}] from a client */
        const char *shape = m.type == PROTO_EVENT ? R_EVENT_SHAPE : R_AUTH_SHAPE;
        if (*p != ',') {
            *reason = shape;
            return OST_EPARSE;
        }
        p = json_skip_ws(p + 1, end);
        if (*p != '{') {
            *reason = shape;
            return OST_EPARSE;
        }
        const char *start = p;
        json_scan_value(p, end, PROTO_MAX_DEPTH, &p, reason);
        m.event = start;
        m.event_len = (size_t)(p - start);
        p = json_skip_ws(p, end);
        if (*p != ']') {
            *reason = shape;
            return OST_EPARSE;
        }
        *out = m;
        return 0;
    }

    const char *shape = m.type == PROTO_REQ     ? R_REQ_SHAPE
                        : m.type == PROTO_COUNT ? R_COUNT_SHAPE
                                                : R_CLOSE_SHAPE;
    if (*p != ',') {
        *reason = shape;
        return OST_EPARSE;
    }
    p = json_skip_ws(p + 1, end);
    rc = read_sub_id(p, end, &m, &p);
    if (rc < 0) {
        *reason = rc == OST_ENOMEM ? "error: out of memory" : R_SUB_ID;
        return rc;
    }
    *has_sub_id = true;
    *out = m;
    p = json_skip_ws(p, end);
    if (m.type == PROTO_CLOSE) {
        if (*p != ']') {
            *reason = shape;
            return OST_EPARSE;
        }
        return 0;
    }
    if (*p == ']') {
        *reason = R_NO_FILTERS;
        return OST_EPARSE;
    }
    /* *p is ',' here: the envelope is valid JSON. */
    p = json_skip_ws(p + 1, end);
    const char *filters = p;
    const char *last = p;
    for (;;) {
        if (*p != '{') {
            *reason = R_FILTER_TYPE;
            return OST_EPARSE;
        }
        json_scan_value(p, end, PROTO_MAX_DEPTH, &p, reason);
        last = p;
        p = json_skip_ws(p, end);
        if (*p == ']') {
            break;
        }
        p = json_skip_ws(p + 1, end);
    }
    out->filters = filters;
    out->filters_len = (size_t)(last - filters);
    return 0;
}

static int put_sub_id(struct buf *out, const char *sub_id, size_t len)
{
    return json_write_string(out, sub_id, len);
}

int proto_fmt_event(struct buf *out, const char *sub_id, size_t sub_id_len, const char *json,
                    size_t json_len)
{
    int rc = buf_reserve(out, 14 + sub_id_len + json_len);
    rc = rc ? rc : buf_append(out, "[\"EVENT\",", 9);
    rc = rc ? rc : put_sub_id(out, sub_id, sub_id_len);
    rc = rc ? rc : buf_append_char(out, ',');
    rc = rc ? rc : buf_append(out, json, json_len);
    rc = rc ? rc : buf_append_char(out, ']');
    return rc;
}

int proto_fmt_ok(struct buf *out, const uint8_t id[32], bool accepted, const char *reason)
{
    char hex[64];
    hex_encode(id, 32, hex);
    int rc = buf_append(out, "[\"OK\",\"", 7);
    rc = rc ? rc : buf_append(out, hex, 64);
    rc = rc ? rc : buf_append_str(out, accepted ? "\",true," : "\",false,");
    rc = rc ? rc : json_write_string(out, reason ? reason : "", reason ? strlen(reason) : 0);
    rc = rc ? rc : buf_append_char(out, ']');
    return rc;
}

int proto_fmt_eose(struct buf *out, const char *sub_id, size_t sub_id_len, bool is_complete)
{
    int rc = buf_append(out, "[\"EOSE\",", 8);
    rc = rc ? rc : put_sub_id(out, sub_id, sub_id_len);
    rc = rc ? rc : buf_append_str(out, is_complete ? ",[\"finish\"]]" : "]");
    return rc;
}

int proto_fmt_closed(struct buf *out, const char *sub_id, size_t sub_id_len, const char *reason)
{
    int rc = buf_append(out, "[\"CLOSED\",", 10);
    rc = rc ? rc : put_sub_id(out, sub_id, sub_id_len);
    rc = rc ? rc : buf_append_char(out, ',');
    rc = rc ? rc : json_write_string(out, reason, strlen(reason));
    rc = rc ? rc : buf_append_char(out, ']');
    return rc;
}

int proto_fmt_notice(struct buf *out, const char *reason)
{
    int rc = buf_append(out, "[\"NOTICE\",", 10);
    rc = rc ? rc : json_write_string(out, reason, strlen(reason));
    rc = rc ? rc : buf_append_char(out, ']');
    return rc;
}

int proto_fmt_count(struct buf *out, const char *sub_id, size_t sub_id_len, uint64_t count,
                    const char *hll, size_t hll_len)
{
    int rc = buf_append(out, "[\"COUNT\",", 9);
    rc = rc ? rc : put_sub_id(out, sub_id, sub_id_len);
    rc = rc ? rc : buf_printf(out, ",{\"count\":%" PRIu64, count);
    if (hll_len > 0) {
        rc = rc ? rc : buf_append(out, ",\"hll\":", 7);
        rc = rc ? rc : json_write_string(out, hll, hll_len);
    }
    rc = rc ? rc : buf_append(out, "}]", 2);
    return rc;
}

int proto_fmt_auth(struct buf *out, const char *challenge)
{
    int rc = buf_append(out, "[\"AUTH\",", 8);
    rc = rc ? rc : json_write_string(out, challenge, strlen(challenge));
    rc = rc ? rc : buf_append_char(out, ']');
    return rc;
}
