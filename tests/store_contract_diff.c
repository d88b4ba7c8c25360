/*
 * The storage contract, differential: seeded random events (with
 * duplicates, replaceable and addressable kinds, escaped tag values and
 * many equal timestamps) are written in random batches while a naive model
 * applies the NIP-01 rules; then seeded random REQs are answered by the
 * store and by a scan of the model with filter_matches, and must agree
 * event for event, in order, and in their counts.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/buf.h"
#include "filters/filter.h"
#include "store/store.h"
#include "store_contract.h"
#include "store_fx.h"
#include "validate/event.h"

#define DIFF_SEED    0x5eedf00d2024ull
#define DIFF_EVENTS  3000
#define DIFF_QUERIES 300

#define rnd store_contract_rnd

/* The model's answer to writing event i (events before it already applied). */
static enum store_status model_write(struct store_contract_dev *devs, unsigned i)
{
    struct store_contract_dev *e = &devs[i];
    const struct event *ev = &e->t.ev;
    bool is_repl = event_kind_is_replaceable(ev->kind) || event_kind_is_addressable(ev->kind);
    for (unsigned j = 0; j < i; j++) {
        if (devs[j].is_alive && memcmp(devs[j].t.ev.id, ev->id, 32) == 0) {
            return STORE_DUPLICATE;
        }
    }
    for (unsigned j = 0; is_repl && j < i; j++) {
        const struct event *o = &devs[j].t.ev;
        if (!devs[j].is_alive || devs[j].pk != e->pk || o->kind != ev->kind ||
            (e->d != NULL && strcmp(devs[j].d, e->d) != 0)) {
            continue;
        }
        if (o->created_at > ev->created_at ||
            (o->created_at == ev->created_at && memcmp(o->id, ev->id, 32) < 0)) {
            return STORE_REPLACED_OLDER;
        }
    }
    for (unsigned j = 0; is_repl && j < i; j++) {
        if (devs[j].pk == e->pk && devs[j].t.ev.kind == ev->kind &&
            (e->d == NULL || strcmp(devs[j].d, e->d) == 0)) {
            devs[j].is_alive = false;
        }
    }
    e->is_alive = true;
    return STORE_STORED;
}

struct diff_key {
    int64_t created_at;
    const uint8_t *id;
    unsigned idx;
};

static int cmp_diff_key(const void *pa, const void *pb)
{
    const struct diff_key *a = pa, *b = pb;
    if (a->created_at != b->created_at) {
        return a->created_at > b->created_at ? -1 : 1;
    }
    return memcmp(a->id, b->id, 32);
}

/* The naive answer: per filter, every live match sorted and cut at the
 * limit; then the union, sorted. Returns the count of keys written. *count
 * gets the number of live events any filter matches, ignoring limits. */
static size_t naive_query(const struct store_contract_dev *devs, const struct filter_set *set,
                          struct diff_key *k, struct diff_key *scratch, bool *in_union,
                          uint64_t *count)
{
    memset(in_union, 0, DIFF_EVENTS * sizeof(*in_union));
    *count = 0;
    for (unsigned i = 0; i < DIFF_EVENTS; i++) {
        *count += devs[i].is_alive && filter_set_matches(set, &devs[i].t.ev);
    }
    for (size_t f = 0; f < filter_set_count(set); f++) {
        size_t n = 0;
        for (unsigned i = 0; i < DIFF_EVENTS; i++) {
            if (devs[i].is_alive && filter_matches(filter_set_at(set, f), &devs[i].t.ev)) {
                scratch[n++] = (struct diff_key){ devs[i].t.ev.created_at, devs[i].t.ev.id, i };
            }
        }
        qsort(scratch, n, sizeof(*scratch), cmp_diff_key);
        uint32_t limit = filter_limit(filter_set_at(set, f));
        for (size_t j = 0; j < n && j < limit; j++) {
            in_union[scratch[j].idx] = true;
        }
    }
    size_t n = 0;
    for (unsigned i = 0; i < DIFF_EVENTS; i++) {
        if (in_union[i]) {
            k[n++] = (struct diff_key){ devs[i].t.ev.created_at, devs[i].t.ev.id, i };
        }
    }
    qsort(k, n, sizeof(*k), cmp_diff_key);
    return n;
}

/* Writes every event in seeded random batches, comparing each status with
 * the model's. */
