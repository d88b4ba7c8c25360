/*
 * The relay: starts the worker threads around the io thread, builds the
 * NIP-11 document and the policies from the configuration, and shuts down
 * in order. Client messages are handled in relay_io.c, worker results in
 * relay_workers.c.
 *
 * Design (STYLE.md 3.7): EVENT goes io -> validation workers -> storage
 * thread -> (after commit) OK on the io thread and the event to the
 * broadcast thread; ephemeral events skip storage. REQ registers the
 * subscription with the broadcast thread, which indexes it and only then
 * releases the historical query to a reader thread; the io thread sends the
 * stored events, EOSE, and after EOSE only live events stored after the
 * query's snapshot (relay/bcast.h explains why nothing is lost or repeated).
 * Every blocking push goes downstream; the io thread never waits.
 */
#include "relay/relay.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include "common/err.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/thread.h"
#include "config/cfg.h"
#include "filters/filter.h"
#include "nips/nip09.h"
#include "nips/nip11.h"
#include "nips/nip13.h"
#include "nips/nip40.h"
#include "nips/nip42.h"
#include "nips/nip45.h"
#include "nips/nip62.h"
#include "nips/nip70.h"
#include "relay/bcast.h"
#include "relay/payload.h"
#include "relay/proto.h"
#include "relay/recent.h"
#include "relay/relay_int.h"
#include "relay/server.h"
#include "store/batcher.h"
#include "store/reader.h"
#include "store/store.h"
#include "validate/event.h"
#include "validate/vpool.h"

/* The one process-wide pointer: signal handlers can reach nothing else. */
static struct server *signal_server;

static void on_signal(int sig)
{
    if (signal_server == NULL) {
        return;
    }
    if (sig == SIGHUP) {
        relay__request_reload(signal_server);
    } else {
        server_stop(signal_server);
    }
}

/* ---- lifecycle ---- */

/* Every connection is a file descriptor: take the hard limit, so a busy
 * relay is not capped by a distribution's small default soft limit. */
/* Descriptors the relay needs besides its connections: the store's files,
 * listeners, wakeup pipes, log. */
#define RESERVED_FDS 64

/* Every connection holds a descriptor, so the soft limit (often 1024) would
 * cap the relay far below rate_limit.max_connections: raise it to the hard
 * limit, and say so when even that is too low. */
static void raise_fd_limit(const struct cfg *c)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            log_warn("cannot raise the open file limit to %llu: %s", (unsigned long long)want,
                     strerror(errno));
            (void)getrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    uint64_t need = (uint64_t)c->rate_limit.max_connections + RESERVED_FDS;
    if (rl.rlim_cur != RLIM_INFINITY && (uint64_t)rl.rlim_cur < need) {
        log_warn("the open file limit is %llu (hard limit %llu): about %llu connections can be "
                 "open at once, fewer than rate_limit.max_connections (%llu); raise the limit "
                 "(LimitNOFILE= in the systemd unit, ulimit -n) to hold more",
                 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max,
                 rl.rlim_cur > RESERVED_FDS ? (unsigned long long)(rl.rlim_cur - RESERVED_FDS) : 0,
                 (unsigned long long)c->rate_limit.max_connections);
    }
}

