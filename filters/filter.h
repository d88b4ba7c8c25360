/*
 * NIP-01 filters: parse, validate against limits, match.
 *
 * A parsed filter is one allocation (a header followed by packed, sorted,
 * de-duplicated arrays) and immutable, so any thread may read it; it is
 * created on whichever thread parses the REQ and moved by pointer to others.
 * This module knows nothing of connections, subscriptions or threads: the
 * subscription index and the stores read filters through the views below.
 * Thread-agnostic: no globals, no locks, no logging.
 */
#ifndef OSTRICH_FILTERS_FILTER_H
#define OSTRICH_FILTERS_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct event;
struct json_str;

/* The built-in defaults of struct filter_limits. */
#define FILTER_DEFAULT_MAX_IDS        1000
#define FILTER_DEFAULT_MAX_AUTHORS    1000
#define FILTER_DEFAULT_MAX_KINDS      100
#define FILTER_DEFAULT_MAX_TAG_FIELDS 10
#define FILTER_DEFAULT_MAX_TAG_VALUES 1000
#define FILTER_DEFAULT_MAX_VALUE_LEN  1024
#define FILTER_DEFAULT_MAX_LIMIT      5000
#define FILTER_DEFAULT_LIMIT          500
#define FILTER_DEFAULT_MAX_SEARCH_LEN 256

/* The largest max_search_len the parser honours; a larger one is clamped. */
#define FILTER_MAX_SEARCH_BYTES 1024

/* Limits on what one filter may ask for; cfg fills them. Counts are of the
 * entries as written, before de-duplication. */
struct filter_limits {
    uint32_t max_ids;        /* entries in "ids" */
    uint32_t max_authors;    /* entries in "authors" */
    uint32_t max_kinds;      /* entries in "kinds" */
    uint32_t max_tag_fields; /* "#x" keys in one filter */
    uint32_t max_tag_values; /* values in one "#x" array */
    uint32_t max_value_len;  /* bytes in one tag value, after unescaping */
    uint32_t max_limit;      /* a larger "limit" is clamped to this */
    uint32_t default_limit;  /* used when a filter has no "limit" */
    uint32_t max_search_len; /* bytes in "search", after unescaping (NIP-50) */
    bool is_search_enabled;  /* false: a filter with "search" is refused */
};

/* Fills lim with the built-in defaults (FILTER_DEFAULT_*). */
void filter_limits_default(struct filter_limits *lim);

struct filter;

/* One "#x" condition: the tag letter and its sorted values. The values are
 * unescaped bytes; value i is values[i] with length value_lens[i]. Values
 * are sorted by their bytes (memcmp order, a shorter prefix first) and
 * de-duplicated. */
struct filter_tag_cond {
    char letter;
    uint32_t n_values;
    const uint8_t *const *values;
    const uint32_t *value_lens;
};

/* Parses one filter object from json[0..len) (surrounding whitespace
 * allowed). json and lim are borrowed; lim may be NULL for the defaults.
 * Returns 0 with *out set (free it with filter_free), OST_ENOMEM, or
 * OST_EINVAL with *reason set to a static string with its NIP-01 prefix
 * ("invalid: ..." or "unsupported: ..."; a malformed string inside a tag
 * value reports one of json_reasons). *out is written only on success.
 *
 * Semantics: "ids" and "authors" hold exact 64-character lowercase hex
 * (prefixes are refused); "kinds" integers 0..65535; "#<a-zA-Z>" arrays of
 * strings, compared as unescaped bytes; "since", "until" and "limit"
 * non-negative integers. A list written as [] is valid and matches nothing.
 * "search" (NIP-50) is a string of at most max_search_len bytes, refused
 * when lim->is_search_enabled is false; its key:value extensions are
 * ignored and the rest is split into words (see filter_search_terms); a
 * query with no words is no condition. Unknown and duplicate fields are
 * refused. */
int filter_parse(const char *json, size_t len, const struct filter_limits *lim, struct filter **out,
                 const char **reason);

/* Frees f. NULL does nothing. */
void filter_free(struct filter *f);

