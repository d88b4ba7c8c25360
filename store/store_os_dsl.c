/*
 * The JSON the OpenSearch backend sends (store_os_dsl.h has the documents,
 * ids, versions and queries). Everything is appended to the caller's
 * buffer through a small writer whose first failure sticks, so a function
 * reads as the JSON it writes and checks for errors once at the end.
 *
 * Strings the relay did not write itself (index names, tag values, search
 * words, the raw event) go through json_write_string. A string that needs
 * a prefix ("e:" before a tag value) or is assembled from pieces (search
 * words) is first put as raw bytes at the end of the buffer and then
 * escaped in place (quote_tail), so no scratch allocation is needed. Event
 * strings without escapes are copied as they are: JSON string content with
 * no backslash holds no quote and no control character, which is exactly
 * what json_write_string would have written for it.
 *
 * Address ids hash "<kind>:<pubkey hex>:<d>" with OpenSSL's SHA-256,
 * streaming an escaped d value through the hash while unescaping it, so a
 * long d costs no buffer either.
 */
#include "store/store_os_dsl.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/hex.h"
#include "common/json.h"
#include "common/log.h"
#include "filters/filter.h"
#include "store/store.h"
#include "validate/event.h"

#define KIND_DELETION 5u

/* A JSON writer over the caller's buffer; rc is the first failure. */
struct jw {
    struct buf *out;
    int rc;
};

static void put_n(struct jw *w, const char *s, size_t len)
{
    if (w->rc == 0) {
        w->rc = buf_append(w->out, s, len);
    }
}

static void put(struct jw *w, const char *s)
{
    put_n(w, s, strlen(s));
}

static void put_str(struct jw *w, const char *s, size_t len)
{
    if (w->rc == 0) {
        w->rc = json_write_string(w->out, s, len);
    }
}

static void put_cstr(struct jw *w, const char *s)
{
    put_str(w, s, strlen(s));
}

static void put_int(struct jw *w, int64_t v)
{
    if (w->rc == 0) {
        w->rc = buf_printf(w->out, "%" PRId64, v);
    }
}

/* 32 bytes as a quoted lowercase hex string. */
static void put_hex32(struct jw *w, const uint8_t bytes[32])
{
    char hex[66];
    hex[0] = '"';
    hex_encode(bytes, 32, hex + 1);
    hex[65] = '"';
    put_n(w, hex, sizeof(hex));
}

/* Replaces the raw bytes out[at..len) with one JSON string holding prefix
 * followed by them, escaped by json_write_string. The escaped copy is
 * written after the raw bytes and moved down over them; reserving the
 * worst case first (every byte as \u00XX) guarantees that json_write_string
 * never reallocates the buffer it is reading from. */
static void quote_tail(struct jw *w, size_t at, const char *prefix, size_t prefix_len)
{
    struct buf *b = w->out;
    if (w->rc != 0) {
        return;
    }
    size_t len = b->len - at;
    if (len > (SIZE_MAX - 8 - prefix_len) / 7) {
        w->rc = OST_ENOMEM;
        return;
    }
    w->rc = buf_reserve(b, 6 * len + 2 + prefix_len);
    if (w->rc != 0) {
        return;
    }
    size_t esc_at = b->len;
    w->rc = json_write_string(b, b->data + at, len);
    if (w->rc != 0) {
        return;
    }
    size_t esc_len = b->len - esc_at; /* with both quotes */
    memmove(b->data + at + 1 + prefix_len, b->data + esc_at + 1, esc_len - 1);
    b->data[at] = '"';
    memcpy(b->data + at + 1, prefix, prefix_len);
    b->len = at + prefix_len + esc_len;
}

/* "<letter>:<value>" for raw value bytes. */
static void put_tag_term(struct jw *w, char letter, const uint8_t *value, size_t len)
{
    const char prefix[2] = { letter, ':' };
    size_t at = w->out->len;
    put_n(w, (const char *)value, len);
    quote_tail(w, at, prefix, sizeof(prefix));
}

