/*
 * Tests for validate/verify: full event validation over a generated corpus
 * with both signature engines, the created_at window and the relay limits.
 * Also checks that tests/evgen produces what the other tests rely on:
 * deterministic output whatever the thread count, and a realistic mix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/buf.h"
#include "tests/evgen.h"
#include "validate/event.h"
#include "validate/verify.h"

#define SEED      0x05171c4ull
#define BASE_TIME 1700000000
#define N_CORPUS  10000

#define R_BAD_ID  "invalid: event id does not match the hash of its content"
#define R_BAD_SIG "invalid: signature does not verify"
#define R_TOO_OLD "invalid: created_at is too old (over the relay's created_at_lower_limit)"
#define R_TOO_NEW \
    "invalid: created_at is too far in the future (over the relay's created_at_upper_limit)"
#define R_MANY_TAGS "invalid: too many tags (over the relay's max_event_tags limit)"
#define R_LONG      "invalid: content too long (over the relay's max_content_bytes limit)"
#define R_NOT_OBJ   "invalid: event must be a JSON object"

static bool in_table(const char *const *table, const char *s)
{
    for (size_t i = 0; table[i] != NULL; i++) {
        if (strcmp(table[i], s) == 0) {
            return true;
        }
    }
    return false;
}

/* verify_event on b, also checking that a rejection's reason comes from
 * one of the two reason tables. */
static int verify_buf(struct verify_ctx *v, const struct buf *b, const struct verify_limits *lim,
                      int64_t now, const char **reason)
{
    struct event ev;
    *reason = NULL;
    int rc = verify_event(v, b->data, b->len, lim, now, &ev, reason);
    if (rc < 0 && (*reason == NULL ||
                   (!in_table(verify_reasons, *reason) && !in_table(event_reasons, *reason)))) {
        fprintf(stderr, "  reason not in a table: %s\n", *reason ? *reason : "(null)");
        return 1; /* not a valid code: makes the caller's comparison fail */
    }
    return rc;
}

static struct buf *corpus_new(struct evgen *g, size_t n, int n_threads)
{
    struct buf *c = calloc(n, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        buf_init(&c[i]);
    }
    if (evgen_fill(g, 0, n, n_threads, c) < 0) {
        fprintf(stderr, "  evgen_fill failed\n");
    }
    return c;
}

static void corpus_free(struct buf *c, size_t n)
{
    for (size_t i = 0; c != NULL && i < n; i++) {
        buf_fini(&c[i]);
    }
    free(c);
}

static bool buf_eq(const struct buf *a, const struct buf *b)
{
    return a->len == b->len && a->len > 0 && memcmp(a->data, b->data, a->len) == 0;
}

static void determinism_run(struct evgen *g, struct buf *one, struct buf *many, size_t n)
{
    struct buf b;
    CHECK(one != NULL && many != NULL);
    for (size_t i = 0; i < n; i++) {
        if (!buf_eq(&one[i], &many[i])) {
            fprintf(stderr, "  seed %#llx: event %zu differs between 1 and 3 threads\n",
                    (unsigned long long)SEED, i);
            CHECK(buf_eq(&one[i], &many[i]));
        }
    }
    buf_init(&b);
    for (size_t i = 0; i < n && !check_failed; i++) {
        int rc = evgen_next(g, &b);
        if (rc != 0 || !buf_eq(&b, &one[i])) {
            fprintf(stderr, "  seed %#llx: evgen_next %zu differs from evgen_fill\n",
                    (unsigned long long)SEED, i);
            check_failed = 1;
        }
    }
    if (!check_failed && (evgen_at(g, 7, &b) != 0 || !buf_eq(&b, &one[7]))) {
        check_failed = 1;
    }
    /* Every event differs from every other one. */
    for (size_t i = 0; i < n && !check_failed; i++) {
        for (size_t j = i + 1; j < n; j++) {
            if (memcmp(one[i].data + 7, one[j].data + 7, 64) == 0) {
                fprintf(stderr, "  events %zu and %zu share an id\n", i, j);
                check_failed = 1;
                break;
            }
        }
    }
    buf_fini(&b);
}

