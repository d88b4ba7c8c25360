/*
 * The option table: every configuration option with its TOML key (the
 * struct cfg member path, stringified by the OPT_* macros so the two cannot
 * disagree), type, default, bounds or allowed names, checks and one-line
 * description. config/cfg.c derives everything else from it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include <arpa/inet.h>

#include "common/err.h"
#include "common/hex.h"
#include "config/cfg.h"
#include "config/cfg_int.h"

/* Indexed by the enum values they name. */
static const char *const engine_names[] = { "native", "fallback", NULL };
static const char *const backend_names[] = { "sqlite", "opensearch", NULL };
static const char *const level_names[] = { "error", "warn", "info", "debug", NULL };
static const char *const format_names[] = { "text", "logfmt", "json", NULL };

static const char *check_pubkey(const char *value)
{
    uint8_t raw[32];
    if (value[0] == '\0' || (strlen(value) == 64 && hex_decode_lower(value, 32, raw) == 0)) {
        return NULL;
    }
    return "expected 64 lowercase hex characters or an empty string";
}

/* An allow-list entry: exactly 64 lowercase hex characters. */
static const char *check_hex_key(const char *value)
{
    uint8_t raw[32];
    if (strlen(value) == 64 && hex_decode_lower(value, 32, raw) == 0) {
        return NULL;
    }
    return "expected 64 lowercase hex characters";
}

/* The full comparison rules live in nips/nip42; here only the shape. */
static const char *check_ws_url(const char *value)
{
    if (value[0] == '\0' || (strncmp(value, "ws://", 5) == 0 && value[5] != '\0') ||
        (strncmp(value, "wss://", 6) == 0 && value[6] != '\0')) {
        return NULL;
    }
    return "expected a ws:// or wss:// URL or an empty string";
}

/* An OpenSearch time value: digits and one unit (nanos to days), or "-1"
 * (refreshes off). */
static const char *check_duration(const char *value)
{
    static const char *const units[] = { "nanos", "micros", "ms", "s", "m", "h", "d", NULL };
    size_t digits = strspn(value, "0123456789");
    if (strcmp(value, "-1") == 0) {
        return NULL;
    }
    for (size_t i = 0; digits > 0 && units[i] != NULL; i++) {
        if (strcmp(value + digits, units[i]) == 0) {
            return NULL;
        }
    }
    return "expected a time such as \"1s\" or \"500ms\", or \"-1\"";
}

/* An IPv4 or IPv6 address, optionally with a /prefix (a CIDR block). */
static const char *check_ip_block(const char *value)
{
    char addr[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(value, '/');
    size_t len = slash != NULL ? (size_t)(slash - value) : strlen(value);
    unsigned char raw[16];
    int max_bits = -1;
    if (len < sizeof(addr)) {
        memcpy(addr, value, len);
        addr[len] = '\0';
        max_bits = inet_pton(AF_INET, addr, raw) == 1    ? 32
                   : inet_pton(AF_INET6, addr, raw) == 1 ? 128
                                                         : -1;
    }
    if (max_bits > 0 && slash != NULL) {
        char *end;
        long bits = strtol(slash + 1, &end, 10);
        if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || bits > max_bits) {
            max_bits = -1;
        }
    }
    return max_bits > 0 ? NULL : "expected an IP address or CIDR block such as \"10.0.0.0/8\"";
}

/* "host:port" (an IPv6 host in brackets) or "" for none. */
static const char *check_listen(const char *value)
{
    const char *colon = strrchr(value, ':');
    if (value[0] == '\0') {
        return NULL;
    }
    if (colon != NULL && colon != value && colon[1] != '\0' &&
        strspn(colon + 1, "0123456789") == strlen(colon + 1) && atoi(colon + 1) <= 65535) {
        return NULL;
    }
    return "expected \"host:port\", such as \"127.0.0.1:9100\", or \"\"";
}

/* The base URL of an OpenSearch cluster, without a path. */
static const char *check_http_url(const char *value)
{
    const char *host = strncmp(value, "http://", 7) == 0    ? value + 7
                       : strncmp(value, "https://", 8) == 0 ? value + 8
                                                            : NULL;
    if (host != NULL && strchr(host, '@') != NULL) {
        return "put the credentials in username and password, not in the URL";
    }
    if (host != NULL && host[0] != '\0' && host[0] != '/') {
        return NULL;
    }
    return "expected an http:// or https:// URL";
}

