/* Tests for config/cfg: the option table, defaults, loading every option,
 * every error message, bounds on both sides, cfg_print round trips, and the
 * example config/ostrich.toml against the table. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "common/buf.h"
#include "config/cfg.h"
#include "config/toml.h"
#include "tests/check.h"

static const char pubkey_hex[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static const char ws_url[] = "wss://relay.example.org/";

static int load(struct cfg *c, const char *text, struct buf *err)
{
    return cfg_load_string(c, "t.toml", text, strlen(text), err);
}

/* Loading text over defaults must fail with exactly want. */
static bool fails_with(const char *text, const char *want)
{
    struct cfg c;
    struct buf err;
    cfg_init_defaults(&c);
    buf_init(&err);
    int rc = load(&c, text, &err);
    const char *got = buf_cstr(&err);
    bool ok = rc == OST_EINVAL && got != NULL && strcmp(got, want) == 0;
    if (!ok) {
        fprintf(stderr, "    input: %s\n    want: %s\n    got:  %s (rc %d)\n", text, want,
                got ? got : "(null)", rc);
    }
    buf_fini(&err);
    cfg_fini(&c);
    return ok;
}

/* Loading text over defaults succeeds. */
static bool load_ok(const char *text)
{
    struct cfg c;
    struct buf err;
    cfg_init_defaults(&c);
    buf_init(&err);
    int rc = load(&c, text, &err);
    if (rc < 0) {
        fprintf(stderr, "    input: %s\n    error: %s\n", text, buf_cstr(&err));
    }
    buf_fini(&err);
    cfg_fini(&c);
    return rc == 0;
}

/* The text of o's value in c equals want; says why not when is_loud. */
static bool value_matches(const struct cfg *c, const struct cfg_option *o, const char *want,
                          bool is_loud)
{
    struct buf b;
    buf_init(&b);
    bool ok = cfg_option_value_text(c, o, &b) == 0 && strcmp(buf_cstr(&b), want) == 0;
    if (!ok && is_loud) {
        fprintf(stderr, "    %s: want %s, got %s\n", o->key, want, buf_cstr(&b));
    }
    buf_fini(&b);
    return ok;
}

static bool value_is(const struct cfg *c, const struct cfg_option *o, const char *want)
{
    return value_matches(c, o, want, true);
}

static bool default_matches(const struct cfg *c, const struct cfg_option *o, bool is_loud)
{
    struct buf def;
    buf_init(&def);
    bool ok = cfg_option_default_text(o, &def) == 0 && value_matches(c, o, buf_cstr(&def), is_loud);
    buf_fini(&def);
    return ok;
}

static bool is_default(const struct cfg *c, const struct cfg_option *o)
{
    return default_matches(c, o, true);
}

static size_t n_names(const struct cfg_option *o)
{
    size_t n = 0;
    while (o->names[n] != NULL) {
        n++;
    }
    return n;
}

/* Switching NIP-13 or NIP-42 off conflicts with the non-default
 * min_pow_difficulty and [auth] values below, so those two switches keep
 * their defaults there; test_nips loads them off. */
static bool keeps_default(const struct cfg_option *o)
{
    return strcmp(o->key, "nips.nip13") == 0 || strcmp(o->key, "nips.nip42") == 0;
}

/* Appends "key = value" setting every option but those keeps_default names
 * to something other than its default; *values receives the expected value
 * text of option i at line i+1. */
static void write_non_defaults(struct buf *doc, struct buf *values)
{
    for (size_t i = 0; i < cfg_option_count(); i++) {
        const struct cfg_option *o = cfg_option_at(i);
        struct buf v;
        buf_init(&v);
        if (keeps_default(o)) {
            cfg_option_default_text(o, &v);
        } else if (o->type == CFG_TYPE_INT) {
            buf_printf(&v, "%" PRId64, o->def_int == o->max ? o->min : o->max);
        } else if (o->type == CFG_TYPE_ENUM) {
            buf_printf(&v, "\"%s\"", o->names[((size_t)o->def_int + 1) % n_names(o)]);
        } else if (o->type == CFG_TYPE_BOOL) {
            buf_append_str(&v, o->def_int ? "false" : "true");
        } else if (o->type == CFG_TYPE_STRING_ARRAY) {
            const char *item =
                o->check == NULL || o->check(pubkey_hex) == NULL ? pubkey_hex : "10.1.0.0/16";
            buf_printf(&v, "[\"%s\"]", item);
        } else if (o->check != NULL) {
            /* The first of these that the option's check accepts. */
            const char *const candidates[] = {
                pubkey_hex, ws_url, "https://search.example:9200", "500ms", "127.0.0.1:9100", NULL
            };
            size_t k = 0;
            while (candidates[k + 1] != NULL && o->check(candidates[k]) != NULL) {
                k++;
            }
            buf_printf(&v, "\"%s\"", candidates[k]);
        } else {
            buf_printf(&v, "\"v-%s \\\"q\\\" \\\\ \\t \xc3\xa9\"", o->key);
        }
        buf_printf(doc, "%s = %s\n", o->key, buf_cstr(&v));
        buf_append(&values[i], v.data, v.len);
        buf_fini(&v);
    }
}

