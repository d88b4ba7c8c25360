/*
 * The live subscription index. Design (an inverted index of live filters,
 * as strfry keeps for its active subscriptions):
 *
 * - keys: one chained hash table of key nodes. A key is a type plus bytes:
 *   an event id, an author, a (letter, value) tag pair or a kind. A key node
 *   heads a doubly-linked list of entries, and exists only while that list
 *   is non-empty. An entry is one filter of one subscription filed under
 *   that key.
 * - Each filter is filed under ONE field, the most selective it has, with
 *   one entry per value of that field (a filter with 3 ids has 3 entries,
 *   any of which can lead to it). Filters with no indexed field sit on the
 *   catch-all list; filters that can never match are not filed at all.
 * - Entries live inside their subscription's allocation and point back at
 *   their key node, so removing a subscription unlinks exactly its own
 *   entries, O(1) each, and never scans other subscriptions.
 * - subs: the subscriptions by (conn_id, sub_id). conns: the connections,
 *   each with a list of its subscriptions, for subidx_remove_conn.
 * - Matching bumps a generation counter. A subscription stamped with the
 *   current generation has been reported already; a stamp per filter keeps
 *   a filter from being checked twice when an event hits several of its
 *   keys (an event with two values of the same tag).
 *
 * Hashes are SipHash-1-3 under a random key per index: ids, authors and
 * tag values in filters are chosen by clients, who could otherwise aim
 * them all at one bucket.
 */
#include "filters/subidx.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/random.h>

#include "common/err.h"
#include "common/json.h"
#include "filters/filter.h"
#include "validate/event.h"

#define CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = ROTL(v[1], 13);
    v[1] ^= v[0];
    v[0] = ROTL(v[0], 32);
    v[2] += v[3];
    v[3] = ROTL(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = ROTL(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = ROTL(v[1], 17);
    v[1] ^= v[2];
    v[2] = ROTL(v[2], 32);
}

/* SipHash-1-3 of p[0..len) under the 128-bit key k. */
static uint64_t siphash13(const uint64_t k[2], const uint8_t *p, size_t len)
{
    uint64_t v[4] = { k[0] ^ 0x736f6d6570736575ULL, k[1] ^ 0x646f72616e646f6dULL,
                      k[0] ^ 0x6c7967656e657261ULL, k[1] ^ 0x7465646279746573ULL };
    const uint8_t *end = p + (len & ~(size_t)7);
    for (; p < end; p += 8) {
        uint64_t m;
        memcpy(&m, p, 8);
        v[3] ^= m;
        sip_round(v);
        v[0] ^= m;
    }
    uint64_t last = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++) {
        last |= (uint64_t)p[i] << (8 * i);
    }
    v[3] ^= last;
    sip_round(v);
    v[0] ^= last;
    v[2] ^= 0xff;
    sip_round(v);
    sip_round(v);
    sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* An intrusive chained hash table; the caller compares keys. */
struct hnode {
    struct hnode *next;
    uint64_t hash;
};

struct htab {
    struct hnode **slots;
    size_t mask; /* slot count - 1, a power of two minus one */
    size_t n;
};

#define HTAB_MIN_SLOTS 16

static int htab_init(struct htab *t)
{
    t->slots = calloc(HTAB_MIN_SLOTS, sizeof(*t->slots));
    t->mask = HTAB_MIN_SLOTS - 1;
    t->n = 0;
    return t->slots != NULL ? 0 : OST_ENOMEM;
}

/* Best effort: when memory runs out the table keeps its size, which only
 * lengthens chains, so inserting and removing never fail. */
static void htab_rehash(struct htab *t, size_t n_slots)
{
    struct hnode **slots = calloc(n_slots, sizeof(*slots));
    if (slots == NULL) {
        return;
    }
    for (size_t i = 0; i <= t->mask; i++) {
        struct hnode *n = t->slots[i];
        while (n != NULL) {
            struct hnode *next = n->next;
            struct hnode **s = &slots[n->hash & (n_slots - 1)];
            n->next = *s;
            *s = n;
            n = next;
        }
    }
    free(t->slots);
    t->slots = slots;
    t->mask = n_slots - 1;
}

static void htab_insert(struct htab *t, struct hnode *n)
{
    if (t->n > t->mask) {
        htab_rehash(t, (t->mask + 1) * 2);
    }
    struct hnode **s = &t->slots[n->hash & t->mask];
    n->next = *s;
    *s = n;
    t->n++;
}

static void htab_remove(struct htab *t, struct hnode *n)
{
    for (struct hnode **pp = &t->slots[n->hash & t->mask]; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == n) {
            *pp = n->next;
            t->n--;
            break;
        }
    }
    if (t->mask + 1 > HTAB_MIN_SLOTS && t->n < (t->mask + 1) / 8) {
        htab_rehash(t, (t->mask + 1) / 2);
    }
}

