/*
 * NIP-45 HyperLogLog: the 256 registers a relay may return with a COUNT
 * answer so clients can merge counts from several relays. This module
 * decides whether a COUNT gets registers, derives the offset from its
 * filter, folds pubkeys into the registers and hex-encodes them. Which
 * events are counted is the store's part (it streams their pubkeys).
 *
 * Threads: thread-agnostic; a struct nip45_hll is a plain value owned by
 * whoever holds it (a reader thread while it fills, then the io thread).
 */
#ifndef OSTRICH_NIPS_NIP45_H
#define OSTRICH_NIPS_NIP45_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct filter_set;

/* NIP-45: 256 one-byte registers, sent as 512 hex characters. */
#define NIP45_HLL_REGISTERS 256
#define NIP45_HLL_HEX_LEN   (2 * NIP45_HLL_REGISTERS)
/* The offset is a hex digit plus 8, so 8..23: the register index byte and
 * the bytes after it always lie inside the 32-byte pubkey. */
#define NIP45_OFFSET_MIN 8
#define NIP45_OFFSET_MAX 23

/* The registers of one COUNT. A transparent value type. */
struct nip45_hll {
    uint8_t offset;
    uint8_t registers[NIP45_HLL_REGISTERS];
};

/* The NIP-45 offset for one tag value (value[0..len), borrowed): the value
 * itself when it is 64 lowercase hex characters (an event id or pubkey);
 * the pubkey part of an address "<kind>:<pubkey>:<d-tag>"; otherwise the
 * hex of its SHA-256. The character at position 32 of that hex string,
 * read as a base-16 digit, plus 8. Returns 0 with *offset set, or
 * OST_ENOMEM (hashing state). Any thread. */
int nip45_offset_from_value(const uint8_t *value, size_t len, uint8_t *offset);

/* Whether a COUNT over set (borrowed) gets registers, and with which
 * offset. NIP-45 derives the offset from the first item of the first tag
 * attribute of a filter; a parsed filter keeps neither the order of its
 * attributes nor of their values, so registers are given exactly when the
 * COUNT has one filter holding one "#x" attribute with one value, which
 * covers every common query NIP-45 lists (reactions, reposts, replies,
 * quotes, comments, followers). Other fields (kinds, authors, since, ...)
 * only narrow the events counted. Returns 1 with *offset set, 0 when the
 * COUNT gets no registers, or OST_ENOMEM. Any thread. */
int nip45_set_offset(const struct filter_set *set, uint8_t *offset);

/* Zeroes the registers of h and sets its offset (NIP45_OFFSET_MIN..MAX;
 * anything else is a programmer error). */
void nip45_hll_init(struct nip45_hll *h, uint8_t offset);

/* Folds one counted event's pubkey (32 bytes, borrowed) into h: the byte
 * at position offset picks the register; the number of leading zero bits
 * from byte offset + 1 to the end of the pubkey, plus 1, replaces the
 * register's value when it is larger. */
void nip45_hll_add(struct nip45_hll *h, const uint8_t pubkey[32]);

/* Writes the 256 registers in order as NIP45_HLL_HEX_LEN lowercase hex
 * characters into out (no terminator). */
void nip45_hll_to_hex(const struct nip45_hll *h, char *out);

#endif
