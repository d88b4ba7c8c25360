/* Tests for store/store_os_dsl: every query field alone and combined, the
 * request bodies, the index bodies, the _bulk lines of events and
 * tombstones, document ids and versions. Built JSON is compared as parsed
 * JSON (common/jdoc), never as text; expected JSON is written with ' for "
 * so it reads without escapes. A differential pass checks the documents of
 * generated signed events against a reference read of their tags. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "check.h"
#include "common/buf.h"
#include "common/hex.h"
#include "common/jdoc.h"
#include "common/json.h"
#include "evgen.h"
#include "filters/filter.h"
#include "store/store.h"
#include "store/store_os_dsl.h"
#include "validate/event.h"

#define NOW   1700000000
#define NOW_S "1700000000"
#define Z56   "00000000000000000000000000000000000000000000000000000000"
#define ID1   Z56 "00000001"
#define ID2   Z56 "00000002"
#define ID3   "ffffffff" Z56
#define PK_A  "abababababababababababababababababababababababababababababababab"
#define PK_B  "0101010101010101010101010101010101010101010101010101010101010101"
#define SIG0  Z56 Z56 "0000000000000000"

#define MUST_NOT "'must_not':[{'range':{'expiration':{'lte':" NOW_S "}}}]"

/* JSON text with every ' turned into "; the caller frees it. */
static char *unquote(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    if (out != NULL) {
        for (size_t i = 0; i <= n; i++) {
            out[i] = s[i] == '\'' ? '"' : s[i];
        }
    }
    return out;
}

static void print_val(const char *label, const struct jdoc_val *v)
{
    struct buf b;
    buf_init(&b);
    if (jdoc_to_json(v, &b) == 0 && buf_cstr(&b) != NULL) {
        fprintf(stderr, "    %s: %s\n", label, b.data);
    }
    buf_fini(&b);
}

/* Cleared while a test expects mismatches. */
static bool is_diff_printed = true;

/* True when got[0..len) and want[0..want_len) are equal JSON values;
 * prints both otherwise. */
static bool json_eq_exact(const char *got, size_t len, const char *want, size_t want_len)
{
    struct jdoc *a = NULL, *b = NULL;
    bool is_eq = false;
    if (jdoc_parse(got, len, 0, &a) != 0) {
        fprintf(stderr, "    not JSON: %.*s\n", (int)len, got);
        goto out;
    }
    if (jdoc_parse(want, want_len, 0, &b) != 0) {
        fprintf(stderr, "    expected text is not JSON: %.*s\n", (int)want_len, want);
        goto out;
    }
    is_eq = jdoc_equal(jdoc_root(a), jdoc_root(b));
    if (!is_eq && is_diff_printed) {
        print_val("got ", jdoc_root(a));
        print_val("want", jdoc_root(b));
    }
out:
    jdoc_free(a);
    jdoc_free(b);
    return is_eq;
}

/* The same with want_q written with ' for ". */
static bool json_eq(const char *got, size_t len, const char *want_q)
{
    char *want = unquote(want_q);
    bool is_eq = want != NULL && json_eq_exact(got, len, want, strlen(want));
    free(want);
    return is_eq;
}

static struct filter *parse_filter(const char *json)
{
    struct filter_limits lim;
    struct filter *f = NULL;
    const char *reason = NULL;
    filter_limits_default(&lim);
    lim.is_search_enabled = true;
    if (filter_parse(json, strlen(json), &lim, &f, &reason) != 0) {
        fprintf(stderr, "    filter_parse(%s): %s\n", json, reason != NULL ? reason : "?");
        return NULL;
    }
    return f;
}

/* An event whose JSON lives in b. */
struct tev {
    struct buf b;
    struct event ev;
};

/* Parses an event with the given fields (tags and content as JSON text:
 * tags an array, content the text between the quotes). */
static bool tev_make(struct tev *t, const char *id, const char *pubkey, uint32_t kind,
                     long long created_at, const char *tags, const char *content)
{
    const char *reason = NULL;
    buf_init(&t->b);
    buf_printf(&t->b,
               "{\"id\":\"%s\",\"pubkey\":\"%s\",\"created_at\":%lld,\"kind\":%u,\"tags\":%s,"
               "\"content\":\"%s\",\"sig\":\"" SIG0 "\"}",
               id, pubkey, created_at, kind, tags, content);
    if (buf_cstr(&t->b) == NULL || event_parse(t->b.data, t->b.len, NULL, &t->ev, &reason) < 0) {
        fprintf(stderr, "    event_parse(%s): %s\n", t->b.data ? t->b.data : "",
                reason != NULL ? reason : "out of memory");
        buf_fini(&t->b);
        return false;
    }
    return true;
}

static void tev_fini(struct tev *t)
{
    buf_fini(&t->b);
}

/* The lines of an NDJSON body: each must end with '\n' and hold one JSON
 * value. Returns how many (at most max), or -1 when the framing is wrong. */
struct line {
    const char *p;
    size_t len;
};

static int split_lines(const struct buf *b, struct line *lines, int max)
{
    int n = 0;
    size_t start = 0;
    if (b->len == 0 || b->data[b->len - 1] != '\n') {
        fprintf(stderr, "    the body does not end with a newline\n");
        return -1;
    }
    for (size_t i = 0; i < b->len; i++) {
        if (b->data[i] != '\n') {
            continue;
        }
        struct jdoc *d = NULL;
        if (n == max || i == start || jdoc_parse(b->data + start, i - start, 0, &d) != 0) {
            fprintf(stderr, "    line %d is not one JSON value: %.*s\n", n, (int)(i - start),
                    b->data + start);
            return -1;
        }
        jdoc_free(d);
        lines[n++] = (struct line){ b->data + start, i - start };
        start = i + 1;
    }
    return n;
}

/* The expected address id: "a:" + hex SHA-256 of text, computed here with
 * OpenSSL's one-shot call. */
static void want_addr_id(const char *text, size_t len, char out[STORE_OS_DOC_ID_CAP])
{
    uint8_t h[32];
    SHA256((const unsigned char *)text, len, h);
    memcpy(out, "a:", 2);
    hex_encode(h, 32, out + 2);
    out[66] = '\0';
}

static void hex32(const char *hex, uint8_t out[32])
{
    if (hex_decode_lower(hex, 32, out) != 0) {
        memset(out, 0, 32);
    }
}

/* The comparison itself: equal values in any key order, unequal ones
 * told apart (so no check below passes vacuously). */
static void test_json_eq_sanity(void)
{
    static const char got[] = "{\"b\":[1,\"x\"],\"a\":{\"c\":true}}";
    CHECK(json_eq(got, strlen(got), "{'a':{'c':true},'b':[1,'\\u0078']}"));
    is_diff_printed = false;
    bool is_order_seen = !json_eq(got, strlen(got), "{'a':{'c':true},'b':['x',1]}");
    bool is_extra_seen = !json_eq(got, strlen(got), "{'a':{'c':true},'b':[1,'x'],'d':1}");
    is_diff_printed = true;
    CHECK(is_order_seen);
    CHECK(is_extra_seen);
}

/* Queries */

struct query_case {
    const char *filter;
    const char *want;
};

