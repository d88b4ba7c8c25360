/*
 * NIP-01 filters, the parsing side (filter_match.c has the reading side).
 * Design: parsing makes two passes over one filter object. The first
 * validates every field against the limits and counts what the filter will
 * hold; the second allocates once and fills, then sorts and de-duplicates
 * each array in place so matching is a binary search.
 *
 * Every value position has a known type, so a value of the wrong type is
 * refused at its first byte: a deeply nested array costs O(1) to refuse,
 * unknown fields are refused without reading their value, and nothing is
 * ever skipped with a generic scanner. Array lengths are checked as they
 * are read, so an oversized array is refused after limit + 1 entries.
 */
#include "filters/filter.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hex.h"
#include "common/json.h"
#include "filters/filter_int.h"
#include "validate/event.h"

#define R_NOT_OBJECT   "invalid: a filter must be a JSON object"
#define R_SYNTAX       "invalid: malformed filter JSON"
#define R_TRAILING     "invalid: unexpected data after the filter object"
#define R_DUP_FIELD    "invalid: duplicate field in filter"
#define R_UNKNOWN      "unsupported: unknown filter field"
#define R_SEARCH_OFF   "unsupported: search is disabled on this relay"
#define R_SEARCH       "invalid: \"search\" must be a string"
#define R_SEARCH_LONG  "invalid: search query too long (over the relay's limit)"
#define R_TAG_KEY      "unsupported: tag filters need exactly one letter a-z or A-Z after '#'"
#define R_IDS          "invalid: \"ids\" must be an array of 64-character lowercase hex strings"
#define R_AUTHORS      "invalid: \"authors\" must be an array of 64-character lowercase hex strings"
#define R_KINDS        "invalid: \"kinds\" must be an array of integers between 0 and 65535"
#define R_TAG_VALUES   "invalid: a tag filter (\"#x\") must be an array of strings"
#define R_SINCE        "invalid: \"since\" must be a non-negative integer"
#define R_UNTIL        "invalid: \"until\" must be a non-negative integer"
#define R_LIMIT        "invalid: \"limit\" must be a non-negative integer"
#define R_MANY_IDS     "invalid: too many ids in one filter (over the relay's limit)"
#define R_MANY_AUTHORS "invalid: too many authors in one filter (over the relay's limit)"
#define R_MANY_KINDS   "invalid: too many kinds in one filter (over the relay's limit)"
#define R_MANY_TAGS    "invalid: too many tag filters in one filter (over the relay's limit)"
#define R_MANY_VALUES  "invalid: too many values in one tag filter (over the relay's limit)"
#define R_VALUE_LONG   "invalid: tag filter value too long (over the relay's limit)"
#define R_NO_FILTERS   "invalid: REQ needs at least one filter"
#define R_MANY_FILTERS "invalid: too many filters in REQ (over the relay's limit)"

const char *const filter_reasons[] = {
    R_NOT_OBJECT,  R_SYNTAX,     R_TRAILING,     R_DUP_FIELD,    R_UNKNOWN,
    R_SEARCH_OFF,  R_SEARCH,     R_SEARCH_LONG,  R_TAG_KEY,      R_IDS,
    R_AUTHORS,     R_KINDS,      R_TAG_VALUES,   R_SINCE,        R_UNTIL,
    R_LIMIT,       R_MANY_IDS,   R_MANY_AUTHORS, R_MANY_KINDS,   R_MANY_TAGS,
    R_MANY_VALUES, R_VALUE_LONG, R_NO_FILTERS,   R_MANY_FILTERS, NULL,
};

/* The fields of a filter; a tag letter's field number is F_TAG + its slot
 * (letter - 'A'), so one 64-bit mask records every field seen. */
enum field {
    F_IDS,
    F_AUTHORS,
    F_KINDS,
    F_SINCE,
    F_UNTIL,
    F_LIMIT,
    F_TAG,
    /* After the tag slots, outside the 64-bit mask: "search" is recorded
     * by FILTER_HAS_SEARCH instead. */
    F_SEARCH = F_TAG + FILTER_LETTER_SLOTS,
};

