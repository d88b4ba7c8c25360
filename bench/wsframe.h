/*
 * The RFC 6455 pieces that bench/load's client (load_ws.c) and bench/sink's
 * server share: the Sec-WebSocket-Accept value, writing one frame (masked
 * as a client sends it, or plain as a server does) and reading one frame
 * header. No I/O and no state: any thread may call these.
 */
#ifndef OSTRICH_BENCH_WSFRAME_H
#define OSTRICH_BENCH_WSFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* Longest frame header: 2 bytes, an 8-byte length and a 4-byte mask. */
#define WSFRAME_MAX_HEADER 14
/* Length of a Sec-WebSocket-Accept value (base64 of a SHA-1 digest). */
#define WSFRAME_ACCEPT_LEN 28

enum wsframe_op {
    WSFRAME_CONT = 0x0,
    WSFRAME_TEXT = 0x1,
    WSFRAME_BINARY = 0x2,
    WSFRAME_CLOSE = 0x8,
    WSFRAME_PING = 0x9,
    WSFRAME_PONG = 0xa,
};

/* One frame header as read from the wire. */
struct wsframe {
    bool is_fin;
    bool is_masked;
    enum wsframe_op op;
    uint8_t mask[4];
    size_t header_len; /* bytes before the payload */
    uint64_t len;      /* payload bytes */
};

/* Writes base64(SHA-1(key + RFC 6455's GUID)) and a NUL into out: what the
 * server answers in Sec-WebSocket-Accept to the client's key[0..key_len).
 * key is borrowed. */
void wsframe_accept(const char *key, size_t key_len, char out[WSFRAME_ACCEPT_LEN + 1]);

/* Appends one frame with the FIN bit whose payload is the n parts joined
 * (each borrowed and copied). mask NULL writes a plain frame (server to
 * client); otherwise the payload is masked with those 4 bytes (client to
 * server, RFC 6455 5.3). Returns 0 or OST_ENOMEM (out unchanged). */
int wsframe_append(struct buf *out, enum wsframe_op op, const char *const *parts,
                   const size_t *lens, size_t n, const uint8_t *mask);

/* Reads the frame header at p[0..avail). Returns 0 when the header is not
 * complete yet, 1 with *f filled when it is (the payload may still be
 * incomplete), or OST_EPARSE with *reason set (a static string) for a
 * header RFC 6455 forbids: reserved bits set, a fragmented or long control
 * frame, an unknown opcode, or a payload over max_len bytes. */
int wsframe_parse(const uint8_t *p, size_t avail, uint64_t max_len, struct wsframe *f,
                  const char **reason);

/* XORs p[0..len) with the 4-byte mask (its own inverse). */
void wsframe_unmask(uint8_t *p, size_t len, const uint8_t mask[4]);

#endif
