/*
 * Strict JSON scanning. Design: every function takes [p, end) and never reads
 * outside it, so callers can scan a sub-span of a larger message. Values are
 * validated in one pass without building a tree; json_scan_value keeps one
 * bit per open container (array or object) in a fixed bitmap instead of
 * recursing, which bounds both stack use and work per byte.
 */
#include "common/json.h"

#include <string.h>

#include "common/buf.h"
#include "common/err.h"

#define R_UNTERMINATED "invalid: unterminated JSON string"
#define R_CONTROL      "invalid: unescaped control character in JSON string"
#define R_ESCAPE       "invalid: bad escape sequence in JSON string"
#define R_SURROGATE    "invalid: unpaired surrogate in JSON string \\u escape"
#define R_UTF8         "invalid: invalid UTF-8 in JSON string"
#define R_NUMBER       "invalid: malformed JSON number"
#define R_NOT_INTEGER  "invalid: expected an integer without fraction or exponent"
#define R_INT_RANGE    "invalid: integer out of range"
#define R_DEPTH        "invalid: JSON nested too deeply"
#define R_UNEXPECTED   "invalid: unexpected character in JSON"
#define R_EOF          "invalid: unexpected end of JSON"
#define R_KEY          "invalid: expected a string key in JSON object"
#define R_COLON        "invalid: expected ':' after key in JSON object"

const char *const json_reasons[] = {
    R_UNTERMINATED, R_CONTROL, R_ESCAPE,     R_SURROGATE, R_UTF8, R_NUMBER, R_NOT_INTEGER,
    R_INT_RANGE,    R_DEPTH,   R_UNEXPECTED, R_EOF,       R_KEY,  R_COLON,  NULL,
};

const char *json_skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {
        p++;
    }
    return p;
}

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        uint32_t d;
        if (c >= '0' && c <= '9') {
            d = (uint32_t)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            d = (uint32_t)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            d = (uint32_t)(c - 'A' + 10);
        } else {
            return -1;
        }
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

static uint32_t utf8_len(uint32_t cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/* Checks one multi-byte UTF-8 sequence starting at p (a byte >= 0x80).
 * Returns its length, or 0 when it is invalid: overlong forms, surrogates
 * and code points above U+10FFFF are refused, as RFC 3629 requires. */
static size_t utf8_check(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* bounds for the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) {
            lo = 0xA0;
        } else if (c == 0xED) {
            hi = 0x9F;
        }
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) {
            lo = 0x90;
        } else if (c == 0xF4) {
            hi = 0x8F;
        }
    } else {
        return 0;
    }
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (size_t i = 2; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
    }
    return n;
}

/* Scans the escape at p (the backslash). Returns the decoded length in
 * UTF-8 bytes and sets *next, or 0 with *reason set. */
static uint32_t scan_escape(const char *p, const char *end, const char **next, const char **reason)
{
    if (end - p < 2) {
        *reason = R_UNTERMINATED;
        return 0;
    }
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        *next = p + 2;
        return 1;
    case 'u':
        break;
    default:
        *reason = R_ESCAPE;
        return 0;
    }
    uint32_t cp;
    if (end - p < 6 || hex4(p + 2, &cp) < 0) {
        *reason = R_ESCAPE;
        return 0;
    }
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
        *reason = R_SURROGATE;
        return 0;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        uint32_t low;
        if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || hex4(p + 8, &low) < 0 || low < 0xDC00 ||
            low > 0xDFFF) {
            *reason = R_SURROGATE;
            return 0;
        }
        *next = p + 12;
        return 4;
    }
    *next = p + 6;
    return utf8_len(cp);
}

