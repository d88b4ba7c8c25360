/*
 * Validation throughput: BIP-340 verification alone and full event
 * validation (parse + id + signature), on one thread and on all cores, for
 * the native (libsecp256k1) and the fallback (OpenSSL) engine.
 *
 * The corpus is generated with tests/evgen on all cores. Every figure is the
 * median of several runs. Prints a table and one JSON line.
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/thread.h"
#include "tests/evgen.h"
#include "validate/event.h"
#include "validate/sig.h"
#include "validate/verify.h"
#include "validate/vpool.h"

#define SEED      0xbe9c4ull
#define MAX_RUNS  31
#define N_FIGURES 4

enum figure {
    SIG_1T,
    SIG_MT,
    FULL_1T,
    FULL_POOL
};

static const char *const figure_keys[N_FIGURES] = { "sig_1t", "sig_mt", "full_1t", "full_pool" };

struct opts {
    size_t n_events;   /* corpus size, used in full by the native engine */
    size_t n_fallback; /* events per run for the (much slower) fallback engine */
    int runs;
    int threads;
};

/* The decoded fields sig_verify needs, one per event. */
struct sig_input {
    uint8_t pubkey[32];
    uint8_t id[32];
    uint8_t sig[64];
};

struct corpus {
    struct buf *json;
    struct sig_input *sig;
    size_t n;
    int64_t now;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- Signature verification only ---- */

/* Shared by the threads of one run. They claim chunks of SIG_CHUNK events
 * from next, so a thread slowed down by another process does not hold up
 * the run the way a fixed split would (the pool balances the same way). */
struct sig_run {
    const struct corpus *c;
    enum sig_engine engine;
    size_t n;
    pthread_barrier_t start;
    atomic_size_t next;
    atomic_int n_bad;
};

#define SIG_CHUNK 64

static void *sig_thread_main(void *arg)
{
    struct sig_run *r = arg;
    struct sig_verifier *v = NULL;
    int rc = sig_verifier_new(r->engine, &v);
    pthread_barrier_wait(&r->start);
    for (size_t i; rc == 0 && (i = atomic_fetch_add(&r->next, SIG_CHUNK)) < r->n;) {
        size_t end = i + SIG_CHUNK < r->n ? i + SIG_CHUNK : r->n;
        for (; i < end; i++) {
            const struct sig_input *s = &r->c->sig[i];
            if (sig_verify(v, s->pubkey, s->id, 32, s->sig) != 0) {
                atomic_fetch_add(&r->n_bad, 1);
            }
        }
    }
    if (rc != 0) {
        atomic_fetch_add(&r->n_bad, 1);
    }
    sig_verifier_free(v);
    return NULL;
}

/* Verifies signatures 0 .. n - 1 on n_threads threads; returns verifies/s,
 * or -1 when one failed. */
static double run_sig(const struct corpus *c, enum sig_engine engine, size_t n, int n_threads)
{
    struct sig_run r = { .c = c, .engine = engine, .n = n };
    pthread_t th[64];
    atomic_init(&r.next, 0);
    atomic_init(&r.n_bad, 0);
    pthread_barrier_init(&r.start, NULL, (unsigned)n_threads + 1);
    for (int i = 0; i < n_threads; i++) {
        if (thread_start(&th[i], "bench-sig", sig_thread_main, &r) < 0) {
            fprintf(stderr, "cannot start a thread\n");
            exit(1);
        }
    }
    pthread_barrier_wait(&r.start);
    double t0 = now_s();
    for (int i = 0; i < n_threads; i++) {
        pthread_join(th[i], NULL);
    }
    double dt = now_s() - t0;
    pthread_barrier_destroy(&r.start);
    return atomic_load(&r.n_bad) ? -1.0 : (double)n / dt;
}

/* ---- Full validation ---- */

static double run_full_1t(const struct corpus *c, enum sig_engine engine, size_t n)
{
    struct verify_ctx v;
    struct verify_limits lim;
    int n_bad = 0;
    memset(&lim, 0, sizeof(lim));
    if (verify_ctx_init(&v, engine) < 0) {
        return -1.0;
    }
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        struct event ev;
        const char *reason;
        n_bad += verify_event(&v, c->json[i].data, c->json[i].len, &lim, c->now, &ev, &reason) != 0;
    }
    double dt = now_s() - t0;
    verify_ctx_fini(&v);
    return n_bad ? -1.0 : (double)n / dt;
}

/* Counts results; the bench thread waits for all of them. */
struct pool_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t n_done; /* protected by: mu */
    atomic_int n_bad;
};