int relay__build_documents(const struct cfg *c, struct buf *nip11, struct buf *html)
{
    struct nip11_info info = {
        .name = c->relay.name,
        .description = c->relay.description,
        .pubkey = c->relay.pubkey,
        .contact = c->relay.contact,
        .software = "ostrich",
        .version = OSTRICH_VERSION,
    };
    /* Only what this build implements and enables: NIP-01 and NIP-11
     * always; the optional ones by [nips] (NIP-13 is listed with a minimum
     * of 0 too, which the document states as min_pow_difficulty), NIP-50 by [search] enabled and
     * NIP-67 by [relay] eose_finish_hint. A NIP-62 vanish request names this relay by [auth]
     * relay_url or "ALL_RELAYS". In ascending order, as the document lists them. */
    const struct {
        uint32_t nip;
        bool is_on;
    } nips[] = {
        { 1, true },           { 9, c->nips.nip09 },
        { 11, true },          { 13, c->nips.nip13 },
        { 40, c->nips.nip40 }, { 42, c->nips.nip42 },
        { 45, c->nips.nip45 }, { 50, c->search.enabled },
        { 62, c->nips.nip62 }, { 67, c->relay.eose_finish_hint },
        { 70, c->nips.nip70 },
    };
    _Static_assert(sizeof(nips) / sizeof(nips[0]) <= NIP11_MAX_NIPS, "too many NIPs for NIP-11");
    for (size_t i = 0; i < sizeof(nips) / sizeof(nips[0]); i++) {
        if (nips[i].is_on) {
            info.supported_nips[info.n_nips++] = nips[i].nip;
        }
    }
    info.limitation = (struct nip11_limitation){
        .max_message_length = (uint64_t)c->limits.max_message_bytes,
        .max_subscriptions = (uint64_t)c->limits.max_subscriptions,
        .max_filters = (uint64_t)c->limits.max_filters,
        .max_limit = (uint64_t)c->limits.max_limit,
        .max_subid_length = PROTO_MAX_SUB_ID_CHARS,
        .max_event_tags = (uint64_t)c->limits.max_event_tags,
        .max_content_length = (uint64_t)c->limits.max_content_bytes,
        .created_at_lower_limit = c->limits.created_at_lower_limit,
        .created_at_upper_limit = c->limits.created_at_upper_limit,
        .default_limit = (uint64_t)c->limits.default_limit,
        /* cfg refuses a minimum with NIP-13 off; 0 is the neutral value. */
        .min_pow_difficulty = c->nips.nip13 ? (uint64_t)c->limits.min_pow_difficulty : 0,
        /* What NIP-42 is required for; cfg refuses either with NIP-42 off. */
        .auth_required = c->auth.required_for_write || c->auth.required_for_read,
        .restricted_writes = c->auth.required_for_write || c->auth.allow_pubkeys.n > 0,
    };
    int rc = nip11_build(&info, nip11);
    rc = rc ? rc : nip11_build_html(&info, html);
    rc = rc ? rc : (buf_cstr(nip11) && buf_cstr(html) ? 0 : OST_ENOMEM);
    return rc;
}

/* The limits a reload may change: filters (io thread) and connections
 * (io thread; every connection reads r->scfg.conn_limits through a
 * pointer, so a change reaches the open ones too). */
void relay__set_limits(struct relay *r, const struct cfg *c)
{
    filter_limits_default(&r->flim);
    r->flim.max_limit = (uint32_t)c->limits.max_limit;
    r->flim.default_limit = (uint32_t)c->limits.default_limit;
    r->flim.max_search_len = (uint32_t)c->limits.max_search_bytes;
    r->flim.is_search_enabled = c->search.enabled;
    if (r->flim.default_limit > r->flim.max_limit) {
        r->flim.default_limit = r->flim.max_limit;
    }
    r->max_filters = (uint32_t)c->limits.max_filters;
    r->scfg.conn_limits = (struct conn_limits){
        .max_message_bytes = (size_t)c->limits.max_message_bytes,
        .max_outbound_bytes = (size_t)c->limits.max_outbound_bytes,
        .max_subs = (uint32_t)c->limits.max_subscriptions,
    };
    /* Rate limits, their exemptions and the trusted proxies (the io thread
     * reads them); when memory runs out the ones in force stay. */
    struct ratelimit_limits rate;
    if (ratelimit_limits_init(&rate, c) == 0) {
        ratelimit_limits_fini(&r->scfg.rate);
        r->scfg.rate = rate;
    } else {
        log_error("out of memory building the rate limits; the ones in force stay");
    }
}

