/* Tests for nips/nip11: the information document and the plain page. */
#include <string.h>

#include "check.h"
#include "common/buf.h"
#include "common/json.h"
#include "nips/nip11.h"

static struct nip11_info sample(void)
{
    struct nip11_info info = {
        .name = "relay \"one\"",
        .description = "line1\nline2 <b>",
        .pubkey = "",
        .contact = "mailto:op@example.org",
        .software = "ostrich",
        .version = "1.2.3",
        .supported_nips = { 1, 11 },
        .n_nips = 2,
    };
    info.limitation.max_message_length = 131072;
    info.limitation.max_subscriptions = 64;
    info.limitation.max_filters = 16;
    info.limitation.max_limit = 5000;
    info.limitation.max_subid_length = 64;
    info.limitation.max_event_tags = 2000;
    info.limitation.max_content_length = 65536;
    info.limitation.default_limit = 500;
    info.limitation.created_at_upper_limit = 900;
    return info;
}

static void test_document(void)
{
    struct nip11_info info = sample();
    struct buf b;
    buf_init(&b);
    int rc = nip11_build(&info, &b);
    const char *doc = buf_cstr(&b);
    const char *next, *reason = NULL;
    int valid = rc == 0 && doc && json_scan_value(doc, doc + b.len, 8, &next, &reason) == 0 &&
                next == doc + b.len;
    static const char *const want[] = {
        "\"name\":\"relay \\\"one\\\"\"",
        "\"description\":\"line1\\nline2 <b>\"",
        "\"contact\":\"mailto:op@example.org\"",
        "\"software\":\"ostrich\"",
        "\"version\":\"1.2.3\"",
        "\"supported_nips\":[1,11]",
        "\"max_message_length\":131072",
        "\"max_subscriptions\":64",
        "\"max_filters\":16",
        "\"max_limit\":5000",
        "\"max_subid_length\":64",
        "\"max_event_tags\":2000",
        "\"max_content_length\":65536",
        "\"default_limit\":500",
        "\"auth_required\":false",
        "\"restricted_writes\":false",
        "\"created_at_upper_limit\":900",
    };
    int missing = -1;
    for (size_t i = 0; doc && i < sizeof(want) / sizeof(want[0]); i++) {
        if (strstr(doc, want[i]) == NULL) {
            missing = (int)i;
        }
    }
    /* Absent values are left out, not sent as "" or 0. */
    int has_pubkey = doc && strstr(doc, "\"pubkey\"") != NULL;
    int has_lower = doc && strstr(doc, "created_at_lower_limit") != NULL;
    if (missing >= 0 || !valid) {
        fprintf(stderr, "  document: %s\n  missing: %s\n", doc ? doc : "(null)",
                missing >= 0 ? want[missing] : "-");
    }
    buf_fini(&b);
    CHECK_OK(rc);
    CHECK(valid);
    CHECK_INT_EQ(missing, -1);
    CHECK(!has_pubkey);
    CHECK(!has_lower);
}

static void test_html_escapes(void)
{
    struct nip11_info info = sample();
    struct buf b;
    buf_init(&b);
    int rc = nip11_build_html(&info, &b);
    const char *page = buf_cstr(&b);
    int escaped = page && strstr(page, "relay &quot;one&quot;") != NULL &&
                  strstr(page, "&lt;b&gt;") != NULL && strstr(page, "<b>") == NULL;
    buf_fini(&b);
    CHECK_OK(rc);
    CHECK(escaped);
}

CHECK_MAIN({ "document", test_document }, { "html_escapes", test_html_escapes })