/* NIP-01 match: every present field must match (AND); within a field any
 * one value (OR); since <= created_at <= until, both inclusive; "#x" matches
 * when some tag named x has the value in its second position. Does not
 * allocate; any thread may call it on a shared filter. With search terms,
 * every term must be a word of the content: ASCII letters and digits
 * compared without case, other characters byte for byte (filter_search.c
 * says how this differs from the SQLite store beyond ASCII). */
bool filter_matches(const struct filter *f, const struct event *ev);

/* True when no event can match f: a list field written as [], or
 * since > until. When this is false, a view below that returns 0 means the
 * field is absent (no condition). */
bool filter_never_matches(const struct filter *f);

/* Views for the subscription index and the stores; pointers stay valid as
 * long as f. ids and authors are sorted arrays of 32-byte values; kinds is a
 * sorted array. Tag conditions are sorted by letter (ASCII order). */
size_t filter_ids(const struct filter *f, const uint8_t (**out)[32]);
size_t filter_authors(const struct filter *f, const uint8_t (**out)[32]);
size_t filter_kinds(const struct filter *f, const uint32_t **out);
size_t filter_tag_conds(const struct filter *f, const struct filter_tag_cond **out);
bool filter_since(const struct filter *f, int64_t *out);
bool filter_until(const struct filter *f, int64_t *out);
/* The effective limit: the filter's own (clamped to max_limit), else the
 * default (also clamped to max_limit). 0 means "no stored events". */
uint32_t filter_limit(const struct filter *f);
/* True when the filter itself said "limit". */
bool filter_has_limit(const struct filter *f);
/* NIP-50: the words of the search query, each NUL-terminated: the query's
 * words outside key:value extensions, split at every ASCII character that
 * is not a letter or digit, ASCII letters in lower case, sorted and
 * de-duplicated. out[i] has length lens[i]. Returns how many; 0 means no
 * search condition. A word holds only ASCII letters and digits and bytes
 * of non-ASCII characters. */
size_t filter_search_terms(const struct filter *f, const uint8_t *const **out,
                           const uint32_t **lens);

/* Appends the canonical JSON of f (sorted, de-duplicated, keys in the order
 * ids, authors, kinds, #A..#Z, #a..#z, since, until, limit, search;
 * "limit" only when the filter had one, already clamped; "search" as its
 * words joined by spaces, only when it has some) for logs and tests. Returns 0
 * or OST_ENOMEM, in which case out is left as it was. */
int filter_to_json(const struct filter *f, struct buf *out);

/* The letter an event tag name stands for when it is a single ASCII letter
 * a-z or A-Z (possibly written as a \u escape), else 0. name is a string
 * from event_tag_next_str. Used by the matcher and the subscription index
 * so both read tag names the same way. */
char filter_tag_letter(const struct json_str *name);

/* Unescapes a tag value s (from event_tag_next_str) into out[0..cap) the
 * way the matcher compares values, without allocating. Returns the full
 * unescaped length, which may exceed cap; then only cap bytes are written. */
size_t filter_tag_value_decode(const struct json_str *s, uint8_t *out, size_t cap);

/* The filters of one REQ, matched as an OR. Immutable once parsed, like a
 * filter; owns its filters. */
struct filter_set;

/* Parses the filters of a REQ: json[0..len) is the text after the
 * subscription id, i.e. one or more filter objects separated by commas
 * (as in ["REQ","sub",{...},{...}] the part `{...},{...}`), whitespace
 * allowed. At most max_filters. Same returns as filter_parse, plus the
 * reasons "invalid: REQ needs at least one filter" and "invalid: too many
 * filters in REQ (over the relay's limit)". */
int filter_set_parse(const char *json, size_t len, const struct filter_limits *lim,
                     uint32_t max_filters, struct filter_set **out, const char **reason);
/* Frees s and its filters. NULL does nothing. */
void filter_set_free(struct filter_set *s);
size_t filter_set_count(const struct filter_set *s);
/* Filter i (i < filter_set_count(s)), in REQ order; borrowed from s. */
const struct filter *filter_set_at(const struct filter_set *s, size_t i);
/* True when any filter of s matches ev. */
bool filter_set_matches(const struct filter_set *s, const struct event *ev);

/* Every reason the parsers return, ending with NULL (for tests). */
extern const char *const filter_reasons[];

#endif