static void test_table(void)
{
    size_t n = cfg_option_count();
    CHECK(n > 0);
    CHECK(cfg_option_at(n) == NULL);
    for (size_t i = 0; i < n; i++) {
        const struct cfg_option *o = cfg_option_at(i);
        CHECK(o != NULL);
        CHECK(cfg_option_find(o->key) == o);
        CHECK(strchr(o->key, '.') != NULL);
        CHECK(o->description != NULL && o->description[0] != '\0');
        if (o->type == CFG_TYPE_INT) {
            CHECK(o->min <= o->def_int && o->def_int <= o->max);
        } else if (o->type == CFG_TYPE_ENUM) {
            CHECK(o->def_int >= 0 && (size_t)o->def_int < n_names(o));
        } else if (o->type == CFG_TYPE_BOOL) {
            CHECK(o->def_int == 0 || o->def_int == 1);
        } else if (o->type == CFG_TYPE_STRING_ARRAY) {
            CHECK(o->def_str == NULL);
        } else {
            CHECK(o->def_str != NULL);
            CHECK(o->check == NULL || o->check(o->def_str) == NULL);
        }
    }
    CHECK(cfg_option_find("relay.colour") == NULL);
}

static void test_defaults(void)
{
    struct cfg c;
    cfg_init_defaults(&c);
    for (size_t i = 0; i < cfg_option_count(); i++) {
        CHECK(is_default(&c, cfg_option_at(i)));
    }
    /* The defaults the relay is specified with, read through the fields. */
    CHECK_STR_EQ(c.relay.bind, "127.0.0.1");
    CHECK_INT_EQ(c.relay.port, 7777);
    CHECK_STR_EQ(c.relay.name, "Ostrich");
    CHECK_STR_EQ(c.relay.pubkey, "");
    CHECK_INT_EQ(c.limits.max_message_bytes, 131072);
    CHECK_INT_EQ(c.limits.created_at_upper_limit, 900);
    CHECK_INT_EQ(c.validation.workers, 0);
    CHECK_INT_EQ(c.validation.engine, CFG_ENGINE_NATIVE);
    CHECK_INT_EQ(c.storage.backend, CFG_BACKEND_SQLITE);
    CHECK_INT_EQ(c.storage.batch_size, 256);
    CHECK_INT_EQ(c.storage.batch_wait_ms, 0);
    CHECK_STR_EQ(c.storage.sqlite.path, "./data/ostrich.db");
    CHECK_STR_EQ(c.storage.opensearch.url, "http://127.0.0.1:9200");
    CHECK_STR_EQ(c.storage.opensearch.index, "ostrich-events");
    CHECK_INT_EQ(c.log.level, LOG_LEVEL_INFO);
    CHECK_STR_EQ(c.auth.relay_url, "");
    CHECK(!c.auth.required_for_write);
    CHECK(!c.auth.required_for_read);
    CHECK_INT_EQ(c.auth.allow_pubkeys.n, 0);
    CHECK(c.auth.allow_pubkeys.items == NULL);
    CHECK(c.auth.protect_dms);
    cfg_fini(&c);
    cfg_fini(&c);
    CHECK_INT_EQ(c.relay.port, 7777);
}

static void test_load_every_option(void)
{
    size_t n = cfg_option_count();
    struct buf doc, err, *values = calloc(n, sizeof(*values));
    CHECK(values != NULL);
    buf_init(&doc);
    buf_init(&err);
    write_non_defaults(&doc, values);
    struct cfg c;
    cfg_init_defaults(&c);
    int rc = load(&c, buf_cstr(&doc), &err);
    bool ok = rc == 0;
    for (size_t i = 0; i < n && ok; i++) {
        const struct cfg_option *o = cfg_option_at(i);
        ok = value_is(&c, o, buf_cstr(&values[i])) &&
             (keeps_default(o) || !default_matches(&c, o, false));
    }
    /* Loading again replaces the owned strings (ASan checks the frees). */
    if (ok) {
        ok = load(&c, "relay.name = \"second\"\n", &err) == 0 &&
             strcmp(c.relay.name, "second") == 0 &&
             c.relay.port == cfg_option_find("relay.port")->max;
    }
    cfg_fini(&c);
    for (size_t i = 0; i < n; i++) {
        buf_fini(&values[i]);
    }
    free(values);
    buf_fini(&doc);
    if (!ok) {
        fprintf(stderr, "    %s\n", buf_cstr(&err));
    }
    buf_fini(&err);
    CHECK(ok);
}

