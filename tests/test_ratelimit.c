/*
 * Tests for relay/ratelimit: token bucket arithmetic on a clock the test
 * drives (burst, refill to the millisecond, the cap, rates that are off, a
 * clock that goes back), address and CIDR block parsing and matching for
 * IPv4, IPv6 and IPv4-mapped IPv6 on both sides of each prefix, the
 * X-Forwarded-For rule behind trusted proxies, the address table against a
 * naive list, per-connection charging with the address's shared buckets
 * and the run of refusals, and log suppression. The reasons the module
 * returns are each produced here; those the server sends (connection
 * limits, the refusal run, idle) are checked word for word by
 * tests/interop/ratelimit.test.mjs.
 */
#include <stdio.h>
#include <string.h>

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "check.h"
#include "common/err.h"
#include "config/cfg.h"
#include "relay/ratelimit.h"

static struct ratelimit_ip ip_of(const char *text)
{
    struct ratelimit_ip ip;
    memset(&ip, 0xee, sizeof(ip));
    if (ratelimit_ip_parse(text, strlen(text), &ip) != 0) {
        fprintf(stderr, "  bad test address %s\n", text);
    }
    return ip;
}

static bool ip_eq(struct ratelimit_ip a, struct ratelimit_ip b)
{
    return memcmp(a.b, b.b, 16) == 0;
}

static void test_bucket_burst_then_refill(void)
{
    struct ratelimit_rate r = { .per_second = 10, .burst = 5 };
    struct ratelimit_bucket b;
    ratelimit_bucket_init(&b, &r, 1000);
    for (int i = 0; i < 5; i++) {
        CHECK(ratelimit_bucket_take(&b, &r, 1000));
    }
    CHECK(!ratelimit_bucket_take(&b, &r, 1000));
    /* 10 a second: one token every 100 ms, not a millisecond earlier. */
    CHECK(!ratelimit_bucket_take(&b, &r, 1099));
    CHECK(ratelimit_bucket_take(&b, &r, 1100));
    CHECK(!ratelimit_bucket_take(&b, &r, 1100));
    CHECK(!ratelimit_bucket_take(&b, &r, 1199));
    CHECK(ratelimit_bucket_take(&b, &r, 1200));
}

static void test_bucket_slow_rate_accumulates(void)
{
    /* 3 a second: 333 ms make 0.999 of a token, 334 ms a whole one; the
     * thousandths carried over count towards the next. */
    struct ratelimit_rate r = { .per_second = 3, .burst = 1 };
    struct ratelimit_bucket b;
    ratelimit_bucket_init(&b, &r, 0);
    CHECK(ratelimit_bucket_take(&b, &r, 0));
    CHECK(!ratelimit_bucket_take(&b, &r, 333));
    CHECK(ratelimit_bucket_take(&b, &r, 334));
    CHECK(!ratelimit_bucket_take(&b, &r, 500));
    CHECK(!ratelimit_bucket_take(&b, &r, 667));
    CHECK(ratelimit_bucket_take(&b, &r, 668));
}

static void test_bucket_caps_at_burst(void)
{
    struct ratelimit_rate r = { .per_second = 1000, .burst = 3 };
    struct ratelimit_bucket b;
    ratelimit_bucket_init(&b, &r, 0);
    for (int i = 0; i < 3; i++) {
        CHECK(ratelimit_bucket_take(&b, &r, 0));
    }
    /* A day idle refills to the burst and no further. */
    int64_t later = 86400000;
    for (int i = 0; i < 3; i++) {
        CHECK(ratelimit_bucket_take(&b, &r, later));
    }
    CHECK(!ratelimit_bucket_take(&b, &r, later));
    /* Years idle cannot overflow the arithmetic. */
    int64_t much_later = INT64_C(1) << 50;
    CHECK(ratelimit_bucket_take(&b, &r, much_later));
    CHECK(ratelimit_bucket_take(&b, &r, much_later));
    CHECK(ratelimit_bucket_take(&b, &r, much_later));
    CHECK(!ratelimit_bucket_take(&b, &r, much_later));
}

static void test_bucket_off_and_clock_back(void)
{
    struct ratelimit_rate off = { .per_second = 0, .burst = 1 };
    struct ratelimit_bucket b;
    ratelimit_bucket_init(&b, &off, 0);
    for (int i = 0; i < 100000; i++) {
        CHECK(ratelimit_bucket_take(&b, &off, 0));
    }
    /* Turned on later (a reload), the bucket starts full. */
    struct ratelimit_rate on = { .per_second = 1, .burst = 2 };
    off.burst = 2;
    CHECK(ratelimit_bucket_take(&b, &off, 5));
    CHECK(ratelimit_bucket_take(&b, &on, 5));
    CHECK(ratelimit_bucket_take(&b, &on, 5));
    CHECK(!ratelimit_bucket_take(&b, &on, 5));
    /* A clock that goes back refills nothing and breaks nothing. */
    CHECK(!ratelimit_bucket_take(&b, &on, 1));
    CHECK(!ratelimit_bucket_take(&b, &on, 1004));
    CHECK(ratelimit_bucket_take(&b, &on, 1005));
}

