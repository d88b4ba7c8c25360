/*
 * SIGHUP: reading the config file again while the relay runs, without
 * dropping a connection.
 *
 * Design: the signal handler only raises a flag and wakes the io thread;
 * the reload runs there, between two service-loop passes, so everything it
 * changes is io-thread state (filter, connection and rate limits, the
 * trusted proxies, the NIP-42 allow list and requirements, the NIP-11
 * document) plus the log level and format, which are atomics. Options that other threads read, or
 * that were used to build long-lived things at start (listening address,
 * TLS, storage, workers, which NIPs are on), are not changed: each such
 * option that differs in the file is logged as needing a restart.
 *
 * The running options are a merge: a shallow copy of the previous running
 * options with the reloadable fields taken from the newly loaded file.
 * Both the loaded file and the merge (and the NIP-11 documents they
 * replace, which an HTTP response may still be sending) are kept until the
 * relay exits: reloads are rare and each costs a few kilobytes.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"
#include "config/cfg.h"
#include "relay/recent.h"
#include "relay/relay_int.h"
#include "relay/server.h"

/* What one reload made and what it replaced. */
struct relay_reload {
    struct cfg *loaded; /* owns its strings */
    struct cfg *merged; /* a shallow copy: its strings belong to loaded or earlier ones */
    struct buf old_nip11;
    struct buf old_html;
    struct relay_reload *next;
};

static atomic_bool is_reload_requested;

void relay__request_reload(struct server *s)
{
    atomic_store(&is_reload_requested, true);
    server_wake(s);
}

/* The options a reload applies; every other change needs a restart. Keys
 * are matched whole, or as a table when they end in '.'. */
static const char *const reloadable[] = {
    "limits.max_message_bytes",
    "limits.max_subscriptions",
    "limits.max_filters",
    "limits.max_limit",
    "limits.default_limit",
    "limits.max_outbound_bytes",
    "limits.max_search_bytes",
    "rate_limit.",
    "relay.trusted_proxies",
    "auth.required_for_write",
    "auth.required_for_read",
    "auth.allow_pubkeys",
    "log.level",
    "log.format",
};

static bool is_reloadable(const char *key)
{
    for (size_t i = 0; i < sizeof(reloadable) / sizeof(reloadable[0]); i++) {
        size_t len = strlen(reloadable[i]);
        if (reloadable[i][len - 1] == '.' ? strncmp(key, reloadable[i], len) == 0
                                          : strcmp(key, reloadable[i]) == 0) {
            return true;
        }
    }
    return false;
}

static size_t field_size(enum cfg_type type)
{
    switch (type) {
    case CFG_TYPE_STRING:
        return sizeof(const char *);
    case CFG_TYPE_INT:
        return sizeof(int64_t);
    case CFG_TYPE_ENUM:
        return sizeof(enum log_level); /* every enum field is an int-sized enum */
    case CFG_TYPE_BOOL:
        return sizeof(bool);
    case CFG_TYPE_STRING_ARRAY:
        return sizeof(struct cfg_strings);
    }
    return 0;
}

/* Whether option o has the same value in a and b. */
static int same_value(const struct cfg *a, const struct cfg *b, const struct cfg_option *o,
                      bool *out)
{
    struct buf x, y;
    buf_init(&x);
    buf_init(&y);
    int rc = cfg_option_value_text(a, o, &x);
    rc = rc == 0 ? cfg_option_value_text(b, o, &y) : rc;
    if (rc == 0) {
        *out = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
    }
    buf_fini(&x);
    buf_fini(&y);
    return rc;
}

/* Copies the reloadable options that differ from next into merged, and
 * logs the others. Returns the number applied, or OST_ENOMEM. */
static int merge(const struct cfg *live, const struct cfg *next, struct cfg *merged)
{
    int applied = 0;
    for (size_t i = 0; i < cfg_option_count(); i++) {
        const struct cfg_option *o = cfg_option_at(i);
        bool is_same = true;
        if (same_value(live, next, o, &is_same) < 0) {
            return OST_ENOMEM;
        }
        if (is_same) {
            continue;
        }
        if (!is_reloadable(o->key)) {
            log_warn("config reload: %s changed; the change takes effect after a restart", o->key);
            continue;
        }
        memcpy((char *)merged + o->offset, (const char *)next + o->offset, field_size(o->type));
        applied++;
        log_info("config reload: %s changed", o->key);
    }
    return applied;
}

