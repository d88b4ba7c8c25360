/*
 * NIP-11 relay information document: built once from what the relay runs
 * with (the live configuration and the NIPs actually enabled), served at
 * GET / with Accept: application/nostr+json. Thread-agnostic.
 */
#ifndef OSTRICH_NIPS_NIP11_H
#define OSTRICH_NIPS_NIP11_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

#define NIP11_MAX_NIPS 32

struct nip11_limitation {
    uint64_t max_message_length;
    uint64_t max_subscriptions;
    uint64_t max_filters;
    uint64_t max_limit;
    uint64_t max_subid_length;
    uint64_t max_event_tags;
    uint64_t max_content_length;
    uint64_t min_pow_difficulty;
    int64_t created_at_lower_limit; /* 0: no limit (omitted) */
    int64_t created_at_upper_limit; /* 0: no limit (omitted) */
    uint64_t default_limit;
    bool auth_required;
    bool payment_required;
    bool restricted_writes;
};

/* Everything the document says; strings are borrowed, "" means absent. */
struct nip11_info {
    const char *name;
    const char *description;
    const char *pubkey;
    const char *contact;
    const char *software;
    const char *version;
    uint32_t supported_nips[NIP11_MAX_NIPS];
    size_t n_nips;
    struct nip11_limitation limitation;
};

/* Appends the JSON document to out. Returns 0 or OST_ENOMEM. */
int nip11_build(const struct nip11_info *info, struct buf *out);

/* Appends a short human-readable HTML page naming the relay and telling
 * how to connect. Returns 0 or OST_ENOMEM. */
int nip11_build_html(const struct nip11_info *info, struct buf *out);

#endif
