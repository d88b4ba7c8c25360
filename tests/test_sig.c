/*
 * Tests for validate/sig: every BIP-340 vector through both engines, signing
 * the vectors again with libsecp256k1 to prove the CSV is read correctly, a
 * seeded random agreement test with tampered signatures, and the engine
 * name helpers. The shared vector file may be a pre-final draft of BIP-340;
 * its rows are then held to the draft rule by the test's own checker
 * (bip340_ref.h), and the engines to the final rule.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include "bip340_ref.h"
#include "check.h"
#include "common/hex.h"
#include "validate/sig.h"
#include "validate/sig_ossl.h"
#include "validate/sig_secp.h"

#define VEC_MAX        64
#define VEC_MSG_MAX    256
#define VEC_MIN_ROWS   15
#define RANDOM_ROUNDS  2000
#define RANDOM_SEED    UINT64_C(0x05791C4B1B340A11)
#define RANDOM_MSG_MAX 100
#define REF_EVERY      10 /* rounds per round also run through the checker */
#define ENGINE_COUNT   2

/* One row of bip340-test-vectors.csv, decoded. */
struct vec {
    int index;
    bool has_sk;
    uint8_t sk[32];
    uint8_t pk[32];
    uint8_t aux[32];
    uint8_t msg[VEC_MSG_MAX];
    size_t msg_len;
    uint8_t sig[64];
    bool is_valid;
    char comment[256];
};

static const enum sig_engine engines[ENGINE_COUNT] = { SIG_ENGINE_NATIVE, SIG_ENGINE_FALLBACK };

/* secp256k1's field prime p and group order n, big-endian, written out here
 * independently of the engine so the boundary cases do not borrow the code
 * under test. */
static const uint8_t field_p[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFF, 0xFC, 0x2F,
};
static const uint8_t order_n[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
    0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41,
};

/* Decodes a hex field of any case into out (at most cap bytes) and stores
 * its length. Returns false on odd length, overflow or a non-hex digit. */
static bool decode_field(const char *hex, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(hex);
    if (n % 2 != 0 || n / 2 > cap || hex_decode_any(hex, n / 2, out) != 0) {
        return false;
    }
    *len = n / 2;
    return true;
}

static bool decode_exact(const char *hex, uint8_t *out, size_t want)
{
    size_t len = 0;
    return decode_field(hex, out, want, &len) && len == want;
}

/* Splits line at the first seven commas; the eighth field (the comment) is
 * the rest of the line, so a comma inside a comment would be kept. */
static bool parse_row(char *line, struct vec *v)
{
    char *f[8];
    f[0] = line;
    for (int i = 1; i < 8; i++) {
        char *comma = strchr(f[i - 1], ',');
        if (comma == NULL) {
            return false;
        }
        *comma = '\0';
        f[i] = comma + 1;
    }
    memset(v, 0, sizeof(*v));
    char *end = NULL;
    v->index = (int)strtol(f[0], &end, 10);
    if (end == f[0] || *end != '\0') {
        return false;
    }
    v->has_sk = f[1][0] != '\0';
    if ((v->has_sk && !decode_exact(f[1], v->sk, 32)) || !decode_exact(f[2], v->pk, 32)) {
        return false;
    }
    if (f[3][0] != '\0' && !decode_exact(f[3], v->aux, 32)) {
        return false;
    }
    if (!decode_field(f[4], v->msg, sizeof(v->msg), &v->msg_len) ||
        !decode_exact(f[5], v->sig, 64)) {
        return false;
    }
    if (strcmp(f[6], "TRUE") == 0) {
        v->is_valid = true;
    } else if (strcmp(f[6], "FALSE") != 0) {
        return false;
    }
    snprintf(v->comment, sizeof(v->comment), "%s", f[7]);
    return true;
}

/* Reads the shared vector file into out. Returns the number of rows, or -1
 * (after printing why) when the file is missing or a row is malformed. */
static int load_vectors(struct vec *out, int cap)
{
    const char *root = getenv("OSTRICH_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/../shared/data/bip340-test-vectors.csv", root ? root : ".");
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "  cannot open %s (is OSTRICH_SOURCE_DIR set?)\n", path);
        return -1;
    }
    char line[2048];
    int n = 0, lineno = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (lineno == 1 || line[0] == '\0') {
            continue; /* the header row */
        }
        if (n == cap || !parse_row(line, &out[n])) {
            fprintf(stderr, "  %s:%d: malformed or too many rows\n", path, lineno);
            n = -1;
            break;
        }
        n++;
    }
    fclose(f);
    return n;
}

