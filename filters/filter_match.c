/*
 * NIP-01 filters, the reading side: matching, the views the index and the
 * stores use, and the canonical JSON. Everything here reads an immutable
 * filter and allocates nothing (filter_to_json grows only the caller's
 * buffer), so any thread may call it on a shared filter.
 */
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hex.h"
#include "common/json.h"
#include "filters/filter.h"
#include "filters/filter_int.h"
#include "validate/event.h"

/* The unescaping filter.h promises, also used by the parser for keys and
 * values: one pass, no allocation, output cut at cap but the full length
 * returned. */
size_t filter_tag_value_decode(const struct json_str *s, uint8_t *out, size_t cap)
{
    return json_str_decode_into(s, out, cap);
}

static bool has32(const uint8_t (*arr)[32], uint32_t n, const uint8_t *key)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = memcmp(arr[mid], key, 32);
        if (c == 0) {
            return true;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

static bool has_kind(const uint32_t *kinds, uint32_t n, uint32_t kind)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (kinds[mid] == kind) {
            return true;
        }
        if (kinds[mid] < kind) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

static bool cond_has_bytes(const struct filter_tag_cond *c, const uint8_t *v, uint32_t len)
{
    uint32_t lo = 0, hi = c->n_values;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int cmp = filter__cmp_bytes(c->values[mid], c->value_lens[mid], v, len);
        if (cmp == 0) {
            return true;
        }
        if (cmp < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

static bool cond_has(const struct filter_tag_cond *c, const struct json_str *v)
{
    if (!v->has_escapes) {
        return cond_has_bytes(c, (const uint8_t *)v->p, v->len);
    }
    /* Escaped values are rare: unescape on the stack when they fit, else
     * compare against each value without allocating. */
    uint8_t tmp[512];
    size_t n = filter_tag_value_decode(v, tmp, sizeof(tmp));
    if (n <= sizeof(tmp)) {
        return cond_has_bytes(c, tmp, (uint32_t)n);
    }
    for (uint32_t i = 0; i < c->n_values; i++) {
        if (json_str_equals(v, (const char *)c->values[i], c->value_lens[i])) {
            return true;
        }
    }
    return false;
}

char filter_tag_letter(const struct json_str *name)
{
    uint32_t cp = 0;
    if (!name->has_escapes) {
        cp = name->len == 1 ? (unsigned char)name->p[0] : 0;
    } else if (name->len == 6 && name->p[0] == '\\') {
        /* A letter has no short escape, so an escaped one-letter name is
         * exactly one \uXXXX. */
        if (json_unescape(name->p, &cp) != name->p + 6) {
            cp = 0;
        }
    }
    return filter__is_letter(cp) ? (char)cp : 0;
}

/* NIP-01: "#x" matches when some tag named x has one of the values in its
 * second position. One walk over the event's tags serves every condition;
 * bit i of got is set once condition i is satisfied. */
static bool match_tags(const struct filter *f, const struct event *ev)
{
    uint64_t want = ((uint64_t)1 << f->n_conds) - 1, got = 0;
    struct event_tag_iter tags, fields;
    struct json_str name, value;
    event_tags_begin(ev, &tags);
    while (event_tags_next(&tags, &fields)) {
        if (!event_tag_next_str(&fields, &name)) {
            continue;
        }
        char letter = filter_tag_letter(&name);
        unsigned at = letter ? f->cond_at[letter - 'A'] : 0;
        if (at == 0 || (got >> (at - 1) & 1) || !event_tag_next_str(&fields, &value)) {
            continue;
        }
        if (cond_has(&f->conds[at - 1], &value)) {
            got |= (uint64_t)1 << (at - 1);
            if (got == want) {
                return true;
            }
        }
    }
    return false;
}

bool filter_matches(const struct filter *f, const struct event *ev)
{
    if ((f->flags & FILTER_HAS_IDS) && !has32(f->ids, f->n_ids, ev->id)) {
        return false;
    }
    if ((f->flags & FILTER_HAS_AUTHORS) && !has32(f->authors, f->n_authors, ev->pubkey)) {
        return false;
    }
    if ((f->flags & FILTER_HAS_KINDS) && !has_kind(f->kinds, f->n_kinds, ev->kind)) {
        return false;
    }
    /* NIP-01: since <= created_at <= until, both inclusive. */
    if ((f->flags & FILTER_HAS_SINCE) && ev->created_at < f->since) {
        return false;
    }
    if ((f->flags & FILTER_HAS_UNTIL) && ev->created_at > f->until) {
        return false;
    }
    if (f->n_conds > 0 && !match_tags(f, ev)) {
        return false;
    }
    return f->n_terms == 0 || filter__search_matches(f, &ev->content);
}

bool filter_never_matches(const struct filter *f)
{
    if (((f->flags & FILTER_HAS_IDS) && f->n_ids == 0) ||
        ((f->flags & FILTER_HAS_AUTHORS) && f->n_authors == 0) ||
        ((f->flags & FILTER_HAS_KINDS) && f->n_kinds == 0)) {
        return true;
    }
    for (uint32_t i = 0; i < f->n_conds; i++) {
        if (f->conds[i].n_values == 0) {
            return true;
        }
    }
    return (f->flags & FILTER_HAS_SINCE) && (f->flags & FILTER_HAS_UNTIL) && f->since > f->until;
}

size_t filter_ids(const struct filter *f, const uint8_t (**out)[32])
{
    *out = f->ids;
    return f->n_ids;
}

size_t filter_authors(const struct filter *f, const uint8_t (**out)[32])
{
    *out = f->authors;
    return f->n_authors;
}

size_t filter_kinds(const struct filter *f, const uint32_t **out)
{
    *out = f->kinds;
    return f->n_kinds;
}

size_t filter_tag_conds(const struct filter *f, const struct filter_tag_cond **out)
{
    *out = f->conds;
    return f->n_conds;
}

bool filter_since(const struct filter *f, int64_t *out)
{
    if (f->flags & FILTER_HAS_SINCE) {
        *out = f->since;
        return true;
    }
    return false;
}

bool filter_until(const struct filter *f, int64_t *out)
{
    if (f->flags & FILTER_HAS_UNTIL) {
        *out = f->until;
        return true;
    }
    return false;
}

uint32_t filter_limit(const struct filter *f)
{
    return f->limit;
}

bool filter_has_limit(const struct filter *f)
{
    return (f->flags & FILTER_HAS_LIMIT) != 0;
}

size_t filter_search_terms(const struct filter *f, const uint8_t *const **out,
                           const uint32_t **lens)
{
    *out = f->terms;
    *lens = f->term_lens;
    return f->n_terms;
}

/* Appends `"key":` (after a comma unless it is the first key). */
static int put_key(struct buf *out, bool *first, const char *key)
{
    if (!*first && buf_append_char(out, ',') < 0) {
        return OST_ENOMEM;
    }
    *first = false;
    return buf_printf(out, "\"%s\":", key) < 0 ? OST_ENOMEM : 0;
}

static int put_hex32s(struct buf *out, bool *first, const char *key, const uint8_t (*a)[32],
                      uint32_t n)
{
    if (put_key(out, first, key) < 0 || buf_append_char(out, '[') < 0) {
        return OST_ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        char q[67] = { ',', '"' }; /* ,"<64 hex>" with the comma dropped for the first */
        hex_encode(a[i], 32, q + 2);
        q[66] = '"';
        if (buf_append(out, i ? q : q + 1, i ? 67 : 66) < 0) {
            return OST_ENOMEM;
        }
    }
    return buf_append_char(out, ']');
}

static int put_body(const struct filter *f, struct buf *out)
{
    bool first = true;
    if ((f->flags & FILTER_HAS_IDS) && put_hex32s(out, &first, "ids", f->ids, f->n_ids) < 0) {
        return OST_ENOMEM;
    }
    if ((f->flags & FILTER_HAS_AUTHORS) &&
        put_hex32s(out, &first, "authors", f->authors, f->n_authors) < 0) {
        return OST_ENOMEM;
    }
    if (f->flags & FILTER_HAS_KINDS) {
        if (put_key(out, &first, "kinds") < 0 || buf_append_char(out, '[') < 0) {
            return OST_ENOMEM;
        }
        for (uint32_t i = 0; i < f->n_kinds; i++) {
            if (buf_printf(out, i ? ",%u" : "%u", (unsigned)f->kinds[i]) < 0) {
                return OST_ENOMEM;
            }
        }
        if (buf_append_char(out, ']') < 0) {
            return OST_ENOMEM;
        }
    }
    for (uint32_t i = 0; i < f->n_conds; i++) {
        const struct filter_tag_cond *c = &f->conds[i];
        char key[3] = { '#', c->letter, 0 };
        if (put_key(out, &first, key) < 0 || buf_append_char(out, '[') < 0) {
            return OST_ENOMEM;
        }
        for (uint32_t j = 0; j < c->n_values; j++) {
            if ((j && buf_append_char(out, ',') < 0) ||
                json_write_string(out, (const char *)c->values[j], c->value_lens[j]) < 0) {
                return OST_ENOMEM;
            }
        }
        if (buf_append_char(out, ']') < 0) {
            return OST_ENOMEM;
        }
    }
    if (((f->flags & FILTER_HAS_SINCE) &&
         (put_key(out, &first, "since") < 0 || buf_printf(out, "%lld", (long long)f->since) < 0)) ||
        ((f->flags & FILTER_HAS_UNTIL) &&
         (put_key(out, &first, "until") < 0 || buf_printf(out, "%lld", (long long)f->until) < 0)) ||
        ((f->flags & FILTER_HAS_LIMIT) &&
         (put_key(out, &first, "limit") < 0 || buf_printf(out, "%u", (unsigned)f->limit) < 0))) {
        return OST_ENOMEM;
    }
    if (f->n_terms > 0) {
        /* Terms may hold non-ASCII bytes; they are written back as the
         * query's words joined by spaces, which parse to the same terms. */
        if (put_key(out, &first, "search") < 0 || buf_append_char(out, '"') < 0) {
            return OST_ENOMEM;
        }
        for (uint32_t i = 0; i < f->n_terms; i++) {
            if ((i && buf_append_char(out, ' ') < 0) ||
                buf_append(out, f->terms[i], f->term_lens[i]) < 0) {
                return OST_ENOMEM;
            }
        }
        if (buf_append_char(out, '"') < 0) {
            return OST_ENOMEM;
        }
    }
    return 0;
}

int filter_to_json(const struct filter *f, struct buf *out)
{
    size_t start = out->len;
    if (buf_append_char(out, '{') < 0 || put_body(f, out) < 0 || buf_append_char(out, '}') < 0) {
        out->len = start;
        return OST_ENOMEM;
    }
    return 0;
}

size_t filter_set_count(const struct filter_set *s)
{
    return s->n;
}

const struct filter *filter_set_at(const struct filter_set *s, size_t i)
{
    return s->filters[i];
}

bool filter_set_matches(const struct filter_set *s, const struct event *ev)
{
    for (uint32_t i = 0; i < s->n; i++) {
        if (filter_matches(s->filters[i], ev)) {
            return true;
        }
    }
    return false;
}
