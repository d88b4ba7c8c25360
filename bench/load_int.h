/*
 * Private to bench/load, which spans load.c (options, main, the helpers
 * every scenario shares: relay messages, latencies, CPU, the JSON line),
 * load_corpus.c (the events and keys a scenario needs), and one file per
 * scenario: load_ingest.c (ingest, dup-ingest), load_query.c,
 * load_fanout.c and load_conns.c. Everything runs on the generator's one
 * thread, except the event signing in load_corpus.c, which uses all cores
 * before the measured phase.
 */
#ifndef OSTRICH_BENCH_LOAD_INT_H
#define OSTRICH_BENCH_LOAD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/load_ws.h"
#include "common/buf.h"
#include "common/json.h"

#define LOAD_MSG_MAX      5 /* elements of a relay message we look at */
#define LOAD_N_KEPT       3 /* reasons kept for the summary */
#define LOAD_REASON_LEN   160
#define LOAD_OPEN_WAIT_S  60
#define LOAD_CLOSE_WAIT_S 3

enum load_scenario {
    LOAD_INGEST,
    LOAD_DUP_INGEST,
    LOAD_QUERY,
    LOAD_FANOUT,
    LOAD_CONNS,
};

/* Query shapes; LOAD_SHAPE_MIX draws one of the others per REQ. */
enum load_shape {
    LOAD_SHAPE_AUTHOR,
    LOAD_SHAPE_AUTHORS10,
    LOAD_SHAPE_PTAG,
    LOAD_SHAPE_RECENT,
    LOAD_SHAPE_WINDOW,
    LOAD_SHAPE_ETAG,
    LOAD_SHAPE_IDS,
    LOAD_SHAPE_SEARCH,
    LOAD_SHAPE_MIX,
    LOAD_SHAPE_COUNT,
};

/* Live filters of the fanout scenario. */
enum load_filter {
    LOAD_FILTER_ALL,
    LOAD_FILTER_KIND,
    LOAD_FILTER_AUTHORS,
    LOAD_FILTER_PTAG,
};

/* The command line. Read-only once parsed. */
struct load_opts {
    enum load_scenario scenario;
    enum load_shape shape;
    enum load_filter filter;
    const char *host;
    const char *corpus; /* a bench/gen JSONL file, or NULL */
    bool has_events;    /* --events was given */
    bool has_seconds;   /* --seconds was given */
    uint64_t port, conns, window, events, seed, keys, reqs, limit, timeout_s, relay_pid;
    uint64_t rate, subs, publishers, seconds, sub_keys, sample, settle_ms;
};

extern const char *const load__shape_names[];
extern const char *const load__filter_names[];
extern const char *const load__scenario_names[];

/* Reasons seen in OK false, CLOSED or NOTICE, kept for the summary. */
struct load_kept {
    uint64_t n;
    char text[LOAD_N_KEPT][LOAD_REASON_LEN];
};

/* A relay message: a JSON array split into its first elements. For
 * ["EVENT",sub,{...}] the event is taken as it is, up to the closing
 * bracket, without scanning it. */
struct load_msg {
    size_t n;
    const char *at[LOAD_MSG_MAX], *end[LOAD_MSG_MAX];
};

/* Latency samples in nanoseconds, a growable array. */
struct load_lat {
    uint64_t *v;
    size_t n, cap;
};

/* Percentiles of a load_lat, in milliseconds. */
struct load_pct {
    double p50, p99, max;
};

/* A set of events with an index by id. Every event starts with
 * {"id":"<64 hex>" (evgen writes the id first; the loaders check it). */
struct load_corpus {
    struct buf *ev;
    uint64_t n;
    uint32_t *slots; /* open addressing: event index + 1, 0 for empty */
    uint64_t slot_mask;
};

/* The generator's public keys as hex, and a lookup by pubkey. */
struct load_keys {
    char (*hex)[65];
    uint32_t n;
    uint32_t *slots; /* key index + 1, 0 for empty */
    uint64_t slot_mask;
};

/* ---- load.c ---- */