static void test_evgen_deterministic(void)
{
    enum {
        N = 300
    };
    struct evgen *g = NULL, *other = NULL;
    CHECK_OK(evgen_new(SEED, 16, BASE_TIME, &g));
    struct buf *one = corpus_new(g, N, 1), *many = corpus_new(g, N, 3);
    determinism_run(g, one, many, N);
    int failed = check_failed;
    if (evgen_new(SEED + 1, 16, BASE_TIME, &other) == 0) {
        struct buf b;
        buf_init(&b);
        /* A different seed gives a different sequence. */
        if (evgen_next(other, &b) != 0 || buf_eq(&b, &one[0])) {
            failed = 1;
        }
        buf_fini(&b);
    }
    corpus_free(one, N);
    corpus_free(many, N);
    evgen_free(other);
    evgen_free(g);
    CHECK(!failed);
}

static bool has(const struct buf *b, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= b->len; i++) {
        if (memcmp(b->data + i, needle, n) == 0) {
            return true;
        }
    }
    return false;
}

/* The generated mix covers what the relay meets in the wild. */
static void test_evgen_mix(void)
{
    enum {
        N = 2000
    };
    static const char *const features[] = {
        "\\u00",    /* a control character only \u00XX can carry */
        "\\u0000",  /* NUL */
        "\\ud83",   /* an emoji as a surrogate pair (ASCII-only writer) */
        "\xf0\x9f", /* an emoji as raw UTF-8 */
        "\xc3\xa9", /* raw two-byte UTF-8 */
        "\\\"",     /* a quote */
        "\\\\",     /* a backslash */
        "\\n",      /* a newline */
        "\\t",      /* a tab */
        "\"content\":\"\"",
        "\"tags\":[]",
        "[\"d\",\"",
        "[\"e\",\"",
        "[\"p\",\"",
        "[\"t\",\"",
    };
    enum {
        N_FEATURES = sizeof(features) / sizeof(features[0])
    };
    size_t seen[N_FEATURES] = { 0 }, kinds[5] = { 0 }, max_tags = 0;
    struct evgen *g = NULL;
    CHECK_OK(evgen_new(SEED, 32, BASE_TIME, &g));
    struct buf *c = corpus_new(g, N, 0);
    evgen_free(g);
    CHECK(c != NULL);
    for (size_t i = 0; i < N; i++) {
        struct event ev;
        const char *reason;
        if (event_parse(c[i].data, c[i].len, NULL, &ev, &reason) != 0) {
            fprintf(stderr, "  event %zu does not parse: %s\n", i, reason);
            check_failed = 1;
            break;
        }
        kinds[ev.kind == 0 ? 0 : ev.kind == 1 ? 1 : ev.kind == 3 ? 2 : ev.kind == 7 ? 3 : 4]++;
        max_tags = ev.n_tags > max_tags ? ev.n_tags : max_tags;
        if (ev.created_at > BASE_TIME || ev.created_at < BASE_TIME - 86400) {
            check_failed = 1;
        }
        for (size_t f = 0; f < N_FEATURES; f++) {
            seen[f] += has(&c[i], features[f]);
        }
    }
    corpus_free(c, N);
    CHECK(!check_failed);
    for (size_t f = 0; f < N_FEATURES; f++) {
        if (seen[f] == 0) {
            fprintf(stderr, "  no event contains %s\n", features[f]);
        }
        CHECK(seen[f] > 0);
    }
    for (size_t k = 0; k < 5; k++) {
        CHECK(kinds[k] > 0);
    }
    CHECK(kinds[1] > kinds[0]); /* notes are the most common */
    CHECK(max_tags >= 20);      /* contact lists */
}

struct tamper_case {
    enum evgen_tamper what;
    unsigned flags;
    int want;
    const char *reason;
};

