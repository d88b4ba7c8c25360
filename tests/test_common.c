/* Tests for the small common helpers: hex, buf, err, log levels. */
#include <string.h>

#include "check.h"
#include "common/buf.h"
#include "common/hex.h"
#include "common/log.h"

static void test_hex(void)
{
    uint8_t out[4] = { 0 }, ref[4] = { 0x01, 0xab, 0xef, 0x90 };
    CHECK_OK(hex_decode_lower("01abef90", 4, out));
    CHECK_MEM_EQ(out, ref, 4);
    uint8_t untouched[2] = { 0x55, 0x55 };
    CHECK_INT_EQ(hex_decode_lower("01AB", 2, untouched), OST_EINVAL);
    CHECK_INT_EQ(untouched[0], 0x55); /* out is written only on success */
    CHECK_INT_EQ(hex_decode_lower("0g", 1, out), OST_EINVAL);
    CHECK_INT_EQ(hex_decode_lower("0 ", 1, out), OST_EINVAL);
    CHECK_INT_EQ(hex_decode_lower("\0"
                                  "0",
                                  1, out),
                 OST_EINVAL);
    CHECK_OK(hex_decode_any("01ABEF90", 4, out));
    CHECK_MEM_EQ(out, ref, 4);
    char enc[8];
    hex_encode(ref, 4, enc);
    CHECK(memcmp(enc, "01abef90", 8) == 0);
    /* Every byte value round-trips. */
    for (int v = 0; v < 256; v++) {
        uint8_t b = (uint8_t)v, back;
        char h[2];
        hex_encode(&b, 1, h);
        CHECK_OK(hex_decode_lower(h, 1, &back));
        CHECK_INT_EQ(back, v);
    }
}

static void test_buf(void)
{
    struct buf b;
    buf_init(&b);
    int rc = 0;
    for (int i = 0; i < 1000 && rc == 0; i++) {
        rc = buf_append_char(&b, (char)('a' + i % 26));
    }
    rc = rc ? rc : buf_printf(&b, "[%d:%s]", 42, "x");
    rc = rc ? rc : buf_append_str(&b, "end");
    const char *s = buf_cstr(&b);
    size_t len = b.len;
    int tail_ok = s && strcmp(s + 1000, "[42:x]end") == 0 && s[0] == 'a' && s[999] == 'l';
    buf_reset(&b);
    size_t len_after_reset = b.len;
    buf_fini(&b);
    CHECK_OK(rc);
    CHECK_INT_EQ(len, 1009);
    CHECK(tail_ok);
    CHECK_INT_EQ(len_after_reset, 0);
    CHECK(b.data == NULL);
}

static void test_strerror_and_levels(void)
{
    CHECK_STR_EQ(ost_strerror(0), "success");
    CHECK_STR_EQ(ost_strerror(OST_EBADSIG), "bad signature");
    CHECK_STR_EQ(ost_strerror(OST_ENOMEM), "Cannot allocate memory");
    CHECK_STR_EQ(ost_strerror(-99999), "unknown error");
    enum log_level lv;
    CHECK_OK(log_level_parse("debug", &lv));
    CHECK_INT_EQ(lv, LOG_LEVEL_DEBUG);
    CHECK_INT_EQ(log_level_parse("loud", &lv), OST_EINVAL);
    log_set_level(LOG_LEVEL_WARN);
    CHECK(log_enabled(LOG_LEVEL_ERROR));
    CHECK(log_enabled(LOG_LEVEL_WARN));
    CHECK(!log_enabled(LOG_LEVEL_INFO));
    log_set_level(LOG_LEVEL_INFO);
}

CHECK_MAIN({ "hex", test_hex }, { "buf", test_buf },
           { "strerror_and_levels", test_strerror_and_levels })
