/*
 * The fallback BIP-340 engine, written on OpenSSL 3's EC_GROUP, EC_POINT and
 * BN primitives (no libsecp256k1, no deprecated API). Each verifier is owned
 * by one thread and holds everything a verification touches: the group, a
 * BN_CTX, the constants p and n, a Montgomery context for p, a SHA-256
 * context and every BIGNUM and point used on the way. After sig_ossl_new our
 * code allocates nothing; only OpenSSL's scalar multiplication allocates
 * internally (its wNAF tables), which no public API lets us avoid.
 *
 * Design. BIP-340 verification of (pk, m, sig = r || s):
 *   P = lift_x(pk), the point with x = pk and even y; fail if pk >= p or no
 *       such point exists;
 *   fail if r >= p or s >= n;
 *   e = int(SHA256(T || T || r || pk || m)) mod n, T = SHA256("BIP0340/challenge");
 *   R = s*G - e*P, computed as one EC_POINT_mul(s, P, n - e), which OpenSSL
 *       evaluates as an interleaved double-scalar multiplication;
 *   fail if R is infinity, if y(R) is odd or if x(R) != r.
 * Range checks compare big-endian bytes against p and n before any BN work,
 * so out-of-range input is rejected at the cost of a memcmp.
 */
#include "validate/sig_ossl.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "common/err.h"

#define CHALLENGE_TAG "BIP0340/challenge"

/* Owned by: the one thread that created it. Nothing here is shared. */
struct sig_ossl {
    EC_GROUP *group;
    BN_CTX *bn;
    BN_MONT_CTX *mont_p; /* Montgomery form of p, for the square root */
    EVP_MD *sha256;      /* fetched once */
    EVP_MD_CTX *md;      /* re-initialised per verification, never freed */

    /* Constants. */
    const BIGNUM *n; /* the group order, owned by group */
    BIGNUM *p;       /* the field prime */
    BIGNUM *sqrt_e;  /* (p + 1) / 4: p = 3 mod 4, so c^((p+1)/4) is a root */
    uint8_t p_be[32];
    uint8_t n_be[32];
    uint8_t tag2[64]; /* T || T, the tagged-hash prefix */

    /* Scratch, reused by every call. */
    BIGNUM *x, *y, *c, *t, *sig_s, *e, *rx, *ry;
    EC_POINT *pt_p, *pt_r;
};

/* True when the 32-byte big-endian a is less than the 32-byte big-endian
 * limit. memcmp orders big-endian unsigned integers of equal length. */
static bool below(const uint8_t a[32], const uint8_t limit[32])
{
    return memcmp(a, limit, 32) < 0;
}

static int alloc_bignums(struct sig_ossl *s)
{
    BIGNUM **all[] = { &s->p, &s->sqrt_e, &s->x, &s->y,  &s->c,
                       &s->t, &s->sig_s,  &s->e, &s->rx, &s->ry };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        *all[i] = BN_new();
        if (*all[i] == NULL) {
            return OST_ENOMEM;
        }
    }
    return 0;
}

/* Fills the constants from the group itself, so no curve number is typed
 * by hand: p and n as BIGNUMs and as big-endian bytes, (p + 1) / 4, the
 * Montgomery context for p, and the doubled challenge tag hash. */
static int load_constants(struct sig_ossl *s)
{
    if (!EC_GROUP_get_curve(s->group, s->p, NULL, NULL, s->bn)) {
        return OST_ENOMEM;
    }
    s->n = EC_GROUP_get0_order(s->group);
    if (BN_bn2binpad(s->p, s->p_be, 32) != 32 || BN_bn2binpad(s->n, s->n_be, 32) != 32) {
        return OST_ENOMEM;
    }
    if (!BN_add(s->sqrt_e, s->p, BN_value_one()) || !BN_rshift(s->sqrt_e, s->sqrt_e, 2)) {
        return OST_ENOMEM;
    }
    s->mont_p = BN_MONT_CTX_new();
    if (s->mont_p == NULL || !BN_MONT_CTX_set(s->mont_p, s->p, s->bn)) {
        return OST_ENOMEM;
    }
    unsigned int len = 0;
    if (!EVP_Digest(CHALLENGE_TAG, strlen(CHALLENGE_TAG), s->tag2, &len, s->sha256, NULL) ||
        len != 32) {
        return OST_ENOMEM;
    }
    memcpy(s->tag2 + 32, s->tag2, 32);
    return 0;
}

