/*
 * `ostrich import` and `ostrich export` (relay/dump.h).
 *
 * Design, import: the calling thread reads lines and submits each to the
 * validation workers, waiting while their queue is full, so memory stays
 * bounded whatever the input's size. A worker applies the relay's rules
 * (relay_check_event, relay_event_deletion) and passes the event on to the
 * storage thread, waiting too while its queue is full: every wait points
 * downstream, as in the relay. The storage thread counts each outcome
 * after its batch commits. The line number travels as the job's tag, so a
 * rejection found on any thread names its line. Counters are atomics; the
 * table of reasons and the first rejected lines are under a mutex that
 * only those short updates take.
 *
 * Design, export: pages of DUMP_EXPORT_PAGE events, newest first, each
 * page "until" the created_at where the last one stopped. Events of that
 * second already written are skipped by id (the store orders a second's
 * events by id ascending). A page whose events all share one second could
 * not move on that way, so that second is then written whole by a query of
 * its own, which streams.
 */
#include "relay/dump.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/jdoc.h"
#include "common/json.h"
#include "config/cfg.h"
#include "filters/filter.h"
#include "nips/nip13.h"
#include "relay/relay.h"
#include "store/batcher.h"
#include "store/store.h"
#include "validate/event.h"
#include "validate/vpool.h"

#define R_LINE_LONG "invalid: line longer than the relay's max_message_bytes limit"
#define R_EPHEMERAL "unsupported: ephemeral events are not stored"
#define R_NOMEM     "error: out of memory"

/* Distinct reasons counted one by one (NIP-13's name the difficulty, so
 * there can be many); the rest are summed as "other reasons". */
#define MAX_REASONS 32
/* The progress line is refreshed at most this often. */
#define PROGRESS_INTERVAL_NS 250000000LL
/* Bytes read from the input at a time. */
#define READ_CHUNK 65536

/* ---- import ---- */

struct reason_count {
    const char *reason;
    uint64_t n;
};

struct rejected_line {
    uint64_t line;
    const char *reason;
};

/* Shared by the reading thread, the validation workers and the storage
 * thread for one import. */
struct import {
    const struct cfg *cfg;
    struct nip13_policy *pow; /* its reasons live until it is freed, after the summary */
    struct batcher *batcher;
    _Atomic uint64_t accepted, duplicates, rejected, failed;
    pthread_mutex_t mu;
    /* protected by: mu */
    struct reason_count reasons[MAX_REASONS];
    size_t n_reasons;
    uint64_t n_other;
    struct rejected_line first[DUMP_FIRST_REJECTED]; /* lowest line numbers, ascending */
    size_t n_first;
    const char *store_reason; /* why the first event that failed was not stored */
};

/* Reads the input in chunks and splits it into lines. */
struct line_reader {
    FILE *f;
    size_t pos, len;
    bool is_eof;
    char chunk[READ_CHUNK];
};

static void count_reject(struct import *imp, uint64_t line, const char *reason)
{
    atomic_fetch_add_explicit(&imp->rejected, 1, memory_order_relaxed);
    pthread_mutex_lock(&imp->mu);
    size_t i = 0;
    while (i < imp->n_reasons && strcmp(imp->reasons[i].reason, reason) != 0) {
        i++;
    }
    if (i < imp->n_reasons) {
        imp->reasons[i].n++;
    } else if (i < MAX_REASONS) {
        imp->reasons[i] = (struct reason_count){ .reason = reason, .n = 1 };
        imp->n_reasons++;
    } else {
        imp->n_other++;
    }
    /* Lines arrive in any order from the workers: keep the lowest. */
    size_t n = imp->n_first;
    if (n == DUMP_FIRST_REJECTED) {
        if (line > imp->first[n - 1].line) {
            goto out;
        }
        n--;
    }
    i = n;
    while (i > 0 && imp->first[i - 1].line > line) {
        imp->first[i] = imp->first[i - 1];
        i--;
    }
    imp->first[i] = (struct rejected_line){ .line = line, .reason = reason };
    imp->n_first = n + 1;
out:
    pthread_mutex_unlock(&imp->mu);
}

