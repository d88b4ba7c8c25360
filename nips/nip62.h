/*
 * NIP-62 requests to vanish: decides whether a kind 62 event applies to
 * this relay and, when it does, describes it as a struct store_deletion
 * that the relay passes with the event to the storage thread (the store
 * deletes every event of the author up to the request's created_at and
 * refuses them afterwards; store/store.h). The same reasoning as
 * nips/nip09.h puts the decision here and the deletion in the store.
 * Thread-agnostic; no state.
 */
#ifndef OSTRICH_NIPS_NIP62_H
#define OSTRICH_NIPS_NIP62_H

#include <stdbool.h>

struct event;
struct store_deletion;

/* The kind of a request to vanish. */
#define NIP62_KIND 62

/* The "relay" tag value that names every relay (NIP-62: "ALL_RELAYS in
 * uppercase"). */
#define NIP62_ALL_RELAYS "ALL_RELAYS"

/* Whether ev (borrowed) has a "relay" tag naming this relay: its value is
 * exactly NIP62_ALL_RELAYS, or relay_url is not empty and the value names
 * it (compared as nip42_relay_matches does). An empty relay_url (the
 * relay does not know its public URL) matches only NIP62_ALL_RELAYS. The
 * kind is not checked. Any thread. */
bool nip62_names_relay(const struct event *ev, const char *relay_url);

/* For a kind 62 event that names this relay (nip62_names_relay), sets *out
 * to a malloc'd struct store_deletion with is_vanish set (the caller frees
 * it with free); for any other event sets *out to NULL, and the event is
 * stored as any other. ev and relay_url are borrowed. Returns 0 or
 * OST_ENOMEM. Any thread. */
int nip62_parse(const struct event *ev, const char *relay_url, struct store_deletion **out);

#endif
