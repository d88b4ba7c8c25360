/*
 * The recent-ids set: a ring of entries in the order they were added (the
 * oldest is overwritten first) and two open-addressing tables of indexes
 * into it, probed linearly: one by id, one by address for the versions of
 * replaceable and addressable events. Deletion shifts the following run
 * back instead of leaving tombstones, so lookups never slow down as
 * entries come and go. Ids are SHA-256 output, but a client can still
 * grind ids whose low bits collide, so table positions mix the key with a
 * per-set random key.
 */
#include "relay/recent.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"

struct entry {
    uint8_t id[32];
    uint64_t sig_hash;
    uint64_t addr_hash;
    bool is_live;    /* false once forgotten, until the ring comes round */
    bool is_version; /* in the address table */
};

enum {
    BY_ID = 0,
    BY_ADDR = 1
};

struct recent {
    struct entry *ring;
    uint32_t cap, next, n; /* next: where the next entry goes */
    uint32_t *table[2];    /* entry index + 1; 0 is empty */
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

static uint64_t id_word(const uint8_t id[32])
{
    uint64_t w;
    memcpy(&w, id, sizeof(w));
    return w;
}

static uint32_t home(const struct recent *r, uint64_t word)
{
    return (uint32_t)mix(word ^ r->key) & r->mask;
}

static uint64_t entry_word(const struct entry *e, int t)
{
    return t == BY_ID ? id_word(e->id) : e->addr_hash;
}

static uint64_t hash_bytes(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w = 0;
        memcpy(&w, p + i, n - i < 8 ? n - i : 8);
        h = mix(h ^ w ^ (uint64_t)i);
    }
    return h;
}

uint64_t recent_sig_hash(const uint8_t sig[64])
{
    return hash_bytes(0, sig, 64);
}

uint64_t recent_addr_hash(const uint8_t pubkey[32], uint32_t kind, const void *d, size_t d_len)
{
    return hash_bytes(mix(hash_bytes(kind, pubkey, 32) ^ d_len), d, d_len);
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
    r->table[BY_ID] = calloc(size, sizeof(uint32_t));
    r->table[BY_ADDR] = calloc(size, sizeof(uint32_t));
    if (r->ring == NULL || r->table[BY_ID] == NULL || r->table[BY_ADDR] == NULL) {
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
        free(r->table[BY_ID]);
        free(r->table[BY_ADDR]);
        free(r);
    }
}

/* The slot of table t holding the entry whose key is word (and, by id,
 * whose id is id), or UINT32_MAX. */
static uint32_t find_slot(const struct recent *r, int t, uint64_t word, const uint8_t *id)
{
    const uint32_t *table = r->table[t];
    for (uint32_t i = home(r, word);; i = (i + 1) & r->mask) {
        uint32_t e = table[i];
        if (e == 0) {
            return UINT32_MAX;
        }
        const struct entry *en = &r->ring[e - 1];
        if (t == BY_ID ? memcmp(en->id, id, 32) == 0 : en->addr_hash == word) {
            return i;
        }
    }
}

/* Empties slot i of table t and moves back every entry of the run after it
 * that would otherwise no longer be reachable from its home slot. */
static void remove_slot(struct recent *r, int t, uint32_t i)
{
    uint32_t *table = r->table[t];
    for (uint32_t j = (i + 1) & r->mask; table[j] != 0; j = (j + 1) & r->mask) {
        uint32_t k = home(r, entry_word(&r->ring[table[j] - 1], t));
        /* The entry at j may move to i when its home is not in (i, j]. */
        bool is_between = i <= j ? (k > i && k <= j) : (k > i || k <= j);
        if (!is_between) {
            table[i] = table[j];
            i = j;
        }
    }
    table[i] = 0;
}

static void insert_slot(struct recent *r, int t, uint64_t word, uint32_t index)
{
    uint32_t i = home(r, word);
    while (r->table[t][i] != 0) {
        i = (i + 1) & r->mask;
    }
    r->table[t][i] = index + 1;
}

/* Takes entry e out of both tables. */
static void drop_entry(struct recent *r, struct entry *e)
{
    remove_slot(r, BY_ID, find_slot(r, BY_ID, id_word(e->id), e->id));
    if (e->is_version) {
        remove_slot(r, BY_ADDR, find_slot(r, BY_ADDR, e->addr_hash, NULL));
    }
    e->is_live = false;
    e->is_version = false;
    r->n--;
}

static void add(struct recent *r, const uint8_t id[32], uint64_t sig_hash, bool is_version,
                uint64_t addr_hash)
{
    if (is_version) {
        uint32_t slot = find_slot(r, BY_ADDR, addr_hash, NULL);
        if (slot != UINT32_MAX) {
            drop_entry(r, &r->ring[r->table[BY_ADDR][slot] - 1]);
        }
    }
    uint32_t slot = find_slot(r, BY_ID, id_word(id), id);
    if (slot != UINT32_MAX) {
        drop_entry(r, &r->ring[r->table[BY_ID][slot] - 1]);
    }
    struct entry *e = &r->ring[r->next];
    if (e->is_live) {
        drop_entry(r, e);
    }
    memcpy(e->id, id, 32);
    e->sig_hash = sig_hash;
    e->addr_hash = addr_hash;
    e->is_live = true;
    e->is_version = is_version;
    insert_slot(r, BY_ID, id_word(id), r->next);
    if (is_version) {
        insert_slot(r, BY_ADDR, addr_hash, r->next);
    }
    r->next = r->next + 1 == r->cap ? 0 : r->next + 1;
    r->n++;
}

void recent_add(struct recent *r, const uint8_t id[32], uint64_t sig_hash)
{
    add(r, id, sig_hash, false, 0);
}

void recent_add_version(struct recent *r, const uint8_t id[32], uint64_t sig_hash,
                        uint64_t addr_hash)
{
    add(r, id, sig_hash, true, addr_hash);
}

bool recent_has(const struct recent *r, const uint8_t id[32], uint64_t sig_hash)
{
    uint32_t slot = find_slot(r, BY_ID, id_word(id), id);
    return slot != UINT32_MAX && r->ring[r->table[BY_ID][slot] - 1].sig_hash == sig_hash;
}

void recent_forget(struct recent *r, const uint8_t id[32])
{
    uint32_t slot = find_slot(r, BY_ID, id_word(id), id);
    if (slot != UINT32_MAX) {
        drop_entry(r, &r->ring[r->table[BY_ID][slot] - 1]);
    }
}

void recent_forget_addr(struct recent *r, uint64_t addr_hash)
{
    uint32_t slot = find_slot(r, BY_ADDR, addr_hash, NULL);
    if (slot != UINT32_MAX) {
        drop_entry(r, &r->ring[r->table[BY_ADDR][slot] - 1]);
    }
}

void recent_clear(struct recent *r)
{
    size_t size = ((size_t)r->mask + 1) * sizeof(uint32_t);
    memset(r->table[BY_ID], 0, size);
    memset(r->table[BY_ADDR], 0, size);
    for (uint32_t i = 0; i < r->cap; i++) {
        r->ring[i].is_live = false;
        r->ring[i].is_version = false;
    }
    r->n = 0;
}

uint32_t recent_count(const struct recent *r)
{
    return r->n;
}
