/*
 * RFC 6455 frame writing and header reading for the bench tools. Stateless;
 * the caller owns every buffer.
 */
#include "bench/wsframe.h"

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "common/buf.h"
#include "common/err.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

void wsframe_accept(const char *key, size_t key_len, char out[WSFRAME_ACCEPT_LEN + 1])
{
    /* A key is the base64 of 16 bytes (24 characters); a longer one is cut,
     * which makes the answer wrong, as it should be. */
    char text[128];
    size_t n = key_len < 64 ? key_len : 64;
    memcpy(text, key, n);
    memcpy(text + n, WS_GUID, sizeof(WS_GUID) - 1);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)text, n + sizeof(WS_GUID) - 1, digest);
    EVP_EncodeBlock((unsigned char *)out, digest, sizeof(digest));
}

void wsframe_unmask(uint8_t *p, size_t len, const uint8_t mask[4])
{
    uint8_t pat[8];
    uint64_t k8;
    size_t i = 0;
    memcpy(pat, mask, 4);
    memcpy(pat + 4, mask, 4);
    memcpy(&k8, pat, 8);
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w ^= k8;
        memcpy(p + i, &w, 8);
    }
    for (; i < len; i++) {
        p[i] ^= mask[i & 3];
    }
}

int wsframe_append(struct buf *out, enum wsframe_op op, const char *const *parts,
                   const size_t *lens, size_t n, const uint8_t *mask)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        len += lens[i];
    }
    if (buf_reserve(out, WSFRAME_MAX_HEADER + len) < 0) {
        return OST_ENOMEM;
    }
    uint8_t *h = (uint8_t *)out->data + out->len;
    uint8_t mask_bit = mask != NULL ? 0x80 : 0;
    size_t hlen = 2;
    h[0] = (uint8_t)(0x80 | op);
    if (len < 126) {
        h[1] = (uint8_t)(mask_bit | len);
    } else if (len <= 0xffff) {
        h[1] = mask_bit | 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        hlen = 4;
    } else {
        h[1] = mask_bit | 127;
        for (int i = 0; i < 8; i++) {
            h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        }
        hlen = 10;
    }
    if (mask != NULL) {
        memcpy(h + hlen, mask, 4);
        hlen += 4;
    }
    uint8_t *payload = h + hlen;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(payload + off, parts[i], lens[i]);
        off += lens[i];
    }
    if (mask != NULL) {
        wsframe_unmask(payload, len, mask);
    }
    out->len += hlen + len;
    return 0;
}

int wsframe_parse(const uint8_t *p, size_t avail, uint64_t max_len, struct wsframe *f,
                  const char **reason)
{
    if (avail < 2) {
        return 0;
    }
    size_t hlen = 2;
    uint64_t len = p[1] & 0x7f;
    if (len == 126) {
        hlen = 4;
    } else if (len == 127) {
        hlen = 10;
    }
    bool is_masked = (p[1] & 0x80) != 0;
    if (avail < hlen + (is_masked ? 4 : 0)) {
        return 0;
    }
    if (hlen == 4) {
        len = (uint64_t)p[2] << 8 | p[3];
    } else if (hlen == 10) {
        len = 0;
        for (int i = 0; i < 8; i++) {
            len = len << 8 | p[2 + i];
        }
    }
    enum wsframe_op op = (enum wsframe_op)(p[0] & 0x0f);
    bool is_fin = (p[0] & 0x80) != 0;
    if ((p[0] & 0x70) != 0) {
        *reason = "reserved bits set in a frame";
        return OST_EPARSE;
    }
    if (op >= WSFRAME_CLOSE && (!is_fin || len > 125)) {
        *reason = "fragmented or long control frame";
        return OST_EPARSE;
    }
    if (op != WSFRAME_CONT && op != WSFRAME_TEXT && op != WSFRAME_BINARY && op != WSFRAME_CLOSE &&
        op != WSFRAME_PING && op != WSFRAME_PONG) {
        *reason = "unknown frame opcode";
        return OST_EPARSE;
    }
    if (len > max_len) {
        *reason = "frame larger than the largest message accepted";
        return OST_EPARSE;
    }
    *f = (struct wsframe){ .is_fin = is_fin, .is_masked = is_masked, .op = op, .len = len };
    if (is_masked) {
        memcpy(f->mask, p + hlen, 4);
        hlen += 4;
    }
    f->header_len = hlen;
    return 1;
}