/* Every name of every enum option reaches the enum constant it stands for. */
static void test_enum_values(void)
{
    static const struct {
        const char *text;
        int want;
        size_t offset;
    } cases[] = {
        { "validation.engine = \"native\"", CFG_ENGINE_NATIVE,
          offsetof(struct cfg, validation.engine) },
        { "validation.engine = \"fallback\"", CFG_ENGINE_FALLBACK,
          offsetof(struct cfg, validation.engine) },
        { "storage.backend = \"sqlite\"", CFG_BACKEND_SQLITE,
          offsetof(struct cfg, storage.backend) },
        { "storage.backend = \"opensearch\"", CFG_BACKEND_OPENSEARCH,
          offsetof(struct cfg, storage.backend) },
        { "log.level = \"error\"", LOG_LEVEL_ERROR, offsetof(struct cfg, log.level) },
        { "log.level = \"warn\"", LOG_LEVEL_WARN, offsetof(struct cfg, log.level) },
        { "log.level = \"info\"", LOG_LEVEL_INFO, offsetof(struct cfg, log.level) },
        { "log.level = \"debug\"", LOG_LEVEL_DEBUG, offsetof(struct cfg, log.level) },
        { "log.format = \"text\"", LOG_FORMAT_TEXT, offsetof(struct cfg, log.format) },
        { "log.format = \"logfmt\"", LOG_FORMAT_LOGFMT, offsetof(struct cfg, log.format) },
        { "log.format = \"json\"", LOG_FORMAT_JSON, offsetof(struct cfg, log.format) },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cfg c;
        struct buf err;
        cfg_init_defaults(&c);
        buf_init(&err);
        /* Start from a different value so the load must change it. */
        int other = cases[i].want == 0 ? 1 : 0, got;
        memcpy((char *)&c + cases[i].offset, &other, sizeof(other));
        int rc = load(&c, cases[i].text, &err);
        memcpy(&got, (char *)&c + cases[i].offset, sizeof(got));
        buf_fini(&err);
        cfg_fini(&c);
        CHECK_OK(rc);
        CHECK_INT_EQ(got, cases[i].want);
    }
    /* Each enum option's names are all covered above. */
    size_t covered = 0;
    for (size_t i = 0; i < cfg_option_count(); i++) {
        const struct cfg_option *o = cfg_option_at(i);
        covered += o->type == CFG_TYPE_ENUM ? n_names(o) : 0;
    }
    CHECK_INT_EQ(covered, sizeof(cases) / sizeof(cases[0]));
}

static void test_errors(void)
{
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        { "[storage]\nbatch_size = 0\n",
          "t.toml:2: storage.batch_size: expected an integer in 1..65536" },
        { "[relay]\ncolour = \"red\"\n", "t.toml:2: relay.colour: unknown option" },
        { "port = 1\n", "t.toml:1: port: unknown option" },
        { "[storage]\nsqlite = \"x\"\n", "t.toml:2: storage.sqlite: unknown option" },
        { "[relay]\nport = 1\n[relya]\n", "t.toml:3: relya: unknown table" },
        { "[storage.mysql]\nhost = 1\n", "t.toml:1: storage.mysql: unknown table" },
        { "[relay]\nport = \"80\"\n", "t.toml:2: relay.port: expected an integer, got a string" },
        { "relay.port = 80.0\n", "t.toml:1: relay.port: expected an integer, got a float" },
        { "relay.port = true\n", "t.toml:1: relay.port: expected an integer, got a boolean" },
        { "[relay]\nname = 5\n", "t.toml:2: relay.name: expected a string, got an integer" },
        { "relay.bind = [\"a\"]\n", "t.toml:1: relay.bind: expected a string, got an array" },
        { "[validation]\nengine = \"fast\"\n",
          "t.toml:2: validation.engine: expected \"native\" or \"fallback\"" },
        { "storage.backend = \"SQLite\"\n",
          "t.toml:1: storage.backend: expected \"sqlite\" or \"opensearch\"" },
        { "log.level = 3\n", "t.toml:1: log.level: expected \"error\", \"warn\", \"info\" or "
                             "\"debug\", got an integer" },
        { "[relay]\nport = 1\nport = 2\n", "t.toml:3: duplicate key relay.port" },
        { "[relay]\nport = 1 x\n", "t.toml:2: unexpected text after value" },
        { "relay.trusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n",
          "t.toml:1: relay.trusted_proxies: item 2: expected an IP address or CIDR block such as "
          "\"10.0.0.0/8\"" },
        { "rate_limit.exempt = [\"localhost\"]\n",
          "t.toml:1: rate_limit.exempt: item 1: expected an IP address or CIDR block such as "
          "\"10.0.0.0/8\"" },
        { "rate_limit.exempt = [\"::1/\"]\n",
          "t.toml:1: rate_limit.exempt: item 1: expected an IP address or CIDR block such as "
          "\"10.0.0.0/8\"" },
        { "metrics.listen = \"9100\"\n",
          "t.toml:1: metrics.listen: expected \"host:port\", such as \"127.0.0.1:9100\", or "
          "\"\"" },
        { "storage.opensearch.url = \"ftp://x\"\n",
          "t.toml:1: storage.opensearch.url: expected an http:// or https:// URL" },
        { "storage.opensearch.url = \"https://u:p@x:9200\"\n",
          "t.toml:1: storage.opensearch.url: put the credentials in username and password, not "
          "in the URL" },
        { "storage.opensearch.refresh_interval = \"1 s\"\n",
          "t.toml:1: storage.opensearch.refresh_interval: expected a time such as \"1s\" or "
          "\"500ms\", or \"-1\"" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(fails_with(cases[i].text, cases[i].want));
    }
}

