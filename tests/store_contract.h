/*
 * The storage contract suite: one set of tests, written once against
 * store/store.h, that every backend must pass (test_store_contract
 * <backend>). This header holds what its files share: the table type, the
 * backend the run is on, and helpers that build events, write them and
 * read query results back. The helpers never fail a test themselves (they
 * return a code or a bool for the caller to check), because each file has
 * its own check_failed (tests/check.h). Single-threaded.
 */
#ifndef OSTRICH_TESTS_STORE_CONTRACT_H
#define OSTRICH_TESTS_STORE_CONTRACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "store/store.h"
#include "store_fx.h"
#include "validate/event.h"

struct filter_set;

#define STORE_CONTRACT_SIG_ZEROS                                       \
    "0000000000000000000000000000000000000000000000000000000000000000" \
    "0000000000000000000000000000000000000000000000000000000000000000"

/* The relay URL that NIP-62 requests name to mean this relay. */
#define STORE_CONTRACT_RELAY_URL "wss://relay.example.com"

/* The most events the write helpers take in one batch. */
#define STORE_CONTRACT_MAX_BATCH 64

/* One test. failed points at the check_failed of the file that defines
 * fn, which is where its CHECKs record a failure. */
struct store_contract_test {
    const char *name;
    void (*fn)(void);
    int *failed;
};

#define STORE_CONTRACT_TEST(name)         \
    {                                     \
#name, test_##name, &check_failed \
    }

/* The tables of the suite's files. */
extern const struct store_contract_test store_contract_write_tests[];
extern const size_t store_contract_write_n;
extern const struct store_contract_test store_contract_query_tests[];
extern const size_t store_contract_query_n;
extern const struct store_contract_test store_contract_diff_tests[];
extern const size_t store_contract_diff_n;
extern const struct store_contract_test store_contract_nip09_tests[];
extern const size_t store_contract_nip09_n;
extern const struct store_contract_test store_contract_nip40_tests[];
extern const size_t store_contract_nip40_n;
extern const struct store_contract_test store_contract_nip50_tests[];
extern const size_t store_contract_nip50_n;

/* The backend of this run (set once by main) and its name as store_open
 * reports it. */
enum store_backend store_contract_backend(void);
const char *store_contract_backend_name(void);

/* Opens a fresh store of the run's backend (store_fx_init_backend). */
int store_contract_fx_init(struct store_fx *fx, int64_t now);

/* An event built from its parts; json must outlive ev. */
struct store_contract_ev {
    struct buf json;
    struct event ev;
};

/* 64 hex characters: byte 0 is hi, the last four bytes hold n, so ids
 * compare as (hi, n) and hx(0, n) is n in 64 hex digits. The result lives
 * in one of 8 rotating static buffers. */
const char *store_contract_hx(unsigned hi, unsigned n);

/* Parses t->json into t->ev; on failure prints why, frees t->json and
 * returns false. */
bool store_contract_ev_parse(struct store_contract_ev *t);

/* Builds and parses an event: id and pubkey are 64 hex characters, tags is
 * JSON array text and content JSON string text without its quotes. The
 * signature is zeros (the store never checks it). False on failure, with
 * nothing left to free. */
bool store_contract_ev_build(struct store_contract_ev *t, const char *id, const char *pubkey,
                             long long created_at, unsigned kind, const char *tags,
                             const char *content);

/* store_contract_ev_build with id hx(id_hi, id), pubkey hx(0, pk) and an
 * empty content. */
bool store_contract_ev_make(struct store_contract_ev *t, unsigned id_hi, unsigned id, unsigned pk,
                            long long created_at, unsigned kind, const char *tags);

void store_contract_evs_free(struct store_contract_ev *t, size_t n);

/* Writes t[0..n) (n <= STORE_CONTRACT_MAX_BATCH) as one batch and copies
 * each status into st. Returns store_write_batch's code. */
int store_contract_write(struct store_conn *c, struct store_contract_ev *t, size_t n,
                         enum store_status *st);

/* As store_contract_write, each event with what it deletes as the relay
 * reads it (nip09_parse, then nip62_parse with STORE_CONTRACT_RELAY_URL),
 * through store_write_batch_del; res (may be NULL) receives the results. */
int store_contract_write_del(struct store_conn *c, struct store_contract_ev *t, size_t n,
                             enum store_status *st, struct store_result *res);

/* What a query returned, in order (copies of the JSON). */
struct store_contract_hits {
    size_t n, cap;
    char **json;
    size_t *len;
    size_t stop_after; /* > 0: the callback stops the query after this many */
};

/* The code the callback stops a query with after stop_after hits. */
#define STORE_CONTRACT_STOP (-4242)