static bool run_query_cases(const struct query_case *cases, size_t n)
{
    struct buf b;
    buf_init(&b);
    bool is_ok = true;
    for (size_t i = 0; i < n && is_ok; i++) {
        struct filter *f = parse_filter(cases[i].filter);
        buf_reset(&b);
        is_ok = f != NULL && store_os_dsl_filter_query(f, NOW, &b) == 0 &&
                json_eq(b.data, b.len, cases[i].want);
        if (!is_ok) {
            fprintf(stderr, "    filter %s\n", cases[i].filter);
        }
        filter_free(f);
    }
    buf_fini(&b);
    return is_ok;
}

static void test_query_fields_alone(void)
{
    static const struct query_case cases[] = {
        { "{}", "{'bool':{" MUST_NOT "}}" },
        { "{\"ids\":[\"" ID2 "\",\"" ID1 "\"]}",
          "{'bool':{'filter':[{'terms':{'id':['" ID1 "','" ID2 "']}}]," MUST_NOT "}}" },
        { "{\"authors\":[\"" PK_A "\"]}",
          "{'bool':{'filter':[{'terms':{'pubkey':['" PK_A "']}}]," MUST_NOT "}}" },
        { "{\"kinds\":[30023,1,0]}",
          "{'bool':{'filter':[{'terms':{'kind':[0,1,30023]}}]," MUST_NOT "}}" },
        { "{\"since\":100}",
          "{'bool':{'filter':[{'range':{'created_at':{'gte':100}}}]," MUST_NOT "}}" },
        { "{\"until\":200}",
          "{'bool':{'filter':[{'range':{'created_at':{'lte':200}}}]," MUST_NOT "}}" },
        { "{\"since\":100,\"until\":200}",
          "{'bool':{'filter':[{'range':{'created_at':{'gte':100,'lte':200}}}]," MUST_NOT "}}" },
        { "{\"since\":150,\"until\":150}",
          "{'bool':{'filter':[{'range':{'created_at':{'gte':150,'lte':150}}}]," MUST_NOT "}}" },
        { "{\"#e\":[\"x\",\"y\"]}",
          "{'bool':{'filter':[{'terms':{'tags':['e:x','e:y']}}]," MUST_NOT "}}" },
        { "{\"search\":\"hello\"}",
          "{'bool':{'must':[{'match':{'content':{'query':'hello','operator':'and'}}}]," MUST_NOT
          "}}" },
        /* A limit is no condition of the query. */
        { "{\"limit\":5}", "{'bool':{" MUST_NOT "}}" },
    };
    CHECK(run_query_cases(cases, sizeof(cases) / sizeof(cases[0])));
}

static void test_query_combined(void)
{
    static const struct query_case cases[] = {
        { "{\"ids\":[\"" ID1 "\"],\"authors\":[\"" PK_A "\",\"" PK_B "\"],\"kinds\":[1,7],"
          "\"#p\":[\"" PK_A "\"],\"#e\":[\"" ID2 "\"],\"#T\":[\"Up\"],\"since\":10,"
          "\"until\":20,\"limit\":3,\"search\":\"Nostr relay\"}",
          "{'bool':{'filter':["
          "{'terms':{'id':['" ID1 "']}},"
          "{'terms':{'pubkey':['" PK_B "','" PK_A "']}},"
          "{'terms':{'kind':[1,7]}},"
          "{'range':{'created_at':{'gte':10,'lte':20}}},"
          "{'terms':{'tags':['T:Up']}},"
          "{'terms':{'tags':['e:" ID2 "']}},"
          "{'terms':{'tags':['p:" PK_A "']}}],"
          "'must':[{'match':{'content':{'query':'nostr relay','operator':'and'}}}]," MUST_NOT
          "}}" },
        { "{\"kinds\":[1],\"until\":5}",
          "{'bool':{'filter':[{'terms':{'kind':[1]}},{'range':{'created_at':{'lte':5}}}]," MUST_NOT
          "}}" },
    };
    CHECK(run_query_cases(cases, sizeof(cases) / sizeof(cases[0])));
}

/* Several letters: one terms query per letter, values unescaped by the
 * filter parser and escaped again here, so the parsed query holds the
 * exact bytes the filter asked for. */
static void test_query_tag_values(void)
{
    static const struct query_case cases[] = {
        { "{\"#a\":[\"30023:" PK_A ":x\"],\"#d\":[\"q\\\"uote\",\"back\\\\slash\"],"
          "\"#t\":[\"caf\\u00e9\",\"\\u2603\",\"nl\\n\",\"\\u0001\"],\"#Z\":[\"\"]}",
          "{'bool':{'filter':["
          "{'terms':{'tags':['Z:']}},"
          "{'terms':{'tags':['a:30023:" PK_A ":x']}},"
          "{'terms':{'tags':['d:back\\\\slash','d:q\\u0022uote']}},"
          "{'terms':{'tags':['t:\\u0001','t:caf\\u00e9','t:nl\\n','t:\\u2603']}}]," MUST_NOT "}}" },
    };
    CHECK(run_query_cases(cases, sizeof(cases) / sizeof(cases[0])));

    /* Non-ASCII is written as UTF-8, not escaped; controls are escaped. */
    struct buf b;
    buf_init(&b);
    struct filter *f = parse_filter("{\"#t\":[\"caf\\u00e9\",\"a\\u0001\"]}");
    bool is_ok = f != NULL && store_os_dsl_filter_query(f, NOW, &b) == 0 && buf_cstr(&b) != NULL &&
                 strstr(b.data, "\"t:caf\xc3\xa9\"") != NULL &&
                 strstr(b.data, "\"t:a\\u0001\"") != NULL;
    filter_free(f);
    buf_fini(&b);
    CHECK(is_ok);
}

/* NIP-50: the words of the query, lower case, sorted, de-duplicated, with
 * key:value extensions left out, matched with operator "and". */
static void test_query_search(void)
{
    static const struct query_case cases[] = {
        { "{\"search\":\"Zebra apple  APPLE lang:en caf\\u00e9\"}",
          "{'bool':{'must':[{'match':{'content':{'query':'apple caf\\u00e9 zebra',"
          "'operator':'and'}}}]," MUST_NOT "}}" },
        /* Only extensions: no words, no condition. */
        { "{\"search\":\"lang:en\"}", "{'bool':{" MUST_NOT "}}" },
        { "{\"kinds\":[1],\"search\":\"one\"}",
          "{'bool':{'filter':[{'terms':{'kind':[1]}}],"
          "'must':[{'match':{'content':{'query':'one','operator':'and'}}}]," MUST_NOT "}}" },
    };
    CHECK(run_query_cases(cases, sizeof(cases) / sizeof(cases[0])));
}

/* The NIP-40 condition follows now, and a filter that can match nothing is
 * match_none. */
static void test_query_now_and_never(void)
{
    struct buf b;
    buf_init(&b);
    struct filter *f = parse_filter("{}");
    struct filter *never = parse_filter("{\"kinds\":[]}");
    struct filter *inverted = parse_filter("{\"since\":10,\"until\":9}");
    bool is_ok = f != NULL && never != NULL && inverted != NULL;
    is_ok = is_ok && store_os_dsl_filter_query(f, 42, &b) == 0 &&
            json_eq(b.data, b.len, "{'bool':{'must_not':[{'range':{'expiration':{'lte':42}}}]}}");
    buf_reset(&b);
    is_ok = is_ok && store_os_dsl_filter_query(never, NOW, &b) == 0 &&
            json_eq(b.data, b.len, "{'match_none':{}}");
    buf_reset(&b);
    is_ok = is_ok && store_os_dsl_filter_query(inverted, NOW, &b) == 0 &&
            json_eq(b.data, b.len, "{'match_none':{}}");
    filter_free(f);
    filter_free(never);
    filter_free(inverted);
    buf_fini(&b);
    CHECK(is_ok);
}

