/*
 * NIP-13 proof of work.
 *
 * Design. An OK false reason must name both the event's difficulty and the
 * relay's minimum, yet reasons are never formatted per message: the
 * pointer is handed to the io thread through a queue and read there later,
 * so a per-thread buffer could be overwritten by the worker's next event
 * before the io thread sends it. Since the minimum is fixed at startup,
 * every reason the check can give is known then: one per difficulty below
 * the minimum, for each of the two wordings. nip13_policy_new formats them
 * all into one allocation (at most 2 * 256 short strings), and nothing
 * writes them afterwards, so any thread may read them until the policy is
 * freed at shutdown, after the workers and the io thread are done.
 */
#include "nips/nip13.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/json.h"
#include "validate/event.h"

/* The longest reason, "pow: committed target difficulty 255 is less than
 * 256", with room to spare. */
#define REASON_CAP 64

enum wording {
    W_BITS = 0,   /* the id's leading zero bits fall short */
    W_TARGET = 1, /* the committed target falls short */
};

/* Owned by: the thread that built it; immutable afterwards. reasons holds
 * 2 * min_difficulty strings: [w * min_difficulty + d] for difficulty d. */
struct nip13_policy {
    uint32_t min_difficulty;
    char reasons[][REASON_CAP];
};

int nip13_policy_new(uint32_t min_difficulty, struct nip13_policy **out)
{
    if (min_difficulty > NIP13_MAX_DIFFICULTY) {
        return OST_EINVAL;
    }
    size_t n = 2 * (size_t)min_difficulty;
    struct nip13_policy *p = malloc(sizeof(*p) + n * REASON_CAP);
    if (p == NULL) {
        return OST_ENOMEM;
    }
    p->min_difficulty = min_difficulty;
    for (uint32_t d = 0; d < min_difficulty; d++) {
        snprintf(p->reasons[W_BITS * min_difficulty + d], REASON_CAP,
                 "pow: difficulty %u is less than %u", d, min_difficulty);
        snprintf(p->reasons[W_TARGET * min_difficulty + d], REASON_CAP,
                 "pow: committed target difficulty %u is less than %u", d, min_difficulty);
    }
    *out = p;
    return 0;
}

void nip13_policy_free(struct nip13_policy *p)
{
    free(p);
}

uint32_t nip13_policy_min_difficulty(const struct nip13_policy *p)
{
    return p->min_difficulty;
}

uint32_t nip13_leading_zero_bits(const uint8_t id[32])
{
    uint32_t bits = 0;
    for (size_t i = 0; i < 32; i++) {
        if (id[i] == 0) {
            bits += 8;
            continue;
        }
        for (uint8_t b = id[i]; (b & 0x80) == 0; b = (uint8_t)(b << 1)) {
            bits++;
        }
        break;
    }
    return bits;
}

/* Reads s as a decimal integer in 0..NIP13_MAX_DIFFICULTY. An escaped
 * string is decoded first ("\u0032\u0030" is "20"). */
static bool parse_target(const struct json_str *s, uint32_t *out)
{
    uint64_t v;
    if (!json_str_to_uint(s, NIP13_MAX_DIFFICULTY, &v)) {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

bool nip13_committed_target(const struct event *ev, uint32_t *target)
{
    struct event_tag_iter tags, fields;
    struct json_str name, nonce, committed;
    event_tags_begin(ev, &tags);
    while (event_tags_next(&tags, &fields)) {
        if (!event_tag_next_str(&fields, &name) || !json_str_equals(&name, "nonce", 5)) {
            continue;
        }
        /* NIP-13: ["nonce", "<nonce>", "<target difficulty>"]; only the first
         * nonce tag counts. */
        return event_tag_next_str(&fields, &nonce) && event_tag_next_str(&fields, &committed) &&
               parse_target(&committed, target);
    }
    return false;
}

/* The effective difficulty, and whether the commitment is what limits it. */
static uint32_t difficulty(const struct event *ev, bool *is_target_bound)
{
    uint32_t bits = nip13_leading_zero_bits(ev->id);
    uint32_t target;
    /* NIP-13: the third element of the nonce tag commits to the target the
     * miner aimed at, so that "if you require 40 bits ... and see a committed
     * target of 30, you can safely reject it even if the note has 40 bits
     * difficulty". A bulk miner aiming low who gets lucky is thereby
     * credited with what it aimed at: the effective difficulty is the lower
     * of the leading zero bits and the committed target. Without a
     * commitment only the bits count. */
    *is_target_bound = nip13_committed_target(ev, &target) && target < bits;
    return *is_target_bound ? target : bits;
}

uint32_t nip13_difficulty(const struct event *ev)
{
    bool is_target_bound;
    return difficulty(ev, &is_target_bound);
}

int nip13_check(const struct nip13_policy *p, const struct event *ev, const char **reason)
{
    if (p->min_difficulty == 0) {
        return 0;
    }
    bool is_target_bound;
    uint32_t d = difficulty(ev, &is_target_bound);
    if (d >= p->min_difficulty) {
        return 0;
    }
    enum wording w = is_target_bound ? W_TARGET : W_BITS;
    *reason = p->reasons[(size_t)w * p->min_difficulty + d];
    return OST_EREJECT;
}
