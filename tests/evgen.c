/*
 * Deterministic event generation for tests and benchmarks.
 *
 * Design: every event starts from its own PRNG state, splitmix64 seeded from
 * (seed, index), so events can be produced in any order on any thread. The
 * generator first builds a draft (kind, tags, raw content), then writes the
 * event JSON and the NIP-01 canonical form side by side from the same raw
 * strings, hashes the canonical form for the id and signs the id with
 * libsecp256k1. Writing the canonical form here, rather than calling
 * validate/canon.c, keeps the generator an independent oracle for the id.
 */
#include "tests/evgen.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_schnorrsig.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hex.h"
#include "common/json.h"
#include "common/thread.h"
#include "validate/canon.h"
#include "validate/event.h"

#define GEN_MAX_TAGS 160
#define GEN_MAX_STRS 4
#define GEN_POOL     16384
#define FILL_CHUNK   32

/* Owned by: the thread that created it; evgen_fill's threads only read the
 * keys and the constants. */
struct evgen {
    uint64_t seed;
    uint32_t n_keys;
    int64_t base_time;
    uint64_t next;
    secp256k1_context *ctx; /* for the owning thread only */
    secp256k1_keypair *keys;
    char (*pubhex)[65];
};

/* ---- PRNG ---- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
    return splitmix64(s) % n;
}

static void random_bytes(uint64_t *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = splitmix64(s);
        size_t k = n - i < 8 ? n - i : 8;
        memcpy(out + i, &v, k);
    }
}

/* ---- Writing strings: the JSON form and the canonical form ---- */

/* The escape letter for the seven characters with a short JSON escape,
 * which are also the only ones NIP-01's canonical form escapes; else 0. */
static char short_escape(unsigned char c)
{
    static const char from[] = "\"\\\n\r\t\b\f", to[] = "\"\\nrtbf";
    const char *at = c != 0 ? strchr(from, c) : NULL;
    return at != NULL ? to[at - from] : 0;
}

/* Decodes one code point of valid UTF-8 at s; returns its byte length. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0xe0) {
        *cp = ((uint32_t)(s[0] & 0x1f) << 6) | (s[1] & 0x3f);
        return 2;
    }
    if (s[0] < 0xf0) {
        *cp = ((uint32_t)(s[0] & 0x0f) << 12) | ((uint32_t)(s[1] & 0x3f) << 6) | (s[2] & 0x3f);
        return 3;
    }
    *cp = ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3f) << 12) |
          ((uint32_t)(s[2] & 0x3f) << 6) | (s[3] & 0x3f);
    return 4;
}

/* Appends s as a quoted string. For the event JSON (is_canon false): short
 * escapes, \u00XX for other control characters, and with EVGEN_ESC_ASCII
 * \uXXXX for everything beyond ASCII. For NIP-01's canonical form: the
 * seven short escapes and every other byte raw, or with json_esc the other
 * control characters as \u00XX. */
