/*
 * Tests for nips/nip45: the offset rule on each kind of tag value (hex id
 * or pubkey, address, anything else hashed), which COUNT filter shapes get
 * registers, the register update on crafted pubkeys (index byte, leading
 * zero bits across byte boundaries, the maximum), and the hex encoding,
 * checked against the register string of NIP-45's followers example.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "common/err.h"
#include "common/hex.h"
#include "filters/filter.h"
#include "nips/nip45.h"

/* Character 32 (0-based) of each is the digit named in the test. */
#define HEX_D0                         \
    "00000000000000000000000000000000" \
    "0000000000000000000000000000000a"
#define HEX_DF                         \
    "00000000000000000000000000000000" \
    "f000000000000000000000000000000a"
#define HEX_DA                         \
    "0123456789abcdef0123456789abcdef" \
    "a123456789abcdef0123456789abcdef"

/* The "hll" of NIP-45's "Followers count with HyperLogLog" example. */
#define NIP_EXAMPLE_HLL                                                                \
    "0607070505060806050508060707070706090d080b0605090607070b07090606060b070507070905" \
    "0807080805080407060906080707080507070805060509040a0b0606070406040507070608060705" \
    "0907070b08060808080b080607090a06060805060604070908050607060805050d05060906090809" \
    "080807050e0705070507060907060606070708080b08070707080807060606090807050606040604" \
    "09070a0808050a0506050b0810060a0908070709080b0a0705080606050806060708060608070705" \
    "0806080c0a0707070a080808050608080f070506070706070a0908090c0807080808060905080606" \
    "06090906060d07050708080405070708"

static int offset_of(const char *value)
{
    uint8_t off = 0;
    int rc = nip45_offset_from_value((const uint8_t *)value, strlen(value), &off);
    return rc < 0 ? rc : off;
}

static void test_offset_hex_values(void)
{
    CHECK_INT_EQ(offset_of(HEX_D0), 8);
    CHECK_INT_EQ(offset_of(HEX_DF), 23);
    CHECK_INT_EQ(offset_of(HEX_DA), 18);
}

static void test_offset_address(void)
{
    /* The pubkey part of "<kind>:<pubkey>:<d-tag>" is used, with any d-tag,
     * an empty one included. */
    CHECK_INT_EQ(offset_of("30023:" HEX_DA ":my-article"), 18);
    CHECK_INT_EQ(offset_of("0:" HEX_DF ":"), 23);
    CHECK_INT_EQ(offset_of("1:" HEX_D0 ":x"), 8);
}

