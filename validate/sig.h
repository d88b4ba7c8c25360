/*
 * BIP-340 Schnorr signature verification behind one interface, with two
 * engines: "native" (libsecp256k1) and "fallback" (OpenSSL EC/BN only).
 *
 * A verifier holds per-thread state (a secp256k1 context, or an OpenSSL
 * group, BN_CTX and hashing state). Create one per thread and never share
 * it; sig_verify never blocks and takes no lock.
 */
#ifndef OSTRICH_VALIDATE_SIG_H
#define OSTRICH_VALIDATE_SIG_H

#include <stddef.h>
#include <stdint.h>

enum sig_engine {
    SIG_ENGINE_NATIVE = 0,   /* libsecp256k1 schnorrsig */
    SIG_ENGINE_FALLBACK = 1, /* BIP-340 written on OpenSSL's EC and BN */
};

struct sig_verifier;

/* Creates a verifier for engine. Returns 0, OST_EINVAL (unknown engine) or
 * OST_ENOMEM; *out is written only on success. */
int sig_verifier_new(enum sig_engine engine, struct sig_verifier **out);

/* Frees v. NULL does nothing. */
void sig_verifier_free(struct sig_verifier *v);

/* Verifies the BIP-340 signature sig64 of msg (msg_len bytes; Nostr signs
 * the 32-byte event id) under the x-only public key pubkey32. All buffers
 * are borrowed. Returns 0 when the signature is valid, OST_EBADSIG when it
 * is not (including a public key or signature that is out of range), or
 * OST_ENOMEM when the engine could not allocate. */
int sig_verify(struct sig_verifier *v, const uint8_t pubkey32[32], const uint8_t *msg,
               size_t msg_len, const uint8_t sig64[64]);

/* "native" or "fallback"; "unknown" for a value outside the enum. Returns a
 * static string. */
const char *sig_engine_name(enum sig_engine engine);

/* Parses "native" or "fallback". Returns 0 or OST_EINVAL. */
int sig_engine_parse(const char *name, enum sig_engine *out);

#endif