/* CPU time of the calling thread, and of process pid (-1 when unknown). */
double load__thread_cpu_s(void);
double load__proc_cpu_s(uint64_t pid);

int load__msg_split(const char *p, size_t len, struct load_msg *m);
bool load__msg_str(const struct load_msg *m, size_t i, struct json_str *out);
bool load__str_is(const struct json_str *s, const char *lit);
/* Whether element i is the literal lit (true, false, ...). */
bool load__msg_lit(const struct load_msg *m, size_t i, const char *lit);

void load__keep(struct load_kept *k, const char *s, size_t len);
/* A message no scenario expects, labelled label: a NOTICE's text is kept
 * in notices; NIP-42's AUTH challenge on connect is expected (the load
 * never answers it); anything else counts in *n_bad. */
void load__other_msg(const struct json_str *label, const struct load_msg *m,
                     struct load_kept *notices, uint64_t *n_bad);
void load__print_kept(const char *what, const struct load_kept *k);

/* Appends one sample; OST_ENOMEM. */
int load__lat_add(struct load_lat *l, uint64_t ns);
/* Sorts the samples and reads the nearest-rank percentiles. */
struct load_pct load__lat_pct(struct load_lat *l);
void load__lat_fini(struct load_lat *l);

/* The JSON line: load__json_begin prints {"scenario":"..."; then
 * load__put_members prints ,"key":value per space-separated key, one
 * double each (times, keys ending in _s or _ms but not _per_s, with 3
 * decimals; a negative value as null); load__json_end closes the line. */
void load__json_begin(const struct load_opts *o);
void load__put_members(const char *keys, ...);
void load__json_end(int rc);

/* When rc < 0: why the run stopped, with the relay's close frame if any. */
void load__print_incomplete(const struct load_ws_pool *p, int rc);

/* The common tail of a summary: CPU of both sides over elapsed_s. */
void load__print_cpu(double elapsed_s, double load_cpu, double relay_cpu);

/* id hash of 64 hex digits (the first 16 are enough). */
uint64_t load__id_hash(const char *hex);
/* splitmix64 step. */
uint64_t load__rand(uint64_t *state);

/* Finds the member "key": (given with its quotes and colon) in an event
 * object and returns the value's first byte, or NULL. A quote inside a JSON
 * string is escaped, so the pattern can only match a key. */
const char *load__field(const char *ev, size_t len, const char *key);

/* ---- load_corpus.c ---- */

/* n events of evgen (seed, keys, created_at within the day before
 * base_time), signed on all cores. */
int load__corpus_generate(struct load_corpus *c, uint64_t seed, uint32_t keys, int64_t base_time,
                          uint64_t n);
/* The first max (0: all) events of a bench/gen JSONL file. */
int load__corpus_read(struct load_corpus *c, const char *path, uint64_t max);
/* Either of the two, as the options say (--corpus or --seed/--keys). */
int load__corpus_load(struct load_corpus *c, const struct load_opts *o, uint64_t n);
/* Signs every event again with created_at = base + i * 1e9 / rate ns
 * (seconds, rounded down) on all cores: live events for fanout. keys must
 * be those of the seed the events were made with. */
int load__corpus_resign(struct load_corpus *c, uint64_t seed, const struct load_keys *keys,
                        int64_t base, uint64_t rate);
/* The index of the event with id hex[0..64), or -1. */
int64_t load__corpus_find(const struct load_corpus *c, const char *hex);
void load__corpus_fini(struct load_corpus *c);

/* The public keys of evgen's keys for seed. */
int load__keys_init(struct load_keys *k, uint64_t seed, uint32_t n);
/* The index of the key whose hex is pk[0..64), or -1. */
int64_t load__keys_find(const struct load_keys *k, const char *pk);
void load__keys_fini(struct load_keys *k);

/* ---- one entry per scenario: 0, or a negative code when the run did not
 * complete or the relay answered wrongly ---- */

int load__ingest(const struct load_opts *o);
int load__query(const struct load_opts *o);
int load__fanout(const struct load_opts *o);
int load__conns(const struct load_opts *o);

#endif
