/* Tests for common/jdoc: parsing, rejection, accessors, raw text, equality
 * and sorted output. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/buf.h"
#include "common/jdoc.h"

static int parse_str(const char *s, unsigned depth, struct jdoc **out)
{
    return jdoc_parse(s, strlen(s), depth, out);
}

/* A string of n '[' then n ']' (caller frees). */
static char *nested(size_t n, char open, char close)
{
    char *s = malloc(2 * n + 1);
    if (s != NULL) {
        memset(s, open, n);
        memset(s + n, close, n);
        s[2 * n] = '\0';
    }
    return s;
}

static void test_accepted(void)
{
    static const struct {
        const char *json;
        enum jdoc_type type;
    } ok[] = {
        { "0", JDOC_NUMBER },
        { "-0", JDOC_NUMBER },
        { "-12.5e+3", JDOC_NUMBER },
        { "1E-3", JDOC_NUMBER },
        { "true", JDOC_BOOL },
        { "false", JDOC_BOOL },
        { "null", JDOC_NULL },
        { "\"\"", JDOC_STRING },
        { "\"\\u00e9\\ud83d\\ude00\\n\\t\\\"\\\\\\/\\b\\f\\r\"", JDOC_STRING },
        { "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x7f\"", JDOC_STRING },
        { "[]", JDOC_ARRAY },
        { "{}", JDOC_OBJECT },
        { " \t\r\n[ 1 , \"a\" , [ ] , { } ] \n", JDOC_ARRAY },
        { "{\"a\":[1,{\"b\":null}],\"c\":\"d\"}", JDOC_OBJECT },
        { "{ \"\" : 1 }", JDOC_OBJECT },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct jdoc *d = NULL;
        int rc = parse_str(ok[i].json, 0, &d);
        if (rc != 0) {
            fprintf(stderr, "  rejected: %s\n", ok[i].json);
        }
        CHECK_OK(rc);
        enum jdoc_type t = jdoc_type(jdoc_root(d));
        jdoc_free(d);
        CHECK_INT_EQ(t, ok[i].type);
    }
}

static void test_rejected(void)
{
    static const char *const bad[] = {
        "",
        "   ",
        "[",
        "]",
        "[1,]",
        "[,1]",
        "[1 2]",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{1:2}",
        "{'a':1}",
        "{\"a\":1]",
        "[1}",
        "01",
        "1.",
        ".5",
        "+1",
        "1e",
        "-",
        "NaN",
        "Infinity",
        "tru",
        "truex",
        "nul",
        "nulll",
        "True",
        "[1] x",
        "1 2",
        "{} {}",
        "\"abc",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\ud800\"",          /* lone high surrogate */
        "\"\\udc00\"",          /* lone low surrogate */
        "\"\\ud800\\u0041\"",   /* high surrogate with a non-surrogate */
        "\"\xff\"",             /* not UTF-8 */
        "\"\xc0\xaf\"",         /* overlong */
        "\"\xed\xa0\x80\"",     /* UTF-8 encoded surrogate */
        "\"\xf4\x90\x80\x80\"", /* above U+10FFFF */
        "\"\xe2\x82\"",         /* truncated sequence */
        "\"a\x01\"",            /* control character */
        "\"a\tb\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct jdoc *d = NULL;
        int rc = parse_str(bad[i], 0, &d);
        if (rc != OST_EPARSE) {
            fprintf(stderr, "  accepted or wrong code (%d): %s\n", rc, bad[i]);
        }
        CHECK_INT_EQ(rc, OST_EPARSE);
        CHECK(d == NULL);
    }
    /* A NUL byte inside the given length is not JSON whitespace. */
    struct jdoc *d = NULL;
    CHECK_INT_EQ(jdoc_parse("[1]\0", 4, 0, &d), OST_EPARSE);
    CHECK_INT_EQ(jdoc_parse("\"a\0b\"", 5, 0, &d), OST_EPARSE);
    /* The length is honoured: a prefix of valid JSON is not. */
    CHECK_INT_EQ(jdoc_parse("[1,2]", 4, 0, &d), OST_EPARSE);
    CHECK_OK(jdoc_parse("[1,2]xyz", 5, 0, &d));
    CHECK_INT_EQ(jdoc_len(jdoc_root(d)), 2);
    jdoc_free(d);
}