static void count_failure(struct import *imp, const char *reason)
{
    atomic_fetch_add_explicit(&imp->failed, 1, memory_order_relaxed);
    pthread_mutex_lock(&imp->mu);
    if (imp->store_reason == NULL) {
        imp->store_reason = reason;
    }
    pthread_mutex_unlock(&imp->mu);
}

/* Validation worker: the relay's rules, then on to the storage thread. */
static void on_verified(void *ud, struct vpool_result *res)
{
    struct import *imp = ud;
    struct store_deletion *del = NULL;
    const char *reason = res->reason;
    int rc = res->rc;
    if (rc == 0) {
        rc = relay_check_event(imp->cfg, imp->pow, &res->ev, (int64_t)time(NULL), &reason);
    }
    if (rc == 0 && event_kind_is_ephemeral(res->ev.kind)) {
        rc = OST_EREJECT;
        reason = R_EPHEMERAL;
    }
    if (rc == 0 && relay_event_deletion(imp->cfg, &res->ev, &del) < 0) {
        rc = OST_ENOMEM;
        reason = R_NOMEM;
    }
    if (rc == 0) {
        struct batcher_req req = {
            .tag = res->tag, .json = res->json, .len = res->len, .ev = res->ev, .del = del
        };
        /* The batcher stops only after every worker has returned. */
        if (batcher_submit_take(imp->batcher, &req) == 0) {
            return;
        }
        reason = R_NOMEM;
    }
    /* "error:" is the relay's, not the event's fault (out of memory). */
    if (strncmp(reason, "error:", 6) == 0) {
        count_failure(imp, reason);
    } else {
        count_reject(imp, res->tag, reason);
    }
    free(res->json);
    free(del);
}

/* Storage thread, after the batch's commit. */
static void on_stored(void *ud, struct batcher_req *req, const struct store_result *res)
{
    struct import *imp = ud;
    switch (res->status) {
    case STORE_STORED:
        atomic_fetch_add_explicit(&imp->accepted, 1, memory_order_relaxed);
        break;
    case STORE_DUPLICATE:
    case STORE_REPLACED_OLDER: /* "duplicate: a newer version ..." */
        atomic_fetch_add_explicit(&imp->duplicates, 1, memory_order_relaxed);
        break;
    case STORE_FAILED:
        count_failure(imp, res->reason);
        break;
    case STORE_DELETED:
    case STORE_VANISHED:
        count_reject(imp, req->tag, res->reason);
        break;
    }
    free(req->json);
    free(req->del);
}

/* Reads the next line into line, without its '\n', keeping at most max
 * bytes; *is_long says it had more. Returns 1 for a line, 0 at the end of
 * the input, OST_EIO on a read error or OST_ENOMEM. */
static int next_line(struct line_reader *r, struct buf *line, size_t max, bool *is_long)
{
    bool has_any = false;
    buf_reset(line);
    *is_long = false;
    for (;;) {
        if (r->pos == r->len) {
            r->pos = 0;
            r->len = r->is_eof ? 0 : fread(r->chunk, 1, sizeof(r->chunk), r->f);
            if (r->len == 0) {
                if (!r->is_eof && ferror(r->f)) {
                    return OST_EIO;
                }
                r->is_eof = true;
                return has_any ? 1 : 0;
            }
        }
        has_any = true;
        const char *start = r->chunk + r->pos;
        const char *nl = memchr(start, '\n', r->len - r->pos);
        size_t n = nl != NULL ? (size_t)(nl - start) : r->len - r->pos;
        if (line->len + n > max) {
            *is_long = true;
        } else if (!*is_long && buf_append(line, start, n) < 0) {
            return OST_ENOMEM;
        }
        r->pos += n + (nl != NULL ? 1 : 0);
        if (nl != NULL) {
            return 1;
        }
    }
}

