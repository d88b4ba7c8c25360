/* Tests for filters/filter: parsing, every rejection reason, limits on both
 * sides, NIP-01 matching, canonical JSON, and a differential test against a
 * naive matcher written here. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <stdarg.h>

#include "check.h"
#include "common/buf.h"
#include "common/hex.h"
#include "common/json.h"
#include "filters/filter.h"
#include "validate/event.h"

/* The exact reason texts the tests expect (written out, not taken from
 * the module, so a changed text fails here). */
#define E_NOT_OBJECT   "invalid: a filter must be a JSON object"
#define E_SYNTAX       "invalid: malformed filter JSON"
#define E_TRAILING     "invalid: unexpected data after the filter object"
#define E_DUP          "invalid: duplicate field in filter"
#define E_UNKNOWN      "unsupported: unknown filter field"
#define E_SEARCH_OFF   "unsupported: search is disabled on this relay"
#define E_SEARCH       "invalid: \"search\" must be a string"
#define E_SEARCH_LONG  "invalid: search query too long (over the relay's limit)"
#define E_TAG_KEY      "unsupported: tag filters need exactly one letter a-z or A-Z after '#'"
#define E_IDS          "invalid: \"ids\" must be an array of 64-character lowercase hex strings"
#define E_AUTHORS      "invalid: \"authors\" must be an array of 64-character lowercase hex strings"
#define E_KINDS        "invalid: \"kinds\" must be an array of integers between 0 and 65535"
#define E_TAG_VALUES   "invalid: a tag filter (\"#x\") must be an array of strings"
#define E_SINCE        "invalid: \"since\" must be a non-negative integer"
#define E_UNTIL        "invalid: \"until\" must be a non-negative integer"
#define E_LIMIT        "invalid: \"limit\" must be a non-negative integer"
#define E_MANY_IDS     "invalid: too many ids in one filter (over the relay's limit)"
#define E_MANY_AUTHORS "invalid: too many authors in one filter (over the relay's limit)"
#define E_MANY_KINDS   "invalid: too many kinds in one filter (over the relay's limit)"
#define E_MANY_TAGS    "invalid: too many tag filters in one filter (over the relay's limit)"
#define E_MANY_VALUES  "invalid: too many values in one tag filter (over the relay's limit)"
#define E_VALUE_LONG   "invalid: tag filter value too long (over the relay's limit)"
#define E_NO_FILTERS   "invalid: REQ needs at least one filter"
#define E_MANY_FILTERS "invalid: too many filters in REQ (over the relay's limit)"

/* 64 lowercase hex characters for n, from a small ring of buffers. */
static const char *hx(unsigned n)
{
    static char ring[8][65];
    static unsigned next;
    char *b = ring[next++ % 8];
    snprintf(b, 65, "%064x", n);
    return b;
}

/* An event built from its parts; json must outlive ev. */
struct tev {
    struct buf json;
    struct event ev;
};

static bool tev_make(struct tev *t, unsigned id, unsigned pk, long long created_at, unsigned kind,
                     const char *tags)
{
    const char *reason = NULL;
    buf_init(&t->json);
    buf_printf(&t->json,
               "{\"id\":\"%s\",\"pubkey\":\"%s\",\"created_at\":%lld,\"kind\":%u,\"tags\":%s,"
               "\"content\":\"\",\"sig\":\"%0128d\"}",
               hx(id), hx(pk), created_at, kind, tags, 0);
    if (event_parse(t->json.data, t->json.len, NULL, &t->ev, &reason) < 0) {
        fprintf(stderr, "  event_parse: %s\n    %.*s\n", reason, (int)t->json.len, t->json.data);
        buf_fini(&t->json);
        return false;
    }
    return true;
}

/* Parses a filter formatted like printf, with the default limits. */
__attribute__((format(printf, 2, 3))) static int parse_fmt(struct filter **f, const char *fmt, ...)
{
    char text[8192];
    va_list ap;
    const char *reason = NULL;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    int rc = filter_parse(text, strlen(text), NULL, f, &reason);
    if (rc < 0) {
        fprintf(stderr, "  filter_parse(%s): %s\n", text, reason);
    }
    return rc;
}

/* 1 when the filter matches, 0 when not, -1 when it does not parse. */
static int matches(const char *filter_json, const struct event *ev)
{
    struct filter *f;
    const char *reason;
    if (filter_parse(filter_json, strlen(filter_json), NULL, &f, &reason) < 0) {
        fprintf(stderr, "  filter_parse(%s): %s\n", filter_json, reason);
        return -1;
    }
    int m = filter_matches(f, ev);
    filter_free(f);
    return m;
}

static void test_limits_default(void)
{
    struct filter_limits lim;
    filter_limits_default(&lim);
    CHECK_INT_EQ(lim.max_ids, 1000);
    CHECK_INT_EQ(lim.max_authors, 1000);
    CHECK_INT_EQ(lim.max_kinds, 100);
    CHECK_INT_EQ(lim.max_tag_fields, 10);
    CHECK_INT_EQ(lim.max_tag_values, 1000);
    CHECK_INT_EQ(lim.max_value_len, 1024);
    CHECK_INT_EQ(lim.max_limit, 5000);
    CHECK_INT_EQ(lim.default_limit, 500);
}

