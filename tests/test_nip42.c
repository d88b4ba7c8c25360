/* Tests for nips/nip42 and nips/nip70: every AUTH rejection, the ten-minute
 * window on both sides, relay URL matching, sessions, the write/read/DM
 * rules, and the protected-event rule. Events are parsed, not signed: the
 * signature is verify_event's business, before these checks. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "common/buf.h"
#include "common/hex.h"
#include "filters/filter.h"
#include "nips/nip42.h"
#include "nips/nip70.h"
#include "validate/event.h"

#define NOW       1700000000
#define CHALLENGE "00112233445566778899aabbccddeeff"
#define PK_A      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define PK_B      "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define PK_C      "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

/* One parsed event; the JSON lives in b. */
struct test_event {
    struct buf b;
    struct event ev;
};

static bool make_event(struct test_event *t, const char *pubkey, uint32_t kind, int64_t created_at,
                       const char *tags)
{
    buf_init(&t->b);
    const char *reason;
    buf_printf(&t->b,
               "{\"id\":\"%064d\",\"pubkey\":\"%s\",\"created_at\":%lld,\"kind\":%u,"
               "\"tags\":%s,\"content\":\"\",\"sig\":\"%0128d\"}",
               0, pubkey, (long long)created_at, kind, tags, 0);
    bool ok = event_parse(t->b.data, t->b.len, NULL, &t->ev, &reason) == 0;
    if (!ok) {
        fprintf(stderr, "    cannot parse %s: %s\n", buf_cstr(&t->b), reason);
    }
    return ok;
}

/* nip42_check_auth on an AUTH event with the given fields. */
static int check_auth(uint32_t kind, int64_t created_at, const char *tags, const char *relay_url,
                      const char **reason)
{
    struct test_event t;
    int rc = make_event(&t, PK_A, kind, created_at, tags)
                 ? nip42_check_auth(&t.ev, CHALLENGE, relay_url, NOW, reason)
                 : OST_EINVAL;
    buf_fini(&t.b);
    return rc;
}

#define GOOD_TAGS "[[\"relay\",\"wss://relay.example.org/\"],[\"challenge\",\"" CHALLENGE "\"]]"