/* Changing the pubkey, the content or a tag changes the hash, so the id
 * check fails first; once the id is rewritten to match, only the signature
 * is wrong. */
static const struct tamper_case tamper_cases[] = {
    { EVGEN_TAMPER_ID, 0, OST_EBADID, R_BAD_ID },
    { EVGEN_TAMPER_SIG, 0, OST_EBADSIG, R_BAD_SIG },
    { EVGEN_TAMPER_PUBKEY, 0, OST_EBADID, R_BAD_ID },
    { EVGEN_TAMPER_PUBKEY, EVGEN_REHASH, OST_EBADSIG, R_BAD_SIG },
    { EVGEN_TAMPER_CONTENT, 0, OST_EBADID, R_BAD_ID },
    { EVGEN_TAMPER_CONTENT, EVGEN_REHASH, OST_EBADSIG, R_BAD_SIG },
    { EVGEN_TAMPER_TAG, 0, OST_EBADID, R_BAD_ID },
    { EVGEN_TAMPER_TAG, EVGEN_REHASH, OST_EBADSIG, R_BAD_SIG },
};
enum {
    N_TAMPER = sizeof(tamper_cases) / sizeof(tamper_cases[0])
};

static void corpus_run(struct buf *c, struct verify_ctx *nat, struct verify_ctx *fb)
{
    struct verify_limits lim;
    struct buf t;
    size_t n_valid = 0, n_tampered[N_TAMPER] = { 0 };
    memset(&lim, 0, sizeof(lim));
    buf_init(&t);
    for (size_t i = 0; i < N_CORPUS && !check_failed; i++) {
        const struct tamper_case *tc = NULL;
        const struct buf *in = &c[i];
        if (i % 5 == 4) {
            tc = &tamper_cases[(i / 5) % N_TAMPER];
            if (evgen_tamper(c[i].data, c[i].len, tc->what, tc->flags, &t) != 0) {
                fprintf(stderr, "  seed %#llx event %zu: evgen_tamper failed\n",
                        (unsigned long long)SEED, i);
                check_failed = 1;
                break;
            }
            in = &t;
        }
        const char *rn, *rf;
        struct event en, ef;
        int want = tc ? tc->want : 0;
        int a = verify_event(nat, in->data, in->len, &lim, BASE_TIME, &en, &rn);
        int b = verify_event(fb, in->data, in->len, &lim, BASE_TIME, &ef, &rf);
        bool is_ok = a == b && a == want &&
                     (a == 0 ? memcmp(en.id, ef.id, 32) == 0 && en.kind == ef.kind
                             : strcmp(rn, rf) == 0 && strcmp(rn, tc->reason) == 0);
        if (!is_ok) {
            fprintf(stderr,
                    "  seed %#llx event %zu (%s%s): native %d (%s), fallback %d (%s), want %d\n"
                    "  %.*s\n",
                    (unsigned long long)SEED, i, tc ? evgen_tamper_name(tc->what) : "valid",
                    tc && tc->flags ? "+rehash" : "", a, a ? rn : "ok", b, b ? rf : "ok", want,
                    (int)(in->len < 600 ? in->len : 600), in->data);
            check_failed = 1;
        }
        if (tc != NULL) {
            n_tampered[tc - tamper_cases]++;
        } else {
            n_valid++;
        }
    }
    buf_fini(&t);
    CHECK(!check_failed);
    CHECK_INT_EQ(n_valid, N_CORPUS - N_CORPUS / 5);
    for (size_t k = 0; k < N_TAMPER; k++) {
        CHECK(n_tampered[k] >= N_CORPUS / 5 / N_TAMPER);
    }
}

/* Valid events pass and tampered ones fail in the expected way, with the
 * same answer from both engines on every event. */
