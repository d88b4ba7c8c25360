/*
 * The storage interface: one contract that every backend implements (SQLite
 * now, OpenSearch over HTTP later), reached through a table of operations.
 *
 * Threads: a struct store is opened and closed by the main thread and is
 * read-only in between, so any thread may open a handle on it. A struct
 * store_conn is a per-thread handle (for SQLite one connection with its
 * prepared statements; for OpenSearch one HTTP client): the storage thread
 * opens the writer handle, each reader thread its own reader handle, and a
 * handle is used by one thread at a time and closed before its store.
 *
 * Ownership: the store copies what it keeps from the options. Events,
 * filters and ids passed to the operations are borrowed for the call; the
 * JSON handed to a query callback is borrowed for that callback only.
 */
#ifndef OSTRICH_STORE_STORE_H
#define OSTRICH_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event;
struct store_snapshot;
struct filter;
struct filter_set;

/* SQLite's default wait for a lock, in milliseconds. */
#define STORE_DEFAULT_BUSY_TIMEOUT_MS 5000

enum store_backend {
    STORE_BACKEND_SQLITE = 0,
    STORE_BACKEND_OPENSEARCH = 1,
};

/* The current time in Unix seconds, for NIP-40 expiration. Called from
 * every thread that uses a handle of the store, so it must be thread-safe. */
typedef int64_t (*store_clock_fn)(void *ud);

/* Options for store_open; only the part of the chosen backend is read. */
struct store_options {
    enum store_backend backend;
    store_clock_fn clock; /* NULL: the system clock (time(2)); tests inject their own */
    void *clock_ud;       /* passed to clock */
    struct {
        const char *path;          /* the database file; its parent directory is created */
        uint32_t busy_timeout_ms;  /* 0: STORE_DEFAULT_BUSY_TIMEOUT_MS */
        uint32_t checkpoint_pages; /* 0: STORE_SQLITE_CHECKPOINT_PAGES (store_sqlite.h) */
    } sqlite;
    struct {
        const char *url;      /* base URL, e.g. "http://127.0.0.1:9200" */
        const char *index;    /* events go in this index, tombstones in "<index>-deletions" */
        const char *username; /* NULL or "": no authentication */
        const char *password;
        const char *ca_file; /* NULL or "": the system's CA certificates */
        bool is_tls_verify;  /* false only for test clusters with self-signed certificates */
        uint32_t connect_timeout_ms;
        uint32_t request_timeout_ms;
        uint32_t retry_max_ms; /* how long a write keeps retrying an unreachable cluster */
        bool is_refresh_wait;  /* a batch returns once its events are searchable */
        uint32_t shards;       /* settings of an index this store creates */
        uint32_t replicas;
        const char *refresh_interval; /* e.g. "1s" */
    } opensearch;
};

/* What a handle is for. A writer may write and read; a reader only reads.
 * A deferred writer is a writer whose commits return before they are on
 * disk: its owner makes them durable with store_sync, and only then
 * reports them stored. That lets one thread sync a batch while another
 * already writes the next. On a backend without store_sync it is a plain
 * writer (each commit is durable when it returns). */
enum store_role {
    STORE_ROLE_WRITER = 0,
    STORE_ROLE_READER = 1,
    STORE_ROLE_WRITER_DEFERRED = 2,
};

/* The outcome for one event of a batch. */
enum store_status {
    STORE_STORED = 0,         /* written; durable once the batch returned 0 */
    STORE_DUPLICATE = 1,      /* an event with this id is already stored */
    STORE_REPLACED_OLDER = 2, /* a newer version of this replaceable or addressable
                                 event is stored; this one was not */
    STORE_FAILED = 3,         /* not written: rc and reason say why */
    STORE_DELETED = 4,        /* not written: its author deleted it (NIP-09) */
    STORE_VANISHED = 5,       /* not written: its author asked to vanish (NIP-62) */
};

/* An address of a replaceable or addressable event (NIP-01 "a" tag value
 * "<kind>:<pubkey>:<d>"); d is "" for a replaceable kind. d is borrowed. */
struct store_addr {
    uint32_t kind;
    uint8_t pubkey[32];
    const char *d;
    size_t d_len;
};

/* What storing one event deletes, parsed by nips/ (nip09, nip62) on a
 * validation worker and passed with the event, so the store reads no NIP
 * tags of its own. Transparent value type; its pointers are borrowed.
 * NIP-09 (a kind 5 event): the events with ids[0..n_ids) whose pubkey is
 * the deleting event's, and every version of addrs[0..n_addrs) with
 * created_at at or before the deleting event's; kind 5 events are never
 * deleted this way. NIP-62 (is_vanish): every event of the deleting
 * event's pubkey with created_at at or before its own, kind 5 included.
 * Either way the store remembers what was deleted and refuses it (and
 * older versions, or older events for a vanish) when it is sent again. */
struct store_deletion {
    const uint8_t (*ids)[32];
    size_t n_ids;
    const struct store_addr *addrs;
    size_t n_addrs;
    bool is_vanish;
};

