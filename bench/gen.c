/*
 * bench/gen: writes N signed events as JSONL (one event's JSON per line),
 * the realistic mix of tests/evgen: kind 1 notes with e/p/t tags,
 * reactions, profiles, contact lists with many p tags, long-form articles,
 * content with non-ASCII text and characters that need escaping. Event i
 * depends only on (--seed, --keys, --base-time, i), so a file is the same
 * whatever the number of threads; created_at lies within the day before
 * --base-time (default: now). Signing runs on all cores, a chunk at a
 * time, so memory stays small whatever N is.
 *
 *   gen --events N [--seed 1] [--keys 1000] [--base-time T] [--out FILE]
 *       [--threads 0]
 *
 * The file feeds `ostrich import FILE` and `load ... --corpus FILE`.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/err.h"
#include "tests/evgen.h"

#define CHUNK 16384

struct gen_opts {
    uint64_t events, seed, keys, base_time, threads;
    const char *out;
};

static void usage(void)
{
    fprintf(stderr,
            "usage: gen --events N [--seed 1] [--keys 1000] [--base-time UNIX_TIME]\n"
            "           [--out FILE (default: standard output)] [--threads 0 (all CPUs)]\n");
}

static int parse_args(int argc, char **argv, struct gen_opts *o)
{
    struct {
        const char *name;
        uint64_t lo, hi, *v;
    } num[] = {
        { "--events", 1, UINT32_MAX, &o->events }, { "--seed", 0, UINT64_MAX, &o->seed },
        { "--keys", 1, 10000000, &o->keys },       { "--base-time", 1, INT32_MAX, &o->base_time },
        { "--threads", 0, 1024, &o->threads },
    };
    *o = (struct gen_opts){
        .events = 0, .seed = 1, .keys = 1000, .base_time = (uint64_t)time(NULL)
    };
    for (int i = 1; i < argc; i += 2) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        bool is_ok = false;
        if (strcmp(k, "--out") == 0 && *v != '\0') {
            o->out = v;
            is_ok = true;
        }
        for (size_t j = 0; j < sizeof(num) / sizeof(num[0]); j++) {
            char *end;
            errno = 0;
            unsigned long long x = strtoull(v, &end, 0);
            if (strcmp(k, num[j].name) == 0 && *v != '-' && errno == 0 && end != v &&
                *end == '\0' && x >= num[j].lo && x <= num[j].hi) {
                *num[j].v = x;
                is_ok = true;
            }
        }
        if (!is_ok) {
            fprintf(stderr, "gen: bad option or value: %s %s\n", k, v);
            return -1;
        }
    }
    if (o->events == 0) {
        fprintf(stderr, "gen: --events is required\n");
        return -1;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    struct gen_opts o;
    if (parse_args(argc, argv, &o) < 0) {
        usage();
        return 2;
    }
    struct evgen *g = NULL;
    struct buf *chunk = calloc(CHUNK, sizeof(*chunk));
    FILE *f = o.out != NULL ? fopen(o.out, "w") : stdout;
    uint64_t bytes = 0;
    double t0 = now_s();
    int rc =
        chunk == NULL ? OST_ENOMEM : evgen_new(o.seed, (uint32_t)o.keys, (int64_t)o.base_time, &g);
    if (f == NULL) {
        fprintf(stderr, "gen: %s: cannot open for writing: %s\n", o.out, strerror(errno));
        rc = OST_EIO;
        goto out;
    }
    for (size_t i = 0; chunk != NULL && i < CHUNK; i++) {
        buf_init(&chunk[i]);
    }
    for (uint64_t first = 0; rc == 0 && first < o.events; first += CHUNK) {
        size_t n = o.events - first < CHUNK ? (size_t)(o.events - first) : CHUNK;
        rc = evgen_fill(g, first, n, (int)o.threads, chunk);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            if (fwrite(chunk[i].data, 1, chunk[i].len, f) != chunk[i].len || putc('\n', f) == EOF) {
                rc = OST_EIO;
            }
            bytes += chunk[i].len + 1;
        }
    }
    if (rc == 0 && fflush(f) != 0) {
        rc = OST_EIO;
    }
    if (rc == OST_EIO) {
        fprintf(stderr, "gen: %s: write error: %s\n", o.out ? o.out : "standard output",
                strerror(errno));
    } else if (rc < 0) {
        fprintf(stderr, "gen: %s\n", ost_strerror(rc));
    } else {
        double t = now_s() - t0;
        fprintf(stderr,
                "gen: %" PRIu64 " events, %" PRIu64 " bytes (%.0f per event), seed %" PRIu64
                ", %" PRIu64 " keys, base time %" PRIu64 ", in %.2f s (%.0f events/s)\n",
                o.events, bytes, (double)bytes / (double)o.events, o.seed, o.keys, o.base_time, t,
                t > 0 ? (double)o.events / t : 0.0);
    }
out:
    if (f != NULL && f != stdout && fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "gen: %s: write error: %s\n", o.out, strerror(errno));
        rc = OST_EIO;
    }
    for (size_t i = 0; chunk != NULL && i < CHUNK; i++) {
        buf_fini(&chunk[i]);
    }
    free(chunk);
    evgen_free(g);
    return rc < 0 ? 1 : 0;
}