static void test_accept_every_field(void)
{
    struct filter *f;
    CHECK_OK(parse_fmt(&f,
                       " { \"ids\" : [\"%s\",\"%s\",\"%s\"], \"authors\":[\"%s\"],"
                       "\"kinds\":[7,1,7,0],\"#t\":[\"b\",\"a\",\"b\",\"\"],\"#E\":[\"x\"],"
                       "\"since\":10,\"until\":20,\"limit\":30 } ",
                       hx(2), hx(1), hx(2), hx(5)));
    const uint8_t(*ids)[32], (*authors)[32];
    const uint32_t *kinds;
    const struct filter_tag_cond *conds;
    int64_t t;
    size_t n = filter_ids(f, &ids);
    CHECK_INT_EQ(n, 2);
    CHECK_INT_EQ(ids[0][31], 1);
    CHECK_INT_EQ(ids[1][31], 2);
    CHECK_INT_EQ(filter_authors(f, &authors), 1);
    CHECK_INT_EQ(authors[0][31], 5);
    CHECK_INT_EQ(filter_kinds(f, &kinds), 3);
    CHECK(kinds[0] == 0 && kinds[1] == 1 && kinds[2] == 7);
    CHECK_INT_EQ(filter_tag_conds(f, &conds), 2);
    CHECK_INT_EQ(conds[0].letter, 'E'); /* ASCII order: uppercase first */
    CHECK_INT_EQ(conds[0].n_values, 1);
    CHECK_INT_EQ(conds[1].letter, 't');
    CHECK_INT_EQ(conds[1].n_values, 3);
    CHECK_INT_EQ(conds[1].value_lens[0], 0);
    CHECK(conds[1].value_lens[1] == 1 && conds[1].values[1][0] == 'a');
    CHECK(conds[1].value_lens[2] == 1 && conds[1].values[2][0] == 'b');
    CHECK(filter_since(f, &t) && t == 10);
    CHECK(filter_until(f, &t) && t == 20);
    CHECK(filter_has_limit(f));
    CHECK_INT_EQ(filter_limit(f), 30);
    CHECK(!filter_never_matches(f));
    filter_free(f);
}

static void test_limit_values(void)
{
    static const struct {
        const char *json;
        long long limit;
        bool has;
    } cases[] = {
        { "{}", 500, false },         /* the default */
        { "{\"limit\":0}", 0, true }, /* valid: no stored events */
        { "{\"limit\":1}", 1, true },
        { "{\"limit\":5000}", 5000, true },
        { "{\"limit\":5001}", 5000, true },
        { "{\"limit\":9223372036854775807}", 5000, true },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct filter *f;
        CHECK_OK(parse_fmt(&f, "%s", cases[i].json));
        uint32_t got = filter_limit(f);
        bool has = filter_has_limit(f);
        filter_free(f);
        CHECK_INT_EQ(has, cases[i].has);
        CHECK_INT_EQ(got, cases[i].limit);
    }
    /* A default above the maximum is clamped too. */
    struct filter_limits lim;
    struct filter *f;
    const char *reason;
    filter_limits_default(&lim);
    lim.default_limit = 9000;
    CHECK_OK(filter_parse("{}", 2, &lim, &f, &reason));
    uint32_t got = filter_limit(f);
    filter_free(f);
    CHECK_INT_EQ(got, 5000);
}

/* Builds {"<key>":[v0,...,v(n-1)]} (or n tag keys when key is NULL) and
 * parses it with the default limits. */
static int parse_many(const char *key, unsigned n, const char **reason)
{
    struct buf b;
    struct filter *f = NULL;
    buf_init(&b);
    buf_append_char(&b, '{');
    if (key != NULL) {
        buf_printf(&b, "\"%s\":[", key);
    }
    for (unsigned i = 0; i < n; i++) {
        const char *sep = i ? "," : "";
        if (key == NULL) {
            buf_printf(&b, "%s\"#%c\":[\"v\"]", sep, 'a' + i);
        } else if (strcmp(key, "kinds") == 0) {
            buf_printf(&b, "%s%u", sep, i);
        } else if (key[0] == '#') {
            buf_printf(&b, "%s\"v%u\"", sep, i);
        } else {
            buf_printf(&b, "%s\"%s\"", sep, hx(i));
        }
    }
    buf_append_str(&b, key != NULL ? "]}" : "}");
    int rc = filter_parse(b.data, b.len, NULL, &f, reason);
    filter_free(f);
    buf_fini(&b);
    return rc;
}

static void test_counts_at_default_limits(void)
{
    static const struct {
        const char *key;
        unsigned max;
        const char *reason;
    } cases[] = {
        { "ids", 1000, E_MANY_IDS },    { "authors", 1000, E_MANY_AUTHORS },
        { "kinds", 100, E_MANY_KINDS }, { "#e", 1000, E_MANY_VALUES },
        { NULL, 10, E_MANY_TAGS },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *reason = NULL;
        CHECK_OK(parse_many(cases[i].key, cases[i].max, &reason));
        CHECK_INT_EQ(parse_many(cases[i].key, cases[i].max + 1, &reason), OST_EINVAL);
        CHECK_STR_EQ(reason, cases[i].reason);
    }
    /* max_value_len counts unescaped bytes: 512 x "\u00e9" is 1024 bytes. */
    struct buf b;
    struct filter *f;
    const char *reason = NULL;
    buf_init(&b);
    buf_append_str(&b, "{\"#t\":[\"");
    for (int i = 0; i < 512; i++) {
        buf_append_str(&b, "\\u00e9");
    }
    buf_append_str(&b, "\"]}");
    int at = filter_parse(b.data, b.len, NULL, &f, &reason);
    if (at == 0) {
        filter_free(f);
    }
    buf_reset(&b);
    buf_printf(&b, "{\"#t\":[\"x%01024d\"]}", 0);
    int over = filter_parse(b.data, b.len, NULL, &f, &reason);
    buf_fini(&b);
    CHECK_OK(at);
    CHECK_INT_EQ(over, OST_EINVAL);
    CHECK_STR_EQ(reason, E_VALUE_LONG);
}

