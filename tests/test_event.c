/* Tests for validate/event: strict parsing, every rejection reason, tags. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/buf.h"
#include "common/hex.h"
#include "validate/event.h"

#define ID      \
    "\"id\":\"" \
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\""
#define PK          \
    "\"pubkey\":\"" \
    "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\""
#define SIG                                                            \
    "\"sig\":\""                                                       \
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" \
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\""
#define BASE ID "," PK ",\"created_at\":1700000000,\"kind\":1,"
#define GOOD \
    "{" BASE "\"tags\":[[\"e\",\"abc\"],[\"p\",\"x\",\"wss://r\"]],\"content\":\"hi\"," SIG "}"

static void test_parse_good(void)
{
    const char *json = "  " GOOD "\n";
    struct event ev;
    const char *reason = NULL;
    CHECK_OK(event_parse(json, strlen(json), NULL, &ev, &reason));
    uint8_t id[32];
    CHECK_OK(hex_decode_lower("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                              32, id));
    CHECK_MEM_EQ(ev.id, id, 32);
    CHECK_INT_EQ(ev.pubkey[0], 0xfe);
    CHECK_INT_EQ(ev.sig[63], 0xff);
    CHECK_INT_EQ(ev.created_at, 1700000000);
    CHECK_INT_EQ(ev.kind, 1);
    CHECK_INT_EQ(ev.n_tags, 2);
    CHECK(ev.json == json + 2);
    CHECK_INT_EQ(ev.json_len, strlen(GOOD));
    CHECK_INT_EQ(ev.content.len, 2);
    CHECK(memcmp(ev.content.p, "hi", 2) == 0);
    CHECK_INT_EQ(ev.content_decoded_len, 2);
    CHECK(ev.tags[0] == '[' && ev.tags[ev.tags_len - 1] == ']');
}

static void test_field_order_and_whitespace(void)
{
    const char *json =
        "{ \"sig\" : \"00112233445566778899aabbccddeeff00112233445566778899aabbccdd"
        "eeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\" ,"
        "\"content\":\"\",\"tags\":[ ],\"kind\":65535,\"created_at\":0," PK "," ID "}";
    struct event ev;
    const char *reason = NULL;
    CHECK_OK(event_parse(json, strlen(json), NULL, &ev, &reason));
    CHECK_INT_EQ(ev.kind, 65535);
    CHECK_INT_EQ(ev.created_at, 0);
    CHECK_INT_EQ(ev.n_tags, 0);
    CHECK_INT_EQ(ev.content.len, 0);
}

struct bad_case {
    const char *json;
    const char *reason;
};

static const struct bad_case bad_cases[] = {
    { "[]", "invalid: event must be a JSON object" },
    { "", "invalid: event must be a JSON object" },
    { "{}", "invalid: event has no \"id\"" },
    { "{" PK ",\"created_at\":1,\"kind\":1,\"tags\":[],\"content\":\"\"," SIG "}",
      "invalid: event has no \"id\"" },
    { "{" ID ",\"created_at\":1,\"kind\":1,\"tags\":[],\"content\":\"\"," SIG "}",
      "invalid: event has no \"pubkey\"" },
    { "{" ID "," PK ",\"kind\":1,\"tags\":[],\"content\":\"\"," SIG "}",
      "invalid: event has no \"created_at\"" },
    { "{" ID "," PK ",\"created_at\":1,\"tags\":[],\"content\":\"\"," SIG "}",
      "invalid: event has no \"kind\"" },
    { "{" BASE "\"content\":\"\"," SIG "}", "invalid: event has no \"tags\"" },
    { "{" BASE "\"tags\":[]," SIG "}", "invalid: event has no \"content\"" },
    { "{" BASE "\"tags\":[],\"content\":\"\"}", "invalid: event has no \"sig\"" },
    { "{" BASE "\"tags\":[],\"content\":\"\"," SIG ",\"extra\":1}",
      "invalid: unknown field in event (allowed: id, pubkey, created_at, kind, tags, content, "
      "sig)" },
    { "{" BASE "\"tags\":[],\"content\":\"\"," SIG "," ID "}",
      "invalid: duplicate field in event" },
    { "{\"id\":\"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\"}",
      "invalid: \"id\" must be 64 lowercase hex characters" },
    { "{\"id\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\"}",
      "invalid: \"id\" must be 64 lowercase hex characters" },
    { "{\"id\":123}", "invalid: \"id\" must be 64 lowercase hex characters" },
    { "{\"pubkey\":\"zz23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}",
      "invalid: \"pubkey\" must be 64 lowercase hex characters" },
    { "{\"sig\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}",
      "invalid: \"sig\" must be 128 lowercase hex characters" },
    { "{\"created_at\":-1}", "invalid: \"created_at\" must be a non-negative integer" },
    { "{\"created_at\":1.5}", "invalid: \"created_at\" must be a non-negative integer" },
    { "{\"created_at\":\"1\"}", "invalid: \"created_at\" must be a non-negative integer" },
    { "{\"created_at\":99999999999999999999}",
      "invalid: \"created_at\" must be a non-negative integer" },
    { "{\"kind\":65536}", "invalid: \"kind\" must be an integer between 0 and 65535" },
    { "{\"kind\":-1}", "invalid: \"kind\" must be an integer between 0 and 65535" },
    { "{\"kind\":1e2}", "invalid: \"kind\" must be an integer between 0 and 65535" },
    { "{\"tags\":{}}", "invalid: \"tags\" must be an array of arrays of strings" },
    { "{\"tags\":[\"e\"]}", "invalid: \"tags\" must be an array of arrays of strings" },
    { "{\"tags\":[[\"e\",1]]}", "invalid: \"tags\" must be an array of arrays of strings" },
    { "{\"tags\":[[\"e\",null]]}", "invalid: \"tags\" must be an array of arrays of strings" },
    { "{\"tags\":[[\"e\"],]}", "invalid: \"tags\" must be an array of arrays of strings" },
    { "{\"tags\":[[\"\",\"x\"]]}", "invalid: every tag must start with a non-empty string" },
    { "{\"content\":null}", "invalid: \"content\" must be a string" },
    { "{\"content\":\"\\ud800\"}", "invalid: unpaired surrogate in JSON string \\u escape" },
    { "{\"content\":\"\xc3\x28\"}", "invalid: invalid UTF-8 in JSON string" },
    { "{\"tags\":[[\"t\",\"\xff\"]]}", "invalid: invalid UTF-8 in JSON string" },
    { "{" BASE "\"tags\":[],\"content\":\"\"," SIG "} x",
      "invalid: unexpected data after the event object" },
    { "{" ID " " PK "}", "invalid: malformed event JSON" },
    { "{" ID ",}", "invalid: malformed event JSON" },
    { "{\"id\"", "invalid: malformed event JSON" },
};

static void test_rejections(void)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        struct event ev;
        const char *reason = NULL;
        int rc = event_parse(bad_cases[i].json, strlen(bad_cases[i].json), NULL, &ev, &reason);
        if (rc == 0 || reason == NULL || strcmp(reason, bad_cases[i].reason) != 0) {
            fprintf(stderr, "  case %zu: %s\n    got %s\n", i, bad_cases[i].json,
                    rc == 0 ? "accepted" : reason);
        }
        CHECK_INT_EQ(rc, OST_EPARSE);
        CHECK_STR_EQ(reason, bad_cases[i].reason);
    }
}

static void test_limits(void)
{
    struct event_limits lim = { .max_tags = 2, .max_content_len = 4 };
    struct event ev;
    const char *reason = NULL;
    const char *at = "{" BASE "\"tags\":[[\"a\"],[\"b\"]],\"content\":\"\\u00e9\\u00e9\"," SIG "}";
    CHECK_OK(event_parse(at, strlen(at), &lim, &ev, &reason)); /* 2 tags, 4 bytes */
    const char *tags3 = "{" BASE "\"tags\":[[\"a\"],[\"b\"],[\"c\"]],\"content\":\"\"," SIG "}";
    CHECK_INT_EQ(event_parse(tags3, strlen(tags3), &lim, &ev, &reason), OST_EREJECT);
    CHECK_STR_EQ(reason, "invalid: too many tags (over the relay's max_event_tags limit)");
    const char *long5 = "{" BASE "\"tags\":[],\"content\":\"\\u00e9\\u00e9x\"," SIG "}";
    CHECK_INT_EQ(event_parse(long5, strlen(long5), &lim, &ev, &reason), OST_EREJECT);
    CHECK_STR_EQ(reason, "invalid: content too long (over the relay's max_content_bytes limit)");
    /* No limits: both pass. */
    CHECK_OK(event_parse(tags3, strlen(tags3), NULL, &ev, &reason));
    CHECK_OK(event_parse(long5, strlen(long5), NULL, &ev, &reason));
}

