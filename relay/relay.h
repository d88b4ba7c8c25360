/*
 * The relay: starts every thread (validation workers, storage, readers,
 * broadcast) around the io thread, runs until SIGINT/SIGTERM, and shuts
 * down in order so that every EVENT received gets its OK and nothing
 * acknowledged is lost.
 */
#ifndef OSTRICH_RELAY_RELAY_H
#define OSTRICH_RELAY_RELAY_H

#include <stdint.h>

struct cfg;
struct event;
struct nip13_policy;
struct store;
struct store_deletion;
struct vpool_config;

/* Runs the relay on the calling thread (which becomes the io thread) until
 * a termination signal. cfg is borrowed for the whole run. config_path is
 * the file cfg was loaded from (NULL: built-in defaults), read again on
 * SIGHUP: the options that can change while running (limits, rate limits,
 * trusted proxies, the auth lists and requirements, log level and format)
 * take effect, and
 * every other change is logged as needing a restart. Returns 0 after a
 * clean shutdown, or a negative code after logging why it could not start
 * (bind address and port, TLS files, database path). */
int relay_run(const struct cfg *cfg, const char *config_path);

/* What the relay and `ostrich import` (relay/dump.h) share, so that an
 * imported event meets exactly the rules a published one does. Each reads
 * cfg (borrowed) and nothing else; any thread. */

/* Opens the store cfg names (OpenSearch credentials from the environment
 * win over the file). Returns 0 with *out set, or the code of store_open
 * after logging the backend, path or URL and the error. Blocks on the
 * backend. */
int relay_store_open(const struct cfg *cfg, struct store **out);

/* The validation workers' options: thread count, signature engine, the
 * event limits and the created_at window. */
void relay_vpool_config(const struct cfg *cfg, struct vpool_config *out);

/* The rules for an event whose id and signature are valid, that do not
 * depend on the connection it came from: kind 22242 is never published
 * (NIP-42 on), proof of work (NIP-13 on, with pow built from
 * limits.min_pow_difficulty) and expiration at now (NIP-40 on, which also
 * sets ev->expiration for the store). Returns 0, or OST_EREJECT with
 * *reason set to a static string or one owned by pow. */
int relay_check_event(const struct cfg *cfg, const struct nip13_policy *pow, struct event *ev,
                      int64_t now, const char **reason);

/* What storing ev deletes: a NIP-09 deletion request or a NIP-62 request to
 * vanish naming this relay, each with its NIP on. Sets *out to NULL or to
 * one malloc block the caller frees. Returns 0 or OST_ENOMEM. */
int relay_event_deletion(const struct cfg *cfg, const struct event *ev,
                         struct store_deletion **out);

#endif