static bool is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') {
            return false;
        }
    }
    return true;
}

/* n with a comma between groups of three digits, for the progress line. */
static const char *grouped(uint64_t n, char out[32])
{
    char digits[24];
    int len = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)n);
    size_t k = 0;
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0) {
            out[k++] = ',';
        }
        out[k++] = digits[i];
    }
    out[k] = '\0';
    return out;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void show_progress(struct import *imp, uint64_t lines, FILE *err)
{
    char a[32], b[32], c[32], d[32];
    fprintf(err, "\r%s lines, %s accepted, %s duplicates, %s rejected", grouped(lines, a),
            grouped(atomic_load_explicit(&imp->accepted, memory_order_relaxed), b),
            grouped(atomic_load_explicit(&imp->duplicates, memory_order_relaxed), c),
            grouped(atomic_load_explicit(&imp->rejected, memory_order_relaxed), d));
    fflush(err);
}

static int cmp_reason(const void *pa, const void *pb)
{
    const struct reason_count *a = pa, *b = pb;
    if (a->n != b->n) {
        return a->n > b->n ? -1 : 1;
    }
    return strcmp(a->reason, b->reason);
}

/* The summary; every thread but the caller's has stopped. */
static void summarize(struct import *imp, struct dump_import_stats *st, FILE *err)
{
    st->accepted = atomic_load(&imp->accepted);
    st->duplicates = atomic_load(&imp->duplicates);
    st->rejected = atomic_load(&imp->rejected);
    st->failed = atomic_load(&imp->failed);
    fprintf(err, "imported %llu events: %llu accepted, %llu duplicates, %llu rejected",
            (unsigned long long)st->lines, (unsigned long long)st->accepted,
            (unsigned long long)st->duplicates, (unsigned long long)st->rejected);
    if (st->failed > 0) {
        fprintf(err, ", %llu not stored", (unsigned long long)st->failed);
    }
    fputc('\n', err);
    qsort(imp->reasons, imp->n_reasons, sizeof(imp->reasons[0]), cmp_reason);
    for (size_t i = 0; i < imp->n_reasons; i++) {
        fprintf(err, "  %llu rejected: %s\n", (unsigned long long)imp->reasons[i].n,
                imp->reasons[i].reason);
    }
    if (imp->n_other > 0) {
        fprintf(err, "  %llu rejected: other reasons\n", (unsigned long long)imp->n_other);
    }
    for (size_t i = 0; i < imp->n_first; i++) {
        fprintf(err, "  line %llu: %s\n", (unsigned long long)imp->first[i].line,
                imp->first[i].reason);
    }
    if (st->failed > 0) {
        fprintf(err, "  %llu not stored: %s\n", (unsigned long long)st->failed,
                imp->store_reason != NULL ? imp->store_reason : "error");
    }
}

/* Reads every line and submits it; returns 0 or the error that stopped the
 * reading (reported here). */
static int read_all(struct import *imp, struct vpool *pool, FILE *in, const char *name, FILE *err,
                    bool is_progress, struct dump_import_stats *st)
{
    struct line_reader *r = malloc(sizeof(*r));
    struct buf line;
    bool is_long;
    uint64_t line_no = 0;
    int64_t shown_at = now_ns();
    int rc;
    buf_init(&line);
    if (r == NULL) {
        rc = OST_ENOMEM;
        goto out;
    }
    r->f = in;
    r->pos = r->len = 0;
    r->is_eof = false;
    size_t max = (size_t)imp->cfg->limits.max_message_bytes;
    while ((rc = next_line(r, &line, max, &is_long)) == 1) {
        line_no++;
        if (!is_long && is_blank(line.data, line.len)) {
            continue;
        }
        st->lines++;
        if (is_long) {
            count_reject(imp, line_no, R_LINE_LONG);
            continue;
        }
        struct vpool_job job = { .tag = line_no, .len = line.len, .json = malloc(line.len) };
        if (job.json == NULL) {
            rc = OST_ENOMEM;
            break;
        }
        memcpy(job.json, line.data, line.len);
        if (vpool_submit_take(pool, &job) < 0) {
            free(job.json);
            count_failure(imp, R_NOMEM);
        }
        if (is_progress && now_ns() - shown_at >= PROGRESS_INTERVAL_NS) {
            show_progress(imp, st->lines, err);
            shown_at = now_ns();
        }
    }
out:
    if (is_progress) {
        fputs("\r\033[K", err);
    }
    if (rc == OST_EIO) {
        fprintf(err, "ostrich import: cannot read %s: %s\n", name, strerror(errno));
    } else if (rc == OST_ENOMEM) {
        fprintf(err, "ostrich import: out of memory at line %llu of %s\n",
                (unsigned long long)line_no, name);
    }
    free(r);
    buf_fini(&line);
    return rc < 0 ? rc : 0;
}

