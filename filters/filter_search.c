/*
 * NIP-50 search inside the filter module: splitting a query into terms
 * (filter.c calls it while parsing) and matching an event's content against
 * them (filter_match.c calls it for live events).
 *
 * Design. One tokenizer serves both sides, so a query and a content are cut
 * into words the same way: a word is a run of ASCII letters and digits
 * (folded to lower case) and bytes of non-ASCII characters (kept as they
 * are); every other ASCII byte separates words. For ASCII text this is what
 * the SQLite store's FTS5 unicode61 tokenizer does. Beyond ASCII the stored
 * search also folds case, removes diacritics and treats non-ASCII
 * punctuation and symbols (emoji) as separators, which the live matcher
 * does not: there a non-ASCII word matches only its exact bytes.
 * Stateless and allocation-free: any thread may call these.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/json.h"
#include "filters/filter.h"
#include "filters/filter_int.h"

/* Feeds bytes one at a time and reports each finished word. */
struct tokenizer {
    uint8_t *word; /* the word being built, up to cap bytes */
    size_t cap;
    size_t len; /* bytes of the word so far, even past cap */
    bool (*emit)(void *ud, const uint8_t *word, size_t len);
    void *ud;
    bool is_done; /* emit asked to stop */
};

static bool is_word_byte(uint8_t b)
{
    return b >= 0x80 || (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
}

static void tok_end(struct tokenizer *t)
{
    if (t->len > 0 && !t->is_done) {
        /* A word longer than cap cannot equal any term, which is shorter
         * than the query it came from; emit sees it as too long. */
        t->is_done = !t->emit(t->ud, t->word, t->len);
    }
    t->len = 0;
}

static void tok_byte(struct tokenizer *t, uint8_t b)
{
    if (!is_word_byte(b)) {
        tok_end(t);
        return;
    }
    if (t->len < t->cap) {
        t->word[t->len] = (b >= 'A' && b <= 'Z') ? (uint8_t)(b - 'A' + 'a') : b;
    }
    t->len++;
}

/* NIP-50: "A query string may contain key:value pairs (two words separated
 * by colon), these are extensions, relays SHOULD ignore extensions they
 * don't support." None is supported. A key is letters, digits, '_' or '-';
 * a value that starts with '/' makes a URL, which is searched as words. */
static bool is_extension(const uint8_t *w, size_t len)
{
    size_t i = 0;
    while (i < len && (is_word_byte(w[i]) || w[i] == '_' || w[i] == '-') && w[i] < 0x80) {
        i++;
    }
    return i > 0 && i + 1 < len && w[i] == ':' && w[i + 1] != '/';
}

static bool is_space(uint8_t b)
{
    return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\f' || b == '\v';
}

/* Appends each word of a term list as a NUL-terminated string at out. */
struct term_sink {
    uint8_t *out; /* NULL: only count */
    size_t n_bytes;
    uint32_t n_terms;
};

static bool sink_term(void *ud, const uint8_t *word, size_t len)
{
    struct term_sink *s = ud;
    if (s->out != NULL) {
        memcpy(s->out + s->n_bytes, word, len);
        s->out[s->n_bytes + len] = '\0';
    }
    s->n_bytes += len + 1;
    s->n_terms++;
    return true;
}

uint32_t filter__search_split(const uint8_t *q, size_t len, uint8_t *out, size_t *n_bytes)
{
    uint8_t word[FILTER_MAX_SEARCH_BYTES];
    struct term_sink sink = { .out = out };
    struct tokenizer t = { .word = word, .cap = sizeof(word), .emit = sink_term, .ud = &sink };
    size_t i = 0;
    while (i < len) {
        while (i < len && is_space(q[i])) {
            i++;
        }
        size_t start = i;
        while (i < len && !is_space(q[i])) {
            i++;
        }
        if (i == start || is_extension(q + start, i - start)) {
            continue;
        }
        for (size_t k = start; k < i; k++) {
            tok_byte(&t, q[k]);
        }
        tok_end(&t);
    }
    *n_bytes = sink.n_bytes;
    return sink.n_terms;
}

/* What the live matcher is looking for, and what it found so far. */
struct match_state {
    const struct filter *f;
    uint64_t found[(FILTER_MAX_SEARCH_BYTES / 2 + 64) / 64];
    uint32_t n_found;
};

static bool match_word(void *ud, const uint8_t *word, size_t len)
{
    struct match_state *m = ud;
    const struct filter *f = m->f;
    if (len > FILTER_MAX_SEARCH_BYTES) {
        return true;
    }
    uint32_t lo = 0, hi = f->n_terms;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = filter__cmp_bytes(f->terms[mid], f->term_lens[mid], word, (uint32_t)len);
        if (c == 0) {
            if (!(m->found[mid / 64] >> (mid % 64) & 1)) {
                m->found[mid / 64] |= (uint64_t)1 << (mid % 64);
                m->n_found++;
            }
            return m->n_found < f->n_terms;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return true;
}

bool filter__search_matches(const struct filter *f, const struct json_str *content)
{
    uint8_t word[FILTER_MAX_SEARCH_BYTES];
    struct match_state m = { .f = f };
    struct tokenizer t = { .word = word, .cap = sizeof(word), .emit = match_word, .ud = &m };
    const char *p = content->p, *end = content->p + content->len;
    while (p < end && !t.is_done) {
        if (*p != '\\') {
            tok_byte(&t, (uint8_t)*p++);
            continue;
        }
        /* The event parser accepted the string, so the escape is whole. */
        uint32_t cp;
        char utf8[4];
        p = json_unescape(p, &cp);
        size_t n = json_utf8_encode(cp, utf8);
        for (size_t i = 0; i < n; i++) {
            tok_byte(&t, (uint8_t)utf8[i]);
        }
    }
    tok_end(&t);
    return m.n_found == f->n_terms;
}