static void test_depth(void)
{
    struct jdoc *d = NULL;
    CHECK_OK(parse_str("[[[1]]]", 3, &d));
    jdoc_free(d);
    d = NULL;
    CHECK_INT_EQ(parse_str("[[[[1]]]]", 3, &d), OST_EPARSE);
    CHECK_OK(parse_str("{\"a\":{\"b\":[]}}", 3, &d));
    jdoc_free(d);
    d = NULL;
    CHECK_INT_EQ(parse_str("{\"a\":{\"b\":[{}]}}", 3, &d), OST_EPARSE);
    /* Scalars do not count as a level. */
    CHECK_OK(parse_str("1", 1, &d));
    jdoc_free(d);
    d = NULL;

    /* 0 means JDOC_DEFAULT_DEPTH: exactly at it and one above. */
    char *s = nested(JDOC_DEFAULT_DEPTH, '[', ']');
    CHECK(s != NULL);
    int rc = parse_str(s, 0, &d);
    free(s);
    CHECK_OK(rc);
    jdoc_free(d);
    d = NULL;
    s = nested(JDOC_DEFAULT_DEPTH + 1, '[', ']');
    CHECK(s != NULL);
    rc = parse_str(s, 0, &d);
    free(s);
    CHECK_INT_EQ(rc, OST_EPARSE);

    /* A larger request is capped at JDOC_MAX_DEPTH; a very deep input is
     * refused without exhausting the stack. */
    s = nested(JDOC_MAX_DEPTH, '[', ']');
    CHECK(s != NULL);
    rc = parse_str(s, 1000000, &d);
    free(s);
    CHECK_OK(rc);
    struct buf b;
    buf_init(&b);
    rc = jdoc_to_json(jdoc_root(d), &b);
    bool same = jdoc_equal(jdoc_root(d), jdoc_root(d));
    size_t out_len = b.len;
    buf_fini(&b);
    jdoc_free(d);
    d = NULL;
    CHECK_OK(rc);
    CHECK(same);
    CHECK_INT_EQ(out_len, 2 * JDOC_MAX_DEPTH);
    s = nested(JDOC_MAX_DEPTH + 1, '[', ']');
    CHECK(s != NULL);
    rc = parse_str(s, 1000000, &d);
    free(s);
    CHECK_INT_EQ(rc, OST_EPARSE);
    s = nested(200000, '[', ']');
    CHECK(s != NULL);
    rc = parse_str(s, 1000000, &d);
    free(s);
    CHECK_INT_EQ(rc, OST_EPARSE);
    CHECK(d == NULL);
}

static void test_duplicate_keys(void)
{
    struct jdoc *d = NULL;
    CHECK_OK(parse_str("{\"a\":1,\"b\":2,\"a\":3}", 0, &d));
    const struct jdoc_val *r = jdoc_root(d);
    int64_t v = 0;
    bool ok_last = jdoc_int(jdoc_get(r, "a"), &v);
    int64_t first = 0;
    bool ok_first = jdoc_int(jdoc_at(r, 0), &first);
    size_t n = jdoc_len(r);
    const char *k2 = jdoc_key_at(r, 2, NULL);
    bool k2_is_a = k2 != NULL && strcmp(k2, "a") == 0;
    jdoc_free(d);
    CHECK(ok_last);
    CHECK_INT_EQ(v, 3);
    CHECK(ok_first);
    CHECK_INT_EQ(first, 1);
    CHECK_INT_EQ(n, 3);
    CHECK(k2_is_a);
}