/* CFG_TYPE_BOOL and CFG_TYPE_STRING_ARRAY: loading, replacing, errors. */
static void test_bool_and_array(void)
{
    static const char key2[] = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        { "[auth]\nprotect_dms = 1\n",
          "t.toml:2: auth.protect_dms: expected a boolean, got an integer" },
        { "auth.required_for_write = \"true\"\n",
          "t.toml:1: auth.required_for_write: expected a boolean, got a string" },
        { "auth.allow_pubkeys = \"x\"\n",
          "t.toml:1: auth.allow_pubkeys: expected an array of strings, got a string" },
        { "auth.allow_pubkeys = [1]\n",
          "t.toml:1: auth.allow_pubkeys: item 1: expected a string, got an integer" },
        { "auth.allow_pubkeys = "
          "[\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\", "
          "\"ABCDEF\"]\n",
          "t.toml:1: auth.allow_pubkeys: item 2: expected 64 lowercase hex characters" },
        { "auth.allow_pubkeys = [\"\"]\n",
          "t.toml:1: auth.allow_pubkeys: item 1: expected 64 lowercase hex characters" },
        { "auth.relay_url = \"https://relay.example.org\"\n",
          "t.toml:1: auth.relay_url: expected a ws:// or wss:// URL or an empty string" },
        { "auth.relay_url = \"wss://\"\n",
          "t.toml:1: auth.relay_url: expected a ws:// or wss:// URL or an empty string" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECK(fails_with(cases[i].text, cases[i].want));
    }

    struct cfg c;
    struct buf err, text, out;
    cfg_init_defaults(&c);
    buf_init(&err);
    buf_init(&text);
    buf_init(&out);
    buf_printf(&text,
               "[auth]\nrequired_for_write = true\nrequired_for_read = true\nprotect_dms = false\n"
               "allow_pubkeys = [\"%s\",\n  \"%s\",\n]\nrelay_url = \"ws://h:1/\"\n",
               pubkey_hex, key2);
    int rc1 = load(&c, buf_cstr(&text), &err);
    bool loaded = c.auth.required_for_write && c.auth.required_for_read && !c.auth.protect_dms &&
                  c.auth.allow_pubkeys.n == 2 &&
                  strcmp(c.auth.allow_pubkeys.items[0], pubkey_hex) == 0 &&
                  strcmp(c.auth.allow_pubkeys.items[1], key2) == 0 &&
                  strcmp(c.auth.relay_url, "ws://h:1/") == 0;
    bool printed = cfg_option_value_text(&c, cfg_option_find("auth.allow_pubkeys"), &out) == 0;
    buf_reset(&text);
    buf_printf(&text, "[\"%s\", \"%s\"]", pubkey_hex, key2);
    printed = printed && strcmp(buf_cstr(&out), buf_cstr(&text)) == 0;
    /* Replacing a loaded list frees the old one (ASan checks). */
    int rc2 = load(&c, "auth.allow_pubkeys = []\nauth.protect_dms = true\n", &err);
    bool emptied = c.auth.allow_pubkeys.n == 0 && c.auth.protect_dms;
    cfg_fini(&c);
    buf_fini(&err);
    buf_fini(&text);
    buf_fini(&out);
    CHECK_OK(rc1);
    CHECK(loaded);
    CHECK(printed);
    CHECK_OK(rc2);
    CHECK(emptied);
}