/* Sequence numbers: every stored event gets one, larger than that of every
 * event stored before it, and never reused. A query reports the sequence
 * number of its snapshot: events with a larger one were not visible to it.
 * This is what lets the relay join a REQ's stored events with the live
 * ones that follow without losing or repeating any.
 *
 * rc is 0 unless status is STORE_FAILED, then a negative code. reason is a
 * static string from store_reasons with its NIP-01 prefix ("" for
 * STORE_STORED); the relay decides whether it answers OK true or false. */
struct store_result {
    enum store_status status;
    int rc;
    const char *reason;
    uint64_t seq; /* STORE_STORED: the event's sequence number */
};

/* Called once per event a query returns, with the raw JSON exactly as it
 * was stored (borrowed for the call). Return 0 to go on, or a negative code
 * to stop the query, which then returns that code. */
typedef int (*store_event_fn)(void *ud, const char *json, size_t len);

/* Called once per event a count counts, with its pubkey (32 bytes, borrowed
 * for the call), in no particular order (NIP-45 HyperLogLog). */
typedef void (*store_pubkey_fn)(void *ud, const uint8_t *pubkey);

/*
 * The backend interface. A backend embeds struct store (and struct
 * store_conn) as the first member of its own structs and fills a static
 * struct store_ops; the store_* functions below only dispatch, so each
 * operation has the contract of its wrapper.
 */
struct store;
struct store_conn;

struct store_ops {
    const char *name;
    void (*close)(struct store *s);
    int (*conn_open)(struct store *s, enum store_role role, struct store_conn **out);
    void (*conn_close)(struct store_conn *c);
    int (*write_batch)(struct store_conn *c, const struct event *const *evs,
                       const struct store_deletion *const *dels, size_t n,
                       struct store_result *results);
    int (*query)(struct store_conn *c, const struct filter *const *filters, size_t n,
                 store_event_fn fn, void *ud, struct store_snapshot *snap);
    int (*count)(struct store_conn *c, const struct filter *const *filters, size_t n,
                 store_pubkey_fn fn, void *ud, uint64_t *out);
    int (*delete_ids)(struct store_conn *c, const uint8_t (*ids)[32], size_t n,
                      const uint8_t *pubkey);
    int (*purge_expired)(struct store_conn *c, uint32_t max_n);
    int (*sync)(struct store *s); /* NULL: every commit is durable when it returns */
};

/* Owned by: the thread that opened it; read-only until store_close. */
struct store {
    const struct store_ops *ops;
};

/* Owned by: the thread that uses it (one at a time). */
struct store_conn {
    struct store *store;
    enum store_role role;
};

/* Fills *r for status; rc is the negative code for STORE_FAILED and
 * ignored otherwise. For backends and the storage thread, so the pairing of
 * status, code and reason is made in one place. */
void store_result_set(struct store_result *r, enum store_status status, int rc);

/* Every reason a store operation reports, ending with NULL (for tests). */
extern const char *const store_reasons[];

/* Lifecycle */

/* Opens the backend named by opt (borrowed; what is kept is copied). For
 * SQLite: creates the parent directory of the file when missing, creates
 * or upgrades the schema, and checks that the database can be written.
 * Blocks on disk I/O; call at startup. Returns 0 with *out set, OST_EINVAL
 * (bad options, or a database of a newer schema), OST_ENOMEM, or OST_EIO
 * (the file or directory cannot be created or opened; logged with the path
 * and the system error). */
int store_open(const struct store_options *opt, struct store **out);

/* Closes s. Every handle must be closed first. NULL does nothing. */
void store_close(struct store *s);

/* Opens a handle for the calling thread. Returns 0 with *out set,
 * OST_EINVAL (unknown role), OST_ENOMEM or OST_EIO. Any thread may call
 * it. */
int store_conn_open(struct store *s, enum store_role role, struct store_conn **out);

/* Closes c. Only its thread calls it. NULL does nothing. */
void store_conn_close(struct store_conn *c);

/* Whether s has store_sync, i.e. whether a STORE_ROLE_WRITER_DEFERRED
 * handle's commits need it before they may be reported stored. */
bool store_has_sync(const struct store *s);

/* Makes every transaction that any handle of s committed before the call
 * durable (on disk, surviving a power loss). One thread at a time, which
 * may run beside the writer. Blocks on disk I/O. Returns 0 (also when s
 * has nothing to sync) or OST_EIO, logged with the system error; after
 * OST_EIO nothing committed since the last successful sync may be assumed
 * durable. */
int store_sync(struct store *s);

/* Operations: each blocks on the backend; never call them on the io thread. */

