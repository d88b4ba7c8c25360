/*
 * Dispatch for BIP-340 verification: a sig_verifier holds exactly one engine
 * (native libsecp256k1 or the OpenSSL fallback) and forwards every call to
 * it. The switch costs one predictable branch per verification, which is
 * nothing next to the scalar multiplication behind it. Owned by one thread.
 */
#include "validate/sig.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "validate/sig_ossl.h"
#include "validate/sig_secp.h"

/* Owned by: the thread that created it. Exactly one of the engine pointers
 * is set, the one named by engine. */
struct sig_verifier {
    enum sig_engine engine;
    struct sig_secp *secp;
    struct sig_ossl *ossl;
};

/* Indexed by enum sig_engine; sig_engine_name and sig_engine_parse both
 * read it, so the two can never disagree. */
static const char *const engine_names[] = {
    [SIG_ENGINE_NATIVE] = "native",
    [SIG_ENGINE_FALLBACK] = "fallback",
};

#define ENGINE_COUNT (sizeof(engine_names) / sizeof(engine_names[0]))

int sig_verifier_new(enum sig_engine engine, struct sig_verifier **out)
{
    struct sig_verifier *v = NULL;
    int rc;

    if ((unsigned)engine >= ENGINE_COUNT) {
        return OST_EINVAL;
    }
    v = calloc(1, sizeof(*v));
    if (v == NULL) {
        rc = OST_ENOMEM;
        goto fail;
    }
    v->engine = engine;
    rc = engine == SIG_ENGINE_NATIVE ? sig_secp_new(&v->secp) : sig_ossl_new(&v->ossl);
    if (rc != 0) {
        goto fail;
    }
    *out = v;
    return 0;

fail:
    free(v);
    return rc;
}

void sig_verifier_free(struct sig_verifier *v)
{
    if (v == NULL) {
        return;
    }
    sig_secp_free(v->secp);
    sig_ossl_free(v->ossl);
    free(v);
}

int sig_verify(struct sig_verifier *v, const uint8_t pubkey32[32], const uint8_t *msg,
               size_t msg_len, const uint8_t sig64[64])
{
    if (v->engine == SIG_ENGINE_NATIVE) {
        return sig_secp_verify(v->secp, pubkey32, msg, msg_len, sig64);
    }
    return sig_ossl_verify(v->ossl, pubkey32, msg, msg_len, sig64);
}

const char *sig_engine_name(enum sig_engine engine)
{
    if ((unsigned)engine >= ENGINE_COUNT) {
        return "unknown";
    }
    return engine_names[engine];
}

int sig_engine_parse(const char *name, enum sig_engine *out)
{
    for (size_t i = 0; i < ENGINE_COUNT; i++) {
        if (strcmp(name, engine_names[i]) == 0) {
            *out = (enum sig_engine)i;
            return 0;
        }
    }
    return OST_EINVAL;
}
