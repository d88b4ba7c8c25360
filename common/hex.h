/*
 * Lowercase hexadecimal encoding and strict decoding. Thread-agnostic, no
 * allocation.
 */
#ifndef OSTRICH_COMMON_HEX_H
#define OSTRICH_COMMON_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Decodes exactly 2 * n lowercase hex characters from src into out[n].
 * Uppercase and any other character are refused. Returns 0 or OST_EINVAL;
 * out is written only on success. */
int hex_decode_lower(const char *src, size_t n, uint8_t *out);

/* Decodes 2 * n hex characters of either case (for test vectors and
 * configuration). Returns 0 or OST_EINVAL. */
int hex_decode_any(const char *src, size_t n, uint8_t *out);

/* Writes 2 * n lowercase hex characters into out (no terminator). */
void hex_encode(const uint8_t *src, size_t n, char *out);

#endif
