/* Tests for validate/canon: the NIP-01 canonical form and the id check. */
#include <string.h>

#include <openssl/sha.h>

#include "check.h"
#include "common/buf.h"
#include "common/hex.h"
#include "validate/canon.h"
#include "validate/event.h"

#define PKHEX "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define SIGHEX                                                         \
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" \
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* Builds an event JSON with the given id, tags and content JSON text. */
static void make_event(struct buf *b, const char *id_hex, const char *tags, const char *content)
{
    buf_reset(b);
    buf_printf(b,
               "{\"id\":\"%s\",\"pubkey\":\"" PKHEX "\",\"created_at\":1700000000,\"kind\":1,"
               "\"tags\":%s,\"content\":%s,\"sig\":\"" SIGHEX "\"}",
               id_hex, tags, content);
}

struct canon_case {
    const char *tags;    /* JSON as sent */
    const char *content; /* JSON as sent */
    const char *want;    /* expected canonical tail after the kind */
    size_t want_len;     /* when want holds a NUL byte; 0 means strlen */
};

static const struct canon_case cases[] = {
    /* Empty tags stay empty arrays. */
    { "[ [ ], [\"e\"] ]", "\"\"", "[[],[\"e\"]],\"\"]", 0 },
    { "[]", "\"\"", "[],\"\"]", 0 },
    { " [ ] ", "\"hello\"", "[],\"hello\"]", 0 },
    /* The seven NIP-01 escapes stay escaped, however they were written. */
    { "[]", "\"a\\nb\\\"c\\\\d\\re\\tf\\bg\\fh\"", "[],\"a\\nb\\\"c\\\\d\\re\\tf\\bg\\fh\"]", 0 },
    { "[]", "\"\\u000a\\u0022\\u005c\\u000D\\u0009\\u0008\\u000c\"",
      "[],\"\\n\\\"\\\\\\r\\t\\b\\f\"]", 0 },
    /* Everything else is raw UTF-8: other control characters, \/, unicode
     * escapes, emoji through a surrogate pair. */
    { "[]", "\"\\u0001\\u001f\\u0000\\/\"", "[],\"\x01\x1f\x00/\"]",
      sizeof("[],\"\x01\x1f\x00/\"]") - 1 },
    { "[]", "\"\\u00e9\\u20ac\\ud83d\\ude00 \xc3\xa9\xf0\x9f\xa6\xa4 \x7f\"",
      "[],\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 \xc3\xa9\xf0\x9f\xa6\xa4 \x7f\"]", 0 },
    /* Tags: whitespace removed, strings canonical, empty strings kept. */
    { "[ [ \"e\" , \"\\u0061b\" ] , [\"p\",\"\",\"x\\ny\"],[\"t\"] ]", "\"\"",
      "[[\"e\",\"ab\"],[\"p\",\"\",\"x\\ny\"],[\"t\"]],\"\"]", 0 },
};

static void test_canonical_form(void)
{
    struct buf ev_json, out;
    buf_init(&ev_json);
    buf_init(&out);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        make_event(&ev_json, "0000000000000000000000000000000000000000000000000000000000000000",
                   cases[i].tags, cases[i].content);
        struct event ev;
        const char *reason = NULL;
        int rc = event_parse(ev_json.data, ev_json.len, NULL, &ev, &reason);
        if (rc != 0) {
            fprintf(stderr, "  case %zu: %s\n", i, reason);
            buf_fini(&ev_json);
            buf_fini(&out);
            CHECK_OK(rc);
        }
        buf_reset(&out);
        rc = canon_serialize(&ev, CANON_NIP01, &out);
        char want[512];
        /* Expected strings may hold a NUL byte, so compare by length. */
        const char *head = "[0,\"" PKHEX "\",1700000000,1,";
        size_t head_len = strlen(head);
        memcpy(want, head, head_len);
        size_t tail_len = cases[i].want_len ? cases[i].want_len : strlen(cases[i].want);
        memcpy(want + head_len, cases[i].want, tail_len);
        size_t want_len = head_len + tail_len;
        int same = rc == 0 && out.len == want_len && memcmp(out.data, want, want_len) == 0;
        if (!same) {
            fprintf(stderr, "  case %zu: got %.*s\n", i, (int)out.len, out.data);
            buf_fini(&ev_json);
            buf_fini(&out);
        }
        CHECK(same);
    }
    buf_fini(&ev_json);
    buf_fini(&out);
}

/* The id of an event is SHA-256 over its canonical form; check it against
 * OpenSSL's one-shot SHA256 on the expected bytes, independently of canon. */