static int put_string(struct buf *out, const char *s, size_t len, bool is_canon,
                      enum evgen_escape esc, bool json_esc)
{
    const unsigned char *p = (const unsigned char *)s;
    int rc = buf_append_char(out, '"');
    for (size_t i = 0; i < len && rc == 0;) {
        unsigned char c = p[i];
        char two[2] = { '\\', short_escape(c) };
        uint32_t cp;
        size_t n = 1;
        if (two[1] != 0) {
            rc = buf_append(out, two, 2);
        } else if (c < 0x20 && (!is_canon || json_esc)) {
            rc = buf_printf(out, "\\u%04x", c);
        } else if (c < 0x80 || is_canon || esc == EVGEN_ESC_MINIMAL) {
            rc = buf_append_char(out, (char)c);
        } else if ((n = utf8_decode(p + i, &cp)) == 4) {
            cp -= 0x10000;
            rc = buf_printf(out, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
        } else {
            rc = buf_printf(out, "\\u%04x", cp);
        }
        i += n;
    }
    return rc ? rc : buf_append_char(out, '"');
}

/* Writes d as event JSON into out and signs it. aux is BIP-340's auxiliary
 * randomness, derived from the seed so that signatures are reproducible. */
static int build(const struct evgen *g, const secp256k1_context *ctx, const struct evgen_draft *d,
                 const uint8_t aux[32], struct buf *out)
{
    char zeros[129];
    memset(zeros, '0', 128);
    zeros[128] = '\0';
    struct buf canon;
    buf_init(&canon);
    buf_reset(out);
    const char *pk = g->pubhex[d->key];
    int rc = buf_printf(out,
                        "{\"id\":\"%.64s\",\"pubkey\":\"%s\",\"created_at\":%lld,\"kind\":%u,"
                        "\"tags\":[",
                        zeros, pk, (long long)d->created_at, d->kind);
    rc = rc ? rc : buf_printf(&canon, "[0,\"%s\",%lld,%u,[", pk, (long long)d->created_at, d->kind);
    for (uint32_t t = 0; t < d->n_tags && rc == 0; t++) {
        const char *open = t == 0 ? "[" : ",[";
        rc = buf_append_str(out, open);
        rc = rc ? rc : buf_append_str(&canon, open);
        for (uint32_t i = 0; i < d->tags[t].n && rc == 0; i++) {
            const char *v = d->tags[t].v[i];
            if (i > 0) {
                rc = buf_append_char(out, ',');
                rc = rc ? rc : buf_append_char(&canon, ',');
            }
            rc = rc ? rc : put_string(out, v, strlen(v), false, d->escape, false);
            rc = rc ? rc : put_string(&canon, v, strlen(v), true, d->escape, d->is_id_json_esc);
        }
        rc = rc ? rc : buf_append_char(out, ']');
        rc = rc ? rc : buf_append_char(&canon, ']');
    }
    rc = rc ? rc : buf_append_str(out, "],\"content\":");
    rc = rc ? rc : put_string(out, d->content, d->content_len, false, d->escape, false);
    rc = rc ? rc : buf_printf(out, ",\"sig\":\"%s\"}", zeros);
    rc = rc ? rc : buf_append_str(&canon, "],");
    rc = rc ? rc
            : put_string(&canon, d->content, d->content_len, true, d->escape, d->is_id_json_esc);
    rc = rc ? rc : buf_append_char(&canon, ']');
    if (rc == 0) {
        uint8_t id[32], sig[64];
        SHA256((const unsigned char *)canon.data, canon.len, id);
        if (!secp256k1_schnorrsig_sign32(ctx, sig, id, &g->keys[d->key], aux)) {
            rc = OST_EINVAL;
        } else {
            hex_encode(id, 32, out->data + 7);
            hex_encode(sig, 64, out->data + out->len - 130);
        }
    }
    buf_fini(&canon);
    return rc;
}

/* ---- The realistic mix ---- */

/* Words with multi-byte UTF-8, emoji, quotes, backslashes, tabs, newlines
 * and control characters that JSON must write as \u00XX. */
static const char *const words[] = {
    "gm",          "nostr",       "relay",       "zap",        "sats",
    "bitcoin",     "the",         "a",           "is",         "and",
    "to",          "of",          "café",        "naïve",      "Grüße",
    "日本語",      "привет",      "مرحبا",       "🤙",       "⚡",
    "🦩",        "🇯🇵",          "👍🏽",    "😀",          "𝕏",
    "€100",        "∑",           "\"quoted\"",  "it's",       "back\\slash",
    "C:\\temp\\x", "tab\there",   "line\nbreak", "\r\n",       "nul\001ctl",
    "\x1f",        "bell\x07",    "del\x7f",     "esc\x1b[0m", "https://example.com/a?b=c&d=e",
    "#hashtag",    "<b>html</b>", "{json}",      "[x]",        "/slash/",
    "ok",          "lol",         "wen",         "moon",
};
#define N_WORDS (sizeof(words) / sizeof(words[0]))

/* One event being generated. Tag strings are copied into pool, which does
 * not move, so the draft can point straight at them. */
struct gen {
    uint64_t s;
    int rc;
    struct buf content;
    uint32_t n_tags;
    size_t pool_len;
    struct evgen_tag tags[GEN_MAX_TAGS];
    const char *strs[GEN_MAX_TAGS][GEN_MAX_STRS];
    char pool[GEN_POOL];
};

static void tag_add(struct gen *x, uint32_t n, const char *const *v)
{
    if (x->n_tags == GEN_MAX_TAGS) {
        return;
    }
    uint32_t t = x->n_tags++;
    for (uint32_t i = 0; i < n; i++) {
        size_t len = strlen(v[i]) + 1;
        if (x->pool_len + len > GEN_POOL) {
            x->rc = OST_ENOMEM;
            return;
        }
        x->strs[t][i] = memcpy(x->pool + x->pool_len, v[i], len);
        x->pool_len += len;
    }
    x->tags[t].n = n;
    x->tags[t].v = x->strs[t];
}

static void add_words(struct gen *x, struct buf *out, uint32_t n)
{
    static const char *const seps[] = { " ", " ", " ", " ", ", ", "\n", "\n\n", "\t" };
    for (uint32_t i = 0; i < n && x->rc == 0; i++) {
        if (i > 0) {
            x->rc = buf_append_str(out, seps[below(&x->s, 8)]);
        }
        x->rc = x->rc ? x->rc : buf_append_str(out, words[below(&x->s, N_WORDS)]);
    }
}

static void hex32(struct gen *x, char out[65])
{
    uint8_t b[32];
    random_bytes(&x->s, b, 32);
    hex_encode(b, 32, out);
    out[64] = '\0';
}

static void tag_e(struct gen *x)
{
    static const char *const hints[] = { "", "wss://relay.example.com", "wss://nos.example" };
    static const char *const markers[] = { "root", "reply", "mention" };
    char id[65];
    hex32(x, id);
    const char *v[4] = { "e", id, hints[below(&x->s, 3)], markers[below(&x->s, 3)] };
    tag_add(x, 2 + (uint32_t)below(&x->s, 3), v);
}

/* A p tag naming one of the generator's keys, or with is_any a random one
 * (contact lists follow far more people than the key set holds). */
static void tag_p(const struct evgen *g, struct gen *x, bool is_any)
{
    char any[65];
    hex32(x, any);
    const char *v[3] = { "p", is_any ? any : g->pubhex[below(&x->s, g->n_keys)], "" };
    tag_add(x, 2 + (uint32_t)below(&x->s, 2), v);
}

static void tag_word(struct gen *x, const char *name)
{
    const char *v[2] = { name, words[below(&x->s, N_WORDS)] };
    tag_add(x, 2, v);
}

static void gen_kind1(const struct evgen *g, struct gen *x)
{
    for (uint64_t i = below(&x->s, 3); i > 0; i--) {
        tag_e(x);
    }
    for (uint64_t i = below(&x->s, 3); i > 0; i--) {
        tag_p(g, x, false);
    }
    for (uint64_t i = below(&x->s, 3); i > 0; i--) {
        tag_word(x, "t");
    }
    /* One note in twenty is empty. */
    add_words(x, &x->content, below(&x->s, 20) == 0 ? 0 : 1 + (uint32_t)below(&x->s, 40));
}

static void gen_kind7(const struct evgen *g, struct gen *x)
{
    static const char *const reactions[] = { "+", "+", "-", "🤙", "❤️", "🔥", "" };
    tag_e(x);
    tag_p(g, x, false);
    x->rc = buf_append_str(&x->content, reactions[below(&x->s, 7)]);
}

/* A profile: JSON inside the content, so the content holds quotes and
 * backslash escapes of its own. */
static void gen_kind0(struct gen *x)
{
    struct buf about;
    buf_init(&about);
    add_words(x, &about, 1 + (uint32_t)below(&x->s, 12));
    const char *name = words[below(&x->s, N_WORDS)];
    int rc = x->rc ? x->rc : buf_append_str(&x->content, "{\"name\":");
    rc = rc ? rc : put_string(&x->content, name, strlen(name), false, EVGEN_ESC_MINIMAL, false);
    rc = rc ? rc : buf_append_str(&x->content, ",\"about\":");
    rc = rc ? rc : put_string(&x->content, about.data, about.len, false, EVGEN_ESC_MINIMAL, false);
    rc = rc ? rc
            : buf_printf(&x->content, ",\"picture\":\"https://example.com/%u.png\"}",
                         (unsigned)below(&x->s, 100000));
    x->rc = rc;
    buf_fini(&about);
}

static void gen_kind3(const struct evgen *g, struct gen *x)
{
    for (uint64_t i = 20 + below(&x->s, 130); i > 0; i--) {
        tag_p(g, x, true);
    }
    if (below(&x->s, 2) == 0) {
        x->rc = buf_append_str(&x->content,
                               "{\"wss://relay.example.com\":{\"read\":true,\"write\":true}}");
    }
}

static void gen_kind30023(struct gen *x)
{
    char slug[32], published[24];
    snprintf(slug, sizeof(slug), "article-%u", (unsigned)below(&x->s, 1000000));
    snprintf(published, sizeof(published), "%u", 1600000000u + (unsigned)below(&x->s, 1u << 27));
    tag_add(x, 2, (const char *const[]){ "d", slug });
    tag_word(x, "title");
    tag_add(x, 2, (const char *const[]){ "published_at", published });
    tag_word(x, "t");
    x->rc = buf_append_str(&x->content, "# ");
    add_words(x, &x->content, 3);
    for (uint64_t i = 2 + below(&x->s, 6); i > 0 && x->rc == 0; i--) {
        x->rc = buf_append_str(&x->content, "\n\n- `code\\n` ");
        add_words(x, &x->content, 20 + (uint32_t)below(&x->s, 60));
    }
}

static int gen_event(const struct evgen *g, const secp256k1_context *ctx, uint64_t index,
                     struct buf *out)
{
    struct gen *x = malloc(sizeof(*x));
    if (x == NULL) {
        return OST_ENOMEM;
    }
    x->s = g->seed ^ ((index + 1) * 0xd1b54a32d192ed03ull);
    splitmix64(&x->s);
    x->rc = 0;
    x->n_tags = 0;
    x->pool_len = 0;
    buf_init(&x->content);