#define OPT_STR(field, def, chk, secret, desc)                                         \
    {                                                                                  \
        .key = #field, .type = CFG_TYPE_STRING, .offset = offsetof(struct cfg, field), \
        .def_str = def, .check = chk, .is_secret = secret, .description = desc         \
    }
#define OPT_INT(field, def, lo, hi, desc)                                           \
    {                                                                               \
        .key = #field, .type = CFG_TYPE_INT, .offset = offsetof(struct cfg, field), \
        .def_int = def, .min = lo, .max = hi, .description = desc                   \
    }
#define OPT_BOOL(field, def, desc)                                                   \
    {                                                                                \
        .key = #field, .type = CFG_TYPE_BOOL, .offset = offsetof(struct cfg, field), \
        .def_int = def, .description = desc                                          \
    }
#define OPT_STRS(field, chk, desc)                                                           \
    {                                                                                        \
        .key = #field, .type = CFG_TYPE_STRING_ARRAY, .offset = offsetof(struct cfg, field), \
        .check = chk, .description = desc                                                    \
    }
#define OPT_ENUM(field, def, list, desc)                                             \
    {                                                                                \
        .key = #field, .type = CFG_TYPE_ENUM, .offset = offsetof(struct cfg, field), \
        .def_int = def, .names = list, .description = desc                           \
    }