static void test_corpus_engines_agree(void)
{
    struct evgen *g = NULL;
    struct verify_ctx nat, fb;
    CHECK_OK(evgen_new(SEED, 64, BASE_TIME, &g));
    struct buf *c = corpus_new(g, N_CORPUS, 0);
    evgen_free(g);
    CHECK(c != NULL);
    if (verify_ctx_init(&nat, SIG_ENGINE_NATIVE) == 0) {
        if (verify_ctx_init(&fb, SIG_ENGINE_FALLBACK) == 0) {
            corpus_run(c, &nat, &fb);
            verify_ctx_fini(&fb);
        } else {
            check_failed = 1;
        }
        verify_ctx_fini(&nat);
    } else {
        check_failed = 1;
    }
    corpus_free(c, N_CORPUS);
}

/* Signs a kind-1 event with n_tags ["t","x"] tags and the given content. */
static int sign_event(struct evgen *g, int64_t created_at, uint32_t n_tags, const char *content,
                      size_t content_len, enum evgen_escape esc, struct buf *out)
{
    static const char *const tx[] = { "t", "x" };
    struct evgen_tag *tags = calloc(n_tags + 1, sizeof(*tags));
    if (tags == NULL) {
        return OST_ENOMEM;
    }
    for (uint32_t i = 0; i < n_tags; i++) {
        tags[i].n = 2;
        tags[i].v = tx;
    }
    struct evgen_draft d = {
        .key = 1,
        .created_at = created_at,
        .kind = 1,
        .tags = tags,
        .n_tags = n_tags,
        .content = content,
        .content_len = content_len,
        .escape = esc,
    };
    int rc = evgen_sign(g, &d, out);
    free(tags);
    return rc;
}

struct window_case {
    uint32_t max_age, max_future;
    int64_t created_at; /* relative to now, or absolute when is_abs */
    bool is_abs;
    int want;
    const char *reason;
};

/* NIP-01 leaves the window to the relay; both bounds are inclusive. */
static const struct window_case window_cases[] = {
    { 600, 900, -600, false, 0, NULL },
    { 600, 900, -601, false, OST_EREJECT, R_TOO_OLD },
    { 600, 900, 900, false, 0, NULL },
    { 600, 900, 901, false, OST_EREJECT, R_TOO_NEW },
    { 600, 900, 0, false, 0, NULL },
    { 0, 0, 0, true, 0, NULL },
    { 0, 0, 1000000000, false, 0, NULL },
    { 600, 0, 1000000000, false, 0, NULL },
    { 600, 0, -601, false, OST_EREJECT, R_TOO_OLD },
    { 0, 900, 0, true, 0, NULL },
    { 0, 900, 901, false, OST_EREJECT, R_TOO_NEW },
};

static void window_run(struct evgen *g, struct verify_ctx *v, struct buf *b)
{
    const int64_t now = BASE_TIME + 12345;
    for (size_t i = 0; i < sizeof(window_cases) / sizeof(window_cases[0]); i++) {
        const struct window_case *wc = &window_cases[i];
        struct verify_limits lim;
        const char *reason;
        memset(&lim, 0, sizeof(lim));
        lim.created_at_max_age_s = wc->max_age;
        lim.created_at_max_future_s = wc->max_future;
        CHECK_OK(sign_event(g, wc->is_abs ? wc->created_at : now + wc->created_at, 1, "hi", 2,
                            EVGEN_ESC_MINIMAL, b));
        int rc = verify_buf(v, b, &lim, now, &reason);
        if (rc != wc->want) {
            fprintf(stderr, "  window case %zu\n", i);
        }
        CHECK_INT_EQ(rc, wc->want);
        if (wc->want != 0) {
            CHECK_STR_EQ(reason, wc->reason);
        }
    }
}

static void test_created_at_window(void)
{
    struct evgen *g = NULL;
    struct verify_ctx v;
    struct buf b;
    CHECK_OK(evgen_new(SEED, 4, BASE_TIME, &g));
    if (verify_ctx_init(&v, SIG_ENGINE_NATIVE) != 0) {
        evgen_free(g);
        CHECK(!"verify_ctx_init");
    }
    buf_init(&b);
    window_run(g, &v, &b);
    buf_fini(&b);
    verify_ctx_fini(&v);
    evgen_free(g);
}