/* Signs row t under the final rule with libsecp256k1 (sign32 for a 32-byte
 * message, as Nostr does, sign_custom otherwise) into pk and sig. */
static bool sign_row(secp256k1_context *ctx, const struct vec *t, uint8_t pk[32], uint8_t sig[64])
{
    secp256k1_keypair kp;
    secp256k1_xonly_pubkey xpk;
    bool is_ok = secp256k1_keypair_create(ctx, &kp, t->sk) &&
                 secp256k1_keypair_xonly_pub(ctx, &xpk, NULL, &kp) &&
                 secp256k1_xonly_pubkey_serialize(ctx, pk, &xpk);
    if (is_ok && t->msg_len == 32) {
        is_ok = secp256k1_schnorrsig_sign32(ctx, sig, t->msg, &kp, t->aux);
    } else if (is_ok) {
        secp256k1_schnorrsig_extraparams ep = SECP256K1_SCHNORRSIG_EXTRAPARAMS_INIT;
        ep.ndata = (unsigned char *)t->aux;
        is_ok = secp256k1_schnorrsig_sign_custom(ctx, sig, t->msg, t->msg_len, &kp, &ep);
    }
    return is_ok;
}

/* Which BIP-340 revision the vector file is. The drafts before the final
 * revision required R to have a square y and used the challenge tag
 * "BIP340/challenge"; the final BIP (libsecp256k1, Nostr, both engines)
 * requires an even y and uses "BIP0340/challenge". A draft names
 * has_square_y in its comments, and its signatures do not come out again
 * when the rows are signed under the final rule. Either sign makes it a
 * draft. */
struct revision {
    bool is_draft;
    bool has_marker;  /* some comment names has_square_y */
    int n_keyed;      /* TRUE rows with a secret key */
    int n_reproduced; /* of those, signed again byte for byte (final rule) */
};

static bool detect_revision(const struct vec *vecs, int n, struct revision *out)
{
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (ctx == NULL) {
        return false;
    }
    struct revision rev = { 0 };
    for (int i = 0; i < n; i++) {
        const struct vec *t = &vecs[i];
        uint8_t pk[32], sig[64];
        rev.has_marker |= strstr(t->comment, "has_square_y") != NULL;
        if (!t->is_valid || !t->has_sk) {
            continue;
        }
        rev.n_keyed++;
        rev.n_reproduced +=
            sign_row(ctx, t, pk, sig) && memcmp(pk, t->pk, 32) == 0 && memcmp(sig, t->sig, 64) == 0;
    }
    secp256k1_context_destroy(ctx);
    rev.is_draft = rev.has_marker || rev.n_reproduced < rev.n_keyed;
    *out = rev;
    return true;
}

/* The checker's verdict in the engines' terms. */
static int ref_rc(const struct bip340_ref_result *res)
{
    return res->verdict == BIP340_REF_OK ? 0 : OST_EBADSIG;
}

/* A draft file: its own rule must reproduce every verdict column (so the file
 * is read right and is self-consistent), and each engine must give what the
 * final rule gives for every row, which for a FALSE row is a rejection. */
