/* Tests for store/store_os_resp: every parser on response bodies shaped as
 * the OpenSearch REST reference shows them (_bulk with mixed item
 * outcomes, _search, _msearch with a failed search, _count, composite
 * aggregation pages, _mget, _delete_by_query, error bodies, _mapping,
 * _cluster/health), and on truncated, malformed and miscounted bodies.
 * Bodies are written with ' for " so they read without escapes; a
 * backslash in a body is a JSON escape. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/buf.h"
#include "common/jdoc.h"
#include "store/store_os_dsl.h"
#include "store/store_os_resp.h"

#define PK_A "abababababababababababababababababababababababababababababababab"
#define PK_B "0101010101010101010101010101010101010101010101010101010101010101"
#define PK_C "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define ID_1 "5c83da77af1dec6d7289834998ad7aafbd9e2191396d75ec3cc27f5a77226f36"

#define SHARDS "'_shards':{'total':1,'successful':1,'skipped':0,'failed':0}"

#define HTML_502                                                                          \
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 " \
    "Bad Gateway</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n"

/* JSON text with every ' turned into "; the caller frees it. */
static char *unquote(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    if (out != NULL) {
        for (size_t i = 0; i <= n; i++) {
            out[i] = s[i] == '\'' ? '"' : s[i];
        }
    }
    return out;
}

/* _bulk */

static int bulk_q(const char *tmpl, struct store_os_bulk_item *items, size_t n)
{
    char *body = unquote(tmpl);
    int rc = body ? store_os_resp_bulk(body, strlen(body), items, n) : OST_ENOMEM;
    free(body);
    return rc;
}

/* One response per case the backend meets: a created event, a duplicate
 * regular event, an older replaceable version, the write queue full (in
 * OpenSearch's and in Elasticsearch's spelling), a document the mapping
 * refuses, and a replaceable version that replaced an older one. */
static const char bulk_mixed[] =
    "{'took':30,'errors':true,'items':["
    "{'create':{'_index':'ev','_id':'" ID_1 "','_version':1,'result':'created',"
    "'_shards':{'total':2,'successful':1,'failed':0},'_seq_no':0,'_primary_term':1,'status':201}},"
    "{'create':{'_index':'ev','_id':'" ID_1 "','status':409,'error':{"
    "'type':'version_conflict_engine_exception','reason':'[" ID_1 "]: version conflict, "
    "document already exists (current version [1])','index':'ev','shard':'0',"
    "'index_uuid':'aAsFqTI0Tc2W0LCWgPNrOA'}}},"
    "{'index':{'_index':'ev','_id':'a:" PK_A "','status':409,'error':{"
    "'type':'version_conflict_engine_exception','reason':'[a:" PK_A "]: version conflict, "
    "current version [7301444403449954304] is higher or equal to the one provided "
    "[7301444399154987008]','index':'ev','shard':'0','index_uuid':'aAsFqTI0Tc2W0LCWgPNrOA'}}},"
    "{'create':{'_index':'ev','_id':'" PK_B "','status':429,'error':{"
    "'type':'rejected_execution_exception','reason':'rejected execution of coordinating "
    "operation [shard_detail=[ev][0][C], shard_coordinating_and_primary_bytes=0, "
    "shard_operation_bytes=98615, shard_max_coordinating_and_primary_bytes=10737418]'}}},"
    "{'create':{'_index':'ev','_id':'" PK_C "','status':429,'error':{"
    "'type':'es_rejected_execution_exception','reason':'rejected execution of processing of "
    "[119310915][indices:data/write/bulk[s][p]]: request: BulkShardRequest [[ev][0]] "
    "containing [129] requests'}}},"
    "{'index':{'_index':'ev','_id':'x','status':400,'error':{'type':'mapper_parsing_exception',"
    "'reason':'failed to parse field [kind] of type [integer] in document with id \\'x\\'. "
    "Preview of field\\'s value: \\'abc\\'','caused_by':{'type':'number_format_exception',"
    "'reason':'For input string: \\\"abc\\\"'}}}},"
    "{'index':{'_index':'ev','_id':'a:" PK_B "','_version':7301444403449954305,"
    "'result':'updated','_shards':{'total':2,'successful':1,'failed':0},'_seq_no':5,"
    "'_primary_term':1,'status':200}}"
    "]}";

static void test_bulk_mixed(void)
{
    struct store_os_bulk_item it[7];
    memset(it, 0x55, sizeof(it));
    CHECK_OK(bulk_q(bulk_mixed, it, 7));
    CHECK_INT_EQ(it[0].status, 201);
    CHECK(!it[0].is_conflict);
    CHECK_STR_EQ(it[0].err_type, "");
    CHECK_INT_EQ(it[1].status, 409);
    CHECK(it[1].is_conflict);
    CHECK_STR_EQ(it[1].err_type, "version_conflict_engine_exception");
    CHECK_INT_EQ(it[2].status, 409);
    CHECK(it[2].is_conflict);
    CHECK_STR_EQ(it[2].err_type, "version_conflict_engine_exception");
    CHECK_INT_EQ(it[3].status, 429);
    CHECK(!it[3].is_conflict);
    CHECK_STR_EQ(it[3].err_type, "rejected_execution_exception");
    CHECK_INT_EQ(it[4].status, 429);
    CHECK_STR_EQ(it[4].err_type, "es_rejected_execution_exception");
    CHECK_INT_EQ(it[5].status, 400);
    CHECK(!it[5].is_conflict);
    CHECK_STR_EQ(it[5].err_type, "mapper_parsing_exception");
    CHECK_INT_EQ(it[6].status, 200);
    CHECK(!it[6].is_conflict);
    CHECK_STR_EQ(it[6].err_type, "");
}

static void test_bulk_all_ok(void)
{
    struct store_os_bulk_item it[2];
    CHECK_OK(bulk_q("{'took':2,'errors':false,'items':["
                    "{'create':{'_index':'ev','_id':'1','_version':1,'result':'created',"
                    "'_shards':{'total':1,'successful':1,'failed':0},'_seq_no':0,"
                    "'_primary_term':1,'status':201}},"
                    "{'index':{'_index':'ev-deletions','_id':'v:" PK_A "','_version':1700000000,"
                    "'result':'created','_shards':{'total':1,'successful':1,'failed':0},"
                    "'_seq_no':1,'_primary_term':1,'status':201}}]}",
                    it, 2));
    CHECK_INT_EQ(it[0].status, 201);
    CHECK_INT_EQ(it[1].status, 201);
    CHECK_STR_EQ(it[1].err_type, "");
    /* An empty request has an empty answer. */
    CHECK_OK(bulk_q("{'took':0,'errors':false,'items':[]}", it, 0));
}

/* An error type longer than the field is cut, still NUL-terminated. */
static void test_bulk_long_type(void)
{
    char tmpl[512];
    char type[STORE_OS_ERR_TYPE_CAP + 20];
    memset(type, 'x', sizeof(type) - 1);
    type[sizeof(type) - 1] = '\0';
    snprintf(tmpl, sizeof(tmpl),
             "{'errors':true,'items':[{'index':{'_id':'1','status':500,'error':{'type':'%s',"
             "'reason':'?'}}}]}",
             type);
    struct store_os_bulk_item it[1];
    CHECK_OK(bulk_q(tmpl, it, 1));
    CHECK_INT_EQ(strlen(it[0].err_type), STORE_OS_ERR_TYPE_CAP - 1);
    CHECK_MEM_EQ(it[0].err_type, type, STORE_OS_ERR_TYPE_CAP - 1);
    /* One byte shorter fits whole. */
    type[STORE_OS_ERR_TYPE_CAP - 1] = '\0';
    snprintf(tmpl, sizeof(tmpl),
             "{'errors':true,'items':[{'index':{'_id':'1','status':500,'error':{'type':'%s',"
             "'reason':'?'}}}]}",
             type);
    CHECK_OK(bulk_q(tmpl, it, 1));
    CHECK_STR_EQ(it[0].err_type, type);
}