    struct evgen_draft d;
    memset(&d, 0, sizeof(d));
    d.key = (uint32_t)below(&x->s, g->n_keys);
    d.created_at = g->base_time - (int64_t)below(&x->s, 86401);
    uint64_t r = below(&x->s, 100);
    d.kind = r < 55 ? 1 : r < 75 ? 7 : r < 85 ? 0 : r < 92 ? 3 : 30023;
    d.escape = below(&x->s, 8) == 0 ? EVGEN_ESC_ASCII : EVGEN_ESC_MINIMAL;
    d.is_id_json_esc = below(&x->s, 16) == 0;
    uint8_t aux[32];
    random_bytes(&x->s, aux, 32);

    switch (d.kind) {
    case 1:
        gen_kind1(g, x);
        break;
    case 7:
        gen_kind7(g, x);
        break;
    case 0:
        gen_kind0(x);
        break;
    case 3:
        gen_kind3(g, x);
        break;
    default:
        gen_kind30023(x);
        break;
    }
    /* Now and then a NUL character, which only an escape can carry. */
    if (x->rc == 0 && below(&x->s, 200) == 0) {
        x->rc = buf_append(&x->content, "\0end", 4);
    }

    d.tags = x->tags;
    d.n_tags = x->n_tags;
    d.content = x->content.data != NULL ? x->content.data : "";
    d.content_len = x->content.len;
    int rc = x->rc ? x->rc : build(g, ctx, &d, aux, out);
    buf_fini(&x->content);
    free(x);
    return rc;
}

/* ---- Lifecycle and generation ---- */

int evgen_new(uint64_t seed, uint32_t n_keys, int64_t base_time, struct evgen **out)
{
    if (n_keys == 0) {
        return OST_EINVAL;
    }
    struct evgen *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return OST_ENOMEM;
    }
    g->seed = seed;
    g->n_keys = n_keys;
    g->base_time = base_time;
    g->ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    g->keys = calloc(n_keys, sizeof(*g->keys));
    g->pubhex = calloc(n_keys, sizeof(*g->pubhex));
    if (g->ctx == NULL || g->keys == NULL || g->pubhex == NULL) {
        evgen_free(g);
        return OST_ENOMEM;
    }
    uint64_t s = seed ^ 0x6b65797320666f72ull;
    for (uint32_t k = 0; k < n_keys; k++) {
        uint8_t sk[32], pk[32];
        secp256k1_xonly_pubkey xpk;
        do {
            random_bytes(&s, sk, 32);
        } while (!secp256k1_keypair_create(g->ctx, &g->keys[k], sk));
        if (!secp256k1_keypair_xonly_pub(g->ctx, &xpk, NULL, &g->keys[k]) ||
            !secp256k1_xonly_pubkey_serialize(g->ctx, pk, &xpk)) {
            evgen_free(g);
            return OST_EINVAL;
        }
        hex_encode(pk, 32, g->pubhex[k]);
        g->pubhex[k][64] = '\0';
    }
    *out = g;
    return 0;
}

