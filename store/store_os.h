/*
 * The OpenSearch backend of the storage interface (store/store.h), over
 * HTTP with libcurl (store_os_http), with the documents and queries of
 * store_os_dsl and the response parsers of store_os_resp.
 *
 * Several relays may share one cluster: every rule that must hold across
 * them (one copy per event id, the newest version per address) is enforced
 * by OpenSearch itself in the write, not by a read before it. What is per
 * relay: sequence numbers (they order this relay's own writes for the
 * REQ/live join; events stored by another relay reach this relay's
 * subscribers only through queries) and the NIP-09/62 check against
 * tombstones, which reads them before a batch is written.
 *
 * Availability: store_open succeeds when the cluster cannot be reached
 * (the relay starts and serves; the indexes are created on first contact)
 * and fails only when the cluster answers with something wrong for good,
 * such as an existing index whose mapping does not fit. While the cluster
 * is unreachable or red, writes retry for retry_max_ms and then fail with
 * OST_EUNAVAIL, and queries fail at once with OST_EUNAVAIL; the first
 * failure and the recovery are logged once each.
 */
#ifndef OSTRICH_STORE_STORE_OS_H
#define OSTRICH_STORE_STORE_OS_H

#include <stdbool.h>

struct store;
struct store_options;

/* Opens the backend for opt->opensearch (borrowed; what is kept is
 * copied): checks or creates the events and deletions indexes when the
 * cluster answers. Returns 0 with *out set; OST_EINVAL (bad options, or an
 * index whose mapping does not fit: logged with the index, field and
 * types); OST_ENOMEM. Call it through store_open. */
int store_os_open(const struct store_options *opt, struct store **out);

/* True when the last request any handle of s made reached the cluster and
 * the cluster was not red (for health reports). s must be of this
 * backend. */
bool store_os_is_available(const struct store *s);

/* Deletes the events and deletions indexes of s, for tests that make an
 * index of their own per run. Every handle must be closed. Returns 0 (also
 * when they did not exist) or a negative code. */
int store_os_drop(struct store *s);

#endif
