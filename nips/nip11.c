/* NIP-11 document and the plain page served at GET /. */
#include "nips/nip11.h"

#include <inttypes.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"

static int put_str_field(struct buf *out, const char *key, const char *value, bool *first)
{
    if (value == NULL || value[0] == '\0') {
        return 0;
    }
    int rc = buf_printf(out, "%s\"%s\":", *first ? "" : ",", key);
    *first = false;
    return rc ? rc : json_write_string(out, value, strlen(value));
}

int nip11_build(const struct nip11_info *info, struct buf *out)
{
    bool first = true;
    int rc = buf_append_char(out, '{');
    rc = rc ? rc : put_str_field(out, "name", info->name, &first);
    rc = rc ? rc : put_str_field(out, "description", info->description, &first);
    rc = rc ? rc : put_str_field(out, "pubkey", info->pubkey, &first);
    rc = rc ? rc : put_str_field(out, "contact", info->contact, &first);
    rc = rc ? rc : put_str_field(out, "software", info->software, &first);
    rc = rc ? rc : put_str_field(out, "version", info->version, &first);
    rc = rc ? rc : buf_printf(out, "%s\"supported_nips\":[", first ? "" : ",");
    for (size_t i = 0; rc == 0 && i < info->n_nips; i++) {
        rc = buf_printf(out, "%s%" PRIu32, i ? "," : "", info->supported_nips[i]);
    }
    const struct nip11_limitation *l = &info->limitation;
    rc = rc ? rc
            : buf_printf(
                  out,
                  "],\"limitation\":{\"max_message_length\":%" PRIu64
                  ",\"max_subscriptions\":%" PRIu64 ",\"max_filters\":%" PRIu64
                  ",\"max_limit\":%" PRIu64 ",\"max_subid_length\":%" PRIu64
                  ",\"max_event_tags\":%" PRIu64 ",\"max_content_length\":%" PRIu64
                  ",\"min_pow_difficulty\":%" PRIu64 ",\"default_limit\":%" PRIu64
                  ",\"auth_required\":%s,\"payment_required\":%s"
                  ",\"restricted_writes\":%s",
                  l->max_message_length, l->max_subscriptions, l->max_filters, l->max_limit,
                  l->max_subid_length, l->max_event_tags, l->max_content_length,
                  l->min_pow_difficulty, l->default_limit, l->auth_required ? "true" : "false",
                  l->payment_required ? "true" : "false", l->restricted_writes ? "true" : "false");
    /* NIP-11: the lower limit is a timestamp bound; a relay without one
     * leaves the field out rather than claiming the epoch. */
    if (rc == 0 && l->created_at_lower_limit != 0) {
        rc = buf_printf(out, ",\"created_at_lower_limit\":%" PRId64, l->created_at_lower_limit);
    }
    if (rc == 0 && l->created_at_upper_limit != 0) {
        rc = buf_printf(out, ",\"created_at_upper_limit\":%" PRId64, l->created_at_upper_limit);
    }
    rc = rc ? rc : buf_append(out, "}}", 2);
    return rc;
}

/* Appends s with the five HTML special characters escaped. */
static int put_html(struct buf *out, const char *s)
{
    int rc = 0;
    for (; rc == 0 && *s; s++) {
        switch (*s) {
        case '<':
            rc = buf_append_str(out, "&lt;");
            break;
        case '>':
            rc = buf_append_str(out, "&gt;");
            break;
        case '&':
            rc = buf_append_str(out, "&amp;");
            break;
        case '"':
            rc = buf_append_str(out, "&quot;");
            break;
        case '\'':
            rc = buf_append_str(out, "&#39;");
            break;
        default:
            rc = buf_append_char(out, *s);
            break;
        }
    }
    return rc;
}

int nip11_build_html(const struct nip11_info *info, struct buf *out)
{
    int rc = buf_append_str(out, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>");
    rc = rc ? rc : put_html(out, info->name);
    rc = rc ? rc : buf_append_str(out, "</title></head><body>\n<h1>");
    rc = rc ? rc : put_html(out, info->name);
    rc = rc ? rc : buf_append_str(out, "</h1>\n<p>");
    rc = rc ? rc : put_html(out, info->description);
    rc = rc ? rc
            : buf_append_str(out, "</p>\n<p>This is a Nostr relay. Connect a Nostr client to "
                                  "this address with ws:// or wss://. The relay information "
                                  "document (NIP-11) is served here to requests with "
                                  "<code>Accept: application/nostr+json</code>.</p>\n<p>");
    rc = rc ? rc : put_html(out, info->software);
    rc = rc ? rc : buf_append_char(out, ' ');
    rc = rc ? rc : put_html(out, info->version);
    rc = rc ? rc : buf_append_str(out, "</p>\n</body></html>\n");
    return rc;
}