#define H1 "0000000000000000000000000000000000000000000000000000000000000001"
#define H2 "0000000000000000000000000000000000000000000000000000000000000002"
#define H3 "0000000000000000000000000000000000000000000000000000000000000003"

/* Rejections under small limits: 2 of everything, values of 3 bytes,
 * search queries of 5 bytes, at most 2 filters per REQ. is_set selects
 * filter_set_parse; a NULL reason means the input is accepted (each limit
 * is tested at and over it). An entry whose json starts with "off:" is the
 * rest parsed with search disabled. */
static const struct bad_case {
    bool is_set;
    const char *json;
    const char *reason;
} bad_cases[] = {
    { false, "[]", E_NOT_OBJECT },
    { false, "", E_NOT_OBJECT },
    { false, "\"ids\"", E_NOT_OBJECT },
    { false, "{\"kinds\":[1] \"since\":1}", E_SYNTAX },
    { false, "{\"kinds\":[1],}", E_SYNTAX },
    { false, "{\"kinds\"}", E_SYNTAX },
    { false, "{\"kinds\":[1]", E_SYNTAX },
    { false, "{1:2}", E_SYNTAX },
    { false, "{} x", E_TRAILING },
    { false, "{}{}", E_TRAILING },
    { false, "{\"ids\":[],\"ids\":[]}", E_DUP },
    { false, "{\"#e\":[],\"#e\":[\"x\"]}", E_DUP },
    { false, "{\"since\":1,\"\\u0073ince\":2}", E_DUP },
    { false, "{\"foo\":1}", E_UNKNOWN },
    { false, "{\"Ids\":[]}", E_UNKNOWN },
    { false, "{\"ids_and_more_than_sixteen_bytes\":[]}", E_UNKNOWN },
    { false, "{\"search\":\"nostr\"}", NULL },
    { false, "off:{\"search\":\"nostr\"}", E_SEARCH_OFF },
    { false, "{\"search\":1}", E_SEARCH },
    { false, "{\"search\":[\"nostr\"]}", E_SEARCH },
    { false, "{\"search\":null}", E_SEARCH },
    { false, "{\"search\":\"\"}", NULL },
    { false, "{\"search\":\"nostrs\"}", E_SEARCH_LONG },
    { false, "{\"search\":\"\\u00e9\\u00e9\\u00e9\"}", E_SEARCH_LONG }, /* 6 bytes unescaped */
    { false, "{\"search\":\"\\u00e9\\u00e9a\"}", NULL },
    { false, "{\"search\":\"a\",\"search\":\"b\"}", E_DUP },
    { false, "{\"#\":[\"a\"]}", E_TAG_KEY },
    { false, "{\"#ab\":[\"a\"]}", E_TAG_KEY },
    { false, "{\"#1\":[\"a\"]}", E_TAG_KEY },
    { false, "{\"#_\":[\"a\"]}", E_TAG_KEY },
    { false, "{\"#\\u00e9\":[\"a\"]}", E_TAG_KEY },
    { false, "{\"ids\":[\"000000000000000000000000000000000000000000000000000000000000000A\"]}",
      E_IDS },
    { false, "{\"ids\":[\"00000000000000000000000000000000000000000000000000000000000001\"]}",
      E_IDS },
    { false, "{\"ids\":[\"" H1 "0\"]}", E_IDS },
    { false, "{\"ids\":[\"abcd\"]}", E_IDS },
    { false, "{\"ids\":[1]}", E_IDS },
    { false, "{\"ids\":\"" H1 "\"}", E_IDS },
    { false, "{\"ids\":[\"" H1 "\",]}", E_IDS },
    { false, "{\"ids\":[\"" H1 "\"}", E_IDS },
    { false, "{\"ids\":[\"\\u0030" H1 "\"]}", E_IDS },
    { false, "{\"authors\":[\"" H1 "\",null]}", E_AUTHORS },
    { false, "{\"kinds\":[65536]}", E_KINDS },
    { false, "{\"kinds\":[-1]}", E_KINDS },
    { false, "{\"kinds\":[1.5]}", E_KINDS },
    { false, "{\"kinds\":[1e2]}", E_KINDS },
    { false, "{\"kinds\":[\"1\"]}", E_KINDS },
    { false, "{\"kinds\":[99999999999999999999]}", E_KINDS },
    { false, "{\"kinds\":1}", E_KINDS },
    { false, "{\"#e\":\"x\"}", E_TAG_VALUES },
    { false, "{\"#e\":[1]}", E_TAG_VALUES },
    { false, "{\"#e\":[[\"x\"]]}", E_TAG_VALUES },
    { false, "{\"#e\":[\"x\" \"y\"]}", E_TAG_VALUES },
    { false, "{\"#e\":[\"\\ud800\"]}", "invalid: unpaired surrogate in JSON string \\u escape" },
    { false, "{\"since\":-1}", E_SINCE },
    { false, "{\"since\":1.5}", E_SINCE },
    { false, "{\"since\":\"1\"}", E_SINCE },
    { false, "{\"since\":null}", E_SINCE },
    { false, "{\"since\":9223372036854775808}", E_SINCE },
    { false, "{\"until\":-1}", E_UNTIL },
    { false, "{\"until\":[1]}", E_UNTIL },
    { false, "{\"limit\":-1}", E_LIMIT },
    { false, "{\"limit\":10.0}", E_LIMIT },
    { false, "{\"limit\":11}", NULL }, /* over max_limit: clamped, not refused */
    { false, "{\"ids\":[\"" H1 "\",\"" H2 "\"]}", NULL },
    { false, "{\"ids\":[\"" H1 "\",\"" H2 "\",\"" H3 "\"]}", E_MANY_IDS },
    { false, "{\"authors\":[\"" H1 "\",\"" H1 "\"]}", NULL },
    { false, "{\"authors\":[\"" H1 "\",\"" H1 "\",\"" H1 "\"]}", E_MANY_AUTHORS },
    { false, "{\"kinds\":[1,2]}", NULL },
    { false, "{\"kinds\":[1,2,3]}", E_MANY_KINDS },
    { false, "{\"#a\":[],\"#b\":[]}", NULL },
    { false, "{\"#a\":[],\"#b\":[],\"#c\":[]}", E_MANY_TAGS },
    { false, "{\"#a\":[\"1\",\"2\"]}", NULL },
    { false, "{\"#a\":[\"1\",\"2\",\"3\"]}", E_MANY_VALUES },
    { false, "{\"#a\":[\"123\"]}", NULL },
    { false, "{\"#a\":[\"1234\"]}", E_VALUE_LONG },
    { true, "", E_NO_FILTERS },
    { true, " \n\t", E_NO_FILTERS },
    { true, "{},{}", NULL },
    { true, "{},{},{}", E_MANY_FILTERS },
    { true, "{} {}", E_SYNTAX },
    { true, "{},", E_NOT_OBJECT },
    { true, "{},{\"kinds\":[-1]}", E_KINDS },
};

