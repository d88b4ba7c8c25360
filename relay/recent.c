/*
 * The recent-ids set: a ring of entries in the order they were added (the
 * oldest is overwritten first) and an open-addressing table of indexes into
 * it, probed linearly. Deletion shifts the following run back instead of
 * leaving tombstones, so lookups never slow down as entries come and go.
 * Ids are SHA-256 output, but a client can still grind ids whose low bits
 * collide, so the table position mixes the id with a per-set random key.
 */
#include "relay/recent.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"

struct entry {
    uint8_t id[32];
    uint64_t sig_hash;
    bool is_live; /* false once forgotten, until the ring comes round */
};

struct recent {
    struct entry *ring;
    uint32_t cap, next, n; /* next: where the next entry goes */
    uint32_t *table;       /* entry index + 1; 0 is empty */
    uint32_t mask;
    uint64_t key;
};

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint32_t home(const struct recent *r, const uint8_t id[32])
{
    uint64_t w;
    memcpy(&w, id, sizeof(w));
    return (uint32_t)mix(w ^ r->key) & r->mask;
}

uint64_t recent_sig_hash(const uint8_t sig[64])
{
    uint64_t h = 0;
    for (int i = 0; i < 64; i += 8) {
        uint64_t w;
        memcpy(&w, sig + i, sizeof(w));
        h = mix(h ^ w);
    }
    return h;
}

int recent_new(uint32_t capacity, struct recent **out)
{
    if (capacity == 0 || capacity > (1u << 30)) {
        return OST_EINVAL;
    }
    struct recent *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return OST_ENOMEM;
    }
    uint32_t size = 2;
    while (size < 2 * capacity) {
        size *= 2;
    }
    r->cap = capacity;
    r->mask = size - 1;
    r->ring = calloc(capacity, sizeof(*r->ring));
    r->table = calloc(size, sizeof(*r->table));
    if (r->ring == NULL || r->table == NULL) {
        recent_free(r);
        return OST_ENOMEM;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    r->key = mix((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)r);
    *out = r;
    return 0;
}

void recent_free(struct recent *r)
{
    if (r != NULL) {
        free(r->ring);
        free(r->table);
        free(r);
    }
}

/* The table slot holding id, or UINT32_MAX. */
static uint32_t find_slot(const struct recent *r, const uint8_t id[32])
{
    for (uint32_t i = home(r, id);; i = (i + 1) & r->mask) {
        uint32_t e = r->table[i];
        if (e == 0) {
            return UINT32_MAX;
        }
        if (memcmp(r->ring[e - 1].id, id, 32) == 0) {
            return i;
        }
    }
}

/* Empties slot i and moves back every entry of the run after it that
 * would otherwise no longer be reachable from its home slot. */
static void remove_slot(struct recent *r, uint32_t i)
{
    for (uint32_t j = (i + 1) & r->mask; r->table[j] != 0; j = (j + 1) & r->mask) {
        uint32_t k = home(r, r->ring[r->table[j] - 1].id);
        /* The entry at j may move to i when its home is not in (i, j]. */
        bool is_between = i <= j ? (k > i && k <= j) : (k > i || k <= j);
        if (!is_between) {
            r->table[i] = r->table[j];
            i = j;
        }
    }
    r->table[i] = 0;
}

void recent_add(struct recent *r, const uint8_t id[32], uint64_t sig_hash)
{
    uint32_t slot = find_slot(r, id);
    if (slot != UINT32_MAX) {
        r->ring[r->table[slot] - 1].sig_hash = sig_hash;
        return;
    }
    struct entry *e = &r->ring[r->next];
    if (e->is_live) {
        remove_slot(r, find_slot(r, e->id));
        r->n--;
    }
    memcpy(e->id, id, 32);
    e->sig_hash = sig_hash;
    e->is_live = true;
    uint32_t i = home(r, id);
    while (r->table[i] != 0) {
        i = (i + 1) & r->mask;
    }
    r->table[i] = r->next + 1;
    r->next = r->next + 1 == r->cap ? 0 : r->next + 1;
    r->n++;
}

bool recent_has(const struct recent *r, const uint8_t id[32], uint64_t sig_hash)
{
    uint32_t slot = find_slot(r, id);
    return slot != UINT32_MAX && r->ring[r->table[slot] - 1].sig_hash == sig_hash;
}

void recent_forget(struct recent *r, const uint8_t id[32])
{
    uint32_t slot = find_slot(r, id);
    if (slot != UINT32_MAX) {
        r->ring[r->table[slot] - 1].is_live = false;
        remove_slot(r, slot);
        r->n--;
    }
}

void recent_clear(struct recent *r)
{
    memset(r->table, 0, ((size_t)r->mask + 1) * sizeof(*r->table));
    for (uint32_t i = 0; i < r->cap; i++) {
        r->ring[i].is_live = false;
    }
    r->n = 0;
}

uint32_t recent_count(const struct recent *r)
{
    return r->n;
}
