/* Tests for relay/proto: parsing client messages, formatting replies. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/buf.h"
#include "relay/proto.h"

static int parse(const char *s, struct proto_msg *m, bool *has_sub, const char **reason)
{
    *reason = NULL;
    return proto_parse(s, strlen(s), m, has_sub, reason);
}

static void test_event(void)
{
    const char *s = " [ \"EVENT\" , {\"id\":\"x\",\"tags\":[[\"e\",\"y\"]]} ] ";
    struct proto_msg m;
    bool has_sub;
    const char *reason;
    CHECK_OK(parse(s, &m, &has_sub, &reason));
    CHECK_INT_EQ(m.type, PROTO_EVENT);
    CHECK_INT_EQ(m.event_len, strlen("{\"id\":\"x\",\"tags\":[[\"e\",\"y\"]]}"));
    CHECK(memcmp(m.event, "{\"id\"", 5) == 0);
    CHECK(!has_sub);
}

static void test_req_count_close(void)
{
    struct proto_msg m;
    bool has_sub;
    const char *reason;
    const char *req = "[\"REQ\",\"sub\\u00e9\",{\"kinds\":[1]}, {\"#e\":[\"a\"]}]";
    CHECK_OK(parse(req, &m, &has_sub, &reason));
    CHECK_INT_EQ(m.type, PROTO_REQ);
    CHECK(has_sub);
    CHECK_STR_EQ(m.sub_id, "sub\xc3\xa9");
    CHECK_INT_EQ(m.sub_id_len, 5);
    CHECK_INT_EQ(m.filters_len, strlen("{\"kinds\":[1]}, {\"#e\":[\"a\"]}"));
    CHECK(memcmp(m.filters, "{\"kinds\":[1]}, {\"#e\":[\"a\"]}", m.filters_len) == 0);

    CHECK_OK(parse("[\"COUNT\",\"c\",{}]", &m, &has_sub, &reason));
    CHECK_INT_EQ(m.type, PROTO_COUNT);
    CHECK_INT_EQ(m.filters_len, 2);
    CHECK_OK(parse("[\"AUTH\", {\"kind\":22242} ]", &m, &has_sub, &reason));
    CHECK_INT_EQ(m.type, PROTO_AUTH);
    CHECK_INT_EQ(m.event_len, strlen("{\"kind\":22242}"));
    CHECK(memcmp(m.event, "{\"kind\":22242}", m.event_len) == 0);
    CHECK(!has_sub);
    CHECK_OK(parse("[\"CLOSE\",\"s1\"]", &m, &has_sub, &reason));
    CHECK_INT_EQ(m.type, PROTO_CLOSE);
    CHECK_STR_EQ(m.sub_id, "s1");

    /* 64 characters is the longest id; 65 is refused. */
    char id64[65];
    memset(id64, 'a', 64);
    id64[64] = '\0';
    char msg[200];
    snprintf(msg, sizeof(msg), "[\"REQ\",\"%s\",{}]", id64);
    CHECK_OK(parse(msg, &m, &has_sub, &reason));
    snprintf(msg, sizeof(msg), "[\"REQ\",\"%sa\",{}]", id64);
    CHECK_INT_EQ(parse(msg, &m, &has_sub, &reason), OST_EPARSE);
    CHECK(!has_sub);
    CHECK_STR_EQ(reason,
                 "invalid: subscription id must be a non-empty string of at most 64 characters");

    /* Characters, not bytes: 64 two-byte characters pass, 65 do not, and
     * 64 four-byte ones (the most bytes an id can take) pass. */
    char big[600];
    for (int n = 64; n <= 65; n++) {
        size_t k = 0;
        k += (size_t)snprintf(big, sizeof(big), "[\"REQ\",\"");
        for (int i = 0; i < n; i++) {
            memcpy(big + k, "\xc3\xa9", 2);
            k += 2;
        }
        snprintf(big + k, sizeof(big) - k, "\",{}]");
        int rc = parse(big, &m, &has_sub, &reason);
        CHECK_INT_EQ(rc, n == 64 ? 0 : OST_EPARSE);
        if (n == 64) {
            CHECK_INT_EQ(m.sub_id_len, 128);
        }
    }
    size_t k = (size_t)snprintf(big, sizeof(big), "[\"REQ\",\"");
    for (int i = 0; i < 64; i++) {
        memcpy(big + k, "\xf0\x9f\xa6\x9a", 4);
        k += 4;
    }
    snprintf(big + k, sizeof(big) - k, "\",{}]");
    CHECK_OK(parse(big, &m, &has_sub, &reason));
    CHECK_INT_EQ(m.sub_id_len, 256);
}

