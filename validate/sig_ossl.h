/*
 * The fallback BIP-340 engine, written on OpenSSL's EC_GROUP/EC_POINT and BN
 * primitives without libsecp256k1. One verifier per thread; it owns its
 * group, BN_CTX and SHA-256 state. Used through sig.h.
 */
#ifndef OSTRICH_VALIDATE_SIG_OSSL_H
#define OSTRICH_VALIDATE_SIG_OSSL_H

#include <stddef.h>
#include <stdint.h>

struct sig_ossl;

/* Returns 0 or OST_ENOMEM. */
int sig_ossl_new(struct sig_ossl **out);
void sig_ossl_free(struct sig_ossl *s);

/* Same contract as sig_verify. */
int sig_ossl_verify(struct sig_ossl *s, const uint8_t pubkey32[32], const uint8_t *msg,
                    size_t msg_len, const uint8_t sig64[64]);

#endif
