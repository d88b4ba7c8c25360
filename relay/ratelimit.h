/*
 * Protection against clients that ask too much: token buckets for message
 * rates, client addresses with CIDR blocks (exemptions, trusted reverse
 * proxies and the X-Forwarded-For rule), and the table of client addresses
 * that holds each address's open connections and shared buckets.
 *
 * Pure logic: no clock, no sockets, no logging. Every time is passed in as
 * milliseconds on a monotonic clock, so tests drive the clock.
 *
 * Threads: the table, the buckets and struct ratelimit_conn are owned by
 * the io thread. Parsed limits and block lists are read-only once built.
 */
#ifndef OSTRICH_RELAY_RATELIMIT_H
#define OSTRICH_RELAY_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfg;
struct sockaddr;

/* Longest text form of an address, with its NUL (INET6_ADDRSTRLEN). */
#define RATELIMIT_IP_STRLEN 46

/* What the relay tells a client it refused or cut off, NIP-01 prefix
 * included; index with enum ratelimit_reason. */
enum ratelimit_reason {
    RATELIMIT_R_EVENTS = 0,     /* OK false: the connection's event bucket is empty */
    RATELIMIT_R_IP_EVENTS,      /* OK false: the address's event bucket is empty */
    RATELIMIT_R_REQS,           /* CLOSED: the connection's REQ/COUNT bucket is empty */
    RATELIMIT_R_IP_REQS,        /* CLOSED: the address's REQ/COUNT bucket is empty */
    RATELIMIT_R_CONNECTIONS,    /* NOTICE, then close: max_connections */
    RATELIMIT_R_IP_CONNECTIONS, /* NOTICE, then close: max_connections_per_ip */
    RATELIMIT_R_REFUSED,        /* NOTICE, then close: max_refused refusals in a row */
    RATELIMIT_R_IDLE,           /* NOTICE, then close: idle_timeout_s */
    RATELIMIT_R_N,
};

extern const char *const ratelimit_reasons[RATELIMIT_R_N];

/* A token bucket's shape: per_second tokens are added each second, up to
 * burst. per_second 0 turns the limit off. */
struct ratelimit_rate {
    uint32_t per_second;
    uint32_t burst;
};

/* A bucket's state, in thousandths of a token so that slow rates refill
 * exactly with integer arithmetic. */
struct ratelimit_bucket {
    int64_t milli;
    int64_t last_ms;
};

/* An IP address as 16 bytes: IPv6, or IPv4 as IPv4-mapped IPv6
 * (::ffff:a.b.c.d), so that one comparison serves both families. */
struct ratelimit_ip {
    uint8_t b[16];
};

/* An address block: the first bits of ip (bits counted over the 16-byte
 * form, so an IPv4 /8 is stored as 96 + 8). */
struct ratelimit_block {
    struct ratelimit_ip ip;
    uint8_t bits;
};

struct ratelimit_blocks {
    struct ratelimit_block *items; /* owned; NULL when n is 0 */
    size_t n;
};

/* Everything [rate_limit] and [relay] trusted_proxies configure. Owned by
 * whoever built it with ratelimit_limits_init; read-only afterwards. */
struct ratelimit_limits {
    struct ratelimit_rate events, reqs;       /* per connection */
    struct ratelimit_rate ip_events, ip_reqs; /* per address, over its connections */
    uint32_t max_connections;                 /* 0: no limit */
    uint32_t max_connections_per_ip;          /* 0: no limit */
    uint32_t max_refused;                     /* refusals in a row before a close; 0: never */
    bool is_loopback_exempt;
    struct ratelimit_blocks exempt;
    struct ratelimit_blocks trusted_proxies;
};

/* When a repeated event was last logged (ratelimit_log_due). */
struct ratelimit_logstate {
    int64_t last_ms;
    uint32_t n_unlogged; /* events since that line that were not logged */
    bool has_logged;
};