enum key_type {
    KEY_ALL = 0, /* the catch-all list, not in the table */
    KEY_ID,
    KEY_AUTHOR,
    KEY_TAG,
    KEY_KIND,
};

struct entry;

struct knode {
    struct hnode h;
    struct entry *head;
    uint32_t len;
    uint8_t type;
    char letter;     /* KEY_TAG only */
    uint8_t bytes[]; /* 32 for an id or author, 4 for a kind, a tag value */
};

struct sub;

struct entry {
    struct entry *prev, *next;
    struct knode *key; /* NULL: on the catch-all list */
    struct sub *sub;
    const struct filter *f;
    size_t filter_index; /* into sub->checked */
};

struct conn_node {
    struct hnode h;
    uint64_t conn_id;
    struct sub *subs;
};

/* One allocation: the header, entries[n_entries], then checked[] with one
 * generation stamp per filter of set. */
struct sub {
    struct hnode h;
    struct sub *conn_prev, *conn_next;
    struct conn_node *conn;
    struct filter_set *set;
    uint64_t conn_id;
    uint64_t reported_gen;
    uint64_t *checked;
    size_t n_entries;
    uint8_t sub_id_len;
    char sub_id[SUBIDX_SUB_ID_MAX];
    struct entry entries[];
};

/* Owned by: the broadcast thread. */
struct subidx {
    struct htab keys, subs, conns;
    struct entry *catchall;
    uint8_t *tagbuf;   /* unescaped event tag values */
    size_t tagbuf_cap; /* >= the longest tag value ever filed */
    size_t n_tag_keys;
    uint64_t seed[2];
    uint64_t gen;
    size_t n_subs;
};

static uint64_t hash_with(const struct subidx *idx, uint64_t tweak, const uint8_t *p, size_t len)
{
    uint64_t k[2] = { idx->seed[0], idx->seed[1] ^ tweak };
    return siphash13(k, p, len);
}

static uint64_t key_hash(const struct subidx *idx, uint8_t type, char letter, const uint8_t *b,
                         uint32_t len)
{
    return hash_with(idx, (uint64_t)type << 8 | (uint8_t)letter, b, len);
}

static struct knode *key_find(const struct subidx *idx, uint64_t hash, uint8_t type, char letter,
                              const uint8_t *b, uint32_t len)
{
    for (struct hnode *n = idx->keys.slots[hash & idx->keys.mask]; n != NULL; n = n->next) {
        struct knode *k = CONTAINER_OF(n, struct knode, h);
        if (n->hash == hash && k->type == type && k->letter == letter && k->len == len &&
            memcmp(k->bytes, b, len) == 0) {
            return k;
        }
    }
    return NULL;
}