void evgen_free(struct evgen *g)
{
    if (g == NULL) {
        return;
    }
    if (g->ctx != NULL) {
        secp256k1_context_destroy(g->ctx);
    }
    free(g->pubhex);
    free(g->keys);
    free(g);
}

int evgen_at(struct evgen *g, uint64_t index, struct buf *out)
{
    return gen_event(g, g->ctx, index, out);
}

int evgen_next(struct evgen *g, struct buf *out)
{
    int rc = gen_event(g, g->ctx, g->next, out);
    if (rc == 0) {
        g->next++;
    }
    return rc;
}

int evgen_sign(struct evgen *g, const struct evgen_draft *d, struct buf *out)
{
    if (d->key >= g->n_keys) {
        return OST_EINVAL;
    }
    for (uint32_t t = 0; t < d->n_tags; t++) {
        if (d->tags[t].n == 0 || d->tags[t].v[0][0] == '\0') {
            return OST_EINVAL;
        }
    }
    uint8_t aux[32];
    SHA256((const unsigned char *)d->content, d->content_len, aux);
    return build(g, g->ctx, d, aux, out);
}

/* Shared by evgen_fill's threads; chunks are claimed with next. */
struct fill {
    const struct evgen *g;
    uint64_t first;
    size_t n;
    struct buf *out;
    atomic_size_t next;
    atomic_int rc;
};