static void on_done(void *ud, struct vpool_result *res)
{
    struct pool_wait *w = ud;
    if (res->rc != 0) {
        atomic_fetch_add(&w->n_bad, 1);
    }
    free(res->json);
    pthread_mutex_lock(&w->mu);
    w->n_done++;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Submits events 0 .. n - 1 to a pool of n_threads workers and waits for
 * every result. The JSON copies are made before the clock starts. */
static double run_full_pool(const struct corpus *c, enum sig_engine engine, size_t n, int n_threads)
{
    struct vpool_config cfg = { .n_workers = n_threads, .queue_cap = 4096, .engine = engine };
    struct pool_wait w = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
    struct vpool *p = NULL;
    struct vpool_job *jobs = calloc(n, sizeof(*jobs));
    atomic_init(&w.n_bad, 0);
    for (size_t i = 0; jobs != NULL && i < n; i++) {
        jobs[i] = (struct vpool_job){ .tag = i, .len = c->json[i].len };
        jobs[i].json = malloc(c->json[i].len);
        if (jobs[i].json == NULL) {
            exit(1);
        }
        memcpy(jobs[i].json, c->json[i].data, c->json[i].len);
    }
    if (jobs == NULL || vpool_new(&cfg, on_done, &w, &p) < 0) {
        fprintf(stderr, "cannot start the pool\n");
        exit(1);
    }
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        if (vpool_submit_take(p, &jobs[i]) < 0) {
            exit(1);
        }
    }
    pthread_mutex_lock(&w.mu);
    while (w.n_done < n) {
        pthread_cond_wait(&w.cv, &w.mu);
    }
    pthread_mutex_unlock(&w.mu);
    double dt = now_s() - t0;
    vpool_free(p);
    free(jobs);
    return atomic_load(&w.n_bad) ? -1.0 : (double)n / dt;
}

/* ---- Driver ---- */

/* One run of figure f; exits when an event fails validation. */
static double run_once(const struct corpus *c, enum figure f, enum sig_engine engine, size_t n,
                       int n_threads)
{
    double r;
    switch (f) {
    case SIG_1T:
        r = run_sig(c, engine, n, 1);
        break;
    case SIG_MT:
        r = run_sig(c, engine, n, n_threads);
        break;
    case FULL_1T:
        r = run_full_1t(c, engine, n);
        break;
    default:
        r = run_full_pool(c, engine, n, n_threads);
        break;
    }
    if (r < 0) {
        fprintf(stderr, "%s/%s: an event of the corpus failed validation\n",
                sig_engine_name(engine), figure_keys[f]);
        exit(1);
    }
    return r;
}

/* Fills med[engine][figure] with the median of o->runs runs. The runs are
 * interleaved (run 1 of every figure, then run 2, ...) so that a change in
 * background load while the benchmark runs spreads over all figures instead
 * of biasing the ones measured at that moment. */
static void measure_all(const struct corpus *c, const size_t n_used[2], const struct opts *o,
                        double med[2][N_FIGURES])
{
    static double r[2][N_FIGURES][MAX_RUNS];
    for (int i = 0; i < o->runs; i++) {
        for (int e = 0; e < 2; e++) {
            for (int f = 0; f < N_FIGURES; f++) {
                r[e][f][i] = run_once(c, (enum figure)f, (enum sig_engine)e, n_used[e], o->threads);
            }
        }
    }
    for (int e = 0; e < 2; e++) {
        for (int f = 0; f < N_FIGURES; f++) {
            qsort(r[e][f], (size_t)o->runs, sizeof(double), cmp_double);
            med[e][f] = r[e][f][o->runs / 2];
        }
    }
}

static int corpus_make(struct corpus *c, size_t n)
{
    struct evgen *g = NULL;
    c->n = n;
    c->now = (int64_t)time(NULL);
    c->json = calloc(n, sizeof(*c->json));
    c->sig = calloc(n, sizeof(*c->sig));
    if (c->json == NULL || c->sig == NULL || evgen_new(SEED, 256, c->now, &g) < 0) {
        return OST_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        buf_init(&c->json[i]);
    }
    int rc = evgen_fill(g, 0, n, 0, c->json);
    evgen_free(g);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct event ev;
        const char *reason;
        rc = event_parse(c->json[i].data, c->json[i].len, NULL, &ev, &reason);
        if (rc < 0) {
            break;
        }
        memcpy(c->sig[i].pubkey, ev.pubkey, 32);
        memcpy(c->sig[i].id, ev.id, 32);
        memcpy(c->sig[i].sig, ev.sig, 64);
    }
    return rc;
}

