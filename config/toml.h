/*
 * A small, strict TOML reader for the relay's configuration file.
 *
 * toml_parse turns a whole document into a flat list of entries in document
 * order: one per key/value pair, keyed by its full dotted path
 * ("storage.sqlite.path"), plus one TOML_TABLE entry per [table] header so a
 * caller can reject unknown empty tables. Key parts that are not bare keys
 * keep their quotes in the path ("a.\"b.c\""), so a path is never ambiguous.
 *
 * Supported: comments, [tables], [a.b] nested tables, dotted keys, bare and
 * quoted keys, basic strings with escapes, literal strings, integers
 * (decimal, 0x, 0o, 0b), floats (including inf and nan), booleans, and
 * arrays of any of these (nested, multi-line, trailing comma). Refused with
 * a clear error: multi-line strings, inline tables, arrays of tables, dates
 * and times, and the NUL character (strings are C strings).
 *
 * Thread-agnostic; a parsed document is immutable and owns all its memory.
 */
#ifndef OSTRICH_CONFIG_TOML_H
#define OSTRICH_CONFIG_TOML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deepest nesting accepted: key parts of one path (table plus key), and
 * arrays inside arrays. Anything deeper is a parse error. */
#define TOML_MAX_DEPTH 16

/* Size of the message buffer in struct toml_error, terminator included. */
#define TOML_ERROR_MSG_CAP 160

enum toml_type {
    TOML_STRING = 0,
    TOML_INT = 1,
    TOML_FLOAT = 2,
    TOML_BOOL = 3,
    TOML_ARRAY = 4,
    TOML_TABLE = 5, /* only as an entry: a [table] header, with no value */
};

struct toml_value {
    enum toml_type type;
    union {
        char *s; /* TOML_STRING: NUL-terminated UTF-8 */
        int64_t i;
        double f;
        bool b;
        struct {
            struct toml_value *items;
            size_t n;
        } arr; /* TOML_ARRAY: items may be of any type except TOML_TABLE */
    } u;
};

struct toml_entry {
    char *key; /* full dotted path */
    int line;  /* 1-based line of the key or [table] header */
    struct toml_value val;
};

/* Where and why parsing failed. msg is a complete sentence fragment without
 * the line number ("duplicate key a.b"). */
struct toml_error {
    int line; /* 1-based; 0 when the failure is not tied to a line */
    char msg[TOML_ERROR_MSG_CAP];
};

struct toml_doc;

/* Parses len bytes of text (no terminator needed; the text is borrowed).
 * Returns 0 and a new document in *out, which the caller frees with
 * toml_free; OST_EPARSE for a malformed document; OST_ENOMEM; or OST_EINVAL
 * for NULL arguments. On failure *out is untouched and, when err is not
 * NULL, *err says where and why. Never blocks. */
int toml_parse(const char *text, size_t len, struct toml_doc **out, struct toml_error *err);

/* Frees doc and everything it owns. NULL does nothing. */
void toml_free(struct toml_doc *doc);

/* Number of entries in doc. */
size_t toml_count(const struct toml_doc *doc);

/* Entry i (0 <= i < toml_count) in document order, borrowed from doc; NULL
 * when i is out of range. */
const struct toml_entry *toml_entry_at(const struct toml_doc *doc, size_t i);

/* The entry whose path is key, borrowed from doc, or NULL. */
const struct toml_entry *toml_find(const struct toml_doc *doc, const char *key);

/* "a string", "an integer", "a float", "a boolean", "an array", "a table":
 * for messages such as "expected an integer, got a string". */
const char *toml_type_name(enum toml_type type);

#endif