static void test_offset_hashed(void)
{
    /* sha256("hello") = 2cf24dba5fb0a30e26e83b2ac5b9e29e 1b16...: digit 1. */
    CHECK_INT_EQ(offset_of("hello"), 9);
    /* sha256("") = e3b0c44298fc1c149afbf4c8996fb924 27ae...: digit 2. */
    CHECK_INT_EQ(offset_of(""), 10);
    /* Uppercase hex is not an id: sha256 of 64 'A's = d53eda7a637c99cc7fb566d96e9fa109
     * bf15...: digit b. */
    CHECK_INT_EQ(offset_of("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), 19);
    /* Not an address (the pubkey part is short): hashed whole.
     * sha256("30023:abc") = b31c363496122f413d4189bea6af5b55 4a94...: digit 4. */
    CHECK_INT_EQ(offset_of("30023:abc"), 12);
    /* 63 and 65 hex characters are hashed too: the result differs from the
     * digit at position 32. */
    CHECK(offset_of(HEX_D0 "0") >= NIP45_OFFSET_MIN && offset_of(HEX_D0 "0") <= NIP45_OFFSET_MAX);
}

/* Parses a COUNT's filters and returns nip45_set_offset's answer, with the
 * offset in *off when it is 1. */
static int set_offset_of(const char *json, uint8_t *off)
{
    struct filter_set *set = NULL;
    const char *reason = NULL;
    int rc = filter_set_parse(json, strlen(json), NULL, 16, &set, &reason);
    if (rc < 0) {
        return rc;
    }
    rc = nip45_set_offset(set, off);
    filter_set_free(set);
    return rc;
}

static void test_eligible_shapes(void)
{
    uint8_t off = 0;
    /* The common queries NIP-45 lists. */
    CHECK_INT_EQ(set_offset_of("{\"#e\":[\"" HEX_DA "\"],\"kinds\":[7]}", &off), 1);
    CHECK_INT_EQ(off, 18);
    CHECK_INT_EQ(set_offset_of("{\"#e\":[\"" HEX_DF "\"],\"kinds\":[6]}", &off), 1);
    CHECK_INT_EQ(off, 23);
    CHECK_INT_EQ(set_offset_of("{\"#q\":[\"" HEX_D0 "\"],\"kinds\":[1,1111]}", &off), 1);
    CHECK_INT_EQ(off, 8);
    CHECK_INT_EQ(set_offset_of("{\"#E\":[\"" HEX_DA "\"],\"kinds\":[1111]}", &off), 1);
    CHECK_INT_EQ(off, 18);
    CHECK_INT_EQ(set_offset_of("{\"kinds\":[3],\"#p\":[\"" HEX_DF "\"]}", &off), 1);
    CHECK_INT_EQ(off, 23);
    /* An address and a plain value. */
    CHECK_INT_EQ(set_offset_of("{\"#a\":[\"30023:" HEX_DA ":d\"],\"kinds\":[7]}", &off), 1);
    CHECK_INT_EQ(off, 18);
    CHECK_INT_EQ(set_offset_of("{\"#t\":[\"hello\"]}", &off), 1);
    CHECK_INT_EQ(off, 9);
}

static void test_ineligible_shapes(void)
{
    uint8_t off = 0;
    /* No tag attribute: NIP-45 leaves the offset undefined. */
    CHECK_INT_EQ(set_offset_of("{\"kinds\":[1]}", &off), 0);
    CHECK_INT_EQ(set_offset_of("{\"authors\":[\"" HEX_DA "\"],\"kinds\":[1,7]}", &off), 0);
    CHECK_INT_EQ(set_offset_of("{}", &off), 0);
    /* Which item or attribute comes first is lost in parsing. */
    CHECK_INT_EQ(set_offset_of("{\"#e\":[\"" HEX_DA "\",\"" HEX_D0 "\"],\"kinds\":[7]}", &off), 0);
    CHECK_INT_EQ(set_offset_of("{\"#e\":[\"" HEX_DA "\"],\"#p\":[\"" HEX_D0 "\"]}", &off), 0);
    /* Several filters could each have their own offset. */
    CHECK_INT_EQ(set_offset_of("{\"#e\":[\"" HEX_DA "\"]},{\"#e\":[\"" HEX_DA "\"]}", &off), 0);
}

/* A pubkey of zeros with the given bytes set. */
static void pubkey_with(uint8_t pk[32], size_t i1, uint8_t v1, size_t i2, uint8_t v2)
{
    memset(pk, 0, 32);
    pk[i1] = v1;
    pk[i2] = v2;
}

static void test_register_update(void)
{
    struct nip45_hll h;
    uint8_t pk[32];
    nip45_hll_init(&h, 8);
    for (size_t i = 0; i < NIP45_HLL_REGISTERS; i++) {
        CHECK_INT_EQ(h.registers[i], 0);
    }
    /* Byte 8 = 5 picks register 5; byte 9 = 0x80: no leading zero, rank 1. */
    pubkey_with(pk, 8, 5, 9, 0x80);
    nip45_hll_add(&h, pk);
    CHECK_INT_EQ(h.registers[5], 1);
    /* Byte 9 = 0, byte 10 = 0x10: 8 + 3 zero bits, rank 12. */
    pubkey_with(pk, 8, 5, 10, 0x10);
    nip45_hll_add(&h, pk);
    CHECK_INT_EQ(h.registers[5], 12);
    /* A smaller rank leaves the register alone. */
    pubkey_with(pk, 8, 5, 9, 0x01);
    nip45_hll_add(&h, pk);
    CHECK_INT_EQ(h.registers[5], 12);
    /* Bytes before the offset do not count: byte 7 is ignored. */
    pubkey_with(pk, 7, 0xff, 9, 0x40);
    nip45_hll_add(&h, pk);
    CHECK_INT_EQ(h.registers[0], 2);
    /* Register 255. */
    pubkey_with(pk, 8, 0xff, 9, 0x20);
    nip45_hll_add(&h, pk);
    CHECK_INT_EQ(h.registers[255], 3);
    int n_set = 0;
    for (size_t i = 0; i < NIP45_HLL_REGISTERS; i++) {
        n_set += h.registers[i] != 0;
    }
    CHECK_INT_EQ(n_set, 3);
}

static void test_register_extremes(void)
{
    struct nip45_hll h;
    uint8_t pk[32];
    /* The largest offset: the index is byte 23, the zero bits run over
     * bytes 24..31. All zero: 64 bits, rank 65. */
    nip45_hll_init(&h, 23);
    pubkey_with(pk, 23, 7, 0, 0xff);
    nip45_hll_add(&h, pk);
    CHECK_INT_EQ(h.registers[7], 65);
    /* The last bit of the pubkey alone set: 63 zero bits, rank 64. */
    nip45_hll_init(&h, 23);
    pubkey_with(pk, 23, 7, 31, 0x01);
    nip45_hll_add(&h, pk);
    CHECK_INT_EQ(h.registers[7], 64);
    /* The smallest offset reads byte 8 and runs from byte 9. */
    nip45_hll_init(&h, 8);
    pubkey_with(pk, 8, 200, 31, 0x80);
    nip45_hll_add(&h, pk);
    CHECK_INT_EQ(h.registers[200], 8 * 22 + 1);
}

static void test_hex_encoding(void)
{
    struct nip45_hll h;
    char hex[NIP45_HLL_HEX_LEN + 1];
    nip45_hll_init(&h, 16);
    h.registers[0] = 1;
    h.registers[1] = 0x41;
    h.registers[255] = 0xab;
    nip45_hll_to_hex(&h, hex);
    hex[NIP45_HLL_HEX_LEN] = '\0';
    CHECK_INT_EQ(strlen(hex), 512);
    CHECK(strncmp(hex, "014100", 6) == 0);
    CHECK_STR_EQ(hex + 510, "ab");
    /* NIP-45's example registers decode into 256 bytes and encode back to
     * the same string. */
    CHECK_INT_EQ(strlen(NIP_EXAMPLE_HLL), NIP45_HLL_HEX_LEN);
    CHECK_OK(hex_decode_lower(NIP_EXAMPLE_HLL, NIP45_HLL_REGISTERS, h.registers));
    nip45_hll_to_hex(&h, hex);
    CHECK_STR_EQ(hex, NIP_EXAMPLE_HLL);
}

CHECK_MAIN({ "offset_hex_values", test_offset_hex_values },
           { "offset_address", test_offset_address }, { "offset_hashed", test_offset_hashed },
           { "eligible_shapes", test_eligible_shapes },
           { "ineligible_shapes", test_ineligible_shapes },
           { "register_update", test_register_update },
           { "register_extremes", test_register_extremes }, { "hex_encoding", test_hex_encoding })