static void test_bulk_rejected(void)
{
    struct store_os_bulk_item it[8];
    /* Fewer or more items than actions sent. */
    CHECK_INT_EQ(bulk_q(bulk_mixed, it, 6), OST_EPARSE);
    CHECK_INT_EQ(bulk_q(bulk_mixed, it, 8), OST_EPARSE);
    static const char *const bad[] = {
        /* the whole request refused */
        "{'error':{'root_cause':[{'type':'illegal_argument_exception','reason':'The bulk request "
        "must be terminated by a newline [\\\\n]'}],'type':'illegal_argument_exception',"
        "'reason':'The bulk request must be terminated by a newline [\\\\n]'},'status':400}",
        "{'took':1,'errors':false}",
        "{'took':1,'errors':false,'items':{}}",
        "{'took':1,'items':[{'create':{'status':201}}]}",
        "{'took':1,'errors':'no','items':[{'create':{'status':201}}]}",
        "{'took':1,'errors':false,'items':[{'create':{'_id':'1'}}]}",
        "{'took':1,'errors':false,'items':[{'create':{'status':'201'}}]}",
        "{'took':1,'errors':false,'items':[{'create':{'status':201.0}}]}",
        "{'took':1,'errors':false,'items':[{'create':{'status':99}}]}",
        "{'took':1,'errors':false,'items':[{'create':{'status':600}}]}",
        "{'took':1,'errors':false,'items':[{'create':{'status':201},'index':{'status':201}}]}",
        "{'took':1,'errors':false,'items':[{}]}",
        "{'took':1,'errors':false,'items':[{'create':201}]}",
        "{'took':1,'errors':false,'items':[201]}",
        "[]",
        "",
        HTML_502,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = bulk_q(bad[i], it, 1);
        if (rc != OST_EPARSE) {
            fprintf(stderr, "  case %zu: %d\n", i, rc);
        }
        CHECK_INT_EQ(rc, OST_EPARSE);
    }
    /* A bad last item leaves the good ones before it unwritten too. */
    memset(it, 0x55, sizeof(it));
    CHECK_INT_EQ(bulk_q("{'errors':true,'items':[{'create':{'status':201}},{'create':{}}]}", it, 2),
                 OST_EPARSE);
    CHECK_INT_EQ(it[0].status, 0x55555555);
}

/* _search */

#define MAX_HITS 8

struct hits {
    size_t n;
    int stop_at; /* return -42 on this hit (1-based), 0: never */
    char raw[MAX_HITS][256];
    size_t len[MAX_HITS];
};

static int keep_hit(void *ud, const char *json, size_t len)
{
    struct hits *h = ud;
    if (h->n >= MAX_HITS || len >= sizeof(h->raw[0])) {
        return OST_ENOSPC;
    }
    memcpy(h->raw[h->n], json, len);
    h->raw[h->n][len] = '\0';
    h->len[h->n] = len;
    h->n++;
    return h->stop_at > 0 && (size_t)h->stop_at == h->n ? -42 : 0;
}

/* Parses a ' body with store_os_resp_search; the last sort key goes into
 * sort (NUL-terminated, "" when none) when sort is not NULL. */
static int search_q(const char *tmpl, struct hits *h, size_t *n_hits, char *sort, size_t cap)
{
    char *body = unquote(tmpl);
    struct buf last;
    buf_init(&last);
    int rc = buf_append_str(&last, "stale");
    if (body == NULL) {
        rc = OST_ENOMEM;
    }
    if (rc == 0) {
        rc = store_os_resp_search(body, strlen(body), keep_hit, h, n_hits,
                                  sort != NULL ? &last : NULL);
    }
    if (rc == 0 && sort != NULL) {
        snprintf(sort, cap, "%.*s", (int)last.len, last.data);
    }
    buf_fini(&last);
    free(body);
    return rc;
}

/* Three hits of a page sorted by created_at desc then id. The first _source
 * escapes everything (as OpenSearch returns a _source it did not filter),
 * the second carries raw UTF-8 (as the re-serialised, filtered _source
 * does), the third mixes \u escapes into the outer string. */
static const char search_page[] =
    "{'took':5,'timed_out':false," SHARDS ",'hits':{'max_score':null,'hits':["
    "{'_index':'ev','_id':'e1','_score':null,'_source':{'raw':"
    "'{\\'id\\':\\'e1\\',\\'content\\':\\'say \\\\\\'hi\\\\\\'\\\\n\\\\u00e9\\'}'},"
    "'sort':[1700000002,'e1']},"
    "{'_index':'ev','_id':'e2','_score':null,'_source':{'raw':"
    "'{\\'id\\':\\'e2\\',\\'content\\':\\'\xc3\xa9 \xf0\x9f\x98\x80 \\\\\\\\ tab\\\\t\\'}'},"
    "'sort':[1700000001,'e2']},"
    "{'_index':'ev','_id':'e3','_score':null,'_source':{'raw':"
    "'{\\'id\\':\\'e3\\',\\'content\\':\\'\\\\ud83d\\\\ude00 \\u00e9\\ud83d\\ude00\\'}'},"
    "'sort':[1700000000, 'e3']}"
    "]}}";

static void test_search_hits(void)
{
    struct hits h = { 0 };
    size_t n = 99;
    char sort[128];
    CHECK_OK(search_q(search_page, &h, &n, sort, sizeof(sort)));
    CHECK_INT_EQ(n, 3);
    CHECK_INT_EQ(h.n, 3);
    CHECK_STR_EQ(h.raw[0], "{\"id\":\"e1\",\"content\":\"say \\\"hi\\\"\\n\\u00e9\"}");
    CHECK_STR_EQ(h.raw[1], "{\"id\":\"e2\",\"content\":\"\xc3\xa9 \xf0\x9f\x98\x80 \\\\ tab\\t\"}");
    CHECK_STR_EQ(h.raw[2],
                 "{\"id\":\"e3\",\"content\":\"\\ud83d\\ude00 \xc3\xa9\xf0\x9f\x98\x80\"}");
    /* The sort key comes back byte for byte, as search_after wants it. */
    CHECK_STR_EQ(sort, "[1700000000, \"e3\"]");

    /* Each hit is an event's JSON text, which parses. */
    for (size_t i = 0; i < h.n; i++) {
        struct jdoc *d = NULL;
        int rc = jdoc_parse(h.raw[i], h.len[i], 0, &d);
        const char *content = jdoc_str(jdoc_get(jdoc_root(d), "content"), NULL);
        bool has_content = content != NULL;
        jdoc_free(d);
        CHECK_OK(rc);
        CHECK(has_content);
    }
}

