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

__attribute__((format(printf, 3, 4))) static int fail(struct parser *ps, int line, const char *fmt,
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

static int oom(struct parser *ps)
{
    if (ps->err != NULL) {
        snprintf(ps->err->msg, sizeof(ps->err->msg), "out of memory");
        ps->err->line = 0;
    }
    return OST_ENOMEM;
}

static void value_fini(struct toml_value *v)
{
    if (v->type == TOML_STRING) {
        free(v->u.s);
    } else if (v->type == TOML_ARRAY) {
        for (size_t i = 0; i < v->u.arr.n; i++) {
            value_fini(&v->u.arr.items[i]);
        }
        free(v->u.arr.items);
    }
}

/* Grows *items (of size elem) so that one more fits. Returns 0 or OST_ENOMEM. */
static int grow(void **items, size_t *cap, size_t n, size_t elem)
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
                return fail(ps, line, "carriage return without line feed");
            }
        } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return fail(ps, line, "control character U+%04X is not allowed", c);
        } else if (c >= 0x80) {
            size_t len = utf8_len(s + i, n - i);
            if (len == 0) {
                return fail(ps, line, "invalid UTF-8");
            }
            i += len - 1;
        }
    }
    return 0;
}

/* ---- scanning helpers ---- */

static bool at_eol(const struct parser *ps)
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
        while (!at_eol(ps)) {
            ps->p++;
        }
    }
}

/* Whitespace, line ends and comments, as allowed inside arrays. */
static void skip_blank(struct parser *ps)
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
    if (!at_eol(ps)) {
        return fail(ps, ps->line, "unexpected text after %s", what);
    }
    skip_eol(ps);
    return 0;
}