static int entry_link(struct subidx *idx, struct entry *e, uint8_t type, char letter,
                      const uint8_t *b, uint32_t len)
{
    struct entry **head = &idx->catchall;
    e->key = NULL;
    if (type != KEY_ALL) {
        uint64_t hash = key_hash(idx, type, letter, b, len);
        struct knode *k = key_find(idx, hash, type, letter, b, len);
        if (k == NULL) {
            k = malloc(sizeof(*k) + len);
            if (k == NULL) {
                return OST_ENOMEM;
            }
            k->h.hash = hash;
            k->head = NULL;
            k->len = len;
            k->type = type;
            k->letter = letter;
            memcpy(k->bytes, b, len);
            htab_insert(&idx->keys, &k->h);
            idx->n_tag_keys += type == KEY_TAG;
        }
        e->key = k;
        head = &k->head;
    }
    e->prev = NULL;
    e->next = *head;
    if (*head != NULL) {
        (*head)->prev = e;
    }
    *head = e;
    return 0;
}

static void entry_unlink(struct subidx *idx, struct entry *e)
{
    struct knode *k = e->key;
    struct entry **head = k != NULL ? &k->head : &idx->catchall;
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        *head = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    }
    if (k != NULL && k->head == NULL) {
        idx->n_tag_keys -= k->type == KEY_TAG;
        htab_remove(&idx->keys, &k->h);
        free(k);
    }
}

/* Where one filter is filed: n entries under field type (n == 0: nowhere,
 * because it can never match; KEY_ALL with n == 1: the catch-all list). */
struct plan {
    uint8_t type;
    size_t n;
    const uint8_t (*keys32)[32];
    const uint32_t *kinds;
    const struct filter_tag_cond *cond;
};

static void plan_filter(const struct filter *f, struct plan *p)
{
    const struct filter_tag_cond *conds;
    size_t n_conds = filter_tag_conds(f, &conds);
    memset(p, 0, sizeof(*p));
    if (filter_never_matches(f)) {
        return;
    }
    /* Not never-matching, so every present list field has values and a
     * count of 0 means the field is absent. */
    if ((p->n = filter_ids(f, &p->keys32)) > 0) {
        p->type = KEY_ID;
    } else if ((p->n = filter_authors(f, &p->keys32)) > 0) {
        p->type = KEY_AUTHOR;
    } else if (n_conds > 0) {
        /* The condition with the fewest values files the fewest entries. */
        p->cond = &conds[0];
        for (size_t i = 1; i < n_conds; i++) {
            if (conds[i].n_values < p->cond->n_values) {
                p->cond = &conds[i];
            }
        }
        p->type = KEY_TAG;
        p->n = p->cond->n_values;
    } else if ((p->n = filter_kinds(f, &p->kinds)) > 0) {
        p->type = KEY_KIND;
    } else {
        p->type = KEY_ALL;
        p->n = 1;
    }
}

/* Key i of plan p; kb is storage for a kind's bytes. */
static void plan_key(const struct plan *p, size_t i, uint8_t kb[4], const uint8_t **b,
                     uint32_t *len)
{
    switch (p->type) {
    case KEY_ID:
    case KEY_AUTHOR:
        *b = p->keys32[i];
        *len = 32;
        break;
    case KEY_TAG:
        *b = p->cond->values[i];
        *len = p->cond->value_lens[i];
        break;
    case KEY_KIND:
        memcpy(kb, &p->kinds[i], 4);
        *b = kb;
        *len = 4;
        break;
    default:
        *b = NULL;
        *len = 0;
        break;
    }
}

/* Files every filter of s->set. On failure nothing stays filed. */
static int sub_register(struct subidx *idx, struct sub *s)
{
    size_t k = 0;
    for (size_t fi = 0; fi < filter_set_count(s->set); fi++) {
        const struct filter *f = filter_set_at(s->set, fi);
        struct plan p;
        plan_filter(f, &p);
        for (size_t i = 0; i < p.n; i++) {
            struct entry *e = &s->entries[k];
            uint8_t kb[4];
            const uint8_t *b;
            uint32_t len;
            e->sub = s;
            e->f = f;
            e->filter_index = fi;
            plan_key(&p, i, kb, &b, &len);
            if (entry_link(idx, e, p.type, p.cond ? p.cond->letter : 0, b, len) < 0) {
                while (k > 0) {
                    entry_unlink(idx, &s->entries[--k]);
                }
                return OST_ENOMEM;
            }
            k++;
        }
    }
    return 0;
}