static void *fill_main(void *arg)
{
    struct fill *f = arg;
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (ctx == NULL) {
        atomic_store(&f->rc, OST_ENOMEM);
        return NULL;
    }
    for (;;) {
        size_t i = atomic_fetch_add(&f->next, FILL_CHUNK);
        if (i >= f->n || atomic_load(&f->rc) != 0) {
            break;
        }
        size_t end = i + FILL_CHUNK < f->n ? i + FILL_CHUNK : f->n;
        for (; i < end; i++) {
            int rc = gen_event(f->g, ctx, f->first + i, &f->out[i]);
            if (rc < 0) {
                atomic_store(&f->rc, rc);
            }
        }
    }
    secp256k1_context_destroy(ctx);
    return NULL;
}

int evgen_fill(struct evgen *g, uint64_t first, size_t n, int n_threads, struct buf *out)
{
    if (n_threads <= 0) {
        n_threads = thread_cpu_count();
    }
    pthread_t *threads = calloc((size_t)n_threads, sizeof(*threads));
    if (threads == NULL) {
        return OST_ENOMEM;
    }
    struct fill f = { .g = g, .first = first, .n = n, .out = out };
    atomic_init(&f.next, 0);
    atomic_init(&f.rc, 0);
    int started = 0, rc = 0;
    for (; started < n_threads; started++) {
        char name[32];
        snprintf(name, sizeof(name), "evgen/%d", started);
        rc = thread_start(&threads[started], name, fill_main, &f);
        if (rc < 0) {
            atomic_store(&f.rc, rc);
            break;
        }
    }
    for (int i = 0; i < started; i++) {
        pthread_join(threads[i], NULL);
    }
    free(threads);
    return atomic_load(&f.rc);
}

