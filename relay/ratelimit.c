/*
 * Rate limits. Design: a bucket holds thousandths of a token and the time
 * it was last refilled; a refill adds (elapsed ms x per_second) thousandths,
 * which is exact for every integer rate, so tests can name the millisecond
 * a token comes back. Addresses are compared as 16 bytes with IPv4 mapped
 * into IPv6, so an IPv4 block matches a client that a dual-stack socket
 * reports as ::ffff:a.b.c.d. The address table keeps an entry after its
 * last connection closes until its buckets have refilled, so closing and
 * reconnecting buys no fresh burst; entries are freed by the periodic
 * sweep, never on the message path.
 */
#include "relay/ratelimit.h"

#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "common/err.h"
#include "config/cfg.h"

const char *const ratelimit_reasons[RATELIMIT_R_N] = {
    [RATELIMIT_R_EVENTS] = "rate-limited: slow down: too many events (over the relay's "
                           "events_per_second limit)",
    [RATELIMIT_R_IP_EVENTS] = "rate-limited: slow down: too many events from your address (over "
                              "the relay's ip_events_per_second limit)",
    [RATELIMIT_R_REQS] = "rate-limited: slow down: too many REQs and COUNTs (over the relay's "
                         "reqs_per_second limit)",
    [RATELIMIT_R_IP_REQS] = "rate-limited: slow down: too many REQs and COUNTs from your address "
                            "(over the relay's ip_reqs_per_second limit)",
    [RATELIMIT_R_CONNECTIONS] = "rate-limited: the relay has too many connections; try again later",
    [RATELIMIT_R_IP_CONNECTIONS] = "rate-limited: too many connections from your address",
    [RATELIMIT_R_REFUSED] = "rate-limited: closing the connection: too many messages over the "
                            "rate limit",
    [RATELIMIT_R_IDLE] = "error: closing idle connection: no subscription and nothing received "
                         "for too long",
};

/* A refill never adds more than this much time: the bucket is full long
 * before, and the product with any rate stays far from overflow. */
#define MAX_REFILL_MS (INT64_C(1) << 32)

static const uint8_t v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* ---- limits ---- */

static struct ratelimit_rate rate_of(int64_t per_second, int64_t burst)
{
    /* cfg bounds both well inside uint32_t. */
    return (struct ratelimit_rate){ .per_second = (uint32_t)per_second, .burst = (uint32_t)burst };
}

int ratelimit_limits_init(struct ratelimit_limits *l, const struct cfg *c)
{
    struct ratelimit_limits n;
    memset(&n, 0, sizeof(n));
    n.events = rate_of(c->rate_limit.events_per_second, c->rate_limit.events_burst);
    n.reqs = rate_of(c->rate_limit.reqs_per_second, c->rate_limit.reqs_burst);
    n.ip_events = rate_of(c->rate_limit.ip_events_per_second, c->rate_limit.ip_events_burst);
    n.ip_reqs = rate_of(c->rate_limit.ip_reqs_per_second, c->rate_limit.ip_reqs_burst);
    n.max_connections = (uint32_t)c->rate_limit.max_connections;
    n.max_connections_per_ip = (uint32_t)c->rate_limit.max_connections_per_ip;
    n.max_refused = (uint32_t)c->rate_limit.max_refused;
    n.is_loopback_exempt = c->rate_limit.exempt_loopback;
    int rc = ratelimit_blocks_init(&n.exempt, (const char *const *)c->rate_limit.exempt.items,
                                   c->rate_limit.exempt.n);
    if (rc < 0) {
        return rc;
    }
    rc = ratelimit_blocks_init(&n.trusted_proxies,
                               (const char *const *)c->relay.trusted_proxies.items,
                               c->relay.trusted_proxies.n);
    if (rc < 0) {
        ratelimit_blocks_fini(&n.exempt);
        return rc;
    }
    *l = n;
    return 0;
}

void ratelimit_limits_fini(struct ratelimit_limits *l)
{
    ratelimit_blocks_fini(&l->exempt);
    ratelimit_blocks_fini(&l->trusted_proxies);
    memset(l, 0, sizeof(*l));
}

/* ---- buckets ---- */