static void test_accessors(void)
{
    static const char json[] =
        "{\"s\":\"h\\u00e9\\n\\\"x\",\"z\":\"a\\u0000b\",\"i\":-42,\"big\":9223372036854775807,"
        "\"min\":-9223372036854775808,\"over\":9223372036854775808,\"f\":1.5,\"e\":1e2,"
        "\"t\":true,\"no\":false,\"nil\":null,\"arr\":[10,\"x\",[]],\"obj\":{\"k\":{\"q\":7}},"
        "\"k\\u00e9y\":1}";
    struct jdoc *d = NULL;
    CHECK_OK(parse_str(json, 0, &d));
    const struct jdoc_val *r = jdoc_root(d);
    int64_t i = 0;
    double x = 0;
    bool b = false;
    size_t len = 0;
    const char *s;

    CHECK_INT_EQ(jdoc_type(r), JDOC_OBJECT);
    CHECK_INT_EQ(jdoc_len(r), 14);

    s = jdoc_str(jdoc_get(r, "s"), &len);
    CHECK(s != NULL);
    CHECK_INT_EQ(len, 6);
    CHECK_STR_EQ(s, "h\xc3\xa9\n\"x");
    s = jdoc_str(jdoc_get(r, "z"), &len);
    CHECK(s != NULL);
    CHECK_INT_EQ(len, 3);
    CHECK_MEM_EQ(s, "a\0b", 4);
    CHECK(jdoc_str(jdoc_get(r, "z"), NULL) == s);
    CHECK(jdoc_str(jdoc_get(r, "i"), &len) == NULL);

    CHECK(jdoc_int(jdoc_get(r, "i"), &i));
    CHECK_INT_EQ(i, -42);
    CHECK(jdoc_int(jdoc_get(r, "big"), &i));
    CHECK(i == INT64_MAX);
    CHECK(jdoc_int(jdoc_get(r, "min"), &i));
    CHECK(i == INT64_MIN);
    i = 5;
    CHECK(!jdoc_int(jdoc_get(r, "over"), &i));
    CHECK(!jdoc_int(jdoc_get(r, "f"), &i));
    CHECK(!jdoc_int(jdoc_get(r, "e"), &i));
    CHECK(!jdoc_int(jdoc_get(r, "s"), &i));
    CHECK_INT_EQ(i, 5); /* untouched on failure */
    CHECK(jdoc_double(jdoc_get(r, "over"), &x));
    CHECK(x > 9.2e18 && x < 9.3e18);
    CHECK(jdoc_double(jdoc_get(r, "f"), &x));
    CHECK(x == 1.5);
    CHECK(jdoc_double(jdoc_get(r, "e"), &x));
    CHECK(x == 100.0);
    CHECK(jdoc_double(jdoc_get(r, "i"), &x));
    CHECK(x == -42.0);
    CHECK(!jdoc_double(jdoc_get(r, "t"), &x));

    CHECK(jdoc_bool(jdoc_get(r, "t"), &b));
    CHECK(b);
    CHECK(jdoc_bool(jdoc_get(r, "no"), &b));
    CHECK(!b);
    CHECK(!jdoc_bool(jdoc_get(r, "nil"), &b));
    CHECK(!jdoc_bool(jdoc_get(r, "i"), &b));
    CHECK(jdoc_get(r, "nil") != NULL);
    CHECK_INT_EQ(jdoc_type(jdoc_get(r, "nil")), JDOC_NULL);

    const struct jdoc_val *arr = jdoc_get(r, "arr");
    CHECK_INT_EQ(jdoc_type(arr), JDOC_ARRAY);
    CHECK_INT_EQ(jdoc_len(arr), 3);
    CHECK(jdoc_int(jdoc_at(arr, 0), &i));
    CHECK_INT_EQ(i, 10);
    CHECK_STR_EQ(jdoc_str(jdoc_at(arr, 1), NULL), "x");
    CHECK_INT_EQ(jdoc_type(jdoc_at(arr, 2)), JDOC_ARRAY);
    CHECK_INT_EQ(jdoc_len(jdoc_at(arr, 2)), 0);
    CHECK(jdoc_at(arr, 3) == NULL);
    CHECK(jdoc_at(jdoc_at(arr, 2), 0) == NULL);
    CHECK(jdoc_key_at(arr, 0, &len) == NULL);
    CHECK(jdoc_get(arr, "0") == NULL);

    /* Chained lookups. */
    CHECK(jdoc_int(jdoc_get(jdoc_get(jdoc_get(r, "obj"), "k"), "q"), &i));
    CHECK_INT_EQ(i, 7);
    CHECK(jdoc_get(jdoc_get(jdoc_get(r, "missing"), "k"), "q") == NULL);
    CHECK(jdoc_get(jdoc_get(r, "i"), "k") == NULL);

    /* Keys: decoded, by index and by name. */
    s = jdoc_key_at(r, 13, &len);
    CHECK(s != NULL);
    CHECK_INT_EQ(len, 4);
    CHECK_STR_EQ(s, "k\xc3\xa9y");
    CHECK(jdoc_get(r, "k\xc3\xa9y") == jdoc_at(r, 13));
    CHECK_STR_EQ(jdoc_key_at(r, 0, NULL), "s");
    CHECK(jdoc_key_at(r, 14, NULL) == NULL);
    CHECK(jdoc_at(r, 14) == NULL);
    CHECK(jdoc_at(r, 2) == jdoc_get(r, "i"));
    CHECK(jdoc_get(r, "k\\u00e9y") == NULL);
    CHECK(jdoc_get(r, "") == NULL);

    /* NULL answers as a value of the wrong type. */
    CHECK_INT_EQ(jdoc_type(NULL), JDOC_NULL);
    CHECK(jdoc_get(NULL, "a") == NULL);
    CHECK_INT_EQ(jdoc_len(NULL), 0);
    CHECK(jdoc_at(NULL, 0) == NULL);
    CHECK(jdoc_key_at(NULL, 0, &len) == NULL);
    CHECK(jdoc_str(NULL, &len) == NULL);
    CHECK(!jdoc_int(NULL, &i));
    CHECK(!jdoc_double(NULL, &x));
    CHECK(!jdoc_bool(NULL, &b));
    CHECK(jdoc_raw(NULL, &len) == NULL);
    CHECK(jdoc_root(NULL) == NULL);
    CHECK_INT_EQ(jdoc_len(jdoc_get(r, "s")), 0);
    jdoc_free(d);
    jdoc_free(NULL);
}