/* The over-matching check: "#e" for X is the exact string "e:X", and only
 * an "e" tag with X second produces it in a document. */
static void test_tag_over_matching(void)
{
    struct buf b;
    struct tev t;
    buf_init(&b);
    struct filter *f = parse_filter("{\"#e\":[\"" ID3 "\"]}");
    bool is_ok = f != NULL && store_os_dsl_filter_query(f, NOW, &b) == 0 &&
                 json_eq(b.data, b.len,
                         "{'bool':{'filter':[{'terms':{'tags':['e:" ID3 "']}}]," MUST_NOT "}}");
    filter_free(f);
    buf_fini(&b);
    CHECK(is_ok);

    static const struct {
        const char *tags;
        bool has_e_x;
    } cases[] = {
        { "[[\"p\",\"" ID3 "\"]]", false },
        { "[[\"e\",\"" ID2 "\",\"" ID3 "\"]]", false },
        { "[[\"ee\",\"" ID3 "\"],[\"E\",\"" ID3 "\"]]", false },
        { "[[\"e\",\"" ID3 "\"]]", true },
        { "[[\"p\",\"" ID3 "\"],[\"e\",\"" ID2 "\",\"" ID3 "\"],[\"e\",\"" ID3 "\"]]", true },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(tev_make(&t, ID1, PK_A, 1, 1000, cases[i].tags, ""));
        buf_init(&b);
        struct line lines[2];
        struct jdoc *d = NULL;
        bool has = false;
        is_ok = store_os_dsl_bulk_event("ev", &t.ev, &b) == 0 && split_lines(&b, lines, 2) == 2 &&
                jdoc_parse(lines[1].p, lines[1].len, 0, &d) == 0;
        const struct jdoc_val *tags = jdoc_get(jdoc_root(d), "tags");
        for (size_t j = 0; j < jdoc_len(tags); j++) {
            const char *s = jdoc_str(jdoc_at(tags, j), NULL);
            has = has || (s != NULL && strcmp(s, "e:" ID3) == 0);
        }
        jdoc_free(d);
        buf_fini(&b);
        tev_fini(&t);
        if (!is_ok || has != cases[i].has_e_x) {
            fprintf(stderr, "    tags %s\n", cases[i].tags);
        }
        CHECK(is_ok);
        CHECK(has == cases[i].has_e_x);
    }
}

/* Bodies */

#define SORT      "[{'created_at':'desc'},{'id':'asc'}]"
#define Q_KIND1   "{'bool':{'filter':[{'terms':{'kind':[1]}}]," MUST_NOT "}}"
#define Q_AUTHORB "{'bool':{'filter':[{'terms':{'pubkey':['" PK_B "']}}]," MUST_NOT "}}"
#define Q_SEARCH                                                                            \
    "{'bool':{'filter':[{'terms':{'kind':[1]}}],'must':[{'match':{'content':{'query':'hi'," \
    "'operator':'and'}}}]," MUST_NOT "}}"

static void test_search_body(void)
{
    struct buf b;
    buf_init(&b);
    struct filter *plain = parse_filter("{\"kinds\":[1],\"limit\":10}");
    struct filter *search = parse_filter("{\"kinds\":[1],\"search\":\"hi\"}");
    static const char after[] = "[1700000000,\"" ID1 "\"]";
    static const char after_score[] = "[1.5,1700000000,\"" ID1 "\"]";
    bool is_ok = plain != NULL && search != NULL;
    is_ok = is_ok && store_os_dsl_search_body(plain, NOW, 10, NULL, 0, &b) == 0 &&
            json_eq(b.data, b.len,
                    "{'size':10,'query':" Q_KIND1 ",'sort':" SORT
                    ",'_source':['raw'],'track_total_hits':false}");
    buf_reset(&b);
    is_ok = is_ok && store_os_dsl_search_body(plain, NOW, 7, after, strlen(after), &b) == 0 &&
            json_eq(b.data, b.len,
                    "{'size':7,'query':" Q_KIND1 ",'sort':" SORT
                    ",'_source':['raw'],'track_total_hits':false,"
                    "'search_after':[1700000000,'" ID1 "']}");
    buf_reset(&b);
    is_ok = is_ok && store_os_dsl_search_body(search, NOW, 500, NULL, 0, &b) == 0 &&
            json_eq(b.data, b.len,
                    "{'size':500,'query':" Q_SEARCH
                    ",'sort':['_score',{'created_at':'desc'},{'id':'asc'}],"
                    "'_source':['raw'],'track_total_hits':false}");
    buf_reset(&b);
    is_ok = is_ok &&
            store_os_dsl_search_body(search, NOW, 2, after_score, strlen(after_score), &b) == 0 &&
            json_eq(b.data, b.len,
                    "{'size':2,'query':" Q_SEARCH
                    ",'sort':['_score',{'created_at':'desc'},{'id':'asc'}],"
                    "'_source':['raw'],'track_total_hits':false,"
                    "'search_after':[1.5,1700000000,'" ID1 "']}");
    filter_free(plain);
    filter_free(search);
    buf_fini(&b);
    CHECK(is_ok);
}

static void test_count_body(void)
{
    struct buf b;
    buf_init(&b);
    const struct filter *fs[3] = { parse_filter("{\"kinds\":[1]}"),
                                   parse_filter("{\"authors\":[\"" PK_B "\"]}"),
                                   parse_filter("{\"ids\":[]}") };
    bool is_ok = fs[0] != NULL && fs[1] != NULL && fs[2] != NULL;
    is_ok = is_ok && store_os_dsl_count_body(fs, 1, NOW, &b) == 0 &&
            json_eq(b.data, b.len,
                    "{'query':{'bool':{'should':[" Q_KIND1 "],'minimum_should_match':1}}}");
    buf_reset(&b);
    is_ok = is_ok && store_os_dsl_count_body(fs, 3, NOW, &b) == 0 &&
            json_eq(b.data, b.len,
                    "{'query':{'bool':{'should':[" Q_KIND1 "," Q_AUTHORB
                    ",{'match_none':{}}],'minimum_should_match':1}}}");
    buf_reset(&b);
    is_ok = is_ok && store_os_dsl_count_body(fs, 0, NOW, &b) == OST_EINVAL;
    for (size_t i = 0; i < 3; i++) {
        filter_free((struct filter *)fs[i]);
    }
    buf_fini(&b);
    CHECK(is_ok);
}

static void test_pubkeys_body(void)
{
    struct buf b;
    buf_init(&b);
    const struct filter *fs[2] = { parse_filter("{\"kinds\":[1]}"),
                                   parse_filter("{\"authors\":[\"" PK_B "\"]}") };
    static const char after[] = "{\"pubkey\":\"" PK_A "\"}";
#define AGG_HEAD \
    "'aggs':{'pubkeys':{'composite':{'sources':[{'pubkey':{'terms':{'field':'pubkey'}}}],"
    bool is_ok = fs[0] != NULL && fs[1] != NULL;
    is_ok = is_ok && store_os_dsl_pubkeys_body(fs, 2, NOW, 100, NULL, 0, &b) == 0 &&
            json_eq(b.data, b.len,
                    "{'size':0,'track_total_hits':false,'query':{'bool':{'should':[" Q_KIND1
                    "," Q_AUTHORB "],'minimum_should_match':1}}," AGG_HEAD "'size':100}}}}");
    buf_reset(&b);
    is_ok = is_ok && store_os_dsl_pubkeys_body(fs, 1, NOW, 5, after, strlen(after), &b) == 0 &&
            json_eq(b.data, b.len,
                    "{'size':0,'track_total_hits':false,'query':{'bool':{'should':[" Q_KIND1
                    "],'minimum_should_match':1}}," AGG_HEAD "'size':5,'after':{'pubkey':'" PK_A
                    "'}}}}}");
    buf_reset(&b);
    is_ok = is_ok && store_os_dsl_pubkeys_body(fs, 0, NOW, 5, NULL, 0, &b) == OST_EINVAL;
#undef AGG_HEAD
    filter_free((struct filter *)fs[0]);
    filter_free((struct filter *)fs[1]);
    buf_fini(&b);
    CHECK(is_ok);
}

