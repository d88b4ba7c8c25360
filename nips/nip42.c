/*
 * NIP-42 authentication and the access rules that depend on it.
 *
 * Design: the AUTH event is verified like any event by a validation worker
 * (verify_event), which then calls nip42_check_auth with a copy of the
 * connection's challenge; the io thread only records the key. The rules for
 * writes, reads and direct messages are pure functions of a policy, a
 * session and an event or filter set, so that each thread can ask them.
 */
#include "nips/nip42.h"

#include <stdlib.h>
#include <string.h>

#include <sys/random.h>

#include "common/err.h"
#include "common/hex.h"
#include "common/json.h"
#include "filters/filter.h"
#include "validate/event.h"

#define R_KIND          "invalid: AUTH event must be of kind 22242"
#define R_TIME          "invalid: AUTH event created_at must be within 10 minutes of the relay's time"
#define R_NO_CHALLENGE  "invalid: AUTH event has no \"challenge\" tag"
#define R_BAD_CHALLENGE "invalid: AUTH event \"challenge\" tag does not match this connection's"
#define R_NO_RELAY      "invalid: AUTH event has no \"relay\" tag"
#define R_BAD_RELAY     "invalid: AUTH event \"relay\" tag does not name this relay"
#define R_TOO_MANY      "restricted: this connection has authenticated the most keys it may (8)"
#define R_WRITE_AUTH    "auth-required: this relay only accepts events from authenticated users"
#define R_WRITE_DENIED  "restricted: the authenticated key may not publish to this relay"
#define R_READ_AUTH     "auth-required: this relay only serves authenticated users"
#define R_READ_DENIED   "restricted: the authenticated key may not read from this relay"
#define R_DM_AUTH       "auth-required: direct messages are only served to their author and recipients"
#define R_DM_COUNT                                                                      \
    "restricted: a COUNT that can include direct messages must be limited to your own " \
    "keys with \"authors\" or \"#p\""

_Static_assert(NIP42_MAX_PUBKEYS == 8, "R_TOO_MANY names the limit");

const char *const nip42_reasons[] = {
    R_KIND,     R_TIME,       R_NO_CHALLENGE, R_BAD_CHALLENGE, R_NO_RELAY,    R_BAD_RELAY,
    R_TOO_MANY, R_WRITE_AUTH, R_WRITE_DENIED, R_READ_AUTH,     R_READ_DENIED, R_DM_AUTH,
    R_DM_COUNT, NULL,
};

/* ---- relay URLs ---- */

/* The parts of a ws:// or wss:// URL that nip42_relay_matches compares. */
struct url_parts {
    const char *host;
    size_t host_len;
    unsigned port; /* 0: none, or the scheme's default */
    const char *path;
    size_t path_len; /* without trailing slashes */
};

static bool starts_with_nocase(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    if (len < n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != prefix[i]) {
            return false;
        }
    }
    return true;
}

static bool split_url(const char *url, size_t len, struct url_parts *out)
{
    const char *end = url + len, *p;
    unsigned default_port;
    if (starts_with_nocase(url, len, "wss://")) {
        p = url + 6;
        default_port = 443;
    } else if (starts_with_nocase(url, len, "ws://")) {
        p = url + 5;
        default_port = 80;
    } else {
        return false;
    }
    const char *host = p;
    if (p < end && *p == '[') { /* an IPv6 literal */
        while (p < end && *p != ']') {
            p++;
        }
        if (p == end) {
            return false;
        }
        p++;
    } else {
        while (p < end && *p != ':' && *p != '/' && *p != '?' && *p != '#' && *p != '@') {
            p++;
        }
    }
    size_t host_len = (size_t)(p - host);
    unsigned port = 0;
    if (p < end && *p == ':') {
        p++;
        const char *digits = p;
        while (p < end && *p >= '0' && *p <= '9' && port <= 65535) {
            port = port * 10 + (unsigned)(*p - '0');
            p++;
        }
        if (p == digits || port > 65535) {
            return false;
        }
    }
    if (host_len == 0 || (p < end && *p != '/')) {
        return false; /* no host, user info, or a query or fragment after it */
    }
    const char *path = p;
    while (p < end && *p != '?' && *p != '#' && (unsigned char)*p > ' ') {
        p++;
    }
    if (p != end) {
        return false;
    }
    size_t path_len = (size_t)(end - path);
    while (path_len > 0 && path[path_len - 1] == '/') {
        path_len--;
    }
    out->host = host;
    out->host_len = host_len;
    out->port = port == default_port ? 0 : port;
    out->path = path;
    out->path_len = path_len;
    return true;
}

static bool equal_nocase(const char *a, const char *b, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char x = a[i], y = b[i];
        x = x >= 'A' && x <= 'Z' ? (char)(x - 'A' + 'a') : x;
        y = y >= 'A' && y <= 'Z' ? (char)(y - 'A' + 'a') : y;
        if (x != y) {
            return false;
        }
    }
    return true;
}