static void check_draft_verdicts(const struct vec *vecs, int n, const struct revision *rev)
{
    struct bip340_ref *ref = NULL;
    struct sig_verifier *v[ENGINE_COUNT] = { NULL, NULL };
    int setup = 0, failures = 0, n_true = 0, n_true_odd = 0, n_true_final = 0;

    CHECK_OK(bip340_ref_new(&ref));
    for (int e = 0; e < ENGINE_COUNT; e++) {
        setup += sig_verifier_new(engines[e], &v[e]) != 0;
    }
    /* Every row is checked before the verdict, so one report shows them all. */
    for (int i = 0; i < n && setup == 0; i++) {
        const struct vec *t = &vecs[i];
        const char *what = t->comment[0] ? t->comment : "no comment";
        struct bip340_ref_result draft, final;
        if (bip340_ref_verify(ref, BIP340_REF_Y_SQUARE, BIP340_REF_TAG_DRAFT, t->pk, t->msg,
                              t->msg_len, t->sig, &draft) != 0 ||
            bip340_ref_verify(ref, BIP340_REF_Y_EVEN, BIP340_REF_TAG_FINAL, t->pk, t->msg,
                              t->msg_len, t->sig, &final) != 0) {
            setup++;
            break;
        }
        if ((draft.verdict == BIP340_REF_OK) != t->is_valid) {
            fprintf(stderr, "  vector %d (%s): draft rule says %s, the file says %s\n", t->index,
                    what, bip340_ref_verdict_name(draft.verdict), t->is_valid ? "TRUE" : "FALSE");
            failures++;
        }
        if (t->is_valid) {
            n_true++;
            n_true_odd += draft.has_point && !draft.is_y_even;
            n_true_final += final.verdict == BIP340_REF_OK;
        }
        for (int e = 0; e < ENGINE_COUNT; e++) {
            int rc = sig_verify(v[e], t->pk, t->msg, t->msg_len, t->sig);
            if (rc != ref_rc(&final) || (!t->is_valid && rc != OST_EBADSIG)) {
                fprintf(stderr, "  %s: vector %d (%s): got %d (%s), final rule says %s\n",
                        sig_engine_name(engines[e]), t->index, what, rc, ost_strerror(rc),
                        bip340_ref_verdict_name(final.verdict));
                failures++;
            }
        }
    }
    for (int e = 0; e < ENGINE_COUNT; e++) {
        sig_verifier_free(v[e]);
    }
    bip340_ref_free(ref);
    CHECK_INT_EQ(setup, 0);
    fprintf(stderr,
            "  note: draft BIP-340 vector file detected (has_square_y comment: %s; %d of %d keyed "
            "rows re-sign identically): its %d TRUE rows are checked under the draft rule "
            "(square-y R, \"%s\") by this test's own checker, while the engines are held to the "
            "final rule (even-y R, \"%s\"), which accepts %d of them\n",
            rev->has_marker ? "yes" : "no", rev->n_reproduced, rev->n_keyed, n_true,
            BIP340_REF_TAG_DRAFT, BIP340_REF_TAG_FINAL, n_true_final);
    CHECK_INT_EQ(failures, 0);
    CHECK(n_true > 0);
    /* Beyond the tag, the y rule itself separates the revisions on this
     * file: some valid draft signature has an R with odd y. */
    CHECK(n_true_odd > 0);
}

static void test_vectors_both_engines(void)
{
    struct vec vecs[VEC_MAX];
    int n = load_vectors(vecs, VEC_MAX);
    CHECK(n >= VEC_MIN_ROWS);

    int n_valid = 0, n_invalid = 0;
    for (int i = 0; i < n; i++) {
        n_valid += vecs[i].is_valid;
        n_invalid += !vecs[i].is_valid;
    }
    CHECK(n_valid > 0 && n_invalid > 0);

    struct revision rev;
    CHECK(detect_revision(vecs, n, &rev));
    if (rev.is_draft) {
        check_draft_verdicts(vecs, n, &rev);
        return;
    }

    /* Both engines run over every row before the verdict, so one report
     * shows where each of them stands. */
    int failures = 0;
    for (int e = 0; e < ENGINE_COUNT; e++) {
        struct sig_verifier *v = NULL;
        CHECK_OK(sig_verifier_new(engines[e], &v));
        for (int i = 0; i < n; i++) {
            const struct vec *t = &vecs[i];
            int rc = sig_verify(v, t->pk, t->msg, t->msg_len, t->sig);
            int want = t->is_valid ? 0 : OST_EBADSIG;
            if (rc != want) {
                fprintf(stderr, "  %s: vector %d (%s): got %d (%s), want %d\n",
                        sig_engine_name(engines[e]), t->index,
                        t->comment[0] ? t->comment : "no comment", rc, ost_strerror(rc), want);
                failures++;
            }
        }
        sig_verifier_free(v);
    }
    CHECK_INT_EQ(failures, 0);
}

/* Signing each vector that has a secret key must reproduce its public key
 * and, in a final file, its signature exactly; this proves the CSV columns
 * are read as intended. A draft's signatures follow the draft rule, so there
 * the new signature must instead pass both engines and the final-rule
 * checker. */