/* Index bodies */

#define EVENTS_PROPS                                                              \
    "'properties':{'id':{'type':'keyword'},'pubkey':{'type':'keyword'},"          \
    "'kind':{'type':'integer'},'created_at':{'type':'long'},"                     \
    "'tags':{'type':'keyword','ignore_above':8000},'expiration':{'type':'long'}," \
    "'content':{'type':'text','analyzer':'ostrich_words'},"                       \
    "'raw':{'type':'object','enabled':false}}"
/* The translog setting and, for the events index, the NIP-50 analyzer. */
#define DURABLE "'translog':{'durability':'request'}"
#define ANALYSIS                                                               \
    DURABLE ",'analysis':{'tokenizer':{'ostrich_words':{'type':'pattern',"     \
            "'pattern':'[^\\\\p{L}\\\\p{N}]+'}},'analyzer':{'ostrich_words':{" \
            "'type':'custom','tokenizer':'ostrich_words','filter':['lowercase','asciifolding']}}}"

static void test_events_index_body(void)
{
    struct buf b;
    buf_init(&b);
    struct store_os_index_opts defaults = { 0, 0, NULL };
    struct store_os_index_opts set = { 3, 2, "30s" };
    bool is_ok = store_os_dsl_events_index(&defaults, &b) == 0 &&
                 json_eq(b.data, b.len,
                         "{'settings':{'number_of_shards':1,'number_of_replicas':0,"
                         "'refresh_interval':'1s'," ANALYSIS "},'mappings':{'dynamic':'strict',"
                         "'_meta':{'ostrich_schema':1}," EVENTS_PROPS "}}");
    buf_reset(&b);
    is_ok = is_ok && store_os_dsl_events_index(&set, &b) == 0 &&
            json_eq(b.data, b.len,
                    "{'settings':{'number_of_shards':3,'number_of_replicas':2,"
                    "'refresh_interval':'30s'," ANALYSIS "},'mappings':{'dynamic':'strict',"
                    "'_meta':{'ostrich_schema':1}," EVENTS_PROPS "}}");
    CHECK(is_ok);

    /* The same facts read one by one, against the header's constants. */
    struct jdoc *d = NULL;
    int64_t v = 0;
    bool flag = true;
    CHECK_OK(jdoc_parse(b.data, b.len, 0, &d));
    const struct jdoc_val *m = jdoc_get(jdoc_root(d), "mappings");
    const struct jdoc_val *props = jdoc_get(m, "properties");
    is_ok = jdoc_int(jdoc_get(jdoc_get(m, "_meta"), "ostrich_schema"), &v) &&
            v == STORE_OS_SCHEMA_VERSION &&
            jdoc_int(jdoc_get(jdoc_get(props, "tags"), "ignore_above"), &v) &&
            v == STORE_OS_TAG_IGNORE_ABOVE &&
            jdoc_bool(jdoc_get(jdoc_get(props, "raw"), "enabled"), &flag) && !flag &&
            strcmp(jdoc_str(jdoc_get(m, "dynamic"), NULL), "strict") == 0;
    jdoc_free(d);

    /* A refresh interval that needs escaping stays one valid string. */
    struct store_os_index_opts odd = { 1, 1, "1\"s" };
    buf_reset(&b);
    is_ok =
        is_ok && store_os_dsl_events_index(&odd, &b) == 0 && jdoc_parse(b.data, b.len, 0, &d) == 0;
    is_ok = is_ok &&
            strcmp(jdoc_str(jdoc_get(jdoc_get(jdoc_root(d), "settings"), "refresh_interval"), NULL),
                   "1\"s") == 0;
    jdoc_free(d);
    buf_fini(&b);
    CHECK(is_ok);
}

static void test_deletions_index_body(void)
{
    struct buf b;
    buf_init(&b);
    struct store_os_index_opts defaults = { 0, 0, NULL };
    struct store_os_index_opts set = { 2, 1, "5s" };
    bool is_ok = store_os_dsl_deletions_index(&defaults, &b) == 0 &&
                 json_eq(b.data, b.len,
                         "{'settings':{'number_of_shards':1,'number_of_replicas':0,"
                         "'refresh_interval':'1s'," DURABLE "},'mappings':{'dynamic':'strict',"
                         "'_meta':{'ostrich_schema':1},"
                         "'properties':{'created_at':{'type':'long'}}}}");
    buf_reset(&b);
    is_ok = is_ok && store_os_dsl_deletions_index(&set, &b) == 0 &&
            json_eq(b.data, b.len,
                    "{'settings':{'number_of_shards':2,'number_of_replicas':1,"
                    "'refresh_interval':'5s'," DURABLE "},'mappings':{'dynamic':'strict',"
                    "'_meta':{'ostrich_schema':1},'properties':{'created_at':{'type':'long'}}}}");
    buf_fini(&b);
    CHECK(is_ok);
}

/* _bulk lines of events */

/* Builds ev's bulk lines in a fresh buffer and checks them: two lines, the
 * action equal to want_action and the document equal to want_head (both
 * with ' for "; want_head is the document up to "raw", without the closing
 * brace) followed by "raw": ev's JSON as a string. */
static bool bulk_is(const struct event *ev, const char *want_action, const char *want_head)
{
    struct buf b, want;
    struct line lines[3];
    buf_init(&b);
    buf_init(&want);
    char *head = unquote(want_head);
    bool is_ok = head != NULL && buf_append_str(&want, head) == 0 &&
                 buf_append_str(&want, ",\"raw\":") == 0 &&
                 json_write_string(&want, ev->json, ev->json_len) == 0 &&
                 buf_append_char(&want, '}') == 0;
    is_ok = is_ok && store_os_dsl_bulk_event("nostr", ev, &b) == 0 &&
            split_lines(&b, lines, 3) == 2 && json_eq(lines[0].p, lines[0].len, want_action) &&
            json_eq_exact(lines[1].p, lines[1].len, want.data, want.len);
    free(head);
    buf_fini(&want);
    buf_fini(&b);
    return is_ok;
}

/* Parses the document line of ev's bulk lines into *out. */
static bool bulk_doc(const struct event *ev, struct jdoc **out)
{
    struct buf b;
    struct line lines[3];
    buf_init(&b);
    bool is_ok = store_os_dsl_bulk_event("nostr", ev, &b) == 0 && split_lines(&b, lines, 3) == 2 &&
                 jdoc_parse(lines[1].p, lines[1].len, 0, out) == 0;
    buf_fini(&b);
    return is_ok;
}