int sig_ossl_new(struct sig_ossl **out)
{
    int rc = OST_ENOMEM;
    struct sig_ossl *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return OST_ENOMEM;
    }
    s->group = EC_GROUP_new_by_curve_name(NID_secp256k1);
    s->bn = BN_CTX_new();
    s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    s->md = EVP_MD_CTX_new();
    if (s->group == NULL || s->bn == NULL || s->sha256 == NULL || s->md == NULL) {
        goto fail;
    }
    s->pt_p = EC_POINT_new(s->group);
    s->pt_r = EC_POINT_new(s->group);
    if (s->pt_p == NULL || s->pt_r == NULL) {
        goto fail;
    }
    rc = alloc_bignums(s);
    if (rc != 0) {
        goto fail;
    }
    rc = load_constants(s);
    if (rc != 0) {
        goto fail;
    }
    *out = s;
    return 0;

fail:
    /* Whatever OpenSSL queued while failing is of no use to the caller. */
    ERR_clear_error();
    sig_ossl_free(s);
    return rc;
}

void sig_ossl_free(struct sig_ossl *s)
{
    if (s == NULL) {
        return;
    }
    BIGNUM *all[] = { s->p, s->sqrt_e, s->x, s->y, s->c, s->t, s->sig_s, s->e, s->rx, s->ry };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        BN_free(all[i]);
    }
    EC_POINT_free(s->pt_r);
    EC_POINT_free(s->pt_p);
    BN_MONT_CTX_free(s->mont_p);
    EVP_MD_CTX_free(s->md);
    EVP_MD_free(s->sha256);
    BN_CTX_free(s->bn);
    EC_GROUP_free(s->group);
    free(s);
}

/* lift_x from BIP-340: sets s->pt_p to the point with x = pk32 and even y.
 * The caller has checked pk32 < p. Returns 0, OST_EBADSIG when x^3 + 7 has
 * no square root mod p (x is not on the curve), or OST_ENOMEM. */
static int lift_x(struct sig_ossl *s, const uint8_t pk32[32])
{
    BN_CTX *bn = s->bn;

    if (BN_bin2bn(pk32, 32, s->x) == NULL) {
        return OST_ENOMEM;
    }
    /* c = x^3 + 7 mod p. x < p, so c < p + 7 and one subtraction reduces. */
    if (!BN_mod_sqr(s->c, s->x, s->p, bn) || !BN_mod_mul(s->c, s->c, s->x, s->p, bn) ||
        !BN_add_word(s->c, 7)) {
        return OST_ENOMEM;
    }
    if (BN_cmp(s->c, s->p) >= 0 && !BN_sub(s->c, s->c, s->p)) {
        return OST_ENOMEM;
    }
    /* y = c^((p+1)/4) is a square root of c exactly when c is a square. */
    if (!BN_mod_exp_mont(s->y, s->c, s->sqrt_e, s->p, bn, s->mont_p) ||
        !BN_mod_sqr(s->t, s->y, s->p, bn)) {
        return OST_ENOMEM;
    }
    if (BN_cmp(s->t, s->c) != 0) {
        return OST_EBADSIG;
    }
    /* y is never 0 here (the group has no point of order 2), so p - y is
     * the even root whenever y is odd. */
    if (BN_is_odd(s->y) && !BN_sub(s->y, s->p, s->y)) {
        return OST_ENOMEM;
    }
    /* The point is on the curve by construction, so a failure here can only
     * be an allocation failure inside OpenSSL. */
    if (!EC_POINT_set_affine_coordinates(s->group, s->pt_p, s->x, s->y, bn)) {
        return OST_ENOMEM;
    }
    return 0;
}