/* One client address: its open connections and the buckets they share.
 * Owned by the table; pointers stay valid while n_conns > 0. */
struct ratelimit_addr {
    struct ratelimit_ip ip;
    uint32_t n_conns;
    struct ratelimit_bucket events, reqs;
    struct ratelimit_logstate refusals; /* connections refused for this address */
};

/* The address table: open addressing over pointers to entries, hashed
 * with a seed so that clients cannot aim at one chain. */
struct ratelimit_table {
    struct ratelimit_addr **slots;
    size_t cap;
    size_t count;
    uint64_t seed;
};

/* One connection's share: its own buckets, its address's entry and its
 * run of refusals. */
struct ratelimit_conn {
    struct ratelimit_bucket events, reqs;
    struct ratelimit_addr *addr; /* borrowed from the table; NULL when exempt */
    uint32_t n_refused;          /* refusals in a row */
    bool is_exempt;
};

enum ratelimit_kind {
    RATELIMIT_EVENT = 0, /* EVENT and AUTH: each costs a signature check */
    RATELIMIT_REQ,       /* REQ and COUNT: each costs a query */
};

/* ---- limits ---- */

/* Builds l from c's [rate_limit] table and [relay] trusted_proxies.
 * Returns 0, OST_ENOMEM, or OST_EINVAL when an address list holds an entry
 * that is not an address or block (cfg checks them, so only for a cfg that
 * was not loaded). l is written only on success; release it with
 * ratelimit_limits_fini. */
int ratelimit_limits_init(struct ratelimit_limits *l, const struct cfg *c);

/* Releases l's lists and zeroes it (no limits). */
void ratelimit_limits_fini(struct ratelimit_limits *l);

/* ---- buckets ---- */

/* Fills b to r's burst, as of now_ms. */
void ratelimit_bucket_init(struct ratelimit_bucket *b, const struct ratelimit_rate *r,
                           int64_t now_ms);

/* Refills b for the time since its last use, then takes one token. Returns
 * false, taking nothing, when b holds less than one token. Always true
 * when r is off. A clock that goes back refills nothing. */
bool ratelimit_bucket_take(struct ratelimit_bucket *b, const struct ratelimit_rate *r,
                           int64_t now_ms);

/* ---- addresses and blocks ---- */

/* Parses the len bytes at s: an IPv4 address, an IPv6 address or an
 * IPv4-mapped IPv6 address, without port or brackets. Returns 0 or
 * OST_EINVAL. */
int ratelimit_ip_parse(const char *s, size_t len, struct ratelimit_ip *out);

/* The address of an AF_INET or AF_INET6 socket address. Returns 0 or
 * OST_EINVAL (another family). */
int ratelimit_ip_from_sockaddr(const struct sockaddr *sa, struct ratelimit_ip *out);

/* Writes ip as text into out (cap >= RATELIMIT_IP_STRLEN): an IPv4 or
 * IPv4-mapped address in dotted quad form, any other in RFC 5952 form. */
void ratelimit_ip_format(const struct ratelimit_ip *ip, char *out, size_t cap);

/* 127.0.0.0/8 (IPv4 or IPv4-mapped) or ::1. */
bool ratelimit_ip_is_loopback(const struct ratelimit_ip *ip);

/* Parses "address" or "address/bits" (IPv4 bits 0..32, IPv6 0..128).
 * Returns 0 or OST_EINVAL. */
int ratelimit_block_parse(const char *s, struct ratelimit_block *out);

/* True when the first block->bits bits of ip equal those of block->ip. */
bool ratelimit_block_match(const struct ratelimit_block *block, const struct ratelimit_ip *ip);

/* Parses n blocks into bl (which owns the copy). Returns 0, OST_ENOMEM or
 * OST_EINVAL; bl is written only on success. */
int ratelimit_blocks_init(struct ratelimit_blocks *bl, const char *const *items, size_t n);
void ratelimit_blocks_fini(struct ratelimit_blocks *bl);
bool ratelimit_blocks_match(const struct ratelimit_blocks *bl, const struct ratelimit_ip *ip);