/* "<letter>:<value>" for a value as it is written in an event. */
static void put_tag_term_json(struct jw *w, char letter, const struct json_str *value)
{
    const char prefix[2] = { letter, ':' };
    if (!value->has_escapes) {
        put_n(w, "\"", 1);
        put_n(w, prefix, sizeof(prefix));
        put_n(w, value->p, value->len);
        put_n(w, "\"", 1);
        return;
    }
    size_t at = w->out->len;
    if (w->rc == 0) {
        w->rc = json_str_decode(value, w->out);
    }
    quote_tail(w, at, prefix, sizeof(prefix));
}

/* Address hashing */

static _Noreturn void hash_failed(void)
{
    /* Only an allocation inside OpenSSL can fail here, and a document id
     * has no error value to fall back on. */
    log_error("store_os_dsl: SHA-256 failed (out of memory)");
    abort();
}

struct addr_hash {
    EVP_MD_CTX *md;
};

static void ah_update(struct addr_hash *h, const void *p, size_t len)
{
    if (len > 0 && EVP_DigestUpdate(h->md, p, len) != 1) {
        hash_failed();
    }
}

static void ah_begin(struct addr_hash *h, uint32_t kind, const uint8_t pubkey[32])
{
    char text[16 + 64 + 1];
    h->md = EVP_MD_CTX_new();
    if (h->md == NULL || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) {
        hash_failed();
    }
    int n = snprintf(text, 16, "%" PRIu32 ":", kind);
    hex_encode(pubkey, 32, text + n);
    text[n + 64] = ':';
    ah_update(h, text, (size_t)n + 65);
}

/* Feeds the unescaped bytes of s, as json_str_decode would produce them. */
static void ah_update_json(struct addr_hash *h, const struct json_str *s)
{
    const char *p = s->p, *end = s->p + s->len;
    while (p < end) {
        const char *bs = s->has_escapes ? memchr(p, '\\', (size_t)(end - p)) : NULL;
        ah_update(h, p, (size_t)((bs != NULL ? bs : end) - p));
        if (bs == NULL) {
            break;
        }
        uint32_t cp;
        char utf8[4];
        p = json_unescape(bs, &cp);
        ah_update(h, utf8, json_utf8_encode(cp, utf8));
    }
}

static void ah_finish(struct addr_hash *h, char out[STORE_OS_DOC_ID_CAP])
{
    uint8_t digest[32];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(h->md, digest, &n) != 1 || n != 32) {
        hash_failed();
    }
    EVP_MD_CTX_free(h->md);
    h->md = NULL;
    out[0] = 'a';
    out[1] = ':';
    hex_encode(digest, 32, out + 2);
    out[66] = '\0';
}

/* NIP-01: the d of an addressable event is the second element of its first
 * tag named "d", read the way the matcher reads tag names; false for "" (no
 * such tag, or one without a value). */
static bool find_d_tag(const struct event *ev, struct json_str *d)
{
    struct event_tag_iter tags, fields;
    struct json_str name;
    event_tags_begin(ev, &tags);
    while (event_tags_next(&tags, &fields)) {
        if (event_tag_next_str(&fields, &name) && filter_tag_letter(&name) == 'd') {
            return event_tag_next_str(&fields, d);
        }
    }
    return false;
}

/* Index bodies */

/* The translog is written to disk before a write is acknowledged
 * ("request", OpenSearch's default, stated so that an index template
 * cannot quietly weaken what OK true means). The events index also gets
 * the NIP-50 analyzer: words are runs of Unicode letters and digits,
 * lower-cased and folded to ASCII, as SQLite's unicode61 tokenizer with
 * diacritics removed splits them, so both backends find the same words. */
