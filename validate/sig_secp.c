/*
 * The native BIP-340 engine: a thin wrapper over libsecp256k1's schnorrsig
 * module. Each verifier owns one secp256k1 context, created for the thread
 * that uses it and never shared (STYLE 3.4 rule 5). Verification needs no
 * precomputed tables since 0.2.0 and uses no secrets, so the context is
 * created with SECP256K1_CONTEXT_NONE and is not randomized.
 */
#include "validate/sig_secp.h"

#include <stdlib.h>

#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include "common/err.h"

/* Owned by: the one thread that created it. */
struct sig_secp {
    secp256k1_context *ctx;
};

int sig_secp_new(struct sig_secp **out)
{
    struct sig_secp *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        goto fail;
    }
    s->ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (s->ctx == NULL) {
        goto fail;
    }
    *out = s;
    return 0;

fail:
    free(s);
    return OST_ENOMEM;
}

void sig_secp_free(struct sig_secp *s)
{
    if (s == NULL) {
        return;
    }
    secp256k1_context_destroy(s->ctx);
    free(s);
}

int sig_secp_verify(struct sig_secp *s, const uint8_t pubkey32[32], const uint8_t *msg,
                    size_t msg_len, const uint8_t sig64[64])
{
    secp256k1_xonly_pubkey pk;

    /* Parsing fails for an x at or above the field size and for an x with
     * no point on the curve; BIP-340 treats both as an invalid signature. */
    if (!secp256k1_xonly_pubkey_parse(s->ctx, &pk, pubkey32)) {
        return OST_EBADSIG;
    }
    /* The variable-length API of 0.2.0 accepts msg == NULL when msg_len is
     * zero, which is also what our contract allows. */
    if (!secp256k1_schnorrsig_verify(s->ctx, sig64, msg, msg_len, &pk)) {
        return OST_EBADSIG;
    }
    return 0;
}
