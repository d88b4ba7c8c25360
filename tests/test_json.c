/* Tests for common/json: strings, numbers, values, depth, escapes. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/buf.h"
#include "common/json.h"

/* Scans one whole value; 0 and the reason are returned through *reason. */
static int scan_all(const char *s, unsigned depth, const char **reason)
{
    const char *next = NULL;
    *reason = NULL;
    int rc = json_scan_value(s, s + strlen(s), depth, &next, reason);
    if (rc == 0 && json_skip_ws(next, s + strlen(s)) != s + strlen(s)) {
        *reason = "trailing";
        return OST_EPARSE;
    }
    return rc;
}

static void test_values_accepted(void)
{
    static const char *const ok[] = {
        "0",
        "-0",
        "1",
        "-12",
        "1.5",
        "1e3",
        "1E-3",
        "-0.25e+10",
        "true",
        "false",
        "null",
        "\"\"",
        "\"abc\"",
        "[]",
        "{}",
        " [ 1 , 2 ] ",
        "{\"a\":[1,{\"b\":null}],\"c\":\"d\"}",
        "\"\\u00e9\\ud83d\\ude00\\n\\t\\\"\\\\\\/\\b\\f\\r\"",
        "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
        "\"\x7f\"",
        "[[[[[]]]]]",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        const char *reason;
        int rc = scan_all(ok[i], 64, &reason);
        if (rc != 0) {
            fprintf(stderr, "  rejected %s: %s\n", ok[i], reason);
        }
        CHECK_OK(rc);
    }
}