static void put_settings(struct jw *w, const struct store_os_index_opts *o, bool has_analyzer)
{
    put(w, "\"settings\":{\"number_of_shards\":");
    put_int(w, o->shards != 0 ? o->shards : 1);
    put(w, ",\"number_of_replicas\":");
    put_int(w, o->replicas);
    put(w, ",\"refresh_interval\":");
    put_cstr(w, o->refresh_interval != NULL ? o->refresh_interval : "1s");
    put(w, ",\"translog\":{\"durability\":\"request\"}");
    if (has_analyzer) {
        put(w, ",\"analysis\":{\"tokenizer\":{\"" STORE_OS_ANALYZER "\":{\"type\":\"pattern\","
               "\"pattern\":\"[^\\\\p{L}\\\\p{N}]+\"}},\"analyzer\":{\"" STORE_OS_ANALYZER
               "\":{\"type\":\"custom\",\"tokenizer\":\"" STORE_OS_ANALYZER "\","
               "\"filter\":[\"lowercase\",\"asciifolding\"]}}}");
    }
    put(w, "}");
}

static void put_mappings_head(struct jw *w)
{
    put(w, "\"mappings\":{\"dynamic\":\"strict\",\"_meta\":{\"ostrich_schema\":");
    put_int(w, STORE_OS_SCHEMA_VERSION);
    put(w, "},\"properties\":{");
}

int store_os_dsl_events_index(const struct store_os_index_opts *o, struct buf *out)
{
    struct jw w = { out, 0 };
    put(&w, "{");
    put_settings(&w, o, true);
    put(&w, ",");
    put_mappings_head(&w);
    put(&w, "\"id\":{\"type\":\"keyword\"},"
            "\"pubkey\":{\"type\":\"keyword\"},"
            "\"kind\":{\"type\":\"integer\"},"
            "\"created_at\":{\"type\":\"long\"},"
            "\"tags\":{\"type\":\"keyword\",\"ignore_above\":");
    put_int(&w, STORE_OS_TAG_IGNORE_ABOVE);
    put(&w, "},\"expiration\":{\"type\":\"long\"},"
            "\"content\":{\"type\":\"text\",\"analyzer\":\"" STORE_OS_ANALYZER "\"},"
            "\"raw\":{\"type\":\"object\",\"enabled\":false}}}}");
    return w.rc;
}

int store_os_dsl_deletions_index(const struct store_os_index_opts *o, struct buf *out)
{
    struct jw w = { out, 0 };
    put(&w, "{");
    put_settings(&w, o, false);
    put(&w, ",");
    put_mappings_head(&w);
    put(&w, "\"created_at\":{\"type\":\"long\"}}}}");
    return w.rc;
}

/* Document ids and versions */

void store_os_dsl_addr_doc_id(uint32_t kind, const uint8_t pubkey[32], const char *d, size_t d_len,
                              char out[STORE_OS_DOC_ID_CAP])
{
    struct addr_hash h;
    ah_begin(&h, kind, pubkey);
    if (!event_kind_is_replaceable(kind)) {
        ah_update(&h, d, d_len);
    }
    ah_finish(&h, out);
}

void store_os_dsl_event_doc_id(const struct event *ev, char out[STORE_OS_DOC_ID_CAP])
{
    if (!event_kind_is_replaceable(ev->kind) && !event_kind_is_addressable(ev->kind)) {
        hex_encode(ev->id, 32, out);
        out[64] = '\0';
        return;
    }
    struct addr_hash h;
    struct json_str d;
    ah_begin(&h, ev->kind, ev->pubkey);
    if (event_kind_is_addressable(ev->kind) && find_d_tag(ev, &d)) {
        ah_update_json(&h, &d);
    }
    ah_finish(&h, out);
}