static void configure(struct relay *r)
{
    const struct cfg *c = r->cfg;
    r->scfg = (struct server_config){
        .bind = c->relay.bind,
        .port = (int)c->relay.port,
        .tls_cert = c->relay.tls_cert,
        .tls_key = c->relay.tls_key,
        .nip11_json = r->nip11.data,
        .html_page = r->html.data,
        .eose_finish_hint = c->relay.eose_finish_hint,
        .is_auth_enabled = c->nips.nip42,
        .is_compression = c->relay.compression,
        .io_queue_cap = 65536,
        .auth_policy = &r->auth,
        .metrics = &r->metrics,
        .is_metrics_enabled = c->metrics.enabled,
        .metrics_listen = c->metrics.listen,
        .ping_interval_s = (uint32_t)c->relay.ping_interval_s,
        .pong_timeout_s = (uint32_t)c->relay.pong_timeout_s,
        .idle_timeout_s = (uint32_t)c->relay.idle_timeout_s,
    };
    relay__set_limits(r, c);
}

/* The parts of the NIP-42 policy that a reload may change: who must
 * authenticate, and the allow list (decoded and sorted once). Only the
 * io thread reads these fields, so it may set them while other threads
 * read the rest of r->auth. Returns 0, OST_ENOMEM or OST_EINVAL, leaving
 * the policy as it was on failure. */
int relay__set_auth_lists(struct relay *r, const struct cfg *c)
{
    size_t n = c->auth.allow_pubkeys.n;
    uint8_t(*allow)[32] = NULL;
    if (n > 0) {
        allow = calloc(n, sizeof(*allow));
        if (allow == NULL) {
            return OST_ENOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        /* cfg checked each entry: 64 lowercase hex characters. */
        if (hex_decode_lower(c->auth.allow_pubkeys.items[i], 32, allow[i]) < 0) {
            log_error("auth.allow_pubkeys: item %zu is not a key", i + 1);
            free(allow);
            return OST_EINVAL;
        }
    }
    free(r->allow);
    r->allow = allow;
    r->auth.is_write_required = c->auth.required_for_write;
    r->auth.is_read_required = c->auth.required_for_read;
    r->auth.allow = allow;
    r->auth.n_allow = n;
    nip42_policy_sort(&r->auth);
    return 0;
}

/* The NIP-42 policy from [auth]. Returns as relay__set_auth_lists. */
static int configure_auth(struct relay *r)
{
    const struct cfg *c = r->cfg;
    r->auth = (struct nip42_policy){
        .relay_url = c->auth.relay_url,
        .is_dm_protected = c->auth.protect_dms,
    };
    return relay__set_auth_lists(r, c);
}

/* Credentials from the environment win over the file, so an operator can
 * keep them out of it (systemd's LoadCredential/Environment, Docker
 * secrets). An empty variable counts as unset. */
static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : fallback;
}

static void store_options_from_cfg(const struct cfg *c, struct store_options *so)
{
    memset(so, 0, sizeof(*so));
    so->backend = c->storage.backend == CFG_BACKEND_OPENSEARCH ? STORE_BACKEND_OPENSEARCH
                                                               : STORE_BACKEND_SQLITE;
    so->sqlite.path = c->storage.sqlite.path;
    so->opensearch.url = c->storage.opensearch.url;
    so->opensearch.index = c->storage.opensearch.index;
    so->opensearch.username = env_or("OSTRICH_OPENSEARCH_USERNAME", c->storage.opensearch.username);
    so->opensearch.password = env_or("OSTRICH_OPENSEARCH_PASSWORD", c->storage.opensearch.password);
    so->opensearch.ca_file = c->storage.opensearch.ca_file;
    so->opensearch.is_tls_verify = c->storage.opensearch.tls_verify;
    so->opensearch.connect_timeout_ms = (uint32_t)c->storage.opensearch.connect_timeout_ms;
    so->opensearch.request_timeout_ms = (uint32_t)c->storage.opensearch.request_timeout_ms;
    so->opensearch.retry_max_ms = (uint32_t)c->storage.opensearch.retry_max_ms;
    so->opensearch.is_refresh_wait = c->storage.opensearch.refresh_wait;
    so->opensearch.shards = (uint32_t)c->storage.opensearch.shards;
    so->opensearch.replicas = (uint32_t)c->storage.opensearch.replicas;
    so->opensearch.refresh_interval = c->storage.opensearch.refresh_interval;
}