struct limit_case {
    uint32_t max_tags, max_content;
    uint32_t n_tags;
    size_t content_len; /* decoded bytes, built from a mix of characters */
    enum evgen_escape esc;
    int want;
    const char *reason;
};

/* Both limits at the limit and one past it, empty inputs, and 0 meaning no
 * limit. Content length counts bytes after unescaping. */
static const struct limit_case limit_cases[] = {
    { 5, 0, 5, 10, EVGEN_ESC_MINIMAL, 0, NULL },
    { 5, 0, 6, 10, EVGEN_ESC_MINIMAL, OST_EREJECT, R_MANY_TAGS },
    { 1, 0, 0, 10, EVGEN_ESC_MINIMAL, 0, NULL },
    { 2000, 0, 2000, 10, EVGEN_ESC_MINIMAL, 0, NULL },
    { 0, 0, 2000, 200000, EVGEN_ESC_MINIMAL, 0, NULL },
    { 0, 100, 0, 100, EVGEN_ESC_MINIMAL, 0, NULL },
    { 0, 100, 0, 100, EVGEN_ESC_ASCII, 0, NULL },
    { 0, 100, 0, 101, EVGEN_ESC_MINIMAL, OST_EREJECT, R_LONG },
    { 0, 100, 0, 101, EVGEN_ESC_ASCII, OST_EREJECT, R_LONG },
    { 0, 1, 0, 0, EVGEN_ESC_MINIMAL, 0, NULL },
    { 0, 1, 0, 1, EVGEN_ESC_MINIMAL, 0, NULL },
    { 0, 1, 0, 2, EVGEN_ESC_MINIMAL, OST_EREJECT, R_LONG },
};

/* Fills out with len bytes of valid UTF-8 mixing ASCII, two- and four-byte
 * characters, escaped characters and control characters. */
static void mixed_content(char *out, size_t len)
{
    static const char *const pieces[] = { "a", "\xc3\xa9", "\n", "\x01", "\"", "\xf0\x9f\xa4\x99" };
    size_t i = 0, k = 0;
    while (i < len) {
        const char *p = pieces[k++ % 6];
        size_t n = strlen(p);
        if (i + n > len) {
            p = "b";
            n = 1;
        }
        memcpy(out + i, p, n);
        i += n;
    }
}

static void limits_run(struct evgen *g, struct verify_ctx *v, struct buf *b, char *content)
{
    for (size_t i = 0; i < sizeof(limit_cases) / sizeof(limit_cases[0]); i++) {
        const struct limit_case *lc = &limit_cases[i];
        struct verify_limits lim;
        const char *reason;
        memset(&lim, 0, sizeof(lim));
        lim.event.max_tags = lc->max_tags;
        lim.event.max_content_len = lc->max_content;
        mixed_content(content, lc->content_len);
        CHECK_OK(sign_event(g, BASE_TIME, lc->n_tags, content, lc->content_len, lc->esc, b));
        int rc = verify_buf(v, b, &lim, BASE_TIME, &reason);
        if (rc != lc->want) {
            fprintf(stderr, "  limit case %zu: %s\n", i, rc ? reason : "accepted");
        }
        CHECK_INT_EQ(rc, lc->want);
        if (lc->want != 0) {
            CHECK_STR_EQ(reason, lc->reason);
        }
    }
}

static void test_limits(void)
{
    struct evgen *g = NULL;
    struct verify_ctx v;
    struct buf b;
    char *content = malloc(200000);
    CHECK(content != NULL);
    if (evgen_new(SEED, 4, BASE_TIME, &g) != 0 || verify_ctx_init(&v, SIG_ENGINE_NATIVE) != 0) {
        evgen_free(g);
        free(content);
        CHECK(!"setup");
    }
    buf_init(&b);
    limits_run(g, &v, &b, content);
    buf_fini(&b);
    verify_ctx_fini(&v);
    evgen_free(g);
    free(content);
}