static void test_pubkey(void)
{
    static const char *const bad[] = {
        "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",
        "npub1xyz",
    };
    struct buf text, want;
    buf_init(&text);
    buf_init(&want);
    bool ok = true;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]) && ok; i++) {
        buf_reset(&text);
        buf_reset(&want);
        buf_printf(&text, "[relay]\n\npubkey = \"%s\"\n", bad[i]);
        buf_printf(&want, "t.toml:3: relay.pubkey: expected 64 lowercase hex characters or an "
                          "empty string");
        ok = fails_with(buf_cstr(&text), buf_cstr(&want));
    }
    buf_fini(&text);
    buf_fini(&want);
    CHECK(ok);

    struct cfg c;
    struct buf err;
    cfg_init_defaults(&c);
    buf_init(&err);
    buf_init(&text);
    buf_printf(&text, "relay.pubkey = \"%s\"\n", pubkey_hex);
    int rc1 = load(&c, buf_cstr(&text), &err);
    bool is_set = strcmp(c.relay.pubkey, pubkey_hex) == 0;
    int rc2 = load(&c, "relay.pubkey = \"\"\n", &err);
    bool is_empty = c.relay.pubkey[0] == '\0';
    cfg_fini(&c);
    buf_fini(&text);
    buf_fini(&err);
    CHECK_OK(rc1);
    CHECK(is_set);
    CHECK_OK(rc2);
    CHECK(is_empty);
}

static void test_tls_pair(void)
{
    static const char *const msg = "relay.tls_cert and relay.tls_key must be set together";
    struct buf want;
    buf_init(&want);
    static const struct {
        const char *text;
        const char *where;
    } cases[] = {
        { "[relay]\ntls_cert = \"c.pem\"\n", "t.toml:2: relay.tls_cert" },
        { "[relay]\nport = 1\ntls_key = \"k.pem\"\n", "t.toml:3: relay.tls_key" },
        { "[relay]\ntls_cert = \"c.pem\"\n\ntls_key = \"\"\n", "t.toml:4: relay.tls_key" },
        { "[relay]\ntls_key = \"k.pem\"\ntls_cert = \"\"\n", "t.toml:3: relay.tls_cert" },
    };
    bool ok = true;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && ok; i++) {
        buf_reset(&want);
        buf_printf(&want, "%s: %s", cases[i].where, msg);
        ok = fails_with(cases[i].text, buf_cstr(&want));
    }
    buf_fini(&want);
    CHECK(ok);

    struct cfg c;
    struct buf err;
    cfg_init_defaults(&c);
    buf_init(&err);
    int rc1 = load(&c, "relay.tls_cert = \"c.pem\"\nrelay.tls_key = \"k.pem\"\n", &err);
    bool both = strcmp(c.relay.tls_cert, "c.pem") == 0 && strcmp(c.relay.tls_key, "k.pem") == 0;
    int rc2 = load(&c, "relay.tls_cert = \"\"\nrelay.tls_key = \"\"\n", &err);
    bool neither = c.relay.tls_cert[0] == '\0' && c.relay.tls_key[0] == '\0';
    cfg_fini(&c);
    buf_fini(&err);
    CHECK_OK(rc1);
    CHECK(both);
    CHECK_OK(rc2);
    CHECK(neither);
}

/* [nips]: every switch defaults to on and loads off, once nothing that
 * needs NIP-13 or NIP-42 is left on. */
static void test_nips(void)
{
    struct cfg c;
    struct buf err;
    cfg_init_defaults(&c);
    buf_init(&err);
    bool all_on = c.nips.nip09 && c.nips.nip13 && c.nips.nip40 && c.nips.nip42 && c.nips.nip45 &&
                  c.nips.nip62 && c.nips.nip70;
    int rc = load(&c,
                  "[nips]\nnip09 = false\nnip13 = false\nnip40 = false\nnip42 = false\n"
                  "nip45 = false\nnip62 = false\nnip70 = false\n[auth]\nprotect_dms = false\n",
                  &err);
    bool all_off = !c.nips.nip09 && !c.nips.nip13 && !c.nips.nip40 && !c.nips.nip42 &&
                   !c.nips.nip45 && !c.nips.nip62 && !c.nips.nip70 && !c.auth.protect_dms;
    if (rc < 0) {
        fprintf(stderr, "    %s\n", buf_cstr(&err));
    }
    cfg_fini(&c);
    buf_fini(&err);
    CHECK(all_on);
    CHECK_OK(rc);
    CHECK(all_off);
}

/* Options that need a NIP [nips] switches off: the error names the line of
 * whichever of the two is set last. */