static const struct {
    const char *msg;
    const char *reason;
    bool has_sub;
} bad[] = {
    { "{}", "invalid: message must be a JSON array whose first element is the message type",
      false },
    { "[1,2]", "invalid: message must be a JSON array whose first element is the message type",
      false },
    { "[\"HELLO\",1]", "invalid: unknown message type (expected EVENT, REQ, CLOSE, COUNT or AUTH)",
      false },
    { "[\"EVENT\"]", "invalid: EVENT message must be [\"EVENT\", <event object>]", false },
    { "[\"EVENT\",[]]", "invalid: EVENT message must be [\"EVENT\", <event object>]", false },
    { "[\"EVENT\",{},{}]", "invalid: EVENT message must be [\"EVENT\", <event object>]", false },
    { "[\"AUTH\",\"x\"]", "invalid: AUTH message must be [\"AUTH\", <signed event object>]",
      false },
    { "[\"AUTH\",{},1]", "invalid: AUTH message must be [\"AUTH\", <signed event object>]", false },
    { "[\"REQ\"]", "invalid: REQ message must be [\"REQ\", <subscription id>, <filter>, ...]",
      false },
    { "[\"COUNT\"]", "invalid: COUNT message must be [\"COUNT\", <subscription id>, <filter>, ...]",
      false },
    { "[\"CLOSE\"]", "invalid: CLOSE message must be [\"CLOSE\", <subscription id>]", false },
    { "[\"CLOSE\",\"a\",1]", "invalid: CLOSE message must be [\"CLOSE\", <subscription id>]",
      true },
    { "[\"REQ\",\"\",{}]",
      "invalid: subscription id must be a non-empty string of at most 64 characters", false },
    { "[\"REQ\",5,{}]",
      "invalid: subscription id must be a non-empty string of at most 64 characters", false },
    { "[\"REQ\",\"a\"]", "invalid: REQ needs at least one filter", true },
    { "[\"REQ\",\"a\",{},[]]", "invalid: filters must be JSON objects", true },
    { "[\"REQ\",\"a\",{}] x", "invalid: unexpected data after the JSON message", false },
    { "[\"REQ\",\"a\",{}", "invalid: unexpected end of JSON", false },
    { "[[[[[[[[[[[[1]]]]]]]]]]]]", "invalid: JSON nested too deeply", false },
};

static void test_rejections(void)
{
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct proto_msg m;
        bool has_sub = false;
        const char *reason;
        int rc = parse(bad[i].msg, &m, &has_sub, &reason);
        if (rc == 0 || reason == NULL || strcmp(reason, bad[i].reason) != 0 ||
            has_sub != bad[i].has_sub) {
            fprintf(stderr, "  case %zu (%s): rc %d reason %s has_sub %d\n", i, bad[i].msg, rc,
                    reason ? reason : "(none)", has_sub);
        }
        CHECK_INT_EQ(rc, OST_EPARSE);
        CHECK_STR_EQ(reason, bad[i].reason);
        CHECK_INT_EQ(has_sub, bad[i].has_sub);
    }
    /* Every reason of the table is produced by a case above. */
    for (size_t r = 0; proto_reasons[r] != NULL; r++) {
        bool seen = false;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            seen |= strcmp(proto_reasons[r], bad[i].reason) == 0;
        }
        if (!seen) {
            fprintf(stderr, "  never produced: %s\n", proto_reasons[r]);
        }
        CHECK(seen);
    }
}

