/* Shared event payloads. */
#include "relay/payload.h"

#include <stdlib.h>
#include <string.h>

struct payload *payload_new(const struct event *ev, uint64_t seq)
{
    size_t len = ev->json_len;
    struct payload *p = malloc(sizeof(*p) + len + 1);
    if (p == NULL) {
        return NULL;
    }
    atomic_init(&p->refs, 1);
    p->z = NULL;
    p->z_len = 0;
    p->seq = seq;
    p->len = len;
    memcpy(p->json, ev->json, len);
    p->json[len] = '\0';
    /* The event is a view into its JSON: move every pointer by the same
     * distance the bytes moved. */
    p->ev = *ev;
    p->ev.json = p->json;
    p->ev.tags = p->json + (ev->tags - ev->json);
    p->ev.content.p = p->json + (ev->content.p - ev->json);
    return p;
}

struct payload *payload_new_json(const char *json, size_t len)
{
    struct payload *p = malloc(sizeof(*p) + len + 1);
    if (p == NULL) {
        return NULL;
    }
    atomic_init(&p->refs, 1);
    p->z = NULL;
    p->z_len = 0;
    p->seq = 0;
    memset(&p->ev, 0, sizeof(p->ev));
    p->len = len;
    memcpy(p->json, json, len);
    p->json[len] = '\0';
    return p;
}

void payload_unref(struct payload *p)
{
    /* acq_rel: the thread that frees must see every write made by the
     * threads that dropped their references before it. */
    if (p != NULL && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1) {
        free(p->z);
        free(p);
    }
}