static void test_nips_conflicts(void)
{
    static const char pow[] = "limits.min_pow_difficulty above 0 needs nips.nip13 = true";
    static const char dms[] =
        "auth.protect_dms = true needs nips.nip42 = true: without authentication no one could "
        "be shown a direct message; set protect_dms = false to serve them to all";
    static const char write[] = "auth.required_for_write = true needs nips.nip42 = true";
    static const char read[] = "auth.required_for_read = true needs nips.nip42 = true";
    static const char allow[] = "a non-empty auth.allow_pubkeys needs nips.nip42 = true";
    struct buf text, want;
    buf_init(&text);
    buf_init(&want);
    const struct {
        const char *text;
        const char *where;
        const char *problem;
    } cases[] = {
        { "[limits]\nmin_pow_difficulty = 1\n[nips]\nnip13 = false\n", "t.toml:4: nips.nip13",
          pow },
        { "nips.nip13 = false\nlimits.min_pow_difficulty = 8\n",
          "t.toml:2: limits.min_pow_difficulty", pow },
        { "[nips]\nnip42 = false\n", "t.toml:2: nips.nip42", dms },
        { "nips.nip42 = false\nauth.protect_dms = true\n", "t.toml:2: auth.protect_dms", dms },
        { "auth.protect_dms = false\nauth.required_for_write = true\nnips.nip42 = false\n",
          "t.toml:3: nips.nip42", write },
        { "auth.protect_dms = false\nnips.nip42 = false\nauth.required_for_read = true\n",
          "t.toml:3: auth.required_for_read", read },
        { "auth.protect_dms = false\nnips.nip42 = false\n\nauth.allow_pubkeys = [\"",
          "t.toml:4: auth.allow_pubkeys", allow },
    };
    bool ok = true;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && ok; i++) {
        buf_reset(&text);
        buf_append_str(&text, cases[i].text);
        if (strstr(cases[i].text, "allow_pubkeys") != NULL) {
            buf_printf(&text, "%s\"]\n", pubkey_hex);
        }
        buf_reset(&want);
        buf_printf(&want, "%s: %s", cases[i].where, cases[i].problem);
        ok = fails_with(buf_cstr(&text), buf_cstr(&want));
    }
    /* The same options with their NIP on, or at neutral values with it off,
     * load. */
    ok = ok && load_ok("limits.min_pow_difficulty = 8\nnips.nip13 = true\n") &&
         load_ok("limits.min_pow_difficulty = 0\nnips.nip13 = false\n") &&
         load_ok("nips.nip42 = true\nauth.required_for_read = true\n");
    buf_fini(&text);
    buf_fini(&want);
    CHECK(ok);
}

/* For every integer option: min - 1 and max + 1 fail, min and max load. */
static void test_int_bounds(void)
{
    struct buf text, want, err;
    buf_init(&text);
    buf_init(&want);
    buf_init(&err);
    bool ok = true;
    for (size_t i = 0; i < cfg_option_count() && ok; i++) {
        const struct cfg_option *o = cfg_option_at(i);
        if (o->type != CFG_TYPE_INT) {
            continue;
        }
        buf_reset(&want);
        buf_printf(&want, "t.toml:1: %s: expected an integer in %" PRId64 "..%" PRId64, o->key,
                   o->min, o->max);
        const int64_t outside[] = { o->min - 1, o->max + 1 };
        const int64_t inside[] = { o->min, o->max };
        for (int k = 0; k < 2 && ok; k++) {
            buf_reset(&text);
            buf_printf(&text, "%s = %" PRId64 "\n", o->key, outside[k]);
            ok = fails_with(buf_cstr(&text), buf_cstr(&want));
        }
        for (int k = 0; k < 2 && ok; k++) {
            struct cfg c;
            int64_t got;
            cfg_init_defaults(&c);
            buf_reset(&text);
            buf_printf(&text, "%s = %" PRId64 "\n", o->key, inside[k]);
            ok = load(&c, buf_cstr(&text), &err) == 0;
            memcpy(&got, (char *)&c + o->offset, sizeof(got));
            ok = ok && got == inside[k];
            cfg_fini(&c);
            if (!ok) {
                fprintf(stderr, "    %s = %" PRId64 " not loaded\n", o->key, inside[k]);
            }
        }
    }
    buf_fini(&text);
    buf_fini(&want);
    buf_fini(&err);
    CHECK(ok);
}

