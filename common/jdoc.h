/*
 * A parsed JSON document (a tree), for JSON the relay reads but does not
 * speak on the Nostr wire: OpenSearch responses, and JSON compared in
 * tests. Nostr messages go through the strict scanners of json.h instead,
 * which never build a tree.
 *
 * jdoc_parse accepts RFC 8259 JSON (the same strictness as json.h: valid
 * UTF-8, no control characters in strings, surrogate pairs checked) with a
 * depth bound, and copies what it needs: the document owns its memory and
 * the input may be freed after the call. Every value and string is
 * borrowed from its document and lives until jdoc_free. A document is
 * immutable, so any thread may read it; it is freed by its owner.
 *
 * Duplicate keys in an object are kept in order; jdoc_get returns the
 * last, as most JSON readers do.
 */
#ifndef OSTRICH_COMMON_JDOC_H
#define OSTRICH_COMMON_JDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* The nesting jdoc_parse accepts when the caller passes 0 as max_depth. */
#define JDOC_DEFAULT_DEPTH 64
/* The deepest nesting jdoc_parse accepts, whatever the caller asks
 * (jdoc_equal and jdoc_to_json recurse once per level). */
#define JDOC_MAX_DEPTH 1024

enum jdoc_type {
    JDOC_NULL = 0,
    JDOC_BOOL,
    JDOC_NUMBER,
    JDOC_STRING,
    JDOC_ARRAY,
    JDOC_OBJECT,
};

struct jdoc;
struct jdoc_val;

/* Lifecycle */

/* Parses json[0..len) (whitespace around the value allowed, nothing else
 * after it) into a new document, nesting at most max_depth arrays and
 * objects (0: JDOC_DEFAULT_DEPTH; more than JDOC_MAX_DEPTH counts as
 * JDOC_MAX_DEPTH). Returns 0 with *out set, OST_ENOMEM, or OST_EPARSE for
 * anything that is not one valid JSON value (deeper nesting included). */
int jdoc_parse(const char *json, size_t len, unsigned max_depth, struct jdoc **out);

/* Frees d and every value in it. NULL does nothing. */
void jdoc_free(struct jdoc *d);

/* Queries. Every function below accepts NULL for a value and then answers
 * as for a value of the wrong type, so lookups can be chained:
 * jdoc_get(jdoc_get(root, "hits"), "hits") is NULL when either is missing. */

/* The top-level value of d. */
const struct jdoc_val *jdoc_root(const struct jdoc *d);

/* The type of v (JDOC_NULL for a NULL v). */
enum jdoc_type jdoc_type(const struct jdoc_val *v);

/* The value of key in object v (NUL-terminated key; the last one when the
 * key is repeated), or NULL when v is not an object or has no such key. */
const struct jdoc_val *jdoc_get(const struct jdoc_val *v, const char *key);

/* The number of elements of an array or members of an object; 0 for
 * anything else. */
size_t jdoc_len(const struct jdoc_val *v);

/* Element i of an array, or the value of member i of an object (in
 * document order); NULL when out of range or v is neither. */
const struct jdoc_val *jdoc_at(const struct jdoc_val *v, size_t i);

/* The key of member i of object v (decoded, NUL-terminated, *len set when
 * len is not NULL), or NULL. */
const char *jdoc_key_at(const struct jdoc_val *v, size_t i, size_t *len);

/* The decoded bytes of string v, NUL-terminated (a string holding \u0000
 * has an inner NUL: use *len), *len set when len is not NULL; NULL when v
 * is not a string. */
const char *jdoc_str(const struct jdoc_val *v, size_t *len);

/* True with *out set when v is a number written as an integer (no
 * fraction or exponent) that fits in int64_t. */
bool jdoc_int(const struct jdoc_val *v, int64_t *out);

/* True with *out set when v is a number (any form, as a double). */
bool jdoc_double(const struct jdoc_val *v, double *out);

/* True with *out set when v is true or false. */
bool jdoc_bool(const struct jdoc_val *v, bool *out);

/* The JSON text of v exactly as it was in the input (for a string, with
 * its quotes and escapes), *len set when len is not NULL; NULL for a NULL
 * v. Useful to pass a
 * value back unchanged, e.g. an OpenSearch sort key to search_after. */
const char *jdoc_raw(const struct jdoc_val *v, size_t *len);

/* True when a and b are the same JSON value: objects as sets of members
 * (order ignored, but every member of one must be in the other with an
 * equal value), arrays element by element, strings by decoded bytes,
 * numbers by value when both are integers (1 == 1, 1 != 1.0 when one is
 * not an integer: then their texts are compared). Two NULLs are equal. */
bool jdoc_equal(const struct jdoc_val *a, const struct jdoc_val *b);

/* Appends v as compact JSON with object keys sorted by their bytes, for
 * messages in tests and logs. Returns 0 or OST_ENOMEM. */
int jdoc_to_json(const struct jdoc_val *v, struct buf *out);

#endif
