/*
 * Scenario conns of bench/load: the relay's memory per idle connection.
 * Reads the relay's VmRSS and open descriptors (/proc/PID, --relay-pid),
 * opens K connections (at most LOAD_WS_MAX_CONNECTING upgrading at once,
 * so the accept backlog is not overrun), sends each one REQ whose filter
 * matches nothing stored or published (an all-zero author; at most
 * MAX_PENDING_REQS unanswered at once), waits for
 * every EOSE, lets the relay settle for --settle-ms while serving the
 * connections, and reads VmRSS and descriptors again: (after - before) / K
 * is the memory one idle connection with one subscription costs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/resource.h>

#include <dirent.h>

#include "bench/load_int.h"
#include "bench/load_ws.h"
#include "common/err.h"

/* Descriptors the generator needs besides its connections. */
#define SPARE_FDS 32
/* REQs waiting for their EOSE at once. */
#define MAX_PENDING_REQS 200

static const char idle_req[] = "[\"REQ\",\"idle\",{\"authors\":[\"000000000000000000000000000000"
                               "0000000000000000000000000000000000\"],\"kinds\":[1]}]";

struct run {
    const struct load_opts *o;
    struct load_ws_pool pool;
    uint64_t n_req_sent, n_eose, n_closed, n_events, n_bad_msg, settle_until;
    struct load_kept notices, closed;
};

/* A "Name: value kB" line of /proc/pid/status, in KiB, or -1. */
static long long status_kib(uint64_t pid, const char *name)
{
    char path[64], line[256];
    long long v = -1;
    snprintf(path, sizeof(path), pid ? "/proc/%" PRIu64 "/status" : "/proc/self/status", pid);
    FILE *f = fopen(path, "r");
    size_t len = strlen(name);
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, name, len) == 0) {
            v = strtoll(line + len, NULL, 10);
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return v;
}

/* Open descriptors of pid, or -1. */
static long long fd_count(uint64_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%" PRIu64 "/fd", pid);
    DIR *d = opendir(path);
    if (d == NULL) {
        return -1;
    }
    long long n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

/* REQs go out with at most MAX_PENDING_REQS waiting for their EOSE, so
 * that the relay's reader queue sees the steady trickle of connecting
 * clients, not 10,000 REQs at once (it would refuse some as busy). */
static int send_reqs(struct run *r)
{
    const char *parts[1] = { idle_req };
    size_t lens[1] = { sizeof(idle_req) - 1 };
    while (r->n_req_sent < r->o->conns &&
           r->n_req_sent - r->n_eose - r->n_closed < MAX_PENDING_REQS) {
        int rc = load_ws_send_text(&r->pool, (uint32_t)r->n_req_sent, parts, lens, 1);
        if (rc < 0) {
            return rc;
        }
        r->n_req_sent++;
    }
    return 0;
}

static int on_message(void *arg, uint32_t conn, const char *data, size_t len)
{
    struct run *r = arg;
    struct load_msg m;
    struct json_str label, text;
    (void)conn;
    if (load__msg_split(data, len, &m) < 0 || !load__msg_str(&m, 0, &label)) {
        r->n_bad_msg++;
    } else if (load__str_is(&label, "EOSE")) {
        r->n_eose++;
        return send_reqs(r);
    } else if (load__str_is(&label, "CLOSED")) {
        r->n_closed++;
        if (load__msg_str(&m, 2, &text)) {
            load__keep(&r->closed, text.p, text.len);
        }
    } else if (load__str_is(&label, "EVENT")) {
        r->n_events++;
    } else {
        load__other_msg(&label, &m, &r->notices, &r->n_bad_msg);
    }
    return 0;
}

static bool all_answered(void *arg)
{
    const struct run *r = arg;
    return r->n_eose + r->n_closed == r->o->conns;
}

static bool settled(void *arg)
{
    const struct run *r = arg;
    return load_ws_now_ns() >= r->settle_until || r->n_closed > 0;
}

/* Fails with a clear message when K connections cannot fit in the
 * descriptors this process may open (main raised the soft limit to the
 * hard one). */
static int check_fds(uint64_t k)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
        return 0;
    }
    if (rl.rlim_cur != RLIM_INFINITY && k + SPARE_FDS > rl.rlim_cur) {
        fprintf(stderr,
                "load: conns --conns %" PRIu64 " needs %" PRIu64 " descriptors, but this process "
                "may open %llu (RLIMIT_NOFILE, hard limit %llu): raise the hard limit (ulimit -Hn, "
                "limits.conf or LimitNOFILE=) or ask for fewer connections\n",
                k, k + SPARE_FDS, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
        return OST_EINVAL;
    }
    return 0;
}

