/*
 * Load generator for a running relay: many WebSocket connections driven by
 * one epoll loop on one thread (bench/load_ws.c is the client), so that it
 * takes as little of the machine as possible; its CPU time is reported,
 * and the relay's with --relay-pid.
 *
 *   load ingest      publish a corpus, closed loop (at most W unanswered
 *                    EVENTs per connection) or open loop (--rate R)
 *   load dup-ingest  publish a corpus, then time publishing it again
 *   load query       REQ -> EOSE on a loaded store, one shape or a mix
 *   load fanout      S live subscriptions, P publishers at a fixed rate
 *   load conns       K idle connections with one REQ each: relay memory
 *
 * Each prints one JSON line on stdout and a summary on stderr, and exits 1
 * when the run did not complete or the relay answered wrongly. This file
 * holds the options, main and the helpers every scenario shares
 * (bench/load_int.h); the scenarios live in load_<scenario>.c.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/resource.h>
#include <unistd.h>

#include <stdarg.h>

#include "bench/load_int.h"
#include "common/err.h"

const char *const load__shape_names[] = { "author", "authors10", "ptag",   "recent", "window",
                                          "etag",   "ids",       "search", "mix",    NULL };
const char *const load__filter_names[] = { "all", "kind", "authors", "ptag", NULL };
const char *const load__scenario_names[] = { "ingest", "dup-ingest", "query",
                                             "fanout", "conns",      NULL };

/* ---- CPU ---- */

double load__thread_cpu_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) < 0) {
        return 0;
    }
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double load__proc_cpu_s(uint64_t pid)
{
    char path[64], text[1024] = "";
    snprintf(path, sizeof(path), "/proc/%" PRIu64 "/stat", pid);
    FILE *f = pid > 0 ? fopen(path, "r") : NULL;
    if (f != NULL) {
        text[fread(text, 1, sizeof(text) - 1, f)] = '\0';
        fclose(f);
    }
    /* The command name may hold spaces, so fields are counted from the last
     * ')': utime and stime are fields 14 and 15 of the line. */
    const char *p = strrchr(text, ')');
    unsigned long long ut, st;
    return p != NULL && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                               &st) == 2
               ? (double)(ut + st) / (double)sysconf(_SC_CLK_TCK)
               : -1;
}

void load__print_cpu(double elapsed_s, double load_cpu, double relay_cpu)
{
    double per_s = elapsed_s > 0 ? 1 / elapsed_s : 0;
    fprintf(stderr, "  CPU: load generator %.2f s (%.0f%% of a core)", load_cpu,
            100 * load_cpu * per_s);
    if (relay_cpu >= 0) {
        fprintf(stderr, ", relay %.2f s (%.0f%% of a core)", relay_cpu, 100 * relay_cpu * per_s);
    }
    fprintf(stderr, "\n");
}

void load__print_incomplete(const struct load_ws_pool *p, int rc)
{
    if (rc >= 0) {
        return;
    }
    fprintf(stderr, "  incomplete: %s", p->failure ? p->failure : ost_strerror(rc));
    if (p->close_text[0] != '\0') {
        fprintf(stderr, " (connection %" PRIu32 ", close frame: %s)", p->failed_conn,
                p->close_text);
    }
    fprintf(stderr, "\n");
}

/* ---- Relay messages ---- */