bool nip42_url_is_valid(const char *url)
{
    struct url_parts parts;
    return split_url(url, strlen(url), &parts);
}

bool nip42_relay_matches(const char *configured, const char *url, size_t len)
{
    struct url_parts want, got;
    if (!split_url(url, len, &got)) {
        return false;
    }
    if (configured[0] == '\0') {
        return true;
    }
    if (!split_url(configured, strlen(configured), &want)) {
        return false;
    }
    return want.host_len == got.host_len && equal_nocase(want.host, got.host, got.host_len) &&
           want.port == got.port && want.path_len == got.path_len &&
           memcmp(want.path, got.path, got.path_len) == 0;
}

/* ---- sessions ---- */

int nip42_auth_init(struct nip42_auth *a)
{
    memset(a, 0, sizeof(*a));
    uint8_t raw[NIP42_CHALLENGE_LEN / 2];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0 && errno != EINTR) {
            return OST_EIO;
        }
        got += n > 0 ? (size_t)n : 0;
    }
    hex_encode(raw, sizeof(raw), a->challenge);
    a->challenge[NIP42_CHALLENGE_LEN] = '\0';
    return 0;
}

bool nip42_auth_has(const struct nip42_auth *a, const uint8_t pubkey[32])
{
    for (uint32_t i = 0; i < a->n_pubkeys; i++) {
        if (memcmp(a->pubkeys[i], pubkey, 32) == 0) {
            return true;
        }
    }
    return false;
}

int nip42_auth_add(struct nip42_auth *a, const uint8_t pubkey[32], const char **reason)
{
    if (nip42_auth_has(a, pubkey)) {
        return 0;
    }
    if (a->n_pubkeys == NIP42_MAX_PUBKEYS) {
        *reason = R_TOO_MANY;
        return OST_ENOSPC;
    }
    memcpy(a->pubkeys[a->n_pubkeys++], pubkey, 32);
    return 0;
}

/* ---- the AUTH event ---- */

/* Finds the first tag named name and returns its second string. */
static bool find_tag_value(const struct event *ev, const char *name, struct json_str *value)
{
    struct event_tag_iter tags, fields;
    struct json_str s;
    event_tags_begin(ev, &tags);
    while (event_tags_next(&tags, &fields)) {
        if (event_tag_next_str(&fields, &s) && json_str_equals(&s, name, strlen(name)) &&
            event_tag_next_str(&fields, value)) {
            return true;
        }
    }
    return false;
}

int nip42_check_auth(const struct event *ev, const char *challenge, const char *relay_url,
                     int64_t now, const char **reason)
{
    struct json_str value;
    if (ev->kind != NIP42_KIND) {
        *reason = R_KIND;
        return OST_EREJECT;
    }
    /* NIP-42: created_at close to the current time; both ends included. */
    if (ev->created_at < now - NIP42_MAX_SKEW_S || ev->created_at > now + NIP42_MAX_SKEW_S) {
        *reason = R_TIME;
        return OST_EREJECT;
    }
    if (!find_tag_value(ev, "challenge", &value)) {
        *reason = R_NO_CHALLENGE;
        return OST_EREJECT;
    }
    /* A challenge is hex, so an escaped tag value cannot equal it. */
    if (challenge[0] == '\0' || !json_str_equals(&value, challenge, strlen(challenge))) {
        *reason = R_BAD_CHALLENGE;
        return OST_EREJECT;
    }
    if (!find_tag_value(ev, "relay", &value)) {
        *reason = R_NO_RELAY;
        return OST_EREJECT;
    }
    /* URLs with escapes in their JSON are refused rather than decoded. */
    if (value.has_escapes || !nip42_relay_matches(relay_url, value.p, value.len)) {
        *reason = R_BAD_RELAY;
        return OST_EREJECT;
    }
    return 0;
}

/* ---- rules ---- */