int dump_import(const struct cfg *cfg, FILE *in, const char *name, FILE *err, bool is_progress,
                struct dump_import_stats *stats)
{
    struct import imp;
    struct dump_import_stats st;
    struct store *store = NULL;
    struct vpool *pool = NULL;
    memset(&imp, 0, sizeof(imp));
    memset(&st, 0, sizeof(st));
    imp.cfg = cfg;
    pthread_mutex_init(&imp.mu, NULL);
    int rc = nip13_policy_new((uint32_t)cfg->limits.min_pow_difficulty, &imp.pow);
    if (rc < 0) {
        fprintf(err, "ostrich import: limits.min_pow_difficulty: %s\n", ost_strerror(rc));
        goto out;
    }
    rc = relay_store_open(cfg, &store);
    if (rc < 0) {
        goto out;
    }
    /* No purge: expired events are refused on the way in, and the relay
     * (if one runs) purges its store itself. */
    struct batcher_config bc = {
        .batch_size = (uint32_t)cfg->storage.batch_size,
        .batch_wait_ms = (uint32_t)cfg->storage.batch_wait_ms,
    };
    rc = batcher_new(store, &bc, on_stored, &imp, &imp.batcher);
    if (rc < 0) {
        fprintf(err, "ostrich import: cannot start the storage thread: %s\n", ost_strerror(rc));
        goto out;
    }
    struct vpool_config vc;
    relay_vpool_config(cfg, &vc);
    rc = vpool_new(&vc, on_verified, &imp, &pool);
    if (rc < 0) {
        fprintf(err, "ostrich import: cannot start the validation workers: %s\n", ost_strerror(rc));
        goto out;
    }
    rc = read_all(&imp, pool, in, name, err, is_progress, &st);
    /* Upstream first: every line reaches the store and is counted. */
    vpool_free(pool);
    pool = NULL;
    batcher_free(imp.batcher);
    imp.batcher = NULL;
    summarize(&imp, &st, err);
    if (rc == 0 && st.failed > 0) {
        rc = OST_EIO;
    }
out:
    vpool_free(pool);
    batcher_free(imp.batcher);
    store_close(store);
    nip13_policy_free(imp.pow);
    pthread_mutex_destroy(&imp.mu);
    if (stats != NULL) {
        *stats = st;
    }
    return rc;
}

/* ---- export ---- */

/* One export's position, updated by the query callback. */
struct export
{
    FILE *out;
    uint64_t max;     /* events to write at most */
    uint64_t written; /* events written */
    int rc;           /* OST_EIO once out failed */
    /* The current page: how many events it returned, the created_at of its
     * first and last, and the id of its last. */
    uint32_t n_seen;
    int64_t first_at, last_at;
    uint8_t last_id[32];
    /* Events at skip_at with an id up to skip_id were already written. */
    bool has_skip;
    int64_t skip_at;
    uint8_t skip_id[32];
};

