/*
 * permessage-deflate (RFC 7692) for the frames the relay writes itself.
 *
 * The relay frames its messages by hand (relay/conn.c) and shares one copy
 * of each event's JSON among all its recipients. A compressed EVENT
 * message keeps that sharing: its deflate stream is three byte-aligned
 * pieces, the subscription's prefix `["EVENT","<id>",` as a stored block,
 * the event's JSON compressed once (with a sync flush, so it ends on a
 * byte boundary and refers to nothing before it), and `]` as a stored
 * block, then the header of the empty block a receiver completes. A receiver inflates the
 * concatenation like any other message: no piece refers back into another or into an earlier
 * message, which is valid whatever context takeover was negotiated, and the window used is the
 * largest (15 bits) only for clients that did not ask for less. Smaller messages (OK, EOSE, NOTICE)
 * go out uncompressed, which RFC 7692 allows (RSV1 clear).
 *
 * Threads: a struct wsdeflate is the io thread's (one compressor, reset
 * for each event); the helpers without one are pure.
 */
#ifndef OSTRICH_RELAY_WSDEFLATE_H
#define OSTRICH_RELAY_WSDEFLATE_H

#include <stdbool.h>
#include <stddef.h>

#include <zlib.h>

struct buf;

/* Events shorter than this go uncompressed: the deflate headers and the
 * CPU would cost more than they save. */
#define WSDEFLATE_MIN_BYTES 256

/* The window the relay compresses with; a client that asks for a smaller
 * server_max_window_bits gets uncompressed messages. */
#define WSDEFLATE_WINDOW_BITS 15

/* Owned by: the io thread. Zeroed (or never used) is valid: the compressor
 * is set up on the first wsdeflate_compress. */
struct wsdeflate {
    z_stream zs;
    bool is_ready;
};

/* Lifecycle */

/* Sets up the compressor (level 1: fast). Returns 0 or OST_ENOMEM. */
int wsdeflate_init(struct wsdeflate *z);
/* Releases it; safe on a zeroed struct and twice. */
void wsdeflate_fini(struct wsdeflate *z);

/* Operations */

/* Appends in[0..len) compressed as a self-contained, byte-aligned run of
 * deflate blocks (ending with a sync flush) to out. Returns 0, OST_ENOMEM
 * or OST_EIO. */
int wsdeflate_compress(struct wsdeflate *z, const void *in, size_t len, struct buf *out);

/* Appends in[0..len) as stored (uncompressed) deflate blocks to out.
 * Returns 0 or OST_ENOMEM. */
int wsdeflate_stored(const void *in, size_t len, struct buf *out);

/* Ends a message: the first byte of an empty stored block, which the
 * receiver completes with the 00 00 ff ff it appends (RFC 7692 7.2.2), so
 * that its inflater is at a block boundary when the next message starts.
 * Returns 0 or OST_ENOMEM. */
int wsdeflate_end(struct buf *out);

/* Queries */

/* True when a client whose Sec-WebSocket-Extensions offer is ext (NULL or
 * "" for none) can take messages compressed with WSDEFLATE_WINDOW_BITS: it
 * offers permessage-deflate, and no offer of it limits
 * server_max_window_bits below that. lws picks the first acceptable offer;
 * when any offer limits the window, this answers false, so the relay never
 * compresses beyond what was agreed. */
bool wsdeflate_offer_ok(const char *ext);

#endif