static void test_search_total_and_no_sort(void)
{
    /* A body with hits.total (track_total_hits on) and a caller that does
     * not want the sort key: hits without "sort" are fine then. */
    struct hits h = { 0 };
    size_t n = 0;
    CHECK_OK(search_q("{'took':1,'timed_out':false," SHARDS ",'hits':{'total':{'value':1,"
                      "'relation':'eq'},'max_score':1.0,'hits':[{'_index':'ev','_id':'e9',"
                      "'_score':1.0,'_source':{'raw':'{}'}}]}}",
                      &h, &n, NULL, 0));
    CHECK_INT_EQ(n, 1);
    CHECK_STR_EQ(h.raw[0], "{}");
}

static void test_search_empty(void)
{
    struct hits h = { 0 };
    size_t n = 99;
    char sort[16] = "x";
    CHECK_OK(search_q("{'took':1,'timed_out':false," SHARDS ",'hits':{'max_score':null,'hits':[]}}",
                      &h, &n, sort, sizeof(sort)));
    CHECK_INT_EQ(n, 0);
    CHECK_INT_EQ(h.n, 0);
    CHECK_STR_EQ(sort, ""); /* the stale key is gone */
}

/* Part of the shards failed, or the search hit its timeout: the hits are
 * a subset, reported as an error before any is handed out. */
static void test_search_partial(void)
{
    static const char *const partial[] = {
        "{'took':9,'timed_out':false,'_shards':{'total':2,'successful':1,'skipped':0,'failed':1,"
        "'failures':[{'shard':1,'index':'ev','node':'n1','reason':{'type':"
        "'node_not_connected_exception','reason':'[n2] Node not connected'}}]},"
        "'hits':{'max_score':null,'hits':[{'_index':'ev','_id':'e1','_score':null,"
        "'_source':{'raw':'{}'},'sort':[1,'e1']}]}}",
        "{'took':30000,'timed_out':true," SHARDS ",'hits':{'max_score':null,'hits':["
        "{'_index':'ev','_id':'e1','_score':null,'_source':{'raw':'{}'},'sort':[1,'e1']}]}}",
    };
    for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++) {
        struct hits h = { 0 };
        size_t n = 5;
        CHECK_INT_EQ(search_q(partial[i], &h, &n, NULL, 0), OST_EUNAVAIL);
        CHECK_INT_EQ(h.n, 0);
        CHECK_INT_EQ(n, 5);
    }
}

static void test_search_stop(void)
{
    struct hits h = { .stop_at = 2 };
    size_t n = 77;
    char sort[128] = "untouched";
    CHECK_INT_EQ(search_q(search_page, &h, &n, sort, sizeof(sort)), -42);
    CHECK_INT_EQ(h.n, 2);
    CHECK_INT_EQ(n, 77);
    CHECK_STR_EQ(sort, "untouched");
}

static void test_search_rejected(void)
{
    static const char *const bad[] = {
        /* a hit without "raw", in the middle */
        "{'hits':{'hits':[{'_source':{'raw':'{}'},'sort':[1]},{'_source':{},'sort':[2]},"
        "{'_source':{'raw':'{}'},'sort':[3]}]}}",
        "{'hits':{'hits':[{'_source':{'raw':{'id':'e1'}},'sort':[1]}]}}",
        "{'hits':{'hits':[{'_id':'e1','sort':[1]}]}}",
        "{'hits':{'hits':[{'_source':{'raw':null},'sort':[1]}]}}",
        "{'hits':{'hits':['{}']}}",
        /* the last hit has no sort key to page after */
        "{'hits':{'hits':[{'_source':{'raw':'{}'},'sort':[1]},{'_source':{'raw':'{}'}}]}}",
        "{'hits':{'hits':[{'_source':{'raw':'{}'},'sort':1}]}}",
        "{'hits':{'hits':{}}}",
        "{'hits':{'total':{'value':0,'relation':'eq'}}}",
        "{'took':1,'timed_out':false}",
        "{'error':{'root_cause':[{'type':'index_not_found_exception','reason':'no such index "
        "[ev]','index':'ev'}],'type':'index_not_found_exception','reason':'no such index [ev]',"
        "'index':'ev'},'status':404}",
        "null",
        HTML_502,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hits h = { 0 };
        size_t n = 5;
        char sort[32];
        int rc = search_q(bad[i], &h, &n, sort, sizeof(sort));
        if (rc != OST_EPARSE) {
            fprintf(stderr, "  case %zu: %d\n", i, rc);
        }
        CHECK_INT_EQ(rc, OST_EPARSE);
        CHECK_INT_EQ(h.n, 0); /* nothing is handed out from a bad page */
        CHECK_INT_EQ(n, 5);
    }
}

/* _msearch */

struct ms_seen {
    size_t n;
    int stop_at; /* return -7 on this response (1-based), 0: never */
    size_t idx[4];
    int status[4];
    size_t hits[4];
    char err[4][128];
    int search_rc[4];
};

static int count_hit(void *ud, const char *json, size_t len)
{
    (void)json;
    (void)len;
    (*(size_t *)ud)++;
    return 0;
}

static int on_response(void *ud, size_t i, int status, const char *body, size_t len)
{
    struct ms_seen *s = ud;
    if (s->n >= 4) {
        return OST_ENOSPC;
    }
    s->idx[s->n] = i;
    s->status[s->n] = status;
    s->hits[s->n] = 0;
    s->err[s->n][0] = '\0';
    if (status >= 400) {
        store_os_resp_error(body, len, s->err[s->n], sizeof(s->err[0]));
        s->search_rc[s->n] = 0;
    } else {
        size_t n_hits = 0, counted = 0;
        s->search_rc[s->n] = store_os_resp_search(body, len, count_hit, &counted, &n_hits, NULL);
        s->hits[s->n] = counted;
    }
    s->n++;
    return s->stop_at > 0 && (size_t)s->stop_at == s->n ? -7 : 0;
}

static int msearch_q(const char *tmpl, size_t n, struct ms_seen *s)
{
    char *body = unquote(tmpl);
    int rc = body ? store_os_resp_msearch(body, strlen(body), n, on_response, s) : OST_ENOMEM;
    free(body);
    return rc;
}

static const char msearch_body[] =
    "{'took':12,'responses':["
    "{'took':4,'timed_out':false," SHARDS ",'hits':{'max_score':null,'hits':["
    "{'_index':'ev','_id':'e1','_score':null,'_source':{'raw':'{\\'id\\':\\'e1\\'}'},"
    "'sort':[1700000002,'e1']},"
    "{'_index':'ev','_id':'e2','_score':null,'_source':{'raw':'{\\'id\\':\\'e2\\'}'},"
    "'sort':[1700000001,'e2']}]},'status':200},"
    "{'error':{'root_cause':[{'type':'query_shard_exception','reason':'failed to create query: "
    "For input string: \\'x\\'','index':'ev','index_uuid':'aAsFqTI0Tc2W0LCWgPNrOA'}],"
    "'type':'search_phase_execution_exception','reason':'all shards failed','phase':'query',"
    "'grouped':true,'failed_shards':[{'shard':0,'index':'ev','node':'n1','reason':{"
    "'type':'query_shard_exception','reason':'failed to create query'}}]},'status':400},"
    "{'took':1,'timed_out':false," SHARDS ",'hits':{'max_score':null,'hits':[]},'status':200}"
    "]}";