static const struct filter_limits small = {
    .max_ids = 2,
    .max_authors = 2,
    .max_kinds = 2,
    .max_tag_fields = 2,
    .max_tag_values = 2,
    .max_value_len = 3,
    .max_limit = 10,
    .default_limit = 5,
    .max_search_len = 5,
    .is_search_enabled = true,
};

static const struct filter_limits small_no_search = {
    .max_ids = 2,
    .max_authors = 2,
    .max_kinds = 2,
    .max_tag_fields = 2,
    .max_tag_values = 2,
    .max_value_len = 3,
    .max_limit = 10,
    .default_limit = 5,
    .max_search_len = 5,
    .is_search_enabled = false,
};

static void test_rejections(void)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        const char *reason = NULL;
        struct filter *f = NULL;
        struct filter_set *s = NULL;
        bool is_off = strncmp(c->json, "off:", 4) == 0;
        const struct filter_limits *lim = is_off ? &small_no_search : &small;
        const char *json = is_off ? c->json + 4 : c->json;
        int rc = c->is_set ? filter_set_parse(json, strlen(json), lim, 2, &s, &reason)
                           : filter_parse(json, strlen(json), lim, &f, &reason);
        filter_free(f);
        filter_set_free(s);
        bool as_expected = c->reason == NULL ? rc == 0 && (f != NULL || s != NULL)
                                             : rc == OST_EINVAL && f == NULL && s == NULL &&
                                                   reason != NULL && strcmp(reason, c->reason) == 0;
        if (!as_expected) {
            fprintf(stderr, "  case %zu: %s\n    got %s\n", i, c->json,
                    rc == 0 ? "accepted" : reason);
        }
        CHECK(as_expected); /* out is written only on success */
    }
}

static void test_every_reason_reached(void)
{
    for (size_t r = 0; filter_reasons[r] != NULL; r++) {
        bool seen = false;
        for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
            seen |= bad_cases[i].reason && strcmp(bad_cases[i].reason, filter_reasons[r]) == 0;
        }
        if (!seen) {
            fprintf(stderr, "  never produced: %s\n", filter_reasons[r]);
        }
        CHECK(seen);
    }
}

#define Z62 "00000000000000000000000000000000000000000000000000000000000000"

/* The events the matching table runs against. */
static const struct {
    unsigned id, pk;
    long long created_at;
    unsigned kind;
    const char *tags;
} events[] = {
    { 1, 10, 100, 1, "[]" },
    { 2, 11, 200, 2, "[[\"t\",\"y\"],[\"p\",\"q\"]]" },
    { 3, 12, 99, 0,
      "[[\"e\",\"v1\",\"v2\"],[\"x\",\"e\"],[\"t\"],[\"ee\",\"w\"],[\"E\",\"v3\"],"
      "[\"\\u0070\",\"a\\\"b\"],[\"q\",\"\\u00e9t\\u00e9\"]]" },
    { 4, 10, 201, 65535, "[[\"t\",\"y\"],[\"p\",\"r\"]]" },
    { 5, 11, 150, 65534, "[[\"t\",\"x\"],[\"p\",\"q\"]]" },
};
#define N_EV (sizeof(events) / sizeof(events[0]))

