/*
 * The shared fixture of the storage-thread and reader-pool tests
 * (tests/workers_fx.h).
 */
#include "tests/workers_fx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <unistd.h>

#include "common/err.h"
#include "validate/event.h"

#define WAIT_S 120 /* deadline for any wait; only reached when a test fails */

#define SIG_ZEROS                                                      \
    "0000000000000000000000000000000000000000000000000000000000000000" \
    "0000000000000000000000000000000000000000000000000000000000000000"

int workers_fx_init(struct workers_fx *fx)
{
    memset(fx, 0, sizeof(*fx));
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/ost-batcher-XXXXXX");
    if (mkdtemp(fx->dir) == NULL) {
        return OST_EIO;
    }
    snprintf(fx->path, sizeof(fx->path), "%s/ostrich.db", fx->dir);
    struct store_options opt = { .backend = STORE_BACKEND_SQLITE };
    opt.sqlite.path = fx->path;
    return store_open(&opt, &fx->s);
}

void workers_fx_fini(struct workers_fx *fx)
{
    static const char *const suffixes[] = { "", "-wal", "-shm" };
    char p[160];
    store_close(fx->s);
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", fx->path, suffixes[i]);
        unlink(p);
    }
    rmdir(fx->dir);
}

bool workers_fx_req(struct batcher_req *req, uint64_t tag, unsigned n, long long created_at)
{
    char *json = malloc(512);
    const char *reason = NULL;
    if (json == NULL) {
        return false;
    }
    int len = snprintf(json, 512,
                       "{\"id\":\"%064x\",\"pubkey\":\"%064x\",\"created_at\":%lld,\"kind\":1,"
                       "\"tags\":[],\"content\":\"note %u\",\"sig\":\"" SIG_ZEROS "\"}",
                       n, 7u, created_at, n);
    memset(req, 0, sizeof(*req));
    req->conn_id = 1;
    req->tag = tag;
    req->json = json;
    req->len = (size_t)len;
    if (event_parse(json, req->len, NULL, &req->ev, &reason) < 0) {
        fprintf(stderr, "  event_parse: %s\n", reason);
        free(json);
        return false;
    }
    return true;
}

static void deadline_in(struct timespec *ts, int s)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += s;
}

int workers_fx_tally_init(struct workers_fx_tally *t, struct store *s, size_t n_tags)
{
    memset(t, 0, sizeof(*t));
    t->s = s;
    t->n_tags = n_tags;
    t->count = calloc(n_tags, sizeof(*t->count));
    t->status = calloc(n_tags, sizeof(*t->status));
    t->n_events = calloc(n_tags, sizeof(*t->n_events));
    t->answer = calloc(n_tags, sizeof(*t->answer));
    t->last_at = calloc(n_tags, sizeof(*t->last_at));
    if (t->count == NULL || t->status == NULL || t->n_events == NULL || t->answer == NULL ||
        t->last_at == NULL) {
        return OST_ENOMEM;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, &attr);
    pthread_condattr_destroy(&attr);
    return 0;
}

void workers_fx_tally_fini(struct workers_fx_tally *t)
{
    store_conn_close(t->check);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t->count);
    free(t->status);
    free(t->n_events);
    free(t->answer);
    free(t->last_at);
}

bool workers_fx_wait_done(struct workers_fx_tally *t, size_t n)
{
    struct timespec dl;
    deadline_in(&dl, WAIT_S);
    bool ok = true;
    pthread_mutex_lock(&t->mu);
    while (ok && t->n_done < n) {
        ok = pthread_cond_timedwait(&t->cv, &t->mu, &dl) == 0;
    }
    pthread_mutex_unlock(&t->mu);
    return ok;
}

bool workers_fx_wait_entered(struct workers_fx_tally *t)
{
    struct timespec dl;
    deadline_in(&dl, WAIT_S);
    bool ok = true;
    pthread_mutex_lock(&t->mu);
    while (ok && !t->is_entered) {
        ok = pthread_cond_timedwait(&t->cv, &t->mu, &dl) == 0;
    }
    pthread_mutex_unlock(&t->mu);
    return ok;
}

void workers_fx_open_gate(struct workers_fx_tally *t)
{
    pthread_mutex_lock(&t->mu);
    t->is_gated = false;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

void workers_fx_pass_gate(struct workers_fx_tally *t)
{
    pthread_mutex_lock(&t->mu);
    t->is_entered = true;
    pthread_cond_broadcast(&t->cv);
    while (t->is_gated) {
        pthread_cond_wait(&t->cv, &t->mu);
    }
    pthread_mutex_unlock(&t->mu);
}

void workers_fx_mark_done(struct workers_fx_tally *t)
{
    pthread_mutex_lock(&t->mu);
    t->n_done++;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}