static int64_t cap_of(const struct ratelimit_rate *r)
{
    return (int64_t)r->burst * 1000;
}

void ratelimit_bucket_init(struct ratelimit_bucket *b, const struct ratelimit_rate *r,
                           int64_t now_ms)
{
    b->milli = cap_of(r);
    b->last_ms = now_ms;
}

static void refill(struct ratelimit_bucket *b, const struct ratelimit_rate *r, int64_t now_ms)
{
    if (r->per_second == 0) {
        /* Off: should the limit be turned on by a reload, it starts full. */
        b->milli = cap_of(r);
        b->last_ms = now_ms;
        return;
    }
    int64_t elapsed = now_ms - b->last_ms;
    if (elapsed <= 0) {
        return;
    }
    if (elapsed > MAX_REFILL_MS) {
        elapsed = MAX_REFILL_MS;
    }
    /* per_second tokens a second is per_second thousandths a millisecond. */
    int64_t milli = b->milli + elapsed * (int64_t)r->per_second;
    b->milli = milli < cap_of(r) ? milli : cap_of(r);
    b->last_ms = now_ms;
}

static bool has_token(const struct ratelimit_bucket *b, const struct ratelimit_rate *r)
{
    return r->per_second == 0 || b->milli >= 1000;
}

static void take_token(struct ratelimit_bucket *b, const struct ratelimit_rate *r)
{
    if (r->per_second != 0) {
        b->milli -= 1000;
    }
}

bool ratelimit_bucket_take(struct ratelimit_bucket *b, const struct ratelimit_rate *r,
                           int64_t now_ms)
{
    refill(b, r, now_ms);
    if (!has_token(b, r)) {
        return false;
    }
    take_token(b, r);
    return true;
}

/* Whether b is back to full by now_ms (without changing it). */
static bool is_full(const struct ratelimit_bucket *b, const struct ratelimit_rate *r,
                    int64_t now_ms)
{
    if (r->per_second == 0 || b->milli >= cap_of(r)) {
        return true;
    }
    int64_t elapsed = now_ms - b->last_ms;
    return elapsed > 0 &&
           (elapsed >= MAX_REFILL_MS || b->milli + elapsed * (int64_t)r->per_second >= cap_of(r));
}

/* ---- addresses and blocks ---- */

int ratelimit_ip_parse(const char *s, size_t len, struct ratelimit_ip *out)
{
    char text[RATELIMIT_IP_STRLEN];
    if (len == 0 || len >= sizeof(text)) {
        return OST_EINVAL;
    }
    memcpy(text, s, len);
    text[len] = '\0';
    struct ratelimit_ip ip;
    if (inet_pton(AF_INET, text, ip.b + 12) == 1) {
        memcpy(ip.b, v4_mapped_prefix, sizeof(v4_mapped_prefix));
    } else if (inet_pton(AF_INET6, text, ip.b) != 1) {
        return OST_EINVAL;
    }
    *out = ip;
    return 0;
}

int ratelimit_ip_from_sockaddr(const struct sockaddr *sa, struct ratelimit_ip *out)
{
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in sin;
        memcpy(&sin, sa, sizeof(sin));
        memcpy(out->b, v4_mapped_prefix, sizeof(v4_mapped_prefix));
        memcpy(out->b + 12, &sin.sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 sin6;
        memcpy(&sin6, sa, sizeof(sin6));
        memcpy(out->b, &sin6.sin6_addr, 16);
        return 0;
    }
    return OST_EINVAL;
}