static void reload(struct relay *r)
{
    struct buf err;
    buf_init(&err);
    struct relay_reload *rl = calloc(1, sizeof(*rl));
    if (rl == NULL) {
        log_error("config reload: out of memory; keeping the running configuration");
        return;
    }
    buf_init(&rl->old_nip11);
    buf_init(&rl->old_html);
    rl->loaded = malloc(sizeof(*rl->loaded));
    rl->merged = malloc(sizeof(*rl->merged));
    int rc = rl->loaded != NULL && rl->merged != NULL ? 0 : OST_ENOMEM;
    if (rc == 0) {
        cfg_init_defaults(rl->loaded);
        rc = cfg_load_file(rl->loaded, r->config_path, &err);
    }
    if (rc < 0) {
        const char *msg = buf_cstr(&err);
        log_error("config reload failed: %s; keeping the running configuration",
                  msg != NULL && msg[0] != '\0' ? msg : ost_strerror(rc));
        goto fail;
    }
    /* A shallow copy is what it should be: every pointer in it belongs to
     * a config that lives until exit. */
    memcpy(rl->merged, r->live, sizeof(*rl->merged));
    const struct cfg *m = rl->merged;
    int applied = merge(r->live, rl->loaded, rl->merged);
    if (applied < 0) {
        rc = applied;
        log_error("config reload: out of memory; keeping the running configuration");
        goto fail;
    }
    /* NIP-42 stays as it started: its requirements may not outrun it. */
    if (!m->nips.nip42 &&
        (m->auth.required_for_write || m->auth.required_for_read || m->auth.allow_pubkeys.n > 0)) {
        log_error("config reload: [auth] needs NIP-42, which is off in the running relay "
                  "(nips.nip42 changes after a restart); keeping the running configuration");
        goto fail;
    }
    if (applied == 0) {
        log_info("config reload: nothing to change");
        goto fail; /* nothing to keep either */
    }
    struct buf nip11, html;
    buf_init(&nip11);
    buf_init(&html);
    rc = relay__build_documents(m, &nip11, &html);
    rc = rc == 0 ? relay__set_auth_lists(r, m) : rc;
    if (rc < 0) {
        buf_fini(&nip11);
        buf_fini(&html);
        log_error("config reload: %s; keeping the running configuration", ost_strerror(rc));
        goto fail;
    }
    relay__set_limits(r, m);
    /* The rules an event was stored under may have changed (limits,
     * write lists): copies go through validation again. */
    recent_clear(r->recent);
    /* An HTTP response may still be sending the old documents. */
    rl->old_nip11 = r->nip11;
    rl->old_html = r->html;
    r->nip11 = nip11;
    r->html = html;
    r->scfg.nip11_json = r->nip11.data;
    r->scfg.html_page = r->html.data;
    server_documents_changed(r->server);
    log_set_level(m->log.level);
    log_set_format(m->log.format);
    r->live = m;
    rl->next = r->reloads;
    r->reloads = rl;
    log_info("config reload: applied %d change%s from %s", applied, applied == 1 ? "" : "s",
             r->config_path);
    buf_fini(&err);
    return;
fail:
    if (rl->loaded != NULL) {
        cfg_fini(rl->loaded);
    }
    free(rl->loaded);
    free(rl->merged);
    free(rl);
    buf_fini(&err);
}

void relay__reload_pending(struct relay *r)
{
    if (!atomic_exchange(&is_reload_requested, false)) {
        return;
    }
    if (r->config_path == NULL) {
        log_warn("config reload: the relay runs on built-in defaults (no --config), so there "
                 "is nothing to read again");
        return;
    }
    reload(r);
}

void relay__free_reloads(struct relay *r)
{
    struct relay_reload *rl = r->reloads;
    while (rl != NULL) {
        struct relay_reload *next = rl->next;
        cfg_fini(rl->loaded);
        free(rl->loaded);
        free(rl->merged);
        buf_fini(&rl->old_nip11);
        buf_fini(&rl->old_html);
        free(rl);
        rl = next;
    }
    r->reloads = NULL;
}
