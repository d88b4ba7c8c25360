/*
 * Tests for NIP-09 deletion requests and NIP-62 requests to vanish: the tag
 * readers (nips/nip09, nips/nip62). What the store does with a deletion is
 * part of the storage contract (tests/store_contract_nip09.c), run on every
 * backend; the SQLite schema upgrades are in tests/test_store_sqlite.c.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/buf.h"
#include "common/err.h"
#include "nips/nip09.h"
#include "nips/nip62.h"
#include "store/store.h"
#include "validate/event.h"

#define SIG_ZEROS                                                      \
    "0000000000000000000000000000000000000000000000000000000000000000" \
    "0000000000000000000000000000000000000000000000000000000000000000"
#define PK_A "00000000000000000000000000000000000000000000000000000000000000aa"
#define PK_B "00000000000000000000000000000000000000000000000000000000000000bb"
#define T    1700000000
#define URL  "wss://relay.example.com"

/* An event whose json lives in b; id number n. */
struct tev {
    struct buf b;
    struct event ev;
};

static bool tev_make(struct tev *t, unsigned n, const char *pk, unsigned kind, long long created_at,
                     const char *tags)
{
    const char *reason = NULL;
    buf_init(&t->b);
    buf_printf(&t->b,
               "{\"id\":\"%064x\",\"pubkey\":\"%s\",\"created_at\":%lld,\"kind\":%u,"
               "\"tags\":%s,\"content\":\"\",\"sig\":\"" SIG_ZEROS "\"}",
               n, pk, created_at, kind, tags);
    if (buf_cstr(&t->b) == NULL || event_parse(t->b.data, t->b.len, NULL, &t->ev, &reason) < 0) {
        fprintf(stderr, "  event_parse: %s\n", reason != NULL ? reason : "out of memory");
        buf_fini(&t->b);
        return false;
    }
    return true;
}

/* ---- the tag readers ---- */

static void test_nip09_parse(void)
{
    struct tev t;
    struct store_deletion *del = NULL;
    /* Not kind 5: nothing, whatever the tags. */
    CHECK(tev_make(&t, 1, PK_A, 1, T, "[[\"e\",\"" PK_B "\"]]"));
    CHECK_OK(nip09_parse(&t.ev, &del));
    CHECK(del == NULL);
    buf_fini(&t.b);
    /* Kind 5 naming nothing usable. */
    CHECK(tev_make(&t, 1, PK_A, 5, T,
                   "[[\"e\"],[\"e\",\"" PK_B "0\"],[\"e\",\"00000000000000000000000000000000000000"
                   "000000000000000000000000AA\"],[\"a\",\"1:" PK_A "\"],[\"a\",\"70000:" PK_A
                   ":x\"],[\"a\",\":" PK_A ":x\"],[\"a\",\"123456:" PK_A ":x\"],[\"k\",\"1\"]]"));
    CHECK_OK(nip09_parse(&t.ev, &del));
    CHECK(del == NULL);
    buf_fini(&t.b);

    CHECK(tev_make(&t, 1, PK_A, 5, T,
                   "[[\"e\",\"" PK_B "\"],[\"k\",\"1\"],[\"a\",\"30023:" PK_A
                   ":my:slug\"],[\"a\",\"10002:" PK_A ":\"],[\"\\u0061\",\"3\\u0030000:" PK_B
                   ":\\u00e9\"],[\"e\",\"" PK_A "\",\"wss://x\"]]"));
    CHECK_OK(nip09_parse(&t.ev, &del));
    CHECK(del != NULL);
    CHECK_INT_EQ(del->n_ids, 2);
    CHECK_INT_EQ(del->ids[0][31], 0xbb);
    CHECK_INT_EQ(del->ids[1][31], 0xaa);
    CHECK_INT_EQ(del->n_addrs, 3);
    CHECK(!del->is_vanish);
    CHECK_INT_EQ(del->addrs[0].kind, 30023);
    CHECK_INT_EQ(del->addrs[0].pubkey[31], 0xaa);
    CHECK_INT_EQ(del->addrs[0].d_len, 7);
    CHECK_MEM_EQ(del->addrs[0].d, "my:slug", 7);
    CHECK_INT_EQ(del->addrs[1].kind, 10002);
    CHECK_INT_EQ(del->addrs[1].d_len, 0);
    /* Escapes are decoded: kind 30000, d "é" (two bytes). */
    CHECK_INT_EQ(del->addrs[2].kind, 30000);
    CHECK_INT_EQ(del->addrs[2].pubkey[31], 0xbb);
    CHECK_INT_EQ(del->addrs[2].d_len, 2);
    CHECK_MEM_EQ(del->addrs[2].d, "\xc3\xa9", 2);
    free(del);
    buf_fini(&t.b);
}

static void test_nip62_parse(void)
{
    static const struct {
        unsigned kind;
        const char *tags;
        const char *relay_url;
        bool is_vanish;
    } cases[] = {
        { 62, "[[\"relay\",\"ALL_RELAYS\"]]", "", true },
        { 62, "[[\"relay\",\"ALL_RELAYS\"]]", URL, true },
        { 62, "[[\"relay\",\"\\u0041LL_RELAYS\"]]", "", true },
        { 62, "[[\"relay\",\"" URL "\"]]", URL, true },
        { 62, "[[\"relay\",\"wss://other.example.com\"],[\"relay\",\"" URL "/\"]]", URL, true },
        { 62, "[[\"relay\",\"ws://RELAY.example.com/\"]]", URL, true },
        /* Another relay, no configured URL, the wrong case, no tag. */
        { 62, "[[\"relay\",\"wss://other.example.com\"]]", URL, false },
        { 62, "[[\"relay\",\"" URL "\"]]", "", false },
        { 62, "[[\"relay\",\"all_relays\"]]", URL, false },
        { 62, "[[\"relay\"],[\"r\",\"ALL_RELAYS\"]]", URL, false },
        { 62, "[]", URL, false },
        { 1, "[[\"relay\",\"ALL_RELAYS\"]]", URL, false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tev t;
        struct store_deletion *del = NULL;
        CHECK(tev_make(&t, 1, PK_A, cases[i].kind, T, cases[i].tags));
        CHECK_OK(nip62_parse(&t.ev, cases[i].relay_url, &del));
        if ((del != NULL) != cases[i].is_vanish) {
            fprintf(stderr, "  case %zu: %s with \"%s\"\n", i, cases[i].tags, cases[i].relay_url);
        }
        CHECK((del != NULL) == cases[i].is_vanish);
        CHECK(del == NULL || (del->is_vanish && del->n_ids == 0 && del->n_addrs == 0));
        free(del);
        buf_fini(&t.b);
    }
}

CHECK_MAIN({ "nip09_parse", test_nip09_parse }, { "nip62_parse", test_nip62_parse })