int load__conns(const struct load_opts *o)
{
    struct run r = { .o = o };
    if (o->relay_pid == 0) {
        fprintf(stderr, "load: conns needs --relay-pid (its memory is the measure)\n");
        return OST_EINVAL;
    }
    int rc = check_fds(o->conns);
    if (rc < 0) {
        return rc;
    }
    long long rss0 = status_kib(o->relay_pid, "VmRSS:"), fds0 = fd_count(o->relay_pid);
    double cpu0 = load__thread_cpu_s(), relay0 = load__proc_cpu_s(o->relay_pid);
    uint64_t t0 = load_ws_now_ns();
    rc = load_ws_pool_open(&r.pool, (uint32_t)o->conns, o->host, (uint16_t)o->port, on_message, &r,
                           t0 + o->timeout_s * 1000000000ull);
    if (rc < 0) {
        fprintf(stderr, "load: %s:%" PRIu64 ": %s after %" PRIu32 " connections\n", o->host,
                o->port, r.pool.failure, r.pool.n_open);
        return rc;
    }
    uint64_t t_open = load_ws_now_ns();
    rc = send_reqs(&r);
    rc = rc ? rc : load_ws_pool_run(&r.pool, all_answered, t0 + o->timeout_s * 1000000000ull);
    uint64_t t_eose = load_ws_now_ns();
    r.settle_until = t_eose + o->settle_ms * 1000000ull;
    rc = rc ? rc : load_ws_pool_run(&r.pool, settled, r.settle_until + 1000000000ull);
    long long rss1 = status_kib(o->relay_pid, "VmRSS:"), fds1 = fd_count(o->relay_pid);
    double load_cpu = load__thread_cpu_s() - cpu0, relay1 = load__proc_cpu_s(o->relay_pid);
    double relay_cpu = relay0 >= 0 && relay1 >= 0 ? relay1 - relay0 : -1;
    double per_conn = rss0 >= 0 && rss1 >= 0 ? (double)(rss1 - rss0) / (double)o->conns : -1;
    double open_s = (double)(t_open - t0) / 1e9, eose_s = (double)(t_eose - t_open) / 1e9;
    double elapsed = (double)(load_ws_now_ns() - t0) / 1e9;

    load__json_begin(o);
    load__put_members("conns rss_before_kib rss_after_kib fds_before fds_after eose closed events "
                      "open_s eose_s elapsed_s load_rss_kib load_cpu_s relay_cpu_s notices "
                      "bad_messages",
                      (double)o->conns, (double)rss0, (double)rss1, (double)fds0, (double)fds1,
                      (double)r.n_eose, (double)r.n_closed, (double)r.n_events, open_s, eose_s,
                      elapsed, (double)status_kib(0, "VmRSS:"), load_cpu, relay_cpu,
                      (double)r.notices.n, (double)r.n_bad_msg);
    printf(",\"kib_per_conn\":%.2f", per_conn);
    load__json_end(rc);

    fprintf(stderr,
            "conns: %" PRIu64 " idle connections with one REQ each: relay RSS %lld -> %lld KiB, "
            "%.2f KiB per connection; descriptors %lld -> %lld\n  opened in %.2f s (%.0f/s), "
            "all EOSE %.2f s later; %" PRIu64 " CLOSED, %" PRIu64 " events\n",
            o->conns, rss0, rss1, per_conn, fds0, fds1, open_s,
            open_s > 0 ? (double)o->conns / open_s : 0.0, eose_s, r.n_closed, r.n_events);
    load__print_cpu(elapsed, load_cpu, relay_cpu);
    load__print_kept("CLOSED", &r.closed);
    load__print_kept("NOTICE", &r.notices);
    load__print_incomplete(&r.pool, rc);
    if (rc == 0 && (r.n_closed || r.n_events || r.n_bad_msg)) {
        fprintf(stderr, "  the relay sent unexpected answers (see the JSON line)\n");
        rc = OST_EIO;
    }
    load_ws_pool_fini(&r.pool, LOAD_CLOSE_WAIT_S * 1000000000ull);
    return rc;
}
