/*
 * The recent-ids set (relay/recent.h): membership by id and signature,
 * eviction of the oldest entry, forgetting, clearing, and a long random
 * run checked against a plain list, which exercises deletion from the
 * middle of probe runs.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "relay/recent.h"
#include "tests/check.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Id number n; ids with equal low bits when is_clash (a crowded table). */
static void make_id(uint32_t n, bool is_clash, uint8_t id[32])
{
    memset(id, 0, 32);
    if (is_clash) {
        memcpy(id + 8, &n, sizeof(n)); /* the first 8 bytes, which place it, are equal */
    } else {
        memcpy(id, &n, sizeof(n));
        id[31] = (uint8_t)n;
    }
}

static void test_has_needs_id_and_signature(void)
{
    struct recent *r = NULL;
    uint8_t id[32], other[32], sig[64], sig2[64];
    CHECK_OK(recent_new(4, &r));
    make_id(1, false, id);
    make_id(2, false, other);
    memset(sig, 0xab, sizeof(sig));
    memcpy(sig2, sig, sizeof(sig));
    sig2[63] ^= 1;
    uint64_t h = recent_sig_hash(sig);
    CHECK(h != recent_sig_hash(sig2));
    CHECK(!recent_has(r, id, h));
    recent_add(r, id, h);
    CHECK(recent_has(r, id, h));
    CHECK(!recent_has(r, id, recent_sig_hash(sig2)));
    CHECK(!recent_has(r, other, h));
    /* Added again with another signature: one entry, the new hash. */
    recent_add(r, id, recent_sig_hash(sig2));
    CHECK_INT_EQ(recent_count(r), 1);
    CHECK(recent_has(r, id, recent_sig_hash(sig2)));
    CHECK(!recent_has(r, id, h));
    recent_free(r);
    recent_free(NULL);
    CHECK_INT_EQ(recent_new(0, &r), OST_EINVAL);
}

static void test_oldest_goes_first(void)
{
    struct recent *r = NULL;
    uint8_t id[32];
    CHECK_OK(recent_new(3, &r));
    for (uint32_t n = 0; n < 5; n++) {
        make_id(n, true, id);
        recent_add(r, id, n);
    }
    CHECK_INT_EQ(recent_count(r), 3);
    for (uint32_t n = 0; n < 5; n++) {
        make_id(n, true, id);
        CHECK_INT_EQ(recent_has(r, id, n), n >= 2);
    }
    /* A forgotten entry leaves a hole the ring fills in turn. */
    make_id(3, true, id);
    recent_forget(r, id);
    recent_forget(r, id);
    CHECK_INT_EQ(recent_count(r), 2);
    CHECK(!recent_has(r, id, 3));
    make_id(5, true, id);
    recent_add(r, id, 5); /* takes the place of 2, the oldest */
    make_id(2, true, id);
    CHECK(!recent_has(r, id, 2));
    make_id(4, true, id);
    CHECK(recent_has(r, id, 4));
    make_id(5, true, id);
    CHECK(recent_has(r, id, 5));
    CHECK_INT_EQ(recent_count(r), 2);
    recent_clear(r);
    CHECK_INT_EQ(recent_count(r), 0);
    CHECK(!recent_has(r, id, 5));
    recent_add(r, id, 5);
    CHECK(recent_has(r, id, 5));
    recent_free(r);
}

/* Random adds, versions and forgets against a plain model of the ring:
 * ids n % 3 == 0 are versions of address n % 13. */
static void check_random_run(bool is_clash)
{
    enum {
        CAP = 64,
        IDS = 200,
        STEPS = 20000
    };
    struct recent *r = NULL;
    uint32_t ring[CAP]; /* id in each ring position, or UINT32_MAX */
    uint32_t next = 0;
    uint8_t id[32];
    CHECK_OK(recent_new(CAP, &r));
    for (uint32_t i = 0; i < CAP; i++) {
        ring[i] = UINT32_MAX;
    }
    for (uint32_t step = 0; step < STEPS; step++) {
        uint32_t n = (uint32_t)(rng() % IDS);
        bool is_version = n % 3 == 0;
        make_id(n, is_clash, id);
        if (rng() % 4 == 0) {
            recent_forget(r, id);
            for (uint32_t i = 0; i < CAP; i++) {
                ring[i] = ring[i] == n ? UINT32_MAX : ring[i];
            }
            continue;
        }
        if (is_version) {
            recent_add_version(r, id, n, n % 13);
        } else {
            recent_add(r, id, n);
        }
        /* The model: the address's version and the id itself go, then
         * the id takes the next place, over the oldest. */
        for (uint32_t i = 0; i < CAP; i++) {
            bool is_same_addr =
                is_version && ring[i] != UINT32_MAX && ring[i] % 3 == 0 && ring[i] % 13 == n % 13;
            ring[i] = ring[i] == n || is_same_addr ? UINT32_MAX : ring[i];
        }
        ring[next] = n;
        next = (next + 1) % CAP;
        uint32_t n_live = 0;
        for (uint32_t i = 0; i < CAP; i++) {
            n_live += ring[i] != UINT32_MAX;
        }
        CHECK_INT_EQ(recent_count(r), n_live);
        if (step % 97 == 0) {
            for (uint32_t m = 0; m < IDS; m++) {
                bool want = false;
                for (uint32_t i = 0; i < CAP; i++) {
                    want = want || ring[i] == m;
                }
                make_id(m, is_clash, id);
                CHECK_INT_EQ(recent_has(r, id, m), want);
            }
        }
    }
    recent_free(r);
}

static void test_versions_replace_by_address(void)
{
    struct recent *r = NULL;
    uint8_t a[32], b[32], c[32], d[32];
    uint8_t pk[32] = { 1 };
    CHECK_OK(recent_new(2, &r));
    make_id(1, false, a);
    make_id(2, false, b);
    make_id(3, false, c);
    make_id(4, false, d);
    uint64_t addr = recent_addr_hash(pk, 30023, "x", 1);
    CHECK(addr != recent_addr_hash(pk, 30023, "y", 1));
    CHECK(addr != recent_addr_hash(pk, 30024, "x", 1));
    CHECK(recent_addr_hash(pk, 3, "", 0) == recent_addr_hash(pk, 3, NULL, 0));
    recent_add_version(r, a, 1, addr);
    recent_add_version(r, b, 2, addr); /* a newer version: a goes */
    CHECK(!recent_has(r, a, 1));
    CHECK(recent_has(r, b, 2));
    CHECK_INT_EQ(recent_count(r), 1);
    /* b is evicted by plain entries; its address no longer names it. */
    recent_add(r, c, 3);
    recent_add(r, d, 4);
    CHECK(!recent_has(r, b, 2));
    recent_add_version(r, a, 1, addr);
    CHECK(recent_has(r, a, 1));
    CHECK(recent_has(r, d, 4));
    CHECK_INT_EQ(recent_count(r), 2);
    recent_free(r);
}

static void test_random_run_matches_a_list(void)
{
    check_random_run(false);
    check_random_run(true);
}

CHECK_MAIN({ "has_needs_id_and_signature", test_has_needs_id_and_signature },
           { "oldest_goes_first", test_oldest_goes_first },
           { "versions_replace_by_address", test_versions_replace_by_address },
           { "random_run_matches_a_list", test_random_run_matches_a_list })