static void sub_remove(struct subidx *idx, struct sub *s)
{
    struct conn_node *c = s->conn;
    for (size_t i = 0; i < s->n_entries; i++) {
        entry_unlink(idx, &s->entries[i]);
    }
    htab_remove(&idx->subs, &s->h);
    if (s->conn_prev != NULL) {
        s->conn_prev->conn_next = s->conn_next;
    } else {
        c->subs = s->conn_next;
    }
    if (s->conn_next != NULL) {
        s->conn_next->conn_prev = s->conn_prev;
    }
    if (c->subs == NULL) {
        htab_remove(&idx->conns, &c->h);
        free(c);
    }
    filter_set_free(s->set);
    free(s);
    idx->n_subs--;
}

static uint64_t sub_hash(const struct subidx *idx, uint64_t conn_id, const char *sub_id, size_t len)
{
    uint8_t b[8 + SUBIDX_SUB_ID_MAX];
    memcpy(b, &conn_id, 8);
    memcpy(b + 8, sub_id, len);
    return hash_with(idx, 0x10000, b, 8 + len);
}

static struct sub *sub_find(const struct subidx *idx, uint64_t hash, uint64_t conn_id,
                            const char *sub_id, size_t len)
{
    for (struct hnode *n = idx->subs.slots[hash & idx->subs.mask]; n != NULL; n = n->next) {
        struct sub *s = CONTAINER_OF(n, struct sub, h);
        if (n->hash == hash && s->conn_id == conn_id && s->sub_id_len == len &&
            memcmp(s->sub_id, sub_id, len) == 0) {
            return s;
        }
    }
    return NULL;
}

static uint64_t conn_hash(const struct subidx *idx, uint64_t conn_id)
{
    uint8_t b[8];
    memcpy(b, &conn_id, 8);
    return hash_with(idx, 0x20000, b, 8);
}

static struct conn_node *conn_find(const struct subidx *idx, uint64_t conn_id)
{
    uint64_t hash = conn_hash(idx, conn_id);
    for (struct hnode *n = idx->conns.slots[hash & idx->conns.mask]; n != NULL; n = n->next) {
        struct conn_node *c = CONTAINER_OF(n, struct conn_node, h);
        if (n->hash == hash && c->conn_id == conn_id) {
            return c;
        }
    }
    return NULL;
}