/* Bit i of want: events[i] matches. never: filter_never_matches. */
static const struct {
    const char *filter;
    unsigned want;
    bool never;
} match_cases[] = {
    { "{}", 0x1f, false },
    /* NIP-01: since <= created_at <= until, both inclusive. */
    { "{\"since\":100,\"until\":200}", 0x13, false },
    { "{\"since\":100}", 0x1b, false },
    { "{\"until\":200}", 0x17, false },
    { "{\"since\":201}", 0x08, false },
    { "{\"until\":99}", 0x04, false },
    { "{\"since\":150,\"until\":150}", 0x10, false },
    { "{\"since\":151,\"until\":150}", 0, true },
    /* OR within a field, AND across fields; kinds 0 and 65535. */
    { "{\"kinds\":[65535,0]}", 0x0c, false },
    { "{\"kinds\":[65534]}", 0x10, false },
    { "{\"authors\":[\"" Z62 "0a\",\"" Z62 "0b\"]}", 0x1b, false },
    { "{\"authors\":[\"" Z62 "0a\",\"" Z62 "0b\"],\"kinds\":[1,2]}", 0x03, false },
    { "{\"ids\":[\"" Z62 "01\",\"" Z62 "03\"]}", 0x05, false },
    { "{\"ids\":[\"" Z62 "01\"],\"kinds\":[2]}", 0, false },
    { "{\"#t\":[\"x\",\"y\"]}", 0x1a, false },
    { "{\"#t\":[\"x\",\"y\"],\"#p\":[\"q\"]}", 0x12, false },
    { "{\"kinds\":[2],\"#t\":[\"y\"],\"#p\":[\"q\"]}", 0x02, false },
    /* Tag values count in second position only; names are exact. */
    { "{\"#e\":[\"v1\"]}", 0x04, false },
    { "{\"#e\":[\"v2\"]}", 0, false },
    { "{\"#e\":[\"e\"]}", 0, false },
    { "{\"#x\":[\"e\"]}", 0x04, false },
    { "{\"#t\":[\"\"]}", 0, false },
    { "{\"#e\":[\"w\"]}", 0, false },
    { "{\"#E\":[\"v3\"]}", 0x04, false },
    { "{\"#e\":[\"v3\"]}", 0, false },
    /* Values compare unescaped, whichever side escapes them. */
    { "{\"#p\":[\"a\\\"b\"]}", 0x04, false },
    { "{\"#p\":[\"\\u0061\\\"b\"]}", 0x04, false },
    { "{\"#q\":[\"\xc3\xa9t\xc3\xa9\"]}", 0x04, false },
    { "{\"#q\":[\"\xc3\xa9t\"]}", 0, false },
    /* Duplicates change nothing. */
    { "{\"kinds\":[1,1,2,1],\"#t\":[\"y\",\"y\"]}", 0x02, false },
    /* A list written as [] matches nothing. */
    { "{\"ids\":[]}", 0, true },
    { "{\"authors\":[]}", 0, true },
    { "{\"kinds\":[]}", 0, true },
    { "{\"#t\":[]}", 0, true },
    { "{\"#t\":[\"y\"],\"#p\":[]}", 0, true },
};

static bool build_events(struct tev ev[N_EV])
{
    for (size_t i = 0; i < N_EV; i++) {
        if (!tev_make(&ev[i], events[i].id, events[i].pk, events[i].created_at, events[i].kind,
                      events[i].tags)) {
            while (i > 0) {
                buf_fini(&ev[--i].json);
            }
            return false;
        }
    }
    return true;
}

static void free_events(struct tev ev[N_EV])
{
    for (size_t i = 0; i < N_EV; i++) {
        buf_fini(&ev[i].json);
    }
}

static void test_matching_table(void)
{
    struct tev ev[N_EV];
    CHECK(build_events(ev));
    int bad = 0;
    for (size_t c = 0; c < sizeof(match_cases) / sizeof(match_cases[0]); c++) {
        struct filter *f;
        const char *reason = NULL, *j = match_cases[c].filter;
        if (filter_parse(j, strlen(j), NULL, &f, &reason) < 0) {
            fprintf(stderr, "  case %zu: %s: %s\n", c, j, reason);
            bad = 1;
            continue;
        }
        unsigned got = 0;
        for (size_t i = 0; i < N_EV; i++) {
            got |= (unsigned)filter_matches(f, &ev[i].ev) << i;
        }
        if (got != match_cases[c].want || filter_never_matches(f) != match_cases[c].never) {
            fprintf(stderr, "  case %zu: %s: matched 0x%02x, want 0x%02x; never %d\n", c, j, got,
                    match_cases[c].want, filter_never_matches(f));
            bad = 1;
        }
        filter_free(f);
    }
    free_events(ev);
    CHECK(!bad);
}

static void test_long_escaped_tag_value(void)
{
    /* Longer than the matcher's stack buffer: compared without unescaping
     * into memory. */
    struct buf tags, fj;
    struct tev t;
    buf_init(&tags);
    buf_init(&fj);
    buf_printf(&tags, "[[\"t\",\"\\u0061%0700d\"]]", 7);
    buf_printf(&fj, "{\"#t\":[\"a%0700d\"]}", 7);
    bool built = tev_make(&t, 1, 1, 5, 1, buf_cstr(&tags));
    int yes = built ? matches(buf_cstr(&fj), &t.ev) : -1;
    buf_reset(&fj);
    buf_printf(&fj, "{\"#t\":[\"a%0700d\"]}", 8);
    int no = built ? matches(buf_cstr(&fj), &t.ev) : -1;
    if (built) {
        buf_fini(&t.json);
    }
    buf_fini(&tags);
    buf_fini(&fj);
    CHECK_INT_EQ(yes, 1);
    CHECK_INT_EQ(no, 0);
}