/* The document owns a copy: the input may be freed right after parsing. */
static void test_owns_input(void)
{
    static const char text[] = " {\"k\":\"v\\u0041\",\"n\":[1,2.5]} ";
    char *copy = malloc(sizeof(text));
    CHECK(copy != NULL);
    memcpy(copy, text, sizeof(text));
    struct jdoc *d = NULL;
    int rc = parse_str(copy, 0, &d);
    memset(copy, 'x', sizeof(text) - 1);
    free(copy);
    CHECK_OK(rc);
    const struct jdoc_val *r = jdoc_root(d);
    const char *v = jdoc_str(jdoc_get(r, "k"), NULL);
    size_t len = 0;
    const char *raw = jdoc_raw(jdoc_at(jdoc_get(r, "n"), 1), &len);
    bool ok =
        v != NULL && strcmp(v, "vA") == 0 && raw != NULL && len == 3 && memcmp(raw, "2.5", 3) == 0;
    jdoc_free(d);
    CHECK(ok);
}

static void test_raw(void)
{
    static const char text[] =
        "\n {\"a\" : [ 1 ,\"x\\\"\\u00e9\" , {\"b\":null} ] , \"c\":-1.50e3, \"d\":true }\t";
    struct jdoc *d = NULL;
    CHECK_OK(parse_str(text, 0, &d));
    const struct jdoc_val *r = jdoc_root(d);
    size_t len = 0;
    const char *raw = jdoc_raw(r, &len);
    const char *start = strchr(text, '{');
    CHECK(raw != NULL);
    CHECK_INT_EQ(len, strrchr(text, '}') + 1 - start);
    CHECK_MEM_EQ(raw, start, len);

    const struct jdoc_val *a = jdoc_get(r, "a");
    raw = jdoc_raw(a, &len);
    CHECK_INT_EQ(len, strlen("[ 1 ,\"x\\\"\\u00e9\" , {\"b\":null} ]"));
    CHECK_MEM_EQ(raw, "[ 1 ,\"x\\\"\\u00e9\" , {\"b\":null} ]", len);
    raw = jdoc_raw(jdoc_at(a, 1), &len);
    CHECK_INT_EQ(len, strlen("\"x\\\"\\u00e9\""));
    CHECK_MEM_EQ(raw, "\"x\\\"\\u00e9\"", len);
    raw = jdoc_raw(jdoc_at(a, 2), &len);
    CHECK_INT_EQ(len, strlen("{\"b\":null}"));
    CHECK_MEM_EQ(raw, "{\"b\":null}", len);
    raw = jdoc_raw(jdoc_get(r, "c"), &len);
    CHECK_INT_EQ(len, 7);
    CHECK_MEM_EQ(raw, "-1.50e3", 7);
    raw = jdoc_raw(jdoc_get(r, "d"), NULL);
    CHECK(raw != NULL && memcmp(raw, "true", 4) == 0);

    /* Every raw text parses back to an equal value. */
    for (size_t i = 0; i < jdoc_len(r); i++) {
        raw = jdoc_raw(jdoc_at(r, i), &len);
        struct jdoc *back = NULL;
        int rc = jdoc_parse(raw, len, 0, &back);
        bool eq = rc == 0 && jdoc_equal(jdoc_root(back), jdoc_at(r, i));
        jdoc_free(back);
        CHECK_OK(rc);
        CHECK(eq);
    }
    jdoc_free(d);
}