/* The client behind a connection from peer. When peer is not in trusted,
 * that is peer. Otherwise X-Forwarded-For is read from the right: the
 * first entry that is not itself a trusted proxy is the client (each proxy
 * appends the address it was connected from, so the entries further left
 * are whatever the client claimed); when every entry is trusted, the left-
 * most. An entry that is not an address ("unknown", garbage) ends the walk
 * at the last trusted hop. Without X-Forwarded-For, X-Real-IP names the
 * client; without either, peer. Entries may carry a port ("1.2.3.4:80",
 * "[::1]:80") and spaces. xff and real_ip are NUL-terminated header values,
 * or NULL when absent; all arguments are borrowed. */
void ratelimit_client_ip(const struct ratelimit_ip *peer, const char *xff, const char *real_ip,
                         const struct ratelimit_blocks *trusted, struct ratelimit_ip *out);

/* Whether l exempts connections from ip from every limit but
 * max_connections. */
bool ratelimit_is_exempt(const struct ratelimit_limits *l, const struct ratelimit_ip *ip);

/* ---- the address table ---- */

/* seed should be random per process. Returns 0 or OST_ENOMEM. */
int ratelimit_table_init(struct ratelimit_table *t, uint64_t seed);

/* Frees every entry. */
void ratelimit_table_fini(struct ratelimit_table *t);

/* The entry of ip, or NULL. */
struct ratelimit_addr *ratelimit_table_find(const struct ratelimit_table *t,
                                            const struct ratelimit_ip *ip);

/* Counts one more connection from ip, creating its entry (with full
 * buckets) if needed. Returns 0 with *out set, OST_ENOSPC when ip already
 * has l->max_connections_per_ip connections (nothing counted), or
 * OST_ENOMEM. */
int ratelimit_table_acquire(struct ratelimit_table *t, const struct ratelimit_ip *ip,
                            const struct ratelimit_limits *l, int64_t now_ms,
                            struct ratelimit_addr **out);

/* Counts one connection less. The entry stays until ratelimit_table_sweep
 * finds its buckets full again: a client that closes and reconnects gets
 * no fresh burst. */
void ratelimit_table_release(struct ratelimit_table *t, struct ratelimit_addr *a);

/* Frees the entries without connections whose buckets have refilled by
 * now_ms. Returns how many were freed. */
size_t ratelimit_table_sweep(struct ratelimit_table *t, const struct ratelimit_limits *l,
                             int64_t now_ms);

/* ---- connections ---- */

/* Sets up rc for a new connection. addr is its table entry (borrowed) or
 * NULL when the connection is exempt. */
void ratelimit_conn_init(struct ratelimit_conn *rc, const struct ratelimit_limits *l,
                         struct ratelimit_addr *addr, bool is_exempt, int64_t now_ms);

/* Charges one message of kind k to rc and its address. Returns 0 (and
 * ends a run of refusals), or OST_EAGAIN with *reason set to the static
 * text to answer with (then nothing is charged and the run grows). Cheap:
 * no allocation. */
int ratelimit_conn_take(struct ratelimit_conn *rc, const struct ratelimit_limits *l,
                        enum ratelimit_kind k, int64_t now_ms, const char **reason);

/* True once rc's run of refusals has reached l->max_refused. */
bool ratelimit_conn_is_over(const struct ratelimit_conn *rc, const struct ratelimit_limits *l);

/* ---- log suppression ---- */

/* Whether a line about a repeated event may be logged now: at most one
 * per interval_ms. When it returns true, *n_suppressed is set to how many
 * events since the last line were not logged; otherwise this one is
 * counted among them. */
bool ratelimit_log_due(struct ratelimit_logstate *ls, int64_t now_ms, int64_t interval_ms,
                       uint32_t *n_suppressed);

#endif
