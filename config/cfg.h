/*
 * The relay's configuration: struct cfg, and one table of option
 * descriptors from which defaults, loading a TOML file, error messages and
 * the printed effective config all derive.
 *
 * Threads: main loads the config once at startup; afterwards every thread
 * gets a const struct cfg * and nobody writes it. The functions here keep no
 * state of their own and may run on any thread.
 *
 * Ownership: each string field of struct cfg is either the table's static
 * default or a heap copy owned by the struct; cfg_fini frees the copies. So
 * set fields only through cfg_init_defaults and cfg_load_*, and never copy a
 * struct cfg by assignment (both copies would free the same strings).
 */
#ifndef OSTRICH_CONFIG_CFG_H
#define OSTRICH_CONFIG_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/log.h"

struct buf;

/* Config files larger than this are refused. */
#define CFG_MAX_FILE_BYTES (1024 * 1024)

enum cfg_engine {
    CFG_ENGINE_NATIVE = 0,   /* libsecp256k1 */
    CFG_ENGINE_FALLBACK = 1, /* OpenSSL */
};

enum cfg_backend {
    CFG_BACKEND_SQLITE = 0,
    CFG_BACKEND_OPENSEARCH = 1,
};

/* A list of strings (CFG_TYPE_STRING_ARRAY): n items, each a heap copy
 * owned by the struct cfg, or items NULL and n 0 for the default, empty. */
struct cfg_strings {
    char **items;
    size_t n;
};

/* Owned by: whoever loads it (main), read-only once the relay starts. The
 * members mirror the TOML tables: [storage.sqlite] path is
 * c->storage.sqlite.path. Integers are range-checked by the option table. */
struct cfg {
    struct {
        const char *bind;
        int64_t port; /* 0: pick a free port */
        const char *name;
        const char *description;
        const char *contact;
        const char *pubkey; /* "" or 64 lowercase hex characters */
        const char *tls_cert;
        const char *tls_key;      /* set together with tls_cert, or both "" */
        bool eose_finish_hint;    /* NIP-67 */
        int64_t drain_timeout_ms; /* SIGTERM: longest wait for answers and flushes */
        int64_t ping_interval_s;  /* ping a connection silent this long; 0: never */
        int64_t pong_timeout_s;   /* close it when nothing comes back this long after */
        int64_t
            idle_timeout_s; /* close a connection with no subscription silent this long; 0: never */
        bool compression;   /* offer permessage-deflate */
        struct cfg_strings
            trusted_proxies; /* addresses or CIDR blocks whose X-Forwarded-For counts */
    } relay;
    struct {
        int64_t max_message_bytes;
        int64_t max_event_tags;
        int64_t max_content_bytes;
        int64_t created_at_lower_limit; /* seconds into the past; 0: no limit */
        int64_t created_at_upper_limit; /* seconds into the future; 0: no limit */
        int64_t max_subscriptions;
        int64_t max_filters;
        int64_t max_limit;
        int64_t default_limit;
        int64_t max_outbound_bytes;
        int64_t min_pow_difficulty; /* NIP-13 leading zero bits; 0: no minimum */
        int64_t max_search_bytes;   /* NIP-50: bytes in a filter's "search" */
    } limits;
    /* Token buckets: *_per_second refills, *_burst is the bucket's size; a
     * rate of 0 turns that limit off. */
    struct {
        int64_t max_connections;        /* in total; 0: no limit */
        int64_t max_connections_per_ip; /* 0: no limit */
        int64_t events_per_second;      /* EVENTs of one connection */
        int64_t events_burst;
        int64_t reqs_per_second; /* REQs and COUNTs of one connection */
        int64_t reqs_burst;
        int64_t ip_events_per_second; /* EVENTs of all connections of one address */
        int64_t ip_events_burst;
        int64_t ip_reqs_per_second;
        int64_t ip_reqs_burst;
        int64_t max_refused;       /* refusals in a row before a connection is closed */
        bool exempt_loopback;      /* 127.0.0.0/8 and ::1 are not limited */
        struct cfg_strings exempt; /* addresses or CIDR blocks that are not limited */
    } rate_limit;
    struct {
        int64_t workers; /* 0: one per online CPU */
        enum cfg_engine engine;
    } validation;
    struct {
        enum cfg_backend backend;
        int64_t batch_size;
        int64_t batch_wait_ms;
        int64_t readers;
        int64_t expiration_purge_interval_s; /* NIP-40; 0: expired events are kept */
        struct {
            const char *path;
        } sqlite;
        struct {
            const char *url;
            const char *index;
            const char *username;
            const char *password;
            const char *ca_file;
            bool tls_verify;
            int64_t connect_timeout_ms;
            int64_t request_timeout_ms;
            int64_t retry_max_ms;
            bool refresh_wait;
            int64_t shards;
            int64_t replicas;
            const char *refresh_interval;
        } opensearch;
    } storage;
    struct {
        const char *relay_url; /* "" or a ws:// or wss:// URL */
        bool required_for_write;
        bool required_for_read;
        struct cfg_strings allow_pubkeys; /* 64 lowercase hex each; empty: every key */
        bool protect_dms;
    } auth;
    struct {
        bool enabled; /* NIP-50 search filters; false: refused */
    } search;
    /* Optional NIPs; false leaves one out entirely (README, config/ostrich.toml).
     * NIP-50 is [search] enabled and NIP-67 [relay] eose_finish_hint. */
    struct {
        bool nip09; /* deletion requests */
        bool nip13; /* proof of work */
        bool nip40; /* expiration */
        bool nip42; /* authentication */
        bool nip45; /* COUNT */
        bool nip62; /* requests to vanish */
        bool nip70; /* protected events */
    } nips;
    struct {
        bool enabled;       /* GET /metrics */
        const char *listen; /* "host:port" for /metrics and /health apart; "": the relay's port */
    } metrics;
    struct {
        enum log_level level;
        enum log_format format;
    } log;
};