int json_scan_string(const char *p, const char *end, struct json_str *out, uint32_t *decoded_len,
                     const char **next, const char **reason)
{
    const char *start = p + 1;
    const char *q = start;
    bool has_escapes = false;
    size_t dlen = 0;

    for (;;) {
        /* The common case: printable ASCII other than the quote and the
         * backslash, copied one to one. */
        while (q < end && (unsigned char)*q >= 0x20 && (unsigned char)*q < 0x80 && *q != '"' &&
               *q != '\\') {
            q++;
            dlen++;
        }
        if (q >= end) {
            *reason = R_UNTERMINATED;
            return OST_EPARSE;
        }
        unsigned char c = (unsigned char)*q;
        if (c == '"') {
            break;
        }
        if (c == '\\') {
            uint32_t n = scan_escape(q, end, &q, reason);
            if (n == 0) {
                return OST_EPARSE;
            }
            has_escapes = true;
            dlen += n;
        } else if (c < 0x20) {
            *reason = R_CONTROL;
            return OST_EPARSE;
        } else {
            size_t n = utf8_check((const unsigned char *)q, (const unsigned char *)end);
            if (n == 0) {
                *reason = R_UTF8;
                return OST_EPARSE;
            }
            q += n;
            dlen += n;
        }
    }
    if ((size_t)(q - start) > UINT32_MAX) {
        *reason = R_UNTERMINATED;
        return OST_EPARSE;
    }
    out->p = start;
    out->len = (uint32_t)(q - start);
    out->has_escapes = has_escapes;
    if (decoded_len != NULL) {
        *decoded_len = (uint32_t)dlen;
    }
    *next = q + 1;
    return 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int json_scan_number(const char *p, const char *end, bool *is_integer, const char **next,
                     const char **reason)
{
    const char *q = p;
    bool integer = true;
    if (q < end && *q == '-') {
        q++;
    }
    if (q >= end || !is_digit(*q)) {
        goto bad;
    }
    if (*q == '0') {
        q++;
    } else {
        while (q < end && is_digit(*q)) {
            q++;
        }
    }
    if (q < end && *q == '.') {
        integer = false;
        q++;
        if (q >= end || !is_digit(*q)) {
            goto bad;
        }
        while (q < end && is_digit(*q)) {
            q++;
        }
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        integer = false;
        q++;
        if (q < end && (*q == '+' || *q == '-')) {
            q++;
        }
        if (q >= end || !is_digit(*q)) {
            goto bad;
        }
        while (q < end && is_digit(*q)) {
            q++;
        }
    }
    /* "01" or "1x" must not scan as "0" or "1" followed by something the
     * caller might misread as a separator. */
    if (q < end && (is_digit(*q) || *q == '.' || *q == 'e' || *q == 'E' || *q == '-' || *q == '+' ||
                    (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z'))) {
        goto bad;
    }
    *is_integer = integer;
    *next = q;
    return 0;
bad:
    *reason = R_NUMBER;
    return OST_EPARSE;
}

int json_scan_int(const char *p, const char *end, int64_t *out, const char **next,
                  const char **reason)
{
    bool integer;
    const char *q;
    int rc = json_scan_number(p, end, &integer, &q, reason);
    if (rc < 0) {
        return rc;
    }
    if (!integer) {
        *reason = R_NOT_INTEGER;
        return OST_ERANGE;
    }
    bool negative = *p == '-';
    uint64_t v = 0;
    /* The magnitude of INT64_MIN is one more than INT64_MAX. */
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (const char *d = p + negative; d < q; d++) {
        uint64_t digit = (uint64_t)(*d - '0');
        if (v > (limit - digit) / 10) {
            *reason = R_INT_RANGE;
            return OST_ERANGE;
        }
        v = v * 10 + digit;
    }
    if (negative) {
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        *out = (int64_t)v;
    }
    *next = q;
    return 0;
}

static int scan_literal(const char *p, const char *end, const char *lit, size_t len,
                        const char **next)
{
    if ((size_t)(end - p) < len || memcmp(p, lit, len) != 0) {
        return OST_EPARSE;
    }
    p += len;
    if (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))) {
        return OST_EPARSE;
    }
    *next = p;
    return 0;
}

/* Scans `"key" :` at p (whitespace already skipped before the key). */
static int scan_key(const char *p, const char *end, const char **next, const char **reason)
{
    struct json_str key;
    if (p >= end || *p != '"') {
        *reason = p >= end ? R_EOF : R_KEY;
        return OST_EPARSE;
    }
    int rc = json_scan_string(p, end, &key, NULL, &p, reason);
    if (rc < 0) {
        return rc;
    }
    p = json_skip_ws(p, end);
    if (p >= end || *p != ':') {
        *reason = p >= end ? R_EOF : R_COLON;
        return OST_EPARSE;
    }
    *next = p + 1;
    return 0;
}

int json_scan_value(const char *p, const char *end, unsigned max_depth, const char **next,
                    const char **reason)
{
    /* One bit per open container: 1 for an object, 0 for an array. */
    uint64_t is_object[JSON_DEPTH_LIMIT / 64];
    unsigned depth = 0;
    int rc;
    if (max_depth > JSON_DEPTH_LIMIT) {
        max_depth = JSON_DEPTH_LIMIT;
    }

value:
    p = json_skip_ws(p, end);
    if (p >= end) {
        *reason = R_EOF;
        return OST_EPARSE;
    }
    switch (*p) {
    case '{':
    case '[': {
        bool obj = *p == '{';
        if (depth >= max_depth) {
            *reason = R_DEPTH;
            return OST_EPARSE;
        }
        uint64_t bit = (uint64_t)1 << (depth % 64);
        if (obj) {
            is_object[depth / 64] |= bit;
        } else {
            is_object[depth / 64] &= ~bit;
        }
        depth++;
        p = json_skip_ws(p + 1, end);
        if (p < end && *p == (obj ? '}' : ']')) {
            p++;
            depth--;
            goto after;
        }
        if (obj) {
            rc = scan_key(p, end, &p, reason);
            if (rc < 0) {
                return rc;
            }
        }
        goto value;
    }
    case '"': {
        struct json_str s;
        rc = json_scan_string(p, end, &s, NULL, &p, reason);
        if (rc < 0) {
            return rc;
        }
        goto after;
    }
    case 't':
        rc = scan_literal(p, end, "true", 4, &p);
        break;
    case 'f':
        rc = scan_literal(p, end, "false", 5, &p);
        break;
    case 'n':
        rc = scan_literal(p, end, "null", 4, &p);
        break;
    default:
        if (*p == '-' || is_digit(*p)) {
            bool integer;
            rc = json_scan_number(p, end, &integer, &p, reason);
            if (rc < 0) {
                return rc;
            }
            goto after;
        }
        rc = OST_EPARSE;
        break;
    }
    if (rc < 0) {
        *reason = R_UNEXPECTED;
        return rc;
    }

after:
    if (depth == 0) {
        *next = p;
        return 0;
    }
    p = json_skip_ws(p, end);
    if (p >= end) {
        *reason = R_EOF;
        return OST_EPARSE;
    }
    bool in_object = (is_object[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1;
    if (*p == ',') {
        p = json_skip_ws(p + 1, end);
        if (in_object) {
            rc = scan_key(p, end, &p, reason);
            if (rc < 0) {
                return rc;
            }
        }
        goto value;
    }
    if (*p == (in_object ? '}' : ']')) {
        p++;
        depth--;
        goto after;
    }
    *reason = R_UNEXPECTED;
    return OST_EPARSE;
}

const char *json_unescape(const char *p, uint32_t *cp)
{
    switch (p[1]) {
    case 'b':
        *cp = '\b';
        return p + 2;
    case 'f':
        *cp = '\f';
        return p + 2;
    case 'n':
        *cp = '\n';
        return p + 2;
    case 'r':
        *cp = '\r';
        return p + 2;
    case 't':
        *cp = '\t';
        return p + 2;
    case 'u':
        break;
    default: /* '"', '\\' and '/' stand for themselves */
        *cp = (unsigned char)p[1];
        return p + 2;
    }
    uint32_t hi = 0, lo = 0;
    hex4(p + 2, &hi);
    if (hi >= 0xD800 && hi <= 0xDBFF) {
        hex4(p + 8, &lo);
        *cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
        return p + 12;
    }
    *cp = hi;
    return p + 6;
}

size_t json_utf8_encode(uint32_t cp, char b[4])
{
    if (cp < 0x80) {
        b[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (char)(0xC0 | cp >> 6);
        b[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (char)(0xE0 | cp >> 12);
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    b[0] = (char)(0xF0 | cp >> 18);
    b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    b[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int json_utf8_append(struct buf *out, uint32_t cp)
{
    char b[4];
    return buf_append(out, b, json_utf8_encode(cp, b));
}

int json_str_decode(const struct json_str *s, struct buf *out)
{
    if (!s->has_escapes) {
        return buf_append(out, s->p, s->len);
    }
    const char *p = s->p, *end = s->p + s->len;
    while (p < end) {
        const char *bs = memchr(p, '\\', (size_t)(end - p));
        const char *run_end = bs ? bs : end;
        int rc = buf_append(out, p, (size_t)(run_end - p));
        if (rc < 0) {
            return rc;
        }
        if (bs == NULL) {
            break;
        }
        uint32_t cp;
        p = json_unescape(bs, &cp);
        rc = json_utf8_append(out, cp);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

bool json_str_equals(const struct json_str *s, const char *lit, size_t len)
{
    if (!s->has_escapes) {
        return s->len == len && memcmp(s->p, lit, len) == 0;
    }
    /* Rare: compare by decoding one character at a time. */
    const char *p = s->p, *end = s->p + s->len;
    size_t i = 0;
    while (p < end) {
        if (*p != '\\') {
            if (i >= len || lit[i] != *p) {
                return false;
            }
            p++;
            i++;
            continue;
        }
        uint32_t cp;
        char local[4];
        p = json_unescape(p, &cp);
        size_t n = json_utf8_encode(cp, local);
        if (i + n > len || memcmp(lit + i, local, n) != 0) {
            return false;
        }
        i += n;
    }
    return i == len;
}

char json_short_escape(uint32_t c)
{
    switch (c) {
    case '"':
    case '\\':
        return (char)c;
    case '\n':
        return 'n';
    case '\r':
        return 'r';
    case '\t':
        return 't';
    case '\b':
        return 'b';
    case '\f':
        return 'f';
    default:
        return 0;
    }
}

size_t json_str_decode_into(const struct json_str *s, uint8_t *out, size_t cap)
{
    if (!s->has_escapes) {
        if (cap > 0) {
            memcpy(out, s->p, s->len < cap ? s->len : cap);
        }
        return s->len;
    }
    const char *p = s->p, *end = s->p + s->len;
    size_t n = 0;
    while (p < end) {
        char b[4];
        size_t k = 1;
        if (*p != '\\') {
            b[0] = *p++;
        } else {
            uint32_t cp;
            p = json_unescape(p, &cp);
            k = json_utf8_encode(cp, b);
        }
        for (size_t i = 0; i < k; i++, n++) {
            if (n < cap) {
                out[n] = (uint8_t)b[i];
            }
        }
    }
    return n;
}

bool json_str_to_uint(const struct json_str *s, uint64_t max, uint64_t *out)
{
    /* 20 digits hold any uint64_t, and without leading zeros a longer
     * string is out of range. */
    uint8_t digits[21];
    size_t len = json_str_decode_into(s, digits, sizeof(digits));
    if (len == 0 || len > 20 || (len > 1 && digits[0] == '0')) {
        return false; /* leading zeros are not a plain decimal number */
    }
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (digits[i] < '0' || digits[i] > '9') {
            return false;
        }
        uint64_t d = (uint64_t)(digits[i] - '0');
        if (d > max || v > (max - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

int json_write_string(struct buf *out, const char *s, size_t len)
{
    static const char hexd[] = "0123456789abcdef";
    int rc = buf_reserve(out, len + 2);
    if (rc < 0) {
        return rc;
    }
    rc = buf_append_char(out, '"');
    size_t run = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            continue;
        }
        rc = buf_append(out, s + run, i - run);
        run = i + 1;
        char esc[6] = { '\\', json_short_escape(c), 0, 0, 0, 0 };
        size_t n = 2;
        if (esc[1] == 0) {
            memcpy(esc + 1, "u00", 3);
            esc[4] = hexd[c >> 4];
            esc[5] = hexd[c & 15];
            n = 6;
        }
        if (rc == 0) {
            rc = buf_append(out, esc, n);
        }
    }
    if (rc == 0) {
        rc = buf_append(out, s + run, len - run);
    }
    if (rc == 0) {
        rc = buf_append_char(out, '"');
    }
    return rc;
}
