/*
 * The native BIP-340 engine on libsecp256k1. One verifier per thread; it owns
 * a secp256k1 context created for that thread. Used through sig.h.
 */
#ifndef OSTRICH_VALIDATE_SIG_SECP_H
#define OSTRICH_VALIDATE_SIG_SECP_H

#include <stddef.h>
#include <stdint.h>

struct sig_secp;

/* Returns 0 or OST_ENOMEM. */
int sig_secp_new(struct sig_secp **out);
void sig_secp_free(struct sig_secp *s);

/* Same contract as sig_verify. */
int sig_secp_verify(struct sig_secp *s, const uint8_t pubkey32[32], const uint8_t *msg,
                    size_t msg_len, const uint8_t sig64[64]);

#endif