int relay_store_open(const struct cfg *c, struct store **out)
{
    struct store_options so;
    store_options_from_cfg(c, &so);
    int rc = store_open(&so, out);
    if (rc < 0) {
        log_error("cannot open the %s store at %s: %s",
                  so.backend == STORE_BACKEND_SQLITE ? "SQLite" : "OpenSearch",
                  so.backend == STORE_BACKEND_SQLITE ? c->storage.sqlite.path
                                                     : c->storage.opensearch.url,
                  ost_strerror(rc));
    }
    return rc;
}

void relay_vpool_config(const struct cfg *c, struct vpool_config *out)
{
    *out = (struct vpool_config){
        .n_workers = (int)c->validation.workers,
        .engine = c->validation.engine == CFG_ENGINE_FALLBACK ? SIG_ENGINE_FALLBACK
                                                              : SIG_ENGINE_NATIVE,
        .limits = {
            .event = {
                .max_tags = (uint32_t)c->limits.max_event_tags,
                .max_content_len = (uint32_t)c->limits.max_content_bytes,
            },
            .created_at_max_age_s = (uint32_t)c->limits.created_at_lower_limit,
            .created_at_max_future_s = (uint32_t)c->limits.created_at_upper_limit,
        },
    };
}

static int start_workers(struct relay *r)
{
    const struct cfg *c = r->cfg;
    int rc = relay_store_open(c, &r->store);
    if (rc < 0) {
        return rc;
    }
    struct batcher_config bc = {
        .batch_size = (uint32_t)c->storage.batch_size,
        .batch_wait_ms = (uint32_t)c->storage.batch_wait_ms,
        .purge_interval_ms = (uint32_t)c->storage.expiration_purge_interval_s * 1000u,
        .on_batch = relay__on_batch,
        .on_committed = relay__on_committed,
    };
    rc = batcher_new(r->store, &bc, relay__on_stored, r, &r->batcher);
    if (rc < 0) {
        log_error("cannot start the storage thread: %s", ost_strerror(rc));
        return rc;
    }
    struct reader_config rc_cfg = { .n_threads = (int)c->storage.readers };
    rc = reader_new(r->store, &rc_cfg, relay__on_stored_event, relay__on_query_done, r, &r->reader);
    if (rc < 0) {
        log_error("cannot start the reader threads: %s", ost_strerror(rc));
        return rc;
    }
    rc = bcast_new(r->server, 65536, relay__on_sub_added, r, &r->bcast);
    if (rc < 0) {
        log_error("cannot start the broadcast thread: %s", ost_strerror(rc));
        return rc;
    }
    /* Before the workers that read it; freed in relay_run after they stop. */
    rc = nip13_policy_new((uint32_t)c->limits.min_pow_difficulty, &r->pow);
    if (rc < 0) {
        log_error("limits.min_pow_difficulty: %s", ost_strerror(rc));
        return rc;
    }
    struct vpool_config vc;
    relay_vpool_config(c, &vc);
    rc = vpool_new(&vc, relay__on_verified, r, &r->vpool);
    if (rc < 0) {
        log_error("cannot start the validation workers: %s", ost_strerror(rc));
        return rc;
    }
    return 0;
}

/* Runs on its own thread during shutdown, so that the io thread can keep
 * draining the answers these stops produce. Upstream first: every queued
 * EVENT is validated, stored and answered before the next stage closes. */
