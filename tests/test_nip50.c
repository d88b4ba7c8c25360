/*
 * Tests for NIP-50 search: how a query becomes terms (extensions ignored,
 * FTS5 syntax taken as words) and the live matcher. Search in the store is
 * part of the storage contract (tests/store_contract_nip50.c), run on every
 * backend; the SQLite full-text index, its relevance order, query plan and
 * schema upgrades are in tests/test_store_sqlite.c.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/buf.h"
#include "common/err.h"
#include "filters/filter.h"
#include "validate/event.h"

#define SIG_ZEROS                                                      \
    "0000000000000000000000000000000000000000000000000000000000000000" \
    "0000000000000000000000000000000000000000000000000000000000000000"
#define PK_A "00000000000000000000000000000000000000000000000000000000000000aa"
#define T    1700000000

/* An event whose json lives in b; id number n. content is JSON string text
 * (escapes allowed), without the quotes. */
struct tev {
    struct buf b;
    struct event ev;
};

static bool tev_make(struct tev *t, unsigned n, const char *pk, unsigned kind, long long created_at,
                     const char *tags, const char *content)
{
    const char *reason = NULL;
    buf_init(&t->b);
    buf_printf(&t->b,
               "{\"id\":\"%064x\",\"pubkey\":\"%s\",\"created_at\":%lld,\"kind\":%u,"
               "\"tags\":%s,\"content\":\"%s\",\"sig\":\"" SIG_ZEROS "\"}",
               n, pk, created_at, kind, tags, content);
    if (buf_cstr(&t->b) == NULL || event_parse(t->b.data, t->b.len, NULL, &t->ev, &reason) < 0) {
        fprintf(stderr, "  event_parse: %s\n", reason != NULL ? reason : "out of memory");
        buf_fini(&t->b);
        return false;
    }
    return true;
}

static struct filter *parse(const char *json)
{
    struct filter *f = NULL;
    const char *reason = NULL;
    if (filter_parse(json, strlen(json), NULL, &f, &reason) != 0) {
        fprintf(stderr, "  %s: %s\n", json, reason != NULL ? reason : "out of memory");
        return NULL;
    }
    return f;
}

/* The terms of a filter joined by spaces, as filter_to_json writes them. */
static void check_terms(const char *json, const char *want)
{
    struct filter *f = parse(json);
    CHECK(f != NULL);
    const uint8_t *const *terms;
    const uint32_t *lens;
    size_t n = filter_search_terms(f, &terms, &lens);
    struct buf got;
    buf_init(&got);
    for (size_t i = 0; i < n; i++) {
        CHECK_INT_EQ(lens[i], strlen((const char *)terms[i]));
        buf_printf(&got, i ? " %s" : "%s", (const char *)terms[i]);
    }
    if (strcmp(buf_cstr(&got), want) != 0) {
        fprintf(stderr, "  %s\n", json);
    }
    CHECK_STR_EQ(buf_cstr(&got), want);
    buf_fini(&got);
    filter_free(f);
}

static void test_terms(void)
{
    check_terms("{\"search\":\"Best NOSTR apps\"}", "apps best nostr");
    check_terms("{\"search\":\"nostr nostr NOSTR\"}", "nostr");
    /* Extensions are ignored; a URL is not one. */
    check_terms("{\"search\":\"orange include:spam language:en domain:x.com nsfw:false\"}",
                "orange");
    check_terms("{\"search\":\"sentiment:positive\"}", "");
    check_terms("{\"search\":\"see https://example.com/a\"}", "a com example https see");
    check_terms("{\"search\":\"   \"}", "");
    /* FTS5 syntax is only words. */
    check_terms("{\"search\":\"\\\"quoted\\\" star* NEAR(a b) {content}:x (p OR q) -r ^s\"}",
                "a b content near or p q quoted r s star x");
    check_terms("{\"search\":\"don't \\u00c9t\\u00e9 caf\\u00e9\"}",
                "caf\xc3\xa9 don t \xc3\x89t\xc3\xa9");
    /* The canonical JSON carries the terms and parses back to them. */
    struct filter *f = parse("{\"kinds\":[1],\"search\":\"Hello, World! lang:en\"}");
    struct buf out;
    buf_init(&out);
    CHECK_OK(filter_to_json(f, &out));
    CHECK_STR_EQ(buf_cstr(&out), "{\"kinds\":[1],\"search\":\"hello world\"}");
    filter_free(f);
    f = parse("{\"search\":\"lang:en\"}");
    buf_reset(&out);
    CHECK_OK(filter_to_json(f, &out));
    CHECK_STR_EQ(buf_cstr(&out), "{}");
    buf_fini(&out);
    filter_free(f);
    /* The length limit counts unescaped bytes, at and over the limit. */
    struct filter_limits lim;
    filter_limits_default(&lim);
    const char *reason = NULL;
    char json[600];
    snprintf(json, sizeof(json), "{\"search\":\"%0256d\"}", 0);
    CHECK_OK(filter_parse(json, strlen(json), &lim, &f, &reason));
    filter_free(f);
    snprintf(json, sizeof(json), "{\"search\":\"%0257d\"}", 0);
    CHECK_INT_EQ(filter_parse(json, strlen(json), &lim, &f, &reason), OST_EINVAL);
    CHECK_STR_EQ(reason, "invalid: search query too long (over the relay's limit)");
    lim.is_search_enabled = false;
    CHECK_INT_EQ(filter_parse("{\"search\":\"x\"}", 14, &lim, &f, &reason), OST_EINVAL);
    CHECK_STR_EQ(reason, "unsupported: search is disabled on this relay");
}

static void test_live_match(void)
{
    static const struct {
        const char *search;
        const char *content;
        bool is_match;
    } cases[] = {
        { "nostr", "I love Nostr!", true },
        { "NOSTR relay", "a relay for nostr", true },
        { "nostr relay", "nostr only", false },
        { "nos", "nostr", false },
        { "nostr", "nostrich", false },
        { "nostr", "#nostr_apps", true },
        { "hello", "say \\\"hello\\\"\\nworld", true },
        { "world", "say hello\\u000aworld", true },
        { "caf\\u00e9", "un caf\\u00e9 noir", true },
        { "caf\\u00e9", "un café noir", true },
        { "include:spam", "anything", true },
        { "lang:en orange", "ORANGE", true },
        { "x*", "x", true },
        { "\\\"a b\\\"", "b then a", true },
        { "NEAR", "near", true },
        { "kind", "", false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char json[200];
        struct tev t;
        snprintf(json, sizeof(json), "{\"search\":\"%s\"}", cases[i].search);
        struct filter *f = parse(json);
        CHECK(f != NULL);
        CHECK(tev_make(&t, 1, PK_A, 1, T, "[]", cases[i].content));
        if (filter_matches(f, &t.ev) != cases[i].is_match) {
            fprintf(stderr, "  case %zu: %s in %s\n", i, cases[i].search, cases[i].content);
        }
        CHECK(filter_matches(f, &t.ev) == cases[i].is_match);
        buf_fini(&t.b);
        filter_free(f);
    }
}

CHECK_MAIN({ "terms", test_terms }, { "live_match", test_live_match })