static void test_equal(void)
{
    static const struct {
        const char *a, *b;
        bool equal;
    } cases[] = {
        { "1", "1", true },
        { "1", "1.0", false },
        { "1.0", "1.0", true },
        { "0", "-0", true },
        { "1e2", "100", false },
        { "100", " 100 ", true },
        { "9223372036854775808", "9223372036854775808", true },
        { "9223372036854775808", "9223372036854775809", false },
        { "-9223372036854775808", "-9223372036854775808", true },
        { "1", "2", false },
        { "1", "\"1\"", false },
        { "null", "null", true },
        { "null", "false", false },
        { "true", "true", true },
        { "true", "false", false },
        { "\"a\"", "\"\\u0061\"", true },
        { "\"\\u00e9\"", "\"\xc3\xa9\"", true },
        { "\"a\"", "\"ab\"", false },
        { "\"a\\u0000\"", "\"a\"", false },
        { "[]", "[]", true },
        { "[]", "{}", false },
        { "[1,2]", "[2,1]", false },
        { "[1,2]", "[1,2,3]", false },
        { "[1,[2,[3]]]", "[1,[2,[3]]]", true },
        { "[1,[2,[3]]]", "[1,[2,[4]]]", false },
        { "{}", "{}", true },
        { "{\"a\":1,\"b\":2}", "{\"b\":2,\"a\":1}", true },
        { "{\"a\":1,\"b\":2}", "{\"a\":1}", false },
        { "{\"a\":1}", "{\"a\":1,\"b\":2}", false },
        { "{\"a\":1,\"b\":2}", "{\"a\":1,\"c\":2}", false },
        { "{\"a\":{\"x\":[1,{\"y\":true}]}}", "{\"a\":{\"x\":[1,{\"y\":true}]}}", true },
        { "{\"a\":{\"x\":[1,{\"y\":true}]}}", "{\"a\":{\"x\":[1,{\"y\":false}]}}", false },
        { "{\"a\":{\"x\":1,\"y\":2}}", "{\"a\":{\"y\":2,\"x\":1}}", true },
        { "{\"a\":1,\"a\":2}", "{\"a\":2}", false },
        { "{\"a\":1,\"a\":2}", "{\"a\":3,\"a\":2}", false },
        { "{\"a\":1,\"a\":2}", "{\"a\":2,\"a\":1}", true },
        { "{\"a\":1,\"a\":1}", "{\"a\":1}", true },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct jdoc *a = NULL, *b = NULL;
        CHECK_OK(parse_str(cases[i].a, 0, &a));
        int rc = parse_str(cases[i].b, 0, &b);
        bool ab = rc == 0 && jdoc_equal(jdoc_root(a), jdoc_root(b));
        bool ba = rc == 0 && jdoc_equal(jdoc_root(b), jdoc_root(a));
        jdoc_free(a);
        jdoc_free(b);
        CHECK_OK(rc);
        if (ab != cases[i].equal || ba != cases[i].equal) {
            fprintf(stderr, "  %s vs %s: expected %s\n", cases[i].a, cases[i].b,
                    cases[i].equal ? "equal" : "different");
        }
        CHECK(ab == cases[i].equal);
        CHECK(ba == cases[i].equal);
    }
    struct jdoc *a = NULL;
    CHECK_OK(parse_str("1", 0, &a));
    bool with_null = jdoc_equal(jdoc_root(a), NULL);
    jdoc_free(a);
    CHECK(!with_null);
    CHECK(jdoc_equal(NULL, NULL));
}