int64_t store_os_dsl_version(const struct event *ev)
{
    uint64_t t = ev->created_at < 0                     ? 0
                 : ev->created_at > (int64_t)UINT32_MAX ? UINT32_MAX
                                                        : (uint64_t)ev->created_at;
    uint32_t id31 = ((uint32_t)ev->id[0] << 24 | (uint32_t)ev->id[1] << 16 |
                     (uint32_t)ev->id[2] << 8 | ev->id[3]) >>
                    1;
    return (int64_t)(t << 31 | (0x7fffffffu - id31));
}

/* _bulk lines */

static void put_action(struct jw *w, const char *op, const char *index, const char *doc_id)
{
    put(w, "{\"");
    put(w, op);
    put(w, "\":{\"_index\":");
    put_cstr(w, index);
    put(w, ",\"_id\":");
    put_cstr(w, doc_id);
}

static void put_versioned_end(struct jw *w, int64_t version, const char *type)
{
    put(w, ",\"version\":");
    put_int(w, version < 0 ? 0 : version);
    put(w, ",\"version_type\":\"");
    put(w, type);
    put(w, "\"}}\n");
}

static void put_doc_tags(struct jw *w, const struct event *ev)
{
    struct event_tag_iter tags, fields;
    struct json_str name, value;
    bool is_first = true;
    put(w, "[");
    event_tags_begin(ev, &tags);
    while (event_tags_next(&tags, &fields)) {
        char letter;
        if (!event_tag_next_str(&fields, &name) || (letter = filter_tag_letter(&name)) == 0 ||
            !event_tag_next_str(&fields, &value)) {
            continue;
        }
        put(w, is_first ? "" : ",");
        put_tag_term_json(w, letter, &value);
        is_first = false;
    }
    put(w, "]");
}

int store_os_dsl_bulk_event(const char *index, const struct event *ev, struct buf *out)
{
    struct jw w = { out, 0 };
    char doc_id[STORE_OS_DOC_ID_CAP];
    store_os_dsl_event_doc_id(ev, doc_id);
    if (event_kind_is_replaceable(ev->kind) || event_kind_is_addressable(ev->kind)) {
        put_action(&w, "index", index, doc_id);
        put_versioned_end(&w, store_os_dsl_version(ev), "external");
    } else {
        put_action(&w, "create", index, doc_id);
        put(&w, "}}\n");
    }
    put(&w, "{\"id\":");
    put_hex32(&w, ev->id);
    put(&w, ",\"pubkey\":");
    put_hex32(&w, ev->pubkey);
    put(&w, ",\"kind\":");
    put_int(&w, ev->kind);
    put(&w, ",\"created_at\":");
    put_int(&w, ev->created_at);
    put(&w, ",\"tags\":");
    put_doc_tags(&w, ev);
    if (ev->expiration != 0) {
        put(&w, ",\"expiration\":");
        put_int(&w, ev->expiration);
    }
    /* The parser accepted the content as JSON string content, so its
     * escaped bytes are copied as they are. */
    put(&w, ",\"content\":\"");
    put_n(&w, ev->content.p, ev->content.len);
    put(&w, "\",\"raw\":");
    put_str(&w, ev->json, ev->json_len);
    put(&w, "}\n");
    return w.rc;
}

static void put_tomb_doc(struct jw *w, int64_t created_at)
{
    put(w, "{\"created_at\":");
    put_int(w, created_at);
    put(w, "}\n");
}

void store_os_dsl_tomb_id_doc_id(const uint8_t ev_id[32], const uint8_t pubkey[32],
                                 char out[STORE_OS_DOC_ID_CAP])
{
    out[0] = 'i';
    out[1] = ':';
    hex_encode(ev_id, 32, out + 2);
    out[66] = ':';
    hex_encode(pubkey, 32, out + 67);
    out[131] = '\0';
}

void store_os_dsl_tomb_vanish_doc_id(const uint8_t pubkey[32], char out[STORE_OS_DOC_ID_CAP])
{
    out[0] = 'v';
    out[1] = ':';
    hex_encode(pubkey, 32, out + 2);
    out[66] = '\0';
}

