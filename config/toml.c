/*
 * Strict TOML reader: one pass over the text, producing a flat list of
 * (dotted path, value, line) entries.
 *
 * Design: a first pass checks the whole text for valid UTF-8 and for control
 * characters (TOML allows none but tab outside escapes, and CR only before
 * LF), so the scanner after it never meets them. The scanner keeps the path
 * of the current [table] and a registry of every path defined so far with
 * how it was defined (value, [header], parent of a header, dotted key);
 * TOML's rules on redefinition are checks against that registry. Paths are
 * canonical (a bare key part is written bare, any other part quoted), so
 * "a".b and a.b are the same path. Arrays recurse, bounded by
 * TOML_MAX_DEPTH. Config files are small, so lookups are linear.
 */
#include "config/toml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>
#include <stdarg.h>

#include "common/buf.h"
#include "common/err.h"
#include "config/toml_int.h"

__attribute__((format(printf, 3, 4))) int toml__fail(struct parser *ps, int line, const char *fmt,
                                                     ...)
{
    if (ps->err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ps->err->msg, sizeof(ps->err->msg), fmt, ap);
        va_end(ap);
        ps->err->line = line;
    }
    return OST_EPARSE;
}

int toml__oom(struct parser *ps)
{
    if (ps->err != NULL) {
        snprintf(ps->err->msg, sizeof(ps->err->msg), "out of memory");
        ps->err->line = 0;
    }
    return OST_ENOMEM;
}

void toml__value_fini(struct toml_value *v)
{
    if (v->type == TOML_STRING) {
        free(v->u.s);
    } else if (v->type == TOML_ARRAY) {
        for (size_t i = 0; i < v->u.arr.n; i++) {
            toml__value_fini(&v->u.arr.items[i]);
        }
        free(v->u.arr.items);
    }
}

/* Grows *items (of size elem) so that one more fits. Returns 0 or OST_ENOMEM. */
int toml__grow(void **items, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap) {
        return 0;
    }
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = realloc(*items, ncap * elem);
    if (p == NULL) {
        return OST_ENOMEM;
    }
    *items = p;
    *cap = ncap;
    return 0;
}

/* ---- the first pass: UTF-8 and control characters ---- */

/* Length of the UTF-8 sequence at s (at most n bytes), or 0 when invalid:
 * overlong forms, surrogates and values above U+10FFFF are refused. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t len;
    uint32_t cp, min;
    if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        len = 4, cp = s[0] & 0x07u, min = 0x10000;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        len = 3, cp = s[0] & 0x0fu, min = 0x800;
    } else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        len = 2, cp = s[0] & 0x1fu, min = 0x80;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return len;
}

static int check_text(struct parser *ps)
{
    const unsigned char *s = (const unsigned char *)ps->p;
    size_t n = (size_t)(ps->end - ps->p);
    int line = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c == '\n') {
            line++;
        } else if (c == '\r') {
            if (i + 1 == n || s[i + 1] != '\n') {
                return toml__fail(ps, line, "carriage return without line feed");
            }
        } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return toml__fail(ps, line, "control character U+%04X is not allowed", c);
        } else if (c >= 0x80) {
            size_t len = utf8_len(s + i, n - i);
            if (len == 0) {
                return toml__fail(ps, line, "invalid UTF-8");
            }
            i += len - 1;
        }
    }
    return 0;
}

/* ---- scanning helpers ---- */

bool toml__at_eol(const struct parser *ps)
{
    return ps->p == ps->end || *ps->p == '\n' || *ps->p == '\r';
}

/* Consumes one line end (the first pass guarantees CR is followed by LF). */
static void skip_eol(struct parser *ps)
{
    if (ps->p < ps->end && *ps->p == '\r') {
        ps->p++;
    }
    if (ps->p < ps->end && *ps->p == '\n') {
        ps->p++;
        ps->line++;
    }
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t')) {
        ps->p++;
    }
}

static void skip_comment(struct parser *ps)
{
    if (ps->p < ps->end && *ps->p == '#') {
        while (!toml__at_eol(ps)) {
            ps->p++;
        }
    }
}

/* Whitespace, line ends and comments, as allowed inside arrays. */
void toml__skip_blank(struct parser *ps)
{
    for (;;) {
        skip_ws(ps);
        skip_comment(ps);
        if (ps->p == ps->end || (*ps->p != '\n' && *ps->p != '\r')) {
            return;
        }
        skip_eol(ps);
    }
}

