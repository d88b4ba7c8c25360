/*
 * Private to the filter module (filter.c parses, filter_match.c reads):
 * the layout of a parsed filter and of a filter set, and the helpers both
 * sides must agree on. Nothing outside filters/filter*.c includes this.
 */
#ifndef OSTRICH_FILTERS_FILTER_INT_H
#define OSTRICH_FILTERS_FILTER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "filters/filter.h"

/* Which optional fields a filter has (struct filter.flags). */
enum {
    FILTER_HAS_IDS = 1 << 0,
    FILTER_HAS_AUTHORS = 1 << 1,
    FILTER_HAS_KINDS = 1 << 2,
    FILTER_HAS_SINCE = 1 << 3,
    FILTER_HAS_UNTIL = 1 << 4,
    FILTER_HAS_LIMIT = 1 << 5,
    FILTER_HAS_SEARCH = 1 << 6, /* "search" was given, even if only extensions */
};

/* Tag letters index cond_at by letter - 'A', which spans 'A'..'z'. */
#define FILTER_LETTER_SLOTS ('z' - 'A' + 1)

/*
 * One malloc holds the header and then, in order of decreasing alignment:
 * conds[n_conds], the value pointers of all conditions, the search term
 * pointers, kinds[n_kinds], the value lengths, the term lengths,
 * ids[n_ids][32], authors[n_authors][32], the value bytes, the raw search
 * query and the search terms (each NUL-terminated; sorted by
 * filter__cmp_bytes and de-duplicated, so live matching is a binary
 * search). Each value's bytes are preceded by their length (4 bytes, native
 * order, unaligned) so the sort comparator can read a value from its
 * pointer alone; value_lens repeats the lengths for readers.
 * Immutable once filter_parse returns.
 */
struct filter {
    const uint8_t (*ids)[32];
    const uint8_t (*authors)[32];
    const uint32_t *kinds;
    const struct filter_tag_cond *conds;
    const uint8_t *const *terms; /* NIP-50 search words; none: no search condition */
    const uint32_t *term_lens;
    int64_t since, until;
    uint32_t n_ids, n_authors, n_kinds, n_conds, n_terms;
    uint32_t limit;                       /* effective: clamped, or the default */
    uint32_t flags;                       /* FILTER_HAS_* */
    uint8_t cond_at[FILTER_LETTER_SLOTS]; /* 1 + index in conds of a letter; 0: none */
};

struct filter_set {
    uint32_t n, cap;
    struct filter *filters[];
};

static inline bool filter__is_letter(uint32_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* The order of tag values: memcmp over the common length, then shorter
 * first. Sorting and binary search must both use it. */
static inline int filter__cmp_bytes(const uint8_t *a, uint32_t alen, const uint8_t *b,
                                    uint32_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c != 0 ? c : (alen > blen) - (alen < blen);
}

/* NIP-50 (filter_search.c). Splits the decoded query q[0..len) into its
 * search terms, leaving out key:value extensions: writes each term
 * NUL-terminated at out (unless out is NULL, to count), sets *n_bytes to
 * the bytes written and returns the number of terms. len is at most
 * FILTER_MAX_SEARCH_BYTES; out needs room for 2 * len bytes. */
uint32_t filter__search_split(const uint8_t *q, size_t len, uint8_t *out, size_t *n_bytes);

/* True when every term of f (which has at least one) is a word of the
 * content, tokenised the same way as the query. */
bool filter__search_matches(const struct filter *f, const struct json_str *content);

#endif