int store_os_dsl_bulk_tomb_id(const char *del_index, const uint8_t ev_id[32],
                              const uint8_t pubkey[32], int64_t created_at, struct buf *out)
{
    struct jw w = { out, 0 };
    char doc_id[STORE_OS_DOC_ID_CAP];
    store_os_dsl_tomb_id_doc_id(ev_id, pubkey, doc_id);
    put_action(&w, "index", del_index, doc_id);
    put(&w, "}}\n");
    put_tomb_doc(&w, created_at);
    return w.rc;
}

int store_os_dsl_bulk_tomb_addr(const char *del_index, const struct store_addr *a,
                                int64_t created_at, struct buf *out)
{
    struct jw w = { out, 0 };
    char doc_id[STORE_OS_DOC_ID_CAP];
    store_os_dsl_addr_doc_id(a->kind, a->pubkey, a->d, a->d_len, doc_id);
    put_action(&w, "index", del_index, doc_id);
    put_versioned_end(&w, created_at, "external_gte");
    put_tomb_doc(&w, created_at);
    return w.rc;
}

int store_os_dsl_bulk_tomb_vanish(const char *del_index, const uint8_t pubkey[32],
                                  int64_t created_at, struct buf *out)
{
    struct jw w = { out, 0 };
    char doc_id[STORE_OS_DOC_ID_CAP];
    store_os_dsl_tomb_vanish_doc_id(pubkey, doc_id);
    put_action(&w, "index", del_index, doc_id);
    put_versioned_end(&w, created_at, "external_gte");
    put_tomb_doc(&w, created_at);
    return w.rc;
}

/* Queries */

/* Writes "," before every item but the first of a list. */
static void put_sep(struct jw *w, bool *is_first)
{
    put(w, *is_first ? "" : ",");
    *is_first = false;
}

static void put_terms_hex(struct jw *w, const char *field, const uint8_t (*v)[32], size_t n)
{
    put(w, "{\"terms\":{\"");
    put(w, field);
    put(w, "\":[");
    for (size_t i = 0; i < n; i++) {
        put(w, i == 0 ? "" : ",");
        put_hex32(w, v[i]);
    }
    put(w, "]}}");
}

/* The "filter" clauses of f; is_first is false once one is written. */
static void put_filter_clauses(struct jw *w, const struct filter *f, bool *is_first)
{
    const uint8_t(*hex32)[32];
    const uint32_t *kinds;
    const struct filter_tag_cond *conds;
    int64_t since, until;
    size_t n;
    if ((n = filter_ids(f, &hex32)) > 0) {
        put_sep(w, is_first);
        put_terms_hex(w, "id", hex32, n);
    }
    if ((n = filter_authors(f, &hex32)) > 0) {
        put_sep(w, is_first);
        put_terms_hex(w, "pubkey", hex32, n);
    }
    if ((n = filter_kinds(f, &kinds)) > 0) {
        put_sep(w, is_first);
        put(w, "{\"terms\":{\"kind\":[");
        for (size_t i = 0; i < n; i++) {
            put(w, i == 0 ? "" : ",");
            put_int(w, kinds[i]);
        }
        put(w, "]}}");
    }
    bool has_since = filter_since(f, &since), has_until = filter_until(f, &until);
    if (has_since || has_until) {
        put_sep(w, is_first);
        put(w, "{\"range\":{\"created_at\":{");
        if (has_since) {
            put(w, "\"gte\":");
            put_int(w, since);
        }
        if (has_until) {
            put(w, has_since ? ",\"lte\":" : "\"lte\":");
            put_int(w, until);
        }
        put(w, "}}}");
    }
    n = filter_tag_conds(f, &conds);
    for (size_t i = 0; i < n; i++) {
        put_sep(w, is_first);
        put(w, "{\"terms\":{\"tags\":[");
        for (uint32_t j = 0; j < conds[i].n_values; j++) {
            put(w, j == 0 ? "" : ",");
            put_tag_term(w, conds[i].letter, conds[i].values[j], conds[i].value_lens[j]);
        }
        put(w, "]}}");
    }
}

