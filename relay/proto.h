/*
 * NIP-01 messages on the wire: parse what a client sends (EVENT, REQ,
 * CLOSE, COUNT, and NIP-42's AUTH) and format what the relay sends (EVENT,
 * OK, EOSE, CLOSED, NOTICE, COUNT, AUTH).
 *
 * Parsing validates the whole message as strict JSON (bounded nesting)
 * and returns spans into it; nothing is allocated. Formatting appends to a
 * caller-owned struct buf. Thread-agnostic. This is the single place where
 * a negative code plus a reason becomes OK false / CLOSED / NOTICE.
 */
#ifndef OSTRICH_RELAY_PROTO_H
#define OSTRICH_RELAY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* NIP-01: a subscription id is a non-empty string of at most 64
 * characters. Characters are Unicode code points, so the id takes up to
 * four times as many bytes. */
#define PROTO_MAX_SUB_ID_CHARS 64
#define PROTO_MAX_SUB_ID_LEN   (4 * PROTO_MAX_SUB_ID_CHARS)

/* Deepest nesting a client message may have: the envelope, an event's tags
 * and their strings, or a filter's arrays, all fit well within this. */
#define PROTO_MAX_DEPTH 8

enum proto_type {
    PROTO_EVENT,
    PROTO_REQ,
    PROTO_CLOSE,
    PROTO_COUNT,
    PROTO_AUTH, /* NIP-42: the client's signed kind 22242 event */
};

/* A parsed client message: spans into the caller's text. */
struct proto_msg {
    enum proto_type type;
    /* EVENT, AUTH: the event object. */
    const char *event;
    size_t event_len;
    /* REQ, CLOSE, COUNT: the subscription id, unescaped. */
    char sub_id[PROTO_MAX_SUB_ID_LEN + 1];
    size_t sub_id_len;
    /* REQ, COUNT: the filter objects after the id, "{...},{...}". */
    const char *filters;
    size_t filters_len;
};

/* Parses one client message. Returns 0 with *out filled, or OST_EPARSE
 * with *reason set to a static string with its NIP-01 prefix. When the
 * message was a REQ/COUNT/CLOSE whose subscription id could be read,
 * *out has type and sub_id set even on failure, and has_sub_id tells so,
 * so that the caller can answer with CLOSED instead of NOTICE. */
int proto_parse(const char *msg, size_t len, struct proto_msg *out, bool *has_sub_id,
                const char **reason);

/* Appenders for relay messages. sub_id is raw bytes (escaped here); json
 * is an event's JSON, sent as is. Each returns 0 or OST_ENOMEM. */
int proto_fmt_event(struct buf *out, const char *sub_id, size_t sub_id_len, const char *json,
                    size_t json_len);
int proto_fmt_ok(struct buf *out, const uint8_t id[32], bool accepted, const char *reason);
/* With is_complete, EOSE carries NIP-67's ["finish"] hint: every stored
 * event matching the subscription was sent. */
int proto_fmt_eose(struct buf *out, const char *sub_id, size_t sub_id_len, bool is_complete);
int proto_fmt_closed(struct buf *out, const char *sub_id, size_t sub_id_len, const char *reason);
int proto_fmt_notice(struct buf *out, const char *reason);
/* NIP-45: hll[0..hll_len) is the hex of the HyperLogLog registers, sent as
 * "hll"; hll_len 0 leaves the field out. */
int proto_fmt_count(struct buf *out, const char *sub_id, size_t sub_id_len, uint64_t count,
                    const char *hll, size_t hll_len);
/* NIP-42: ["AUTH", challenge]; challenge is a NUL-terminated string. */
int proto_fmt_auth(struct buf *out, const char *challenge);

/* Every reason proto_parse returns beyond the JSON scanner's, ending with
 * NULL (for tests). */
extern const char *const proto_reasons[];

#endif
