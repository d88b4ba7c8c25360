/*
 * Full event validation for one thread: parse, limits, created_at window,
 * id, signature. The cheap checks run first so that garbage costs little;
 * the signature, by far the most expensive step, runs last.
 */
#include "validate/verify.h"

#include "common/err.h"

#define R_BAD_ID  "invalid: event id does not match the hash of its content"
#define R_BAD_SIG "invalid: signature does not verify"
#define R_TOO_OLD "invalid: created_at is too old (over the relay's created_at_lower_limit)"
#define R_TOO_NEW \
    "invalid: created_at is too far in the future (over the relay's created_at_upper_limit)"
#define R_NOMEM "error: out of memory while validating the event"

const char *const verify_reasons[] = { R_BAD_ID, R_BAD_SIG, R_TOO_OLD, R_TOO_NEW, R_NOMEM, NULL };

int verify_ctx_init(struct verify_ctx *v, enum sig_engine engine)
{
    int rc = canon_ctx_init(&v->canon);
    if (rc < 0) {
        return rc;
    }
    rc = sig_verifier_new(engine, &v->sig);
    if (rc < 0) {
        canon_ctx_fini(&v->canon);
        return rc;
    }
    return 0;
}

void verify_ctx_fini(struct verify_ctx *v)
{
    sig_verifier_free(v->sig);
    v->sig = NULL;
    canon_ctx_fini(&v->canon);
}

int verify_event(struct verify_ctx *v, const char *json, size_t len,
                 const struct verify_limits *lim, int64_t now, struct event *out,
                 const char **reason)
{
    struct event ev;
    int rc = event_parse(json, len, lim ? &lim->event : NULL, &ev, reason);
    if (rc < 0) {
        return rc;
    }
    if (lim != NULL) {
        /* Both bounds are inclusive: an event exactly at the limit passes. */
        if (lim->created_at_max_age_s != 0 &&
            ev.created_at < now - (int64_t)lim->created_at_max_age_s) {
            *reason = R_TOO_OLD;
            return OST_EREJECT;
        }
        if (lim->created_at_max_future_s != 0 &&
            ev.created_at > now + (int64_t)lim->created_at_max_future_s) {
            *reason = R_TOO_NEW;
            return OST_EREJECT;
        }
    }
    rc = canon_check_id(&v->canon, &ev);
    if (rc < 0) {
        *reason = rc == OST_EBADID ? R_BAD_ID : R_NOMEM;
        return rc;
    }
    rc = sig_verify(v->sig, ev.pubkey, ev.id, 32, ev.sig);
    if (rc < 0) {
        *reason = rc == OST_EBADSIG ? R_BAD_SIG : R_NOMEM;
        return rc;
    }
    *out = ev;
    return 0;
}
