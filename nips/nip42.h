/*
 * NIP-42: authentication of clients to relays, and the access rules built on
 * it (writes and reads that require authentication, an allow list of keys,
 * and direct messages served only to their parties).
 *
 * Per connection, struct nip42_auth holds the challenge the relay sent and
 * the keys the client has proved. It is owned by the io thread (it lives in
 * struct conn). A validation worker checks an AUTH event against a copy of
 * the challenge (nip42_check_auth), so the io thread never verifies
 * signatures. The rule functions are pure: they read a policy, a session
 * and a parsed event or filter set, and may run on any thread.
 *
 * Challenges are secrets of their connection: never log them.
 */
#ifndef OSTRICH_NIPS_NIP42_H
#define OSTRICH_NIPS_NIP42_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event;
struct filter_set;

#define NIP42_KIND 22242u
/* Hex characters of a challenge: 16 random bytes. */
#define NIP42_CHALLENGE_LEN 32
/* NIP-42: created_at must be close to the relay's time; "close" is ten
 * minutes either way, both ends included. */
#define NIP42_MAX_SKEW_S 600
/* Keys one connection may authenticate. */
#define NIP42_MAX_PUBKEYS 8
/* NIP-04 direct messages and NIP-59 gift wraps. */
#define NIP42_KIND_DM        4u
#define NIP42_KIND_GIFT_WRAP 1059u

/* What the relay enforces; built once from the configuration and read-only
 * afterwards (any thread). allow is sorted (nip42_policy_sort). */
struct nip42_policy {
    const char *relay_url; /* "" accepts any ws:// or wss:// relay tag */
    bool is_write_required;
    bool is_read_required;
    bool is_dm_protected;
    uint8_t (*allow)[32]; /* borrowed; n_allow keys, empty: every key */
    size_t n_allow;
};

/* One connection's authentication state. Owned by: the io thread. */
struct nip42_auth {
    char challenge[NIP42_CHALLENGE_LEN + 1];
    uint32_t n_pubkeys;
    uint8_t pubkeys[NIP42_MAX_PUBKEYS][32];
};

/* ---- lifecycle ---- */

/* Clears a and gives it a fresh random challenge (getrandom). Returns 0, or
 * OST_EIO when the system has no randomness to give (a is then cleared and
 * has no challenge). Never blocks once the kernel's pool is initialised. */
int nip42_auth_init(struct nip42_auth *a);

/* Sorts p->allow so that lookups can use binary search. */
void nip42_policy_sort(struct nip42_policy *p);

/* ---- operations ---- */

/* Checks an AUTH event that already passed verify_event (id and signature):
 * kind 22242, created_at within NIP42_MAX_SKEW_S of now, a "challenge" tag
 * equal to challenge and a "relay" tag matching relay_url (see
 * nip42_relay_matches). ev, challenge and relay_url are borrowed. Returns 0,
 * or OST_EREJECT with *reason set to a static "invalid: ..." string. */
int nip42_check_auth(const struct event *ev, const char *challenge, const char *relay_url,
                     int64_t now, const char **reason);

/* Records pubkey as authenticated on a. Authenticating a key twice is not an
 * error. Returns 0, or OST_ENOSPC with *reason set when a already holds
 * NIP42_MAX_PUBKEYS keys. */
int nip42_auth_add(struct nip42_auth *a, const uint8_t pubkey[32], const char **reason);

/* ---- queries ---- */

/* Whether url (len bytes, not NUL-terminated) names the relay at
 * configured. Lenient, as NIP-42 allows: ws and wss are the same scheme
 * (a TLS proxy may sit in front), the host is compared without case, a
 * port equal to its scheme's default (80, 443) is the same as none, and
 * trailing slashes of the path are ignored; query and fragment must not
 * be present. An empty configured accepts any well-formed ws:// or wss://
 * URL: the relay cannot know the name clients reach it by. */
bool nip42_relay_matches(const char *configured, const char *url, size_t len);

/* Whether url (NUL-terminated) is a well-formed ws:// or wss:// URL that
 * nip42_relay_matches can compare. */
bool nip42_url_is_valid(const char *url);

/* Whether a has authenticated pubkey. */
bool nip42_auth_has(const struct nip42_auth *a, const uint8_t pubkey[32]);

/* May this connection publish? Returns 0, or OST_EREJECT with *reason set:
 * "auth-required: ..." when writes need authentication (required_for_write,
 * or a non-empty allow list) and a has no key; "restricted: ..." when none
 * of a's keys is on the allow list. */
int nip42_check_write(const struct nip42_policy *p, const struct nip42_auth *a,
                      const char **reason);

/* May this connection open a REQ or COUNT at all? Only with
 * required_for_read: "auth-required: ..." without a key, "restricted: ..."
 * when none of a's keys is on a non-empty allow list. Returns 0 or
 * OST_EREJECT. */
int nip42_check_read(const struct nip42_policy *p, const struct nip42_auth *a, const char **reason);

/* DM rule for a REQ: a filter that names kind 4 or 1059 from a connection
 * with no key is refused with "auth-required: ..." (NIP-42's example flow).
 * Other filters are served, and each direct message among the results goes
 * only to its parties (nip42_may_see). Returns 0 or OST_EREJECT. */
int nip42_check_dm_req(const struct nip42_policy *p, const struct nip42_auth *a,
                       const struct filter_set *set, const char **reason);

/* DM rule for a COUNT, which cannot be filtered per event: every filter
 * that can match kind 4 or 1059 (it names one of them, or has no kinds)
 * must be limited to a's own messages, through "authors" or "#p" values
 * that are all keys of a. Otherwise "auth-required: ..." when a has no key,
 * "restricted: ..." when it has. Returns 0 or OST_EREJECT. */
int nip42_check_dm_count(const struct nip42_policy *p, const struct nip42_auth *a,
                         const struct filter_set *set, const char **reason);

/* Whether any filter of set can match kind 4 or 1059. */
bool nip42_set_may_match_dm(const struct filter_set *set);

/* Whether ev may be sent to the connection of a: always, unless DMs are
 * protected and ev is a direct message that a is neither the author of nor
 * named in a "p" tag of. */
bool nip42_may_see(const struct nip42_policy *p, const struct nip42_auth *a,
                   const struct event *ev);

static inline bool nip42_kind_is_dm(uint32_t kind)
{
    return kind == NIP42_KIND_DM || kind == NIP42_KIND_GIFT_WRAP;
}

/* Every reason this module returns, ending with NULL (for tests). */
extern const char *const nip42_reasons[];

#endif