static void test_tag_letter(void)
{
    static const struct {
        const char *json;
        char want;
    } cases[] = {
        { "\"e\"", 'e' }, { "\"Z\"", 'Z' },     { "\"\\u0065\"", 'e' }, { "\"ee\"", 0 },
        { "\"1\"", 0 },   { "\"\"", 0 },        { "\"\\n\"", 0 },       { "\"\\u00e9\"", 0 },
        { "\"[\"", 0 },   { "\"\\u005b\"", 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct json_str s;
        const char *next, *reason;
        const char *j = cases[i].json;
        CHECK_OK(json_scan_string(j, j + strlen(j), &s, NULL, &next, &reason));
        CHECK_INT_EQ(filter_tag_letter(&s), cases[i].want);
    }
}

/* Parses json, returns its canonical text (caller frees with buf_fini). */
static bool canonical(const char *json, struct buf *out)
{
    struct filter *f;
    const char *reason;
    buf_init(out);
    if (filter_parse(json, strlen(json), NULL, &f, &reason) < 0) {
        fprintf(stderr, "  filter_parse(%s): %s\n", json, reason);
        return false;
    }
    int rc = filter_to_json(f, out);
    filter_free(f);
    return rc == 0 && buf_cstr(out) != NULL;
}

static void test_round_trip(void)
{
    /* input -> its canonical text (sorted, de-duplicated), which must parse
     * back to itself */
    static const char *const cases[][2] = {
        { "{ }", "{}" },
        { "{\"limit\":0}", "{\"limit\":0}" },
        { "{\"ids\":[]}", "{\"ids\":[]}" },
        { "{\"limit\":7000,\"until\":9,\"since\":3,\"#z\":[\"b\",\"a\"],\"#A\":[\"q\\\"\\\\\\n"
          "\\u0001\"],\"kinds\":[5,1,5],\"authors\":[\"" H2 "\",\"" H1 "\",\"" H2
          "\"],\"ids\":[\"" H3 "\"]}",
          "{\"ids\":[\"" H3 "\"],\"authors\":[\"" H1 "\",\"" H2 "\"],\"kinds\":[1,5],"
          "\"#A\":[\"q\\\"\\\\\\n\\u0001\"],\"#z\":[\"a\",\"b\"],\"since\":3,\"until\":9,"
          "\"limit\":5000}" },
        /* Two spellings of U+1F600 are one value. */
        { "{\"#t\":[\"\\u00e9\",\"\xf0\x9f\x98\x80\",\"\\ud83d\\ude00\"]}",
          "{\"#t\":[\"\xc3\xa9\",\"\xf0\x9f\x98\x80\"]}" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct buf once, twice;
        bool ok1 = canonical(cases[i][0], &once);
        bool ok2 = ok1 && canonical(cases[i][1], &twice);
        bool same =
            ok2 && strcmp(once.data, cases[i][1]) == 0 && strcmp(twice.data, cases[i][1]) == 0;
        if (ok1 && !same) {
            fprintf(stderr, "  %s\n  -> %s\n  want %s\n", cases[i][0], once.data, cases[i][1]);
        }
        buf_fini(&once);
        if (ok2) {
            buf_fini(&twice);
        }
        CHECK(same);
    }
}

static void test_set_parse(void)
{
    struct filter_set *s;
    const char *reason = NULL;
    const char *j = " {\"kinds\":[1]} ,\n{\"kinds\":[2], \"limit\":3} ";
    CHECK_OK(filter_set_parse(j, strlen(j), NULL, 2, &s, &reason));
    const uint32_t *kinds;
    size_t n = filter_set_count(s);
    size_t nk = filter_kinds(filter_set_at(s, 1), &kinds);
    uint32_t k = kinds[0], lim = filter_limit(filter_set_at(s, 1));
    filter_set_free(s);
    CHECK_INT_EQ(n, 2);
    CHECK(nk == 1 && k == 2 && lim == 3);
    CHECK_INT_EQ(filter_set_parse("{}", 2, NULL, 0, &s, &reason), OST_EINVAL);
    CHECK_STR_EQ(reason, E_MANY_FILTERS);
    /* A set matches when any of its filters does. */
    struct tev ev[N_EV];
    j = "{\"kinds\":[2]},{\"#p\":[\"r\"]},{\"ids\":[]}";
    CHECK_OK(filter_set_parse(j, strlen(j), NULL, 3, &s, &reason));
    unsigned got = 0;
    if (build_events(ev)) {
        for (size_t i = 0; i < N_EV; i++) {
            got |= (unsigned)filter_set_matches(s, &ev[i].ev) << i;
        }
        free_events(ev);
    }
    filter_set_free(s);
    CHECK_INT_EQ(got, 0x0a);
    /* Growing past the first allocation of slots. */
    struct buf b;
    buf_init(&b);
    for (int i = 0; i < 20; i++) {
        buf_printf(&b, "%s{\"kinds\":[%d]}", i ? "," : "", i);
    }
    int rc = filter_set_parse(b.data, b.len, NULL, 20, &s, &reason);
    buf_fini(&b);
    CHECK_OK(rc);
    n = filter_set_count(s);
    nk = filter_kinds(filter_set_at(s, 19), &kinds);
    k = kinds[0];
    filter_set_free(s);
    CHECK(n == 20 && nk == 1 && k == 19);
}

static void test_nesting_refused(void)
{
    static const struct {
        bool is_set;
        const char *prefix;
        const char *reason;
    } cases[] = {
        { false, "{\"ids\":", E_IDS },       { false, "{\"kinds\":", E_KINDS },
        { false, "{\"#e\":", E_TAG_VALUES }, { false, "{\"x\":", E_UNKNOWN },
        { true, "{},", E_NOT_OBJECT },
    };
    size_t depth = 100000;
    char *text = malloc(16 + depth);
    CHECK(text != NULL);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t plen = strlen(cases[i].prefix);
        memcpy(text, cases[i].prefix, plen);
        memset(text + plen, '[', depth);
        const char *reason = NULL;
        struct filter *f;
        struct filter_set *s;
        int rc = cases[i].is_set ? filter_set_parse(text, plen + depth, NULL, 10, &s, &reason)
                                 : filter_parse(text, plen + depth, NULL, &f, &reason);
        if (rc != OST_EINVAL || strcmp(reason, cases[i].reason) != 0) {
            free(text);
        }
        CHECK_INT_EQ(rc, OST_EINVAL);
        CHECK_STR_EQ(reason, cases[i].reason);
    }
    free(text);
}

/* ---- Differential test against a naive matcher ---- */

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static unsigned pick(uint64_t *s, unsigned n)
{
    return (unsigned)(rnd(s) % n);
}

/* Small pools, so that random filters and events often meet. */
#define POOL 12
static const char *const list_keys[] = { "ids", "authors", "kinds" };
static const uint32_t kind_pool[] = { 0, 1, 3, 7, 30023, 65535 };
static const char *const tag_names[] = { "e", "p", "t", "E", "x", "ee" };
static const char tag_letters[] = "eptEx";
static const char *const tag_values[] = { "a", "b",   "a\"b", "\xc3\xa9t\xc3\xa9",
                                          "",  "abc", "ABC",  "x\\y" };

struct m_event {
    unsigned field[3]; /* id and pubkey (pool indexes), kind (kind_pool index) */
    long long created_at;
    unsigned n_tags, tag_name[6], tag_len[6], tag_val[6];
};

struct m_filter {
    bool has[3], has_since, has_until;
    unsigned n[3], v[3][4], n_conds, letter[3], n_vals[3], vals[3][3];
    long long since, until;
};

static bool naive_in(const unsigned *a, unsigned n, unsigned v)
{
    for (unsigned i = 0; i < n; i++) {
        if (a[i] == v) {
            return true;
        }
    }
    return false;
}

/* NIP-01, read literally: each present condition must hold. */
static bool naive_match(const struct m_filter *f, const struct m_event *e)
{
    for (int l = 0; l < 3; l++) {
        if (f->has[l] && !naive_in(f->v[l], f->n[l], e->field[l])) {
            return false;
        }
    }
    if ((f->has_since && e->created_at < f->since) || (f->has_until && e->created_at > f->until)) {
        return false;
    }
    for (unsigned c = 0; c < f->n_conds; c++) {
        char name[2] = { tag_letters[f->letter[c]], 0 };
        bool hit = false;
        for (unsigned t = 0; t < e->n_tags; t++) {
            hit |= strcmp(tag_names[e->tag_name[t]], name) == 0 && e->tag_len[t] >= 2 &&
                   naive_in(f->vals[c], f->n_vals[c], e->tag_val[t]);
        }
        if (!hit) {
            return false;
        }
    }
    return true;
}

/* Writes s as a JSON string, escaping letters as \u00XX at random. */
static void put_str(struct buf *b, const char *s, uint64_t *r)
{
    buf_append_char(b, '"');
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            buf_printf(b, "\\%c", *p);
        } else if (((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) && pick(r, 4) == 0) {
            buf_printf(b, "\\u%04x", (unsigned)*p);
        } else {
            buf_append_char(b, *p);
        }
    }
    buf_append_char(b, '"');
}