/* ---- Tampering ---- */

enum {
    SPAN_ID,
    SPAN_PUBKEY,
    SPAN_TAGS,
    SPAN_CONTENT,
    SPAN_SIG,
    SPAN_COUNT
};

/* Where each field's value lies in the event JSON, quotes included. */
struct span {
    size_t off;
    size_t len;
};

/* Finds the five fields in json, an event that event_parse accepted (so
 * no scan below can fail). */
static void find_spans(const char *json, size_t len, struct span spans[SPAN_COUNT])
{
    static const char *const keys[SPAN_COUNT] = { "id", "pubkey", "tags", "content", "sig" };
    const char *end = json + len, *reason, *next;
    const char *p = json_skip_ws(json_skip_ws(json, end) + 1, end);
    while (p < end && *p == '"') {
        struct json_str key;
        json_scan_string(p, end, &key, NULL, &p, &reason);
        const char *v = json_skip_ws(json_skip_ws(p, end) + 1, end); /* past ':' */
        json_scan_value(v, end, 8, &next, &reason);
        for (int k = 0; k < SPAN_COUNT; k++) {
            if (json_str_equals(&key, keys[k], strlen(keys[k]))) {
                spans[k] = (struct span){ (size_t)(v - json), (size_t)(next - v) };
            }
        }
        p = json_skip_ws(next, end);
        p = p < end && *p == ',' ? json_skip_ws(p + 1, end) : p;
    }
}

static uint64_t fnv1a(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    }
    return h;
}

/* Changes one hex digit of the hex string at s (n digits) to another. */
static void change_hex_digit(char *s, size_t n, uint64_t h)
{
    static const char digits[] = "0123456789abcdef";
    char *c = s + h % n;
    size_t v = (size_t)(strchr(digits, *c) - digits);
    *c = digits[(v + 1 + (h >> 32) % 15) % 16];
}

/* Changes one ASCII letter or digit of the JSON string body s[0..len) to
 * another of its class, skipping escapes and multi-byte characters.
 * Returns false when the string has none. */
static bool change_char(char *s, size_t len, uint64_t h)
{
    size_t n = 0, pick = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t seen = 0;
        for (size_t i = 0; i < len;) {
            unsigned char c = (unsigned char)s[i];
            size_t step = c == '\\'  ? (s[i + 1] == 'u' ? 6 : 2)
                          : c < 0x80 ? 1
                          : c < 0xe0 ? 2
                          : c < 0xf0 ? 3
                                     : 4;
            bool is_alnum =
                (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
            if (is_alnum && pass == 1 && seen == pick) {
                char *p = s + i;
                *p = *p <= '9'   ? (char)('0' + (*p - '0' + 1) % 10)
                     : *p <= 'Z' ? (char)('A' + (*p - 'A' + 1) % 26)
                                 : (char)('a' + (*p - 'a' + 1) % 26);
                return true;
            }
            seen += is_alnum;
            i += step;
        }
        n = seen;
        if (n == 0) {
            return false;
        }
        pick = h % n;
    }
    return false;
}

/* Replaces del bytes at off of b with s[0..n). */
static int splice(struct buf *b, size_t off, size_t del, const char *s, size_t n)
{
    if (n > del) {
        int rc = buf_reserve(b, n - del);
        if (rc < 0) {
            return rc;
        }
    }
    memmove(b->data + off + n, b->data + off + del, b->len - off - del);
    memcpy(b->data + off, s, n);
    b->len = b->len - del + n;
    return 0;
}

/* Changes one character of the JSON string whose body starts at off (len
 * bytes), or inserts an "x" at its start when it has no letter or digit. */