enum cfg_type {
    CFG_TYPE_STRING = 0,
    CFG_TYPE_INT = 1,          /* an int64_t field with inclusive bounds */
    CFG_TYPE_ENUM = 2,         /* an enum field; the value is the index of its name */
    CFG_TYPE_BOOL = 3,         /* a bool field; def_int is 0 or 1 */
    CFG_TYPE_STRING_ARRAY = 4, /* a struct cfg_strings field; the default is empty */
};

/* Checks a string option's value beyond its type. Returns NULL when it is
 * acceptable, else a static problem text ("expected 64 lowercase hex ..."). */
typedef const char *(*cfg_check_fn)(const char *value);

/* One option. The table is const and lives for the whole program. */
struct cfg_option {
    const char *key; /* dotted TOML path: "storage.batch_size" */
    enum cfg_type type;
    size_t offset;            /* of the field in struct cfg */
    const char *def_str;      /* CFG_TYPE_STRING: the default */
    int64_t def_int;          /* CFG_TYPE_INT: the default; CFG_TYPE_ENUM: its index */
    int64_t min;              /* CFG_TYPE_INT: inclusive bounds */
    int64_t max;              /* */
    const char *const *names; /* CFG_TYPE_ENUM: allowed values, NULL-terminated */
    cfg_check_fn check;       /* CFG_TYPE_STRING(_ARRAY): extra check (per item), or NULL */
    bool is_secret;           /* printed as "(set)" or "" by cfg_print */
    const char *description;  /* one line, for the example file and cfg_print */
};

/* ---- lifecycle ---- */

/* Sets every field of c to its default from the table. Allocates nothing
 * (string fields point at the table's static defaults), so it cannot fail
 * and cfg_fini is safe right after it. */
void cfg_init_defaults(struct cfg *c);

/* Frees the strings c owns and leaves every field at its default, so calling
 * it twice is harmless. */
void cfg_fini(struct cfg *c);

/* ---- loading ---- */

/* Reads the TOML file at path and applies it over the current values of c.
 * All or nothing: on failure c is unchanged. Returns 0; OST_EINVAL when the
 * file is not valid TOML or an option is unknown, of the wrong type, out of
 * range or inconsistent with another; a negative errno code when the file
 * cannot be read; or OST_ENOMEM. On failure one line without a trailing
 * newline is appended to err:
 *     "path:line: key: problem"   e.g. "x.toml:4: relay.port: expected an integer, got a string"
 *     "path:line: problem"        a TOML syntax error
 *     "path: cannot open: No such file or directory"
 * path and err are borrowed. Blocks on file I/O; call it before the relay's
 * threads start. */
int cfg_load_file(struct cfg *c, const char *path, struct buf *err);

/* As cfg_load_file, for len bytes of text; name stands for the path in
 * messages. text and name are borrowed. Never blocks. */
int cfg_load_string(struct cfg *c, const char *name, const char *text, size_t len, struct buf *err);

/* ---- queries ---- */

/* Appends the effective config to out as TOML that cfg_load_string accepts:
 * one [table] per section, each option preceded by its description as a
 * comment. Secret options are printed as "(set)" or "". Returns 0 or
 * OST_ENOMEM. */
int cfg_print(const struct cfg *c, struct buf *out);

/* Number of options in the table. */
size_t cfg_option_count(void);

/* Option i of the table (0 <= i < cfg_option_count), or NULL. Options are
 * grouped by table, in the order of the example file. */
const struct cfg_option *cfg_option_at(size_t i);

/* The option whose dotted key is key, or NULL. */
const struct cfg_option *cfg_option_find(const char *key);

/* Appends o's default to out as a TOML value ("\"127.0.0.1\"", "7777",
 * "\"native\""). Returns 0 or OST_ENOMEM. */
int cfg_option_default_text(const struct cfg_option *o, struct buf *out);

/* Appends o's value in c to out as a TOML value, secrets included. Returns
 * 0 or OST_ENOMEM. */
int cfg_option_value_text(const struct cfg *c, const struct cfg_option *o, struct buf *out);

#endif
