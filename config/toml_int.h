/*
 * Private to the TOML reader, which spans two files: config/toml.c (the
 * first pass, keys, tables and lines) and config/toml_value.c (strings,
 * numbers and arrays). Nothing outside config/toml*.c includes this.
 */
#ifndef OSTRICH_CONFIG_TOML_INT_H
#define OSTRICH_CONFIG_TOML_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "config/toml.h"

struct toml_doc {
    struct toml_entry *entries;
    size_t n;
    size_t cap;
};

/* How a path came to be defined; decides what may be added to it later. */
enum node_kind {
    NODE_VALUE,    /* key = value */
    NODE_EXPLICIT, /* [header] */
    NODE_IMPLICIT, /* a parent of a [header], not yet named itself */
    NODE_DOTTED,   /* a table created by a dotted key */
};

struct node {
    char *path;
    enum node_kind kind;
};

struct parser {
    const char *p;
    const char *end;
    int line;
    struct toml_error *err;
    struct toml_doc *doc;
    struct node *nodes;
    size_t n_nodes;
    size_t cap_nodes;
    struct buf path;    /* path being parsed; starts with the current table */
    size_t table_len;   /* length of the current table's path; 0 at the root */
    size_t table_depth; /* key parts in the current table's path */
    struct buf scratch; /* decoded string or key part */
};

/* Records an error at line (printf-style message) and returns OST_EPARSE. */
__attribute__((format(printf, 3, 4))) int toml__fail(struct parser *ps, int line, const char *fmt,
                                                     ...);
/* Records "out of memory" and returns OST_ENOMEM. */
int toml__oom(struct parser *ps);
/* Frees what v owns (strings, array items). */
void toml__value_fini(struct toml_value *v);
/* Grows *items (of size elem) so that one more fits. Returns 0 or OST_ENOMEM. */
int toml__grow(void **items, size_t *cap, size_t n, size_t elem);
/* True at a line end or the end of the text. */
bool toml__at_eol(const struct parser *ps);
/* Skips whitespace, line ends and comments, as allowed inside arrays. */
void toml__skip_blank(struct parser *ps);
/* True for a character of a bare key. */
bool toml__is_bare(char c);
/* 0..15 for a hex digit of either case, else -1. */
int toml__hex_digit(char c);
/* Appends cp (a Unicode scalar value) as UTF-8. Returns 0 or OST_ENOMEM. */
int toml__append_utf8(struct buf *b, uint32_t cp);

/* Scans a single-line basic (\"...\") or literal ('...') string at ps->p
 * into ps->scratch. Returns 0, OST_EPARSE or OST_ENOMEM. */
int toml__scan_basic(struct parser *ps);
int toml__scan_literal(struct parser *ps);
/* Parses the value at ps->p into *out, nested at most TOML_MAX_DEPTH
 * arrays deep. Returns 0, OST_EPARSE or OST_ENOMEM. */
int toml__parse_value(struct parser *ps, struct toml_value *out, int depth);

#endif
