/*
 * The SQLite backend's part of NIP-09 (deletion requests) and NIP-62
 * (requests to vanish): recording what a stored event deletes, deleting
 * it, and refusing it when it is sent again. Runs on the storage thread
 * inside the write transaction of the batch that stores the deleting
 * event, so the deletion commits, or not, together with that event and
 * before its OK.
 *
 * Design: the store reads no NIP tags. The relay parses the targets on a
 * validation worker (nips/nip09, nips/nip62) and passes them with the event
 * as a struct store_deletion. The records (schema version 3) are:
 *   deleted_ids(id, pubkey): an id deleted by that pubkey; refuses the
 *     event with that id only when that pubkey signed it, so someone else's
 *     deletion never blocks an event.
 *   deleted_addrs(pubkey, kind, d_tag, created_at): an address deleted up
 *     to created_at (the latest such deletion); refuses versions at or
 *     before it, newer versions are stored.
 *   vanished(pubkey, created_at): refuses every event of pubkey at or
 *     before created_at.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "common/err.h"
#include "store/store.h"
#include "store/store_sqlite_int.h"
#include "validate/event.h"

/* NIP-09: "Publishing a deletion request event against a deletion request
 * has no effect", so kind 5 events are neither deleted by id nor refused
 * by an id record. A vanish request still takes them (NIP-62: "including
 * NIP-09 Deletion Events"). */
#define KIND_DELETION 5

/* Steps st, a query for one row, and resets it: *has_row says whether
 * there was one. Returns 0 or a code. */
static int exists(struct store_sqlite_conn *c, sqlite3_stmt *st, const char *what, bool *has_row)
{
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    if (src != SQLITE_ROW && src != SQLITE_DONE) {
        return store_sqlite__db_error(c, what, src);
    }
    *has_row = src == SQLITE_ROW;
    return 0;
}

int store_sqlite__refusal(struct store_sqlite_conn *c, const struct event *ev, const void *d,
                          size_t d_len, enum store_status *status)
{
    bool has_row = false;
    sqlite3_stmt *st = c->st[ST_IS_VANISHED];
    sqlite3_bind_blob(st, 1, ev->pubkey, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ev->created_at);
    int rc = exists(c, st, "find vanish", &has_row);
    if (rc == 0 && has_row) {
        *status = STORE_VANISHED;
        return 0;
    }
    if (rc == 0 && ev->kind != KIND_DELETION) {
        st = c->st[ST_IS_DELETED_ID];
        sqlite3_bind_blob(st, 1, ev->id, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, ev->pubkey, 32, SQLITE_STATIC);
        rc = exists(c, st, "find deleted id", &has_row);
    }
    /* A replaceable event's address has the empty d value. */
    if (rc == 0 && !has_row && d == NULL && event_kind_is_replaceable(ev->kind)) {
        d = "";
        d_len = 0;
    }
    if (rc == 0 && !has_row && d != NULL) {
        st = c->st[ST_IS_DELETED_ADDR];
        sqlite3_bind_blob(st, 1, ev->pubkey, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, ev->kind);
        sqlite3_bind_text64(st, 3, d, d_len, SQLITE_STATIC, SQLITE_UTF8);
        sqlite3_bind_int64(st, 4, ev->created_at);
        rc = exists(c, st, "find deleted address", &has_row);
    }
    if (rc == 0 && has_row) {
        *status = STORE_DELETED;
    }
    return rc;
}

/* Collects the rowids st finds (then resets it) and deletes those events.
 * Returns 0 or a code. */
static int delete_found(struct store_sqlite_conn *c, sqlite3_stmt *st, const char *what)
{
    size_t n = 0;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (store_sqlite__push_rowid(c, &n, sqlite3_column_int64(st, 0)) < 0) {
            sqlite3_reset(st);
            return OST_ENOMEM;
        }
    }
    sqlite3_reset(st);
    if (src != SQLITE_DONE) {
        return store_sqlite__db_error(c, what, src);
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = store_sqlite__delete_rowid(c, c->rowids[i]);
    }
    return rc;
}