static bool is_bare(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* 0..15 for a hex digit of either case, else -1. Setting bit 0x20 lowers
 * A-F and leaves digits alone; no other character maps onto either. */
static int hex_digit(char c)
{
    static const char digits[] = "0123456789abcdef";
    const char *hit = c != '\0' ? strchr(digits, c | 0x20) : NULL;
    return hit != NULL ? (int)(hit - digits) : -1;
}

/* Appends cp (a Unicode scalar value) as UTF-8: a lead byte that marks the
 * length, then n continuation bytes of six bits each. */
static int append_utf8(struct buf *b, uint32_t cp)
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

/* ---- strings ---- */

/* Reads \uXXXX or \UXXXXXXXX (ps->p at the u or U) into ps->scratch. */
static int scan_unicode_escape(struct parser *ps)
{
    char kind = *ps->p++;
    int digits = kind == 'u' ? 4 : 8;
    uint32_t cp = 0;
    for (int i = 0; i < digits; i++) {
        int d = ps->p < ps->end ? hex_digit(*ps->p) : -1;
        if (d < 0) {
            return fail(ps, ps->line, "invalid \\%c escape: expected %d hex digits", kind, digits);
        }
        /* Eight hex digits can exceed U+10FFFF; stop growing once past it. */
        cp = cp > 0x10ffff ? cp : cp << 4 | (uint32_t)d;
        ps->p++;
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return fail(ps, ps->line, "\\%c escape is not a Unicode scalar value", kind);
    }
    if (cp == 0) {
        return fail(ps, ps->line, "NUL characters are not supported");
    }
    return append_utf8(&ps->scratch, cp) < 0 ? oom(ps) : 0;
}

/* A single-line basic string at ps->p, decoded into ps->scratch. */
static int scan_basic(struct parser *ps)
{
    buf_reset(&ps->scratch);
    ps->p++;
    for (;;) {
        if (at_eol(ps)) {
            return fail(ps, ps->line, "unterminated string");
        }
        char c = *ps->p;
        if (c == '"') {
            ps->p++;
            return buf_cstr(&ps->scratch) == NULL ? oom(ps) : 0;
        }
        if (c != '\\') {
            if (buf_append_char(&ps->scratch, c) < 0) {
                return oom(ps);
            }
            ps->p++;
            continue;
        }
        ps->p++;
        if (at_eol(ps)) {
            return fail(ps, ps->line, "unterminated string");
        }
        static const char from[] = "btnfr\"\\";
        static const char to[] = "\b\t\n\f\r\"\\";
        const char *hit = *ps->p ? strchr(from, *ps->p) : NULL;
        if (hit != NULL) {
            if (buf_append_char(&ps->scratch, to[hit - from]) < 0) {
                return oom(ps);
            }
            ps->p++;
        } else if (*ps->p == 'u' || *ps->p == 'U') {
            int rc = scan_unicode_escape(ps);
            if (rc < 0) {
                return rc;
            }
        } else if ((unsigned char)*ps->p < 0x80 && *ps->p != ' ' && *ps->p != '\t') {
            return fail(ps, ps->line, "invalid escape sequence \\%c", *ps->p);
        } else {
            return fail(ps, ps->line, "invalid escape sequence");
        }
    }
}

/* A single-line literal string at ps->p, copied into ps->scratch. */
static int scan_literal(struct parser *ps)
{
    buf_reset(&ps->scratch);
    ps->p++;
    const char *start = ps->p;
    while (!at_eol(ps) && *ps->p != '\'') {
        ps->p++;
    }
    if (at_eol(ps)) {
        return fail(ps, ps->line, "unterminated string");
    }
    if (buf_append(&ps->scratch, start, (size_t)(ps->p - start)) < 0 ||
        buf_cstr(&ps->scratch) == NULL) {
        return oom(ps);
    }
    ps->p++;
    return 0;
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
        bare = is_bare(part[i]);
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
    return rc < 0 || buf_cstr(b) == NULL ? oom(ps) : 0;
}

/* Parses a dotted key at ps->p, appending its parts to ps->path, which
 * already holds *depth parts. ends[k] receives the length of the path up to
 * and including part k. Consumes the whitespace after the key. */
static int parse_key(struct parser *ps, size_t *depth, size_t ends[TOML_MAX_DEPTH])
{
    for (;;) {
        skip_ws(ps);
        if (*depth == TOML_MAX_DEPTH) {
            return fail(ps, ps->line, "nesting deeper than %d levels", TOML_MAX_DEPTH);
        }
        int rc = 0;
        if (ps->p < ps->end && *ps->p == '"') {
            rc = scan_basic(ps);
        } else if (ps->p < ps->end && *ps->p == '\'') {
            rc = scan_literal(ps);
        } else {
            const char *start = ps->p;
            while (ps->p < ps->end && is_bare(*ps->p)) {
                ps->p++;
            }
            if (ps->p == start) {
                return fail(ps, ps->line, "invalid key");
            }
            buf_reset(&ps->scratch);
            if (buf_append(&ps->scratch, start, (size_t)(ps->p - start)) < 0) {
                return oom(ps);
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
    if (grow((void **)&ps->nodes, &ps->cap_nodes, ps->n_nodes, sizeof(*ps->nodes)) < 0) {
        return oom(ps);
    }
    char *copy = strndup(path, len);
    if (copy == NULL) {
        return oom(ps);
    }
    ps->nodes[ps->n_nodes++] = (struct node){ .path = copy, .kind = kind };
    return 0;
}

static int add_entry(struct parser *ps, int line, const struct toml_value *val)
{
    struct toml_doc *d = ps->doc;
    if (grow((void **)&d->entries, &d->cap, d->n, sizeof(*d->entries)) < 0) {
        return oom(ps);
    }
    char *key = strdup(ps->path.data);
    if (key == NULL) {
        return oom(ps);
    }
    d->entries[d->n++] = (struct toml_entry){ .key = key, .line = line, .val = *val };
    return 0;
}

/* ---- values ---- */

/* Parses digits of base with '_' allowed only between two digits, adding
 * them to *acc; fails (false) on a bad digit, a misplaced '_' or a value
 * above limit. Sets *is_range when the failure is only the limit. */
static bool parse_digits(const char *t, size_t n, unsigned base, uint64_t limit, uint64_t *acc,
                         bool *is_range)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        int d = hex_digit(t[i]);
        if (t[i] == '_' && i > 0 && i + 1 < n && t[i - 1] != '_') {
            continue;
        }
        if (d < 0 || (unsigned)d >= base) {
            return false;
        }
        if (v > (limit - (uint64_t)d) / base) {
            *is_range = true;
            return false;
        }
        v = v * base + (uint64_t)d;
    }
    *acc = v;
    return n > 0;
}

static int parse_int(struct parser *ps, const char *t, size_t n, struct toml_value *out)
{
    bool is_neg = false, is_range = false;
    unsigned base = 10;
    size_t i = 0;
    if (n >= 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'o' || t[1] == 'b')) {
        base = t[1] == 'x' ? 16 : t[1] == 'o' ? 8 : 2;
        i = 2;
    } else {
        if (t[0] == '+' || t[0] == '-') {
            is_neg = t[0] == '-';
            i = 1;
        }
        if (n - i > 1 && t[i] == '0') {
            return fail(ps, ps->line, "leading zeros are not allowed");
        }
    }
    uint64_t limit = is_neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v;
    if (!parse_digits(t + i, n - i, base, limit, &v, &is_range)) {
        return fail(ps, ps->line, is_range ? "integer out of range" : "invalid integer");
    }
    out->type = TOML_INT;
    /* -(2^63) has no positive int64_t counterpart, so negate in unsigned. */
    out->u.i = is_neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* Checks a decimal float against TOML's grammar and converts it. */
static int parse_float(struct parser *ps, const char *t, size_t n, struct toml_value *out)
{
    char tmp[128]; /* longer floats are refused; a config needs none */
    size_t len = 0, i = 0;
    bool ok = n < sizeof(tmp);
    int part = 0; /* 0: integer part, 1: fraction, 2: exponent */
    bool need_digit = true;
    if (ok && (t[0] == '+' || t[0] == '-')) {
        tmp[len++] = t[i++];
    }
    if (ok && i + 1 < n && t[i] == '0' &&
        ((t[i + 1] >= '0' && t[i + 1] <= '9') || t[i + 1] == '_')) {
        return fail(ps, ps->line, "leading zeros are not allowed");
    }
    for (; ok && i < n; i++) {
        char c = t[i];
        if (c >= '0' && c <= '9') {
            need_digit = false;
            tmp[len++] = c;
        } else if (c == '_') {
            ok = !need_digit && i + 1 < n && t[i + 1] >= '0' && t[i + 1] <= '9';
        } else if (c == '.' && part == 0 && !need_digit) {
            part = 1, need_digit = true, tmp[len++] = c;
        } else if ((c == 'e' || c == 'E') && part < 2 && !need_digit) {
            part = 2, need_digit = true, tmp[len++] = c;
            if (i + 1 < n && (t[i + 1] == '+' || t[i + 1] == '-')) {
                tmp[len++] = t[++i];
            }
        } else {
            ok = false;
        }
    }
    if (!ok || need_digit || part == 0) {
        return fail(ps, ps->line, "invalid float");
    }
    tmp[len] = '\0';
    /* strtod reads '.' as the decimal point in the C locale, which the
     * relay never changes. */
    errno = 0;
    double f = strtod(tmp, NULL);
    if (errno == ERANGE && (f == HUGE_VAL || f == -HUGE_VAL)) {
        return fail(ps, ps->line, "float out of range");
    }
    out->type = TOML_FLOAT;
    out->u.f = f;
    return 0;
}

static bool token_is(const char *t, size_t n, const char *s)
{
    return strlen(s) == n && memcmp(t, s, n) == 0;
}

/* A bare value: boolean, number, inf or nan. */
static int parse_scalar(struct parser *ps, struct toml_value *out)
{
    const char *t = ps->p;
    while (ps->p < ps->end &&
           (is_bare(*ps->p) || *ps->p == '+' || *ps->p == '.' || *ps->p == ':')) {
        ps->p++;
    }
    size_t n = (size_t)(ps->p - t);
    if (token_is(t, n, "true") || token_is(t, n, "false")) {
        out->type = TOML_BOOL;
        out->u.b = t[0] == 't';
        return 0;
    }
    size_t sign = n > 0 && (t[0] == '+' || t[0] == '-');
    if (token_is(t + sign, n - sign, "inf") || token_is(t + sign, n - sign, "nan")) {
        double f = t[sign] == 'i' ? (double)INFINITY : (double)NAN;
        out->type = TOML_FLOAT;
        out->u.f = t[0] == '-' ? -f : f;
        return 0;
    }
    /* A number never holds ':', nor '-' after four characters ("1979-05-27"). */
    if (memchr(t, ':', n) != NULL || (n >= 5 && t[4] == '-' && t[3] >= '0' && t[3] <= '9')) {
        return fail(ps, ps->line, "dates and times are not supported");
    }
    if (n == 0 || !(sign || (t[0] >= '0' && t[0] <= '9'))) {
        return fail(ps, ps->line, "expected a value");
    }
    bool is_radix = n >= 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'o' || t[1] == 'b');
    if (!is_radix && (memchr(t, '.', n) || memchr(t, 'e', n) || memchr(t, 'E', n))) {
        return parse_float(ps, t, n, out);
    }
    return parse_int(ps, t, n, out);
}

static int take_scratch(struct parser *ps, struct toml_value *out)
{
    char *s = strdup(ps->scratch.data);
    if (s == NULL) {
        return oom(ps);
    }
    out->type = TOML_STRING;
    out->u.s = s;
    return 0;
}

static int parse_value(struct parser *ps, struct toml_value *out, int depth);

static int parse_array(struct parser *ps, struct toml_value *out, int depth)
{
    if (depth > TOML_MAX_DEPTH) {
        return fail(ps, ps->line, "nesting deeper than %d levels", TOML_MAX_DEPTH);
    }
    int open_line = ps->line, rc = 0;
    struct toml_value arr = { .type = TOML_ARRAY };
    size_t cap = 0;
    bool want_value = true; /* false right after an item: ',' or ']' must follow */
    ps->p++;
    for (;;) {
        skip_blank(ps);
        if (ps->p == ps->end) {
            rc = fail(ps, open_line, "unterminated array");
            goto fail;
        }
        if (*ps->p == ']') {
            break;
        }
        if (!want_value) {
            if (*ps->p != ',') {
                rc = fail(ps, ps->line, "expected ',' or ']' in array");
                goto fail;
            }
            ps->p++;
            want_value = true;
            continue;
        }
        struct toml_value item;
        if (grow((void **)&arr.u.arr.items, &cap, arr.u.arr.n, sizeof(item)) < 0) {
            rc = oom(ps);
            goto fail;
        }
        rc = parse_value(ps, &item, depth + 1);
        if (rc < 0) {
            goto fail;
        }
        arr.u.arr.items[arr.u.arr.n++] = item;
        want_value = false;
    }
    ps->p++;
    *out = arr;
    return 0;
fail:
    value_fini(&arr);
    return rc;
}

/* Parses the value at ps->p (not at a line end) into *out, written only on
 * success. depth is the nesting level an array here would have. */
static int parse_value(struct parser *ps, struct toml_value *out, int depth)
{
    int rc;
    char q = *ps->p;
    if ((q == '"' || q == '\'') && ps->end - ps->p >= 3 && ps->p[1] == q && ps->p[2] == q) {
        return fail(ps, ps->line, "multi-line strings are not supported");
    }
    switch (q) {
    case '"':
        rc = scan_basic(ps);
        return rc < 0 ? rc : take_scratch(ps, out);
    case '\'':
        rc = scan_literal(ps);
        return rc < 0 ? rc : take_scratch(ps, out);
    case '[':
        return parse_array(ps, out, depth);
    case '{':
        return fail(ps, ps->line, "inline tables are not supported");
    default:
        return parse_scalar(ps, out);
    }
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
            return fail(ps, line, "%.*s is a value, not a table", len, ps->path.data);
        }
        if (nd != NULL && is_dotted && nd->kind != NODE_DOTTED) {
            return fail(ps, line, "cannot add to table [%.*s] with dotted keys", len,
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
        return fail(ps, line, "arrays of tables are not supported");
    }
    buf_reset(&ps->path);
    rc = parse_key(ps, &depth, ends);
    if (rc < 0) {
        return rc;
    }
    if (ps->p == ps->end || *ps->p != ']') {
        return fail(ps, line, "expected ']' after table name");
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
        return fail(ps, line, "%s is a value, not a table", ps->path.data);
    }
    if (nd != NULL && nd->kind != NODE_IMPLICIT) {
        return fail(ps, line, "table [%s] %s", ps->path.data,
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
        return fail(ps, line, "expected '=' after key");
    }
    rc = define_parents(ps, line, ps->table_depth, depth, ends, true);
    if (rc < 0) {
        return rc;
    }
    if (find_node(ps, ps->path.data, ps->path.len) != NULL) {
        return fail(ps, line, "duplicate key %s", ps->path.data);
    }
    rc = add_node(ps, ps->path.data, ps->path.len, NODE_VALUE);
    if (rc < 0) {
        return rc;
    }
    ps->p++;
    skip_ws(ps);
    if (at_eol(ps) || *ps->p == '#') {
        return fail(ps, ps->line, "expected a value");
    }
    struct toml_value val;
    rc = parse_value(ps, &val, 1);
    if (rc < 0) {
        return rc;
    }
    rc = expect_eol(ps, "value");
    if (rc == 0) {
        rc = add_entry(ps, line, &val);
    }
    if (rc < 0) {
        value_fini(&val);
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
        if (at_eol(ps)) {
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
    int rc = ps.doc != NULL ? parse_doc(&ps) : oom(&ps);
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
        value_fini(&doc->entries[i].val);
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