/* Writes json as one line. A client may have sent its event with line
 * breaks between tokens, which the store keeps; JSON allows them nowhere
 * else (a string holds them escaped), so each becomes a space. */
static int write_line(FILE *out, const char *json, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t n = strcspn(json + i, "\r\n");
        n = n < len - i ? n : len - i;
        if (fwrite(json + i, 1, n, out) != n) {
            return OST_EIO;
        }
        i += n;
        if (i < len) {
            if (putc(' ', out) == EOF) {
                return OST_EIO;
            }
            i++;
        }
    }
    return putc('\n', out) == EOF ? OST_EIO : 0;
}

static int on_export_event(void *ud, const char *json, size_t len)
{
    struct export *x = ud;
    struct event ev;
    const char *reason;
    /* Every stored event was parsed when it was published. */
    if (event_parse(json, len, NULL, &ev, &reason) < 0) {
        return OST_EIO;
    }
    if (x->n_seen++ == 0) {
        x->first_at = ev.created_at;
    }
    x->last_at = ev.created_at;
    memcpy(x->last_id, ev.id, 32);
    if (x->has_skip && ev.created_at == x->skip_at && memcmp(ev.id, x->skip_id, 32) <= 0) {
        return 0;
    }
    if (x->written >= x->max) {
        return 0;
    }
    x->rc = write_line(x->out, json, len);
    if (x->rc < 0) {
        return x->rc;
    }
    x->written++;
    return 0;
}

/* The user's filter as the start of an object without its since, until
 * and limit ("{" and members, each followed by a comma), so each page
 * can add its own. json was already accepted by filter_parse. */
static int filter_base(const char *json, struct buf *out)
{
    struct jdoc *d = NULL;
    int rc = buf_append_char(out, '{');
    if (rc < 0 || json == NULL) {
        return rc;
    }
    rc = jdoc_parse(json, strlen(json), 0, &d);
    if (rc < 0) {
        return rc;
    }
    const struct jdoc_val *root = jdoc_root(d);
    for (size_t i = 0; rc == 0 && i < jdoc_len(root); i++) {
        size_t klen, vlen;
        const char *key = jdoc_key_at(root, i, &klen);
        const char *raw = jdoc_raw(jdoc_at(root, i), &vlen);
        if (strcmp(key, "since") == 0 || strcmp(key, "until") == 0 || strcmp(key, "limit") == 0) {
            continue;
        }
        rc = json_write_string(out, key, klen);
        rc = rc ? rc : buf_append_char(out, ':');
        rc = rc ? rc : buf_append(out, raw, vlen);
        rc = rc ? rc : buf_append_char(out, ',');
    }
    jdoc_free(d);
    return rc;
}

/* The filters of an export: any limit (the page's), generous lists. */
static void export_limits(struct filter_limits *lim)
{
    filter_limits_default(lim);
    lim->max_ids = lim->max_authors = lim->max_tag_values = 100000;
    lim->max_limit = UINT32_MAX;
    lim->default_limit = UINT32_MAX;
    lim->is_search_enabled = true; /* parsed, then refused with a clear message */
}

/* Runs one page: base plus since/until (when has_*) and limit. Sets
 * *is_empty when the page's filter can match nothing. */
static int run_page(struct store_conn *conn, const struct buf *base, bool has_since, int64_t since,
                    bool has_until, int64_t until, uint32_t limit, struct export *x, bool *is_empty)
{
    struct filter_limits lim;
    struct filter *f = NULL;
    struct buf json;
    const char *reason;
    buf_init(&json);
    export_limits(&lim);
    int rc = buf_append(&json, base->data, base->len);
    if (rc == 0 && has_since) {
        rc = buf_printf(&json, "\"since\":%lld,", (long long)since);
    }
    if (rc == 0 && has_until) {
        rc = buf_printf(&json, "\"until\":%lld,", (long long)until);
    }
    rc = rc ? rc : buf_printf(&json, "\"limit\":%lu}", (unsigned long)limit);
    rc = rc ? rc : filter_parse(json.data, json.len, &lim, &f, &reason);
    *is_empty = rc == 0 && filter_never_matches(f);
    x->n_seen = 0;
    if (rc == 0 && !*is_empty) {
        const struct filter *fs[1] = { f };
        rc = store_query(conn, fs, 1, on_export_event, x);
    }
    filter_free(f);
    buf_fini(&json);
    return x->rc < 0 ? x->rc : rc;
}