static void test_msearch(void)
{
    struct ms_seen s = { 0 };
    CHECK_OK(msearch_q(msearch_body, 3, &s));
    CHECK_INT_EQ(s.n, 3);
    for (size_t i = 0; i < 3; i++) {
        CHECK_INT_EQ(s.idx[i], i);
    }
    CHECK_INT_EQ(s.status[0], 200);
    CHECK_OK(s.search_rc[0]);
    CHECK_INT_EQ(s.hits[0], 2);
    CHECK_INT_EQ(s.status[1], 400);
    CHECK_STR_EQ(s.err[1], "search_phase_execution_exception: all shards failed");
    CHECK_INT_EQ(s.status[2], 200);
    CHECK_OK(s.search_rc[2]);
    CHECK_INT_EQ(s.hits[2], 0);
}

static void test_msearch_status_missing(void)
{
    /* Without "status" a search counts as 200 and a failure as 500. */
    struct ms_seen s = { 0 };
    CHECK_OK(msearch_q("{'responses':[{'hits':{'hits':[]}},{'error':{'type':'x','reason':'y'}},"
                       "{'error':'plain','status':503}]}",
                       3, &s));
    CHECK_INT_EQ(s.n, 3);
    CHECK_INT_EQ(s.status[0], 200);
    CHECK_INT_EQ(s.status[1], 500);
    CHECK_STR_EQ(s.err[1], "x: y");
    CHECK_INT_EQ(s.status[2], 503);
    CHECK_STR_EQ(s.err[2], "plain");
}

static void test_msearch_rejected(void)
{
    struct ms_seen s = { 0 };
    /* Wrong counts: nothing is reported. */
    CHECK_INT_EQ(msearch_q(msearch_body, 2, &s), OST_EPARSE);
    CHECK_INT_EQ(msearch_q(msearch_body, 4, &s), OST_EPARSE);
    CHECK_INT_EQ(s.n, 0);
    static const char *const bad[] = {
        "{'took':1}",
        "{'responses':{}}",
        "{'responses':[{'hits':{'hits':[]}},[]]}",
        "{'responses':[{'hits':{'hits':[]}},{'hits':{'hits':[]},'status':'200'}]}",
        "{'responses':[{'hits':{'hits':[]}},{'hits':{'hits':[]},'status':0}]}",
        "{'error':{'type':'illegal_argument_exception','reason':'msearch request must be "
        "terminated by a newline [\\\\n]'},'status':400}",
        HTML_502,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = msearch_q(bad[i], 2, &s);
        if (rc != OST_EPARSE) {
            fprintf(stderr, "  case %zu: %d\n", i, rc);
        }
        CHECK_INT_EQ(rc, OST_EPARSE);
        CHECK_INT_EQ(s.n, 0);
    }
    /* The callback's code stops the walk. */
    s.stop_at = 2;
    CHECK_INT_EQ(msearch_q(msearch_body, 3, &s), -7);
    CHECK_INT_EQ(s.n, 2);
}

/* _count */

static int count_q(const char *tmpl, uint64_t *out)
{
    char *body = unquote(tmpl);
    int rc = body ? store_os_resp_count(body, strlen(body), out) : OST_ENOMEM;
    free(body);
    return rc;
}

static void test_count(void)
{
    uint64_t n = 0;
    CHECK_OK(count_q("{'count':42," SHARDS "}", &n));
    CHECK_INT_EQ(n, 42);
    CHECK_OK(count_q("{'count':0," SHARDS "}", &n));
    CHECK_INT_EQ(n, 0);
    CHECK_OK(count_q("{'count':9223372036854775807}", &n));
    CHECK(n == 9223372036854775807ULL);
    static const char *const bad[] = {
        "{'count':-1}",
        "{'count':'42'}",
        "{'count':4.2e1}",
        "{'count':null}",
        "{'counts':42}",
        "{'count':42",
        "[{'count':42}]",
        "42",
        HTML_502,
        "",
        "{'error':{'root_cause':[{'type':'index_not_found_exception','reason':'no such index "
        "[ev]'}],'type':'index_not_found_exception','reason':'no such index [ev]'},'status':404}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = 5;
        int rc = count_q(bad[i], &n);
        if (rc != OST_EPARSE) {
            fprintf(stderr, "  case %zu: %d\n", i, rc);
        }
        CHECK_INT_EQ(rc, OST_EPARSE);
        CHECK_INT_EQ(n, 5);
    }
}

/* The composite aggregation of pubkeys */

struct pks {
    size_t n;
    uint8_t pk[4][32];
};

static void keep_pk(void *ud, const uint8_t pubkey[32])
{
    struct pks *p = ud;
    if (p->n < 4) {
        memcpy(p->pk[p->n], pubkey, 32);
    }
    p->n++;
}

static int pubkeys_q(const char *tmpl, struct pks *p, size_t *n, char *after, size_t cap)
{
    char *body = unquote(tmpl);
    struct buf a;
    buf_init(&a);
    int rc = buf_append_str(&a, "{'stale':1}");
    if (body == NULL) {
        rc = OST_ENOMEM;
    }
    rc = rc == 0 ? store_os_resp_pubkeys(body, strlen(body), keep_pk, p, n, &a) : rc;
    if (rc == 0) {
        snprintf(after, cap, "%.*s", (int)a.len, a.data);
    }
    buf_fini(&a);
    free(body);
    return rc;
}

static void test_pubkeys_pages(void)
{
    struct pks p = { 0 };
    size_t n = 0;
    char after[160];
    CHECK_OK(pubkeys_q("{'took':9,'timed_out':false," SHARDS ",'hits':{'max_score':null,"
                       "'hits':[]},'aggregations':{'pubkeys':{'after_key':{'pubkey':'" PK_C "'},"
                       "'buckets':[{'key':{'pubkey':'" PK_B "'},'doc_count':3},"
                       "{'key':{'pubkey':'" PK_A "'},'doc_count':1},"
                       "{'key':{'pubkey':'" PK_C "'},'doc_count':12}]}}}",
                       &p, &n, after, sizeof(after)));
    CHECK_INT_EQ(n, 3);
    CHECK_INT_EQ(p.n, 3);
    CHECK_INT_EQ(p.pk[0][0], 0x01);
    CHECK_INT_EQ(p.pk[0][31], 0x01);
    CHECK_INT_EQ(p.pk[1][0], 0xab);
    CHECK_INT_EQ(p.pk[2][0], 0xfe);
    CHECK_INT_EQ(p.pk[2][31], 0x10);
    CHECK_STR_EQ(after, "{\"pubkey\":\"" PK_C "\"}");

    /* The page after the last: no buckets and no after_key. */
    memset(&p, 0, sizeof(p));
    CHECK_OK(pubkeys_q("{'took':1,'timed_out':false," SHARDS ",'hits':{'max_score':null,"
                       "'hits':[]},'aggregations':{'pubkeys':{'buckets':[]}}}",
                       &p, &n, after, sizeof(after)));
    CHECK_INT_EQ(n, 0);
    CHECK_INT_EQ(p.n, 0);
    CHECK_STR_EQ(after, "");
}