static void test_deep_nesting_is_cheap(void)
{
    /* 100,000 levels: refused at the depth bound, no recursion. */
    size_t n = 100000;
    char *s = malloc(2 * n + 1);
    CHECK(s != NULL);
    memset(s, '[', n);
    memset(s + n, ']', n);
    s[2 * n] = '\0';
    struct proto_msg m;
    bool has_sub;
    const char *reason;
    int rc = parse(s, &m, &has_sub, &reason);
    free(s);
    CHECK_INT_EQ(rc, OST_EPARSE);
    CHECK_STR_EQ(reason, "invalid: JSON nested too deeply");
}

static void test_format(void)
{
    struct buf b;
    buf_init(&b);
    uint8_t id[32];
    memset(id, 0xab, 32);
    int rc = proto_fmt_ok(&b, id, false, "invalid: \"quoted\"");
    const char *ok = buf_cstr(&b);
    int ok_same = rc == 0 && ok &&
                  strcmp(ok, "[\"OK\",\"abababababababababababababababababababababababababababab"
                             "abababab\",false,\"invalid: \\\"quoted\\\"\"]") == 0;
    buf_reset(&b);
    rc |= proto_fmt_event(&b, "s\"1", 3, "{\"a\":1}", 7);
    int ev_same = strcmp(buf_cstr(&b), "[\"EVENT\",\"s\\\"1\",{\"a\":1}]") == 0;
    buf_reset(&b);
    rc |= proto_fmt_eose(&b, "s", 1, false);
    int eose_same = strcmp(buf_cstr(&b), "[\"EOSE\",\"s\"]") == 0;
    buf_reset(&b);
    rc |= proto_fmt_eose(&b, "s", 1, true);
    eose_same &= strcmp(buf_cstr(&b), "[\"EOSE\",\"s\",[\"finish\"]]") == 0;
    buf_reset(&b);
    rc |= proto_fmt_closed(&b, "s", 1, "error: x");
    int closed_same = strcmp(buf_cstr(&b), "[\"CLOSED\",\"s\",\"error: x\"]") == 0;
    buf_reset(&b);
    rc |= proto_fmt_notice(&b, "invalid: y");
    int notice_same = strcmp(buf_cstr(&b), "[\"NOTICE\",\"invalid: y\"]") == 0;
    buf_reset(&b);
    rc |= proto_fmt_count(&b, "c", 1, 42, NULL, 0);
    int count_same = strcmp(buf_cstr(&b), "[\"COUNT\",\"c\",{\"count\":42}]") == 0;
    buf_reset(&b);
    rc |= proto_fmt_count(&b, "c", 1, 7, "00ff", 4);
    int hll_same = strcmp(buf_cstr(&b), "[\"COUNT\",\"c\",{\"count\":7,\"hll\":\"00ff\"}]") == 0;
    buf_reset(&b);
    rc |= proto_fmt_auth(&b, "0123abcd");
    int auth_same = strcmp(buf_cstr(&b), "[\"AUTH\",\"0123abcd\"]") == 0;
    buf_fini(&b);
    CHECK_OK(rc);
    CHECK(ok_same);
    CHECK(ev_same);
    CHECK(eose_same);
    CHECK(closed_same);
    CHECK(notice_same);
    CHECK(count_same);
    CHECK(hll_same);
    CHECK(auth_same);
}

CHECK_MAIN({ "event", test_event }, { "req_count_close", test_req_count_close },
           { "rejections", test_rejections },
           { "deep_nesting_is_cheap", test_deep_nesting_is_cheap }, { "format", test_format })