static int change_string(struct buf *b, size_t off, size_t len, uint64_t h)
{
    return change_char(b->data + off, len, h) ? 0 : splice(b, off, 0, "x", 1);
}

/* Changes one string inside the tags array (value span s), or adds a tag
 * when the array is empty. */
static int change_tags(struct buf *b, const struct span *s, uint64_t h)
{
    static const char one[] = "[[\"t\",\"tampered\"]]";
    const char *start = b->data + s->off, *end = start + s->len, *reason;
    struct json_str str;
    size_t n = 0;
    /* Between the strings of a tags array there are only brackets, commas
     * and whitespace, so every quote found here opens a string. */
    for (const char *p = start; p < end;) {
        if (*p != '"') {
            p++;
        } else if (json_scan_string(p, end, &str, NULL, &p, &reason) == 0) {
            n++;
        } else {
            return OST_EINVAL;
        }
    }
    if (n == 0) {
        return splice(b, s->off, s->len, one, sizeof(one) - 1);
    }
    size_t pick = h % n, i = 0;
    for (const char *p = start; p < end;) {
        if (*p != '"') {
            p++;
            continue;
        }
        json_scan_string(p, end, &str, NULL, &p, &reason);
        if (i++ == pick) {
            return change_string(b, (size_t)(str.p - b->data), str.len, h >> 17);
        }
    }
    return OST_EINVAL;
}

static int rehash(struct buf *b, size_t id_off)
{
    struct event ev;
    struct canon_ctx c;
    const char *reason;
    uint8_t id[32];
    int rc = event_parse(b->data, b->len, NULL, &ev, &reason);
    if (rc < 0) {
        return OST_EINVAL;
    }
    rc = canon_ctx_init(&c);
    if (rc < 0) {
        return rc;
    }
    rc = canon_compute_id(&c, &ev, CANON_NIP01, id);
    if (rc == 0) {
        hex_encode(id, 32, b->data + id_off + 1);
    }
    canon_ctx_fini(&c);
    return rc;
}

int evgen_tamper(const char *json, size_t len, enum evgen_tamper what, unsigned flags,
                 struct buf *out)
{
    struct span sp[SPAN_COUNT] = { { 0, 0 } };
    struct event ev;
    const char *reason;
    if ((unsigned)what >= EVGEN_TAMPER_COUNT || (flags & ~EVGEN_REHASH) != 0 ||
        (what == EVGEN_TAMPER_ID && flags != 0) || event_parse(json, len, NULL, &ev, &reason) < 0) {
        return OST_EINVAL;
    }
    find_spans(json, len, sp);
    uint64_t h = fnv1a(json, len);
    buf_reset(out);
    int rc = buf_append(out, json, len);
    if (rc < 0) {
        return rc;
    }
    switch (what) {
    case EVGEN_TAMPER_ID:
        change_hex_digit(out->data + sp[SPAN_ID].off + 1, 64, h);
        break;
    case EVGEN_TAMPER_SIG:
        change_hex_digit(out->data + sp[SPAN_SIG].off + 1, 128, h);
        break;
    case EVGEN_TAMPER_PUBKEY:
        change_hex_digit(out->data + sp[SPAN_PUBKEY].off + 1, 64, h);
        break;
    case EVGEN_TAMPER_CONTENT:
        rc = change_string(out, sp[SPAN_CONTENT].off + 1, sp[SPAN_CONTENT].len - 2, h);
        break;
    default:
        rc = change_tags(out, &sp[SPAN_TAGS], h);
        break;
    }
    if (rc == 0 && (flags & EVGEN_REHASH) != 0) {
        /* The change may have moved the id when it comes after the content
         * or the tags, so find it again. */
        find_spans(out->data, out->len, sp);
        rc = rehash(out, sp[SPAN_ID].off);
    }
    return rc;
}

const char *evgen_tamper_name(enum evgen_tamper what)
{
    static const char *const names[EVGEN_TAMPER_COUNT] = { "id", "sig", "pubkey", "content",
                                                           "tag" };
    return (unsigned)what < EVGEN_TAMPER_COUNT ? names[what] : "?";
}