static void test_every_reason_reached(void)
{
    /* Each reason of the module's table is produced by a case above. */
    struct event_limits lim = { .max_tags = 1, .max_content_len = 1 };
    const char *extra[] = {
        "{\"tags\":[[\"a\"],[\"b\"]]}",
        "{\"content\":\"ab\"}",
    };
    for (size_t r = 0; event_reasons[r] != NULL; r++) {
        bool seen = false;
        for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
            seen |= strcmp(bad_cases[i].reason, event_reasons[r]) == 0;
        }
        for (size_t i = 0; i < 2; i++) {
            struct event ev;
            const char *reason = NULL;
            if (event_parse(extra[i], strlen(extra[i]), &lim, &ev, &reason) < 0) {
                seen |= strcmp(reason, event_reasons[r]) == 0;
            }
        }
        if (!seen) {
            fprintf(stderr, "  never produced: %s\n", event_reasons[r]);
        }
        CHECK(seen);
    }
}

static void test_empty_tags_accepted(void)
{
    /* Empty tags are accepted and iterate as tags with no strings. */
    const char *json = "{" BASE "\"tags\":[[],[\"e\",\"x\"],[ ]],\"content\":\"\"," SIG "}";
    struct event ev;
    const char *reason = NULL;
    CHECK_OK(event_parse(json, strlen(json), NULL, &ev, &reason));
    CHECK_INT_EQ(ev.n_tags, 3);
    struct event_tag_iter tags, fields;
    struct json_str s;
    int per_tag[3] = { 0 }, i = 0;
    event_tags_begin(&ev, &tags);
    while (event_tags_next(&tags, &fields) && i < 3) {
        while (event_tag_next_str(&fields, &s)) {
            per_tag[i]++;
        }
        i++;
    }
    CHECK_INT_EQ(i, 3);
    CHECK_INT_EQ(per_tag[0], 0);
    CHECK_INT_EQ(per_tag[1], 2);
    CHECK_INT_EQ(per_tag[2], 0);
}