static void test_pubkeys_rejected(void)
{
    static const char *const bad[] = {
        "{'aggregations':{'pubkeys':{'buckets':[{'key':{'pubkey':'" PK_A "'},'doc_count':1},"
        "{'key':{'pubkey':'ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB'},"
        "'doc_count':1}]}}}",
        "{'aggregations':{'pubkeys':{'buckets':[{'key':{'pubkey':'" PK_A "0'},'doc_count':1}]}}}",
        "{'aggregations':{'pubkeys':{'buckets':[{'key':{'pubkey':'abab'},'doc_count':1}]}}}",
        "{'aggregations':{'pubkeys':{'buckets':[{'key':{'author':'" PK_A "'},'doc_count':1}]}}}",
        "{'aggregations':{'pubkeys':{'buckets':[{'key':'" PK_A "','doc_count':1}]}}}",
        "{'aggregations':{'pubkeys':{'buckets':[{'key':{'pubkey':1},'doc_count':1}]}}}",
        "{'aggregations':{'pubkeys':{'after_key':'" PK_A "','buckets':[]}}}",
        "{'aggregations':{'pubkeys':{}}}",
        "{'aggregations':{'kinds':{'buckets':[]}}}",
        "{'hits':{'hits':[]}}",
        HTML_502,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct pks p = { 0 };
        size_t n = 9;
        char after[8];
        int rc = pubkeys_q(bad[i], &p, &n, after, sizeof(after));
        if (rc != OST_EPARSE) {
            fprintf(stderr, "  case %zu: %d\n", i, rc);
        }
        CHECK_INT_EQ(rc, OST_EPARSE);
        CHECK_INT_EQ(p.n, 0);
        CHECK_INT_EQ(n, 9);
    }
}

/* _mget */

static int mget_q(const char *tmpl, struct store_os_mget_doc *docs, size_t n)
{
    char *body = unquote(tmpl);
    int rc = body ? store_os_resp_mget(body, strlen(body), docs, n) : OST_ENOMEM;
    free(body);
    return rc;
}

static void test_mget(void)
{
    struct store_os_mget_doc docs[3];
    memset(docs, 0x55, sizeof(docs));
    CHECK_OK(mget_q("{'docs':["
                    "{'_index':'ev-deletions','_id':'i:" ID_1 ":" PK_A "','_version':1,"
                    "'_seq_no':3,'_primary_term':1,'found':true,'_source':{'created_at':"
                    "1700000000}},"
                    "{'_index':'ev-deletions','_id':'v:" PK_B "','found':false},"
                    "{'_index':'ev','_id':'a:" PK_C "','_version':7301444403449954305,"
                    "'_seq_no':9,'_primary_term':1,'found':true,'_source':{'id':'" ID_1 "',"
                    "'created_at':-5}}"
                    "]}",
                    docs, 3));
    CHECK(docs[0].is_found);
    CHECK(docs[0].has_created_at);
    CHECK_INT_EQ(docs[0].created_at, 1700000000);
    CHECK_STR_EQ(docs[0].event_id, "");
    CHECK(!docs[1].is_found);
    CHECK(!docs[1].has_created_at);
    CHECK_STR_EQ(docs[1].event_id, "");
    CHECK(docs[2].is_found);
    CHECK(docs[2].has_created_at);
    CHECK_INT_EQ(docs[2].created_at, -5);
    CHECK_STR_EQ(docs[2].event_id, ID_1);

    /* Found without the fields asked for (a _source filtered to nothing). */
    CHECK_OK(mget_q("{'docs':[{'_index':'ev','_id':'x','_version':1,'found':true,'_source':{}}]}",
                    docs, 1));
    CHECK(docs[0].is_found);
    CHECK(!docs[0].has_created_at);
    CHECK_STR_EQ(docs[0].event_id, "");
}

static void test_mget_rejected(void)
{
    static const char two[] = "{'docs':[{'_index':'ev','_id':'1','found':false},"
                              "{'_index':'ev','_id':'2','found':false}]}";
    struct store_os_mget_doc docs[3];
    CHECK_INT_EQ(mget_q(two, docs, 1), OST_EPARSE);
    CHECK_INT_EQ(mget_q(two, docs, 3), OST_EPARSE);
    CHECK_OK(mget_q(two, docs, 2));
    static const char *const bad[] = {
        /* one document failed (its index is gone) */
        "{'docs':[{'_index':'ev-deletions','_id':'1','error':{'root_cause':[{'type':"
        "'index_not_found_exception','reason':'no such index [ev-deletions]'}],'type':"
        "'index_not_found_exception','reason':'no such index [ev-deletions]'}}]}",
        "{'docs':[{'_index':'ev','_id':'1'}]}",
        "{'docs':[{'_index':'ev','_id':'1','found':'true'}]}",
        "{'docs':[{'_index':'ev','_id':'1','found':true,'_source':{'created_at':'1'}}]}",
        "{'docs':[{'_index':'ev','_id':'1','found':true,'_source':{'created_at':1.5}}]}",
        "{'docs':[{'_index':'ev','_id':'1','found':true,'_source':{'id':'abc'}}]}",
        "{'docs':[{'_index':'ev','_id':'1','found':true,'_source':{'id':'" PK_A "0'}}]}",
        "{'docs':[{'_index':'ev','_id':'1','found':true,'_source':{'id':"
        "'5C83DA77AF1DEC6D7289834998AD7AAFBD9E2191396D75EC3CC27F5A77226F36'}}]}",
        "{'docs':[{'_index':'ev','_id':'1','found':true,'_source':{'id':1}}]}",
        "{'docs':{}}",
        "{'took':1}",
        HTML_502,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = mget_q(bad[i], docs, 1);
        if (rc != OST_EPARSE) {
            fprintf(stderr, "  case %zu: %d\n", i, rc);
        }
        CHECK_INT_EQ(rc, OST_EPARSE);
    }
    memset(docs, 0x55, sizeof(docs));
    CHECK_INT_EQ(
        mget_q("{'docs':[{'_id':'1','found':true,'_source':{'created_at':1}},{'_id':'2'}]}", docs,
               2),
        OST_EPARSE);
    CHECK_INT_EQ(docs[0].created_at, 0x5555555555555555LL);
}

/* _delete_by_query */

static int deleted_q(const char *tmpl, uint64_t *out)
{
    char *body = unquote(tmpl);
    int rc = body ? store_os_resp_deleted(body, strlen(body), out) : OST_ENOMEM;
    free(body);
    return rc;
}

