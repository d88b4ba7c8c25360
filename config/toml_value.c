/*
 * TOML values: basic and literal strings with their escapes, integers
 * (decimal, 0x, 0o, 0b, with '_' between digits), floats, booleans and
 * arrays. Part of the reader in config/toml.c; see config/toml_int.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "common/buf.h"
#include "common/err.h"
#include "config/toml_int.h"

/* ---- strings ---- */

/* Reads \uXXXX or \UXXXXXXXX (ps->p at the u or U) into ps->scratch. */
static int scan_unicode_escape(struct parser *ps)
{
    char kind = *ps->p++;
    int digits = kind == 'u' ? 4 : 8;
    uint32_t cp = 0;
    for (int i = 0; i < digits; i++) {
        int d = ps->p < ps->end ? toml__hex_digit(*ps->p) : -1;
        if (d < 0) {
            return toml__fail(ps, ps->line, "invalid \\%c escape: expected %d hex digits", kind,
                              digits);
        }
        /* Eight hex digits can exceed U+10FFFF; stop growing once past it. */
        cp = cp > 0x10ffff ? cp : cp << 4 | (uint32_t)d;
        ps->p++;
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return toml__fail(ps, ps->line, "\\%c escape is not a Unicode scalar value", kind);
    }
    if (cp == 0) {
        return toml__fail(ps, ps->line, "NUL characters are not supported");
    }
    return toml__append_utf8(&ps->scratch, cp) < 0 ? toml__oom(ps) : 0;
}

/* A single-line basic string at ps->p, decoded into ps->scratch. */
int toml__scan_basic(struct parser *ps)
{
    buf_reset(&ps->scratch);
    ps->p++;
    for (;;) {
        if (toml__at_eol(ps)) {
            return toml__fail(ps, ps->line, "unterminated string");
        }
        char c = *ps->p;
        if (c == '"') {
            ps->p++;
            return buf_cstr(&ps->scratch) == NULL ? toml__oom(ps) : 0;
        }
        if (c != '\\') {
            if (buf_append_char(&ps->scratch, c) < 0) {
                return toml__oom(ps);
            }
            ps->p++;
            continue;
        }
        ps->p++;
        if (toml__at_eol(ps)) {
            return toml__fail(ps, ps->line, "unterminated string");
        }
        static const char from[] = "btnfr\"\\";
        static const char to[] = "\b\t\n\f\r\"\\";
        const char *hit = *ps->p ? strchr(from, *ps->p) : NULL;
        if (hit != NULL) {
            if (buf_append_char(&ps->scratch, to[hit - from]) < 0) {
                return toml__oom(ps);
            }
            ps->p++;
        } else if (*ps->p == 'u' || *ps->p == 'U') {
            int rc = scan_unicode_escape(ps);
            if (rc < 0) {
                return rc;
            }
        } else if ((unsigned char)*ps->p < 0x80 && *ps->p != ' ' && *ps->p != '\t') {
            return toml__fail(ps, ps->line, "invalid escape sequence \\%c", *ps->p);
        } else {
            return toml__fail(ps, ps->line, "invalid escape sequence");
        }
    }
}

/* A single-line literal string at ps->p, copied into ps->scratch. */
int toml__scan_literal(struct parser *ps)
{
    buf_reset(&ps->scratch);
    ps->p++;
    const char *start = ps->p;
    while (!toml__at_eol(ps) && *ps->p != '\'') {
        ps->p++;
    }
    if (toml__at_eol(ps)) {
        return toml__fail(ps, ps->line, "unterminated string");
    }
    if (buf_append(&ps->scratch, start, (size_t)(ps->p - start)) < 0 ||
        buf_cstr(&ps->scratch) == NULL) {
        return toml__oom(ps);
    }
    ps->p++;
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
        int d = toml__hex_digit(t[i]);
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
            return toml__fail(ps, ps->line, "leading zeros are not allowed");
        }
    }
    uint64_t limit = is_neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v;
    if (!parse_digits(t + i, n - i, base, limit, &v, &is_range)) {
        return toml__fail(ps, ps->line, is_range ? "integer out of range" : "invalid integer");
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
        return toml__fail(ps, ps->line, "leading zeros are not allowed");
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
        return toml__fail(ps, ps->line, "invalid float");
    }
    tmp[len] = '\0';
    /* strtod reads '.' as the decimal point in the C locale, which the
     * relay never changes. */
    errno = 0;
    double f = strtod(tmp, NULL);
    if (errno == ERANGE && (f == HUGE_VAL || f == -HUGE_VAL)) {
        return toml__fail(ps, ps->line, "float out of range");
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
           (toml__is_bare(*ps->p) || *ps->p == '+' || *ps->p == '.' || *ps->p == ':')) {
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
        return toml__fail(ps, ps->line, "dates and times are not supported");
    }
    if (n == 0 || !(sign || (t[0] >= '0' && t[0] <= '9'))) {
        return toml__fail(ps, ps->line, "expected a value");
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
        return toml__oom(ps);
    }
    out->type = TOML_STRING;
    out->u.s = s;
    return 0;
}

static int parse_array(struct parser *ps, struct toml_value *out, int depth)
{
    if (depth > TOML_MAX_DEPTH) {
        return toml__fail(ps, ps->line, "nesting deeper than %d levels", TOML_MAX_DEPTH);
    }
    int open_line = ps->line, rc = 0;
    struct toml_value arr = { .type = TOML_ARRAY };
    size_t cap = 0;
    bool want_value = true; /* false right after an item: ',' or ']' must follow */
    ps->p++;
    for (;;) {
        toml__skip_blank(ps);
        if (ps->p == ps->end) {
            rc = toml__fail(ps, open_line, "unterminated array");
            goto fail;
        }
        if (*ps->p == ']') {
            break;
        }
        if (!want_value) {
            if (*ps->p != ',') {
                rc = toml__fail(ps, ps->line, "expected ',' or ']' in array");
                goto fail;
            }
            ps->p++;
            want_value = true;
            continue;
        }
        struct toml_value item;
        if (toml__grow((void **)&arr.u.arr.items, &cap, arr.u.arr.n, sizeof(item)) < 0) {
            rc = toml__oom(ps);
            goto fail;
        }
        rc = toml__parse_value(ps, &item, depth + 1);
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
    toml__value_fini(&arr);
    return rc;
}

/* Parses the value at ps->p (not at a line end) into *out, written only on
 * success. depth is the nesting level an array here would have. */
int toml__parse_value(struct parser *ps, struct toml_value *out, int depth)
{
    int rc;
    char q = *ps->p;
    if ((q == '"' || q == '\'') && ps->end - ps->p >= 3 && ps->p[1] == q && ps->p[2] == q) {
        return toml__fail(ps, ps->line, "multi-line strings are not supported");
    }
    switch (q) {
    case '"':
        rc = toml__scan_basic(ps);
        return rc < 0 ? rc : take_scratch(ps, out);
    case '\'':
        rc = toml__scan_literal(ps);
        return rc < 0 ? rc : take_scratch(ps, out);
    case '[':
        return parse_array(ps, out, depth);
    case '{':
        return toml__fail(ps, ps->line, "inline tables are not supported");
    default:
        return parse_scalar(ps, out);
    }
}