/* Every reason verify_event adds, except internal errors, is produced by
 * some input; a malformed event gets event_parse's reason. */
static void reasons_run(struct evgen *g, struct verify_ctx *v, struct buf *b, struct buf *t)
{
    struct verify_limits lim;
    const char *reason, *got[5];
    size_t n = 0;
    memset(&lim, 0, sizeof(lim));
    lim.created_at_max_age_s = 10;
    lim.created_at_max_future_s = 10;
    CHECK_OK(sign_event(g, BASE_TIME, 0, "", 0, EVGEN_ESC_MINIMAL, b));
    CHECK_INT_EQ(verify_buf(v, b, &lim, BASE_TIME, &reason), 0);
    CHECK_OK(evgen_tamper(b->data, b->len, EVGEN_TAMPER_ID, 0, t));
    CHECK_INT_EQ(verify_buf(v, t, &lim, BASE_TIME, &got[n++]), OST_EBADID);
    CHECK_OK(evgen_tamper(b->data, b->len, EVGEN_TAMPER_SIG, 0, t));
    CHECK_INT_EQ(verify_buf(v, t, &lim, BASE_TIME, &got[n++]), OST_EBADSIG);
    CHECK_INT_EQ(verify_buf(v, b, &lim, BASE_TIME + 11, &got[n++]), OST_EREJECT);
    CHECK_INT_EQ(verify_buf(v, b, &lim, BASE_TIME - 11, &got[n++]), OST_EREJECT);
    for (size_t i = 0; verify_reasons[i] != NULL; i++) {
        bool is_seen = strncmp(verify_reasons[i], "error: ", 7) == 0;
        for (size_t k = 0; k < n; k++) {
            is_seen = is_seen || strcmp(got[k], verify_reasons[i]) == 0;
        }
        if (!is_seen) {
            fprintf(stderr, "  reason never produced: %s\n", verify_reasons[i]);
        }
        CHECK(is_seen);
    }
    buf_reset(b);
    CHECK_OK(buf_append_str(b, "[]"));
    CHECK_INT_EQ(verify_buf(v, b, &lim, BASE_TIME, &reason), OST_EPARSE);
    CHECK_STR_EQ(reason, R_NOT_OBJ);
}

static void test_reasons(void)
{
    struct evgen *g = NULL;
    struct verify_ctx v;
    struct buf b, t;
    CHECK_OK(evgen_new(SEED, 2, BASE_TIME, &g));
    if (verify_ctx_init(&v, SIG_ENGINE_NATIVE) != 0) {
        evgen_free(g);
        CHECK(!"verify_ctx_init");
    }
    buf_init(&b);
    buf_init(&t);
    reasons_run(g, &v, &b, &t);
    buf_fini(&t);
    buf_fini(&b);
    verify_ctx_fini(&v);
    evgen_free(g);
}

/* The tampering helpers refuse what they cannot tamper with. */
static void test_tamper_refuses(void)
{
    struct buf out;
    buf_init(&out);
    const char *bad = "{\"id\":1}";
    int rc = evgen_tamper(bad, strlen(bad), EVGEN_TAMPER_ID, 0, &out);
    int rc2 = evgen_tamper(bad, strlen(bad), EVGEN_TAMPER_COUNT, 0, &out);
    buf_fini(&out);
    CHECK_INT_EQ(rc, OST_EINVAL);
    CHECK_INT_EQ(rc2, OST_EINVAL);
}

CHECK_MAIN({ "evgen_deterministic", test_evgen_deterministic }, { "evgen_mix", test_evgen_mix },
           { "corpus_engines_agree", test_corpus_engines_agree },
           { "created_at_window", test_created_at_window }, { "limits", test_limits },
           { "reasons", test_reasons }, { "tamper_refuses", test_tamper_refuses })