/* A store_event_fn that appends to the struct store_contract_hits ud. */
int store_contract_hits_add(void *ud, const char *json, size_t len);
void store_contract_hits_clear(struct store_contract_hits *h);

/* True when hit i is t's JSON byte for byte. */
bool store_contract_hit_is(const struct store_contract_hits *h, size_t i,
                           const struct store_contract_ev *t);

/* Parses the filters of a REQ ("{...},{...}", formatted like printf) with
 * the default limits and up to 16 filters; prints the reason on failure. */
__attribute__((format(printf, 2, 3))) int store_contract_parse_set(struct filter_set **out,
                                                                   const char *fmt, ...);

/* Runs filters (a REQ's filter text) and writes into ids[0..*n) the number
 * in the last four bytes of each returned event's id, in order (more than
 * cap results is OST_ENOSPC); snap (may be NULL) receives the snapshot
 * report. */
int store_contract_id_list(struct store_conn *c, const char *filters, unsigned *ids, size_t cap,
                           size_t *n, struct store_snapshot *snap);

/* store_contract_id_list written into out as "3 1 2". */
int store_contract_ids(struct store_conn *c, const char *filters, struct buf *out,
                       struct store_snapshot *snap);

/* store_count_set of filters (a REQ's filter text). */
int store_contract_count(struct store_conn *c, const char *filters, uint64_t *out);

/* Whether a query for the event id (64 hex characters) returns it. */
int store_contract_has(struct store_conn *c, const char *id, bool *is_there);

/* The seeded generator of the differential test, shared with the SQLite
 * query-plan test so that both see the same filter shapes. */
uint64_t store_contract_rng(uint64_t *seed);
unsigned store_contract_rnd(uint64_t *seed, unsigned n);

/* One event of the differential test's model. */
struct store_contract_dev {
    struct store_contract_ev t;
    unsigned pk;
    const char *d; /* the address part for addressable kinds, else NULL */
    bool is_alive;
};

/* Makes event i of devs: mostly new (duplicates, replaceable and
 * addressable kinds, escaped tag values, many equal timestamps), sometimes
 * a copy of an earlier one. */
bool store_contract_dev_make(struct store_contract_dev *devs, unsigned i, uint64_t *seed);

/* Appends a random filter object to out; its "ids" come from ids[0..n_ids)
 * and from ids that never were. */
void store_contract_random_filter(struct buf *out, uint64_t *seed, const uint8_t (*ids)[32],
                                  unsigned n_ids);

/* Short names for the test files. */
static inline const char *hx(unsigned hi, unsigned n)
{
    return store_contract_hx(hi, n);
}

/* Runs the filters given as text; results are added to the hits h. */
#define QUERY(c, h, ...)                                                           \
    do {                                                                           \
        struct filter_set *set_ = NULL;                                            \
        CHECK_OK(store_contract_parse_set(&set_, __VA_ARGS__));                    \
        int qrc_ = store_query_set((c), set_, store_contract_hits_add, (h), NULL); \
        filter_set_free(set_);                                                     \
        CHECK_OK(qrc_);                                                            \
    } while (0)

#define COUNT(c, out, ...)                                      \
    do {                                                        \
        struct filter_set *set_ = NULL;                         \
        CHECK_OK(store_contract_parse_set(&set_, __VA_ARGS__)); \
        int qrc_ = store_count_set((c), set_, (out));           \
        filter_set_free(set_);                                  \
        CHECK_OK(qrc_);                                         \
    } while (0)

/* Checks that the filters return exactly the id numbers want ("3 1 2"),
 * in that order, and (want_complete >= 0) the completeness. */
#define CHECK_IDS(c, filters, want, want_complete)                                \
    do {                                                                          \
        struct buf got_;                                                          \
        struct store_snapshot snap_ = { 0 };                                      \
        buf_init(&got_);                                                          \
        int irc_ = store_contract_ids((c), (filters), &got_, &snap_);             \
        const char *text_ = irc_ == 0 ? buf_cstr(&got_) : NULL;                   \
        char copy_[512];                                                          \
        snprintf(copy_, sizeof(copy_), "%s", text_ != NULL ? text_ : "(failed)"); \
        buf_fini(&got_);                                                          \
        if (strcmp(copy_, (want)) != 0) {                                         \
            fprintf(stderr, "  filters %s\n", (filters));                         \
        }                                                                         \
        CHECK_OK(irc_);                                                           \
        CHECK_STR_EQ(copy_, (want));                                              \
        if ((want_complete) >= 0) {                                               \
            CHECK_INT_EQ(snap_.is_complete, (want_complete));                     \
        }                                                                         \
    } while (0)

#endif