/* The "raw" of ev's document, decoded, is exactly ev's JSON. */
static bool raw_is_exact(const struct event *ev)
{
    struct jdoc *d = NULL;
    size_t len = 0;
    bool is_ok = bulk_doc(ev, &d);
    const char *raw = is_ok ? jdoc_str(jdoc_get(jdoc_root(d), "raw"), &len) : NULL;
    is_ok = raw != NULL && len == ev->json_len && memcmp(raw, ev->json, len) == 0;
    jdoc_free(d);
    return is_ok;
}

/* The version the header describes, computed here from its words. */
static int64_t want_version(int64_t created_at, const uint8_t id[32])
{
    uint32_t first = (uint32_t)id[0] << 24 | (uint32_t)id[1] << 16 | (uint32_t)id[2] << 8 | id[3];
    return (int64_t)((uint64_t)created_at * 2147483648u + (2147483647u - (first >> 1)));
}

static void test_bulk_regular(void)
{
    struct tev t;
    /* Tags: only single-letter names with a value count, read as the
     * matcher reads them (an escaped letter is a letter); values decoded.
     * Content: escapes, a quote, a control, raw and escaped non-ASCII and
     * an escaped slash, copied as written. */
    CHECK(tev_make(&t, ID1, PK_A, 1, 1234,
                   "[[\"e\",\"" ID2 "\"],[\"p\",\"" PK_B "\"],[\"t\"],[\"alt\",\"long name\"],"
                   "[\"\\u0074\",\"esc\\u0061ped\"],[\"t\",\"\\\"q\\\"\\n\"],[\"T\",\"\xc3\xa9\"],"
                   "[\"e\",\"" ID3 "\",\"wss://r\",\"reply\"],[\"expiration\",\"5\"],"
                   "[\"\\u00e9\",\"not a letter\"],[\"d\",\"\\ud83d\\ude00\"]]",
                   "line\\nnext \\\"q\\\" caf\xc3\xa9 \\u00e9\\u0001 \\/"));
    bool is_ok = bulk_is(&t.ev, "{'create':{'_index':'nostr','_id':'" ID1 "'}}",
                         "{'id':'" ID1 "','pubkey':'" PK_A "','kind':1,'created_at':1234,"
                         "'tags':['e:" ID2 "','p:" PK_B "','t:escaped','t:\\u0022q\\u0022\\n',"
                         "'T:\\u00e9','e:" ID3 "','d:\\ud83d\\ude00'],"
                         "'content':'line\\nnext \\u0022q\\u0022 caf\\u00e9 \\u00e9\\u0001 /'");
    is_ok = is_ok && raw_is_exact(&t.ev);
    /* The content is copied as it is written in the event; tag values are
     * decoded and written again, so an escaped letter becomes the letter
     * and a quote keeps its one required escape. */
    struct buf b;
    buf_init(&b);
    is_ok =
        is_ok && store_os_dsl_bulk_event("nostr", &t.ev, &b) == 0 && buf_cstr(&b) != NULL &&
        strstr(b.data, "\"content\":\"line\\nnext \\\"q\\\" caf\xc3\xa9 \\u00e9\\u0001 \\/\"") !=
            NULL &&
        strstr(b.data, "\"t:escaped\"") != NULL && strstr(b.data, "\"t:\\\"q\\\"\\n\"") != NULL &&
        strstr(b.data, "\"T:\xc3\xa9\"") != NULL &&
        strstr(b.data, "\"d:\xf0\x9f\x98\x80\"") != NULL;
    buf_fini(&b);
    tev_fini(&t);
    CHECK(is_ok);
}

/* "expiration" is in the document only when ev->expiration is set (as
 * nip40_check sets it). */
static void test_bulk_expiration(void)
{
    struct tev t;
    struct jdoc *d = NULL;
    int64_t v = 0;
    CHECK(tev_make(&t, ID1, PK_A, 1, 1000, "[[\"expiration\",\"1700000500\"]]", "x"));
    bool is_ok = bulk_doc(&t.ev, &d) && jdoc_get(jdoc_root(d), "expiration") == NULL;
    jdoc_free(d);
    d = NULL;
    t.ev.expiration = 1700000500;
    is_ok = is_ok && bulk_is(&t.ev, "{'create':{'_index':'nostr','_id':'" ID1 "'}}",
                             "{'id':'" ID1 "','pubkey':'" PK_A "','kind':1,'created_at':1000,"
                             "'tags':[],'expiration':1700000500,'content':'x'");
    is_ok = is_ok && bulk_doc(&t.ev, &d) && jdoc_int(jdoc_get(jdoc_root(d), "expiration"), &v) &&
            v == 1700000500;
    jdoc_free(d);
    tev_fini(&t);
    CHECK(is_ok);
}

static void test_bulk_replaceable(void)
{
    static const uint32_t kinds[] = { 0, 3, 10002, 19999 };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        struct tev t;
        char addr[STORE_OS_DOC_ID_CAP], text[128], action[512], head[512];
        /* A replaceable kind's address has d "", whatever its tags say. */
        CHECK(tev_make(&t, ID3, PK_A, kinds[i], 5000, "[[\"d\",\"ignored\"],[\"r\",\"wss://x\"]]",
                       "{}"));
        int n = snprintf(text, sizeof(text), "%u:" PK_A ":", kinds[i]);
        want_addr_id(text, (size_t)n, addr);
        snprintf(action, sizeof(action),
                 "{'index':{'_index':'nostr','_id':'%s','version':%lld,"
                 "'version_type':'external'}}",
                 addr, (long long)want_version(5000, t.ev.id));
        snprintf(head, sizeof(head),
                 "{'id':'" ID3 "','pubkey':'" PK_A "','kind':%u,'created_at':5000,"
                 "'tags':['d:ignored','r:wss://x'],'content':'{}'",
                 kinds[i]);
        char got[STORE_OS_DOC_ID_CAP];
        store_os_dsl_event_doc_id(&t.ev, got);
        bool is_ok = bulk_is(&t.ev, action, head) && raw_is_exact(&t.ev) &&
                     store_os_dsl_version(&t.ev) == want_version(5000, t.ev.id);
        tev_fini(&t);
        if (!is_ok) {
            fprintf(stderr, "    kind %u\n", kinds[i]);
        }
        CHECK(is_ok);
        CHECK_STR_EQ(got, addr);
    }
}