/* Writes list l's element v: a quoted hex id/pubkey, or a kind. */
static void put_elem(struct buf *b, const uint8_t pool[POOL][32], int l, unsigned v)
{
    char hex[64];
    if (l == 2) {
        buf_printf(b, "%u", (unsigned)kind_pool[v]);
        return;
    }
    hex_encode(pool[v], 32, hex);
    buf_printf(b, "\"%.64s\"", hex);
}

static void gen_event(uint64_t *r, const uint8_t pool[POOL][32], struct m_event *e, struct buf *b)
{
    e->field[0] = pick(r, POOL);
    e->field[1] = pick(r, POOL);
    e->field[2] = pick(r, 6);
    e->created_at = 1000 + pick(r, 40);
    e->n_tags = pick(r, 7);
    buf_reset(b);
    for (int l = 0; l < 3; l++) {
        buf_printf(b, "%s\"%s\":", l ? "," : "{", l == 0 ? "id" : l == 1 ? "pubkey" : "kind");
        put_elem(b, pool, l, e->field[l]);
    }
    buf_printf(b, ",\"created_at\":%lld,\"tags\":[", e->created_at);
    for (unsigned t = 0; t < e->n_tags; t++) {
        e->tag_name[t] = pick(r, 6);
        e->tag_len[t] = 1 + pick(r, 3);
        e->tag_val[t] = pick(r, 8);
        buf_append_str(b, t ? ",[" : "[");
        put_str(b, tag_names[e->tag_name[t]], r);
        for (unsigned k = 1; k < e->tag_len[t]; k++) {
            buf_append_char(b, ',');
            put_str(b, tag_values[k == 1 ? e->tag_val[t] : pick(r, 8)], r);
        }
        buf_append_char(b, ']');
    }
    buf_printf(b, "],\"content\":\"\",\"sig\":\"%0128d\"}", 0);
}