static void test_to_json(void)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        { " { \"b\" : 1 , \"a\" : [ true , false , null ] } ",
          "{\"a\":[true,false,null],\"b\":1}" },
        { "{\"b\":{\"d\":1,\"c\":2},\"ab\":0,\"a\":-1.50e3}",
          "{\"a\":-1.50e3,\"ab\":0,\"b\":{\"c\":2,\"d\":1}}" },
        { "{\"\xc3\xa9\":1,\"z\":2,\"\":3}", "{\"\":3,\"z\":2,\"\xc3\xa9\":1}" },
        { "{\"a\":2,\"b\":0,\"a\":1}", "{\"a\":2,\"a\":1,\"b\":0}" },
        { "\"\\u0041\\/\\u00e9\\n\\u0001\\\"\\\\\"", "\"A/\xc3\xa9\\n\\u0001\\\"\\\\\"" },
        { "{\"k\\\"ey\":\"\\ud83d\\ude00\"}", "{\"k\\\"ey\":\"\xf0\x9f\x98\x80\"}" },
        { "[]", "[]" },
        { "{}", "{}" },
        { "[[],{},[{}]]", "[[],{},[{}]]" },
        /* More members than the sort's stack array holds. */
        { "{\"t\":0,\"s\":0,\"r\":0,\"q\":0,\"p\":0,\"o\":0,\"n\":0,\"m\":0,\"l\":0,\"k\":0,"
          "\"j\":0,\"i\":0,\"h\":0,\"g\":0,\"f\":0,\"e\":0,\"d\":0,\"c\":0,\"b\":0,\"a\":1}",
          "{\"a\":1,\"b\":0,\"c\":0,\"d\":0,\"e\":0,\"f\":0,\"g\":0,\"h\":0,\"i\":0,\"j\":0,"
          "\"k\":0,\"l\":0,\"m\":0,\"n\":0,\"o\":0,\"p\":0,\"q\":0,\"r\":0,\"s\":0,\"t\":0}" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct jdoc *d = NULL;
        CHECK_OK(parse_str(cases[i].in, 0, &d));
        struct buf b;
        buf_init(&b);
        CHECK_OK(buf_append_str(&b, ">"));
        int rc = jdoc_to_json(jdoc_root(d), &b);
        jdoc_free(d);
        const char *got = rc == 0 ? buf_cstr(&b) : NULL;
        bool same = got != NULL && strcmp(got + 1, cases[i].out) == 0 && got[0] == '>';
        if (!same) {
            fprintf(stderr, "  %s -> %s\n", cases[i].in, got ? got : "(error)");
        }
        buf_fini(&b);
        CHECK_OK(rc);
        CHECK(same);
    }
    struct buf b;
    buf_init(&b);
    int rc = jdoc_to_json(NULL, &b);
    bool is_null = rc == 0 && b.len == 4 && memcmp(b.data, "null", 4) == 0;
    buf_fini(&b);
    CHECK(is_null);
}

/* A large array, as a search response with thousands of hits: every
 * element is reachable by index and holds what was written. */
static void test_large_array(void)
{
    enum {
        N = 50000
    };
    struct buf in;
    buf_init(&in);
    int rc = buf_append_char(&in, '[');
    for (int i = 0; i < N && rc == 0; i++) {
        rc = buf_printf(&in, "%s{\"_id\":\"id%d\",\"n\":%d,\"raw\":\"{\\\"k\\\":%d}\"}",
                        i ? "," : "", i, i, i);
    }
    if (rc == 0) {
        rc = buf_append_char(&in, ']');
    }
    struct jdoc *d = NULL;
    if (rc == 0) {
        rc = jdoc_parse(in.data, in.len, 0, &d);
    }
    buf_fini(&in);
    CHECK_OK(rc);
    const struct jdoc_val *r = jdoc_root(d);
    bool ok = jdoc_len(r) == N;
    for (int i = 0; i < N && ok; i += 997) {
        const struct jdoc_val *h = jdoc_at(r, (size_t)i);
        int64_t n = -1;
        char want[32];
        snprintf(want, sizeof(want), "{\"k\":%d}", i);
        const char *raw = jdoc_str(jdoc_get(h, "raw"), NULL);
        ok = jdoc_int(jdoc_get(h, "n"), &n) && n == i && raw != NULL && strcmp(raw, want) == 0;
    }
    const struct jdoc_val *last = jdoc_at(r, N - 1);
    int64_t n = -1;
    ok = ok && jdoc_int(jdoc_get(last, "n"), &n) && n == N - 1;
    jdoc_free(d);
    CHECK(ok);
}

CHECK_MAIN({ "accepted", test_accepted }, { "rejected", test_rejected }, { "depth", test_depth },
           { "duplicate_keys", test_duplicate_keys }, { "accessors", test_accessors },
           { "owns_input", test_owns_input }, { "raw", test_raw }, { "equal", test_equal },
           { "to_json", test_to_json }, { "large_array", test_large_array })