static void test_deleted(void)
{
    uint64_t n = 0;
    CHECK_OK(deleted_q("{'took':147,'timed_out':false,'total':119,'deleted':119,'batches':1,"
                       "'version_conflicts':0,'noops':0,'retries':{'bulk':0,'search':0},"
                       "'throttled_millis':0,'requests_per_second':-1.0,"
                       "'throttled_until_millis':0,'failures':[]}",
                       &n));
    CHECK_INT_EQ(n, 119);
    CHECK_OK(deleted_q("{'took':2,'timed_out':false,'total':0,'deleted':0,'batches':0,"
                       "'version_conflicts':0,'noops':0,'retries':{'bulk':0,'search':0},"
                       "'throttled_millis':0,'requests_per_second':-1.0,"
                       "'throttled_until_millis':0,'failures':[]}",
                       &n));
    CHECK_INT_EQ(n, 0);

    /* Some documents failed to go: OST_EIO, and no count. */
    n = 7;
    CHECK_INT_EQ(deleted_q("{'took':147,'timed_out':false,'total':3,'deleted':2,'batches':1,"
                           "'version_conflicts':1,'noops':0,'retries':{'bulk':0,'search':0},"
                           "'throttled_millis':0,'requests_per_second':-1.0,"
                           "'throttled_until_millis':0,'failures':[{'index':'ev','id':'" ID_1
                           "','cause':{'type':'version_conflict_engine_exception','reason':'[" ID_1
                           "]: version conflict, required seqNo [4], primary term [1]. "
                           "current document has seqNo [5] and primary term [1]','index':'ev',"
                           "'shard':'0'},'status':409}]}",
                           &n),
                 OST_EIO);
    CHECK_INT_EQ(n, 7);
    CHECK_INT_EQ(deleted_q("{'took':60000,'timed_out':true,'total':500,'deleted':100,"
                           "'failures':[]}",
                           &n),
                 OST_EIO);
    CHECK_INT_EQ(n, 7);

    static const char *const bad[] = {
        "{'took':1,'timed_out':false,'total':0,'failures':[]}",
        "{'deleted':-1,'failures':[]}",
        "{'deleted':'3','failures':[]}",
        "{'deleted':3,'failures':{}}",
        "{'error':{'type':'index_not_found_exception','reason':'no such index [ev]'},"
        "'status':404}",
        HTML_502,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = deleted_q(bad[i], &n);
        if (rc != OST_EPARSE) {
            fprintf(stderr, "  case %zu: %d\n", i, rc);
        }
        CHECK_INT_EQ(rc, OST_EPARSE);
    }
}

/* Errors */

static void error_q(const char *tmpl, char *out, size_t cap)
{
    char *body = unquote(tmpl);
    if (body != NULL) {
        store_os_resp_error(body, strlen(body), out, cap);
    }
    free(body);
}

static void test_error_bodies(void)
{
    char out[200];
    error_q("{'error':{'root_cause':[{'type':'index_not_found_exception','reason':'no such "
            "index [ev]','index':'ev','resource.id':'ev','resource.type':'index_or_alias',"
            "'index_uuid':'_na_'}],'type':'index_not_found_exception','reason':'no such index "
            "[ev]','index':'ev','resource.id':'ev','resource.type':'index_or_alias',"
            "'index_uuid':'_na_'},'status':404}",
            out, sizeof(out));
    CHECK_STR_EQ(out, "index_not_found_exception: no such index [ev]");

    error_q("{'error':'Incorrect HTTP method for uri [/ev/_bulk] and method [GET], allowed: "
            "[POST, PUT]','status':405}",
            out, sizeof(out));
    CHECK_STR_EQ(
        out, "Incorrect HTTP method for uri [/ev/_bulk] and method [GET], allowed: [POST, PUT]");

    error_q("{'error':{'type':'security_exception'},'status':403}", out, sizeof(out));
    CHECK_STR_EQ(out, "security_exception");
    error_q("{'error':{'reason':'only a reason'},'status':500}", out, sizeof(out));
    CHECK_STR_EQ(out, "only a reason");
    error_q("{'message':'Forbidden'}", out, sizeof(out));
    CHECK_STR_EQ(out, "Forbidden");
    error_q("{'Message':'User: anonymous is not authorized to perform: es:ESHttpPost'}", out,
            sizeof(out));
    CHECK_STR_EQ(out, "User: anonymous is not authorized to perform: es:ESHttpPost");

    /* A reason with line breaks and a control character stays one line. */
    error_q("{'error':{'type':'x','reason':'line one\\nline two\\u0007\\t end'}}", out,
            sizeof(out));
    CHECK_STR_EQ(out, "x: line one line two? end");

    /* A proxy's HTML page: its first printable bytes. */
    error_q(HTML_502, out, sizeof(out));
    CHECK_STR_EQ(out, "<html> <head><title>502 Bad Gateway</title></head> <body> <center><h1>502 "
                      "Bad Gateway</h1></center> <hr><center>nginx/1.22.1</center> </body> "
                      "</html>");
    error_q("Service Unavailable\xff\x01", out, sizeof(out));
    CHECK_STR_EQ(out, "Service Unavailable??");

    /* JSON that is not an error body is shown as it is. */
    error_q("{'acknowledged':true}", out, sizeof(out));
    CHECK_STR_EQ(out, "{\"acknowledged\":true}");
    error_q("", out, sizeof(out));
    CHECK_STR_EQ(out, "(empty body)");
    error_q("{'error':{'type':'x','reason':'y'", out, sizeof(out));
    CHECK_STR_EQ(out, "{\"error\":{\"type\":\"x\",\"reason\":\"y\"");
}

static void test_error_cut(void)
{
    char out[8];
    memset(out, 'z', sizeof(out));
    error_q("{'error':{'type':'index_not_found_exception','reason':'no such index [ev]'}}", out,
            sizeof(out));
    CHECK_STR_EQ(out, "index_n");
    error_q(HTML_502, out, sizeof(out));
    CHECK_STR_EQ(out, "<html>");
    error_q("{'error':'abc'}", out, 1);
    CHECK_STR_EQ(out, "");
    /* No room at all: nothing is written. */
    memset(out, 'z', sizeof(out));
    error_q("{'error':'abc'}", out, 0);
    CHECK_INT_EQ(out[0], 'z');
    /* Exactly full. */
    char four[4];
    error_q("{'error':'abc'}", four, sizeof(four));
    CHECK_STR_EQ(four, "abc");
    error_q("{'error':'abcd'}", four, sizeof(four));
    CHECK_STR_EQ(four, "abc");
}

/* _mapping */

static int mapping_q(const char *tmpl, const char *index, bool is_events, char *problem, size_t cap)
{
    char *body = unquote(tmpl);
    struct buf p;
    buf_init(&p);
    int rc = buf_append_str(&p, "stale");
    if (body == NULL) {
        rc = OST_ENOMEM;
    }
    rc = rc == 0 ? store_os_resp_mapping_check(body, strlen(body), index, is_events, &p) : rc;
    snprintf(problem, cap, "%.*s", (int)p.len, p.data ? p.data : "");
    buf_fini(&p);
    free(body);
    return rc;
}

/* What GET /ev/_mapping answers for the index store_os_dsl_events_index
 * creates: properties sorted by name, "raw" keeps its "type" because it
 * has no properties. */
#define EV_PROPS_HEAD                                                                      \
    "'content':{'type':'text'},'created_at':{'type':'long'},'expiration':{'type':'long'}," \
    "'id':{'type':'keyword'},"
#define EV_PROPS_TAIL                                                      \
    "'pubkey':{'type':'keyword'},'raw':{'type':'object','enabled':false}," \
    "'tags':{'type':'keyword','ignore_above':8000}"
#define EV_MAPPING(meta, props) \
    "{'ev-000001':{'mappings':{'dynamic':'strict','_meta':" meta ",'properties':{" props "}}}}"
#define EV_OK \
    EV_MAPPING("{'ostrich_schema':1}", EV_PROPS_HEAD "'kind':{'type':'integer'}," EV_PROPS_TAIL)

