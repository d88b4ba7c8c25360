/*
 * The BIP-340 reference checker for tests (see bip340_ref.h). It favours
 * being easy to compare with the text of the BIP over speed: every step is
 * one BN or EC call, and nothing is shared with validate/sig_ossl.
 */
#include "bip340_ref.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "common/err.h"

/* Owned by: the thread that created it. */
struct bip340_ref {
    EC_GROUP *group;
    BN_CTX *bn;
    BIGNUM *p;         /* the field prime */
    BIGNUM *n;         /* the group order */
    BIGNUM *sqrt_exp;  /* (p + 1) / 4: p = 3 mod 4, so c^sqrt_exp is a root of a square c */
    BIGNUM *euler_exp; /* (p - 1) / 2 */
    EVP_MD_CTX *md;
};

int bip340_ref_new(struct bip340_ref **out)
{
    struct bip340_ref *ref = OPENSSL_zalloc(sizeof(*ref));
    if (ref == NULL) {
        return OST_ENOMEM;
    }
    ref->group = EC_GROUP_new_by_curve_name(NID_secp256k1);
    ref->bn = BN_CTX_new();
    ref->p = BN_new();
    ref->n = BN_new();
    ref->sqrt_exp = BN_new();
    ref->euler_exp = BN_new();
    ref->md = EVP_MD_CTX_new();
    if (ref->group == NULL || ref->bn == NULL || ref->p == NULL || ref->n == NULL ||
        ref->sqrt_exp == NULL || ref->euler_exp == NULL || ref->md == NULL ||
        !EC_GROUP_get_curve(ref->group, ref->p, NULL, NULL, ref->bn) ||
        BN_copy(ref->n, EC_GROUP_get0_order(ref->group)) == NULL ||
        !BN_add(ref->sqrt_exp, ref->p, BN_value_one()) ||
        !BN_rshift(ref->sqrt_exp, ref->sqrt_exp, 2) ||
        !BN_sub(ref->euler_exp, ref->p, BN_value_one()) ||
        !BN_rshift1(ref->euler_exp, ref->euler_exp)) {
        bip340_ref_free(ref);
        return OST_ENOMEM;
    }
    *out = ref;
    return 0;
}

void bip340_ref_free(struct bip340_ref *ref)
{
    if (ref == NULL) {
        return;
    }
    EVP_MD_CTX_free(ref->md);
    BN_free(ref->euler_exp);
    BN_free(ref->sqrt_exp);
    BN_free(ref->n);
    BN_free(ref->p);
    BN_CTX_free(ref->bn);
    EC_GROUP_free(ref->group);
    OPENSSL_free(ref);
}