static void *stopper_main(void *arg)
{
    struct relay *r = arg;
    vpool_free(r->vpool);
    r->vpool = NULL;
    batcher_free(r->batcher);
    r->batcher = NULL;
    bcast_stop(r->bcast);
    bcast_join(r->bcast);
    reader_free(r->reader);
    r->reader = NULL;
    atomic_store(&r->is_pipeline_done, true);
    server_wake(r->server);
    return NULL;
}

static void stop_all(struct relay *r)
{
    /* Startup failed part way: nothing is being served, stop in order. */
    vpool_free(r->vpool);
    batcher_free(r->batcher);
    if (r->bcast != NULL) {
        bcast_stop(r->bcast);
        bcast_join(r->bcast);
    }
    reader_free(r->reader);
}

int relay_run(const struct cfg *cfg, const char *config_path)
{
    struct relay r;
    memset(&r, 0, sizeof(r));
    r.cfg = cfg;
    r.live = cfg;
    r.config_path = config_path;
    metrics_init(&r.metrics);
    buf_init(&r.nip11);
    buf_init(&r.html);
    int rc;
    raise_fd_limit(cfg);
    rc = relay__build_documents(cfg, &r.nip11, &r.html);
    if (rc < 0) {
        goto out;
    }
    configure(&r);
    rc = configure_auth(&r);
    if (rc < 0) {
        goto out;
    }
    rc = recent_new(RECENT_DEFAULT_CAPACITY, &r.recent);
    if (rc < 0) {
        goto out;
    }
    struct server_hooks hooks = {
        .ud = &r,
        .on_message = relay__on_message,
        .on_stored = relay__on_stored_id,
        .on_forget = relay__on_forget_ids,
        .on_closed = relay__on_closed,
        .on_sub_dropped = relay__on_sub_dropped,
        .on_idle = relay__on_idle,
        .sample = relay__sample,
    };
    rc = server_new(&r.scfg, &hooks, &r.server);
    if (rc < 0) {
        goto out;
    }
    rc = start_workers(&r);
    if (rc < 0) {
        stop_all(&r);
        goto out;
    }

    pthread_setname_np(pthread_self(), "ost-io");
    signal_server = r.server;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    bool is_os = cfg->storage.backend == CFG_BACKEND_OPENSEARCH;
    log_info("ostrich %s listening on %s://%s:%d (store: %s %s%s%s, %d validation workers)",
             OSTRICH_VERSION, cfg->relay.tls_cert[0] ? "wss" : "ws", cfg->relay.bind,
             server_port(r.server), is_os ? "opensearch" : "sqlite",
             is_os ? cfg->storage.opensearch.url : cfg->storage.sqlite.path, is_os ? " index " : "",
             is_os ? cfg->storage.opensearch.index : "", vpool_worker_count(r.vpool));
    server_run(r.server);
    log_info("shutting down: answering queued events and flushing the store");

    pthread_t stopper;
    rc = thread_start(&stopper, "ost-stop", stopper_main, &r);
    if (rc < 0) {
        stopper_main(&r);
    }
    server_drain(r.server, &r.is_pipeline_done, (int)cfg->relay.drain_timeout_ms);
    if (rc == 0) {
        pthread_join(stopper, NULL);
    }
    rc = 0;
    log_info("stopped");
out:
    signal_server = NULL;
    server_free(r.server);
    bcast_free(r.bcast);
    for (size_t i = 0; i < r.n_backlog; i++) {
        relay__release_bcast_msg(&r.backlog[i]);
    }
    free(r.backlog);
    free(r.allow);
    relay__free_reloads(&r);
    recent_free(r.recent);
    ratelimit_limits_fini(&r.scfg.rate);
    store_close(r.store);
    nip13_policy_free(r.pow);
    buf_fini(&r.nip11);
    buf_fini(&r.html);
    return rc;
}
