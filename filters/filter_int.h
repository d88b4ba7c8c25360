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
};

/* Tag letters index cond_at by letter - 'A', which spans 'A'..'z'. */
#define FILTER_LETTER_SLOTS ('z' - 'A' + 1)

/*
 * One malloc holds the header and then, in order of decreasing alignment:
 * conds[n_conds], the value pointers of all conditions, kinds[n_kinds], the
 * value lengths, ids[n_ids][32], authors[n_authors][32], and the value
 * bytes. Each value's bytes are preceded by their length (4 bytes, native
 * order, unaligned) so the sort comparator can read a value from its
 * pointer alone; value_lens repeats the lengths for readers.
 * Immutable once filter_parse returns.
 */
struct filter {
    const uint8_t (*ids)[32];
    const uint8_t (*authors)[32];
    const uint32_t *kinds;
    const struct filter_tag_cond *conds;
    int64_t since, until;
    uint32_t n_ids, n_authors, n_kinds, n_conds;
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

#endif