/* NIP-09 "e" target: recorded even when the event is not stored (yet), so
 * it is refused if it arrives later. */
static int delete_id(struct store_sqlite_conn *c, const struct event *ev, const uint8_t id[32])
{
    sqlite3_stmt *st = c->st[ST_ADD_DELETED_ID];
    sqlite3_bind_blob(st, 1, id, 32, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, ev->pubkey, 32, SQLITE_STATIC);
    int rc = store_sqlite__run(c, st, "record deleted id");
    if (rc == 0) {
        st = c->st[ST_FIND_DEL_ID];
        sqlite3_bind_blob(st, 1, id, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, ev->pubkey, 32, SQLITE_STATIC);
        rc = delete_found(c, st, "find deleted id");
    }
    return rc;
}

/* NIP-09 "a" target: "all versions of the replaceable event up to the
 * created_at timestamp of the deletion request event". Only the deleting
 * event's own addresses count. */
static int delete_addr(struct store_sqlite_conn *c, const struct event *ev,
                       const struct store_addr *a)
{
    bool is_addr = event_kind_is_addressable(a->kind);
    if (memcmp(a->pubkey, ev->pubkey, 32) != 0 ||
        (!is_addr && !event_kind_is_replaceable(a->kind))) {
        return 0;
    }
    const char *d = is_addr ? a->d : "";
    size_t d_len = is_addr ? a->d_len : 0;
    sqlite3_stmt *st = c->st[ST_ADD_DELETED_ADDR];
    sqlite3_bind_blob(st, 1, ev->pubkey, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, a->kind);
    sqlite3_bind_text64(st, 3, d, d_len, SQLITE_STATIC, SQLITE_UTF8);
    sqlite3_bind_int64(st, 4, ev->created_at);
    int rc = store_sqlite__run(c, st, "record deleted address");
    if (rc < 0) {
        return rc;
    }
    if (is_addr) {
        st = c->st[ST_FIND_DEL_ADDR];
        sqlite3_bind_blob(st, 1, ev->pubkey, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, a->kind);
        sqlite3_bind_text64(st, 3, d, d_len, SQLITE_STATIC, SQLITE_UTF8);
        sqlite3_bind_int64(st, 4, ev->created_at);
    } else {
        st = c->st[ST_FIND_DEL_REPL];
        sqlite3_bind_blob(st, 1, ev->pubkey, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, a->kind);
        sqlite3_bind_int64(st, 3, ev->created_at);
    }
    return delete_found(c, st, "find deleted address");
}

/* NIP-62: "delete everything, including NIP-09 Deletion Events, from the
 * .pubkey until its .created_at", except the request itself (at rowid),
 * which is kept as the record of the request. */
static int vanish(struct store_sqlite_conn *c, const struct event *ev, int64_t rowid)
{
    sqlite3_stmt *st = c->st[ST_ADD_VANISHED];
    sqlite3_bind_blob(st, 1, ev->pubkey, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ev->created_at);
    int rc = store_sqlite__run(c, st, "record vanish");
    if (rc == 0) {
        st = c->st[ST_FIND_VANISH];
        sqlite3_bind_blob(st, 1, ev->pubkey, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, ev->created_at);
        sqlite3_bind_int64(st, 3, rowid);
        rc = delete_found(c, st, "find vanished events");
    }
    return rc;
}

int store_sqlite__apply_deletion(struct store_sqlite_conn *c, const struct event *ev, int64_t rowid,
                                 const struct store_deletion *del)
{
    int rc = del->is_vanish ? vanish(c, ev, rowid) : 0;
    for (size_t i = 0; i < del->n_ids && rc == 0; i++) {
        rc = delete_id(c, ev, del->ids[i]);
    }
    for (size_t i = 0; i < del->n_addrs && rc == 0; i++) {
        rc = delete_addr(c, ev, &del->addrs[i]);
    }
    return rc;
}