/* parse_field sets flag 1 << field for the fields below F_TAG. */
_Static_assert(FILTER_HAS_IDS == 1 << F_IDS && FILTER_HAS_AUTHORS == 1 << F_AUTHORS &&
                   FILTER_HAS_KINDS == 1 << F_KINDS && FILTER_HAS_SINCE == 1 << F_SINCE &&
                   FILTER_HAS_UNTIL == 1 << F_UNTIL && FILTER_HAS_LIMIT == 1 << F_LIMIT,
               "FILTER_HAS_* follow enum field");

/* What the first pass learns. */
struct scan {
    uint64_t seen; /* bit per field, for duplicates */
    uint32_t flags;
    uint32_t n_ids, n_authors, n_kinds, n_conds, n_values, n_terms;
    size_t value_bytes; /* decoded bytes of all tag values plus their prefixes */
    size_t term_bytes;  /* search terms, each with its NUL */
    int64_t since, until, limit;
};

/* Where the second pass writes. */
struct fill {
    uint8_t (*ids)[32];
    uint8_t (*authors)[32];
    uint32_t *kinds;
    struct filter_tag_cond *conds;
    const uint8_t **values;
    uint32_t *lens;
    uint8_t *bytes;
    const uint8_t **terms;
    uint32_t *term_lens;
    uint8_t *term_bytes;
    uint32_t n_ids, n_authors, n_kinds, n_conds, n_values, n_terms;
    size_t n_bytes;
};

/* Steps into the array at *pp. Returns 1 with *pp at the first element, 0
 * with *pp past "[]", or -1 when *pp is not an array. */
static int array_open(const char **pp, const char *end)
{
    const char *p = *pp;
    if (p >= end || *p != '[') {
        return -1;
    }
    p = json_skip_ws(p + 1, end);
    if (p >= end) {
        return -1;
    }
    if (*p == ']') {
        *pp = p + 1;
        return 0;
    }
    *pp = p;
    return 1;
}

/* Steps over what follows an element: 1 with *pp at the next element, 0
 * past the closing ']', -1 on anything else. */
static int array_next(const char **pp, const char *end)
{
    const char *p = json_skip_ws(*pp, end);
    if (p < end && *p == ']') {
        *pp = p + 1;
        return 0;
    }
    if (p >= end || *p != ',') {
        return -1;
    }
    p = json_skip_ws(p + 1, end);
    if (p >= end) {
        return -1;
    }
    *pp = p;
    return 1;
}

static int fail(const char **reason, const char *r)
{
    *reason = r;
    return OST_EINVAL;
}