/* A failed load leaves the config exactly as it was. */
static void test_all_or_nothing(void)
{
    struct cfg c;
    struct buf err;
    cfg_init_defaults(&c);
    buf_init(&err);
    int rc1 = load(&c, "relay.name = \"kept\"\nrelay.port = 1\n", &err);
    int rc2 = load(&c, "relay.name = \"lost\"\nrelay.port = 2\nrelay.bogus = 3\n", &err);
    bool kept = strcmp(c.relay.name, "kept") == 0 && c.relay.port == 1;
    int rc3 = load(&c, "relay.port = 3\nrelay.tls_key = \"k\"\n", &err);
    bool kept2 = c.relay.port == 1 && c.relay.tls_key[0] == '\0';
    cfg_fini(&c);
    buf_fini(&err);
    CHECK_OK(rc1);
    CHECK_INT_EQ(rc2, OST_EINVAL);
    CHECK(kept);
    CHECK_INT_EQ(rc3, OST_EINVAL);
    CHECK(kept2);
}

/* cfg_print of c loads back into a config equal to c, secrets aside. */
static bool round_trips(const struct cfg *c)
{
    struct buf out, err;
    struct cfg back;
    buf_init(&out);
    buf_init(&err);
    cfg_init_defaults(&back);
    bool ok = cfg_print(c, &out) == 0 && load(&back, buf_cstr(&out), &err) == 0;
    for (size_t i = 0; i < cfg_option_count() && ok; i++) {
        const struct cfg_option *o = cfg_option_at(i);
        struct buf want;
        buf_init(&want);
        if (o->is_secret) {
            const char *s;
            memcpy(&s, (const char *)c + o->offset, sizeof(s));
            buf_append_str(&want, s[0] != '\0' ? "\"(set)\"" : "\"\"");
        } else {
            cfg_option_value_text(c, o, &want);
        }
        ok = value_is(&back, o, buf_cstr(&want));
        buf_fini(&want);
    }
    if (!ok) {
        fprintf(stderr, "    printed:\n%s\n    error: %s\n", buf_cstr(&out), buf_cstr(&err));
    }
    cfg_fini(&back);
    buf_fini(&out);
    buf_fini(&err);
    return ok;
}

static void test_print(void)
{
    struct cfg c;
    cfg_init_defaults(&c);
    bool defaults_ok = round_trips(&c);

    size_t n = cfg_option_count();
    struct buf doc, err, out, *values = calloc(n, sizeof(*values));
    CHECK(values != NULL);
    buf_init(&doc);
    buf_init(&err);
    buf_init(&out);
    write_non_defaults(&doc, values);
    int rc = load(&c, buf_cstr(&doc), &err);
    rc = rc == 0 ? load(&c, "storage.opensearch.password = \"hunter2\"\n", &err) : rc;
    bool changed_ok = rc == 0 && round_trips(&c);
    bool is_masked = cfg_print(&c, &out) == 0 && strstr(buf_cstr(&out), "hunter2") == NULL &&
                     strstr(buf_cstr(&out), "password = \"(set)\"\n") != NULL &&
                     strstr(buf_cstr(&out), "[storage.opensearch]\n") != NULL;
    cfg_fini(&c);
    for (size_t i = 0; i < n; i++) {
        buf_fini(&values[i]);
    }
    free(values);
    buf_fini(&doc);
    buf_fini(&err);
    buf_fini(&out);
    CHECK(defaults_ok);
    CHECK_OK(rc);
    CHECK(changed_ok);
    CHECK(is_masked);
}

static int read_file(const char *path, struct buf *out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return OST_ENOENT;
    }
    char chunk[4096];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = buf_append(out, chunk, n);
    }
    fclose(f);
    return rc;
}

/* Whether e's value is o's default. */
static bool entry_is_default(const struct toml_entry *e, const struct cfg_option *o)
{
    switch (o->type) {
    case CFG_TYPE_STRING:
        return e->val.type == TOML_STRING && strcmp(e->val.u.s, o->def_str) == 0;
    case CFG_TYPE_INT:
        return e->val.type == TOML_INT && e->val.u.i == o->def_int;
    case CFG_TYPE_ENUM:
        return e->val.type == TOML_STRING && strcmp(e->val.u.s, o->names[o->def_int]) == 0;
    case CFG_TYPE_BOOL:
        return e->val.type == TOML_BOOL && e->val.u.b == (o->def_int != 0);
    case CFG_TYPE_STRING_ARRAY:
        return e->val.type == TOML_ARRAY && e->val.u.arr.n == 0;
    }
    return false;
}