static void test_values_rejected(void)
{
    static const struct {
        const char *json;
        const char *reason;
    } bad[] = {
        { "\"abc", "invalid: unterminated JSON string" },
        { "\"a\x01\"", "invalid: unescaped control character in JSON string" },
        { "\"a\\x\"", "invalid: bad escape sequence in JSON string" },
        { "\"\\u12G4\"", "invalid: bad escape sequence in JSON string" },
        { "\"\\ud800\"", "invalid: unpaired surrogate in JSON string \\u escape" },
        { "\"\\udc00\"", "invalid: unpaired surrogate in JSON string \\u escape" },
        { "\"\\ud800\\u0041\"", "invalid: unpaired surrogate in JSON string \\u escape" },
        { "\"\xff\"", "invalid: invalid UTF-8 in JSON string" },
        { "\"\xc0\xaf\"", "invalid: invalid UTF-8 in JSON string" },         /* overlong */
        { "\"\xed\xa0\x80\"", "invalid: invalid UTF-8 in JSON string" },     /* surrogate */
        { "\"\xf4\x90\x80\x80\"", "invalid: invalid UTF-8 in JSON string" }, /* > U+10FFFF */
        { "\"\xe2\x82\"", "invalid: invalid UTF-8 in JSON string" },         /* truncated */
        { "01", "invalid: malformed JSON number" },
        { "1.", "invalid: malformed JSON number" },
        { "-", "invalid: malformed JSON number" },
        { "1e", "invalid: malformed JSON number" },
        { "+1", "invalid: unexpected character in JSON" },
        { "tru", "invalid: unexpected character in JSON" },
        { "nulll", "invalid: unexpected character in JSON" },
        { "[1,]", "invalid: unexpected character in JSON" },
        { "[1 2]", "invalid: unexpected character in JSON" },
        { "{\"a\":1,}", "invalid: expected a string key in JSON object" },
        { "{1:2}", "invalid: expected a string key in JSON object" },
        { "{\"a\" 1}", "invalid: expected ':' after key in JSON object" },
        { "[1,2", "invalid: unexpected end of JSON" },
        { "", "invalid: unexpected end of JSON" },
        { "{\"a\":1]", "invalid: unexpected character in JSON" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *reason;
        int rc = scan_all(bad[i].json, 64, &reason);
        if (rc == 0 || reason == NULL || strcmp(reason, bad[i].reason) != 0) {
            fprintf(stderr, "  case %zu (%s): got %s\n", i, bad[i].json, reason ? reason : "ok");
        }
        CHECK_INT_EQ(rc, OST_EPARSE);
        CHECK_STR_EQ(reason, bad[i].reason);
    }
}

static void test_depth_limit(void)
{
    /* Exactly max_depth levels pass, one more fails, and 100,000 levels are
     * refused without recursion. */
    size_t n = 100000;
    char *deep = malloc(2 * n + 1);
    CHECK(deep != NULL);
    for (size_t i = 0; i < n; i++) {
        deep[i] = '[';
        deep[2 * n - 1 - i] = ']';
    }
    deep[2 * n] = '\0';
    const char *reason;
    const char *mid = deep + n - 10; /* ten levels: "[[[[[[[[[[]]]]]]]]]]" */
    char ten[21];
    memcpy(ten, mid, 20);
    ten[20] = '\0';
    int rc10 = scan_all(ten, 10, &reason);
    int rc9 = scan_all(ten, 9, &reason);
    const char *reason9 = reason;
    int rc_deep = scan_all(deep, 100000, &reason);
    free(deep);
    CHECK_OK(rc10);
    CHECK_INT_EQ(rc9, OST_EPARSE);
    CHECK_STR_EQ(reason9, "invalid: JSON nested too deeply");
    CHECK_INT_EQ(rc_deep, OST_EPARSE);
    CHECK_STR_EQ(reason, "invalid: JSON nested too deeply");

    /* Objects and arrays interleaved keep their own closing brackets. */
    CHECK_OK(scan_all("{\"a\":[{\"b\":[{}]}]}", 5, &reason));
    CHECK_INT_EQ(scan_all("{\"a\":[{\"b\":[{]}]}", 5, &reason), OST_EPARSE);
    /* Depth above 64 uses more than one word of the container bitmap. */
    char mixed[400];
    size_t k = 0;
    for (int i = 0; i < 70; i++) {
        mixed[k++] = i % 2 ? '[' : '{';
        if (i % 2 == 0) {
            memcpy(mixed + k, "\"k\":", 4);
            k += 4;
        }
    }
    mixed[k++] = '1';
    for (int i = 69; i >= 0; i--) {
        mixed[k++] = i % 2 ? ']' : '}';
    }
    mixed[k] = '\0';
    CHECK_OK(scan_all(mixed, 70, &reason));
    CHECK_INT_EQ(scan_all(mixed, 69, &reason), OST_EPARSE);
}

static void test_string_decode(void)
{
    const char *s = "\"a\\u00e9\\ud83d\\ude00\\n\\/\\\"z\"";
    struct json_str js;
    uint32_t dlen;
    const char *next, *reason;
    CHECK_OK(json_scan_string(s, s + strlen(s), &js, &dlen, &next, &reason));
    CHECK(js.has_escapes);
    CHECK(next == s + strlen(s));
    struct buf b;
    buf_init(&b);
    int rc = json_str_decode(&js, &b);
    const char *want = "a\xc3\xa9\xf0\x9f\x98\x80\n/\"z";
    int same = rc == 0 && b.len == strlen(want) && memcmp(b.data, want, b.len) == 0;
    size_t got_len = b.len;
    buf_fini(&b);
    CHECK(same);
    CHECK_INT_EQ(dlen, got_len);
    CHECK(json_str_equals(&js, want, strlen(want)));
    CHECK(!json_str_equals(&js, want, strlen(want) - 1));
    CHECK(!json_str_equals(&js, "a\xc3\xa9\xf0\x9f\x98\x80\n/\"y", strlen(want)));

    const char *plain = "\"plain\"";
    CHECK_OK(json_scan_string(plain, plain + 7, &js, &dlen, &next, &reason));
    CHECK(!js.has_escapes);
    CHECK_INT_EQ(dlen, 5);
    CHECK(json_str_equals(&js, "plain", 5));
}

static void test_ints(void)
{
    static const struct {
        const char *s;
        int rc;
        int64_t v;
    } cases[] = {
        { "0", 0, 0 },
        { "1700000000", 0, 1700000000 },
        { "-5", 0, -5 },
        { "9223372036854775807", 0, INT64_MAX },
        { "-9223372036854775808", 0, INT64_MIN },
        { "9223372036854775808", OST_ERANGE, 0 },
        { "-9223372036854775809", OST_ERANGE, 0 },
        { "99999999999999999999999", OST_ERANGE, 0 },
        { "1.0", OST_ERANGE, 0 },
        { "1e3", OST_ERANGE, 0 },
        { "\"1\"", OST_EPARSE, 0 },
        { "01", OST_EPARSE, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = -1;
        const char *next, *reason;
        int rc = json_scan_int(cases[i].s, cases[i].s + strlen(cases[i].s), &v, &next, &reason);
        if (rc != cases[i].rc) {
            fprintf(stderr, "  case %s\n", cases[i].s);
        }
        CHECK_INT_EQ(rc, cases[i].rc);
        if (rc == 0) {
            CHECK_INT_EQ(v, cases[i].v);
        }
    }
}

static void test_write_string(void)
{
    struct buf b;
    buf_init(&b);
    const char in[] = "a\"b\\c\n\x01\x1f\xc3\xa9";
    int rc = json_write_string(&b, in, sizeof(in) - 1);
    const char *out = buf_cstr(&b);
    int ok = rc == 0 && out && strcmp(out, "\"a\\\"b\\\\c\\n\\u0001\\u001f\xc3\xa9\"") == 0;
    /* What we write scans back to the same bytes. */
    struct json_str js;
    const char *next, *reason;
    int rc2 = json_scan_string(b.data, b.data + b.len, &js, NULL, &next, &reason);
    int same = rc2 == 0 && json_str_equals(&js, in, sizeof(in) - 1);
    buf_fini(&b);
    CHECK(ok);
    CHECK(same);
}

static void test_reason_table_covered(void)
{
    /* Every reason in the table is produced by some input above or here. */
    static const char *const inputs[] = {
        "\"abc", "\"a\x01\"", "\"a\\x\"", "\"\\ud800\"", "\"\xff\"",
        "01",    "tru",       "[1,2",     "{1:2}",       "{\"a\" 1}",
    };
    bool seen[32] = { false };
    size_t n_reasons = 0;
    while (json_reasons[n_reasons] != NULL) {
        n_reasons++;
    }
    for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
        const char *reason = NULL;
        scan_all(inputs[i], 64, &reason);
        for (size_t r = 0; r < n_reasons; r++) {
            if (reason && strcmp(reason, json_reasons[r]) == 0) {
                seen[r] = true;
            }
        }
    }
    const char *reason = NULL;
    int64_t v;
    const char *next;
    json_scan_int("1.5", "1.5" + 3, &v, &next, &reason);
    for (size_t r = 0; r < n_reasons; r++) {
        seen[r] |= reason && strcmp(reason, json_reasons[r]) == 0;
    }
    json_scan_int("99999999999999999999", "99999999999999999999" + 20, &v, &next, &reason);
    for (size_t r = 0; r < n_reasons; r++) {
        seen[r] |= reason && strcmp(reason, json_reasons[r]) == 0;
    }
    const char *deep = "[[[";
    scan_all(deep, 2, &reason);
    for (size_t r = 0; r < n_reasons; r++) {
        seen[r] |= reason && strcmp(reason, json_reasons[r]) == 0;
    }
    for (size_t r = 0; r < n_reasons; r++) {
        if (!seen[r]) {
            fprintf(stderr, "  never produced: %s\n", json_reasons[r]);
        }
        CHECK(seen[r]);
    }
}

static void test_str_to_uint(void)
{
    static const struct {
        const char *json; /* a JSON string literal, quotes included */
        uint64_t max;
        bool ok;
        uint64_t want;
    } cases[] = {
        { "\"0\"", 10, true, 0 },
        { "\"10\"", 10, true, 10 },
        { "\"11\"", 10, false, 0 },
        { "\"\\u0032\\u0030\"", 256, true, 20 },
        { "\"18446744073709551615\"", UINT64_MAX, true, UINT64_MAX },
        { "\"18446744073709551616\"", UINT64_MAX, false, 0 },
        { "\"9223372036854775807\"", INT64_MAX, true, INT64_MAX },
        { "\"9223372036854775808\"", INT64_MAX, false, 0 },
        { "\"007\"", 256, false, 0 },
        { "\"\"", 256, false, 0 },
        { "\"-1\"", 256, false, 0 },
        { "\" 1\"", 256, false, 0 },
        { "\"1.0\"", 256, false, 0 },
        { "\"5\"", 3, false, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct json_str js;
        const char *next, *reason;
        const char *t = cases[i].json;
        CHECK_OK(json_scan_string(t, t + strlen(t), &js, NULL, &next, &reason));
        uint64_t v = 12345;
        bool ok = json_str_to_uint(&js, cases[i].max, &v);
        if (ok != cases[i].ok) {
            fprintf(stderr, "  case %zu: %s\n", i, t);
        }
        CHECK(ok == cases[i].ok);
        CHECK(v == (ok ? cases[i].want : 12345)); /* out is written only on success */
    }
}

CHECK_MAIN({ "values_accepted", test_values_accepted }, { "values_rejected", test_values_rejected },
           { "depth_limit", test_depth_limit }, { "string_decode", test_string_decode },
           { "ints", test_ints }, { "write_string", test_write_string },
           { "reason_table_covered", test_reason_table_covered },
           { "str_to_uint", test_str_to_uint })