static void test_vectors_resign(void)
{
    struct vec vecs[VEC_MAX];
    int n = load_vectors(vecs, VEC_MAX);
    CHECK(n >= VEC_MIN_ROWS);
    struct revision rev;
    CHECK(detect_revision(vecs, n, &rev));

    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    struct bip340_ref *ref = NULL;
    struct sig_verifier *v[ENGINE_COUNT] = { NULL, NULL };
    int signed_rows = 0, failures = 0, setup = ctx == NULL || bip340_ref_new(&ref) != 0;
    for (int e = 0; e < ENGINE_COUNT; e++) {
        setup += sig_verifier_new(engines[e], &v[e]) != 0;
    }
    for (int i = 0; i < n && setup == 0; i++) {
        const struct vec *t = &vecs[i];
        if (!t->has_sk) {
            continue;
        }
        uint8_t pk[32], sig[64];
        bool is_ok = sign_row(ctx, t, pk, sig) && memcmp(pk, t->pk, 32) == 0;
        if (is_ok && !rev.is_draft) {
            is_ok = memcmp(sig, t->sig, 64) == 0;
        } else if (is_ok) {
            struct bip340_ref_result res;
            is_ok = bip340_ref_verify(ref, BIP340_REF_Y_EVEN, BIP340_REF_TAG_FINAL, pk, t->msg,
                                      t->msg_len, sig, &res) == 0 &&
                    res.verdict == BIP340_REF_OK;
            for (int e = 0; e < ENGINE_COUNT; e++) {
                is_ok = is_ok && sig_verify(v[e], pk, t->msg, t->msg_len, sig) == 0;
            }
        }
        if (!is_ok) {
            fprintf(stderr, "  vector %d: signing does not %s\n", t->index,
                    rev.is_draft ? "give the row's key and a signature valid under the final rule"
                                 : "reproduce the row");
            failures++;
        }
        signed_rows++;
    }
    for (int e = 0; e < ENGINE_COUNT; e++) {
        sig_verifier_free(v[e]);
    }
    bip340_ref_free(ref);
    if (ctx != NULL) {
        secp256k1_context_destroy(ctx);
    }
    CHECK_INT_EQ(setup, 0);
    CHECK_INT_EQ(failures, 0);
    CHECK(signed_rows >= 4);
}

/* splitmix64: small, seedable and good enough to spread test inputs. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static void rng_fill(uint64_t *state, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        out[i] = (uint8_t)rng_next(state);
    }
}

/* Adds k to the 32-byte big-endian a in place (no overflow in our use). */
static void be32_add_small(uint8_t a[32], unsigned k)
{
    for (int i = 31; i >= 0 && k != 0; i--) {
        unsigned sum = a[i] + k;
        a[i] = (uint8_t)sum;
        k = sum >> 8;
    }
}

