/* Hex helpers; decoding goes through a 256-entry table so the hot path in
 * event parsing has no branches per character beyond the validity check. */
#include "common/hex.h"

#include <stdbool.h>

#include "common/err.h"

/* 0..15 for a lowercase hex digit, 16 for an uppercase one, 255 otherwise. */
static const uint8_t hex_table[256] = {
    ['0'] = 0 + 1,   ['1'] = 1 + 1,   ['2'] = 2 + 1,   ['3'] = 3 + 1,   ['4'] = 4 + 1,
    ['5'] = 5 + 1,   ['6'] = 6 + 1,   ['7'] = 7 + 1,   ['8'] = 8 + 1,   ['9'] = 9 + 1,
    ['a'] = 10 + 1,  ['b'] = 11 + 1,  ['c'] = 12 + 1,  ['d'] = 13 + 1,  ['e'] = 14 + 1,
    ['f'] = 15 + 1,  ['A'] = 10 + 17, ['B'] = 11 + 17, ['C'] = 12 + 17, ['D'] = 13 + 17,
    ['E'] = 14 + 17, ['F'] = 15 + 17,
};
/* Entries are stored offset by one (lowercase) or seventeen (uppercase) so
 * that the zero-initialised rest of the table means "not hex". */

static int decode(const char *src, size_t n, uint8_t *out, bool allow_upper)
{
    uint8_t bad = 0;
    for (size_t i = 0; i < 2 * n; i++) {
        uint8_t v = hex_table[(unsigned char)src[i]];
        bad |= (uint8_t)(v == 0) | (uint8_t)(!allow_upper && v > 16);
    }
    if (bad) {
        return OST_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t hi = hex_table[(unsigned char)src[2 * i]];
        uint8_t lo = hex_table[(unsigned char)src[2 * i + 1]];
        hi = (uint8_t)(hi > 16 ? hi - 17 : hi - 1);
        lo = (uint8_t)(lo > 16 ? lo - 17 : lo - 1);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int hex_decode_lower(const char *src, size_t n, uint8_t *out)
{
    return decode(src, n, out, false);
}

int hex_decode_any(const char *src, size_t n, uint8_t *out)
{
    return decode(src, n, out, true);
}

void hex_encode(const uint8_t *src, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[src[i] >> 4];
        out[2 * i + 1] = digits[src[i] & 15];
    }
}
