/*
 * Deterministic Nostr event generation for tests and benchmarks (not part of
 * the relay): a seeded set of keypairs, a realistic mix of signed events,
 * signing of hand-written drafts, and helpers that tamper with a valid event.
 *
 * Event number i of a generator depends only on (seed, n_keys, base_time, i),
 * so the output is the same whatever the number of threads that produce it.
 * The id is computed from a canonical form written here, independently of
 * validate/canon.c, and the signature is libsecp256k1's BIP-340 signature.
 *
 * A struct evgen is owned by one thread; evgen_fill starts its own threads,
 * each with its own secp256k1 context, and reads the generator only.
 */
#ifndef OSTRICH_TESTS_EVGEN_H
#define OSTRICH_TESTS_EVGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct evgen;

/* How strings are written in the event JSON. */
enum evgen_escape {
    EVGEN_ESC_MINIMAL = 0, /* as JSON.stringify: raw UTF-8, \u00XX for other controls */
    EVGEN_ESC_ASCII = 1,   /* every non-ASCII character as \uXXXX (surrogate pairs) */
};

/* One tag: n NUL-terminated strings, the first non-empty. Borrowed. */
struct evgen_tag {
    uint32_t n;
    const char *const *v;
};

/* A hand-written event to sign. Every pointer is borrowed for the call. */
struct evgen_draft {
    uint32_t key; /* index into the generator's keys */
    int64_t created_at;
    uint32_t kind;
    const struct evgen_tag *tags;
    uint32_t n_tags;
    const char *content; /* raw UTF-8 bytes, NUL allowed */
    size_t content_len;
    enum evgen_escape escape;
    /* Hash control characters other than NIP-01's seven escapes as \u00XX,
     * as JSON.stringify-based clients do, instead of raw. */
    bool is_id_json_esc;
};

/* What evgen_tamper changes. */
enum evgen_tamper {
    EVGEN_TAMPER_ID = 0,      /* one hex digit of the id */
    EVGEN_TAMPER_SIG = 1,     /* one hex digit of the signature */
    EVGEN_TAMPER_PUBKEY = 2,  /* one hex digit of the public key */
    EVGEN_TAMPER_CONTENT = 3, /* one character of the content, or one added */
    EVGEN_TAMPER_TAG = 4,     /* one character of a tag string, or a tag added */
    EVGEN_TAMPER_COUNT = 5,
};

/* evgen_tamper flag: after the change, rewrite the id so that it is the hash
 * of the changed event again, computed with validate/canon.c (then only the
 * signature is wrong). Not allowed with EVGEN_TAMPER_ID. */
#define EVGEN_REHASH 1u

/* Creates a generator with n_keys (>= 1) keypairs derived from seed; events
 * get created_at in [base_time - 86400, base_time]. Returns 0, OST_EINVAL or
 * OST_ENOMEM; *out is written only on success. */
int evgen_new(uint64_t seed, uint32_t n_keys, int64_t base_time, struct evgen **out);

/* NULL does nothing. */
void evgen_free(struct evgen *g);

/* Replaces the contents of out with the next event of the sequence, as
 * compact JSON. Returns 0 or OST_ENOMEM (the sequence does not advance). */
int evgen_next(struct evgen *g, struct buf *out);

/* Replaces the contents of out with event number index of the sequence
 * (what the index-th call of evgen_next returns, counting from 0). Returns 0
 * or OST_ENOMEM. */
int evgen_at(struct evgen *g, uint64_t index, struct buf *out);

/* Writes events first .. first + n - 1 into out[0 .. n) (each buf already
 * initialized by the caller, who keeps ownership) using n_threads threads
 * (0: one per CPU). Does not move evgen_next's position. Blocks until done.
 * Returns 0, OST_ENOMEM or a thread start error. */
int evgen_fill(struct evgen *g, uint64_t first, size_t n, int n_threads, struct buf *out);

/* Replaces the contents of out with d signed by key d->key. Returns 0,
 * OST_EINVAL (unknown key, an empty first tag string) or OST_ENOMEM. */
int evgen_sign(struct evgen *g, const struct evgen_draft *d, struct buf *out);

/* Replaces the contents of out with a copy of the event json[0..len) with
 * one change (what; flags 0 or EVGEN_REHASH). The copy stays well-formed
 * JSON that event_parse accepts, and which part changes is derived from the
 * input, so the result is deterministic. json is borrowed. Returns 0,
 * OST_EINVAL (json is not a parseable event, or a bad what/flags) or
 * OST_ENOMEM. */
int evgen_tamper(const char *json, size_t len, enum evgen_tamper what, unsigned flags,
                 struct buf *out);

/* "id", "sig", "pubkey", "content" or "tag". */
const char *evgen_tamper_name(enum evgen_tamper what);

#endif
