/*
 * A shared, reference-counted copy of one event's JSON: built once per
 * event and referenced by every outbound queue it goes to, so fan-out to
 * many connections costs a pointer per recipient, not a copy.
 *
 * Any thread may take or drop a reference (atomic count); the bytes are
 * immutable after payload_new.
 */
#ifndef OSTRICH_RELAY_PAYLOAD_H
#define OSTRICH_RELAY_PAYLOAD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "validate/event.h"

struct payload {
    _Atomic uint32_t refs;
    /* Owned by: the io thread. json compressed once for every client that
     * negotiated permessage-deflate (relay/wsdeflate.h), made on first
     * need; NULL until then. Freed with the payload. */
    unsigned char *z;
    size_t z_len;
    uint64_t seq;    /* store sequence of the event; UINT64_MAX when not stored */
    struct event ev; /* the parsed event, pointing into json below */
    size_t len;
    char json[]; /* len bytes, then a NUL */
};

/* Copies ev's JSON (ev->json, ev->json_len) into a new payload with one
 * reference, and a copy of ev whose pointers refer to that copy. ev is
 * borrowed. Returns NULL when memory runs out. */
struct payload *payload_new(const struct event *ev, uint64_t seq);

static inline struct payload *payload_ref(struct payload *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}

/* Copies json[0..len) into a new payload with one reference and no parsed
 * event (ev is zeroed): for stored events sent to one subscription. Returns
 * NULL when memory runs out. */
struct payload *payload_new_json(const char *json, size_t len);

/* Drops one reference; frees on the last. NULL does nothing. */
void payload_unref(struct payload *p);

#endif
