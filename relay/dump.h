/*
 * `ostrich import` and `ostrich export`: events in and out of the configured
 * store as JSONL (one event's JSON per line), for backups, migrations
 * between backends and seeding a relay.
 *
 * Import validates every line with the validation workers and applies the
 * relay's own rules (relay/relay.h: the event limits and created_at window,
 * NIP-13, NIP-40, NIP-42's kind 22242, NIP-09 and NIP-62 deletions), then
 * stores the events in batches through the storage thread, as published
 * events are. NIP-70 is the one rule left out: it asks for the author's
 * authentication on a connection, and the operator who imports a file is
 * trusted with its protected events. Ephemeral events are refused, since
 * the relay never stores them. With SQLite the relay may be running on the
 * same file (WAL): both write, each waiting for the other's transaction up
 * to the store's busy timeout; a running relay's subscribers are not sent
 * the imported events, its REQs find them.
 *
 * Export pages through the store newest first (created_at descending, then
 * id ascending, the store's query order), a page per read transaction, so
 * neither process memory nor a long-held read snapshot grows with the
 * store. The order does not matter for a later import: the store keeps the
 * newest version of a replaceable event and applies a deletion whichever
 * of the two comes first.
 *
 * Threads: both are called on the main thread of a process that runs no
 * relay; import starts its workers and stops them before it returns.
 */
#ifndef OSTRICH_RELAY_DUMP_H
#define OSTRICH_RELAY_DUMP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct cfg;

/* Rejected lines listed by line number in the summary, at most. */
#define DUMP_FIRST_REJECTED 5
/* Events asked of the store per page of an export. */
#define DUMP_EXPORT_PAGE 1000

/* What an import did; lines = accepted + duplicates + rejected + failed. */
struct dump_import_stats {
    uint64_t lines;      /* events read: the lines that are not blank */
    uint64_t accepted;   /* stored */
    uint64_t duplicates; /* already stored, or older than the stored version of a
                            replaceable or addressable event ("duplicate:") */
    uint64_t rejected;   /* refused by a rule, or not an event at all */
    uint64_t failed;     /* not stored because the store failed */
};

/* Imports the JSONL read from in (borrowed; name says what it is in
 * messages) into the store cfg (borrowed) names. Blank lines are skipped;
 * a line longer than limits.max_message_bytes is rejected. Writes to err:
 * when is_progress, a progress line refreshed a few times a second; at the
 * end "imported N events: A accepted, D duplicates, R rejected", the count
 * of each rejection reason ("  C rejected: REASON", most frequent first)
 * and the first DUMP_FIRST_REJECTED rejected lines ("  line L: REASON").
 * Fills *stats when not NULL. Returns 0 when in was read to its end and
 * every event that was not rejected is stored (rejections are not
 * failures); OST_EIO after a read error; the store's code when it cannot
 * be opened or a batch did not commit; OST_ENOMEM. Blocks until done. */
int dump_import(const struct cfg *cfg, FILE *in, const char *name, FILE *err, bool is_progress,
                struct dump_import_stats *stats);

/* Writes to out (borrowed) every stored event that matches the NIP-01
 * filter filter_json (NULL: every event), one JSON text per line exactly
 * as stored, newest first; a "limit" in the filter caps the number
 * written. A filter with "search" is refused (relevance order cannot be
 * paged). Events stored while the export runs may or may not be included.
 * Writes "exported N events" to err at the end, or what went wrong. Sets
 * *n_out (may be NULL) to the events written. Returns 0; OST_EINVAL for a
 * bad filter; OST_EIO when out cannot be written; the store's code. */
int dump_export(const struct cfg *cfg, const char *filter_json, FILE *out, FILE *err,
                uint64_t *n_out);

#endif