/* Grouped by table, parents before children: cfg_print relies on it. */
const struct cfg_option cfg__options[] = {
    OPT_STR(relay.bind, "127.0.0.1", NULL, false, "address to listen on"),
    OPT_INT(relay.port, 7777, 0, 65535, "TCP port to listen on; 0 picks a free port"),
    OPT_STR(relay.name, "Ostrich", NULL, false, "relay name for the NIP-11 document"),
    OPT_STR(relay.description, "A Nostr relay", NULL, false,
            "relay description for the NIP-11 document"),
    OPT_STR(relay.contact, "", NULL, false, "administrator contact for NIP-11; empty: none"),
    OPT_STR(relay.pubkey, "", check_pubkey, false,
            "administrator public key for NIP-11, 64 lowercase hex characters; empty: none"),
    OPT_STR(relay.tls_cert, "", NULL, false,
            "PEM certificate file; set together with tls_key; empty: no TLS"),
    OPT_STR(relay.tls_key, "", NULL, false, "PEM private key file; set together with tls_cert"),
    OPT_BOOL(relay.eose_finish_hint, 0,
             "NIP-67: EOSE says [\"finish\"] when every stored match was sent"),
    OPT_INT(relay.drain_timeout_ms, 10000, 100, 600000,
            "on SIGTERM, longest wait to answer received events and flush the store"),
    OPT_INT(relay.ping_interval_s, 60, 0, 86400,
            "ping a connection that has been silent this many seconds; 0: never"),
    OPT_INT(relay.pong_timeout_s, 20, 1, 3600,
            "close a pinged connection that sends nothing back within this many seconds"),
    OPT_INT(relay.idle_timeout_s, 600, 0, 604800,
            "close a connection with no subscription that has been silent this many seconds; "
            "0: never"),
    OPT_BOOL(relay.compression, 1, "offer permessage-deflate compression to clients that ask"),
    OPT_STRS(relay.trusted_proxies, check_ip_block,
             "reverse proxies (addresses or CIDR blocks) whose X-Forwarded-For or X-Real-IP "
             "names the client"),

    OPT_INT(limits.max_message_bytes, 131072, 1024, 16777216,
            "largest WebSocket message accepted, in bytes"),
    OPT_INT(limits.max_event_tags, 2000, 1, 100000, "most tags an event may carry"),
    OPT_INT(limits.max_content_bytes, 65536, 1, 16777216, "largest event content, in bytes"),
    OPT_INT(limits.created_at_lower_limit, 0, 0, INT32_MAX,
            "how many seconds into the past created_at may be; 0: no limit"),
    OPT_INT(limits.created_at_upper_limit, 900, 0, INT32_MAX,
            "how many seconds into the future created_at may be; 0: no limit"),
    OPT_INT(limits.max_subscriptions, 64, 1, 10000, "open subscriptions per connection"),
    OPT_INT(limits.max_filters, 16, 1, 1000, "filters in one REQ or COUNT"),
    OPT_INT(limits.max_limit, 5000, 1, 1000000,
            "largest limit a filter may ask for; larger ones are clamped to it"),
    OPT_INT(limits.default_limit, 500, 1, 1000000,
            "stored events sent for a filter that gives no limit"),
    OPT_INT(limits.max_outbound_bytes, 8388608, 65536, 1073741824,
            "bytes queued for a client that is not reading before it is disconnected"),
    OPT_INT(limits.min_pow_difficulty, 0, 0, 256,
            "NIP-13 proof of work: least difficulty (leading zero bits of the id) an event "
            "needs; 0: none"),
    OPT_INT(limits.max_search_bytes, 256, 1, 1024,
            "NIP-50: longest \"search\" query in a filter, in bytes"),

    OPT_INT(rate_limit.max_connections, 100000, 0, 10000000,
            "open connections in total; 0: no limit"),
    OPT_INT(rate_limit.max_connections_per_ip, 200, 0, 10000000,
            "open connections from one address; 0: no limit"),
    OPT_INT(rate_limit.events_per_second, 50, 0, 1000000,
            "EVENTs one connection may send per second, on average; 0: no limit"),
    OPT_INT(rate_limit.events_burst, 500, 1, 10000000,
            "EVENTs one connection may send at once before the rate applies"),
    OPT_INT(rate_limit.reqs_per_second, 20, 0, 1000000,
            "REQs and COUNTs one connection may send per second; 0: no limit"),
    OPT_INT(rate_limit.reqs_burst, 200, 1, 10000000,
            "REQs and COUNTs one connection may send at once"),
    OPT_INT(rate_limit.ip_events_per_second, 200, 0, 1000000,
            "EVENTs all connections of one address may send per second; 0: no limit"),
    OPT_INT(rate_limit.ip_events_burst, 2000, 1, 10000000,
            "EVENTs all connections of one address may send at once"),
    OPT_INT(rate_limit.ip_reqs_per_second, 100, 0, 1000000,
            "REQs and COUNTs all connections of one address may send per second; 0: no limit"),
    OPT_INT(rate_limit.ip_reqs_burst, 1000, 1, 10000000,
            "REQs and COUNTs all connections of one address may send at once"),
    OPT_INT(rate_limit.max_refused, 200, 1, 10000000,
            "messages refused for rate in a row after which a connection is closed"),
    OPT_BOOL(rate_limit.exempt_loopback, 1,
             "connections from 127.0.0.0/8 and ::1 are not limited (local tools, benchmarks)"),
    OPT_STRS(rate_limit.exempt, check_ip_block,
             "addresses or CIDR blocks whose connections are not limited"),

    OPT_INT(validation.workers, 0, 0, 256, "signature validation threads; 0: one per online CPU"),
    OPT_ENUM(validation.engine, CFG_ENGINE_NATIVE, engine_names,
             "signature engine: native (libsecp256k1) or fallback (OpenSSL)"),

    OPT_ENUM(storage.backend, CFG_BACKEND_SQLITE, backend_names,
             "where events are stored: sqlite or opensearch"),
    OPT_INT(storage.batch_size, 256, 1, 65536, "most events written in one transaction"),
    OPT_INT(storage.batch_wait_ms, 0, 0, 10000,
            "longest wait for a batch to fill before it is written, in milliseconds"),
    OPT_INT(storage.readers, 2, 1, 64, "threads that answer REQ and COUNT from the store"),
    OPT_INT(storage.expiration_purge_interval_s, 60, 0, 86400,
            "NIP-40: seconds between deletions of expired events; 0: never delete them"),
    OPT_STR(storage.sqlite.path, "./data/ostrich.db", NULL, false, "SQLite database file"),
    OPT_STR(storage.opensearch.url, "http://127.0.0.1:9200", check_http_url, false,
            "OpenSearch base URL"),
    OPT_STR(storage.opensearch.index, "ostrich-events", NULL, false, "index that holds events"),
    OPT_STR(storage.opensearch.username, "", NULL, false,
            "user for HTTP basic authentication; empty: none"),
    OPT_STR(storage.opensearch.password, "", NULL, true,
            "password for HTTP basic authentication; never printed"),
    OPT_STR(storage.opensearch.ca_file, "", NULL, false,
            "CA certificates (PEM) that sign the cluster's certificate; empty: the system's"),
    OPT_BOOL(storage.opensearch.tls_verify, 1,
             "verify the cluster's TLS certificate and host name (https:// URLs)"),
    OPT_INT(storage.opensearch.connect_timeout_ms, 2000, 100, 600000,
            "longest wait to connect to the cluster, in milliseconds"),
    OPT_INT(storage.opensearch.request_timeout_ms, 30000, 100, 3600000,
            "longest wait for one request to the cluster, in milliseconds"),
    OPT_INT(storage.opensearch.retry_max_ms, 10000, 0, 3600000,
            "how long a batch of events is retried while the cluster cannot be reached "
            "before its events are refused, in milliseconds"),
    OPT_BOOL(storage.opensearch.refresh_wait, 1,
             "acknowledge an event only once it is searchable (refresh=wait_for)"),
    OPT_INT(storage.opensearch.shards, 1, 1, 1024, "primary shards of an index the relay creates"),
    OPT_INT(storage.opensearch.replicas, 1, 0, 16, "replicas of an index the relay creates"),
    OPT_STR(storage.opensearch.refresh_interval, "1s", check_duration, false,
            "refresh interval of an index the relay creates (OpenSearch time units)"),

    OPT_STR(auth.relay_url, "", check_ws_url, false,
            "this relay's public URL for NIP-42 relay tags; empty: any ws:// or wss:// URL"),
    OPT_BOOL(auth.required_for_write, 0, "EVENT only from connections authenticated with AUTH"),
    OPT_BOOL(auth.required_for_read, 0, "REQ and COUNT only from authenticated connections"),
    OPT_STRS(auth.allow_pubkeys, check_hex_key,
             "keys that may publish (and read, with required_for_read); empty: every key"),
    OPT_BOOL(auth.protect_dms, 1,
             "kinds 4 and 1059 only go to a connection authenticated as their author or a p tag"),

    OPT_BOOL(search.enabled, 1, "NIP-50: serve filters with \"search\" (full-text, over content)"),

    OPT_BOOL(nips.nip09, 1, "NIP-09: kind 5 deletion requests delete; false: stored as ordinary"),
    OPT_BOOL(nips.nip13, 1, "NIP-13: proof of work is checked; false: never"),
    OPT_BOOL(nips.nip40, 1, "NIP-40: \"expiration\" tags are honoured; false: ignored"),
    OPT_BOOL(nips.nip42, 1, "NIP-42: AUTH challenges and authentication; false: AUTH refused"),
    OPT_BOOL(nips.nip45, 1, "NIP-45: COUNT is served; false: refused"),
    OPT_BOOL(nips.nip62, 1, "NIP-62: kind 62 requests to vanish delete; false: stored as ordinary"),
    OPT_BOOL(nips.nip70, 1,
             "NIP-70: [\"-\"] events only from their authenticated author; false: from anyone"),

    OPT_BOOL(metrics.enabled, 1, "serve Prometheus metrics at GET /metrics"),
    OPT_STR(metrics.listen, "", check_listen, false,
            "\"host:port\" to serve /metrics and /health on instead of the relay's port"),

    OPT_ENUM(log.level, LOG_LEVEL_INFO, level_names,
             "least severe messages logged: error, warn, info or debug"),
    OPT_ENUM(log.format, LOG_FORMAT_TEXT, format_names, "log line format: text, logfmt or json"),
};

const size_t cfg__n_options = sizeof(cfg__options) / sizeof(cfg__options[0]);

/* String options that must be set together or left empty together. */
#define PAIR(field_a, field_b)                                           \
    {                                                                    \
        { #field_a, #field_b },                                          \
        {                                                                \
            offsetof(struct cfg, field_a), offsetof(struct cfg, field_b) \
        }                                                                \
    }
const struct cfg__pair cfg__pairs[] = {
    PAIR(relay.tls_cert, relay.tls_key),
};

const size_t cfg__n_pairs = sizeof(cfg__pairs) / sizeof(cfg__pairs[0]);