/* Subtracts the 32-byte big-endian b from a, both < 2^256, with a >= b. */
static void be32_sub(const uint8_t a[32], const uint8_t b[32], uint8_t out[32])
{
    int borrow = 0;
    for (int i = 31; i >= 0; i--) {
        int d = a[i] - b[i] - borrow;
        borrow = d < 0;
        out[i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
}

enum tamper {
    TAMPER_R_BIT,
    TAMPER_S_BIT,
    TAMPER_MSG_BIT,
    TAMPER_PK_BIT,
    TAMPER_S_IS_N,
    TAMPER_S_IS_N_PLUS_1,
    TAMPER_S_NEGATED,
    TAMPER_R_IS_P,
    TAMPER_PK_OFF_CURVE,
    TAMPER_COUNT,
};

static const char *const tamper_names[TAMPER_COUNT] = {
    "flip a bit of r",
    "flip a bit of s",
    "flip a bit of msg",
    "flip a bit of pubkey",
    "s = n",
    "s = n + 1",
    "s = n - s",
    "r = p",
    "pubkey x off the curve",
};

/* One signed case, before and after tampering. */
struct rcase {
    uint8_t pk[32];
    uint8_t msg[RANDOM_MSG_MAX];
    size_t msg_len;
    uint8_t sig[64];
};

/* Applies tamper k to c. off_curve_x is an x with no point on the curve.
 * Returns false when k does not apply (a bit flip in an empty message). */
static bool apply_tamper(struct rcase *c, enum tamper k, uint64_t *rng,
                         const uint8_t off_curve_x[32])
{
    unsigned bit = (unsigned)rng_next(rng);
    switch (k) {
    case TAMPER_R_BIT:
        c->sig[(bit >> 3) % 32] ^= (uint8_t)(1u << (bit & 7));
        return true;
    case TAMPER_S_BIT:
        c->sig[32 + (bit >> 3) % 32] ^= (uint8_t)(1u << (bit & 7));
        return true;
    case TAMPER_MSG_BIT:
        if (c->msg_len == 0) {
            return false;
        }
        c->msg[(bit >> 3) % c->msg_len] ^= (uint8_t)(1u << (bit & 7));
        return true;
    case TAMPER_PK_BIT:
        c->pk[(bit >> 3) % 32] ^= (uint8_t)(1u << (bit & 7));
        return true;
    case TAMPER_S_IS_N:
        memcpy(c->sig + 32, order_n, 32);
        return true;
    case TAMPER_S_IS_N_PLUS_1:
        memcpy(c->sig + 32, order_n, 32);
        be32_add_small(c->sig + 32, 1);
        return true;
    case TAMPER_S_NEGATED:
        be32_sub(order_n, c->sig + 32, c->sig + 32);
        return true;
    case TAMPER_R_IS_P:
        memcpy(c->sig, field_p, 32);
        return true;
    case TAMPER_PK_OFF_CURVE:
        memcpy(c->pk, off_curve_x, 32);
        return true;
    case TAMPER_COUNT:
        break;
    }
    return false;
}

/* Finds an x below p that has no point on the curve (about half of all x
 * qualify), checked with libsecp256k1 as the reference. */
static bool find_off_curve_x(secp256k1_context *ctx, uint64_t *rng, uint8_t out[32])
{
    for (int tries = 0; tries < 256; tries++) {
        secp256k1_xonly_pubkey pk;
        rng_fill(rng, out, 32);
        out[0] &= 0x7F; /* well below p */
        if (!secp256k1_xonly_pubkey_parse(ctx, &pk, out)) {
            return true;
        }
    }
    return false;
}

/* Signs a random message under a random key. Every eighth message has a
 * random length in 0..RANDOM_MSG_MAX (NULL when empty) to exercise the
 * variable-length path; the rest are 32 bytes like a Nostr event id. */
static bool make_case(secp256k1_context *ctx, uint64_t *rng, int round, struct rcase *c)
{
    uint8_t sk[32], aux[32];
    secp256k1_keypair kp;
    secp256k1_xonly_pubkey xpk;
    do {
        rng_fill(rng, sk, 32);
    } while (!secp256k1_keypair_create(ctx, &kp, sk));
    rng_fill(rng, aux, 32);
    c->msg_len = round % 8 == 7 ? (size_t)(rng_next(rng) % (RANDOM_MSG_MAX + 1)) : 32;
    rng_fill(rng, c->msg, c->msg_len);
    const uint8_t *msg = c->msg_len ? c->msg : NULL;
    secp256k1_schnorrsig_extraparams ep = SECP256K1_SCHNORRSIG_EXTRAPARAMS_INIT;
    ep.ndata = aux;
    return secp256k1_keypair_xonly_pub(ctx, &xpk, NULL, &kp) &&
           secp256k1_xonly_pubkey_serialize(ctx, c->pk, &xpk) &&
           secp256k1_schnorrsig_sign_custom(ctx, c->sig, msg, c->msg_len, &kp, &ep);
}

/* Both engines must agree with libsecp256k1's signing on random cases,
 * untouched and tampered. Every REF_EVERY-th round also goes through the
 * test's final-rule checker, which is how the checker used on draft files is
 * itself held to libsecp256k1. */
static void test_random_agreement(void)
{
    uint64_t rng = RANDOM_SEED;
    struct sig_verifier *v[ENGINE_COUNT] = { NULL, NULL };
    struct bip340_ref *ref = NULL;
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    int tamper_seen[TAMPER_COUNT] = { 0 }, ref_tamper_seen[TAMPER_COUNT] = { 0 };
    int failures = 0, ref_valid = 0, ref_short = 0;
    uint8_t off_curve_x[32];

    ERR_clear_error();
    CHECK(ctx != NULL);
    CHECK(find_off_curve_x(ctx, &rng, off_curve_x));
    failures += bip340_ref_new(&ref) != 0;
    for (int e = 0; e < ENGINE_COUNT && failures == 0; e++) {
        failures += sig_verifier_new(engines[e], &v[e]) != 0;
    }
    for (int round = 0; round < RANDOM_ROUNDS && failures == 0; round++) {
        struct rcase good;
        if (!make_case(ctx, &rng, round, &good)) {
            fprintf(stderr, "  round %d: signing failed\n", round);
            failures++;
            break;
        }
        /* REF_EVERY - 1 is odd, so these rounds include the odd-numbered
         * ones with a message of random length. */
        bool is_ref_round = round % REF_EVERY == REF_EVERY - 1;
        for (int k = -1; k < TAMPER_COUNT; k++) {
            struct rcase c = good;
            if (k >= 0 && !apply_tamper(&c, (enum tamper)k, &rng, off_curve_x)) {
                continue;
            }
            int want = k < 0 ? 0 : OST_EBADSIG;
            const uint8_t *msg = c.msg_len ? c.msg : NULL;
            int rc[ENGINE_COUNT];
            for (int e = 0; e < ENGINE_COUNT; e++) {
                rc[e] = sig_verify(v[e], c.pk, msg, c.msg_len, c.sig);
            }
            struct bip340_ref_result res = { .verdict = BIP340_REF_OK };
            if (is_ref_round && bip340_ref_verify(ref, BIP340_REF_Y_EVEN, BIP340_REF_TAG_FINAL,
                                                  c.pk, msg, c.msg_len, c.sig, &res) != 0) {
                failures++;
                break;
            }
            int ref_got = is_ref_round ? ref_rc(&res) : want;
            if (rc[0] != want || rc[1] != want || ref_got != want) {
                fprintf(stderr,
                        "  seed %#" PRIx64 " round %d (%s, msg_len %zu): native %d, "
                        "fallback %d, checker %s, want %d\n",
                        RANDOM_SEED, round, k < 0 ? "untouched" : tamper_names[k], c.msg_len, rc[0],
                        rc[1], is_ref_round ? bip340_ref_verdict_name(res.verdict) : "not run",
                        want);
                failures++;
            }
            if (k >= 0) {
                tamper_seen[k]++;
                ref_tamper_seen[k] += is_ref_round;
            }
            ref_valid += is_ref_round && k < 0;
            ref_short += is_ref_round && k < 0 && c.msg_len != 32;
        }
    }
    for (int e = 0; e < ENGINE_COUNT; e++) {
        sig_verifier_free(v[e]);
    }
    bip340_ref_free(ref);
    secp256k1_context_destroy(ctx);
    CHECK_INT_EQ(failures, 0);
    for (int k = 0; k < TAMPER_COUNT; k++) {
        CHECK(tamper_seen[k] > RANDOM_ROUNDS / 2);
        CHECK(ref_tamper_seen[k] > RANDOM_ROUNDS / REF_EVERY / 2);
    }
    CHECK_INT_EQ(ref_valid, RANDOM_ROUNDS / REF_EVERY);
    CHECK(ref_short > 0);
    /* Rejections must not leave entries on OpenSSL's per-thread error queue. */
    CHECK_INT_EQ(ERR_peek_error(), 0);
}

/* An empty message is legal in BIP-340 and may be passed as NULL. */
static void test_empty_message(void)
{
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    CHECK(ctx != NULL);
    uint8_t sk[32] = { [31] = 7 }, pk[32], sig[64];
    secp256k1_keypair kp;
    secp256k1_xonly_pubkey xpk;
    secp256k1_schnorrsig_extraparams ep = SECP256K1_SCHNORRSIG_EXTRAPARAMS_INIT;
    bool is_ok = secp256k1_keypair_create(ctx, &kp, sk) &&
                 secp256k1_keypair_xonly_pub(ctx, &xpk, NULL, &kp) &&
                 secp256k1_xonly_pubkey_serialize(ctx, pk, &xpk) &&
                 secp256k1_schnorrsig_sign_custom(ctx, sig, NULL, 0, &kp, &ep);
    secp256k1_context_destroy(ctx);
    CHECK(is_ok);

    const uint8_t zero = 0;
    for (int e = 0; e < ENGINE_COUNT; e++) {
        struct sig_verifier *v = NULL;
        CHECK_OK(sig_verifier_new(engines[e], &v));
        int rc_empty = sig_verify(v, pk, NULL, 0, sig);
        int rc_one = sig_verify(v, pk, &zero, 1, sig);
        sig_verifier_free(v);
        CHECK_OK(rc_empty);
        CHECK_INT_EQ(rc_one, OST_EBADSIG);
    }
}

/* The engines can also be used directly, and their _free accepts NULL. */
static void test_engines_direct(void)
{
    struct sig_secp *sp = NULL;
    struct sig_ossl *so = NULL;
    uint8_t pk[32], sig[64];
    CHECK_OK(
        hex_decode_any("F9308A019258C31049344F85F89D5229B531C845836F99B08601F113BCE036F9", 32, pk));
    /* BIP-340 vector 0: secret key 3, message and aux_rand all zero. */
    CHECK_OK(hex_decode_any("E907831F80848D1069A5371B402410364BDF1C5F8307B0084C55F1CE2DCA8215"
                            "25F66A4A85EA8B71E482A74F382D2CE5EBEEE8FDB2172F477DF4900D310536C0",
                            64, sig));
    const uint8_t msg[32] = { 0 };
    CHECK_OK(sig_secp_new(&sp));
    CHECK_OK(sig_ossl_new(&so));
    int rc_secp = sig_secp_verify(sp, pk, msg, 32, sig);
    int rc_ossl = sig_ossl_verify(so, pk, msg, 32, sig);
    sig[63] ^= 1;
    int rc_secp_bad = sig_secp_verify(sp, pk, msg, 32, sig);
    int rc_ossl_bad = sig_ossl_verify(so, pk, msg, 32, sig);
    sig_secp_free(sp);
    sig_ossl_free(so);
    sig_secp_free(NULL);
    sig_ossl_free(NULL);
    CHECK_OK(rc_secp);
    CHECK_OK(rc_ossl);
    CHECK_INT_EQ(rc_secp_bad, OST_EBADSIG);
    CHECK_INT_EQ(rc_ossl_bad, OST_EBADSIG);
}

static void test_engine_names(void)
{
    for (int e = 0; e < ENGINE_COUNT; e++) {
        enum sig_engine got = (enum sig_engine) - 1;
        CHECK_OK(sig_engine_parse(sig_engine_name(engines[e]), &got));
        CHECK_INT_EQ(got, engines[e]);
    }
    CHECK_STR_EQ(sig_engine_name(SIG_ENGINE_NATIVE), "native");
    CHECK_STR_EQ(sig_engine_name(SIG_ENGINE_FALLBACK), "fallback");
    CHECK_STR_EQ(sig_engine_name((enum sig_engine)2), "unknown");

    static const char *const bad[] = {
        "", "Native", "FALLBACK", "native ", "secp256k1", "openssl"
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum sig_engine got = SIG_ENGINE_FALLBACK;
        CHECK_INT_EQ(sig_engine_parse(bad[i], &got), OST_EINVAL);
        CHECK_INT_EQ(got, SIG_ENGINE_FALLBACK); /* untouched on failure */
    }
}

static void test_verifier_lifecycle(void)
{
    struct sig_verifier *v = (struct sig_verifier *)&v; /* a sentinel, never used */
    CHECK_INT_EQ(sig_verifier_new((enum sig_engine)2, &v), OST_EINVAL);
    CHECK(v == (struct sig_verifier *)&v);
    CHECK_INT_EQ(sig_verifier_new((enum sig_engine) - 1, &v), OST_EINVAL);
    CHECK(v == (struct sig_verifier *)&v);
    sig_verifier_free(NULL);
    for (int e = 0; e < ENGINE_COUNT; e++) {
        v = NULL;
        CHECK_OK(sig_verifier_new(engines[e], &v));
        CHECK(v != NULL);
        sig_verifier_free(v);
    }
}

CHECK_MAIN({ "vectors_both_engines", test_vectors_both_engines },
           { "vectors_resign", test_vectors_resign }, { "random_agreement", test_random_agreement },
           { "empty_message", test_empty_message }, { "engines_direct", test_engines_direct },
           { "engine_names", test_engine_names }, { "verifier_lifecycle", test_verifier_lifecycle })