/* e = int(SHA256(T || T || r || pk || msg)) mod n, into s->e.
 * EVP_MD_CTX_copy_ex would let us keep a context primed with T || T, but it
 * frees and re-creates the provider state on every copy; re-initialising the
 * one context allocates nothing, and hashing the 64-byte prefix again costs
 * one SHA-256 block, well under a microsecond. */
static int challenge(struct sig_ossl *s, const uint8_t r32[32], const uint8_t pk32[32],
                     const uint8_t *msg, size_t msg_len)
{
    uint8_t h[32];
    unsigned int len = 0;

    if (!EVP_DigestInit_ex(s->md, s->sha256, NULL) ||
        !EVP_DigestUpdate(s->md, s->tag2, sizeof(s->tag2)) || !EVP_DigestUpdate(s->md, r32, 32) ||
        !EVP_DigestUpdate(s->md, pk32, 32) || !EVP_DigestUpdate(s->md, msg, msg_len) ||
        !EVP_DigestFinal_ex(s->md, h, &len) || len != 32) {
        return OST_ENOMEM;
    }
    if (BN_bin2bn(h, 32, s->e) == NULL) {
        return OST_ENOMEM;
    }
    /* h < 2^256 < 2n, so one conditional subtraction reduces mod n. */
    if (!below(h, s->n_be) && !BN_sub(s->e, s->e, s->n)) {
        return OST_ENOMEM;
    }
    return 0;
}

/* The whole verification; sig_ossl_verify only adds error-queue hygiene. */
static int verify(struct sig_ossl *s, const uint8_t pk32[32], const uint8_t *msg, size_t msg_len,
                  const uint8_t sig64[64])
{
    const uint8_t *r32 = sig64;
    const uint8_t *s32 = sig64 + 32;
    int rc;

    if (!below(pk32, s->p_be) || !below(r32, s->p_be) || !below(s32, s->n_be)) {
        return OST_EBADSIG;
    }
    rc = lift_x(s, pk32);
    if (rc != 0) {
        return rc;
    }
    rc = challenge(s, r32, pk32, msg, msg_len);
    if (rc != 0) {
        return rc;
    }
    /* s->e becomes -e mod n, in [0, n): n - e, or 0 when e is 0. */
    if (!BN_is_zero(s->e) && !BN_sub(s->e, s->n, s->e)) {
        return OST_ENOMEM;
    }
    if (BN_bin2bn(s32, 32, s->sig_s) == NULL) {
        return OST_ENOMEM;
    }
    /* R = s*G + (n - e)*P = s*G - e*P. */
    if (!EC_POINT_mul(s->group, s->pt_r, s->sig_s, s->pt_p, s->e, s->bn)) {
        return OST_ENOMEM;
    }
    if (EC_POINT_is_at_infinity(s->group, s->pt_r)) {
        return OST_EBADSIG;
    }
    if (!EC_POINT_get_affine_coordinates(s->group, s->pt_r, s->rx, s->ry, s->bn)) {
        return OST_ENOMEM;
    }
    if (BN_is_odd(s->ry)) {
        return OST_EBADSIG;
    }
    /* x(R) < p and r < p, so comparing 32 padded bytes is exact. */
    uint8_t rx32[32];
    if (BN_bn2binpad(s->rx, rx32, 32) != 32) {
        return OST_ENOMEM;
    }
    return memcmp(rx32, r32, 32) == 0 ? 0 : OST_EBADSIG;
}

int sig_ossl_verify(struct sig_ossl *s, const uint8_t pubkey32[32], const uint8_t *msg,
                    size_t msg_len, const uint8_t sig64[64])
{
    int rc = verify(s, pubkey32, msg, msg_len, sig64);
    if (rc == OST_ENOMEM) {
        /* Only a failing OpenSSL call reaches here, and it left entries on
         * this thread's error queue; drop them so they cannot be mistaken
         * for the cause of a later, unrelated failure. Rejections never
         * touch the queue, so the common path pays nothing. */
        ERR_clear_error();
    }
    return rc;
}
