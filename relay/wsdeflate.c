/* permessage-deflate pieces for relay-framed messages (see wsdeflate.h). */
#include "relay/wsdeflate.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"

/* A stored block holds at most this many bytes (its LEN field). */
#define STORED_MAX 65535u

int wsdeflate_init(struct wsdeflate *z)
{
    memset(z, 0, sizeof(*z));
    /* Negative window bits: a raw deflate stream, as RFC 7692 carries. */
    int zrc = deflateInit2(&z->zs, 1, Z_DEFLATED, -WSDEFLATE_WINDOW_BITS, 8, Z_DEFAULT_STRATEGY);
    if (zrc != Z_OK) {
        return OST_ENOMEM;
    }
    z->is_ready = true;
    return 0;
}

void wsdeflate_fini(struct wsdeflate *z)
{
    if (z->is_ready) {
        deflateEnd(&z->zs);
        z->is_ready = false;
    }
}

int wsdeflate_compress(struct wsdeflate *z, const void *in, size_t len, struct buf *out)
{
    /* Made on first use: a relay whose clients never ask pays nothing. */
    if (!z->is_ready && wsdeflate_init(z) < 0) {
        return OST_ENOMEM;
    }
    if (deflateReset(&z->zs) != Z_OK || len > UINT32_MAX) {
        return OST_EIO;
    }
    size_t bound = deflateBound(&z->zs, (uLong)len) + 16;
    int rc = buf_reserve(out, bound);
    if (rc < 0) {
        return rc;
    }
    z->zs.next_in = (Bytef *)(uintptr_t)in;
    z->zs.avail_in = (uInt)len;
    z->zs.next_out = (Bytef *)out->data + out->len;
    z->zs.avail_out = (uInt)bound;
    /* A sync flush ends the output on a byte boundary with an empty stored
     * block, so what follows can be appended as is. */
    int zrc = deflate(&z->zs, Z_SYNC_FLUSH);
    if (zrc != Z_OK || z->zs.avail_in != 0 || z->zs.avail_out == 0) {
        return OST_EIO;
    }
    out->len += bound - z->zs.avail_out;
    return 0;
}

int wsdeflate_stored(const void *in, size_t len, struct buf *out)
{
    const unsigned char *p = in;
    do {
        size_t n = len < STORED_MAX ? len : STORED_MAX;
        /* BFINAL 0, BTYPE 00, padded to the byte: one zero byte; then LEN
         * and its complement, little-endian. */
        unsigned char hdr[5] = { 0, (unsigned char)n, (unsigned char)(n >> 8), (unsigned char)~n,
                                 (unsigned char)(~n >> 8) };
        int rc = buf_append(out, hdr, sizeof(hdr));
        rc = rc == 0 ? buf_append(out, p, n) : rc;
        if (rc < 0) {
            return rc;
        }
        p += n;
        len -= n;
    } while (len > 0);
    return 0;
}

int wsdeflate_end(struct buf *out)
{
    /* BFINAL 0, BTYPE 00 (stored), padded to the byte. */
    return buf_append_char(out, 0);
}

/* Whether the parameters of one permessage-deflate offer, s[0..len),
 * leave the relay's window allowed. */
static bool params_ok(const char *s, size_t len)
{
    static const char key[] = "server_max_window_bits";
    for (size_t i = 0; i + sizeof(key) - 1 <= len; i++) {
        if (strncmp(s + i, key, sizeof(key) - 1) != 0) {
            continue;
        }
        size_t j = i + sizeof(key) - 1;
        while (j < len && (s[j] == ' ' || s[j] == '=' || s[j] == '"')) {
            j++;
        }
        int bits = 0;
        while (j < len && s[j] >= '0' && s[j] <= '9' && bits < 100) {
            bits = bits * 10 + (s[j++] - '0');
        }
        if (bits < WSDEFLATE_WINDOW_BITS) {
            return false;
        }
    }
    return true;
}

bool wsdeflate_offer_ok(const char *ext)
{
    static const char name[] = "permessage-deflate";
    bool is_offered = false;
    const char *p = ext != NULL ? ext : "";
    while (*p != '\0') {
        /* One offer: up to the next ',' (parameters follow ';'). */
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        if (len >= sizeof(name) - 1 && strncmp(p, name, sizeof(name) - 1) == 0 &&
            (len == sizeof(name) - 1 || p[sizeof(name) - 1] == ';' || p[sizeof(name) - 1] == ' ')) {
            if (!params_ok(p, len)) {
                return false;
            }
            is_offered = true;
        }
        p = end != NULL ? end + 1 : p + len;
    }
    return is_offered;
}