static int cmp32(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static uint32_t prefixed_len(const uint8_t *value)
{
    uint32_t len;
    memcpy(&len, value - 4, 4);
    return len;
}

static int cmp_value(const void *a, const void *b)
{
    const uint8_t *x = *(const uint8_t *const *)a, *y = *(const uint8_t *const *)b;
    return filter__cmp_bytes(x, prefixed_len(x), y, prefixed_len(y));
}

static int cmp_cond(const void *a, const void *b)
{
    const struct filter_tag_cond *x = a, *y = b;
    return (x->letter > y->letter) - (x->letter < y->letter);
}

/* Sorts n elements of size sz at base and drops duplicates. Returns the
 * new count. */
static uint32_t sort_unique(void *base, uint32_t n, size_t sz,
                            int (*cmp)(const void *, const void *))
{
    if (n < 2) {
        return n;
    }
    qsort(base, n, sz, cmp);
    uint8_t *b = base;
    uint32_t out = 1;
    for (uint32_t i = 1; i < n; i++) {
        if (cmp(b + (size_t)(out - 1) * sz, b + (size_t)i * sz) != 0) {
            if (out != i) {
                memcpy(b + (size_t)out * sz, b + (size_t)i * sz, sz);
            }
            out++;
        }
    }
    return out;
}

/* An array of 64-character lowercase hex strings ("ids" or "authors"). */
static int parse_hex32s(const char **pp, const char *end, uint32_t max, const char *r_shape,
                        const char *r_many, uint8_t (*out)[32], uint32_t *n, const char **reason)
{
    const char *p = *pp;
    for (int more = array_open(&p, end); more != 0; more = array_next(&p, end)) {
        uint8_t tmp[32];
        if (more < 0) {
            return fail(reason, r_shape);
        }
        if (*n == max) {
            return fail(reason, r_many);
        }
        if (end - p < 66 || p[0] != '"' || p[65] != '"' || hex_decode_lower(p + 1, 32, tmp) < 0) {
            return fail(reason, r_shape);
        }
        if (out != NULL) {
            memcpy(out[*n], tmp, 32);
        }
        (*n)++;
        p += 66;
    }
    *pp = p;
    return 0;
}

static int parse_kinds(const char **pp, const char *end, uint32_t max, uint32_t *out, uint32_t *n,
                       const char **reason)
{
    const char *p = *pp, *ignored;
    for (int more = array_open(&p, end); more != 0; more = array_next(&p, end)) {
        int64_t v;
        if (more < 0) {
            return fail(reason, R_KINDS);
        }
        if (*n == max) {
            return fail(reason, R_MANY_KINDS);
        }
        if (json_scan_int(p, end, &v, &p, &ignored) < 0 || v < 0 || v > (int64_t)EVENT_KIND_MAX) {
            return fail(reason, R_KINDS);
        }
        if (out != NULL) {
            out[*n] = (uint32_t)v;
        }
        (*n)++;
    }
    *pp = p;
    return 0;
}

/* The array of a "#x" key. In the second pass the values are decoded into
 * the filter, each behind its length, then sorted and de-duplicated. */
static int parse_tag_values(const char **pp, const char *end, const struct filter_limits *lim,
                            char letter, struct scan *sc, struct fill *fl, const char **reason)
{
    const char *p = *pp;
    uint32_t n = 0, first = fl != NULL ? fl->n_values : 0;
    for (int more = array_open(&p, end); more != 0; more = array_next(&p, end)) {
        struct json_str s;
        uint32_t dlen;
        if (more < 0 || *p != '"') {
            return fail(reason, R_TAG_VALUES);
        }
        if (n == lim->max_tag_values) {
            return fail(reason, R_MANY_VALUES);
        }
        if (json_scan_string(p, end, &s, &dlen, &p, reason) < 0) {
            return OST_EINVAL;
        }
        if (dlen > lim->max_value_len) {
            return fail(reason, R_VALUE_LONG);
        }
        n++;
        if (fl == NULL) {
            sc->n_values++;
            sc->value_bytes += 4 + (size_t)dlen;
            continue;
        }
        uint8_t *dst = fl->bytes + fl->n_bytes;
        memcpy(dst, &dlen, 4);
        filter_tag_value_decode(&s, dst + 4, dlen);
        fl->values[fl->n_values++] = dst + 4;
        fl->n_bytes += 4 + (size_t)dlen;
    }
    if (fl != NULL) {
        struct filter_tag_cond *c = &fl->conds[fl->n_conds++];
        const uint8_t **values = fl->values + first;
        c->letter = letter;
        c->n_values = sort_unique(values, n, sizeof(*values), cmp_value);
        c->values = values;
        c->value_lens = fl->lens + first;
        for (uint32_t i = 0; i < c->n_values; i++) {
            fl->lens[first + i] = prefixed_len(values[i]);
        }
    }
    *pp = p;
    return 0;
}

static int cmp_term(const void *a, const void *b)
{
    /* Terms hold no NUL, so strcmp is filter__cmp_bytes order. */
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* NIP-50: the "search" string. The first pass checks and counts its terms;
 * the second writes them, then sorts and de-duplicates them. */
static int parse_search(const char **pp, const char *end, const struct filter_limits *lim,
                        struct scan *sc, struct fill *fl, const char **reason)
{
    uint8_t q[FILTER_MAX_SEARCH_BYTES];
    uint32_t max = lim->max_search_len < FILTER_MAX_SEARCH_BYTES ? lim->max_search_len
                                                                 : FILTER_MAX_SEARCH_BYTES;
    struct json_str s;
    uint32_t dlen;
    size_t n_bytes;
    if (*pp >= end || **pp != '"') {
        return fail(reason, R_SEARCH);
    }
    if (json_scan_string(*pp, end, &s, &dlen, pp, reason) < 0) {
        return OST_EINVAL;
    }
    if (dlen > max) {
        return fail(reason, R_SEARCH_LONG);
    }
    json_str_decode_into(&s, q, dlen);
    if (fl == NULL) {
        sc->n_terms = filter__search_split(q, dlen, NULL, &sc->term_bytes);
        return 0;
    }
    uint32_t n = filter__search_split(q, dlen, fl->term_bytes, &n_bytes);
    const uint8_t *t = fl->term_bytes;
    for (uint32_t i = 0; i < n; i++) {
        fl->terms[i] = t;
        t += strlen((const char *)t) + 1;
    }
    fl->n_terms = sort_unique(fl->terms, n, sizeof(*fl->terms), cmp_term);
    for (uint32_t i = 0; i < fl->n_terms; i++) {
        fl->term_lens[i] = (uint32_t)strlen((const char *)fl->terms[i]);
    }
    return 0;
}

/* Maps a key to its field. Returns the field, or -1 with *reason set. */
static int classify_key(const struct json_str *key, const struct filter_limits *lim,
                        const char **reason)
{
    static const struct {
        const char *name;
        int field;
    } names[] = {
        { "ids", F_IDS },     { "authors", F_AUTHORS }, { "kinds", F_KINDS },
        { "since", F_SINCE }, { "until", F_UNTIL },     { "limit", F_LIMIT },
    };
    uint8_t k[16];
    size_t len = filter_tag_value_decode(key, k, sizeof(k));
    if (len > 0 && k[0] == '#') {
        if (len == 2 && filter__is_letter(k[1])) {
            return F_TAG + (k[1] - 'A');
        }
        return fail(reason, R_TAG_KEY);
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (len == strlen(names[i].name) && memcmp(k, names[i].name, len) == 0) {
            return names[i].field;
        }
    }
    if (len == 6 && memcmp(k, "search", 6) == 0) {
        return lim->is_search_enabled ? F_SEARCH : fail(reason, R_SEARCH_OFF);
    }
    return fail(reason, R_UNKNOWN);
}

static int parse_scalar(const char **pp, const char *end, int64_t *out, const char *r,
                        const char **reason)
{
    const char *ignored;
    if (json_scan_int(*pp, end, out, pp, &ignored) < 0 || *out < 0) {
        return fail(reason, r);
    }
    return 0;
}

/* Parses the value of one field at *pp. fl is NULL in the first pass. */
static int parse_field(int field, const char **pp, const char *end, const struct filter_limits *lim,
                       struct scan *sc, struct fill *fl, const char **reason)
{
    if (field == F_SEARCH) {
        if (fl == NULL && (sc->flags & FILTER_HAS_SEARCH)) {
            return fail(reason, R_DUP_FIELD);
        }
        sc->flags |= FILTER_HAS_SEARCH;
        return parse_search(pp, end, lim, sc, fl, reason);
    }
    if (fl == NULL) {
        if (sc->seen & (uint64_t)1 << field) {
            return fail(reason, R_DUP_FIELD);
        }
        sc->seen |= (uint64_t)1 << field;
        if (field < F_TAG) {
            sc->flags |= 1u << field;
        }
    }
    switch (field) {
    case F_IDS:
        return parse_hex32s(pp, end, lim->max_ids, R_IDS, R_MANY_IDS, fl ? fl->ids : NULL,
                            fl ? &fl->n_ids : &sc->n_ids, reason);
    case F_AUTHORS:
        return parse_hex32s(pp, end, lim->max_authors, R_AUTHORS, R_MANY_AUTHORS,
                            fl ? fl->authors : NULL, fl ? &fl->n_authors : &sc->n_authors, reason);
    case F_KINDS:
        return parse_kinds(pp, end, lim->max_kinds, fl ? fl->kinds : NULL,
                           fl ? &fl->n_kinds : &sc->n_kinds, reason);
    case F_SINCE:
        return parse_scalar(pp, end, &sc->since, R_SINCE, reason);
    case F_UNTIL:
        return parse_scalar(pp, end, &sc->until, R_UNTIL, reason);
    case F_LIMIT:
        return parse_scalar(pp, end, &sc->limit, R_LIMIT, reason);
    default:
        if (fl == NULL && sc->n_conds++ == lim->max_tag_fields) {
            return fail(reason, R_MANY_TAGS);
        }
        return parse_tag_values(pp, end, lim, (char)('A' + (field - F_TAG)), sc, fl, reason);
    }
}

/* One pass over the object at p; *next is set past its '}'. */
static int parse_object(const char *p, const char *end, const struct filter_limits *lim,
                        struct scan *sc, struct fill *fl, const char **next, const char **reason)
{
    p = json_skip_ws(p, end);
    if (p >= end || *p != '{') {
        return fail(reason, R_NOT_OBJECT);
    }
    p = json_skip_ws(p + 1, end);
    if (p < end && *p == '}') {
        *next = p + 1;
        return 0;
    }
    for (;;) {
        struct json_str key;
        if (p >= end || *p != '"') {
            return fail(reason, R_SYNTAX);
        }
        if (json_scan_string(p, end, &key, NULL, &p, reason) < 0) {
            return OST_EINVAL;
        }
        p = json_skip_ws(p, end);
        if (p >= end || *p != ':') {
            return fail(reason, R_SYNTAX);
        }
        p = json_skip_ws(p + 1, end);
        int field = classify_key(&key, lim, reason);
        if (field < 0) {
            return OST_EINVAL;
        }
        int rc = parse_field(field, &p, end, lim, sc, fl, reason);
        if (rc < 0) {
            return rc;
        }
        p = json_skip_ws(p, end);
        if (p < end && *p == ',') {
            p = json_skip_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == '}') {
            *next = p + 1;
            return 0;
        }
        return fail(reason, R_SYNTAX);
    }
}

/* Lays out the single allocation for what the first pass counted. */
static struct filter *filter_alloc(const struct scan *sc, struct fill *fl)
{
    size_t size = sizeof(struct filter) + sc->n_conds * sizeof(struct filter_tag_cond) +
                  ((size_t)sc->n_values + sc->n_terms) * sizeof(uint8_t *) +
                  sc->n_kinds * sizeof(uint32_t) +
                  ((size_t)sc->n_values + sc->n_terms) * sizeof(uint32_t) +
                  ((size_t)sc->n_ids + sc->n_authors) * 32 + sc->value_bytes + sc->term_bytes;
    struct filter *f = calloc(1, size);
    if (f == NULL) {
        return NULL;
    }
    uint8_t *p = (uint8_t *)(f + 1);
    memset(fl, 0, sizeof(*fl));
    fl->conds = (struct filter_tag_cond *)(void *)p;
    p += sc->n_conds * sizeof(struct filter_tag_cond);
    fl->values = (const uint8_t **)(void *)p;
    p += sc->n_values * sizeof(uint8_t *);
    fl->terms = (const uint8_t **)(void *)p;
    p += sc->n_terms * sizeof(uint8_t *);
    fl->kinds = (uint32_t *)(void *)p;
    p += sc->n_kinds * sizeof(uint32_t);
    fl->lens = (uint32_t *)(void *)p;
    p += sc->n_values * sizeof(uint32_t);
    fl->term_lens = (uint32_t *)(void *)p;
    p += sc->n_terms * sizeof(uint32_t);
    fl->ids = (uint8_t(*)[32])p;
    p += (size_t)sc->n_ids * 32;
    fl->authors = (uint8_t(*)[32])p;
    p += (size_t)sc->n_authors * 32;
    fl->bytes = p;
    p += sc->value_bytes;
    fl->term_bytes = p;
    return f;
}

/* Parses one filter object at p in two passes; *next is set past it. */
static int parse_one(const char *p, const char *end, const struct filter_limits *lim,
                     struct filter **out, const char **next, const char **reason)
{
    struct filter_limits defaults;
    struct scan sc;
    struct fill fl;
    const char *ignored;
    if (lim == NULL) {
        filter_limits_default(&defaults);
        lim = &defaults;
    }
    memset(&sc, 0, sizeof(sc));
    int rc = parse_object(p, end, lim, &sc, NULL, next, reason);
    if (rc < 0) {
        return rc;
    }
    struct filter *f = filter_alloc(&sc, &fl);
    if (f == NULL) {
        return OST_ENOMEM;
    }
    rc = parse_object(p, end, lim, &sc, &fl, &ignored, reason);
    if (rc < 0) {
        filter_free(f); /* unreachable: the first pass accepted the same text */
        return rc;
    }
    f->ids = fl.ids;
    f->n_ids = sort_unique(fl.ids, fl.n_ids, 32, cmp32);
    f->authors = fl.authors;
    f->n_authors = sort_unique(fl.authors, fl.n_authors, 32, cmp32);
    f->kinds = fl.kinds;
    f->n_kinds = sort_unique(fl.kinds, fl.n_kinds, sizeof(uint32_t), cmp_u32);
    if (fl.n_conds > 1) {
        qsort(fl.conds, fl.n_conds, sizeof(*fl.conds), cmp_cond);
    }
    f->conds = fl.conds;
    f->n_conds = fl.n_conds;
    for (uint32_t i = 0; i < fl.n_conds; i++) {
        f->cond_at[fl.conds[i].letter - 'A'] = (uint8_t)(i + 1);
    }
    f->terms = fl.terms;
    f->term_lens = fl.term_lens;
    f->n_terms = fl.n_terms;
    f->flags = sc.flags;
    f->since = sc.since;
    f->until = sc.until;
    if (sc.flags & FILTER_HAS_LIMIT) {
        f->limit = sc.limit > lim->max_limit ? lim->max_limit : (uint32_t)sc.limit;
    } else {
        f->limit = lim->default_limit > lim->max_limit ? lim->max_limit : lim->default_limit;
    }
    *out = f;
    return 0;
}

void filter_limits_default(struct filter_limits *lim)
{
    lim->max_ids = FILTER_DEFAULT_MAX_IDS;
    lim->max_authors = FILTER_DEFAULT_MAX_AUTHORS;
    lim->max_kinds = FILTER_DEFAULT_MAX_KINDS;
    lim->max_tag_fields = FILTER_DEFAULT_MAX_TAG_FIELDS;
    lim->max_tag_values = FILTER_DEFAULT_MAX_TAG_VALUES;
    lim->max_value_len = FILTER_DEFAULT_MAX_VALUE_LEN;
    lim->max_limit = FILTER_DEFAULT_MAX_LIMIT;
    lim->default_limit = FILTER_DEFAULT_LIMIT;
    lim->max_search_len = FILTER_DEFAULT_MAX_SEARCH_LEN;
    lim->is_search_enabled = true;
}

int filter_parse(const char *json, size_t len, const struct filter_limits *lim, struct filter **out,
                 const char **reason)
{
    const char *end = json + len, *next;
    struct filter *f;
    int rc = parse_one(json, end, lim, &f, &next, reason);
    if (rc < 0) {
        return rc;
    }
    if (json_skip_ws(next, end) != end) {
        filter_free(f);
        return fail(reason, R_TRAILING);
    }
    *out = f;
    return 0;
}

void filter_free(struct filter *f)
{
    free(f);
}

int filter_set_parse(const char *json, size_t len, const struct filter_limits *lim,
                     uint32_t max_filters, struct filter_set **out, const char **reason)
{
    const char *end = json + len;
    const char *p = json_skip_ws(json, end);
    struct filter_set *s = NULL;
    int rc;
    if (p >= end) {
        return fail(reason, R_NO_FILTERS);
    }
    for (;;) {
        if ((s != NULL ? s->n : 0) == max_filters) {
            rc = fail(reason, R_MANY_FILTERS);
            goto fail;
        }
        if (s == NULL || s->n == s->cap) {
            size_t cap = s == NULL ? 4 : (size_t)s->cap * 2;
            struct filter_set *grown = realloc(s, sizeof(*s) + cap * sizeof(s->filters[0]));
            if (grown == NULL) {
                rc = OST_ENOMEM;
                goto fail;
            }
            if (s == NULL) {
                grown->n = 0;
            }
            s = grown;
            s->cap = (uint32_t)cap;
        }
        rc = parse_one(p, end, lim, &s->filters[s->n], &p, reason);
        if (rc < 0) {
            goto fail;
        }
        s->n++;
        p = json_skip_ws(p, end);
        if (p >= end) {
            break;
        }
        if (*p != ',') {
            rc = fail(reason, R_SYNTAX);
            goto fail;
        }
        p++;
    }
    *out = s;
    return 0;
fail:
    filter_set_free(s);
    return rc;
}

void filter_set_free(struct filter_set *s)
{
    if (s == NULL) {
        return;
    }
    for (uint32_t i = 0; i < s->n; i++) {
        filter_free(s->filters[i]);
    }
    free(s);
}