static bool is_v4(const struct ratelimit_ip *ip)
{
    return memcmp(ip->b, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0;
}

void ratelimit_ip_format(const struct ratelimit_ip *ip, char *out, size_t cap)
{
    bool v4 = is_v4(ip);
    if (inet_ntop(v4 ? AF_INET : AF_INET6, v4 ? ip->b + 12 : ip->b, out, (socklen_t)cap) == NULL &&
        cap > 0) {
        out[0] = '\0';
    }
}

bool ratelimit_ip_is_loopback(const struct ratelimit_ip *ip)
{
    static const uint8_t v6_loopback[16] = { [15] = 1 };
    return (is_v4(ip) && ip->b[12] == 127) || memcmp(ip->b, v6_loopback, 16) == 0;
}

int ratelimit_block_parse(const char *s, struct ratelimit_block *out)
{
    const char *slash = strchr(s, '/');
    size_t len = slash != NULL ? (size_t)(slash - s) : strlen(s);
    struct ratelimit_block b;
    if (ratelimit_ip_parse(s, len, &b.ip) < 0) {
        return OST_EINVAL;
    }
    /* Written as IPv4, the prefix counts IPv4 bits; stored, it also
     * covers the 96 bits of the mapping. */
    unsigned base = is_v4(&b.ip) && strchr(s, ':') == NULL ? 96 : 0;
    unsigned bits = 128;
    if (slash != NULL) {
        const char *p = slash + 1;
        if (*p == '\0' || strlen(p) > 3 || strspn(p, "0123456789") != strlen(p)) {
            return OST_EINVAL;
        }
        bits = base + (unsigned)atoi(p);
        if (bits > 128) {
            return OST_EINVAL;
        }
    }
    b.bits = (uint8_t)bits;
    *out = b;
    return 0;
}

bool ratelimit_block_match(const struct ratelimit_block *block, const struct ratelimit_ip *ip)
{
    unsigned whole = block->bits / 8, rest = block->bits % 8;
    if (memcmp(block->ip.b, ip->b, whole) != 0) {
        return false;
    }
    if (rest == 0) {
        return true;
    }
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (block->ip.b[whole] & mask) == (ip->b[whole] & mask);
}

int ratelimit_blocks_init(struct ratelimit_blocks *bl, const char *const *items, size_t n)
{
    struct ratelimit_block *blocks = NULL;
    if (n > 0) {
        blocks = calloc(n, sizeof(*blocks));
        if (blocks == NULL) {
            return OST_ENOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (ratelimit_block_parse(items[i], &blocks[i]) < 0) {
            free(blocks);
            return OST_EINVAL;
        }
    }
    bl->items = blocks;
    bl->n = n;
    return 0;
}

void ratelimit_blocks_fini(struct ratelimit_blocks *bl)
{
    free(bl->items);
    bl->items = NULL;
    bl->n = 0;
}

bool ratelimit_blocks_match(const struct ratelimit_blocks *bl, const struct ratelimit_ip *ip)
{
    for (size_t i = 0; i < bl->n; i++) {
        if (ratelimit_block_match(&bl->items[i], ip)) {
            return true;
        }
    }
    return false;
}

/* One hop of X-Forwarded-For or an X-Real-IP value: an address with
 * optional spaces around it and an optional port. */
static int parse_hop(const char *s, size_t len, struct ratelimit_ip *out)
{
    const char *end = s + len;
    while (s < end && (*s == ' ' || *s == '\t')) {
        s++;
    }
    while (end > s && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    const char *addr_end = end, *port = NULL;
    if (s < end && *s == '[') {
        s++;
        addr_end = memchr(s, ']', (size_t)(end - s));
        if (addr_end == NULL) {
            return OST_EINVAL;
        }
        port = addr_end + 1 < end ? addr_end + 1 : NULL;
        if (port != NULL && *port != ':') {
            return OST_EINVAL;
        }
    } else {
        /* One colon is IPv4 with a port; IPv6 has at least two. */
        const char *colon = memchr(s, ':', (size_t)(end - s));
        if (colon != NULL && memchr(colon + 1, ':', (size_t)(end - colon - 1)) == NULL) {
            addr_end = port = colon;
        }
    }
    if (port != NULL &&
        (port + 1 == end || (size_t)(end - port - 1) != strspn(port + 1, "0123456789"))) {
        return OST_EINVAL;
    }
    return ratelimit_ip_parse(s, (size_t)(addr_end - s), out);
}

void ratelimit_client_ip(const struct ratelimit_ip *peer, const char *xff, const char *real_ip,
                         const struct ratelimit_blocks *trusted, struct ratelimit_ip *out)
{
    *out = *peer;
    if (!ratelimit_blocks_match(trusted, peer)) {
        return;
    }
    if (xff != NULL && xff[strspn(xff, " \t")] != '\0') {
        size_t end = strlen(xff);
        for (;;) {
            size_t start = end;
            while (start > 0 && xff[start - 1] != ',') {
                start--;
            }
            struct ratelimit_ip hop;
            if (parse_hop(xff + start, end - start, &hop) < 0) {
                return;
            }
            *out = hop;
            if (!ratelimit_blocks_match(trusted, &hop) || start == 0) {
                return;
            }
            end = start - 1;
        }
    }
    struct ratelimit_ip ip;
    if (real_ip != NULL && parse_hop(real_ip, strlen(real_ip), &ip) == 0) {
        *out = ip;
    }
}

bool ratelimit_is_exempt(const struct ratelimit_limits *l, const struct ratelimit_ip *ip)
{
    return (l->is_loopback_exempt && ratelimit_ip_is_loopback(ip)) ||
           ratelimit_blocks_match(&l->exempt, ip);
}

/* ---- the address table ---- */

static uint64_t mix64(uint64_t x)
{
    /* The splitmix64 finalizer: every input bit moves every output bit. */
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return x;
}

static size_t slot_of(const struct ratelimit_ip *ip, uint64_t seed, size_t cap)
{
    uint64_t lo, hi;
    memcpy(&lo, ip->b, 8);
    memcpy(&hi, ip->b + 8, 8);
    return (size_t)mix64(mix64(lo ^ seed) ^ hi) & (cap - 1);
}

int ratelimit_table_init(struct ratelimit_table *t, uint64_t seed)
{
    t->cap = 256;
    t->count = 0;
    t->seed = seed;
    t->slots = calloc(t->cap, sizeof(*t->slots));
    return t->slots != NULL ? 0 : OST_ENOMEM;
}

void ratelimit_table_fini(struct ratelimit_table *t)
{
    for (size_t i = 0; i < t->cap; i++) {
        free(t->slots[i]);
    }
    free(t->slots);
    t->slots = NULL;
    t->cap = t->count = 0;
}

static void insert_slot(struct ratelimit_addr **slots, size_t cap, uint64_t seed,
                        struct ratelimit_addr *a)
{
    size_t i = slot_of(&a->ip, seed, cap);
    while (slots[i] != NULL) {
        i = (i + 1) & (cap - 1);
    }
    slots[i] = a;
}

struct ratelimit_addr *ratelimit_table_find(const struct ratelimit_table *t,
                                            const struct ratelimit_ip *ip)
{
    for (size_t i = slot_of(ip, t->seed, t->cap); t->slots[i] != NULL; i = (i + 1) & (t->cap - 1)) {
        if (memcmp(t->slots[i]->ip.b, ip->b, 16) == 0) {
            return t->slots[i];
        }
    }
    return NULL;
}

static int grow(struct ratelimit_table *t)
{
    size_t cap = t->cap * 2;
    struct ratelimit_addr **slots = calloc(cap, sizeof(*slots));
    if (slots == NULL) {
        return OST_ENOMEM;
    }
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i] != NULL) {
            insert_slot(slots, cap, t->seed, t->slots[i]);
        }
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

int ratelimit_table_acquire(struct ratelimit_table *t, const struct ratelimit_ip *ip,
                            const struct ratelimit_limits *l, int64_t now_ms,
                            struct ratelimit_addr **out)
{
    struct ratelimit_addr *a = ratelimit_table_find(t, ip);
    if (a != NULL) {
        if (l->max_connections_per_ip != 0 && a->n_conns >= l->max_connections_per_ip) {
            return OST_ENOSPC;
        }
        a->n_conns++;
        *out = a;
        return 0;
    }
    if ((t->count + 1) * 2 > t->cap && grow(t) < 0) {
        return OST_ENOMEM;
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return OST_ENOMEM;
    }
    a->ip = *ip;
    a->n_conns = 1;
    ratelimit_bucket_init(&a->events, &l->ip_events, now_ms);
    ratelimit_bucket_init(&a->reqs, &l->ip_reqs, now_ms);
    insert_slot(t->slots, t->cap, t->seed, a);
    t->count++;
    *out = a;
    return 0;
}

void ratelimit_table_release(struct ratelimit_table *t, struct ratelimit_addr *a)
{
    (void)t;
    if (a->n_conns > 0) {
        a->n_conns--;
    }
}

/* Frees the entry in slot i and re-inserts the rest of its cluster, so that
 * lookups never stop early at the hole (deletion under linear probing). */
static void delete_at(struct ratelimit_table *t, size_t i)
{
    free(t->slots[i]);
    t->slots[i] = NULL;
    t->count--;
    for (size_t j = (i + 1) & (t->cap - 1); t->slots[j] != NULL; j = (j + 1) & (t->cap - 1)) {
        struct ratelimit_addr *moved = t->slots[j];
        t->slots[j] = NULL;
        insert_slot(t->slots, t->cap, t->seed, moved);
    }
}

size_t ratelimit_table_sweep(struct ratelimit_table *t, const struct ratelimit_limits *l,
                             int64_t now_ms)
{
    size_t n = 0;
    for (size_t i = 0; i < t->cap;) {
        const struct ratelimit_addr *a = t->slots[i];
        if (a != NULL && a->n_conns == 0 && is_full(&a->events, &l->ip_events, now_ms) &&
            is_full(&a->reqs, &l->ip_reqs, now_ms)) {
            /* Slot i may now hold an entry moved back from later in its
             * cluster: look at it again. One that wrapped to the front is
             * left for the next sweep. */
            delete_at(t, i);
            n++;
            continue;
        }
        i++;
    }
    return n;
}

/* ---- connections ---- */

void ratelimit_conn_init(struct ratelimit_conn *rc, const struct ratelimit_limits *l,
                         struct ratelimit_addr *addr, bool is_exempt, int64_t now_ms)
{
    memset(rc, 0, sizeof(*rc));
    ratelimit_bucket_init(&rc->events, &l->events, now_ms);
    ratelimit_bucket_init(&rc->reqs, &l->reqs, now_ms);
    rc->addr = addr;
    rc->is_exempt = is_exempt;
}

int ratelimit_conn_take(struct ratelimit_conn *rc, const struct ratelimit_limits *l,
                        enum ratelimit_kind k, int64_t now_ms, const char **reason)
{
    if (rc->is_exempt) {
        return 0;
    }
    bool is_event = k == RATELIMIT_EVENT;
    const struct ratelimit_rate *own_rate = is_event ? &l->events : &l->reqs;
    const struct ratelimit_rate *ip_rate = is_event ? &l->ip_events : &l->ip_reqs;
    struct ratelimit_bucket *own = is_event ? &rc->events : &rc->reqs;
    struct ratelimit_bucket *ip = NULL;
    if (rc->addr != NULL) {
        ip = is_event ? &rc->addr->events : &rc->addr->reqs;
    }
    /* Both buckets must have a token before either is charged: a message
     * refused for the address costs the connection nothing. */
    refill(own, own_rate, now_ms);
    if (ip != NULL) {
        refill(ip, ip_rate, now_ms);
    }
    if (!has_token(own, own_rate)) {
        *reason = ratelimit_reasons[is_event ? RATELIMIT_R_EVENTS : RATELIMIT_R_REQS];
    } else if (ip != NULL && !has_token(ip, ip_rate)) {
        *reason = ratelimit_reasons[is_event ? RATELIMIT_R_IP_EVENTS : RATELIMIT_R_IP_REQS];
    } else {
        take_token(own, own_rate);
        if (ip != NULL) {
            take_token(ip, ip_rate);
        }
        rc->n_refused = 0;
        return 0;
    }
    if (rc->n_refused < UINT32_MAX) {
        rc->n_refused++;
    }
    return OST_EAGAIN;
}

bool ratelimit_conn_is_over(const struct ratelimit_conn *rc, const struct ratelimit_limits *l)
{
    return l->max_refused != 0 && rc->n_refused >= l->max_refused;
}

/* ---- log suppression ---- */

bool ratelimit_log_due(struct ratelimit_logstate *ls, int64_t now_ms, int64_t interval_ms,
                       uint32_t *n_suppressed)
{
    if (ls->has_logged && now_ms - ls->last_ms < interval_ms) {
        if (ls->n_unlogged < UINT32_MAX) {
            ls->n_unlogged++;
        }
        return false;
    }
    *n_suppressed = ls->n_unlogged;
    ls->n_unlogged = 0;
    ls->last_ms = now_ms;
    ls->has_logged = true;
    return true;
}
