/* relay/wsdeflate: the pieces of a compressed EVENT message, inflated back
 * with zlib as a client's permessage-deflate would (RFC 7692: append
 * 00 00 ff ff, raw inflate), and the reading of extension offers. */
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "check.h"
#include "common/buf.h"
#include "relay/wsdeflate.h"

/* Inflates one message's deflate stream as a receiver does (RFC 7692:
 * append 00 00 ff ff, raw inflate), with one inflater kept across messages
 * as with context takeover, which any message must survive; out gets the
 * text. Returns 0 or -1. */
static int inflate_message(z_stream *zs, const struct buf *msg, struct buf *out)
{
    struct buf in;
    buf_init(&in);
    int rc = buf_append(&in, msg->data, msg->len);
    rc = rc == 0 ? buf_append(&in, "\x00\x00\xff\xff", 4) : rc;
    buf_reset(out);
    rc = rc == 0 ? buf_reserve(out, 1 << 20) : rc;
    if (rc == 0) {
        zs->next_in = (Bytef *)in.data;
        zs->avail_in = (uInt)in.len;
        zs->next_out = (Bytef *)out->data;
        zs->avail_out = 1 << 20;
        int zrc = inflate(zs, Z_SYNC_FLUSH);
        rc = (zrc == Z_OK || zrc == Z_BUF_ERROR) && zs->avail_in == 0 ? 0 : -1;
        out->len = (1 << 20) - zs->avail_out;
    }
    buf_fini(&in);
    return rc;
}

static void test_pieces_inflate(void)
{
    struct wsdeflate z;
    memset(&z, 0, sizeof(z)); /* set up on first use */
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    CHECK_INT_EQ(inflateInit2(&zs, -15), Z_OK);
    struct buf msg, text, want, json;
    buf_init(&msg);
    buf_init(&text);
    buf_init(&want);
    buf_init(&json);
    /* Events of several sizes, one past a stored block's 65,535 bytes. */
    static const size_t sizes[] = { 0, 1, 300, 5000, 70000 };
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        buf_reset(&json);
        CHECK_OK(buf_append_str(&json, "{\"content\":\""));
        for (size_t i = 0; i < sizes[k]; i++) {
            CHECK_OK(buf_append_char(&json, (char)('a' + (i * 7 + i / 13) % 26)));
        }
        CHECK_OK(buf_append_str(&json, "\"}"));
        const char *prefix = "[\"EVENT\",\"sub \\\"1\\\"\",";
        buf_reset(&msg);
        CHECK_OK(wsdeflate_stored(prefix, strlen(prefix), &msg));
        CHECK_OK(wsdeflate_compress(&z, json.data, json.len, &msg));
        CHECK_OK(wsdeflate_stored("]", 1, &msg));
        CHECK_OK(wsdeflate_end(&msg));
        buf_reset(&want);
        CHECK_OK(buf_append_str(&want, prefix));
        CHECK_OK(buf_append(&want, json.data, json.len));
        CHECK_OK(buf_append_char(&want, ']'));
        CHECK_OK(inflate_message(&zs, &msg, &text));
        CHECK_INT_EQ(text.len, want.len);
        CHECK(memcmp(text.data, want.data, want.len) == 0);
        if (sizes[k] >= 5000) {
            CHECK(msg.len < want.len / 2); /* it does compress */
        }
    }
    /* A stored piece alone, longer than one block. */
    buf_reset(&msg);
    CHECK_OK(wsdeflate_stored(json.data, json.len, &msg));
    CHECK_INT_EQ(msg.len, json.len + 5 * ((json.len + 65534) / 65535));
    CHECK_OK(wsdeflate_end(&msg));
    CHECK_OK(inflate_message(&zs, &msg, &text));
    CHECK_INT_EQ(text.len, json.len);
    CHECK(memcmp(text.data, json.data, json.len) == 0);
    inflateEnd(&zs);
    wsdeflate_fini(&z);
    wsdeflate_fini(&z); /* twice is harmless */
    buf_fini(&msg);
    buf_fini(&text);
    buf_fini(&want);
    buf_fini(&json);
}

static void test_offers(void)
{
    static const struct {
        const char *ext;
        bool want;
    } cases[] = {
        { NULL, false },
        { "", false },
        { "permessage-deflate", true },
        { "permessage-deflate; client_max_window_bits", true },
        { "permessage-deflate; client_no_context_takeover; server_no_context_takeover", true },
        { "permessage-deflate; server_max_window_bits=15", true },
        { "permessage-deflate; server_max_window_bits=10", false },
        { "permessage-deflate; server_max_window_bits=\"9\"", false },
        { "permessage-deflate; server_max_window_bits=10, permessage-deflate", false },
        { "x-webkit-deflate-frame", false },
        { "permessage-deflatex", false },
        { "foo, permessage-deflate; client_max_window_bits=12", true },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (wsdeflate_offer_ok(cases[i].ext) != cases[i].want) {
            fprintf(stderr, "  offer: %s\n", cases[i].ext ? cases[i].ext : "(null)");
        }
        CHECK(wsdeflate_offer_ok(cases[i].ext) == cases[i].want);
    }
}

CHECK_MAIN({ "pieces_inflate", test_pieces_inflate }, { "offers", test_offers })