/* True when f has a field that becomes a "filter" clause. */
static bool has_filter_clauses(const struct filter *f)
{
    const uint8_t(*hex32)[32];
    const uint32_t *kinds;
    const struct filter_tag_cond *conds;
    int64_t t;
    return filter_ids(f, &hex32) > 0 || filter_authors(f, &hex32) > 0 ||
           filter_kinds(f, &kinds) > 0 || filter_tag_conds(f, &conds) > 0 || filter_since(f, &t) ||
           filter_until(f, &t);
}

static void put_filter_query(struct jw *w, const struct filter *f, int64_t now)
{
    const uint8_t *const *terms;
    const uint32_t *lens;
    if (filter_never_matches(f)) {
        put(w, "{\"match_none\":{}}");
        return;
    }
    put(w, "{\"bool\":{");
    if (has_filter_clauses(f)) {
        bool is_first = true;
        put(w, "\"filter\":[");
        put_filter_clauses(w, f, &is_first);
        put(w, "],");
    }
    size_t n = filter_search_terms(f, &terms, &lens);
    if (n > 0) {
        put(w, "\"must\":[{\"match\":{\"content\":{\"query\":");
        size_t q_at = w->out->len;
        for (size_t i = 0; i < n; i++) {
            put_n(w, " ", i == 0 ? 0 : 1);
            put_n(w, (const char *)terms[i], lens[i]);
        }
        quote_tail(w, q_at, "", 0);
        put(w, ",\"operator\":\"and\"}}}],");
    }
    put(w, "\"must_not\":[{\"range\":{\"expiration\":{\"lte\":");
    put_int(w, now);
    put(w, "}}}]}}");
}

/* {"bool":{"should":[...],"minimum_should_match":1}} over filters. */
static void put_any_query(struct jw *w, const struct filter *const *filters, size_t n, int64_t now)
{
    put(w, "{\"bool\":{\"should\":[");
    for (size_t i = 0; i < n; i++) {
        put(w, i == 0 ? "" : ",");
        put_filter_query(w, filters[i], now);
    }
    put(w, "],\"minimum_should_match\":1}}");
}

int store_os_dsl_filter_query(const struct filter *f, int64_t now, struct buf *out)
{
    struct jw w = { out, 0 };
    put_filter_query(&w, f, now);
    return w.rc;
}

int store_os_dsl_search_body(const struct filter *f, int64_t now, uint32_t size,
                             const char *search_after, size_t search_after_len, struct buf *out)
{
    struct jw w = { out, 0 };
    const uint8_t *const *terms;
    const uint32_t *lens;
    put(&w, "{\"size\":");
    put_int(&w, size);
    put(&w, ",\"query\":");
    put_filter_query(&w, f, now);
    put(&w, ",\"sort\":[");
    if (filter_search_terms(f, &terms, &lens) > 0) {
        put(&w, "\"_score\",");
    }
    put(&w, "{\"created_at\":\"desc\"},{\"id\":\"asc\"}],"
            "\"_source\":[\"raw\"],\"track_total_hits\":false");
    if (search_after != NULL) {
        put(&w, ",\"search_after\":");
        put_n(&w, search_after, search_after_len);
    }
    put(&w, "}");
    return w.rc;
}

int store_os_dsl_count_body(const struct filter *const *filters, size_t n, int64_t now,
                            struct buf *out)
{
    if (n == 0) {
        return OST_EINVAL;
    }
    struct jw w = { out, 0 };
    put(&w, "{\"query\":");
    put_any_query(&w, filters, n, now);
    put(&w, "}");
    return w.rc;
}