static void test_tag_iteration(void)
{
    const char *json = "{" BASE "\"tags\":[ [\"e\" , \"a]b\\\"c\"],[\"p\"],[\"t\",\"x\",\"\"] ],"
                       "\"content\":\"\"," SIG "}";
    struct event ev;
    const char *reason = NULL;
    CHECK_OK(event_parse(json, strlen(json), NULL, &ev, &reason));
    CHECK_INT_EQ(ev.n_tags, 3);
    struct event_tag_iter tags, fields;
    struct json_str s;
    struct buf out;
    buf_init(&out);
    event_tags_begin(&ev, &tags);
    int n_tags = 0;
    while (event_tags_next(&tags, &fields)) {
        n_tags++;
        buf_append_char(&out, '|');
        while (event_tag_next_str(&fields, &s)) {
            json_str_decode(&s, &out);
            buf_append_char(&out, ',');
        }
    }
    const char *got = buf_cstr(&out);
    int same = got && strcmp(got, "|e,a]b\"c,|p,|t,x,,") == 0;
    if (!same) {
        fprintf(stderr, "  got %s\n", got ? got : "(null)");
    }
    buf_fini(&out);
    CHECK_INT_EQ(n_tags, 3);
    CHECK(same);
}

static void test_peek_id(void)
{
    uint8_t id[32];
    const char *broken = "{\"kind\":[1,{\"x\":2}]," ID ",\"sig\":5";
    CHECK_OK(event_peek_id(broken, strlen(broken), id));
    CHECK_INT_EQ(id[0], 0x01);
    CHECK_INT_EQ(id[31], 0xef);
    const char *none = "{\"kind\":1,\"pubkey\":\"ab\"}";
    CHECK_INT_EQ(event_peek_id(none, strlen(none), id), OST_ENOENT);
    const char *short_id = "{\"id\":\"abc\"}";
    CHECK_INT_EQ(event_peek_id(short_id, strlen(short_id), id), OST_ENOENT);
    CHECK_INT_EQ(event_peek_id("[1]", 3, id), OST_ENOENT);
}

static void test_kind_classes(void)
{
    CHECK(event_kind_is_replaceable(0));
    CHECK(event_kind_is_replaceable(3));
    CHECK(!event_kind_is_replaceable(1));
    CHECK(event_kind_is_replaceable(10000));
    CHECK(event_kind_is_replaceable(19999));
    CHECK(!event_kind_is_replaceable(20000));
    CHECK(event_kind_is_ephemeral(20000));
    CHECK(event_kind_is_ephemeral(29999));
    CHECK(!event_kind_is_ephemeral(30000));
    CHECK(event_kind_is_addressable(30000));
    CHECK(event_kind_is_addressable(39999));
    CHECK(!event_kind_is_addressable(40000));
}

CHECK_MAIN({ "parse_good", test_parse_good },
           { "field_order_and_whitespace", test_field_order_and_whitespace },
           { "rejections", test_rejections }, { "limits", test_limits },
           { "every_reason_reached", test_every_reason_reached },
           { "empty_tags_accepted", test_empty_tags_accepted },
           { "tag_iteration", test_tag_iteration }, { "peek_id", test_peek_id },
           { "kind_classes", test_kind_classes })
