/*
 * Tests for nips/nip13: leading zero bits of crafted ids (0, 1, 255, 256
 * and every count in between), the committed target of the nonce tag and
 * the rule that caps the difficulty at it, the minimum difficulty on both
 * sides of the boundary, and the exact reason texts. Events are parsed from
 * JSON with chosen ids; their signatures are never checked here.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "common/buf.h"
#include "common/err.h"
#include "nips/nip13.h"
#include "validate/event.h"

#define SIG_ZEROS                                                      \
    "0000000000000000000000000000000000000000000000000000000000000000" \
    "0000000000000000000000000000000000000000000000000000000000000000"
#define PUBKEY "00000000000000000000000000000000000000000000000000000000000000aa"

/* An event whose json lives in b. */
struct tev {
    struct buf b;
    struct event ev;
};

/* 64 hex characters for an id with exactly bits leading zero bits (0..256):
 * zeros, then a 1 bit, then ones. */
static void id_with_bits(unsigned bits, char hex[65])
{
    uint8_t id[32];
    for (unsigned i = 0; i < 256; i++) {
        bool is_one = i >= bits;
        if (i % 8 == 0) {
            id[i / 8] = 0;
        }
        if (is_one) {
            id[i / 8] |= (uint8_t)(0x80u >> (i % 8));
        }
    }
    for (unsigned i = 0; i < 32; i++) {
        snprintf(hex + 2 * i, 3, "%02x", id[i]);
    }
}

static bool tev_make(struct tev *t, unsigned bits, const char *tags)
{
    char hex[65];
    const char *reason = NULL;
    id_with_bits(bits, hex);
    buf_init(&t->b);
    buf_printf(&t->b,
               "{\"id\":\"%s\",\"pubkey\":\"" PUBKEY "\",\"created_at\":1,\"kind\":1,"
               "\"tags\":%s,\"content\":\"\",\"sig\":\"" SIG_ZEROS "\"}",
               hex, tags);
    if (buf_cstr(&t->b) == NULL || event_parse(t->b.data, t->b.len, NULL, &t->ev, &reason) < 0) {
        fprintf(stderr, "  event_parse: %s\n", reason != NULL ? reason : "out of memory");
        buf_fini(&t->b);
        return false;
    }
    return true;
}

static void test_leading_zero_bits(void)
{
    uint8_t id[32];
    memset(id, 0xff, sizeof(id));
    CHECK_INT_EQ(nip13_leading_zero_bits(id), 0);
    id[0] = 0x7f;
    CHECK_INT_EQ(nip13_leading_zero_bits(id), 1);
    memset(id, 0, sizeof(id));
    CHECK_INT_EQ(nip13_leading_zero_bits(id), 256);
    id[31] = 0x01;
    CHECK_INT_EQ(nip13_leading_zero_bits(id), 255);
    /* The example of NIP-13: 000000000e9d97a1... has 36 bits. */
    memset(id, 0xff, sizeof(id));
    id[0] = id[1] = id[2] = id[3] = 0x00;
    id[4] = 0x0e;
    CHECK_INT_EQ(nip13_leading_zero_bits(id), 36);
    /* Bits after the first 1 do not count. */
    id[4] = 0x08;
    CHECK_INT_EQ(nip13_leading_zero_bits(id), 36);
    /* Every count, through the crafted ids the other tests use. */
    for (unsigned bits = 0; bits <= 256; bits++) {
        struct tev t;
        CHECK(tev_make(&t, bits, "[]"));
        CHECK_INT_EQ(nip13_leading_zero_bits(t.ev.id), bits);
        CHECK_INT_EQ(nip13_difficulty(&t.ev), bits);
        buf_fini(&t.b);
    }
}

