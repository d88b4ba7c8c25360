/*
 * NIP-01 canonical serialization and the event id.
 *
 * The canonical form is [0,<pubkey>,<created_at>,<kind>,<tags>,<content>]
 * with no whitespace; inside strings only the seven escapes NIP-01 lists
 * (\n \" \\ \r \t \b \f) are used and every other character is written as
 * raw UTF-8. The id is SHA-256 over that form.
 *
 * A canon_ctx holds per-thread hashing state and a scratch buffer; create
 * one per thread and never share it.
 */
#ifndef OSTRICH_VALIDATE_CANON_H
#define OSTRICH_VALIDATE_CANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct event;

enum canon_style {
    CANON_NIP01 = 0,    /* the form NIP-01 specifies */
    CANON_JSON_ESC = 1, /* as NIP-01, but other control characters as \u00XX */
};

struct canon_ctx {
    struct buf scratch;
    void *md_ctx; /* EVP_MD_CTX */
    void *md;     /* EVP_MD for SHA-256, fetched once */
};

/* Returns 0 or OST_ENOMEM; on failure nothing is left allocated. */
int canon_ctx_init(struct canon_ctx *c);
void canon_ctx_fini(struct canon_ctx *c);

/* Appends the canonical serialization of ev (a parsed, valid event) to out.
 * Returns 0 or OST_ENOMEM. */
int canon_serialize(const struct event *ev, enum canon_style style, struct buf *out);

/* Computes the id of ev in the given style. Returns 0 or OST_ENOMEM. */
int canon_compute_id(struct canon_ctx *c, const struct event *ev, enum canon_style style,
                     uint8_t id[32]);

/* Checks that ev->id is the SHA-256 of ev's canonical form. An event whose
 * content or tags hold control characters other than the seven NIP-01
 * escapes is also accepted when its id was computed with those characters
 * written as \u00XX, which is what JSON.stringify-based clients sign.
 * Returns 0, OST_EBADID, or OST_ENOMEM. */
int canon_check_id(struct canon_ctx *c, const struct event *ev);

/* SHA-256 of data, with c's hashing state. Returns 0 or OST_ENOMEM. */
int canon_sha256(struct canon_ctx *c, const void *data, size_t len, uint8_t out[32]);

#endif