/* After a value or header: optional comment, then the end of the line. */
static int expect_eol(struct parser *ps, const char *what)
{
    skip_ws(ps);
    skip_comment(ps);
    if (!toml__at_eol(ps)) {
        return toml__fail(ps, ps->line, "unexpected text after %s", what);
    }
    skip_eol(ps);
    return 0;
}

bool toml__is_bare(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* 0..15 for a hex digit of either case, else -1. Setting bit 0x20 lowers
 * A-F and leaves digits alone; no other character maps onto either. */
int toml__hex_digit(char c)
{
    static const char digits[] = "0123456789abcdef";
    const char *hit = c != '\0' ? strchr(digits, c | 0x20) : NULL;
    return hit != NULL ? (int)(hit - digits) : -1;
}

/* Appends cp (a Unicode scalar value) as UTF-8: a lead byte that marks the
 * length, then n continuation bytes of six bits each. */
int toml__append_utf8(struct buf *b, uint32_t cp)
{
    static const unsigned char lead[] = { 0x00, 0xc0, 0xe0, 0xf0 };
    int n = cp < 0x80 ? 0 : cp < 0x800 ? 1 : cp < 0x10000 ? 2 : 3;
    char s[4];
    s[0] = (char)(lead[n] | cp >> (6 * n));
    for (int i = 1; i <= n; i++) {
        s[i] = (char)(0x80 | (cp >> (6 * (n - i)) & 0x3f));
    }
    return buf_append(b, s, (size_t)n + 1);
}

/* ---- keys ---- */

/* Appends one key part, in canonical form, to ps->path: bare when it is a
 * non-empty run of bare-key characters, else as a basic string. */
static int append_key_part(struct parser *ps, const char *part, size_t len)
{
    struct buf *b = &ps->path;
    int rc = b->len > 0 ? buf_append_char(b, '.') : 0;
    bool bare = len > 0;
    for (size_t i = 0; i < len && bare; i++) {
        bare = toml__is_bare(part[i]);
    }
    if (rc == 0 && bare) {
        rc = buf_append(b, part, len);
    } else if (rc == 0) {
        rc = buf_append_char(b, '"');
        for (size_t i = 0; i < len && rc == 0; i++) {
            unsigned char c = (unsigned char)part[i];
            if (c == '"' || c == '\\') {
                rc = buf_printf(b, "\\%c", c);
            } else if (c < 0x20 || c == 0x7f) {
                rc = buf_printf(b, "\\u%04X", c);
            } else {
                rc = buf_append_char(b, (char)c);
            }
        }
        rc = rc == 0 ? buf_append_char(b, '"') : rc;
    }
    return rc < 0 || buf_cstr(b) == NULL ? toml__oom(ps) : 0;
}

/* Parses a dotted key at ps->p, appending its parts to ps->path, which
 * already holds *depth parts. ends[k] receives the length of the path up to
 * and including part k. Consumes the whitespace after the key. */
static int parse_key(struct parser *ps, size_t *depth, size_t ends[TOML_MAX_DEPTH])
{
    for (;;) {
        skip_ws(ps);
        if (*depth == TOML_MAX_DEPTH) {
            return toml__fail(ps, ps->line, "nesting deeper than %d levels", TOML_MAX_DEPTH);
        }
        int rc = 0;
        if (ps->p < ps->end && *ps->p == '"') {
            rc = toml__scan_basic(ps);
        } else if (ps->p < ps->end && *ps->p == '\'') {
            rc = toml__scan_literal(ps);
        } else {
            const char *start = ps->p;
            while (ps->p < ps->end && toml__is_bare(*ps->p)) {
                ps->p++;
            }
            if (ps->p == start) {
                return toml__fail(ps, ps->line, "invalid key");
            }
            buf_reset(&ps->scratch);
            if (buf_append(&ps->scratch, start, (size_t)(ps->p - start)) < 0) {
                return toml__oom(ps);
            }
        }
        if (rc == 0) {
            rc = append_key_part(ps, ps->scratch.data, ps->scratch.len);
        }
        if (rc < 0) {
            return rc;
        }
        ends[(*depth)++] = ps->path.len;
        skip_ws(ps);
        if (ps->p == ps->end || *ps->p != '.') {
            return 0;
        }
        ps->p++;
    }
}

/* ---- the registry of defined paths ---- */

static struct node *find_node(struct parser *ps, const char *path, size_t len)
{
    for (size_t i = 0; i < ps->n_nodes; i++) {
        if (strlen(ps->nodes[i].path) == len && memcmp(ps->nodes[i].path, path, len) == 0) {
            return &ps->nodes[i];
        }
    }
    return NULL;
}

static int add_node(struct parser *ps, const char *path, size_t len, enum node_kind kind)
{
    if (toml__grow((void **)&ps->nodes, &ps->cap_nodes, ps->n_nodes, sizeof(*ps->nodes)) < 0) {
        return toml__oom(ps);
    }
    char *copy = strndup(path, len);
    if (copy == NULL) {
        return toml__oom(ps);
    }
    ps->nodes[ps->n_nodes++] = (struct node){ .path = copy, .kind = kind };
    return 0;
}

static int add_entry(struct parser *ps, int line, const struct toml_value *val)
{
    struct toml_doc *d = ps->doc;
    if (toml__grow((void **)&d->entries, &d->cap, d->n, sizeof(*d->entries)) < 0) {
        return toml__oom(ps);
    }
    char *key = strdup(ps->path.data);
    if (key == NULL) {
        return toml__oom(ps);
    }
    d->entries[d->n++] = (struct toml_entry){ .key = key, .line = line, .val = *val };
    return 0;
}

/* ---- lines ---- */

/* Checks the parent tables of ps->path (parts from..depth-2, ending at
 * ends[k]) and registers the new ones. A header may pass through any table;
 * a dotted key only through tables that dotted keys created. */
static int define_parents(struct parser *ps, int line, size_t from, size_t depth,
                          const size_t *ends, bool is_dotted)
{
    for (size_t k = from; k + 1 < depth; k++) {
        struct node *nd = find_node(ps, ps->path.data, ends[k]);
        int len = (int)ends[k], rc;
        if (nd != NULL && nd->kind == NODE_VALUE) {
            return toml__fail(ps, line, "%.*s is a value, not a table", len, ps->path.data);
        }
        if (nd != NULL && is_dotted && nd->kind != NODE_DOTTED) {
            return toml__fail(ps, line, "cannot add to table [%.*s] with dotted keys", len,
                              ps->path.data);
        }
        if (nd == NULL && (rc = add_node(ps, ps->path.data, ends[k],
                                         is_dotted ? NODE_DOTTED : NODE_IMPLICIT)) < 0) {
            return rc;
        }
    }
    return 0;
}

/* [a.b.c]: every parent must be a table; the table itself must be new, or
 * only implied so far by an earlier header such as [a.b.c.d]. */
static int parse_header(struct parser *ps)
{
    int line = ps->line, rc;
    size_t depth = 0, ends[TOML_MAX_DEPTH];
    ps->p++;
    if (ps->p < ps->end && *ps->p == '[') {
        return toml__fail(ps, line, "arrays of tables are not supported");
    }
    buf_reset(&ps->path);
    rc = parse_key(ps, &depth, ends);
    if (rc < 0) {
        return rc;
    }
    if (ps->p == ps->end || *ps->p != ']') {
        return toml__fail(ps, line, "expected ']' after table name");
    }
    ps->p++;
    rc = expect_eol(ps, "table header");
    if (rc < 0) {
        return rc;
    }
    rc = define_parents(ps, line, 0, depth, ends, false);
    if (rc < 0) {
        return rc;
    }
    struct node *nd = find_node(ps, ps->path.data, ps->path.len);
    if (nd != NULL && nd->kind == NODE_VALUE) {
        return toml__fail(ps, line, "%s is a value, not a table", ps->path.data);
    }
    if (nd != NULL && nd->kind != NODE_IMPLICIT) {
        return toml__fail(ps, line, "table [%s] %s", ps->path.data,
                          nd->kind == NODE_DOTTED ? "was already defined by dotted keys"
                                                  : "is defined twice");
    }
    if (nd != NULL) {
        nd->kind = NODE_EXPLICIT;
    } else if ((rc = add_node(ps, ps->path.data, ps->path.len, NODE_EXPLICIT)) < 0) {
        return rc;
    }
    ps->table_len = ps->path.len;
    ps->table_depth = depth;
    struct toml_value none = { .type = TOML_TABLE };
    return add_entry(ps, line, &none);
}

/* key = value, where a dotted key may create tables under the current one
 * but not add to tables that a header defined. */
static int parse_keyval(struct parser *ps)
{
    int line = ps->line, rc;
    size_t depth = ps->table_depth, ends[TOML_MAX_DEPTH];
    ps->path.len = ps->table_len;
    rc = parse_key(ps, &depth, ends);
    if (rc < 0) {
        return rc;
    }
    if (ps->p == ps->end || *ps->p != '=') {
        return toml__fail(ps, line, "expected '=' after key");
    }
    rc = define_parents(ps, line, ps->table_depth, depth, ends, true);
    if (rc < 0) {
        return rc;
    }
    if (find_node(ps, ps->path.data, ps->path.len) != NULL) {
        return toml__fail(ps, line, "duplicate key %s", ps->path.data);
    }
    rc = add_node(ps, ps->path.data, ps->path.len, NODE_VALUE);
    if (rc < 0) {
        return rc;
    }
    ps->p++;
    skip_ws(ps);
    if (toml__at_eol(ps) || *ps->p == '#') {
        return toml__fail(ps, ps->line, "expected a value");
    }
    struct toml_value val;
    rc = toml__parse_value(ps, &val, 1);
    if (rc < 0) {
        return rc;
    }
    rc = expect_eol(ps, "value");
    if (rc == 0) {
        rc = add_entry(ps, line, &val);
    }
    if (rc < 0) {
        toml__value_fini(&val);
    }
    return rc;
}

static int parse_doc(struct parser *ps)
{
    int rc = check_text(ps);
    while (rc == 0) {
        skip_ws(ps);
        skip_comment(ps);
        if (ps->p == ps->end) {
            break;
        }
        if (toml__at_eol(ps)) {
            skip_eol(ps);
        } else if (*ps->p == '[') {
            rc = parse_header(ps);
        } else {
            rc = parse_keyval(ps);
        }
    }
    return rc;
}

/* ---- public functions ---- */

int toml_parse(const char *text, size_t len, struct toml_doc **out, struct toml_error *err)
{
    if ((text == NULL && len > 0) || out == NULL) {
        return OST_EINVAL;
    }
    if (text == NULL) {
        text = "";
    }
    struct parser ps = {
        .p = text,
        .end = text + len,
        .line = 1,
        .err = err,
    };
    buf_init(&ps.path);
    buf_init(&ps.scratch);
    ps.doc = calloc(1, sizeof(*ps.doc));
    int rc = ps.doc != NULL ? parse_doc(&ps) : toml__oom(&ps);
    for (size_t i = 0; i < ps.n_nodes; i++) {
        free(ps.nodes[i].path);
    }
    free(ps.nodes);
    buf_fini(&ps.scratch);
    buf_fini(&ps.path);
    if (rc < 0) {
        toml_free(ps.doc);
        return rc;
    }
    *out = ps.doc;
    return 0;
}

void toml_free(struct toml_doc *doc)
{
    if (doc == NULL) {
        return;
    }
    for (size_t i = 0; i < doc->n; i++) {
        free(doc->entries[i].key);
        toml__value_fini(&doc->entries[i].val);
    }
    free(doc->entries);
    free(doc);
}

size_t toml_count(const struct toml_doc *doc)
{
    return doc->n;
}

const struct toml_entry *toml_entry_at(const struct toml_doc *doc, size_t i)
{
    return i < doc->n ? &doc->entries[i] : NULL;
}

const struct toml_entry *toml_find(const struct toml_doc *doc, const char *key)
{
    for (size_t i = 0; i < doc->n; i++) {
        if (strcmp(doc->entries[i].key, key) == 0) {
            return &doc->entries[i];
        }
    }
    return NULL;
}

const char *toml_type_name(enum toml_type type)
{
    static const char *const names[] = {
        [TOML_STRING] = "a string", [TOML_INT] = "an integer", [TOML_FLOAT] = "a float",
        [TOML_BOOL] = "a boolean",  [TOML_ARRAY] = "an array", [TOML_TABLE] = "a table",
    };
    return (unsigned)type < sizeof(names) / sizeof(names[0]) ? names[type] : "an unknown type";
}