static void test_mapping_ok(void)
{
    char problem[256];
    CHECK_OK(mapping_q(EV_OK, "ev", true, problem, sizeof(problem)));
    CHECK_STR_EQ(problem, "");
    /* Older schemas, no _meta, extra fields and extra field options. */
    CHECK_OK(mapping_q(EV_MAPPING("{'ostrich_schema':0,'owner':'ops'}",
                                  EV_PROPS_HEAD "'kind':{'type':'integer','index':true},"
                                                "'extra':{'type':'keyword'}," EV_PROPS_TAIL),
                       "ev", true, problem, sizeof(problem)));
    CHECK_OK(mapping_q("{'ev':{'mappings':{'properties':{" EV_PROPS_HEAD
                       "'kind':{'type':'integer'}," EV_PROPS_TAIL "}}}}",
                       "ev", true, problem, sizeof(problem)));
    /* "raw" written without its type (GET may leave it out). */
    CHECK_OK(mapping_q(EV_MAPPING("{'ostrich_schema':1}",
                                  EV_PROPS_HEAD "'kind':{'type':'integer'},'pubkey':{'type':"
                                                "'keyword'},'raw':{'enabled':false},'tags':{"
                                                "'type':'keyword'}"),
                       "ev", true, problem, sizeof(problem)));
    CHECK_OK(mapping_q("{'ev-deletions':{'mappings':{'dynamic':'strict','_meta':{"
                       "'ostrich_schema':1},'properties':{'created_at':{'type':'long'}}}}}",
                       "ev-deletions", false, problem, sizeof(problem)));
}

/* The mapping this checker accepts is the one store_os_dsl writes: the
 * "mappings" of the PUT body, answered back under a concrete index name. */
static void test_mapping_matches_dsl(void)
{
    for (int is_events = 0; is_events < 2; is_events++) {
        struct store_os_index_opts o = { 1, 0, NULL };
        struct buf put, get, problem;
        buf_init(&put);
        buf_init(&get);
        buf_init(&problem);
        int rc = is_events ? store_os_dsl_events_index(&o, &put)
                           : store_os_dsl_deletions_index(&o, &put);
        struct jdoc *d = NULL;
        rc = rc == 0 ? jdoc_parse(put.data, put.len, 0, &d) : rc;
        size_t len = 0;
        const char *m = jdoc_raw(jdoc_get(jdoc_root(d), "mappings"), &len);
        rc = rc == 0 && m == NULL ? OST_EPARSE : rc;
        rc = rc == 0 ? buf_printf(&get, "{\"relay-000001\":{\"mappings\":%.*s}}", (int)len, m) : rc;
        rc = rc == 0
                 ? store_os_resp_mapping_check(get.data, get.len, "relay", is_events != 0, &problem)
                 : rc;
        if (rc != 0) {
            fprintf(stderr, "  %s: %.*s\n", is_events ? "events" : "deletions", (int)problem.len,
                    problem.data ? problem.data : "");
        }
        jdoc_free(d);
        buf_fini(&put);
        buf_fini(&get);
        buf_fini(&problem);
        CHECK_OK(rc);
    }
}