static void test_auth_event(void)
{
    static const struct {
        uint32_t kind;
        int64_t created_at;
        const char *tags;
        const char *relay_url;
        const char *want; /* NULL: accepted */
    } cases[] = {
        { 22242, NOW, GOOD_TAGS, "", NULL },
        { 22242, NOW, GOOD_TAGS, "wss://relay.example.org", NULL },
        /* The window, both sides: exactly ten minutes is accepted. */
        { 22242, NOW - 600, GOOD_TAGS, "", NULL },
        { 22242, NOW + 600, GOOD_TAGS, "", NULL },
        { 22242, NOW - 601, GOOD_TAGS, "",
          "invalid: AUTH event created_at must be within 10 minutes of the relay's time" },
        { 22242, NOW + 601, GOOD_TAGS, "",
          "invalid: AUTH event created_at must be within 10 minutes of the relay's time" },
        { 1, NOW, GOOD_TAGS, "", "invalid: AUTH event must be of kind 22242" },
        { 22242, NOW, "[[\"relay\",\"wss://r/\"]]", "",
          "invalid: AUTH event has no \"challenge\" tag" },
        { 22242, NOW, "[[\"relay\",\"wss://r/\"],[\"challenge\"]]", "",
          "invalid: AUTH event has no \"challenge\" tag" },
        { 22242, NOW, "[[\"relay\",\"wss://r/\"],[\"challenge\",\"00112233\"]]", "",
          "invalid: AUTH event \"challenge\" tag does not match this connection's" },
        { 22242, NOW, "[[\"challenge\",\"" CHALLENGE "\"]]", "",
          "invalid: AUTH event has no \"relay\" tag" },
        { 22242, NOW, "[[\"relay\",\"https://r/\"],[\"challenge\",\"" CHALLENGE "\"]]", "",
          "invalid: AUTH event \"relay\" tag does not name this relay" },
        { 22242, NOW, GOOD_TAGS, "wss://other.example.org/",
          "invalid: AUTH event \"relay\" tag does not name this relay" },
        { 22242, NOW, "[[\"relay\",\"wss:\\/\\/r\\/\"],[\"challenge\",\"" CHALLENGE "\"]]", "",
          "invalid: AUTH event \"relay\" tag does not name this relay" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *reason = NULL;
        int rc = check_auth(cases[i].kind, cases[i].created_at, cases[i].tags, cases[i].relay_url,
                            &reason);
        if (cases[i].want == NULL) {
            CHECK_OK(rc);
        } else {
            CHECK_INT_EQ(rc, OST_EREJECT);
            CHECK_STR_EQ(reason, cases[i].want);
        }
    }
    /* An empty expected challenge never matches. */
    struct test_event t;
    const char *reason;
    CHECK(make_event(&t, PK_A, 22242, NOW, "[[\"relay\",\"ws://r\"],[\"challenge\",\"\"]]"));
    int rc = nip42_check_auth(&t.ev, "", "", NOW, &reason);
    buf_fini(&t.b);
    CHECK_INT_EQ(rc, OST_EREJECT);
}

static bool matches(const char *configured, const char *url)
{
    return nip42_relay_matches(configured, url, strlen(url));
}

static void test_relay_url(void)
{
    /* Empty configured: any well-formed ws:// or wss:// URL. */
    CHECK(matches("", "ws://127.0.0.1:7777"));
    CHECK(matches("", "wss://relay.example.org/"));
    CHECK(matches("", "wss://[::1]:7777/"));
    CHECK(!matches("", "https://relay.example.org/"));
    CHECK(!matches("", "wss://"));
    CHECK(!matches("", "wss://:80/"));
    CHECK(!matches("", "wss://h:99999/"));
    CHECK(!matches("", "wss://h:/"));
    CHECK(!matches("", "wss://user@h/"));
    CHECK(!matches("", "relay.example.org"));
    /* Lenient: scheme, host case, default ports, trailing slashes. */
    const char *conf = "wss://relay.example.org/";
    CHECK(matches(conf, "wss://relay.example.org/"));
    CHECK(matches(conf, "wss://relay.example.org"));
    CHECK(matches(conf, "ws://relay.example.org"));
    CHECK(matches(conf, "WSS://Relay.Example.ORG//"));
    CHECK(matches(conf, "wss://relay.example.org:443/"));
    CHECK(matches(conf, "ws://relay.example.org:80"));
    CHECK(!matches(conf, "wss://relay.example.org:8443/"));
    CHECK(!matches(conf, "ws://relay.example.org:443/"));
    CHECK(!matches(conf, "wss://relay.example.com/"));
    CHECK(!matches(conf, "wss://relay.example.org/path"));
    CHECK(!matches(conf, "wss://relay.example.org/?q=1"));
    CHECK(!matches(conf, "wss://relay.example.org.evil/"));
    CHECK(matches("ws://127.0.0.1:7777/nostr/", "wss://127.0.0.1:7777/nostr"));
    CHECK(!matches("ws://127.0.0.1:7777/nostr/", "wss://127.0.0.1:7777/Nostr"));
    CHECK(nip42_url_is_valid("wss://relay.example.org/"));
    CHECK(!nip42_url_is_valid("wss://"));
    CHECK(!nip42_url_is_valid("http://x/"));
}

static void key(const char *hex, uint8_t out[32])
{
    if (hex_decode_lower(hex, 32, out) < 0) {
        fprintf(stderr, "    bad test key %s\n", hex);
        abort();
    }
}

static void test_session(void)
{
    struct nip42_auth a, b;
    CHECK_OK(nip42_auth_init(&a));
    CHECK_OK(nip42_auth_init(&b));
    CHECK_INT_EQ(strlen(a.challenge), NIP42_CHALLENGE_LEN);
    CHECK(strcmp(a.challenge, b.challenge) != 0);
    CHECK_INT_EQ(a.n_pubkeys, 0);
    uint8_t pk[32];
    const char *reason = NULL;
    for (uint32_t i = 0; i < NIP42_MAX_PUBKEYS; i++) {
        memset(pk, (int)i + 1, sizeof(pk));
        CHECK_OK(nip42_auth_add(&a, pk, &reason));
        CHECK_OK(nip42_auth_add(&a, pk, &reason)); /* again: no new slot */
    }
    CHECK_INT_EQ(a.n_pubkeys, NIP42_MAX_PUBKEYS);
    memset(pk, 0xee, sizeof(pk));
    CHECK_INT_EQ(nip42_auth_add(&a, pk, &reason), OST_ENOSPC);
    CHECK_STR_EQ(reason, "restricted: this connection has authenticated the most keys it may (8)");
    CHECK(!nip42_auth_has(&a, pk));
    memset(pk, 1, sizeof(pk));
    CHECK(nip42_auth_has(&a, pk));
}

static void test_write_read(void)
{
    uint8_t allow[2][32];
    key(PK_C, allow[0]);
    key(PK_B, allow[1]);
    struct nip42_policy open = { .relay_url = "" };
    struct nip42_policy closed = { .relay_url = "",
                                   .is_write_required = true,
                                   .is_read_required = true };
    struct nip42_policy listed = { .relay_url = "", .allow = allow, .n_allow = 2 };
    nip42_policy_sort(&listed);
    struct nip42_auth none = { .n_pubkeys = 0 }, a = { .n_pubkeys = 0 }, b = { .n_pubkeys = 0 };
    uint8_t pk[32];
    const char *reason = NULL;
    key(PK_A, pk);
    CHECK_OK(nip42_auth_add(&a, pk, &reason));
    key(PK_B, pk);
    CHECK_OK(nip42_auth_add(&b, pk, &reason));

    CHECK_OK(nip42_check_write(&open, &none, &reason));
    CHECK_OK(nip42_check_read(&open, &none, &reason));
    CHECK_INT_EQ(nip42_check_write(&closed, &none, &reason), OST_EREJECT);
    CHECK_STR_EQ(reason, "auth-required: this relay only accepts events from authenticated users");
    CHECK_INT_EQ(nip42_check_read(&closed, &none, &reason), OST_EREJECT);
    CHECK_STR_EQ(reason, "auth-required: this relay only serves authenticated users");
    CHECK_OK(nip42_check_write(&closed, &a, &reason));
    CHECK_OK(nip42_check_read(&closed, &a, &reason));
    /* An allow list restricts writes; reads only with is_read_required. */
    CHECK_INT_EQ(nip42_check_write(&listed, &none, &reason), OST_EREJECT);
    CHECK_STR_EQ(reason, "auth-required: this relay only accepts events from authenticated users");
    CHECK_INT_EQ(nip42_check_write(&listed, &a, &reason), OST_EREJECT);
    CHECK_STR_EQ(reason, "restricted: the authenticated key may not publish to this relay");
    CHECK_OK(nip42_check_write(&listed, &b, &reason));
    CHECK_OK(nip42_check_read(&listed, &a, &reason));
    listed.is_read_required = true;
    CHECK_INT_EQ(nip42_check_read(&listed, &a, &reason), OST_EREJECT);
    CHECK_STR_EQ(reason, "restricted: the authenticated key may not read from this relay");
    CHECK_OK(nip42_check_read(&listed, &b, &reason));
}

static struct filter_set *parse_set(const char *json)
{
    struct filter_limits lim;
    struct filter_set *set = NULL;
    const char *reason;
    filter_limits_default(&lim);
    if (filter_set_parse(json, strlen(json), &lim, 16, &set, &reason) < 0) {
        fprintf(stderr, "    cannot parse %s: %s\n", json, reason);
    }
    return set;
}

static void test_dm_filters(void)
{
    struct nip42_policy p = { .relay_url = "", .is_dm_protected = true };
    struct nip42_policy off = { .relay_url = "" };
    struct nip42_auth none = { .n_pubkeys = 0 }, a = { .n_pubkeys = 0 };
    uint8_t pk[32];
    const char *reason = NULL;
    key(PK_A, pk);
    CHECK_OK(nip42_auth_add(&a, pk, &reason));
    static const struct {
        const char *filters;
        bool may_match;
        int req_none; /* nip42_check_dm_req without a key */
        int count_none, count_a;
    } cases[] = {
        { "{\"kinds\":[1]}", false, 0, 0, 0 },
        { "{\"kinds\":[4]}", true, OST_EREJECT, OST_EREJECT, OST_EREJECT },
        { "{\"kinds\":[1]},{\"kinds\":[1059]}", true, OST_EREJECT, OST_EREJECT, OST_EREJECT },
        { "{\"kinds\":[4]}", true, OST_EREJECT, OST_EREJECT, OST_EREJECT },
        { "{\"authors\":[\"" PK_B "\"]}", true, 0, OST_EREJECT, OST_EREJECT },
        { "{\"kinds\":[4],\"authors\":[\"" PK_A "\"]}", true, OST_EREJECT, OST_EREJECT, 0 },
        { "{\"kinds\":[4],\"authors\":[\"" PK_A "\",\"" PK_B "\"]}", true, OST_EREJECT, OST_EREJECT,
          OST_EREJECT },
        { "{\"kinds\":[4],\"#p\":[\"" PK_A "\"]}", true, OST_EREJECT, OST_EREJECT, 0 },
        { "{\"kinds\":[4],\"#p\":[\"" PK_A "\",\"" PK_B "\"]}", true, OST_EREJECT, OST_EREJECT,
          OST_EREJECT },
        { "{\"kinds\":[4],\"ids\":[]}", false, 0, 0, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct filter_set *set = parse_set(cases[i].filters);
        CHECK(set != NULL);
        bool may = nip42_set_may_match_dm(set);
        int req_none = nip42_check_dm_req(&p, &none, set, &reason);
        int req_a = nip42_check_dm_req(&p, &a, set, &reason);
        int count_none = nip42_check_dm_count(&p, &none, set, &reason);
        const char *reason_none = reason;
        int count_a = nip42_check_dm_count(&p, &a, set, &reason);
        const char *reason_a = reason;
        int off_rc = nip42_check_dm_count(&off, &none, set, &reason) |
                     nip42_check_dm_req(&off, &none, set, &reason);
        filter_set_free(set);
        if (may != cases[i].may_match || req_none != cases[i].req_none ||
            count_none != cases[i].count_none || count_a != cases[i].count_a) {
            fprintf(stderr, "    case %zu: %s\n", i, cases[i].filters);
        }
        CHECK_INT_EQ(may, cases[i].may_match);
        CHECK_INT_EQ(req_none, cases[i].req_none);
        CHECK_OK(req_a);
        CHECK_INT_EQ(count_none, cases[i].count_none);
        CHECK_INT_EQ(count_a, cases[i].count_a);
        CHECK_OK(off_rc);
        if (count_none < 0) {
            CHECK_STR_EQ(reason_none, "auth-required: direct messages are only served to their "
                                      "author and recipients");
        }
        if (count_a < 0) {
            CHECK_STR_EQ(reason_a, "restricted: a COUNT that can include direct messages must be "
                                   "limited to your own keys with \"authors\" or \"#p\"");
        }
    }
}

static void test_may_see(void)
{
    struct nip42_policy p = { .relay_url = "", .is_dm_protected = true };
    struct nip42_policy off = { .relay_url = "" };
    struct nip42_auth none = { .n_pubkeys = 0 }, a = { .n_pubkeys = 0 }, b = { .n_pubkeys = 0 },
                      c = { .n_pubkeys = 0 };
    uint8_t pk[32];
    const char *reason = NULL;
    key(PK_A, pk);
    CHECK_OK(nip42_auth_add(&a, pk, &reason));
    key(PK_B, pk);
    CHECK_OK(nip42_auth_add(&b, pk, &reason));
    key(PK_C, pk);
    CHECK_OK(nip42_auth_add(&c, pk, &reason));
    struct test_event dm, wrap, note;
    CHECK(make_event(&dm, PK_A, 4, NOW, "[[\"e\",\"x\"],[\"p\",\"" PK_B "\"]]"));
    CHECK(make_event(&wrap, PK_C, 1059, NOW, "[[\"p\",\"" PK_B "\"]]"));
    CHECK(make_event(&note, PK_A, 1, NOW, "[]"));
    bool got[] = {
        nip42_may_see(&p, &none, &dm.ev),   nip42_may_see(&p, &a, &dm.ev),
        nip42_may_see(&p, &b, &dm.ev),      nip42_may_see(&p, &c, &dm.ev),
        nip42_may_see(&p, &a, &wrap.ev),    nip42_may_see(&p, &b, &wrap.ev),
        nip42_may_see(&p, &none, &note.ev), nip42_may_see(&off, &none, &dm.ev),
    };
    bool want[] = { false, true, true, false, false, true, true, true };
    buf_fini(&dm.b);
    buf_fini(&wrap.b);
    buf_fini(&note.b);
    CHECK_MEM_EQ(got, want, sizeof(want));
}

static void test_nip70(void)
{
    uint8_t authed[2][32];
    key(PK_B, authed[0]);
    key(PK_A, authed[1]);
    struct test_event prot, prot_long, plain, dash_value;
    CHECK(make_event(&prot, PK_A, 1, NOW, "[[\"-\"]]"));
    CHECK(make_event(&prot_long, PK_A, 1, NOW, "[[\"t\",\"x\"],[\"-\",\"extra\"]]"));
    CHECK(make_event(&plain, PK_A, 1, NOW, "[[\"t\",\"-\"]]"));
    CHECK(make_event(&dash_value, PK_A, 1, NOW, "[[\"e\",\"-\"]]"));
    const char *reason = NULL;
    bool is_prot[] = { nip70_is_protected(&prot.ev), nip70_is_protected(&prot_long.ev),
                       nip70_is_protected(&plain.ev), nip70_is_protected(&dash_value.ev) };
    int no_auth = nip70_check(&prot.ev, NULL, 0, &reason);
    const char *reason_no_auth = reason;
    int other = nip70_check(&prot.ev, authed, 1, &reason);
    int author = nip70_check(&prot.ev, authed, 2, &reason);
    int unprotected = nip70_check(&plain.ev, NULL, 0, &reason);
    buf_fini(&prot.b);
    buf_fini(&prot_long.b);
    buf_fini(&plain.b);
    buf_fini(&dash_value.b);
    CHECK(is_prot[0] && is_prot[1] && !is_prot[2] && !is_prot[3]);
    CHECK_INT_EQ(no_auth, OST_EREJECT);
    CHECK_STR_EQ(reason_no_auth, "auth-required: this event may only be published by its author");
    CHECK_INT_EQ(other, OST_EREJECT);
    CHECK_OK(author);
    CHECK_OK(unprotected);
    CHECK_STR_EQ(nip70_reasons[0], reason_no_auth);
    CHECK(nip70_reasons[1] == NULL);
}

/* Every reason in the table appears in a test above (by its exact text). */
static void test_reasons_covered(void)
{
    static const char *const produced[] = {
        "invalid: AUTH event must be of kind 22242",
        "invalid: AUTH event created_at must be within 10 minutes of the relay's time",
        "invalid: AUTH event has no \"challenge\" tag",
        "invalid: AUTH event \"challenge\" tag does not match this connection's",
        "invalid: AUTH event has no \"relay\" tag",
        "invalid: AUTH event \"relay\" tag does not name this relay",
        "restricted: this connection has authenticated the most keys it may (8)",
        "auth-required: this relay only accepts events from authenticated users",
        "restricted: the authenticated key may not publish to this relay",
        "auth-required: this relay only serves authenticated users",
        "restricted: the authenticated key may not read from this relay",
        "auth-required: direct messages are only served to their author and recipients",
        "restricted: a COUNT that can include direct messages must be limited to your own keys "
        "with \"authors\" or \"#p\"",
    };
    size_t n = 0;
    for (; nip42_reasons[n] != NULL; n++) {
        bool seen = false;
        for (size_t i = 0; i < sizeof(produced) / sizeof(produced[0]); i++) {
            seen |= strcmp(nip42_reasons[n], produced[i]) == 0;
        }
        if (!seen) {
            fprintf(stderr, "    never produced: %s\n", nip42_reasons[n]);
        }
        CHECK(seen);
    }
    CHECK_INT_EQ(n, sizeof(produced) / sizeof(produced[0]));
}

CHECK_MAIN({ "auth_event", test_auth_event }, { "relay_url", test_relay_url },
           { "session", test_session }, { "write_read", test_write_read },
           { "dm_filters", test_dm_filters }, { "may_see", test_may_see }, { "nip70", test_nip70 },
           { "reasons_covered", test_reasons_covered })