static void test_committed_target(void)
{
    static const struct {
        const char *tags;
        bool has_target;
        uint32_t target;
    } cases[] = {
        { "[]", false, 0 },
        { "[[\"nonce\",\"776797\",\"20\"]]", true, 20 },
        { "[[\"nonce\",\"1\",\"0\"]]", true, 0 },
        { "[[\"nonce\",\"1\",\"256\"]]", true, 256 },
        { "[[\"nonce\",\"1\",\"\\u0032\\u0030\"]]", true, 20 }, /* escaped "20" */
        { "[[\"\\u006eonce\",\"1\",\"7\"]]", true, 7 },         /* escaped name */
        { "[[\"nonce\",\"1\"]]", false, 0 },                    /* no commitment */
        { "[[\"nonce\"]]", false, 0 },
        { "[[\"nonce\",\"1\",\"257\"]]", false, 0 }, /* more bits than an id has */
        { "[[\"nonce\",\"1\",\"-1\"]]", false, 0 },
        { "[[\"nonce\",\"1\",\"2x\"]]", false, 0 },
        { "[[\"nonce\",\"1\",\"\"]]", false, 0 },
        { "[[\"nonce\",\"1\",\"0020\"]]", false, 0 },
        { "[[\"t\",\"x\"],[\"nonce\",\"1\",\"12\"]]", true, 12 },
        /* Only the first nonce tag counts. */
        { "[[\"nonce\",\"1\",\"8\"],[\"nonce\",\"2\",\"30\"]]", true, 8 },
        { "[[\"nonce\",\"1\"],[\"nonce\",\"2\",\"30\"]]", false, 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tev t;
        uint32_t target = 999;
        CHECK(tev_make(&t, 0, cases[i].tags));
        bool has = nip13_committed_target(&t.ev, &target);
        if (has != cases[i].has_target) {
            fprintf(stderr, "  tags %s\n", cases[i].tags);
        }
        CHECK(has == cases[i].has_target);
        if (cases[i].has_target) {
            CHECK_INT_EQ(target, cases[i].target);
        } else {
            CHECK_INT_EQ(target, 999); /* not written */
        }
        buf_fini(&t.b);
    }
}

/* NIP-13: the effective difficulty is the lower of the bits and the
 * committed target. */
static void test_target_caps_difficulty(void)
{
    struct tev t;
    CHECK(tev_make(&t, 40, "[[\"nonce\",\"1\",\"30\"]]"));
    CHECK_INT_EQ(nip13_difficulty(&t.ev), 30);
    buf_fini(&t.b);
    /* A target above the bits found does not raise the difficulty. */
    CHECK(tev_make(&t, 12, "[[\"nonce\",\"1\",\"30\"]]"));
    CHECK_INT_EQ(nip13_difficulty(&t.ev), 12);
    buf_fini(&t.b);
    CHECK(tev_make(&t, 30, "[[\"nonce\",\"1\",\"30\"]]"));
    CHECK_INT_EQ(nip13_difficulty(&t.ev), 30);
    buf_fini(&t.b);
    /* An unreadable commitment commits to nothing. */
    CHECK(tev_make(&t, 40, "[[\"nonce\",\"1\",\"lots\"]]"));
    CHECK_INT_EQ(nip13_difficulty(&t.ev), 40);
    buf_fini(&t.b);
}

/* Checks ev with a policy of min, and the reason when refused. */
static void check_policy(uint32_t min, unsigned bits, const char *tags, const char *want)
{
    struct nip13_policy *p = NULL;
    struct tev t;
    const char *reason = NULL;
    CHECK_OK(nip13_policy_new(min, &p));
    CHECK_INT_EQ(nip13_policy_min_difficulty(p), min);
    CHECK(tev_make(&t, bits, tags));
    int rc = nip13_check(p, &t.ev, &reason);
    if (want == NULL) {
        CHECK_OK(rc);
        CHECK(reason == NULL);
    } else {
        CHECK_INT_EQ(rc, OST_EREJECT);
        CHECK(reason != NULL);
        CHECK_STR_EQ(reason, want);
    }
    buf_fini(&t.b);
    nip13_policy_free(p);
}

static void test_minimum_boundaries(void)
{
    /* At the minimum passes, one below does not. */
    check_policy(20, 20, "[]", NULL);
    check_policy(20, 21, "[]", NULL);
    check_policy(20, 19, "[]", "pow: difficulty 19 is less than 20");
    check_policy(20, 12, "[]", "pow: difficulty 12 is less than 20");
    check_policy(20, 0, "[]", "pow: difficulty 0 is less than 20");
    /* 0 requires nothing; 1 refuses only ids with a leading 1 bit. */
    check_policy(0, 0, "[]", NULL);
    check_policy(1, 0, "[]", "pow: difficulty 0 is less than 1");
    check_policy(1, 1, "[]", NULL);
    /* The largest minimum: only the all-zero id reaches it. */
    check_policy(256, 256, "[]", NULL);
    check_policy(256, 255, "[]", "pow: difficulty 255 is less than 256");
    /* The committed target, at and below the minimum. */
    check_policy(20, 40, "[[\"nonce\",\"5\",\"20\"]]", NULL);
    check_policy(20, 40, "[[\"nonce\",\"5\",\"19\"]]",
                 "pow: committed target difficulty 19 is less than 20");
    check_policy(40, 40, "[[\"nonce\",\"5\",\"30\"]]",
                 "pow: committed target difficulty 30 is less than 40");
    /* The bits fall short before the target does. */
    check_policy(20, 10, "[[\"nonce\",\"5\",\"15\"]]", "pow: difficulty 10 is less than 20");
    check_policy(20, 10, "[[\"nonce\",\"5\",\"30\"]]", "pow: difficulty 10 is less than 20");
}

static void test_policy_bounds(void)
{
    struct nip13_policy *p = NULL;
    CHECK_INT_EQ(nip13_policy_new(NIP13_MAX_DIFFICULTY + 1, &p), OST_EINVAL);
    CHECK(p == NULL);
    nip13_policy_free(NULL);
}

/* Every reason of a policy is reachable, and each stays put while others
 * are produced: the pointer may wait in a queue while the worker goes on. */
static void test_reasons_stable(void)
{
    struct nip13_policy *p = NULL;
    const uint32_t min = 256;
    const char *first[256];
    char want[80];
    CHECK_OK(nip13_policy_new(min, &p));
    for (unsigned d = 0; d < min; d++) {
        struct tev t;
        first[d] = NULL;
        CHECK(tev_make(&t, d, "[]"));
        CHECK_INT_EQ(nip13_check(p, &t.ev, &first[d]), OST_EREJECT);
        buf_fini(&t.b);
    }
    for (unsigned d = 0; d < min; d++) {
        snprintf(want, sizeof(want), "pow: difficulty %u is less than %u", d, min);
        CHECK(first[d] != NULL);
        CHECK_STR_EQ(first[d], want);
    }
    for (unsigned d = 0; d < min; d++) {
        struct tev t;
        char tags[64];
        const char *reason = NULL;
        snprintf(tags, sizeof(tags), "[[\"nonce\",\"1\",\"%u\"]]", d);
        CHECK(tev_make(&t, 256, tags));
        CHECK_INT_EQ(nip13_check(p, &t.ev, &reason), OST_EREJECT);
        snprintf(want, sizeof(want), "pow: committed target difficulty %u is less than %u", d, min);
        CHECK(reason != NULL);
        CHECK_STR_EQ(reason, want);
        buf_fini(&t.b);
    }
    nip13_policy_free(p);
}

CHECK_MAIN({ "leading_zero_bits", test_leading_zero_bits },
           { "committed_target", test_committed_target },
           { "target_caps_difficulty", test_target_caps_difficulty },
           { "minimum_boundaries", test_minimum_boundaries },
           { "policy_bounds", test_policy_bounds }, { "reasons_stable", test_reasons_stable })