static void test_bucket_smaller_burst_after_reload(void)
{
    struct ratelimit_rate big = { .per_second = 1, .burst = 100 };
    struct ratelimit_rate small = { .per_second = 1, .burst = 2 };
    struct ratelimit_bucket b;
    ratelimit_bucket_init(&b, &big, 0);
    /* The first refill under the smaller burst caps the bucket at it. */
    CHECK(ratelimit_bucket_take(&b, &small, 1));
    CHECK(ratelimit_bucket_take(&b, &small, 1));
    CHECK(!ratelimit_bucket_take(&b, &small, 1));
}

static void test_ip_parse_and_format(void)
{
    static const struct {
        const char *in, *out;
    } ok[] = {
        { "1.2.3.4", "1.2.3.4" },
        { "::ffff:1.2.3.4", "1.2.3.4" },
        { "::FFFF:10.0.0.1", "10.0.0.1" },
        { "::1", "::1" },
        { "2001:db8:0:0:0:0:0:1", "2001:db8::1" },
        { "fe80::abcd", "fe80::abcd" },
        { "255.255.255.255", "255.255.255.255" },
        { "::", "::" },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct ratelimit_ip ip;
        CHECK_OK(ratelimit_ip_parse(ok[i].in, strlen(ok[i].in), &ip));
        char text[RATELIMIT_IP_STRLEN];
        ratelimit_ip_format(&ip, text, sizeof(text));
        CHECK_STR_EQ(text, ok[i].out);
    }
    CHECK(ip_eq(ip_of("1.2.3.4"), ip_of("::ffff:1.2.3.4")));
    static const char *const bad[] = {
        "",
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "1.2.3.4:80",
        "[::1]",
        "::1%lo",
        "::g",
        "1.2.3.4 ",
        " 1.2.3.4",
        "localhost",
        "1::2::3",
        "1.2.3.04" /* octal-looking octets are not addresses */,
        "2001:db8::1/64",
        "0000:0000:0000:0000:0000:0000:0000:0000:1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ratelimit_ip ip = ip_of("9.9.9.9");
        if (ratelimit_ip_parse(bad[i], strlen(bad[i]), &ip) != OST_EINVAL) {
            fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
            CHECK(false);
        }
        /* Not written on failure. */
        CHECK(ip_eq(ip, ip_of("9.9.9.9")));
    }
    /* Only len bytes are read. */
    struct ratelimit_ip ip;
    CHECK_OK(ratelimit_ip_parse("10.0.0.1,junk", 8, &ip));
    CHECK(ip_eq(ip, ip_of("10.0.0.1")));
}

static void test_ip_from_sockaddr(void)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    CHECK_INT_EQ(inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr), 1);
    struct ratelimit_ip ip;
    CHECK_OK(ratelimit_ip_from_sockaddr((const struct sockaddr *)&sin, &ip));
    CHECK(ip_eq(ip, ip_of("192.0.2.7")));

    /* A dual-stack socket reports IPv4 clients as IPv4-mapped IPv6. */
    struct sockaddr_in6 sin6;
    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    CHECK_INT_EQ(inet_pton(AF_INET6, "::ffff:192.0.2.7", &sin6.sin6_addr), 1);
    CHECK_OK(ratelimit_ip_from_sockaddr((const struct sockaddr *)&sin6, &ip));
    CHECK(ip_eq(ip, ip_of("192.0.2.7")));
    CHECK_INT_EQ(inet_pton(AF_INET6, "2001:db8::5", &sin6.sin6_addr), 1);
    CHECK_OK(ratelimit_ip_from_sockaddr((const struct sockaddr *)&sin6, &ip));
    CHECK(ip_eq(ip, ip_of("2001:db8::5")));

    struct sockaddr other;
    memset(&other, 0, sizeof(other));
    other.sa_family = AF_UNIX;
    CHECK_INT_EQ(ratelimit_ip_from_sockaddr(&other, &ip), OST_EINVAL);
}

static void test_loopback(void)
{
    static const struct {
        const char *addr;
        bool is_loopback;
    } cases[] = {
        { "127.0.0.1", true },
        { "127.255.255.254", true },
        { "::ffff:127.0.0.1", true },
        { "::1", true },
        { "128.0.0.1", false },
        { "126.255.255.255", false },
        { "::2", false },
        { "::", false },
        { "10.0.0.1", false },
        { "::127.0.0.1", false } /* IPv4-compatible, not mapped */,
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ratelimit_ip ip = ip_of(cases[i].addr);
        if (ratelimit_ip_is_loopback(&ip) != cases[i].is_loopback) {
            fprintf(stderr, "  %s\n", cases[i].addr);
            CHECK(false);
        }
    }
}