static void corpus_free(struct corpus *c)
{
    for (size_t i = 0; c->json != NULL && i < c->n; i++) {
        buf_fini(&c->json[i]);
    }
    free(c->json);
    free(c->sig);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){ .n_events = 20000, .n_fallback = 2000, .runs = 5 };
    for (int i = 1; i + 1 < argc; i += 2) {
        long v = atol(argv[i + 1]);
        if (strcmp(argv[i], "--events") == 0 && v > 0) {
            o->n_events = (size_t)v;
        } else if (strcmp(argv[i], "--fallback-events") == 0 && v > 0) {
            o->n_fallback = (size_t)v;
        } else if (strcmp(argv[i], "--runs") == 0 && v > 0 && v <= MAX_RUNS) {
            o->runs = (int)v;
        } else if (strcmp(argv[i], "--threads") == 0 && v > 0 && v <= 64) {
            o->threads = (int)v;
        } else {
            fprintf(stderr,
                    "usage: %s [--events N] [--fallback-events N] [--runs 1..%d] "
                    "[--threads 1..64]\n",
                    argv[0], MAX_RUNS);
            exit(2);
        }
    }
}

int main(int argc, char **argv)
{
    struct opts o;
    struct corpus c;
    double res[2][N_FIGURES];
    size_t n_used[2];
    parse_opts(argc, argv, &o);
    if (o.threads == 0) {
        o.threads = thread_cpu_count();
    }
    memset(&c, 0, sizeof(c));
    double t0 = now_s();
    if (corpus_make(&c, o.n_events) < 0) {
        fprintf(stderr, "cannot generate the corpus\n");
        corpus_free(&c);
        return 1;
    }
    size_t total = 0;
    for (size_t i = 0; i < c.n; i++) {
        total += c.json[i].len;
    }
    printf("corpus: %zu signed events (%zu bytes of JSON on average) generated in %.2f s on %d "
           "threads\n%d runs per figure (median); fallback runs use %zu events\n",
           c.n, total / c.n, now_s() - t0, thread_cpu_count(), o.runs,
           o.n_fallback < c.n ? o.n_fallback : c.n);
    n_used[0] = c.n;
    n_used[1] = o.n_fallback < c.n ? o.n_fallback : c.n;
    /* Other processes skew every figure; the load average says how much. */
    double load[2][3] = { { -1, -1, -1 }, { -1, -1, -1 } };
    getloadavg(load[0], 3);
    measure_all(&c, n_used, &o, res);
    getloadavg(load[1], 3);
    printf("load average (1 min) before %.2f, after %.2f\n\n", load[0][0], load[1][0]);
    printf("%-22s %12s %12s %10s\n", "per second", "native", "fallback", "ratio");
    for (int f = 0; f < N_FIGURES; f++) {
        char label[40];
        bool is_mt = f == SIG_MT || f == FULL_POOL;
        snprintf(label, sizeof(label), "%s, %d thread%s", f < FULL_1T ? "sig verify" : "full event",
                 is_mt ? o.threads : 1, is_mt && o.threads > 1 ? "s" : "");
        printf("%-22s %12.0f %12.0f %9.1fx\n", label, res[0][f], res[1][f], res[0][f] / res[1][f]);
    }
    double r1 = res[0][FULL_1T] / res[0][SIG_1T], rn = res[0][FULL_POOL] / res[0][SIG_MT];
    printf("\nnative full/verify-only: 1 thread %.2f, %d threads %.2f (target >= 0.80: %s)\n", r1,
           o.threads, rn, r1 >= 0.8 && rn >= 0.8 ? "met" : "not met");
    printf("{\"bench\":\"validate\",\"events\":%zu,\"fallback_events\":%zu,\"threads\":%d,"
           "\"runs\":%d,\"avg_json_bytes\":%zu,\"load_before\":%.2f,\"load_after\":%.2f",
           c.n, n_used[1], o.threads, o.runs, total / c.n, load[0][0], load[1][0]);
    for (int e = 0; e < 2; e++) {
        printf(",\"%s\":{", sig_engine_name((enum sig_engine)e));
        for (int f = 0; f < N_FIGURES; f++) {
            printf("%s\"%s\":%.0f", f ? "," : "", figure_keys[f], res[e][f]);
        }
        printf("}");
    }
    printf(",\"ratio\":{");
    for (int f = 0; f < N_FIGURES; f++) {
        printf("%s\"%s\":%.2f", f ? "," : "", figure_keys[f], res[0][f] / res[1][f]);
    }
    printf("},\"native_full_over_sig_1t\":%.3f,\"native_full_over_sig_mt\":%.3f}\n", r1, rn);
    corpus_free(&c);
    return 0;
}