static void test_id_check(void)
{
    const char *want = "[0,\"" PKHEX "\",1700000000,1,[[\"e\",\"ab\"]],\"caf\xc3\xa9\\n\"]";
    uint8_t id[32];
    SHA256((const unsigned char *)want, strlen(want), id);
    char id_hex[65];
    hex_encode(id, 32, id_hex);
    id_hex[64] = '\0';

    struct buf json;
    buf_init(&json);
    make_event(&json, id_hex, "[[\"e\",\"\\u0061b\"]]", "\"caf\\u00e9\\n\"");
    struct event ev;
    const char *reason;
    struct canon_ctx c;
    int rc_init = canon_ctx_init(&c);
    int rc_parse = event_parse(json.data, json.len, NULL, &ev, &reason);
    uint8_t got[32] = { 0 };
    int rc_id = canon_compute_id(&c, &ev, CANON_NIP01, got);
    int rc_check = canon_check_id(&c, &ev);
    /* One changed byte in the content breaks it. */
    make_event(&json, id_hex, "[[\"e\",\"\\u0061b\"]]", "\"caf\\u00e9\\r\"");
    struct event ev2;
    int rc_parse2 = event_parse(json.data, json.len, NULL, &ev2, &reason);
    int rc_check2 = canon_check_id(&c, &ev2);
    canon_ctx_fini(&c);
    buf_fini(&json);
    CHECK_OK(rc_init);
    CHECK_OK(rc_parse);
    CHECK_OK(rc_id);
    CHECK_MEM_EQ(got, id, 32);
    CHECK_OK(rc_check);
    CHECK_OK(rc_parse2);
    CHECK_INT_EQ(rc_check2, OST_EBADID);
}

/* A client that signs JSON.stringify output writes U+0001 as \u0001; NIP-01
 * writes it raw. Both ids are accepted for such content, and only then. */
static void test_control_character_styles(void)
{
    const char *nip01 = "[0,\"" PKHEX "\",1700000000,1,[],\"a\x01z\"]";
    const char *jsesc = "[0,\"" PKHEX "\",1700000000,1,[],\"a\\u0001z\"]";
    const char *neither = "[0,\"" PKHEX "\",1700000000,1,[],\"a\\u0002z\"]";
    const char *const forms[] = { nip01, jsesc, neither };
    const int expect[] = { 0, 0, OST_EBADID };
    struct canon_ctx c;
    CHECK_OK(canon_ctx_init(&c));
    struct buf json;
    buf_init(&json);
    int rcs[3];
    for (int i = 0; i < 3; i++) {
        uint8_t id[32];
        char id_hex[65];
        SHA256((const unsigned char *)forms[i], strlen(forms[i]), id);
        hex_encode(id, 32, id_hex);
        id_hex[64] = '\0';
        make_event(&json, id_hex, "[]", "\"a\\u0001z\"");
        struct event ev;
        const char *reason;
        rcs[i] = event_parse(json.data, json.len, NULL, &ev, &reason);
        if (rcs[i] == 0) {
            rcs[i] = canon_check_id(&c, &ev);
        }
    }
    /* Without other control characters, only the NIP-01 form counts: a
     * tab is one of the seven escapes, so both styles agree. */
    const char *tab = "[0,\"" PKHEX "\",1700000000,1,[],\"a\\tz\"]";
    uint8_t id[32];
    char id_hex[65];
    SHA256((const unsigned char *)tab, strlen(tab), id);
    hex_encode(id, 32, id_hex);
    id_hex[64] = '\0';
    make_event(&json, id_hex, "[]", "\"a\\u0009z\"");
    struct event ev;
    const char *reason;
    int rc_tab = event_parse(json.data, json.len, NULL, &ev, &reason);
    rc_tab = rc_tab ? rc_tab : canon_check_id(&c, &ev);
    struct buf out;
    buf_init(&out);
    int rc_ser = canon_serialize(&ev, CANON_JSON_ESC, &out);
    int tab_same = rc_ser == 0 && out.len == strlen(tab) && memcmp(out.data, tab, out.len) == 0;
    buf_fini(&out);
    buf_fini(&json);
    canon_ctx_fini(&c);
    for (int i = 0; i < 3; i++) {
        CHECK_INT_EQ(rcs[i], expect[i]);
    }
    CHECK_OK(rc_tab);
    CHECK(tab_same);
}

static void test_sha256_known_answer(void)
{
    /* FIPS 180-2 example: SHA-256("abc"). */
    uint8_t want[32], got[32];
    CHECK_OK(hex_decode_any("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", 32,
                            want));
    struct canon_ctx c;
    CHECK_OK(canon_ctx_init(&c));
    int rc = canon_sha256(&c, "abc", 3, got);
    canon_ctx_fini(&c);
    CHECK_OK(rc);
    CHECK_MEM_EQ(got, want, 32);
}

CHECK_MAIN({ "canonical_form", test_canonical_form }, { "id_check", test_id_check },
           { "control_character_styles", test_control_character_styles },
           { "sha256_known_answer", test_sha256_known_answer })