static void gen_filter(uint64_t *r, const uint8_t pool[POOL][32], struct m_filter *f, struct buf *b)
{
    const char *sep = "";
    memset(f, 0, sizeof(*f));
    buf_reset(b);
    buf_append_char(b, '{');
    for (int l = 0; l < 3; l++) {
        if (!(f->has[l] = pick(r, 3) == 0)) {
            continue;
        }
        f->n[l] = pick(r, 20) == 0 ? 0 : 1 + pick(r, 4); /* now and then [] */
        buf_printf(b, "%s\"%s\":[", sep, list_keys[l]);
        for (unsigned i = 0; i < f->n[l]; i++) {
            f->v[l][i] = pick(r, l == 2 ? 6 : POOL);
            buf_append_str(b, i ? "," : "");
            put_elem(b, pool, l, f->v[l][i]);
        }
        buf_append_char(b, ']');
        sep = ",";
    }
    unsigned first = pick(r, 5);
    f->n_conds = pick(r, 3);
    for (unsigned c = 0; c < f->n_conds; c++) {
        f->letter[c] = (first + c) % 5; /* distinct letters */
        f->n_vals[c] = 1 + pick(r, 3);
        buf_printf(b, "%s\"#%c\":[", sep, tag_letters[f->letter[c]]);
        for (unsigned i = 0; i < f->n_vals[c]; i++) {
            f->vals[c][i] = pick(r, 8);
            buf_append_str(b, i ? "," : "");
            put_str(b, tag_values[f->vals[c][i]], r);
        }
        buf_append_char(b, ']');
        sep = ",";
    }
    if ((f->has_since = pick(r, 4) == 0)) {
        f->since = 1000 + pick(r, 40);
        buf_printf(b, "%s\"since\":%lld", sep, f->since);
        sep = ",";
    }
    if ((f->has_until = pick(r, 4) == 0)) {
        f->until = 1000 + pick(r, 40);
        buf_printf(b, "%s\"until\":%lld", sep, f->until);
    }
    buf_append_char(b, '}');
}

#define N_FILTERS 200
#define N_EVENTS  10000

static void test_differential(void)
{
    uint64_t seed = 0x05171c4f117e5ULL, r;
    const char *env = getenv("OSTRICH_TEST_SEED");
    if (env != NULL) {
        seed = strtoull(env, NULL, 0);
    }
    r = seed;
    uint8_t pool[POOL][32];
    for (int i = 0; i < POOL; i++) {
        for (int j = 0; j < 32; j++) {
            pool[i][j] = (uint8_t)rnd(&r);
        }
    }
    static struct m_filter models[N_FILTERS];
    struct filter *filters[N_FILTERS] = { NULL };
    struct buf fj, ej;
    buf_init(&fj);
    buf_init(&ej);
    const char *reason = "";
    int failed = 0;
    long long n_matched = 0;
    for (int i = 0; i < N_FILTERS && !failed; i++) {
        gen_filter(&r, pool, &models[i], &fj);
        failed = filter_parse(fj.data, fj.len, NULL, &filters[i], &reason) < 0;
    }
    for (int e = 0; e < N_EVENTS && !failed; e++) {
        struct m_event me;
        struct event ev;
        gen_event(&r, pool, &me, &ej);
        failed = event_parse(ej.data, ej.len, NULL, &ev, &reason) < 0;
        for (int i = 0; i < N_FILTERS && !failed; i++) {
            bool want = naive_match(&models[i], &me), got = filter_matches(filters[i], &ev);
            n_matched += got;
            if (got != want) {
                buf_reset(&fj);
                filter_to_json(filters[i], &fj);
                fprintf(stderr, "  event %d filter %d: got %d want %d\n    %.*s\n    %.*s\n", e, i,
                        got, want, (int)ej.len, ej.data, (int)fj.len, fj.data);
                failed = 1;
            }
        }
    }
    if (failed) {
        fprintf(stderr, "  seed 0x%" PRIx64 " (set OSTRICH_TEST_SEED to replay): %s\n", seed,
                reason);
    }
    for (int i = 0; i < N_FILTERS; i++) {
        filter_free(filters[i]);
    }
    buf_fini(&fj);
    buf_fini(&ej);
    CHECK(!failed);
    /* The generator must make matches neither rare nor universal. */
    CHECK(n_matched > (long long)N_EVENTS * N_FILTERS / 50);
    CHECK(n_matched < (long long)N_EVENTS * N_FILTERS / 2);
}

CHECK_MAIN({ "limits_default", test_limits_default },
           { "accept_every_field", test_accept_every_field }, { "limit_values", test_limit_values },
           { "counts_at_default_limits", test_counts_at_default_limits },
           { "rejections", test_rejections }, { "every_reason_reached", test_every_reason_reached },
           { "matching_table", test_matching_table },
           { "long_escaped_tag_value", test_long_escaped_tag_value },
           { "tag_letter", test_tag_letter }, { "round_trip", test_round_trip },
           { "set_parse", test_set_parse }, { "nesting_refused", test_nesting_refused },
           { "differential", test_differential })