int store_os_dsl_pubkeys_body(const struct filter *const *filters, size_t n, int64_t now,
                              uint32_t page_size, const char *after_key, size_t after_key_len,
                              struct buf *out)
{
    if (n == 0) {
        return OST_EINVAL;
    }
    struct jw w = { out, 0 };
    put(&w, "{\"size\":0,\"track_total_hits\":false,\"query\":");
    put_any_query(&w, filters, n, now);
    put(&w, ",\"aggs\":{\"pubkeys\":{\"composite\":{\"size\":");
    put_int(&w, page_size);
    put(&w, ",\"sources\":[{\"pubkey\":{\"terms\":{\"field\":\"pubkey\"}}}]");
    if (after_key != NULL) {
        put(&w, ",\"after\":");
        put_n(&w, after_key, after_key_len);
    }
    put(&w, "}}}}");
    return w.rc;
}

static void put_created_lte(struct jw *w, int64_t created_at)
{
    put(w, "{\"range\":{\"created_at\":{\"lte\":");
    put_int(w, created_at);
    put(w, "}}}");
}

int store_os_dsl_delete_ids_body(const uint8_t (*ids)[32], size_t n, const uint8_t *pubkey,
                                 bool is_keep_kind5, struct buf *out)
{
    struct jw w = { out, 0 };
    put(&w, "{\"query\":{\"bool\":{\"filter\":[");
    put_terms_hex(&w, "id", ids, n);
    if (pubkey != NULL) {
        put(&w, ",{\"term\":{\"pubkey\":");
        put_hex32(&w, pubkey);
        put(&w, "}}");
    }
    put(&w, "]");
    if (is_keep_kind5) {
        put(&w, ",\"must_not\":[{\"term\":{\"kind\":");
        put_int(&w, KIND_DELETION);
        put(&w, "}}]");
    }
    put(&w, "}}}");
    return w.rc;
}

int store_os_dsl_delete_addr_body(const struct store_addr *a, int64_t created_at, struct buf *out)
{
    struct jw w = { out, 0 };
    char doc_id[STORE_OS_DOC_ID_CAP];
    store_os_dsl_addr_doc_id(a->kind, a->pubkey, a->d, a->d_len, doc_id);
    put(&w, "{\"query\":{\"bool\":{\"filter\":[{\"ids\":{\"values\":[");
    put_cstr(&w, doc_id);
    put(&w, "]}},");
    put_created_lte(&w, created_at);
    put(&w, "]}}}");
    return w.rc;
}

int store_os_dsl_delete_vanish_body(const uint8_t pubkey[32], int64_t created_at,
                                    const uint8_t keep_id[32], struct buf *out)
{
    struct jw w = { out, 0 };
    put(&w, "{\"query\":{\"bool\":{\"filter\":[{\"term\":{\"pubkey\":");
    put_hex32(&w, pubkey);
    put(&w, "}},");
    put_created_lte(&w, created_at);
    put(&w, "]");
    if (keep_id != NULL) {
        put(&w, ",\"must_not\":[{\"term\":{\"id\":");
        put_hex32(&w, keep_id);
        put(&w, "}}]");
    }
    put(&w, "}}}");
    return w.rc;
}

int store_os_dsl_expired_body(int64_t now, struct buf *out)
{
    struct jw w = { out, 0 };
    put(&w, "{\"query\":{\"range\":{\"expiration\":{\"lte\":");
    put_int(&w, now);
    put(&w, "}}}}");
    return w.rc;
}

int store_os_dsl_expired_search_body(int64_t now, uint32_t size, struct buf *out)
{
    struct jw w = { out, 0 };
    put(&w, "{\"size\":");
    put_int(&w, size);
    put(&w, ",\"query\":{\"range\":{\"expiration\":{\"lte\":");
    put_int(&w, now);
    put(&w, "}}},\"sort\":[{\"expiration\":\"asc\"},{\"id\":\"asc\"}],\"_source\":[\"raw\"],"
            "\"track_total_hits\":false}");
    return w.rc;
}
