/*
 * Strict JSON scanning primitives (RFC 8259) for the parsers built on them:
 * the event parser, the filter parser and the client message parser.
 *
 * Nothing here allocates or recurses: json_scan_value walks any value with an
 * explicit stack whose depth the caller bounds, so a 100,000-level nested
 * array is refused after max_depth levels, not by a stack overflow. Strings
 * are checked for valid UTF-8, control characters and escapes (including
 * surrogate pairs). Thread-agnostic.
 *
 * Rejections come back as static reason strings that start with "invalid: ".
 */
#ifndef OSTRICH_COMMON_JSON_H
#define OSTRICH_COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* The deepest nesting json_scan_value accepts, whatever the caller asks. */
#define JSON_DEPTH_LIMIT 1024

/* A JSON string: the bytes between the quotes, still escaped when
 * has_escapes is true. Borrowed from the text it was scanned in. */
struct json_str {
    const char *p;
    uint32_t len;
    bool has_escapes;
};

/* Returns the first byte at or after p that is not JSON whitespace. */
const char *json_skip_ws(const char *p, const char *end);

/* Scans the string starting at p (which must point at '"'). On success
 * fills *out, sets *decoded_len (may be NULL) to the byte length after
 * unescaping, sets *next past the closing quote and returns 0. Otherwise
 * returns OST_EPARSE with *reason set. */
int json_scan_string(const char *p, const char *end, struct json_str *out, uint32_t *decoded_len,
                     const char **next, const char **reason);

/* Scans a number at p. *is_integer tells whether it has neither fraction nor
 * exponent. Returns 0 or OST_EPARSE with *reason set. */
int json_scan_number(const char *p, const char *end, bool *is_integer, const char **next,
                     const char **reason);

/* Scans an integer literal at p into *out. Returns 0; OST_EPARSE when p does
 * not hold a JSON number; OST_ERANGE when it holds a number with a fraction
 * or exponent, or one outside int64_t. */
int json_scan_int(const char *p, const char *end, int64_t *out, const char **next,
                  const char **reason);

/* Validates and skips any JSON value at p (after optional whitespace),
 * nesting at most max_depth arrays/objects (capped at JSON_DEPTH_LIMIT).
 * Returns 0 with *next past the value, or OST_EPARSE with *reason set. */
int json_scan_value(const char *p, const char *end, unsigned max_depth, const char **next,
                    const char **reason);

/* Decodes one escape sequence at p (which points at the backslash) of a
 * string json_scan_string accepted, joining surrogate pairs. Writes the code
 * point and returns the position after the escape. */
const char *json_unescape(const char *p, uint32_t *cp);

/* Writes the UTF-8 encoding of code point cp (at most U+10FFFF) into out
 * and returns its length, 1 to 4. */
size_t json_utf8_encode(uint32_t cp, char out[4]);

/* The letter of JSON's two-character escape for c (\" \\ \b \f \n \r \t),
 * or 0 when c has none. These are also exactly the escapes NIP-01 keeps in
 * an event's canonical form. */
char json_short_escape(uint32_t c);

/* Writes the unescaped bytes of s into out, at most cap of them, and
 * returns the full unescaped length (which may exceed cap). */
size_t json_str_decode_into(const struct json_str *s, uint8_t *out, size_t cap);

/* Reads the unescaped content of s as a plain decimal number (digits only:
 * no sign, no spaces, no fraction, no leading zeros) of at most max. Returns true and sets
 * *out, or false. For numbers carried in strings, such as tag values. */
bool json_str_to_uint(const struct json_str *s, uint64_t max, uint64_t *out);

/* Appends the UTF-8 encoding of code point cp (at most U+10FFFF) to out.
 * Returns 0 or OST_ENOMEM. */
int json_utf8_append(struct buf *out, uint32_t cp);

/* Appends the unescaped bytes of s to out. Returns 0 or OST_ENOMEM. */
int json_str_decode(const struct json_str *s, struct buf *out);

/* True when s, unescaped, equals the len bytes at lit. */
bool json_str_equals(const struct json_str *s, const char *lit, size_t len);

/* Appends s (raw bytes, valid UTF-8) as a JSON string literal with quotes,
 * escaping only what JSON requires. Returns 0 or OST_ENOMEM. */
int json_write_string(struct buf *out, const char *s, size_t len);

/* Every reason these functions return, ending with NULL (for tests). */
extern const char *const json_reasons[];

#endif