/* Writes evs[0..n) (borrowed) in one transaction and fills results[0..n).
 * NIP-01 rules: for a replaceable kind (0, 3, 10000-19999) only the newest
 * event per (pubkey, kind) is kept, for an addressable kind (30000-39999)
 * the newest per (pubkey, kind, first "d" tag value, "" when missing); on
 * equal created_at the lowest id wins. Earlier events of the same batch
 * count, so two versions in one batch leave the newest. Other kinds,
 * ephemeral included, are stored as given (policy is the caller's).
 * NIP-40: an event's expiration (ev->expiration, 0 for none) is stored
 * with it, whether or not it has passed (refusing expired events is the
 * caller's policy).
 * Returns 0 once the transaction is durably committed; only then do the
 * results hold. On failure returns a negative code (OST_ENOMEM, OST_ENOSPC,
 * OST_ETIMEDOUT when the database stayed locked, OST_EIO, OST_EUNAVAIL when
 * the store cannot be reached, OST_EINVAL for a reader handle), nothing of
 * the batch is stored, and every result is STORE_FAILED with an
 * "error: ..." reason. A backend without transactions over a batch
 * (OpenSearch) may also return 0 with some results STORE_FAILED: those
 * events were not stored, and every other result holds. */
int store_write_batch(struct store_conn *c, const struct event *const *evs, size_t n,
                      struct store_result *results);

/* store_write_batch where the event evs[i] is stored with what it deletes,
 * dels[i] (borrowed; NULL for nothing, and dels itself may be NULL), in
 * the same transaction. Before storing an event it is refused with
 * STORE_DELETED when its id was deleted by its author (a kind 5 event is
 * never refused this way) or its address was deleted at or after its
 * created_at, and with STORE_VANISHED when its author vanished at or after
 * its created_at; the deleting event itself is stored, then what it
 * deletes goes (see struct store_deletion). Deleted events are gone from
 * the store: later queries and counts never see them. Returns as
 * store_write_batch. */
int store_write_batch_del(struct store_conn *c, const struct event *const *evs,
                          const struct store_deletion *const *dels, size_t n,
                          struct store_result *results);

/* Runs the filters[0..n) (an OR, borrowed) and calls fn(ud, json, len) for
 * each matching stored event: newest first (created_at descending, then id
 * ascending), at most filter_limit(f) events for each filter (a filter with
 * limit 0 or that can never match gives nothing), each event once even when
 * several filters match it. NIP-50: a lone filter with search terms
 * returns its most relevant events first (then newest first); with several
 * filters each keeps its own most relevant rows and the union comes newest
 * first. NIP-40: an event whose expiration is at or
 * before the store's clock is never returned, whether or not it has been
 * purged yet. Returns 0, the negative code fn returned, or
 * OST_ENOMEM / OST_EIO / OST_ETIMEDOUT. */
int store_query(struct store_conn *c, const struct filter *const *filters, size_t n,
                store_event_fn fn, void *ud);

/* What a query reports besides its events. */
struct store_snapshot {
    /* The sequence number of the query's snapshot (0 for an empty SQLite
     * store; OpenSearch numbers start from the clock):
     * every event stored with a sequence number up to it was visible to the
     * query, every later one was not. */
    uint64_t seq;
    /* True when every matching stored event was returned: no filter was cut
     * by its limit (NIP-67's "finish"). */
    bool is_complete;
};

/* store_query over the filters of a REQ (borrowed). snap, when not NULL,
 * receives the snapshot report. */
int store_query_set(struct store_conn *c, const struct filter_set *set, store_event_fn fn, void *ud,
                    struct store_snapshot *snap);

/* Counts the stored events that match any of filters[0..n) (NIP-45),
 * each event once, expired ones (see store_query) left out. "limit" is
 * ignored: it bounds what a REQ sends, not what exists. Returns 0 with *out
 * set, or OST_ENOMEM / OST_EIO / OST_ETIMEDOUT. */
int store_count(struct store_conn *c, const struct filter *const *filters, size_t n, uint64_t *out);

/* store_count over the filters of a REQ (borrowed). */
int store_count_set(struct store_conn *c, const struct filter_set *set, uint64_t *out);

/* store_count_set that also calls fn(ud, pubkey) with the pubkeys of the
 * events it counts, so the caller can fold them into NIP-45 registers:
 * SQLite calls it once per counted event, OpenSearch once per distinct
 * pubkey among them (HyperLogLog registers keep a maximum, so both give
 * the same registers). Every pubkey of a counted event is passed at least
 * once, and no other. Returns as store_count. */
int store_count_set_pubkeys(struct store_conn *c, const struct filter_set *set, store_pubkey_fn fn,
                            void *ud, uint64_t *out);

/* Deletes the events with ids[0..n) in one transaction; when pubkey (32
 * bytes) is not NULL, only those that pubkey signed (NIP-09). Returns the
 * number deleted (>= 0) once committed, or a negative code as
 * store_write_batch. */
int store_delete_ids(struct store_conn *c, const uint8_t (*ids)[32], size_t n,
                     const uint8_t *pubkey);

/* NIP-40: deletes at most max_n events whose expiration is at or before
 * the store's clock, earliest expiration first, in one transaction of its
 * own. A bounded pass keeps the writer's other work from waiting long;
 * call it again while it returns max_n. Returns the number deleted (>= 0)
 * once committed, or a negative code as store_write_batch. */
int store_purge_expired(struct store_conn *c, uint32_t max_n);

/* Queries */

/* The backend's name ("sqlite"). */
const char *store_backend_name(const struct store *s);

/* The static "error: ..." reason (one of store_reasons) for a negative code
 * from this interface, for OK false and CLOSED replies. */
const char *store_error_reason(int rc);

#endif
