/*
 * NIP-45 HyperLogLog registers: the offset rule, the register update and
 * the hex encoding. No state beyond the caller's struct nip45_hll.
 */
#include "nips/nip45.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/hex.h"
#include "filters/filter.h"
#include "validate/canon.h"

static bool is_lower_hex(const uint8_t *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

static uint8_t hex_digit(uint8_t ch)
{
    return (uint8_t)(ch <= '9' ? ch - '0' : ch - 'a' + 10);
}

/* The pubkey of an address "<kind>:<pubkey>:<d-tag>" (NIP-01), or NULL. */
static const uint8_t *address_pubkey(const uint8_t *v, size_t len)
{
    size_t i = 0;
    while (i < len && v[i] >= '0' && v[i] <= '9') {
        i++;
    }
    if (i == 0 || i + 1 + 64 + 1 > len || v[i] != ':' || v[i + 1 + 64] != ':' ||
        !is_lower_hex(v + i + 1, 64)) {
        return NULL;
    }
    return v + i + 1;
}

int nip45_offset_from_value(const uint8_t *value, size_t len, uint8_t *offset)
{
    /* NIP-45: "take the character at position 32" of the 64-character hex
     * string, "read it as a base-16 number" and "add 8". */
    const uint8_t *hex = NULL;
    if (len == 64 && is_lower_hex(value, len)) {
        hex = value;
    } else {
        hex = address_pubkey(value, len);
    }
    if (hex != NULL) {
        *offset = (uint8_t)(hex_digit(hex[32]) + 8);
        return 0;
    }
    /* Anything else is hashed; hex character 32 of the digest is the high
     * nibble of its byte 16. */
    struct canon_ctx cc;
    uint8_t digest[32];
    int rc = canon_ctx_init(&cc);
    if (rc < 0) {
        return rc;
    }
    rc = canon_sha256(&cc, value, len, digest);
    canon_ctx_fini(&cc);
    if (rc == 0) {
        *offset = (uint8_t)((digest[16] >> 4) + 8);
    }
    return rc;
}

int nip45_set_offset(const struct filter_set *set, uint8_t *offset)
{
    if (filter_set_count(set) != 1) {
        return 0;
    }
    const struct filter_tag_cond *conds;
    if (filter_tag_conds(filter_set_at(set, 0), &conds) != 1 || conds[0].n_values != 1) {
        return 0;
    }
    int rc = nip45_offset_from_value(conds[0].values[0], conds[0].value_lens[0], offset);
    return rc < 0 ? rc : 1;
}

void nip45_hll_init(struct nip45_hll *h, uint8_t offset)
{
    /* A broken invariant: past 23 the register update would read beyond
     * the pubkey. */
    if (offset < NIP45_OFFSET_MIN || offset > NIP45_OFFSET_MAX) {
        abort();
    }
    memset(h->registers, 0, sizeof(h->registers));
    h->offset = offset;
}

void nip45_hll_add(struct nip45_hll *h, const uint8_t pubkey[32])
{
    uint8_t ri = pubkey[h->offset];
    unsigned zeros = 0;
    for (size_t i = (size_t)h->offset + 1; i < 32; i++) {
        if (pubkey[i] == 0) {
            zeros += 8;
            continue;
        }
        for (uint8_t mask = 0x80; (pubkey[i] & mask) == 0; mask >>= 1) {
            zeros++;
        }
        break;
    }
    uint8_t rank = (uint8_t)(zeros + 1);
    if (rank > h->registers[ri]) {
        h->registers[ri] = rank;
    }
}

void nip45_hll_to_hex(const struct nip45_hll *h, char *out)
{
    hex_encode(h->registers, NIP45_HLL_REGISTERS, out);
}