/* Whether block matches the address (both as text). */
static bool block_matches(const char *block, const char *addr)
{
    struct ratelimit_block b;
    if (ratelimit_block_parse(block, &b) != 0) {
        fprintf(stderr, "  bad test block %s\n", block);
        return false;
    }
    struct ratelimit_ip ip = ip_of(addr);
    return ratelimit_block_match(&b, &ip);
}

static void test_block_match(void)
{
    static const struct {
        const char *block, *addr;
        bool is_match;
    } cases[] = {
        /* IPv4, both sides of each prefix. */
        { "10.0.0.0/8", "10.0.0.0", true },
        { "10.0.0.0/8", "10.255.255.255", true },
        { "10.0.0.0/8", "11.0.0.0", false },
        { "10.0.0.0/8", "9.255.255.255", false },
        { "192.168.16.0/20", "192.168.31.255", true },
        { "192.168.16.0/20", "192.168.32.0", false },
        { "192.168.16.0/20", "192.168.15.255", false },
        { "1.2.3.4", "1.2.3.4", true },
        { "1.2.3.4", "1.2.3.5", false },
        { "1.2.3.4/32", "1.2.3.4", true },
        { "1.2.3.4/31", "1.2.3.5", true },
        { "1.2.3.4/31", "1.2.3.6", false },
        { "0.0.0.0/0", "203.0.113.9", true },
        /* An IPv4 block covers IPv4 only, even at /0. */
        { "0.0.0.0/0", "2001:db8::1", false },
        { "0.0.0.0/0", "::1", false },
        /* IPv4-mapped IPv6 on either side. */
        { "10.0.0.0/8", "::ffff:10.1.2.3", true },
        { "::ffff:10.0.0.0/104", "10.1.2.3", true },
        { "::ffff:10.0.0.0/104", "11.1.2.3", false },
        { "::ffff:1.2.3.4", "1.2.3.4", true },
        /* IPv6. */
        { "2001:db8::/32", "2001:db8:ffff::1", true },
        { "2001:db8::/32", "2001:db9::1", false },
        { "2001:db8:0:1::/64", "2001:db8:0:1:ffff:ffff:ffff:ffff", true },
        { "2001:db8:0:1::/64", "2001:db8:0:2::", false },
        { "2001:db8::80/121", "2001:db8::ff", true },
        { "2001:db8::80/121", "2001:db8::7f", false },
        { "::1", "::1", true },
        { "::1/128", "::2", false },
        { "::/0", "2001:db8::1", true },
        { "::/0", "1.2.3.4", true },
        { "fe80::/10", "febf::1", true },
        { "fe80::/10", "fec0::1", false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (block_matches(cases[i].block, cases[i].addr) != cases[i].is_match) {
            fprintf(stderr, "  %s vs %s: expected %s\n", cases[i].block, cases[i].addr,
                    cases[i].is_match ? "a match" : "no match");
            CHECK(false);
        }
    }
}

static void test_block_parse_errors(void)
{
    static const char *const bad[] = {
        "",
        "/8",
        "10.0.0.0/",
        "10.0.0.0/33",
        "10.0.0.0/-1",
        "10.0.0.0/ 8",
        "10.0.0.0/8/8",
        "10.0.0.0/8x",
        "::/129",
        "::/1000",
        "localhost",
        "10.0.0/8",
        "[::1]/128",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ratelimit_block b;
        if (ratelimit_block_parse(bad[i], &b) != OST_EINVAL) {
            fprintf(stderr, "  accepted \"%s\"\n", bad[i]);
            CHECK(false);
        }
    }
    struct ratelimit_block b;
    CHECK_OK(ratelimit_block_parse("10.0.0.0/32", &b));
    CHECK_INT_EQ(b.bits, 128);
    CHECK_OK(ratelimit_block_parse("10.0.0.0/0", &b));
    CHECK_INT_EQ(b.bits, 96);
    CHECK_OK(ratelimit_block_parse("::/128", &b));
    CHECK_INT_EQ(b.bits, 128);
    CHECK_OK(ratelimit_block_parse("2001:db8::", &b));
    CHECK_INT_EQ(b.bits, 128);

    /* Lists: all or nothing. */
    const char *good[] = { "10.0.0.0/8", "::1" };
    const char *mixed[] = { "10.0.0.0/8", "nope" };
    struct ratelimit_blocks bl = { NULL, 0 };
    CHECK_INT_EQ(ratelimit_blocks_init(&bl, mixed, 2), OST_EINVAL);
    CHECK(bl.items == NULL);
    CHECK_OK(ratelimit_blocks_init(&bl, good, 2));
    CHECK_INT_EQ(bl.n, 2);
    struct ratelimit_ip a = ip_of("10.9.9.9"), b6 = ip_of("::1"), c = ip_of("11.0.0.1");
    CHECK(ratelimit_blocks_match(&bl, &a));
    CHECK(ratelimit_blocks_match(&bl, &b6));
    CHECK(!ratelimit_blocks_match(&bl, &c));
    ratelimit_blocks_fini(&bl);
    CHECK(!ratelimit_blocks_match(&bl, &a));
    CHECK_OK(ratelimit_blocks_init(&bl, NULL, 0));
    CHECK(!ratelimit_blocks_match(&bl, &a));
    ratelimit_blocks_fini(&bl);
}

static void test_client_ip(void)
{
    const char *proxies[] = { "127.0.0.1", "10.0.0.0/8", "2001:db8:ff::/48" };
    struct ratelimit_blocks trusted;
    CHECK_OK(ratelimit_blocks_init(&trusted, proxies, 3));
    static const struct {
        const char *peer, *xff, *real_ip, *want;
    } cases[] = {
        /* Not from a trusted proxy: the headers are the client's word. */
        { "203.0.113.5", "198.51.100.1", "198.51.100.2", "203.0.113.5" },
        { "2001:db8:1::1", "198.51.100.1", NULL, "2001:db8:1::1" },
        /* One proxy. */
        { "127.0.0.1", "198.51.100.1", NULL, "198.51.100.1" },
        { "::ffff:127.0.0.1", "198.51.100.1", NULL, "198.51.100.1" },
        /* The right-most untrusted entry; what the client wrote to the left
         * of it is not believed. */
        { "127.0.0.1", "6.6.6.6, 198.51.100.1", NULL, "198.51.100.1" },
        { "127.0.0.1", "6.6.6.6, 198.51.100.1, 10.1.1.1", NULL, "198.51.100.1" },
        { "127.0.0.1", "6.6.6.6,198.51.100.1,10.1.1.1,10.2.2.2", NULL, "198.51.100.1" },
        /* Every hop trusted: the left-most. */
        { "127.0.0.1", "10.3.3.3, 10.1.1.1", NULL, "10.3.3.3" },
        /* Ports, brackets, IPv6, IPv4-mapped. */
        { "127.0.0.1", "198.51.100.1:4711", NULL, "198.51.100.1" },
        { "127.0.0.1", "[2001:db8:1::9]:443", NULL, "2001:db8:1::9" },
        { "127.0.0.1", "[2001:db8:1::9]", NULL, "2001:db8:1::9" },
        { "127.0.0.1", "2001:db8:1::9", NULL, "2001:db8:1::9" },
        { "127.0.0.1", " 2001:db8:1::9 , 2001:db8:ff:1::1 ", NULL, "2001:db8:1::9" },
        { "2001:db8:ff::2", "::ffff:198.51.100.7", NULL, "198.51.100.7" },
        /* Garbage ends the walk at the last trusted hop. */
        { "127.0.0.1", "unknown", NULL, "127.0.0.1" },
        { "127.0.0.1", "198.51.100.1, unknown, 10.1.1.1", NULL, "10.1.1.1" },
        { "127.0.0.1", "198.51.100.1,,10.1.1.1", NULL, "10.1.1.1" },
        { "127.0.0.1", "198.51.100.1:", NULL, "127.0.0.1" },
        { "127.0.0.1", "198.51.100.1:80x", NULL, "127.0.0.1" },
        { "127.0.0.1", "[2001:db8::1", NULL, "127.0.0.1" },
        { "127.0.0.1", "[2001:db8::1]x", NULL, "127.0.0.1" },
        { "127.0.0.1", "6.6.6.6, 198.51.100.1,", NULL, "127.0.0.1" },
        /* X-Real-IP when there is no X-Forwarded-For (or only spaces). */
        { "127.0.0.1", NULL, "198.51.100.3", "198.51.100.3" },
        { "127.0.0.1", "  ", "198.51.100.3", "198.51.100.3" },
        { "127.0.0.1", NULL, " [2001:db8:2::3]:80 ", "2001:db8:2::3" },
        { "127.0.0.1", "198.51.100.1", "198.51.100.3", "198.51.100.1" },
        { "127.0.0.1", NULL, "junk", "127.0.0.1" },
        { "127.0.0.1", NULL, NULL, "127.0.0.1" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ratelimit_ip peer = ip_of(cases[i].peer), out;
        ratelimit_client_ip(&peer, cases[i].xff, cases[i].real_ip, &trusted, &out);
        char text[RATELIMIT_IP_STRLEN];
        ratelimit_ip_format(&out, text, sizeof(text));
        if (strcmp(text, cases[i].want) != 0) {
            fprintf(stderr, "  case %zu: peer %s xff \"%s\" real \"%s\": got %s, want %s\n", i,
                    cases[i].peer, cases[i].xff ? cases[i].xff : "(none)",
                    cases[i].real_ip ? cases[i].real_ip : "(none)", text, cases[i].want);
            CHECK(false);
        }
    }
    /* No trusted proxies at all: always the peer. */
    struct ratelimit_blocks none = { NULL, 0 };
    struct ratelimit_ip peer = ip_of("127.0.0.1"), out;
    ratelimit_client_ip(&peer, "198.51.100.1", "198.51.100.2", &none, &out);
    CHECK(ip_eq(out, peer));
    ratelimit_blocks_fini(&trusted);
}

static struct ratelimit_limits limits_default(void)
{
    struct ratelimit_limits l;
    memset(&l, 0, sizeof(l));
    l.events = (struct ratelimit_rate){ 10, 3 };
    l.reqs = (struct ratelimit_rate){ 5, 2 };
    l.ip_events = (struct ratelimit_rate){ 10, 5 };
    l.ip_reqs = (struct ratelimit_rate){ 0, 1 };
    l.max_connections_per_ip = 3;
    l.max_refused = 4;
    l.is_loopback_exempt = true;
    return l;
}

static void test_limits_from_cfg(void)
{
    struct cfg c;
    memset(&c, 0, sizeof(c));
    char exempt0[] = "192.0.2.0/24", proxy0[] = "10.0.0.1", proxy1[] = "fd00::/8";
    char *exempt[] = { exempt0 };
    char *proxies[] = { proxy0, proxy1 };
    c.rate_limit.max_connections = 7;
    c.rate_limit.max_connections_per_ip = 3;
    c.rate_limit.events_per_second = 50;
    c.rate_limit.events_burst = 500;
    c.rate_limit.reqs_per_second = 20;
    c.rate_limit.reqs_burst = 200;
    c.rate_limit.ip_events_per_second = 200;
    c.rate_limit.ip_events_burst = 2000;
    c.rate_limit.ip_reqs_per_second = 0;
    c.rate_limit.ip_reqs_burst = 1000;
    c.rate_limit.max_refused = 9;
    c.rate_limit.exempt_loopback = true;
    c.rate_limit.exempt = (struct cfg_strings){ exempt, 1 };
    c.relay.trusted_proxies = (struct cfg_strings){ proxies, 2 };
    struct ratelimit_limits l;
    CHECK_OK(ratelimit_limits_init(&l, &c));
    CHECK_INT_EQ(l.max_connections, 7);
    CHECK_INT_EQ(l.max_connections_per_ip, 3);
    CHECK_INT_EQ(l.events.per_second, 50);
    CHECK_INT_EQ(l.events.burst, 500);
    CHECK_INT_EQ(l.reqs.per_second, 20);
    CHECK_INT_EQ(l.reqs.burst, 200);
    CHECK_INT_EQ(l.ip_events.per_second, 200);
    CHECK_INT_EQ(l.ip_events.burst, 2000);
    CHECK_INT_EQ(l.ip_reqs.per_second, 0);
    CHECK_INT_EQ(l.max_refused, 9);
    CHECK_INT_EQ(l.exempt.n, 1);
    CHECK_INT_EQ(l.trusted_proxies.n, 2);

    struct ratelimit_ip lo4 = ip_of("127.0.0.9"), lo6 = ip_of("::1"),
                        mapped = ip_of("::ffff:127.1.2.3");
    struct ratelimit_ip listed = ip_of("192.0.2.200"), other = ip_of("198.51.100.1");
    CHECK(ratelimit_is_exempt(&l, &lo4));
    CHECK(ratelimit_is_exempt(&l, &lo6));
    CHECK(ratelimit_is_exempt(&l, &mapped));
    CHECK(ratelimit_is_exempt(&l, &listed));
    CHECK(!ratelimit_is_exempt(&l, &other));
    l.is_loopback_exempt = false;
    CHECK(!ratelimit_is_exempt(&l, &lo4));
    CHECK(!ratelimit_is_exempt(&l, &lo6));
    CHECK(ratelimit_is_exempt(&l, &listed));
    ratelimit_limits_fini(&l);
    CHECK(l.exempt.items == NULL && l.trusted_proxies.items == NULL);

    /* A list entry that is not a block: nothing is built, nothing leaks. */
    char bad1[] = "proxy.example";
    char *bad[] = { proxy0, bad1 };
    c.relay.trusted_proxies = (struct cfg_strings){ bad, 2 };
    memset(&l, 0x5a, sizeof(l));
    CHECK_INT_EQ(ratelimit_limits_init(&l, &c), OST_EINVAL);
    CHECK_INT_EQ(l.max_connections, 0x5a5a5a5a);
}

static void test_table_acquire_release_sweep(void)
{
    struct ratelimit_limits l = limits_default();
    struct ratelimit_table t;
    CHECK_OK(ratelimit_table_init(&t, 42));
    struct ratelimit_ip a = ip_of("198.51.100.1"), b = ip_of("2001:db8::1");
    struct ratelimit_addr *ea[3], *eb, *x = NULL;
    for (int i = 0; i < 3; i++) {
        CHECK_OK(ratelimit_table_acquire(&t, &a, &l, 0, &ea[i]));
        CHECK(ea[i] == ea[0]);
    }
    CHECK_INT_EQ(ea[0]->n_conns, 3);
    /* The fourth from the same address is refused; others are not. */
    CHECK_INT_EQ(ratelimit_table_acquire(&t, &a, &l, 0, &x), OST_ENOSPC);
    CHECK(x == NULL);
    CHECK_INT_EQ(ea[0]->n_conns, 3);
    CHECK_OK(ratelimit_table_acquire(&t, &b, &l, 0, &eb));
    CHECK(eb != ea[0]);
    CHECK(ratelimit_table_find(&t, &a) == ea[0]);
    CHECK(ratelimit_table_find(&t, &b) == eb);
    /* One closes: a new one fits again. */
    ratelimit_table_release(&t, ea[0]);
    CHECK_OK(ratelimit_table_acquire(&t, &a, &l, 0, &x));
    CHECK(x == ea[0]);
    /* 0 means no per-address limit. */
    l.max_connections_per_ip = 0;
    CHECK_OK(ratelimit_table_acquire(&t, &a, &l, 0, &x));
    CHECK_INT_EQ(x->n_conns, 4);

    /* b drains its address's event bucket, then closes: the entry stays
     * until the bucket is full again (5 tokens at 10 a second: 500 ms),
     * so reconnecting buys no fresh burst. */
    struct ratelimit_conn rc;
    ratelimit_conn_init(&rc, &l, eb, false, 0);
    const char *reason = NULL;
    for (int i = 0; i < 3; i++) {
        CHECK_OK(ratelimit_conn_take(&rc, &l, RATELIMIT_EVENT, 0, &reason));
    }
    ratelimit_table_release(&t, eb);
    CHECK_INT_EQ(ratelimit_table_sweep(&t, &l, 0), 0);
    CHECK_INT_EQ(ratelimit_table_sweep(&t, &l, 299), 0);
    CHECK(ratelimit_table_find(&t, &b) == eb);
    CHECK_OK(ratelimit_table_acquire(&t, &b, &l, 299, &x));
    CHECK(x == eb);
    ratelimit_conn_init(&rc, &l, eb, false, 299);
    for (int i = 0; i < 4; i++) {
        CHECK_OK(ratelimit_conn_take(&rc, &l, RATELIMIT_EVENT, 299 + i * 100, &reason));
    }
    ratelimit_table_release(&t, eb);
    /* Busy entries are never swept. */
    CHECK_INT_EQ(ratelimit_table_sweep(&t, &l, 1000000), 1);
    CHECK(ratelimit_table_find(&t, &b) == NULL);
    CHECK(ratelimit_table_find(&t, &a) == ea[0]);
    CHECK_INT_EQ(t.count, 1);
    ratelimit_table_fini(&t);
}

/* The table against a plain array, under many addresses, connections that
 * come and go, and sweeps (which also exercise deletion in clusters). */
static void test_table_differential(void)
{
    enum {
        N_ADDRS = 3000,
        N_OPS = 60000
    };
    static struct ratelimit_ip addrs[N_ADDRS];
    static uint32_t want[N_ADDRS];
    static struct ratelimit_addr *entry[N_ADDRS];
    uint64_t seed = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < N_ADDRS; i++) {
        memset(&addrs[i], 0, sizeof(addrs[i]));
        /* Half IPv4 (sequential), half IPv6 in one /64 (also sequential):
         * the kind of keys an attacker controls. */
        if (i % 2 == 0) {
            memcpy(addrs[i].b, (uint8_t[12]){ [10] = 0xff, [11] = 0xff }, 12);
            addrs[i].b[12] = 10;
            addrs[i].b[14] = (uint8_t)(i >> 8);
            addrs[i].b[15] = (uint8_t)i;
        } else {
            addrs[i].b[0] = 0x20;
            addrs[i].b[1] = 0x01;
            addrs[i].b[14] = (uint8_t)(i >> 8);
            addrs[i].b[15] = (uint8_t)i;
        }
        want[i] = 0;
        entry[i] = NULL;
    }
    struct ratelimit_limits l = limits_default();
    l.max_connections_per_ip = 0;
    l.ip_events.per_second = 0;
    struct ratelimit_table t;
    CHECK_OK(ratelimit_table_init(&t, 7));
    uint64_t x = seed;
    for (int op = 0; op < N_OPS; op++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int i = (int)(x % N_ADDRS);
        if ((x >> 32) % 3 != 0 || want[i] == 0) {
            struct ratelimit_addr *a;
            CHECK_OK(ratelimit_table_acquire(&t, &addrs[i], &l, op, &a));
            CHECK(entry[i] == NULL || want[i] == 0 || a == entry[i]);
            entry[i] = a;
            want[i]++;
        } else {
            ratelimit_table_release(&t, entry[i]);
            want[i]--;
        }
        if (op % 5000 == 4999) {
            ratelimit_table_sweep(&t, &l, op);
            for (int k = 0; k < N_ADDRS; k++) {
                if (want[k] == 0) {
                    entry[k] = NULL;
                }
            }
        }
    }
    /* A sweep may leave an entry that wrapped around for the next one. */
    ratelimit_table_sweep(&t, &l, N_OPS);
    ratelimit_table_sweep(&t, &l, N_OPS);
    size_t live = 0;
    for (int i = 0; i < N_ADDRS; i++) {
        struct ratelimit_addr *a = ratelimit_table_find(&t, &addrs[i]);
        if (want[i] == 0) {
            if (a != NULL) {
                fprintf(stderr, "  seed %llu: address %d still in the table\n",
                        (unsigned long long)seed, i);
                CHECK(false);
            }
            continue;
        }
        live++;
        if (a == NULL || a->n_conns != want[i] || a != entry[i]) {
            fprintf(stderr, "  seed %llu: address %d: %u connections expected\n",
                    (unsigned long long)seed, i, want[i]);
            CHECK(false);
        }
    }
    CHECK_INT_EQ(t.count, live);
    ratelimit_table_fini(&t);
}

static void test_conn_take_and_refusals(void)
{
    struct ratelimit_limits l = limits_default();
    struct ratelimit_table t;
    CHECK_OK(ratelimit_table_init(&t, 1));
    struct ratelimit_ip ip = ip_of("198.51.100.9");
    struct ratelimit_addr *a;
    CHECK_OK(ratelimit_table_acquire(&t, &ip, &l, 0, &a));
    struct ratelimit_conn c1, c2;
    ratelimit_conn_init(&c1, &l, a, false, 0);
    CHECK_OK(ratelimit_table_acquire(&t, &ip, &l, 0, &a));
    ratelimit_conn_init(&c2, &l, a, false, 0);
    const char *reason = NULL;

    /* The connection's burst of 3 events, then its own limit. */
    for (int i = 0; i < 3; i++) {
        CHECK_OK(ratelimit_conn_take(&c1, &l, RATELIMIT_EVENT, 0, &reason));
    }
    CHECK_INT_EQ(ratelimit_conn_take(&c1, &l, RATELIMIT_EVENT, 0, &reason), OST_EAGAIN);
    CHECK_STR_EQ(reason, ratelimit_reasons[RATELIMIT_R_EVENTS]);
    CHECK_INT_EQ(c1.n_refused, 1);
    /* The address had 5: the second connection gets the other 2, then the
     * address's limit, which does not charge the connection. */
    CHECK_OK(ratelimit_conn_take(&c2, &l, RATELIMIT_EVENT, 0, &reason));
    CHECK_OK(ratelimit_conn_take(&c2, &l, RATELIMIT_EVENT, 0, &reason));
    CHECK_INT_EQ(ratelimit_conn_take(&c2, &l, RATELIMIT_EVENT, 0, &reason), OST_EAGAIN);
    CHECK_STR_EQ(reason, ratelimit_reasons[RATELIMIT_R_IP_EVENTS]);
    CHECK(c2.events.milli >= 1000);
    /* Events and requests are separate buckets; per-address requests are
     * off here. */
    CHECK_OK(ratelimit_conn_take(&c1, &l, RATELIMIT_REQ, 0, &reason));
    CHECK_INT_EQ(c1.n_refused, 0);
    CHECK_OK(ratelimit_conn_take(&c1, &l, RATELIMIT_REQ, 0, &reason));
    CHECK_INT_EQ(ratelimit_conn_take(&c1, &l, RATELIMIT_REQ, 0, &reason), OST_EAGAIN);
    CHECK_STR_EQ(reason, ratelimit_reasons[RATELIMIT_R_REQS]);
    l.ip_reqs = (struct ratelimit_rate){ 1, 1 };
    CHECK_OK(ratelimit_conn_take(&c2, &l, RATELIMIT_REQ, 1, &reason));
    CHECK_INT_EQ(ratelimit_conn_take(&c2, &l, RATELIMIT_REQ, 1, &reason), OST_EAGAIN);
    CHECK_STR_EQ(reason, ratelimit_reasons[RATELIMIT_R_IP_REQS]);

    /* A run of max_refused (4) refusals; an accepted message ends a run. */
    CHECK_INT_EQ(c1.n_refused, 1);
    CHECK(!ratelimit_conn_is_over(&c1, &l));
    for (int i = 0; i < 2; i++) {
        CHECK_INT_EQ(ratelimit_conn_take(&c1, &l, RATELIMIT_EVENT, 50, &reason), OST_EAGAIN);
    }
    CHECK(!ratelimit_conn_is_over(&c1, &l));
    CHECK_OK(ratelimit_conn_take(&c1, &l, RATELIMIT_EVENT, 100, &reason));
    CHECK_INT_EQ(c1.n_refused, 0);
    for (int i = 0; i < 3; i++) {
        CHECK_INT_EQ(ratelimit_conn_take(&c1, &l, RATELIMIT_EVENT, 100, &reason), OST_EAGAIN);
        CHECK(!ratelimit_conn_is_over(&c1, &l));
    }
    CHECK_INT_EQ(ratelimit_conn_take(&c1, &l, RATELIMIT_EVENT, 100, &reason), OST_EAGAIN);
    CHECK(ratelimit_conn_is_over(&c1, &l));
    l.max_refused = 0;
    CHECK(!ratelimit_conn_is_over(&c1, &l));

    /* Exempt connections are never charged. */
    struct ratelimit_conn ex;
    ratelimit_conn_init(&ex, &l, NULL, true, 0);
    for (int i = 0; i < 1000; i++) {
        CHECK_OK(ratelimit_conn_take(&ex, &l, RATELIMIT_EVENT, 0, &reason));
        CHECK_OK(ratelimit_conn_take(&ex, &l, RATELIMIT_REQ, 0, &reason));
    }
    /* Without an address entry only the connection's own buckets apply. */
    struct ratelimit_conn solo;
    ratelimit_conn_init(&solo, &l, NULL, false, 0);
    for (int i = 0; i < 3; i++) {
        CHECK_OK(ratelimit_conn_take(&solo, &l, RATELIMIT_EVENT, 0, &reason));
    }
    CHECK_INT_EQ(ratelimit_conn_take(&solo, &l, RATELIMIT_EVENT, 0, &reason), OST_EAGAIN);
    ratelimit_table_fini(&t);
}

static void test_reasons(void)
{
    /* Every reason carries a NIP-01 prefix, and the ones that end a
     * connection fit a close frame's reason (123 bytes). */
    for (int i = 0; i < RATELIMIT_R_N; i++) {
        const char *r = ratelimit_reasons[i];
        CHECK(r != NULL);
        CHECK(strncmp(r, "rate-limited: ", 14) == 0 || strncmp(r, "error: ", 7) == 0);
        if (i >= RATELIMIT_R_CONNECTIONS) {
            CHECK(strlen(r) <= 123);
        }
    }
    CHECK(strstr(ratelimit_reasons[RATELIMIT_R_IP_CONNECTIONS], "too many connections from your "
                                                                "address") != NULL);
}

static void test_log_due(void)
{
    struct ratelimit_logstate ls;
    memset(&ls, 0, sizeof(ls));
    uint32_t n = 99;
    /* The first is logged even at time 0. */
    CHECK(ratelimit_log_due(&ls, 0, 5000, &n));
    CHECK_INT_EQ(n, 0);
    CHECK(!ratelimit_log_due(&ls, 1, 5000, &n));
    CHECK(!ratelimit_log_due(&ls, 4999, 5000, &n));
    CHECK(ratelimit_log_due(&ls, 5000, 5000, &n));
    CHECK_INT_EQ(n, 2);
    CHECK(ratelimit_log_due(&ls, 20000, 5000, &n));
    CHECK_INT_EQ(n, 0);
}

CHECK_MAIN({ "bucket_burst_then_refill", test_bucket_burst_then_refill },
           { "bucket_slow_rate_accumulates", test_bucket_slow_rate_accumulates },
           { "bucket_caps_at_burst", test_bucket_caps_at_burst },
           { "bucket_off_and_clock_back", test_bucket_off_and_clock_back },
           { "bucket_smaller_burst_after_reload", test_bucket_smaller_burst_after_reload },
           { "ip_parse_and_format", test_ip_parse_and_format },
           { "ip_from_sockaddr", test_ip_from_sockaddr }, { "loopback", test_loopback },
           { "block_match", test_block_match }, { "block_parse_errors", test_block_parse_errors },
           { "client_ip", test_client_ip }, { "limits_from_cfg", test_limits_from_cfg },
           { "table_acquire_release_sweep", test_table_acquire_release_sweep },
           { "table_differential", test_table_differential },
           { "conn_take_and_refusals", test_conn_take_and_refusals }, { "reasons", test_reasons },
           { "log_due", test_log_due })