/* e = int(SHA256(SHA256(tag) || SHA256(tag) || r || pk || msg)) mod n. */
static bool challenge(struct bip340_ref *ref, const char *tag, const uint8_t r32[32],
                      const uint8_t pk32[32], const uint8_t *msg, size_t msg_len, BIGNUM *e)
{
    uint8_t tag_hash[32], digest[32];
    unsigned int len = 0;
    if (!EVP_DigestInit_ex(ref->md, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(ref->md, tag, strlen(tag)) ||
        !EVP_DigestFinal_ex(ref->md, tag_hash, &len) || len != 32) {
        return false;
    }
    if (!EVP_DigestInit_ex(ref->md, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(ref->md, tag_hash, 32) || !EVP_DigestUpdate(ref->md, tag_hash, 32) ||
        !EVP_DigestUpdate(ref->md, r32, 32) || !EVP_DigestUpdate(ref->md, pk32, 32) ||
        (msg_len != 0 && !EVP_DigestUpdate(ref->md, msg, msg_len)) ||
        !EVP_DigestFinal_ex(ref->md, digest, &len) || len != 32) {
        return false;
    }
    return BN_bin2bn(digest, 32, e) != NULL && BN_nnmod(e, e, ref->n, ref->bn);
}

/* lift_x: sets *is_on_curve and, when true, P to the point with x and an
 * even y. The square root is taken by hand rather than with BN_mod_sqrt or
 * compressed coordinates, which leave an error queued for a non-square. */
static bool lift_x(struct bip340_ref *ref, const BIGNUM *x, EC_POINT *point, bool *is_on_curve)
{
    BN_CTX_start(ref->bn);
    BIGNUM *c = BN_CTX_get(ref->bn);
    BIGNUM *y = BN_CTX_get(ref->bn);
    BIGNUM *y2 = BN_CTX_get(ref->bn);
    BIGNUM *seven = BN_CTX_get(ref->bn);
    bool is_ok = y2 != NULL && BN_set_word(seven, 7);
    *is_on_curve = false;
    if (is_ok && BN_cmp(x, ref->p) < 0) {
        is_ok = BN_mod_sqr(c, x, ref->p, ref->bn) && BN_mod_mul(c, c, x, ref->p, ref->bn) &&
                BN_mod_add(c, c, seven, ref->p, ref->bn) &&
                BN_mod_exp(y, c, ref->sqrt_exp, ref->p, ref->bn) &&
                BN_mod_sqr(y2, y, ref->p, ref->bn);
        *is_on_curve = is_ok && BN_cmp(y2, c) == 0;
    }
    if (is_ok && *is_on_curve && BN_is_odd(y)) {
        is_ok = BN_sub(y, ref->p, y);
    }
    if (is_ok && *is_on_curve) {
        is_ok = EC_POINT_set_affine_coordinates(ref->group, point, x, y, ref->bn);
    }
    BN_CTX_end(ref->bn);
    return is_ok;
}

int bip340_ref_verify(struct bip340_ref *ref, enum bip340_ref_y_rule y_rule,
                      const char *challenge_tag, const uint8_t pk32[32], const uint8_t *msg,
                      size_t msg_len, const uint8_t sig64[64], struct bip340_ref_result *out)
{
    struct bip340_ref_result res = { .verdict = BIP340_REF_OK };
    int rc = OST_ENOMEM;
    EC_POINT *pub = EC_POINT_new(ref->group);
    EC_POINT *big_r = EC_POINT_new(ref->group);
    BN_CTX_start(ref->bn);
    BIGNUM *x = BN_CTX_get(ref->bn);
    BIGNUM *r = BN_CTX_get(ref->bn);
    BIGNUM *s = BN_CTX_get(ref->bn);
    BIGNUM *e = BN_CTX_get(ref->bn);
    BIGNUM *neg_e = BN_CTX_get(ref->bn);
    BIGNUM *rx = BN_CTX_get(ref->bn);
    BIGNUM *ry = BN_CTX_get(ref->bn);
    BIGNUM *euler = BN_CTX_get(ref->bn);
    bool is_on_curve = false;
    if (pub == NULL || big_r == NULL || euler == NULL || BN_bin2bn(pk32, 32, x) == NULL ||
        BN_bin2bn(sig64, 32, r) == NULL || BN_bin2bn(sig64 + 32, 32, s) == NULL ||
        !lift_x(ref, x, pub, &is_on_curve)) {
        goto out;
    }
    if (!is_on_curve) {
        res.verdict = BIP340_REF_BAD_PUBKEY;
    } else if (BN_cmp(r, ref->p) >= 0) {
        res.verdict = BIP340_REF_R_TOO_BIG;
    } else if (BN_cmp(s, ref->n) >= 0) {
        res.verdict = BIP340_REF_S_TOO_BIG;
    } else {
        /* R = s*G + (n - e)*P, which is s*G - e*P. */
        if (!challenge(ref, challenge_tag, sig64, pk32, msg, msg_len, e) ||
            !BN_mod_sub(neg_e, ref->n, e, ref->n, ref->bn) ||
            !EC_POINT_mul(ref->group, big_r, s, pub, neg_e, ref->bn)) {
            goto out;
        }
        if (EC_POINT_is_at_infinity(ref->group, big_r)) {
            res.verdict = BIP340_REF_R_INFINITE;
        } else {
            if (!EC_POINT_get_affine_coordinates(ref->group, big_r, rx, ry, ref->bn) ||
                !BN_mod_exp(euler, ry, ref->euler_exp, ref->p, ref->bn)) {
                goto out;
            }
            res.has_point = true;
            res.is_y_even = !BN_is_odd(ry);
            res.is_y_square = BN_is_one(euler);
            bool is_y_ok = y_rule == BIP340_REF_Y_EVEN ? res.is_y_even : res.is_y_square;
            if (BN_cmp(rx, r) != 0) {
                res.verdict = BIP340_REF_X_MISMATCH;
            } else if (!is_y_ok) {
                res.verdict = BIP340_REF_Y_REJECTED;
            }
        }
    }
    *out = res;
    rc = 0;
out:
    BN_CTX_end(ref->bn);
    EC_POINT_free(big_r);
    EC_POINT_free(pub);
    return rc;
}

const char *bip340_ref_verdict_name(enum bip340_ref_verdict verdict)
{
    switch (verdict) {
    case BIP340_REF_OK:
        return "valid";
    case BIP340_REF_BAD_PUBKEY:
        return "public key not on the curve";
    case BIP340_REF_R_TOO_BIG:
        return "r >= p";
    case BIP340_REF_S_TOO_BIG:
        return "s >= n";
    case BIP340_REF_R_INFINITE:
        return "R is infinity";
    case BIP340_REF_X_MISMATCH:
        return "x(R) != r";
    case BIP340_REF_Y_REJECTED:
        return "y(R) breaks the rule";
    }
    return "unknown";
}