/* Pages through the store (see the design note at the top). */
static int export_pages(struct store_conn *conn, const struct buf *base, const struct filter *uf,
                        struct export *x)
{
    int64_t since = 0, until = 0;
    bool has_since = uf != NULL && filter_since(uf, &since);
    bool has_until = uf != NULL && filter_until(uf, &until);
    bool is_empty = false;
    int rc = 0;
    while (rc == 0 && x->written < x->max) {
        rc = run_page(conn, base, has_since, since, has_until, until, DUMP_EXPORT_PAGE, x,
                      &is_empty);
        if (rc < 0 || is_empty || x->n_seen < DUMP_EXPORT_PAGE) {
            break;
        }
        x->has_skip = true;
        x->skip_at = x->last_at;
        memcpy(x->skip_id, x->last_id, 32);
        has_until = true;
        until = x->last_at;
        if (x->first_at != x->last_at) {
            continue;
        }
        /* The whole page is one second: write the rest of it at once. */
        rc = run_page(conn, base, true, until, true, until, UINT32_MAX, x, &is_empty);
        if (rc < 0 || until == 0) {
            break;
        }
        until--;
        x->has_skip = false;
    }
    return rc;
}

int dump_export(const struct cfg *cfg, const char *filter_json, FILE *out, FILE *err,
                uint64_t *n_out)
{
    struct export x = { .out = out, .max = UINT64_MAX };
    struct filter_limits lim;
    struct filter *uf = NULL;
    struct store *store = NULL;
    struct store_conn *conn = NULL;
    struct buf base;
    const char *reason = NULL;
    const uint8_t *const *terms;
    const uint32_t *term_lens;
    int rc = 0;
    buf_init(&base);
    export_limits(&lim);
    if (filter_json != NULL) {
        rc = filter_parse(filter_json, strlen(filter_json), &lim, &uf, &reason);
        if (rc == 0 && filter_search_terms(uf, &terms, &term_lens) > 0) {
            rc = OST_EINVAL;
            reason = "unsupported: \"search\" orders by relevance, which an export cannot page";
        }
        if (rc < 0) {
            fprintf(err, "ostrich export: --filter: %s\n", reason ? reason : ost_strerror(rc));
            rc = OST_EINVAL;
            goto out;
        }
        if (filter_has_limit(uf)) {
            x.max = filter_limit(uf);
        }
    }
    rc = filter_base(filter_json, &base);
    if (rc < 0) {
        goto out;
    }
    rc = relay_store_open(cfg, &store);
    if (rc < 0) {
        goto out;
    }
    rc = store_conn_open(store, STORE_ROLE_READER, &conn);
    if (rc < 0) {
        fprintf(err, "ostrich export: cannot read the store: %s\n", ost_strerror(rc));
        goto out;
    }
    rc = export_pages(conn, &base, uf, &x);
    if (rc == 0 && fflush(out) != 0) {
        rc = x.rc = OST_EIO;
    }
    if (rc == OST_EIO && x.rc < 0) {
        fprintf(err, "ostrich export: cannot write: %s\n", strerror(errno));
    } else if (rc < 0) {
        fprintf(err, "ostrich export: reading the store failed: %s\n", ost_strerror(rc));
    } else {
        fprintf(err, "exported %llu events\n", (unsigned long long)x.written);
    }
out:
    store_conn_close(conn);
    store_close(store);
    filter_free(uf);
    buf_fini(&base);
    if (n_out != NULL) {
        *n_out = x.written;
    }
    return rc;
}
