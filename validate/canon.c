/*
 * NIP-01 canonical serialization and event ids.
 *
 * Strings are transcoded straight from their JSON form: a string without
 * escapes is already canonical (JSON forbids raw control characters, quotes
 * and backslashes inside strings), so only strings with escapes are decoded
 * and re-escaped. SHA-256 runs on OpenSSL's EVP interface with the digest
 * fetched once per context, which avoids a provider lookup per event.
 */
#include "validate/canon.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/err.h"
#include "common/hex.h"
#include "common/json.h"
#include "validate/event.h"

int canon_ctx_init(struct canon_ctx *c)
{
    buf_init(&c->scratch);
    c->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    c->md_ctx = EVP_MD_CTX_new();
    if (c->md == NULL || c->md_ctx == NULL) {
        EVP_MD_CTX_free(c->md_ctx);
        EVP_MD_free(c->md);
        return OST_ENOMEM;
    }
    return 0;
}

void canon_ctx_fini(struct canon_ctx *c)
{
    EVP_MD_CTX_free(c->md_ctx);
    EVP_MD_free(c->md);
    c->md_ctx = NULL;
    c->md = NULL;
    buf_fini(&c->scratch);
}

int canon_sha256(struct canon_ctx *c, const void *data, size_t len, uint8_t out[32])
{
    unsigned int n = 0;
    if (EVP_DigestInit_ex2(c->md_ctx, c->md, NULL) != 1 ||
        EVP_DigestUpdate(c->md_ctx, data, len) != 1 ||
        EVP_DigestFinal_ex(c->md_ctx, out, &n) != 1 || n != 32) {
        return OST_ENOMEM;
    }
    return 0;
}

/* Appends the escaped body of s in canonical form (without quotes). Sets
 * *has_other_ctrl when s holds a control character outside NIP-01's seven
 * escapes, the only case where the two styles differ. */
static int put_string(struct buf *out, const struct json_str *s, enum canon_style style,
                      bool *has_other_ctrl)
{
    static const char hexd[] = "0123456789abcdef";
    if (!s->has_escapes) {
        return buf_append(out, s->p, s->len);
    }
    const char *p = s->p, *end = s->p + s->len;
    int rc = buf_reserve(out, s->len);
    while (rc == 0 && p < end) {
        const char *bs = memchr(p, '\\', (size_t)(end - p));
        const char *run_end = bs ? bs : end;
        rc = buf_append(out, p, (size_t)(run_end - p));
        if (bs == NULL || rc < 0) {
            break;
        }
        uint32_t cp;
        p = json_unescape(bs, &cp);
        char esc[6] = { '\\', json_short_escape(cp), 0, 0, 0, 0 };
        if (esc[1] == 0 && cp < 0x20) {
            *has_other_ctrl = true;
            if (style == CANON_JSON_ESC) {
                memcpy(esc + 1, "u00", 3);
                esc[4] = hexd[cp >> 4];
                esc[5] = hexd[cp & 15];
                rc = buf_append(out, esc, 6);
                continue;
            }
        }
        if (esc[1] == 0) {
            rc = json_utf8_append(out, cp);
            continue;
        }
        rc = buf_append(out, esc, 2);
    }
    return rc;
}

static int serialize(const struct event *ev, enum canon_style style, struct buf *out,
                     bool *has_other_ctrl)
{
    char head[128];
    char pk[64];
    hex_encode(ev->pubkey, 32, pk);
    int n = snprintf(head, sizeof(head), "[0,\"%.64s\",%" PRId64 ",%" PRIu32 ",", pk,
                     ev->created_at, ev->kind);
    int rc = buf_reserve(out, (size_t)n + ev->tags_len + ev->content.len + 8);
    if (rc < 0) {
        return rc;
    }
    rc = buf_append(out, head, (size_t)n);

    struct event_tag_iter tags, fields;
    struct json_str s;
    bool first_tag = true;
    rc = rc ? rc : buf_append_char(out, '[');
    event_tags_begin(ev, &tags);
    while (rc == 0 && event_tags_next(&tags, &fields)) {
        rc = buf_append(out, first_tag ? "[" : ",[", first_tag ? 1 : 2);
        first_tag = false;
        bool first_str = true;
        while (rc == 0 && event_tag_next_str(&fields, &s)) {
            rc = buf_append(out, first_str ? "\"" : ",\"", first_str ? 1 : 2);
            first_str = false;
            rc = rc ? rc : put_string(out, &s, style, has_other_ctrl);
            rc = rc ? rc : buf_append_char(out, '"');
        }
        rc = rc ? rc : buf_append_char(out, ']');
    }
    rc = rc ? rc : buf_append(out, "],\"", 3);
    rc = rc ? rc : put_string(out, &ev->content, style, has_other_ctrl);
    rc = rc ? rc : buf_append(out, "\"]", 2);
    return rc;
}

int canon_serialize(const struct event *ev, enum canon_style style, struct buf *out)
{
    bool ignored = false;
    size_t len = out->len;
    int rc = serialize(ev, style, out, &ignored);
    if (rc < 0) {
        out->len = len;
    }
    return rc;
}

static int compute_id(struct canon_ctx *c, const struct event *ev, enum canon_style style,
                      uint8_t id[32], bool *has_other_ctrl)
{
    buf_reset(&c->scratch);
    int rc = serialize(ev, style, &c->scratch, has_other_ctrl);
    if (rc == 0) {
        rc = canon_sha256(c, c->scratch.data, c->scratch.len, id);
    }
    return rc;
}

int canon_compute_id(struct canon_ctx *c, const struct event *ev, enum canon_style style,
                     uint8_t id[32])
{
    bool ignored = false;
    return compute_id(c, ev, style, id, &ignored);
}

int canon_check_id(struct canon_ctx *c, const struct event *ev)
{
    uint8_t id[32];
    bool has_other_ctrl = false;
    int rc = compute_id(c, ev, CANON_NIP01, id, &has_other_ctrl);
    if (rc < 0) {
        return rc;
    }
    if (memcmp(id, ev->id, 32) == 0) {
        return 0;
    }
    if (!has_other_ctrl) {
        return OST_EBADID;
    }
    rc = compute_id(c, ev, CANON_JSON_ESC, id, &has_other_ctrl);
    if (rc < 0) {
        return rc;
    }
    return memcmp(id, ev->id, 32) == 0 ? 0 : OST_EBADID;
}