static void test_mapping_mismatch(void)
{
    static const struct {
        const char *body;
        bool is_events;
        const char *problem;
    } cases[] = {
        { EV_MAPPING("{'ostrich_schema':1}", EV_PROPS_HEAD "'kind':{'type':'text'}," EV_PROPS_TAIL),
          true, "index \"ev\": field \"kind\" is text, expected integer" },
        { EV_MAPPING("{'ostrich_schema':1}", EV_PROPS_HEAD EV_PROPS_TAIL), true,
          "index \"ev\": field \"kind\" is missing, expected integer" },
        { EV_MAPPING("{'ostrich_schema':1}",
                     "'created_at':{'type':'long'},'expiration':{'type':'long'},'id':{'type':"
                     "'keyword'},'kind':{'type':'integer'}," EV_PROPS_TAIL),
          true, "index \"ev\": field \"content\" is missing, expected text" },
        { EV_MAPPING("{'ostrich_schema':1}", EV_PROPS_HEAD
                     "'kind':{'type':'integer'},'pubkey':{'type':'keyword'},'raw':{'type':"
                     "'object'},'tags':{'type':'keyword'}"),
          true,
          "index \"ev\": field \"raw\" is an indexed object, expected object with \"enabled\": "
          "false" },
        { EV_MAPPING("{'ostrich_schema':1}", EV_PROPS_HEAD
                     "'kind':{'type':'integer'},'pubkey':{'type':'keyword'},'raw':{'properties':"
                     "{'id':{'type':'text'}}},'tags':{'type':'keyword'}"),
          true,
          "index \"ev\": field \"raw\" is an indexed object, expected object with \"enabled\": "
          "false" },
        { EV_MAPPING("{'ostrich_schema':1}", EV_PROPS_HEAD
                     "'kind':{'type':'integer'},'pubkey':{'type':'keyword'},'raw':{'type':"
                     "'keyword','index':false},'tags':{'type':'keyword'}"),
          true, "index \"ev\": field \"raw\" is keyword, expected object with \"enabled\": false" },
        { EV_MAPPING("{'ostrich_schema':1}", EV_PROPS_HEAD
                     "'kind':{'type':'integer'},'pubkey':{'properties':{'hex':{'type':"
                     "'keyword'}}},"
                     "'raw':{'type':'object','enabled':false},'tags':{'type':"
                     "'keyword'}"),
          true, "index \"ev\": field \"pubkey\" is object, expected keyword" },
        { EV_MAPPING("{'ostrich_schema':2}",
                     EV_PROPS_HEAD "'kind':{'type':'integer'}," EV_PROPS_TAIL),
          true,
          "index \"ev\": schema version 2 is newer than this relay's 1 (the index was written "
          "by a newer relay)" },
        { EV_MAPPING("{'ostrich_schema':'1'}",
                     EV_PROPS_HEAD "'kind':{'type':'integer'}," EV_PROPS_TAIL),
          true, "index \"ev\": _meta.ostrich_schema is not an integer" },
        /* An index nobody made for us: every field missing, the first named. */
        { "{'ev':{'mappings':{}}}", true,
          "index \"ev\": field \"id\" is missing, expected keyword" },
        { "{'ev':{'mappings':{'properties':{'created_at':{'type':'date'}}}}}", false,
          "index \"ev\": field \"created_at\" is date, expected long" },
        /* An alias over two indices: the second does not fit. */
        { "{'ev-1':{'mappings':{'properties':{'created_at':{'type':'long'}}}},"
          "'ev-2':{'mappings':{'properties':{'created_at':{'type':'integer'}}}}}",
          false, "index \"ev\": field \"created_at\" is integer, expected long" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char problem[256];
        int rc = mapping_q(cases[i].body, "ev", cases[i].is_events, problem, sizeof(problem));
        if (rc != OST_EINVAL || strcmp(problem, cases[i].problem) != 0) {
            fprintf(stderr, "  case %zu: %d %s\n", i, rc, problem);
        }
        CHECK_INT_EQ(rc, OST_EINVAL);
        CHECK_STR_EQ(problem, cases[i].problem);
    }
}

static void test_mapping_rejected(void)
{
    static const char *const bad[] = {
        "{}",
        "{'ev':{}}",
        "{'ev':{'mappings':[]}}",
        "{'ev':{'mappings':{'properties':[]}}}",
        "{'error':{'root_cause':[{'type':'index_not_found_exception','reason':'no such index "
        "[ev]'}],'type':'index_not_found_exception','reason':'no such index [ev]'},'status':404}",
        "[]",
        HTML_502,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char problem[64];
        int rc = mapping_q(bad[i], "ev", true, problem, sizeof(problem));
        if (rc != OST_EPARSE) {
            fprintf(stderr, "  case %zu: %d\n", i, rc);
        }
        CHECK_INT_EQ(rc, OST_EPARSE);
        CHECK_STR_EQ(problem, "");
    }
}

/* _cluster/health */

static int health_q(const char *status, bool *is_red)
{
    char tmpl[512];
    snprintf(tmpl, sizeof(tmpl),
             "{'cluster_name':'opensearch-cluster','status':%s,'timed_out':false,"
             "'number_of_nodes':1,'number_of_data_nodes':1,'discovered_master':true,"
             "'discovered_cluster_manager':true,'active_primary_shards':4,'active_shards':4,"
             "'relocating_shards':0,'initializing_shards':0,'unassigned_shards':2,"
             "'delayed_unassigned_shards':0,'number_of_pending_tasks':0,"
             "'number_of_in_flight_fetch':0,'task_max_waiting_in_queue_millis':0,"
             "'active_shards_percent_as_number':66.66666666666666}",
             status);
    char *body = unquote(tmpl);
    int rc = body ? store_os_resp_health(body, strlen(body), is_red) : OST_ENOMEM;
    free(body);
    return rc;
}

static void test_health(void)
{
    bool is_red = true;
    CHECK_OK(health_q("'green'", &is_red));
    CHECK(!is_red);
    is_red = true;
    CHECK_OK(health_q("'yellow'", &is_red));
    CHECK(!is_red);
    CHECK_OK(health_q("'red'", &is_red));
    CHECK(is_red);
    is_red = false;
    CHECK_INT_EQ(health_q("'purple'", &is_red), OST_EPARSE);
    CHECK_INT_EQ(health_q("'RED'", &is_red), OST_EPARSE);
    CHECK_INT_EQ(health_q("null", &is_red), OST_EPARSE);
    CHECK_INT_EQ(health_q("1", &is_red), OST_EPARSE);
    CHECK(!is_red);
    CHECK_INT_EQ(store_os_resp_health(HTML_502, strlen(HTML_502), &is_red), OST_EPARSE);
    CHECK_INT_EQ(store_os_resp_health("", 0, &is_red), OST_EPARSE);
    CHECK(!is_red);
}

/* Truncated bodies: every proper prefix of a good body is OST_EPARSE and
 * calls nothing back. */

static int nop_msearch(void *ud, size_t i, int status, const char *body, size_t len)
{
    (void)i;
    (void)status;
    (void)body;
    (void)len;
    (*(int *)ud)++;
    return 0;
}

static void nop_pk(void *ud, const uint8_t pubkey[32])
{
    (void)pubkey;
    (*(int *)ud)++;
}

static int nop_hit(void *ud, const char *json, size_t len)
{
    (void)json;
    (void)len;
    (*(int *)ud)++;
    return 0;
}

/* Runs parser `which` on body[0..len); *calls counts callbacks. */
static int run_parser(int which, const char *body, size_t len, int *calls)
{
    struct store_os_bulk_item items[7];
    struct store_os_mget_doc docs[3];
    struct buf b;
    uint64_t u;
    size_t n;
    bool red;
    char err[64];
    int rc;
    buf_init(&b);
    switch (which) {
    case 0:
        rc = store_os_resp_bulk(body, len, items, 7);
        break;
    case 1:
        rc = store_os_resp_search(body, len, nop_hit, calls, &n, &b);
        break;
    case 2:
        rc = store_os_resp_msearch(body, len, 3, nop_msearch, calls);
        break;
    case 3:
        rc = store_os_resp_count(body, len, &u);
        break;
    case 4:
        rc = store_os_resp_pubkeys(body, len, nop_pk, calls, &n, &b);
        break;
    case 5:
        rc = store_os_resp_mget(body, len, docs, 3);
        break;
    case 6:
        rc = store_os_resp_deleted(body, len, &u);
        break;
    case 7:
        rc = store_os_resp_mapping_check(body, len, "ev", true, &b);
        break;
    case 8:
        rc = store_os_resp_health(body, len, &red);
        break;
    default:
        /* It never fails: what it must do is NUL-terminate within cap. */
        memset(err, 'z', sizeof(err));
        store_os_resp_error(body, len, err, sizeof(err));
        rc = memchr(err, '\0', sizeof(err)) != NULL ? 0 : OST_EIO;
        break;
    }
    buf_fini(&b);
    return rc;
}

static void test_truncated(void)
{
    static const char *const good[] = {
        bulk_mixed,
        search_page,
        msearch_body,
        "{'count':42," SHARDS "}",
        "{'aggregations':{'pubkeys':{'after_key':{'pubkey':'" PK_A "'},'buckets':[{'key':{"
        "'pubkey':'" PK_A "'},'doc_count':1}]}}}",
        "{'docs':[{'_id':'1','found':false},{'_id':'2','found':true,'_source':{'created_at':1}},"
        "{'_id':'3','found':false}]}",
        "{'took':1,'timed_out':false,'deleted':3,'failures':[]}",
        EV_OK,
        "{'cluster_name':'c','status':'green'}",
        "{'error':{'type':'t','reason':'r'},'status':400}",
    };
    for (int which = 0; which < (int)(sizeof(good) / sizeof(good[0])); which++) {
        char *body = unquote(good[which]);
        CHECK(body != NULL);
        size_t len = strlen(body);
        int calls = 0;
        int rc = run_parser(which, body, len, &calls);
        bool whole_ok = rc == 0;
        bool prefixes_fail = true;
        for (size_t cut = 0; cut < len && prefixes_fail; cut++) {
            /* An exact-size copy, so ASan sees any read past the end. */
            char *part = malloc(cut > 0 ? cut : 1);
            if (part == NULL) {
                break;
            }
            memcpy(part, body, cut);
            calls = 0;
            rc = run_parser(which, part, cut, &calls);
            free(part);
            if (rc != (which == 9 ? 0 : OST_EPARSE) || calls != 0) {
                fprintf(stderr, "  parser %d, prefix %zu: rc %d, %d callbacks\n", which, cut, rc,
                        calls);
                prefixes_fail = false;
            }
        }
        free(body);
        CHECK(whole_ok);
        CHECK(prefixes_fail);
    }
}

CHECK_MAIN({ "bulk_mixed", test_bulk_mixed }, { "bulk_all_ok", test_bulk_all_ok },
           { "bulk_long_type", test_bulk_long_type }, { "bulk_rejected", test_bulk_rejected },
           { "search_hits", test_search_hits },
           { "search_total_and_no_sort", test_search_total_and_no_sort },
           { "search_empty", test_search_empty }, { "search_partial", test_search_partial },
           { "search_stop", test_search_stop }, { "search_rejected", test_search_rejected },
           { "msearch", test_msearch }, { "msearch_status_missing", test_msearch_status_missing },
           { "msearch_rejected", test_msearch_rejected }, { "count", test_count },
           { "pubkeys_pages", test_pubkeys_pages }, { "pubkeys_rejected", test_pubkeys_rejected },
           { "mget", test_mget }, { "mget_rejected", test_mget_rejected },
           { "deleted", test_deleted }, { "error_bodies", test_error_bodies },
           { "error_cut", test_error_cut }, { "mapping_ok", test_mapping_ok },
           { "mapping_matches_dsl", test_mapping_matches_dsl },
           { "mapping_mismatch", test_mapping_mismatch },
           { "mapping_rejected", test_mapping_rejected }, { "health", test_health },
           { "truncated", test_truncated })