/* config/ostrich.toml sets every option, only options, each to its default. */
static void test_example_file(void)
{
    const char *dir = getenv("OSTRICH_SOURCE_DIR");
    CHECK(dir != NULL);
    struct buf path, text, err;
    buf_init(&path);
    buf_init(&text);
    buf_init(&err);
    buf_printf(&path, "%s/config/ostrich.toml", dir);
    struct cfg c;
    cfg_init_defaults(&c);
    int load_rc = cfg_load_file(&c, buf_cstr(&path), &err);
    bool all_default = true;
    for (size_t i = 0; i < cfg_option_count(); i++) {
        all_default = all_default && is_default(&c, cfg_option_at(i));
    }
    cfg_fini(&c);
    if (load_rc < 0) {
        fprintf(stderr, "    %s\n", buf_cstr(&err));
    }

    struct toml_doc *doc = NULL;
    struct toml_error terr;
    int rc = read_file(buf_cstr(&path), &text);
    rc = rc == 0 ? toml_parse(text.data, text.len, &doc, &terr) : rc;
    size_t n = cfg_option_count();
    int *seen = calloc(n, sizeof(*seen));
    bool ok = rc == 0 && seen != NULL;
    for (size_t i = 0; ok && i < toml_count(doc); i++) {
        const struct toml_entry *e = toml_entry_at(doc, i);
        if (e->val.type == TOML_TABLE) {
            continue;
        }
        const struct cfg_option *o = cfg_option_find(e->key);
        ok = o != NULL && entry_is_default(e, o);
        if (!ok) {
            fprintf(stderr, "    line %d: %s is %s\n", e->line, e->key,
                    o ? "not the default" : "not an option");
            break;
        }
        seen[o - cfg_option_at(0)]++;
    }
    for (size_t i = 0; ok && i < n; i++) {
        ok = seen[i] == 1;
        if (!ok) {
            fprintf(stderr, "    %s is missing\n", cfg_option_at(i)->key);
        }
    }
    free(seen);
    toml_free(doc);
    buf_fini(&path);
    buf_fini(&text);
    buf_fini(&err);
    CHECK_OK(load_rc);
    CHECK(all_default);
    CHECK_OK(rc);
    CHECK(ok);
}

static void test_load_file(void)
{
    char path[] = "/tmp/ostrich-cfg-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    static const char text[] = "[relay]\nport = 4242\n[log]\nlevel = \"debug\"\nbogus = 1\n";
    bool written = write(fd, text, sizeof(text) - 1) == (ssize_t)(sizeof(text) - 1);
    close(fd);

    struct cfg c;
    struct buf err, want;
    cfg_init_defaults(&c);
    buf_init(&err);
    buf_init(&want);
    buf_printf(&want, "%s:5: log.bogus: unknown option", path);
    int rc_bad = cfg_load_file(&c, path, &err);
    bool msg_ok = strcmp(buf_cstr(&err), buf_cstr(&want)) == 0;
    if (!msg_ok) {
        fprintf(stderr, "    got: %s\n", buf_cstr(&err));
    }
    /* Drop the bad last line and load again. */
    bool truncated = truncate(path, (off_t)(sizeof(text) - 1 - strlen("bogus = 1\n"))) == 0;
    int rc_ok = cfg_load_file(&c, path, &err);
    bool values_ok = c.relay.port == 4242 && c.log.level == LOG_LEVEL_DEBUG;
    unlink(path);

    buf_reset(&err);
    int rc_missing = cfg_load_file(&c, "/nonexistent/ostrich.toml", &err);
    bool missing_ok =
        strcmp(buf_cstr(&err),
               "/nonexistent/ostrich.toml: cannot open: No such file or directory") == 0;
    buf_reset(&err);
    int rc_dir = cfg_load_file(&c, "/tmp", &err);
    bool dir_ok = strcmp(buf_cstr(&err), "/tmp: cannot read: Is a directory") == 0;
    if (!dir_ok) {
        fprintf(stderr, "    got: %s\n", buf_cstr(&err));
    }
    cfg_fini(&c);
    buf_fini(&err);
    buf_fini(&want);
    CHECK(written);
    CHECK_INT_EQ(rc_bad, OST_EINVAL);
    CHECK(msg_ok);
    CHECK(truncated);
    CHECK_OK(rc_ok);
    CHECK(values_ok);
    CHECK_INT_EQ(rc_missing, OST_ENOENT);
    CHECK(missing_ok);
    CHECK(rc_dir < 0);
    CHECK(dir_ok);
}

CHECK_MAIN({ "table", test_table }, { "defaults", test_defaults },
           { "load_every_option", test_load_every_option }, { "enum_values", test_enum_values },
           { "errors", test_errors }, { "bool_and_array", test_bool_and_array },
           { "pubkey", test_pubkey }, { "tls_pair", test_tls_pair }, { "nips", test_nips },
           { "nips_conflicts", test_nips_conflicts }, { "int_bounds", test_int_bounds },
           { "all_or_nothing", test_all_or_nothing }, { "print", test_print },
           { "example_file", test_example_file }, { "load_file", test_load_file })