static int cmp_key(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

void nip42_policy_sort(struct nip42_policy *p)
{
    if (p->n_allow > 1) {
        qsort(p->allow, p->n_allow, 32, cmp_key);
    }
}

static bool any_allowed(const struct nip42_policy *p, const struct nip42_auth *a)
{
    if (p->n_allow == 0) {
        return true;
    }
    for (uint32_t i = 0; i < a->n_pubkeys; i++) {
        if (bsearch(a->pubkeys[i], p->allow, p->n_allow, 32, cmp_key) != NULL) {
            return true;
        }
    }
    return false;
}

/* A rule that applies: the connection must have authenticated, with a key
 * the allow list admits. */
static int check_access(const struct nip42_policy *p, const struct nip42_auth *a,
                        const char *no_auth, const char *denied, const char **reason)
{
    if (a->n_pubkeys == 0) {
        *reason = no_auth;
        return OST_EREJECT;
    }
    if (!any_allowed(p, a)) {
        *reason = denied;
        return OST_EREJECT;
    }
    return 0;
}

int nip42_check_write(const struct nip42_policy *p, const struct nip42_auth *a, const char **reason)
{
    if (!p->is_write_required && p->n_allow == 0) {
        return 0;
    }
    return check_access(p, a, R_WRITE_AUTH, R_WRITE_DENIED, reason);
}

int nip42_check_read(const struct nip42_policy *p, const struct nip42_auth *a, const char **reason)
{
    if (!p->is_read_required) {
        return 0;
    }
    return check_access(p, a, R_READ_AUTH, R_READ_DENIED, reason);
}

/* Whether f lists kind 4 or 1059; with has_kinds telling whether it lists
 * kinds at all. */
static bool names_dm_kind(const struct filter *f, bool *has_kinds)
{
    const uint32_t *kinds;
    size_t n = filter_kinds(f, &kinds);
    *has_kinds = n > 0;
    for (size_t i = 0; i < n; i++) {
        if (nip42_kind_is_dm(kinds[i])) {
            return true;
        }
    }
    return false;
}

static bool filter_may_match_dm(const struct filter *f)
{
    bool has_kinds;
    if (filter_never_matches(f)) {
        return false;
    }
    return names_dm_kind(f, &has_kinds) || !has_kinds;
}

bool nip42_set_may_match_dm(const struct filter_set *set)
{
    for (size_t i = 0; i < filter_set_count(set); i++) {
        if (filter_may_match_dm(filter_set_at(set, i))) {
            return true;
        }
    }
    return false;
}

int nip42_check_dm_req(const struct nip42_policy *p, const struct nip42_auth *a,
                       const struct filter_set *set, const char **reason)
{
    if (!p->is_dm_protected || a->n_pubkeys > 0) {
        return 0;
    }
    for (size_t i = 0; i < filter_set_count(set); i++) {
        bool has_kinds;
        const struct filter *f = filter_set_at(set, i);
        if (!filter_never_matches(f) && names_dm_kind(f, &has_kinds)) {
            *reason = R_DM_AUTH;
            return OST_EREJECT;
        }
    }
    return 0;
}

/* Whether every author of f is a key of a (and f has authors). */
static bool authors_are_own(const struct filter *f, const struct nip42_auth *a)
{
    const uint8_t(*authors)[32];
    size_t n = filter_authors(f, &authors);
    for (size_t i = 0; i < n; i++) {
        if (!nip42_auth_has(a, authors[i])) {
            return false;
        }
    }
    return n > 0;
}

/* Whether f has a "#p" condition whose values are all keys of a. */
static bool p_tags_are_own(const struct filter *f, const struct nip42_auth *a)
{
    const struct filter_tag_cond *conds;
    size_t n = filter_tag_conds(f, &conds);
    for (size_t i = 0; i < n; i++) {
        if (conds[i].letter != 'p' || conds[i].n_values == 0) {
            continue;
        }
        bool is_own = true;
        for (uint32_t k = 0; k < conds[i].n_values && is_own; k++) {
            uint8_t key[32];
            is_own = conds[i].value_lens[k] == 64 &&
                     hex_decode_lower((const char *)conds[i].values[k], 32, key) == 0 &&
                     nip42_auth_has(a, key);
        }
        return is_own;
    }
    return false;
}

int nip42_check_dm_count(const struct nip42_policy *p, const struct nip42_auth *a,
                         const struct filter_set *set, const char **reason)
{
    if (!p->is_dm_protected) {
        return 0;
    }
    for (size_t i = 0; i < filter_set_count(set); i++) {
        const struct filter *f = filter_set_at(set, i);
        if (!filter_may_match_dm(f) || authors_are_own(f, a) || p_tags_are_own(f, a)) {
            continue;
        }
        *reason = a->n_pubkeys == 0 ? R_DM_AUTH : R_DM_COUNT;
        return OST_EREJECT;
    }
    return 0;
}

bool nip42_may_see(const struct nip42_policy *p, const struct nip42_auth *a, const struct event *ev)
{
    if (!p->is_dm_protected || !nip42_kind_is_dm(ev->kind)) {
        return true;
    }
    if (a->n_pubkeys == 0) {
        return false;
    }
    if (nip42_auth_has(a, ev->pubkey)) {
        return true;
    }
    struct event_tag_iter tags, fields;
    struct json_str name, value;
    event_tags_begin(ev, &tags);
    while (event_tags_next(&tags, &fields)) {
        uint8_t key[32];
        if (event_tag_next_str(&fields, &name) && json_str_equals(&name, "p", 1) &&
            event_tag_next_str(&fields, &value) && !value.has_escapes && value.len == 64 &&
            hex_decode_lower(value.p, 32, key) == 0 && nip42_auth_has(a, key)) {
            return true;
        }
    }
    return false;
}