int subidx_new(struct subidx **out)
{
    struct subidx *idx = calloc(1, sizeof(*idx));
    if (idx == NULL) {
        return OST_ENOMEM;
    }
    if (htab_init(&idx->keys) < 0 || htab_init(&idx->subs) < 0 || htab_init(&idx->conns) < 0) {
        subidx_free(idx);
        return OST_ENOMEM;
    }
    if (getrandom(idx->seed, sizeof(idx->seed), GRND_NONBLOCK) != (ssize_t)sizeof(idx->seed)) {
        /* No entropy yet (early boot): weaker, but still not guessable
         * from outside the process. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        idx->seed[0] = (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)idx * 0x9E3779B97F4A7C15ULL;
        idx->seed[1] = (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&ts;
    }
    *out = idx;
    return 0;
}

void subidx_free(struct subidx *idx)
{
    if (idx == NULL) {
        return;
    }
    /* Everything goes, so nothing is unlinked: free each node directly. */
    for (size_t i = 0; idx->subs.slots != NULL && i <= idx->subs.mask; i++) {
        for (struct hnode *n = idx->subs.slots[i], *next; n != NULL; n = next) {
            struct sub *s = CONTAINER_OF(n, struct sub, h);
            next = n->next;
            filter_set_free(s->set);
            free(s);
        }
    }
    for (size_t i = 0; idx->keys.slots != NULL && i <= idx->keys.mask; i++) {
        for (struct hnode *n = idx->keys.slots[i], *next; n != NULL; n = next) {
            next = n->next;
            free(CONTAINER_OF(n, struct knode, h));
        }
    }
    for (size_t i = 0; idx->conns.slots != NULL && i <= idx->conns.mask; i++) {
        for (struct hnode *n = idx->conns.slots[i], *next; n != NULL; n = next) {
            next = n->next;
            free(CONTAINER_OF(n, struct conn_node, h));
        }
    }
    free(idx->keys.slots);
    free(idx->subs.slots);
    free(idx->conns.slots);
    free(idx->tagbuf);
    free(idx);
}

/* Makes idx->tagbuf hold the longest tag value that set files, so matching
 * can unescape any value that could equal a filed key without allocating. */
static int reserve_tagbuf(struct subidx *idx, const struct filter_set *set, size_t *n_entries)
{
    size_t need = 0;
    *n_entries = 0;
    for (size_t fi = 0; fi < filter_set_count(set); fi++) {
        struct plan p;
        plan_filter(filter_set_at(set, fi), &p);
        *n_entries += p.n;
        for (size_t i = 0; p.type == KEY_TAG && i < p.n; i++) {
            need = p.cond->value_lens[i] > need ? p.cond->value_lens[i] : need;
        }
    }
    if (need > idx->tagbuf_cap) {
        uint8_t *b = realloc(idx->tagbuf, need);
        if (b == NULL) {
            return OST_ENOMEM;
        }
        idx->tagbuf = b;
        idx->tagbuf_cap = need;
    }
    return 0;
}

int subidx_add_take(struct subidx *idx, uint64_t conn_id, const char *sub_id, size_t sub_id_len,
                    struct filter_set *set)
{
    size_t n_entries, n_filters;
    if (sub_id_len == 0 || sub_id_len > SUBIDX_SUB_ID_MAX || set == NULL) {
        return OST_EINVAL;
    }
    n_filters = filter_set_count(set);
    if (reserve_tagbuf(idx, set, &n_entries) < 0) {
        return OST_ENOMEM;
    }
    uint64_t hash = sub_hash(idx, conn_id, sub_id, sub_id_len);
    struct sub *old = sub_find(idx, hash, conn_id, sub_id, sub_id_len);
    struct sub *s =
        malloc(sizeof(*s) + n_entries * sizeof(struct entry) + n_filters * sizeof(uint64_t));
    if (s == NULL) {
        return OST_ENOMEM;
    }
    memset(s, 0, sizeof(*s));
    s->h.hash = hash;
    s->set = set;
    s->conn_id = conn_id;
    s->checked = (uint64_t *)(void *)(s->entries + n_entries);
    memset(s->checked, 0, n_filters * sizeof(uint64_t));
    s->n_entries = n_entries;
    s->sub_id_len = (uint8_t)sub_id_len;
    memcpy(s->sub_id, sub_id, sub_id_len);

    struct conn_node *c = old != NULL ? old->conn : conn_find(idx, conn_id);
    bool is_new_conn = c == NULL;
    if (is_new_conn) {
        c = malloc(sizeof(*c));
        if (c == NULL) {
            free(s);
            return OST_ENOMEM;
        }
        c->h.hash = conn_hash(idx, conn_id);
        c->conn_id = conn_id;
        c->subs = NULL;
        htab_insert(&idx->conns, &c->h);
    }
    if (sub_register(idx, s) < 0) {
        if (is_new_conn) {
            htab_remove(&idx->conns, &c->h);
            free(c);
        }
        free(s);
        return OST_ENOMEM;
    }
    /* The new subscription is complete before the old one goes, so a
     * failure above leaves the old one in place. */
    s->conn = c;
    s->conn_next = c->subs;
    if (c->subs != NULL) {
        c->subs->conn_prev = s;
    }
    c->subs = s;
    htab_insert(&idx->subs, &s->h);
    idx->n_subs++;
    if (old != NULL) {
        sub_remove(idx, old);
    }
    return 0;
}

bool subidx_remove(struct subidx *idx, uint64_t conn_id, const char *sub_id, size_t sub_id_len)
{
    if (sub_id_len == 0 || sub_id_len > SUBIDX_SUB_ID_MAX) {
        return false;
    }
    struct sub *s =
        sub_find(idx, sub_hash(idx, conn_id, sub_id, sub_id_len), conn_id, sub_id, sub_id_len);
    if (s == NULL) {
        return false;
    }
    sub_remove(idx, s);
    return true;
}

size_t subidx_remove_conn(struct subidx *idx, uint64_t conn_id)
{
    struct conn_node *c = conn_find(idx, conn_id);
    size_t n = 0;
    if (c == NULL) {
        return 0;
    }
    /* Removing the last subscription frees c, so read the list through s. */
    for (struct sub *s = c->subs, *next; s != NULL; s = next) {
        next = s->conn_next;
        sub_remove(idx, s);
        n++;
    }
    return n;
}

struct match {
    const struct event *ev;
    subidx_match_fn fn;
    void *ud;
    uint64_t gen;
    size_t count;
};

static void visit(struct match *m, const struct entry *e)
{
    for (; e != NULL; e = e->next) {
        struct sub *s = e->sub;
        if (s->reported_gen == m->gen || s->checked[e->filter_index] == m->gen) {
            continue;
        }
        s->checked[e->filter_index] = m->gen;
        if (!filter_matches(e->f, m->ev)) {
            continue;
        }
        s->reported_gen = m->gen;
        m->count++;
        m->fn(m->ud, s->conn_id, s->sub_id, s->sub_id_len);
    }
}

static void visit_key(const struct subidx *idx, struct match *m, uint8_t type, char letter,
                      const uint8_t *b, uint32_t len)
{
    struct knode *k = key_find(idx, key_hash(idx, type, letter, b, len), type, letter, b, len);
    if (k != NULL) {
        visit(m, k->head);
    }
}

/* Visits the key of each (letter, value) pair: the first two elements of
 * every tag whose name is a single letter. */
static void visit_tags(const struct subidx *idx, struct match *m)
{
    struct event_tag_iter tags, fields;
    struct json_str name, value;
    event_tags_begin(m->ev, &tags);
    while (event_tags_next(&tags, &fields)) {
        if (!event_tag_next_str(&fields, &name) || !event_tag_next_str(&fields, &value)) {
            continue;
        }
        char letter = filter_tag_letter(&name);
        if (letter == 0) {
            continue;
        }
        if (!value.has_escapes) {
            visit_key(idx, m, KEY_TAG, letter, (const uint8_t *)value.p, value.len);
            continue;
        }
        /* A value longer than tagbuf is longer than every filed value, so
         * no key can equal it. */
        size_t n = filter_tag_value_decode(&value, idx->tagbuf, idx->tagbuf_cap);
        if (n <= idx->tagbuf_cap) {
            visit_key(idx, m, KEY_TAG, letter, idx->tagbuf, (uint32_t)n);
        }
    }
}

size_t subidx_match(struct subidx *idx, const struct event *ev, subidx_match_fn fn, void *ud)
{
    struct match m = { .ev = ev, .fn = fn, .ud = ud, .gen = ++idx->gen, .count = 0 };
    uint8_t kb[4];
    visit_key(idx, &m, KEY_ID, 0, ev->id, 32);
    visit_key(idx, &m, KEY_AUTHOR, 0, ev->pubkey, 32);
    if (idx->n_tag_keys > 0) {
        visit_tags(idx, &m);
    }
    memcpy(kb, &ev->kind, 4);
    visit_key(idx, &m, KEY_KIND, 0, kb, 4);
    visit(&m, idx->catchall);
    return m.count;
}

size_t subidx_count(const struct subidx *idx)
{
    return idx->n_subs;
}
