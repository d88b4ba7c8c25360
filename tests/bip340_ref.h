/*
 * A slow, plain reference checker for BIP-340 signatures, for tests only: it
 * follows the verification steps of the BIP on OpenSSL's BN and EC, with the
 * rule for R's y coordinate and the challenge tag as parameters. The final
 * BIP uses even y and "BIP0340/challenge"; the pre-final drafts used a
 * square y (a quadratic residue mod p) and "BIP340/challenge". Both
 * revisions lift the x-only public key to the point with even y.
 *
 * A checker holds an EC group and a BN_CTX: one per thread, never shared.
 */
#ifndef OSTRICH_TESTS_BIP340_REF_H
#define OSTRICH_TESTS_BIP340_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BIP340_REF_TAG_FINAL "BIP0340/challenge"
#define BIP340_REF_TAG_DRAFT "BIP340/challenge"

/* What y(R) must satisfy for a signature to be valid. */
enum bip340_ref_y_rule {
    BIP340_REF_Y_EVEN,   /* final BIP-340 */
    BIP340_REF_Y_SQUARE, /* pre-final drafts: y^((p-1)/2) mod p == 1 */
};

/* The first verification step that failed, or BIP340_REF_OK. */
enum bip340_ref_verdict {
    BIP340_REF_OK,
    BIP340_REF_BAD_PUBKEY, /* pk >= p, or no point has x = pk */
    BIP340_REF_R_TOO_BIG,  /* sig[0:32] >= p */
    BIP340_REF_S_TOO_BIG,  /* sig[32:64] >= n */
    BIP340_REF_R_INFINITE, /* s*G - e*P is the point at infinity */
    BIP340_REF_X_MISMATCH, /* x(R) != r */
    BIP340_REF_Y_REJECTED, /* y(R) breaks the rule */
};

/* The verdict, and the facts about R when it was computed. */
struct bip340_ref_result {
    enum bip340_ref_verdict verdict;
    bool has_point;   /* R was computed and is not infinity */
    bool is_y_even;   /* valid only with has_point */
    bool is_y_square; /* valid only with has_point */
};

struct bip340_ref;

/* Creates a checker. Returns 0 or OST_ENOMEM; *out is written only on
 * success. */
int bip340_ref_new(struct bip340_ref **out);

/* Frees ref. NULL does nothing. */
void bip340_ref_free(struct bip340_ref *ref);

/* Checks sig64 over msg (msg_len bytes, NULL allowed when 0) under the
 * x-only public key pk32, with y_rule for R and challenge_tag for the tagged
 * hash. All buffers are borrowed. Returns 0 with *out filled, or OST_ENOMEM
 * (*out untouched). Leaves nothing on OpenSSL's error queue on success. */
int bip340_ref_verify(struct bip340_ref *ref, enum bip340_ref_y_rule y_rule,
                      const char *challenge_tag, const uint8_t pk32[32], const uint8_t *msg,
                      size_t msg_len, const uint8_t sig64[64], struct bip340_ref_result *out);

/* A static name for verdict, for failure messages. */
const char *bip340_ref_verdict_name(enum bip340_ref_verdict verdict);

#endif