static void test_bulk_addressable(void)
{
    static const struct {
        const char *tags;
        const char *d;
    } cases[] = {
        { "[[\"d\",\"x\"]]", "x" },
        { "[[\"title\",\"T\"],[\"d\",\"\\u0078\\\"y\\\\\"]]", "x\"y\\" },
        { "[]", "" },
        { "[[\"d\"]]", "" },
        { "[[\"d\"],[\"d\",\"later\"]]", "" },
        { "[[\"d\",\"\"],[\"d\",\"later\"]]", "" },
        { "[[\"d\",\"first\"],[\"d\",\"second\"]]", "first" },
        { "[[\"\\u0064\",\"esc-name\"]]", "esc-name" },
        { "[[\"dd\",\"no\"],[\"D\",\"no\"]]", "" },
        { "[[\"d\",\"caf\xc3\xa9 \\u2603\"]]", "caf\xc3\xa9 \xe2\x98\x83" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tev t;
        char want[STORE_OS_DOC_ID_CAP], got[STORE_OS_DOC_ID_CAP], action[512];
        struct buf text;
        buf_init(&text);
        CHECK(tev_make(&t, ID2, PK_B, 30023, 7000, cases[i].tags, "body"));
        CHECK_OK(buf_printf(&text, "30023:" PK_B ":%s", cases[i].d));
        want_addr_id(text.data, text.len, want);
        buf_fini(&text);
        store_os_dsl_event_doc_id(&t.ev, got);
        snprintf(action, sizeof(action),
                 "{'index':{'_index':'nostr','_id':'%s','version':%lld,"
                 "'version_type':'external'}}",
                 want, (long long)want_version(7000, t.ev.id));
        struct buf b;
        struct line lines[3];
        buf_init(&b);
        bool is_ok = store_os_dsl_bulk_event("nostr", &t.ev, &b) == 0 &&
                     split_lines(&b, lines, 3) == 2 && json_eq(lines[0].p, lines[0].len, action) &&
                     raw_is_exact(&t.ev);
        buf_fini(&b);
        tev_fini(&t);
        if (!is_ok || strcmp(got, want) != 0) {
            fprintf(stderr, "    tags %s\n", cases[i].tags);
        }
        CHECK(is_ok);
        CHECK_STR_EQ(got, want);
    }
}

/* One address, one id: from an event, from a struct store_addr (as NIP-09
 * parses "a" tags), in a tombstone and in a delete body. */
static void test_addr_ids_equal(void)
{
    struct tev t;
    uint8_t pk[32];
    char from_ev[STORE_OS_DOC_ID_CAP], from_addr[STORE_OS_DOC_ID_CAP], want[STORE_OS_DOC_ID_CAP];
    hex32(PK_A, pk);
    CHECK(tev_make(&t, ID1, PK_A, 30023, 1, "[[\"d\",\"\\u0078\"]]", ""));
    store_os_dsl_event_doc_id(&t.ev, from_ev);
    tev_fini(&t);
    struct store_addr a = { .kind = 30023, .d = "x", .d_len = 1 };
    memcpy(a.pubkey, pk, 32);
    store_os_dsl_addr_doc_id(a.kind, a.pubkey, a.d, a.d_len, from_addr);
    want_addr_id("30023:" PK_A ":x", strlen("30023:" PK_A ":x"), want);
    CHECK_STR_EQ(from_ev, want);
    CHECK_STR_EQ(from_addr, want);
    CHECK_INT_EQ(strlen(want), 66);

    /* The tombstone and the delete body name the same id. */
    struct buf b;
    struct line lines[3];
    struct jdoc *d = NULL;
    buf_init(&b);
    bool is_ok = store_os_dsl_bulk_tomb_addr("del", &a, 9, &b) == 0 &&
                 split_lines(&b, lines, 3) == 2 && jdoc_parse(lines[0].p, lines[0].len, 0, &d) == 0;
    const char *tomb_id = jdoc_str(jdoc_get(jdoc_get(jdoc_root(d), "index"), "_id"), NULL);
    is_ok = is_ok && tomb_id != NULL && strcmp(tomb_id, want) == 0;
    jdoc_free(d);
    buf_fini(&b);
    CHECK(is_ok);

    /* Different kind, pubkey or d: different ids. */
    char other[STORE_OS_DOC_ID_CAP];
    store_os_dsl_addr_doc_id(30024, pk, "x", 1, other);
    CHECK(strcmp(other, want) != 0);
    store_os_dsl_addr_doc_id(30023, pk, "y", 1, other);
    CHECK(strcmp(other, want) != 0);
    store_os_dsl_addr_doc_id(30023, pk, "x\0", 2, other);
    CHECK(strcmp(other, want) != 0);
    pk[31] ^= 1;
    store_os_dsl_addr_doc_id(30023, pk, "x", 1, other);
    CHECK(strcmp(other, want) != 0);
    pk[31] ^= 1;

    /* A replaceable kind ignores d, as its events do. */
    CHECK(tev_make(&t, ID1, PK_A, 10002, 1, "[[\"d\",\"x\"]]", ""));
    store_os_dsl_event_doc_id(&t.ev, from_ev);
    tev_fini(&t);
    store_os_dsl_addr_doc_id(10002, pk, "junk", 4, from_addr);
    want_addr_id("10002:" PK_A ":", strlen("10002:" PK_A ":"), want);
    CHECK_STR_EQ(from_ev, want);
    CHECK_STR_EQ(from_addr, want);

    /* A regular event is its id. */
    CHECK(tev_make(&t, ID3, PK_A, 1, 1, "[[\"d\",\"x\"]]", ""));
    store_os_dsl_event_doc_id(&t.ev, from_ev);
    tev_fini(&t);
    CHECK_STR_EQ(from_ev, ID3);

    /* A long d with escapes, hashed while it is unescaped. */
    struct buf tags, dec, text;
    buf_init(&tags);
    buf_init(&dec);
    buf_init(&text);
    is_ok = buf_append_str(&tags, "[[\"d\",\"") == 0;
    for (int i = 0; i < 500 && is_ok; i++) {
        is_ok = buf_append_str(&tags, "ab\\n\\u00e9\\\"") == 0 &&
                buf_append_str(&dec, "ab\n\xc3\xa9\"") == 0;
    }
    is_ok = is_ok && buf_append_str(&tags, "\"]]") == 0 && buf_cstr(&tags) != NULL &&
            buf_printf(&text, "30000:" PK_A ":%.*s", (int)dec.len, dec.data) == 0;
    if (is_ok) {
        want_addr_id(text.data, text.len, want);
        store_os_dsl_addr_doc_id(30000, pk, dec.data, dec.len, from_addr);
    }
    is_ok = is_ok && tev_make(&t, ID1, PK_A, 30000, 1, tags.data, "");
    if (is_ok) {
        store_os_dsl_event_doc_id(&t.ev, from_ev);
        tev_fini(&t);
    }
    buf_fini(&tags);
    buf_fini(&dec);
    buf_fini(&text);
    CHECK(is_ok);
    CHECK_STR_EQ(from_ev, want);
    CHECK_STR_EQ(from_addr, want);
}

static void test_version_order(void)
{
    struct tev a, b;
    CHECK(tev_make(&a, ID1, PK_A, 0, 100, "[]", ""));
    CHECK(tev_make(&b, ID3, PK_A, 0, 101, "[]", ""));
    int64_t va = store_os_dsl_version(&a.ev), vb = store_os_dsl_version(&b.ev);
    bool is_newer_wins = vb > va; /* despite the higher id */
    /* Equal created_at: the lower id has the higher version. */
    b.ev.created_at = 100;
    vb = store_os_dsl_version(&b.ev);
    bool is_lower_id_wins = va > vb;
    /* The same first 31 bits tie: bit 31 onwards is not looked at. */
    memcpy(b.ev.id, a.ev.id, 32);
    b.ev.id[3] ^= 1;
    b.ev.id[31] ^= 0xff;
    bool is_tie = store_os_dsl_version(&b.ev) == va;
    b.ev.id[2] ^= 1;
    bool is_bit30_seen = store_os_dsl_version(&b.ev) < va;
    CHECK(is_newer_wins);
    CHECK(is_lower_id_wins);
    CHECK(is_tie);
    CHECK(is_bit30_seen);
    CHECK_INT_EQ(va, want_version(100, a.ev.id));

    /* Clamping: below 0 counts as 0, above 2^32-1 as 2^32-1. */
    memset(b.ev.id, 0xff, 32);
    b.ev.created_at = 0;
    CHECK_INT_EQ(store_os_dsl_version(&b.ev), 0);
    b.ev.created_at = -5;
    CHECK_INT_EQ(store_os_dsl_version(&b.ev), 0);
    memset(b.ev.id, 0, 32);
    b.ev.created_at = 4294967295LL;
    CHECK_INT_EQ(store_os_dsl_version(&b.ev), INT64_MAX);
    b.ev.created_at = 1LL << 40;
    CHECK_INT_EQ(store_os_dsl_version(&b.ev), INT64_MAX);
    b.ev.created_at = 4294967294LL;
    CHECK(store_os_dsl_version(&b.ev) < INT64_MAX && store_os_dsl_version(&b.ev) > 0);
    tev_fini(&a);
    tev_fini(&b);
}

static void test_tombstones(void)
{
    uint8_t id[32], pk[32];
    char doc_id[STORE_OS_DOC_ID_CAP], addr[STORE_OS_DOC_ID_CAP];
    struct buf b;
    struct line lines[3];
    hex32(ID1, id);
    hex32(PK_A, pk);
    buf_init(&b);

    store_os_dsl_tomb_id_doc_id(id, pk, doc_id);
    CHECK_STR_EQ(doc_id, "i:" ID1 ":" PK_A);
    CHECK(strlen(doc_id) < STORE_OS_DOC_ID_CAP);
    bool is_ok = store_os_dsl_bulk_tomb_id("nostr-deletions", id, pk, 77, &b) == 0 &&
                 split_lines(&b, lines, 3) == 2 &&
                 json_eq(lines[0].p, lines[0].len,
                         "{'index':{'_index':'nostr-deletions','_id':'i:" ID1 ":" PK_A "'}}") &&
                 json_eq(lines[1].p, lines[1].len, "{'created_at':77}");
    CHECK(is_ok);

    struct store_addr a = { .kind = 30023, .d = "x", .d_len = 1 };
    memcpy(a.pubkey, pk, 32);
    want_addr_id("30023:" PK_A ":x", strlen("30023:" PK_A ":x"), addr);
    char action[512];
    snprintf(action, sizeof(action),
             "{'index':{'_index':'nostr-deletions','_id':'%s','version':500,"
             "'version_type':'external_gte'}}",
             addr);
    buf_reset(&b);
    is_ok = store_os_dsl_bulk_tomb_addr("nostr-deletions", &a, 500, &b) == 0 &&
            split_lines(&b, lines, 3) == 2 && json_eq(lines[0].p, lines[0].len, action) &&
            json_eq(lines[1].p, lines[1].len, "{'created_at':500}");
    CHECK(is_ok);

    store_os_dsl_tomb_vanish_doc_id(pk, doc_id);
    CHECK_STR_EQ(doc_id, "v:" PK_A);
    buf_reset(&b);
    is_ok = store_os_dsl_bulk_tomb_vanish("nostr-deletions", pk, 900, &b) == 0 &&
            split_lines(&b, lines, 3) == 2 &&
            json_eq(lines[0].p, lines[0].len,
                    "{'index':{'_index':'nostr-deletions','_id':'v:" PK_A "','version':900,"
                    "'version_type':'external_gte'}}") &&
            json_eq(lines[1].p, lines[1].len, "{'created_at':900}");
    buf_fini(&b);
    CHECK(is_ok);
}

static void test_delete_bodies(void)
{
    uint8_t ids[2][32], pk[32], keep[32];
    struct buf b;
    hex32(ID1, ids[0]);
    hex32(ID3, ids[1]);
    hex32(PK_A, pk);
    hex32(ID2, keep);
    buf_init(&b);
    bool is_ok = store_os_dsl_delete_ids_body((const uint8_t(*)[32])ids, 2, pk, true, &b) == 0 &&
                 json_eq(b.data, b.len,
                         "{'query':{'bool':{'filter':[{'terms':{'id':['" ID1 "','" ID3 "']}},"
                         "{'term':{'pubkey':'" PK_A "'}}],'must_not':[{'term':{'kind':5}}]}}}");
    buf_reset(&b);
    is_ok = is_ok &&
            store_os_dsl_delete_ids_body((const uint8_t(*)[32])ids, 1, NULL, false, &b) == 0 &&
            json_eq(b.data, b.len, "{'query':{'bool':{'filter':[{'terms':{'id':['" ID1 "']}}]}}}");
    buf_reset(&b);
    is_ok = is_ok &&
            store_os_dsl_delete_ids_body((const uint8_t(*)[32])ids, 1, pk, false, &b) == 0 &&
            json_eq(b.data, b.len,
                    "{'query':{'bool':{'filter':[{'terms':{'id':['" ID1 "']}},"
                    "{'term':{'pubkey':'" PK_A "'}}]}}}");
    CHECK(is_ok);

    char addr[STORE_OS_DOC_ID_CAP], want[512];
    struct store_addr a = { .kind = 30023, .d = "x", .d_len = 1 };
    memcpy(a.pubkey, pk, 32);
    want_addr_id("30023:" PK_A ":x", strlen("30023:" PK_A ":x"), addr);
    snprintf(want, sizeof(want),
             "{'query':{'bool':{'filter':[{'ids':{'values':['%s']}},"
             "{'range':{'created_at':{'lte':500}}}]}}}",
             addr);
    buf_reset(&b);
    is_ok = store_os_dsl_delete_addr_body(&a, 500, &b) == 0 && json_eq(b.data, b.len, want);
    buf_reset(&b);
    is_ok = is_ok && store_os_dsl_delete_vanish_body(pk, 900, keep, &b) == 0 &&
            json_eq(b.data, b.len,
                    "{'query':{'bool':{'filter':[{'term':{'pubkey':'" PK_A "'}},"
                    "{'range':{'created_at':{'lte':900}}}],"
                    "'must_not':[{'term':{'id':'" ID2 "'}}]}}}");
    buf_reset(&b);
    is_ok = is_ok && store_os_dsl_expired_body(NOW, &b) == 0 &&
            json_eq(b.data, b.len, "{'query':{'range':{'expiration':{'lte':" NOW_S "}}}}");
    buf_fini(&b);
    CHECK(is_ok);
}

/* NDJSON: every call appends whole lines after what the buffer held, each
 * line one JSON value, even when the event's own JSON has newlines. */
static void test_ndjson_framing(void)
{
    static const char pretty[] = "{\n  \"id\": \"" ID1 "\",\n  \"pubkey\": \"" PK_A "\",\n"
                                 "  \"created_at\": 1,\n  \"kind\": 1,\n"
                                 "  \"tags\": [\n    [\"t\", \"a\"]\n  ],\n"
                                 "  \"content\": \"two\\nlines\",\n"
                                 "  \"sig\": \"" SIG0 "\"\n}";
    struct event ev;
    const char *reason = NULL;
    uint8_t pk[32];
    struct store_addr a = { .kind = 30001, .d = "l", .d_len = 1 };
    struct tev t;
    struct buf b;
    struct line lines[16];
    hex32(PK_A, pk);
    memcpy(a.pubkey, pk, 32);
    CHECK_OK(event_parse(pretty, strlen(pretty), NULL, &ev, &reason));
    CHECK(tev_make(&t, ID2, PK_A, 30001, 5, "[[\"d\",\"l\"]]", "c"));
    buf_init(&b);
    bool is_ok = buf_append_str(&b, "{\"earlier\":1}\n") == 0 &&
                 store_os_dsl_bulk_event("nostr", &ev, &b) == 0 &&
                 store_os_dsl_bulk_event("nostr", &t.ev, &b) == 0 &&
                 store_os_dsl_bulk_tomb_id("del", ev.id, pk, 3, &b) == 0 &&
                 store_os_dsl_bulk_tomb_addr("del", &a, 4, &b) == 0 &&
                 store_os_dsl_bulk_tomb_vanish("del", pk, 5, &b) == 0;
    int n = is_ok ? split_lines(&b, lines, 16) : -1;
    is_ok = is_ok && n == 11 && json_eq(lines[0].p, lines[0].len, "{'earlier':1}") &&
            raw_is_exact(&ev) && raw_is_exact(&t.ev);
    buf_fini(&b);
    tev_fini(&t);
    CHECK(is_ok);
}

/* Differential: the documents of generated signed events against a
 * reference read of the same events with jdoc. */
static bool check_generated(const char *json, size_t len)
{
    struct event ev;
    const char *reason = NULL;
    struct jdoc *src = NULL, *doc = NULL, *act = NULL;
    struct buf b;
    struct line lines[3];
    buf_init(&b);
    bool is_ok = event_parse(json, len, NULL, &ev, &reason) == 0 &&
                 jdoc_parse(json, len, 0, &src) == 0 &&
                 store_os_dsl_bulk_event("nostr", &ev, &b) == 0 && split_lines(&b, lines, 3) == 2 &&
                 jdoc_parse(lines[0].p, lines[0].len, 0, &act) == 0 &&
                 jdoc_parse(lines[1].p, lines[1].len, 0, &doc) == 0;
    const struct jdoc_val *s = jdoc_root(src), *d = jdoc_root(doc);
    static const char *const same[] = { "id", "pubkey", "kind", "created_at", "content" };
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]) && is_ok; i++) {
        is_ok = jdoc_equal(jdoc_get(s, same[i]), jdoc_get(d, same[i]));
    }
    size_t raw_len = 0;
    const char *raw = is_ok ? jdoc_str(jdoc_get(d, "raw"), &raw_len) : NULL;
    is_ok = raw != NULL && raw_len == len && memcmp(raw, json, len) == 0;

    /* Reference tags, and the reference d. */
    const struct jdoc_val *tags = jdoc_get(s, "tags"), *got = jdoc_get(d, "tags");
    size_t k = 0;
    const char *dval = NULL;
    size_t dval_len = 0;
    bool has_d_tag = false;
    for (size_t i = 0; i < jdoc_len(tags) && is_ok; i++) {
        const struct jdoc_val *tag = jdoc_at(tags, i);
        size_t name_len = 0, value_len = 0, got_len = 0;
        const char *name = jdoc_str(jdoc_at(tag, 0), &name_len);
        const char *value = jdoc_str(jdoc_at(tag, 1), &value_len);
        bool is_letter = name_len == 1 &&
                         ((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z'));
        if (is_letter && name[0] == 'd' && !has_d_tag) {
            has_d_tag = true;
            dval = value;
            dval_len = value != NULL ? value_len : 0;
        }
        if (!is_letter || value == NULL) {
            continue;
        }
        const char *entry = jdoc_str(jdoc_at(got, k++), &got_len);
        is_ok = entry != NULL && got_len == 2 + value_len && entry[0] == name[0] &&
                entry[1] == ':' && memcmp(entry + 2, value, value_len) == 0;
    }
    is_ok = is_ok && k == jdoc_len(got);

    /* The action and its id. */
    char want_id[STORE_OS_DOC_ID_CAP];
    const struct jdoc_val *op = NULL;
    if (event_kind_is_replaceable(ev.kind) || event_kind_is_addressable(ev.kind)) {
        struct buf text;
        buf_init(&text);
        bool has_d = event_kind_is_addressable(ev.kind) && dval != NULL;
        is_ok = is_ok && buf_printf(&text, "%u:", ev.kind) == 0 &&
                buf_append(&text, jdoc_str(jdoc_get(s, "pubkey"), NULL), 64) == 0 &&
                buf_append_char(&text, ':') == 0 &&
                buf_append(&text, has_d ? dval : "", has_d ? dval_len : 0) == 0;
        if (is_ok) {
            want_addr_id(text.data, text.len, want_id);
        }
        buf_fini(&text);
        op = jdoc_get(jdoc_root(act), "index");
        int64_t v = 0;
        is_ok = is_ok && jdoc_int(jdoc_get(op, "version"), &v) &&
                v == want_version(ev.created_at, ev.id);
    } else {
        hex_encode(ev.id, 32, want_id);
        want_id[64] = '\0';
        op = jdoc_get(jdoc_root(act), "create");
    }
    const char *id = jdoc_str(jdoc_get(op, "_id"), NULL);
    is_ok = is_ok && id != NULL && strcmp(id, want_id) == 0;
    if (!is_ok) {
        fprintf(stderr, "    event %.*s\n", (int)len, json);
    }
    jdoc_free(src);
    jdoc_free(doc);
    jdoc_free(act);
    buf_fini(&b);
    return is_ok;
}

static void test_generated_events(void)
{
    struct evgen *g = NULL;
    struct buf b;
    CHECK_OK(evgen_new(0x05d51u, 8, NOW, &g));
    buf_init(&b);
    bool is_ok = true;
    for (int i = 0; i < 400 && is_ok; i++) {
        is_ok = evgen_next(g, &b) == 0 && check_generated(b.data, b.len);
    }
    /* Hand-written drafts: an escaped addressable d and tags, signed. */
    static const char *const t1[] = { "d", "caf\xc3\xa9 \"q\"\n" };
    static const char *const t2[] = { "e", "x", "y" };
    static const char *const t3[] = { "t" };
    static const char *const t4[] = { "p", "\x01" };
    const struct evgen_tag tags[] = { { 2, t1 }, { 3, t2 }, { 1, t3 }, { 2, t4 } };
    for (int esc = 0; esc < 2 && is_ok; esc++) {
        struct evgen_draft dr = { .key = 1,
                                  .created_at = NOW,
                                  .kind = 30023,
                                  .tags = tags,
                                  .n_tags = 4,
                                  .content = "a\tb \xe2\x98\x83",
                                  .content_len = 8,
                                  .escape = (enum evgen_escape)esc };
        is_ok = evgen_sign(g, &dr, &b) == 0 && check_generated(b.data, b.len);
    }
    buf_fini(&b);
    evgen_free(g);
    CHECK(is_ok);
}

CHECK_MAIN({ "json_eq_sanity", test_json_eq_sanity },
           { "query_fields_alone", test_query_fields_alone },
           { "query_combined", test_query_combined }, { "query_tag_values", test_query_tag_values },
           { "query_search", test_query_search },
           { "query_now_and_never", test_query_now_and_never },
           { "tag_over_matching", test_tag_over_matching }, { "search_body", test_search_body },
           { "count_body", test_count_body }, { "pubkeys_body", test_pubkeys_body },
           { "events_index_body", test_events_index_body },
           { "deletions_index_body", test_deletions_index_body },
           { "bulk_regular", test_bulk_regular }, { "bulk_expiration", test_bulk_expiration },
           { "bulk_replaceable", test_bulk_replaceable },
           { "bulk_addressable", test_bulk_addressable }, { "addr_ids_equal", test_addr_ids_equal },
           { "version_order", test_version_order }, { "tombstones", test_tombstones },
           { "delete_bodies", test_delete_bodies }, { "ndjson_framing", test_ndjson_framing },
           { "generated_events", test_generated_events })
