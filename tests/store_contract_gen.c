/*
 * The seeded random events and filters of the storage contract's
 * differential test (tests/store_contract.h), also used by the SQLite
 * query-plan test. xorshift64*, so a seed gives the same sequence on every
 * machine.
 */
#include <string.h>

#include "common/hex.h"
#include "store_contract.h"

uint64_t store_contract_rng(uint64_t *seed)
{
    *seed ^= *seed >> 12;
    *seed ^= *seed << 25;
    *seed ^= *seed >> 27;
    return *seed * 0x2545f4914f6cdd1dull;
}

unsigned store_contract_rnd(uint64_t *seed, unsigned n)
{
    return (unsigned)(store_contract_rng(seed) >> 33) % n;
}

#define rnd store_contract_rnd

/* Fixed tags; d is the unescaped value of a "d" tag, else NULL. */
static const struct {
    const char *json;
    const char *d;
} tag_pool[] = {
    { "[\"t\",\"nostr\"]", NULL },
    { "[\"t\",\"caf\\u00e9\"]", NULL },
    { "[\"t\",\"caf\xc3\xa9\"]", NULL },
    { "[\"t\",\"\\u0041\"]", NULL },
    { "[\"t\",\"A\"]", NULL },
    { "[\"t\",\"\"]", NULL },
    { "[\"t\"]", NULL },
    { "[\"alt\",\"nostr\"]", NULL },
    { "[\"T\",\"nostr\"]", NULL },
    { "[\"d\",\"x\"]", "x" },
    { "[\"d\",\"\\u0078\"]", "x" },
    { "[\"d\",\"y\"]", "y" },
    { "[\"d\"]", "" },
    { "[\"d\",\"\"]", "" },
};
#define TAG_POOL_N (sizeof(tag_pool) / sizeof(tag_pool[0]))

static const unsigned kind_pool[] = { 1, 1, 1, 7, 5, 0, 3, 10002, 30023, 30023, 31000 };
#define KIND_POOL_N (sizeof(kind_pool) / sizeof(kind_pool[0]))
static const char *const t_filter_pool[] = { "nostr", "caf\\u00e9", "A", "\\u0041", "", "zzz" };

bool store_contract_dev_make(struct store_contract_dev *devs, unsigned i, uint64_t *seed)
{
    struct store_contract_dev *e = &devs[i];
    memset(e, 0, sizeof(*e));
    if (i > 0 && rnd(seed, 100) < 3) {
        const struct store_contract_dev *src = &devs[rnd(seed, i)];
        buf_init(&e->t.json);
        buf_append(&e->t.json, src->t.json.data, src->t.json.len);
        e->pk = src->pk;
        e->d = src->d;
        return store_contract_ev_parse(&e->t);
    }
    struct buf tags;
    buf_init(&tags);
    buf_append_char(&tags, '[');
    unsigned n_tags = rnd(seed, 5);
    const char *d = NULL;
    for (unsigned k = 0; k < n_tags; k++) {
        if (k > 0) {
            buf_append_char(&tags, ',');
        }
        unsigned pick = rnd(seed, TAG_POOL_N + 2);
        if (pick == TAG_POOL_N) {
            buf_printf(&tags, "[\"e\",\"%s\",\"wss://r\"]", store_contract_hx(3, rnd(seed, 30)));
        } else if (pick == TAG_POOL_N + 1) {
            buf_printf(&tags, "[\"p\",\"%s\"]", store_contract_hx(0, rnd(seed, 8)));
        } else {
            buf_append_str(&tags, tag_pool[pick].json);
            d = d == NULL ? tag_pool[pick].d : d;
        }
    }
    buf_append_char(&tags, ']');
    unsigned kind = kind_pool[rnd(seed, KIND_POOL_N)];
    e->pk = rnd(seed, 6);
    e->d = event_kind_is_addressable(kind) ? (d != NULL ? d : "") : NULL;
    bool ok =
        buf_cstr(&tags) != NULL && store_contract_ev_make(&e->t, rnd(seed, 256), i, e->pk,
                                                          1000 + rnd(seed, 300), kind, tags.data);
    buf_fini(&tags);
    return ok;
}

void store_contract_random_filter(struct buf *out, uint64_t *seed, const uint8_t (*ids)[32],
                                  unsigned n_ids)
{
    bool first = true;
    buf_append_char(out, '{');
#define FIELD(name) (buf_append_str(out, first ? name : "," name), first = false)
    if (rnd(seed, 100) < 15) {
        FIELD("\"ids\":[");
        unsigned n = rnd(seed, 4);
        for (unsigned k = 0; k < n; k++) {
            /* Ids of events (live or not), and some that never were. */
            unsigned i = rnd(seed, n_ids + n_ids / 4 + 1);
            char id[65] = { 0 };
            if (i < n_ids) {
                hex_encode(ids[i], 32, id);
            }
            buf_printf(out, "%s\"%s\"", k ? "," : "", i < n_ids ? id : store_contract_hx(255, i));
        }
        buf_append_char(out, ']');
    }
    if (rnd(seed, 100) < 40) {
        FIELD("\"authors\":[");
        for (unsigned k = 0, n = 1 + rnd(seed, 3); k < n; k++) {
            buf_printf(out, "%s\"%s\"", k ? "," : "", store_contract_hx(0, rnd(seed, 8)));
        }
        buf_append_char(out, ']');
    }
    if (rnd(seed, 100) < 40) {
        FIELD("\"kinds\":[");
        for (unsigned k = 0, n = 1 + rnd(seed, 3); k < n; k++) {
            buf_printf(out, "%s%u", k ? "," : "", kind_pool[rnd(seed, KIND_POOL_N)]);
        }
        buf_append_char(out, ']');
    }
    if (rnd(seed, 100) < 15) {
        FIELD("\"#e\":[");
        for (unsigned k = 0, n = 1 + rnd(seed, 2); k < n; k++) {
            buf_printf(out, "%s\"%s\"", k ? "," : "", store_contract_hx(3, rnd(seed, 30)));
        }
        buf_append_char(out, ']');
    }
    if (rnd(seed, 100) < 15) {
        FIELD("\"#p\":[");
        for (unsigned k = 0, n = 1 + rnd(seed, 2); k < n; k++) {
            buf_printf(out, "%s\"%s\"", k ? "," : "", store_contract_hx(0, rnd(seed, 8)));
        }
        buf_append_char(out, ']');
    }
    if (rnd(seed, 100) < 20) {
        FIELD("\"#t\":[");
        for (unsigned k = 0, n = 1 + rnd(seed, 2); k < n; k++) {
            buf_printf(out, "%s\"%s\"", k ? "," : "", t_filter_pool[rnd(seed, 6)]);
        }
        buf_append_char(out, ']');
    }
    if (rnd(seed, 100) < 10) {
        FIELD("\"#d\":[");
        buf_printf(out, "\"%s\"]", rnd(seed, 2) ? "x" : "");
    }
    if (rnd(seed, 100) < 30) {
        FIELD("\"since\":");
        buf_printf(out, "%u", 1000 + rnd(seed, 300));
    }
    if (rnd(seed, 100) < 30) {
        FIELD("\"until\":");
        buf_printf(out, "%u", 1000 + rnd(seed, 300));
    }
    if (rnd(seed, 100) < 70) {
        FIELD("\"limit\":");
        buf_printf(out, "%u", rnd(seed, 40));
    }
#undef FIELD
    buf_append_char(out, '}');
}