int load__msg_split(const char *p, size_t len, struct load_msg *m)
{
    const char *end = p + len, *next, *reason;
    p = json_skip_ws(p, end);
    if (p == end || *p != '[') {
        return OST_EPARSE;
    }
    m->n = 0;
    for (p = json_skip_ws(p + 1, end); m->n < LOAD_MSG_MAX; p = json_skip_ws(p + 1, end)) {
        /* Scanning every received event strictly would cost the load
         * generator more than everything else; each scenario checks the
         * fields that matter. */
        if (m->n == 2 && p < end && *p == '{') {
            while (end > p && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\r')) {
                end--;
            }
            m->at[2] = p;
            m->end[m->n++] = end - 1;
            return end - p >= 3 && end[-1] == ']' && end[-2] == '}' ? 0 : OST_EPARSE;
        }
        if (json_scan_value(p, end, 64, &next, &reason) < 0) {
            return OST_EPARSE;
        }
        m->at[m->n] = json_skip_ws(p, end);
        m->end[m->n++] = next;
        p = json_skip_ws(next, end);
        if (p < end && *p == ']') {
            return json_skip_ws(p + 1, end) == end ? 0 : OST_EPARSE;
        }
        if (p == end || *p != ',') {
            return OST_EPARSE;
        }
    }
    return OST_EPARSE;
}

bool load__msg_str(const struct load_msg *m, size_t i, struct json_str *out)
{
    const char *next, *reason;
    return i < m->n && *m->at[i] == '"' &&
           json_scan_string(m->at[i], m->end[i], out, NULL, &next, &reason) == 0;
}

bool load__msg_lit(const struct load_msg *m, size_t i, const char *lit)
{
    size_t len = strlen(lit);
    return i < m->n && (size_t)(m->end[i] - m->at[i]) == len && memcmp(m->at[i], lit, len) == 0;
}

bool load__str_is(const struct json_str *s, const char *lit)
{
    size_t len = strlen(lit);
    return s->len == len && memcmp(s->p, lit, len) == 0;
}

const char *load__field(const char *ev, size_t len, const char *key)
{
    const char *p = memmem(ev, len, key, strlen(key));
    return p == NULL ? NULL : p + strlen(key);
}

void load__keep(struct load_kept *k, const char *s, size_t len)
{
    if (k->n < LOAD_N_KEPT) {
        snprintf(k->text[k->n], LOAD_REASON_LEN, "%.*s", (int)len, s);
    }
    k->n++;
}

void load__other_msg(const struct json_str *label, const struct load_msg *m,
                     struct load_kept *notices, uint64_t *n_bad)
{
    struct json_str text;
    if (load__str_is(label, "NOTICE") && load__msg_str(m, 1, &text)) {
        load__keep(notices, text.p, text.len);
    } else if (!load__str_is(label, "AUTH")) {
        (*n_bad)++;
    }
}

void load__print_kept(const char *what, const struct load_kept *k)
{
    for (uint64_t i = 0; i < k->n && i < LOAD_N_KEPT; i++) {
        fprintf(stderr, "  %s: %s\n", what, k->text[i]);
    }
    if (k->n > LOAD_N_KEPT) {
        fprintf(stderr, "  ... %" PRIu64 " %s in all\n", k->n, what);
    }
}

/* ---- Latencies ---- */