static bool write_all(struct store_conn *w, struct store_contract_dev *devs, uint64_t *seed)
{
    for (unsigned i = 0; i < DIFF_EVENTS;) {
        const struct event *evs[64] = { 0 };
        struct store_result res[64];
        unsigned n = 1 + rnd(seed, 64);
        n = n < DIFF_EVENTS - i ? n : DIFF_EVENTS - i;
        for (unsigned k = 0; k < n; k++) {
            evs[k] = &devs[i + k].t.ev;
        }
        int rc = store_write_batch(w, evs, n, res);
        if (rc < 0) {
            fprintf(stderr, "  seed %#llx: batch at event %u: %s\n", (unsigned long long)DIFF_SEED,
                    i, ost_strerror(rc));
            return false;
        }
        for (unsigned k = 0; k < n; k++) {
            enum store_status model = model_write(devs, i + k);
            if (res[k].status != model) {
                fprintf(stderr, "  seed %#llx: event %u: store %d, model %d\n",
                        (unsigned long long)DIFF_SEED, i + k, res[k].status, model);
                return false;
            }
        }
        i += n;
    }
    return true;
}

static void test_differential(void)
{
    uint64_t seed = DIFF_SEED;
    struct store_fx fx;
    struct store_contract_dev *devs = calloc(DIFF_EVENTS, sizeof(*devs));
    uint8_t(*ids)[32] = calloc(DIFF_EVENTS, sizeof(*ids));
    struct diff_key *want = calloc(DIFF_EVENTS, sizeof(*want));
    struct diff_key *scratch = calloc(DIFF_EVENTS, sizeof(*scratch));
    bool *in_union = calloc(DIFF_EVENTS, sizeof(*in_union));
    struct buf text;
    struct store_contract_hits h = { 0 };
    buf_init(&text);
    CHECK(devs != NULL && ids != NULL && want != NULL && scratch != NULL && in_union != NULL);
    CHECK_OK(store_contract_fx_init(&fx, 0));
    for (unsigned i = 0; i < DIFF_EVENTS; i++) {
        CHECK(store_contract_dev_make(devs, i, &seed));
        memcpy(ids[i], devs[i].t.ev.id, 32);
    }
    CHECK(write_all(fx.w, devs, &seed));
    for (unsigned q = 0; q < DIFF_QUERIES; q++) {
        struct filter_set *set = NULL;
        uint64_t count = 0, want_count = 0;
        buf_reset(&text);
        for (unsigned f = 0, n = 1 + rnd(&seed, 3); f < n; f++) {
            if (f > 0) {
                buf_append_char(&text, ',');
            }
            store_contract_random_filter(&text, &seed, (const uint8_t(*)[32])ids, DIFF_EVENTS);
        }
        CHECK(buf_cstr(&text) != NULL);
        CHECK_OK(store_contract_parse_set(&set, "%s", text.data));
        int rc = store_query_set(fx.r, set, store_contract_hits_add, &h, NULL);
        int count_rc = store_count_set(fx.r, set, &count);
        size_t n_want = naive_query(devs, set, want, scratch, in_union, &want_count);
        bool is_same = rc == 0 && count_rc == 0 && h.n == n_want && count == want_count;
        for (size_t i = 0; is_same && i < n_want; i++) {
            is_same = store_contract_hit_is(&h, i, &devs[want[i].idx].t);
        }
        if (!is_same) {
            fprintf(stderr,
                    "  seed %#llx, query %u: %s\n    store: rc %d, %zu events, count %d/%" PRIu64
                    "; naive: %zu events, count %" PRIu64 "\n",
                    (unsigned long long)DIFF_SEED, q, text.data, rc, h.n, count_rc, count, n_want,
                    want_count);
        }
        filter_set_free(set);
        store_contract_hits_clear(&h);
        CHECK(is_same);
    }
    for (unsigned i = 0; i < DIFF_EVENTS; i++) {
        buf_fini(&devs[i].t.json);
    }
    free(devs);
    free(ids);
    free(want);
    free(scratch);
    free(in_union);
    buf_fini(&text);
    store_fx_fini(&fx);
}

const struct store_contract_test store_contract_diff_tests[] = {
    STORE_CONTRACT_TEST(differential),
};
const size_t store_contract_diff_n =
    sizeof(store_contract_diff_tests) / sizeof(store_contract_diff_tests[0]);