int load__lat_add(struct load_lat *l, uint64_t ns)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 4096;
        uint64_t *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL) {
            return OST_ENOMEM;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = ns;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest rank of sorted v[0..n), in milliseconds. */
static double rank_ms(const uint64_t *v, size_t n, double q)
{
    if (n == 0) {
        return 0;
    }
    size_t rank = (size_t)(q * (double)n + 0.999999);
    return (double)v[rank == 0 ? 0 : rank - 1] / 1e6;
}

struct load_pct load__lat_pct(struct load_lat *l)
{
    if (l->n == 0) {
        return (struct load_pct){ 0, 0, 0 };
    }
    qsort(l->v, l->n, sizeof(*l->v), cmp_u64);
    return (struct load_pct){ rank_ms(l->v, l->n, 0.50), rank_ms(l->v, l->n, 0.99),
                              rank_ms(l->v, l->n, 1.0) };
}

void load__lat_fini(struct load_lat *l)
{
    free(l->v);
    *l = (struct load_lat){ NULL, 0, 0 };
}

/* ---- Hashing and randomness ---- */

uint64_t load__id_hash(const char *hex)
{
    uint64_t h = 0;
    for (int i = 0; i < 16; i++) {
        char c = hex[i];
        h = h << 4 | (uint64_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return h * 0x9e3779b97f4a7c15ull;
}

uint64_t load__rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- The JSON line ---- */

void load__json_begin(const struct load_opts *o)
{
    printf("{\"scenario\":\"%s\"", load__scenario_names[o->scenario]);
}

void load__put_members(const char *keys, ...)
{
    va_list ap;
    va_start(ap, keys);
    for (const char *k = keys; *k != '\0';) {
        size_t len = strcspn(k, " ");
        double v = va_arg(ap, double);
        bool is_time = (len > 2 && memcmp(k + len - 2, "_s", 2) == 0 &&
                        (len < 6 || memcmp(k + len - 6, "_per_s", 6) != 0)) ||
                       (len > 3 && memcmp(k + len - 3, "_ms", 3) == 0);
        if (v < 0) {
            printf(",\"%.*s\":null", (int)len, k);
        } else {
            printf(",\"%.*s\":%.*f", (int)len, k, is_time ? 3 : 0, v);
        }
        k += len + (k[len] == ' ');
    }
    va_end(ap);
}

void load__json_end(int rc)
{
    printf(",\"complete\":%s}\n", rc == 0 ? "true" : "false");
    fflush(stdout);
}

/* ---- Command line ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: load ingest --port P [--conns 1] [--window 64] [--events 20000] [--rate R]\n"
            "       load dup-ingest --port P [same options as ingest]\n"
            "       load query --port P [--conns 1] [--reqs 2000] [--seconds T] [--limit 50]\n"
            "           [--sample 20000]\n"
            "           [--shape author|authors10|ptag|recent|window|etag|ids|search|mix]\n"
            "       load fanout --port P [--subs 200] [--publishers 2] [--rate 2500]\n"
            "           [--seconds 10 | --events N] [--filter all|kind|authors|ptag]\n"
            "           [--sub-keys 10]\n"
            "       load conns --port P --relay-pid PID [--conns 1000] [--settle-ms 1000]\n"
            "  all: [--seed 1] [--keys 1000] [--corpus FILE] [--timeout 300]\n"
            "       [--relay-pid PID] [--host 127.0.0.1]\n"
            "--corpus reads events from a bench/gen file instead of generating them (ingest,\n"
            "dup-ingest), or samples known ids and tags from the file that loaded the store\n"
            "(query: needed by window, etag, ids and mix). A query run must use the --seed\n"
            "(or --authors-from-seed) and --keys of the events that loaded the store.\n");
}

struct num_opt {
    const char *name;
    uint64_t def, lo, hi, *v;
};

/* Sets the default each scenario has for an option it was not given. */
static void scenario_defaults(struct load_opts *o, const bool *given, const struct num_opt *num,
                              size_t n_num)
{
    for (size_t j = 0; j < n_num; j++) {
        if (num[j].v == &o->events) {
            o->has_events = given[j];
        }
        if (num[j].v == &o->seconds) {
            o->has_seconds = given[j];
        }
        if (given[j]) {
            continue;
        }
        if (num[j].v == &o->conns && o->scenario == LOAD_CONNS) {
            o->conns = 1000;
        }
        if (num[j].v == &o->rate && o->scenario == LOAD_FANOUT) {
            o->rate = 2500;
        }
    }
}

static int parse_args(int argc, char **argv, struct load_opts *o)
{
    struct num_opt num[] = {
        { "--port", 0, 1, 65535, &o->port },
        { "--conns", 1, 1, 1000000, &o->conns },
        { "--window", 64, 1, UINT32_MAX, &o->window },
        { "--events", 20000, 1, UINT32_MAX - 1, &o->events },
        { "--seed", 1, 0, UINT64_MAX, &o->seed },
        { "--authors-from-seed", 1, 0, UINT64_MAX, &o->seed },
        { "--keys", 1000, 10, 10000000, &o->keys },
        { "--reqs", 2000, 1, UINT32_MAX, &o->reqs },
        { "--limit", 50, 1, UINT32_MAX, &o->limit },
        { "--timeout", 300, 1, 86400, &o->timeout_s },
        { "--relay-pid", 0, 1, INT32_MAX, &o->relay_pid },
        { "--rate", 0, 1, 10000000, &o->rate },
        { "--subs", 200, 1, 100000, &o->subs },
        { "--publishers", 2, 1, 1000, &o->publishers },
        { "--seconds", 10, 1, 3600, &o->seconds },
        { "--sub-keys", 10, 1, 10000, &o->sub_keys },
        { "--sample", 20000, 100, UINT32_MAX, &o->sample },
        { "--settle-ms", 1000, 0, 600000, &o->settle_ms },
    };
    size_t n_num = sizeof(num) / sizeof(num[0]);
    bool given[sizeof(num) / sizeof(num[0])] = { false };
    *o = (struct load_opts){ .host = "127.0.0.1" };
    for (size_t j = 0; j < n_num; j++) {
        *num[j].v = num[j].def;
    }
    bool is_known = false;
    for (int s = 0; argc >= 2 && load__scenario_names[s] != NULL; s++) {
        if (strcmp(argv[1], load__scenario_names[s]) == 0) {
            o->scenario = (enum load_scenario)s;
            is_known = true;
        }
    }
    if (!is_known) {
        return -1;
    }
    for (int i = 2; i < argc; i += 2) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        bool is_ok = false;
        if (strcmp(k, "--host") == 0 || strcmp(k, "--corpus") == 0) {
            *(k[2] == 'h' ? &o->host : &o->corpus) = v;
            is_ok = *v != '\0';
        }
        for (int s = 0; strcmp(k, "--shape") == 0 && load__shape_names[s] != NULL; s++) {
            if (strcmp(v, load__shape_names[s]) == 0) {
                o->shape = (enum load_shape)s;
                is_ok = true;
            }
        }
        for (int s = 0; strcmp(k, "--filter") == 0 && load__filter_names[s] != NULL; s++) {
            if (strcmp(v, load__filter_names[s]) == 0) {
                o->filter = (enum load_filter)s;
                is_ok = true;
            }
        }
        for (size_t j = 0; j < n_num; j++) {
            char *end;
            errno = 0;
            unsigned long long x = strtoull(v, &end, 0);
            if (strcmp(k, num[j].name) == 0 && *v != '-' && errno == 0 && end != v &&
                *end == '\0' && x >= num[j].lo && x <= num[j].hi) {
                *num[j].v = x;
                given[j] = true;
                is_ok = true;
            }
        }
        if (!is_ok) {
            fprintf(stderr, "load: bad option or value: %s %s\n", k, v);
            return -1;
        }
    }
    scenario_defaults(o, given, num, n_num);
    if (o->port == 0) {
        fprintf(stderr, "load: --port is required\n");
        return -1;
    }
    return 0;
}

/* Descriptors are the limit of the conns scenario: take the hard limit.
 * Each scenario checks that its connections fit. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            fprintf(stderr, "load: cannot raise RLIMIT_NOFILE to %llu\n",
                    (unsigned long long)rl.rlim_max);
        }
    }
}

int main(int argc, char **argv)
{
    struct load_opts o;
    if (parse_args(argc, argv, &o) < 0) {
        usage();
        return 2;
    }
    raise_nofile();
    int rc;
    switch (o.scenario) {
    case LOAD_QUERY:
        rc = load__query(&o);
        break;
    case LOAD_FANOUT:
        rc = load__fanout(&o);
        break;
    case LOAD_CONNS:
        rc = load__conns(&o);
        break;
    default:
        rc = load__ingest(&o);
        break;
    }
    return rc < 0 ? 1 : 0;
}
