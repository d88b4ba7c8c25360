/*
 * Tests for store/store_os_http against tests/httpfx, a scripted HTTP
 * server on loopback: request fields, keep-alive, statuses, retries with
 * their bound, resets, hangs, refused connections, URL checks and TLS to a
 * plain server. Each test opens a fixture, runs its checks in a helper
 * (a failed CHECK returns from the helper only) and closes the fixture, so
 * nothing leaks under ASan even when a check fails.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "check.h"
#include "common/buf.h"
#include "common/err.h"
#include "httpfx.h"
#include "store/store_os_http.h"

struct fix {
    struct httpfx *fx;
    struct store_os_http_shared *sh;
    struct store_os_http *h;
    struct buf resp;
    char url[64];
};

/* Starts a server with the script and a client on it; o may be NULL and
 * its url is ignored (the server's is used). */
static int fix_open(struct fix *f, const struct httpfx_step *steps, size_t n,
                    const struct store_os_http_opts *o)
{
    memset(f, 0, sizeof(*f));
    buf_init(&f->resp);
    int rc = httpfx_start(steps, n, &f->fx);
    if (rc < 0) {
        return rc;
    }
    httpfx_url(f->fx, f->url, sizeof(f->url));
    struct store_os_http_opts opts = { 0 };
    if (o != NULL) {
        opts = *o;
    }
    opts.url = f->url;
    rc = store_os_http_shared_new(&opts, &f->sh);
    return rc == 0 ? store_os_http_new(f->sh, &f->h) : rc;
}

static void fix_close(struct fix *f)
{
    store_os_http_free(f->h);
    store_os_http_shared_free(f->sh);
    httpfx_stop(f->fx);
    buf_fini(&f->resp);
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* RFC 4648 base64, written out here so the test does not trust libcurl's. */
static void base64(const char *in, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t len = strlen(in), o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)(unsigned char)in[i] << 16;
        v |= i + 1 < len ? (uint32_t)(unsigned char)in[i + 1] << 8 : 0;
        v |= i + 2 < len ? (uint32_t)(unsigned char)in[i + 2] : 0;
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tab[v & 63] : '=';
    }
    out[o] = '\0';
}

static bool resp_is(const struct buf *b, const char *s)
{
    return b->len == strlen(s) && (b->len == 0 || memcmp(b->data, s, b->len) == 0);
}

static void check_fields(struct fix *f)
{
    static const char body[] = "{\"kind\":1,\"content\":\"hi\"}";
    long status = 0;
    CHECK_OK(store_os_http_request(f->h, "POST", "/ev/_doc/ab?refresh=true", NULL, body,
                                   sizeof(body) - 1, &status, &f->resp));
    CHECK_INT_EQ(status, 200);
    CHECK(resp_is(&f->resp, "{\"result\":\"created\"}"));
    CHECK_INT_EQ(store_os_http_last_tries(f->h), 1);
    const struct httpfx_req *r = httpfx_request(f->fx, 0);
    CHECK(r != NULL);
    CHECK_STR_EQ(r->method, "POST");
    CHECK_STR_EQ(r->path, "/ev/_doc/ab?refresh=true"); /* the base's '/' was dropped */
    CHECK_STR_EQ(r->content_type, "application/json");
    CHECK_INT_EQ(r->body_len, sizeof(body) - 1);
    CHECK_MEM_EQ(r->body, body, sizeof(body) - 1);
    char b64[128], want[160];
    base64("elastic:pa:ss w0rd", b64);
    snprintf(want, sizeof(want), "Basic %s", b64);
    CHECK_STR_EQ(r->authorization, want);
    CHECK_STR_EQ(r->expect, "");
    CHECK_INT_EQ(httpfx_request_count(f->fx), 1);
}

static void test_request_fields(void)
{
    static const struct httpfx_step steps[] = {
        { HTTPFX_RESPOND, 200, "{\"result\":\"created\"}" },
    };
    struct store_os_http_opts o = { .username = "elastic", .password = "pa:ss w0rd" };
    struct fix f;
    int rc = fix_open(&f, steps, 1, &o);
    if (rc == 0) {
        /* A trailing '/' on the base URL must not double the path's. */
        struct store_os_http_opts o2 = o;
        char url[80];
        snprintf(url, sizeof(url), "%s/", f.url);
        o2.url = url;
        store_os_http_free(f.h);
        store_os_http_shared_free(f.sh);
        f.h = NULL;
        f.sh = NULL;
        rc = store_os_http_shared_new(&o2, &f.sh);
        rc = rc == 0 ? store_os_http_new(f.sh, &f.h) : rc;
    }
    if (rc == 0) {
        check_fields(&f);
        CHECK_STR_EQ(store_os_http_url(f.sh), f.url);
    }
    fix_close(&f);
    CHECK_OK(rc);
}

static void check_reuse(struct fix *f)
{
    long status = 0;
    CHECK_OK(store_os_http_request(f->h, "GET", "/a", NULL, NULL, 0, &status, &f->resp));
    CHECK_INT_EQ(status, 200);
    CHECK(resp_is(&f->resp, "{\"n\":1}"));
    CHECK_OK(store_os_http_request(f->h, "HEAD", "/b", NULL, NULL, 0, &status, &f->resp));
    CHECK_INT_EQ(status, 200);
    CHECK_INT_EQ(f->resp.len, 0); /* the server sent a Content-Length, not a body */
    static const char nd[] = "{\"index\":{}}\n{\"a\":1}\n";
    CHECK_OK(store_os_http_request(f->h, "PUT", "/c/_bulk", "application/x-ndjson", nd,
                                   sizeof(nd) - 1, &status, &f->resp));
    CHECK_INT_EQ(status, 201);
    CHECK_OK(store_os_http_request(f->h, "DELETE", "/d", NULL, NULL, 0, &status, &f->resp));
    CHECK_INT_EQ(status, 200);
    CHECK(resp_is(&f->resp, "{\"n\":4}"));
    CHECK_OK(store_os_http_request(f->h, "GET", "/e/_search", NULL, "{}", 2, &status, &f->resp));
    CHECK_INT_EQ(status, 200);
    /* A PUT without a body still says how long it is, and has no type. */
    CHECK_OK(store_os_http_request(f->h, "PUT", "/f", NULL, NULL, 0, &status, &f->resp));
    CHECK_INT_EQ(httpfx_request_count(f->fx), 6);
    CHECK_INT_EQ(httpfx_connection_count(f->fx), 1);
    static const char *const methods[] = { "GET", "HEAD", "PUT", "DELETE", "GET", "PUT" };
    for (size_t i = 0; i < 6; i++) {
        const struct httpfx_req *r = httpfx_request(f->fx, i);
        CHECK_STR_EQ(r->method, methods[i]);
        CHECK_INT_EQ(r->conn_no, 1);
        CHECK_STR_EQ(r->authorization, ""); /* no username configured */
    }
    CHECK_STR_EQ(httpfx_request(f->fx, 0)->content_type, "");
    const struct httpfx_req *put = httpfx_request(f->fx, 2);
    CHECK_STR_EQ(put->content_type, "application/x-ndjson");
    CHECK_INT_EQ(put->body_len, sizeof(nd) - 1);
    CHECK_MEM_EQ(put->body, nd, sizeof(nd) - 1);
    CHECK_INT_EQ(httpfx_request(f->fx, 3)->body_len, 0);
    const struct httpfx_req *search = httpfx_request(f->fx, 4);
    CHECK_STR_EQ(search->body, "{}");
    CHECK_STR_EQ(search->content_type, "application/json");
    CHECK_STR_EQ(httpfx_request(f->fx, 5)->content_type, "");
    CHECK_INT_EQ(httpfx_request(f->fx, 5)->body_len, 0);

    /* A second client on the same shared object keeps a connection of its
     * own: connections are not shared between threads (see the header). */
    struct store_os_http *h2 = NULL;
    CHECK_OK(store_os_http_new(f->sh, &h2));
    int rc1 = store_os_http_request(h2, "GET", "/g", NULL, NULL, 0, &status, &f->resp);
    int rc2 = store_os_http_request(h2, "GET", "/h", NULL, NULL, 0, &status, &f->resp);
    store_os_http_free(h2);
    CHECK_OK(rc1);
    CHECK_OK(rc2);
    CHECK_INT_EQ(httpfx_connection_count(f->fx), 2);
    CHECK_INT_EQ(httpfx_request(f->fx, 6)->conn_no, 2);
    CHECK_INT_EQ(httpfx_request(f->fx, 7)->conn_no, 2);
}

static void test_keep_alive_reuse(void)
{
    static const struct httpfx_step steps[] = {
        { HTTPFX_RESPOND, 200, "{\"n\":1}" }, { HTTPFX_RESPOND, 200, "{\"n\":2}" },
        { HTTPFX_RESPOND, 201, "{\"n\":3}" }, { HTTPFX_RESPOND, 200, "{\"n\":4}" },
        { HTTPFX_RESPOND, 200, "{\"n\":5}" }, { HTTPFX_RESPOND, 200, "{\"n\":6}" },
        { HTTPFX_RESPOND, 200, "{\"n\":7}" }, { HTTPFX_RESPOND, 200, "{\"n\":8}" },
    };
    struct fix f;
    int rc = fix_open(&f, steps, sizeof(steps) / sizeof(steps[0]), NULL);
    if (rc == 0) {
        check_reuse(&f);
    }
    fix_close(&f);
    CHECK_OK(rc);
}

static void check_statuses(struct fix *f)
{
    long status = 0;
    buf_append_str(&f->resp, "left over from before");
    CHECK_OK(store_os_http_request(f->h, "GET", "/missing", NULL, NULL, 0, &status, &f->resp));
    CHECK_INT_EQ(status, 404);
    CHECK(resp_is(&f->resp, "{\"found\":false}")); /* replaced, not appended */
    CHECK_OK(store_os_http_request_retry(f->h, "POST", "/x", NULL, "[", 1, &status, &f->resp));
    CHECK_INT_EQ(status, 400);
    CHECK_INT_EQ(store_os_http_last_tries(f->h), 1); /* a 400 is not retried */
    CHECK_OK(store_os_http_request(f->h, "GET", "/r", NULL, NULL, 0, &status, &f->resp));
    CHECK_INT_EQ(status, 302); /* not followed */
    CHECK_INT_EQ(httpfx_request_count(f->fx), 3);
}

static void test_status_is_not_error(void)
{
    static const struct httpfx_step steps[] = {
        { HTTPFX_RESPOND, 404, "{\"found\":false}" },
        { HTTPFX_RESPOND, 400, "{\"error\":\"parse\"}" },
        { HTTPFX_RESPOND, 302, "" },
    };
    struct fix f;
    int rc = fix_open(&f, steps, 3, NULL);
    if (rc == 0) {
        check_statuses(&f);
    }
    fix_close(&f);
    CHECK_OK(rc);
}

static void check_retry_transient(struct fix *f)
{
    long status = 0;
    CHECK_OK(store_os_http_request_retry(f->h, "POST", "/_bulk", NULL, "x", 1, &status, &f->resp));
    CHECK_INT_EQ(status, 200);
    CHECK(resp_is(&f->resp, "{\"errors\":false}"));
    CHECK_INT_EQ(store_os_http_last_tries(f->h), 3);
    CHECK_STR_EQ(store_os_http_last_error(f->h), ""); /* 429 and 503 are answers */
    CHECK_INT_EQ(httpfx_request_count(f->fx), 3);
    CHECK_INT_EQ(httpfx_connection_count(f->fx), 1); /* answers keep the connection */
    for (size_t i = 0; i < 3; i++) {
        CHECK_STR_EQ(httpfx_request(f->fx, i)->body, "x");
    }
}

static void test_retry_transient(void)
{
    static const struct httpfx_step steps[] = {
        { HTTPFX_RESPOND, 429, "{}" },
        { HTTPFX_RESPOND, 503, "{}" },
        { HTTPFX_RESPOND, 200, "{\"errors\":false}" },
    };
    struct fix f;
    int rc = fix_open(&f, steps, 3, NULL);
    if (rc == 0) {
        check_retry_transient(&f);
    }
    fix_close(&f);
    CHECK_OK(rc);
}

static void check_reset(struct fix *f)
{
    long status = -7;
    CHECK_INT_EQ(store_os_http_request(f->h, "GET", "/a", NULL, NULL, 0, &status, &f->resp),
                 OST_EUNAVAIL);
    CHECK_INT_EQ(status, -7); /* untouched on failure */
    CHECK_INT_EQ(store_os_http_last_tries(f->h), 1);
    CHECK_INT_EQ(store_os_http_request(f->h, "GET", "/b", NULL, NULL, 0, &status, &f->resp),
                 OST_EUNAVAIL); /* closed before an answer */
    CHECK_OK(store_os_http_request_retry(f->h, "GET", "/c", NULL, NULL, 0, &status, &f->resp));
    CHECK_INT_EQ(status, 200);
    CHECK(resp_is(&f->resp, "{\"ok\":1}"));
    CHECK_INT_EQ(store_os_http_last_tries(f->h), 2);
    CHECK_INT_EQ(httpfx_request_count(f->fx), 4);
    CHECK_INT_EQ(httpfx_connection_count(f->fx), 4);
}

static void test_reset_and_close(void)
{
    static const struct httpfx_step steps[] = {
        { HTTPFX_RESET, 0, NULL },
        { HTTPFX_CLOSE, 0, NULL },
        { HTTPFX_RESET, 0, NULL },
        { HTTPFX_RESPOND, 200, "{\"ok\":1}" },
    };
    struct fix f;
    int rc = fix_open(&f, steps, 4, NULL);
    if (rc == 0) {
        check_reset(&f);
    }
    fix_close(&f);
    CHECK_OK(rc);
}

#define HANG_TIMEOUT_MS 300

static void check_hang(struct fix *f)
{
    long status = -7;
    uint64_t t0 = now_us();
    int rc = store_os_http_request(f->h, "GET", "/slow", NULL, NULL, 0, &status, &f->resp);
    uint64_t took_us = now_us() - t0;
    CHECK_INT_EQ(rc, OST_ETIMEDOUT);
    CHECK_INT_EQ(status, -7);
    /* libcurl counts whole milliseconds, and its Curl_timediff (7.88)
     * truncates a negative microsecond part toward zero, which can round
     * the elapsed time up: it may give up to 1 ms before the timeout. */
    if (took_us < HANG_TIMEOUT_MS * 1000u - 1000u || took_us >= 5u * HANG_TIMEOUT_MS * 1000u) {
        fprintf(stderr, "  took %llu us\n", (unsigned long long)took_us);
    }
    CHECK(took_us >= HANG_TIMEOUT_MS * 1000u - 1000u);
    CHECK(took_us < 5u * HANG_TIMEOUT_MS * 1000u); /* loose: a loaded 2-core machine */
    CHECK_INT_EQ(httpfx_request_count(f->fx), 1);
}

static void test_hang_times_out(void)
{
    static const struct httpfx_step steps[] = { { HTTPFX_HANG, 0, NULL } };
    struct store_os_http_opts o = { .request_timeout_ms = HANG_TIMEOUT_MS };
    struct fix f;
    int rc = fix_open(&f, steps, 1, &o);
    if (rc == 0) {
        check_hang(&f);
    }
    fix_close(&f);
    CHECK_OK(rc);
}

/* A loopback port that is bound but not listening, so a connection to it
 * is refused, and no other process can take it while fd is open. */
static int closed_port(int *fd, uint16_t *port)
{
    *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*fd < 0) {
        return -errno;
    }
    struct sockaddr_in sa = { .sin_family = AF_INET };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    if (bind(*fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(*fd, (struct sockaddr *)&sa, &len) < 0) {
        return -errno;
    }
    *port = ntohs(sa.sin_port);
    return 0;
}

static void check_refused(struct store_os_http *h, struct buf *resp)
{
    long status = -7;
    uint64_t t0 = now_us();
    CHECK_INT_EQ(store_os_http_request(h, "GET", "/", NULL, NULL, 0, &status, resp), OST_EUNAVAIL);
    CHECK(now_us() - t0 < STORE_OS_HTTP_CONNECT_TIMEOUT_MS * 1000u); /* refused, not timed out */
    CHECK_INT_EQ(status, -7);
    /* The log line gets libcurl's words for it. */
    CHECK(strstr(store_os_http_last_error(h), "onnect") != NULL);
    /* Unavailable is transient: retried until retry_max_ms (250) passes. */
    CHECK_INT_EQ(store_os_http_request_retry(h, "GET", "/", NULL, NULL, 0, &status, resp),
                 OST_EUNAVAIL);
    CHECK(store_os_http_last_tries(h) >= 2);
}

static void test_connection_refused(void)
{
    int fd = -1;
    uint16_t port = 0;
    struct store_os_http_shared *sh = NULL;
    struct store_os_http *h = NULL;
    struct buf resp;
    buf_init(&resp);
    int rc = closed_port(&fd, &port);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)port);
    struct store_os_http_opts o = { .url = url, .retry_max_ms = 250 };
    rc = rc == 0 ? store_os_http_shared_new(&o, &sh) : rc;
    rc = rc == 0 ? store_os_http_new(sh, &h) : rc;
    if (rc == 0) {
        check_refused(h, &resp);
    }
    store_os_http_free(h);
    store_os_http_shared_free(sh);
    buf_fini(&resp);
    if (fd >= 0) {
        close(fd);
    }
    CHECK_OK(rc);
}

#define BOUND_RETRY_MAX_MS 600

static void check_retry_bound(struct fix *f)
{
    long status = 0;
    uint64_t t0 = now_us();
    CHECK_OK(store_os_http_request_retry(f->h, "GET", "/", NULL, NULL, 0, &status, &f->resp));
    uint64_t took = (now_us() - t0) / 1000u;
    unsigned tries = store_os_http_last_tries(f->h);
    CHECK_INT_EQ(status, 503);
    /* Waits of 100, 200 and 400 ms (plus up to a quarter), the last cut at
     * the bound: 4 tries on an idle machine, fewer only if slow. */
    CHECK(tries >= 3 && tries <= 5);
    CHECK_INT_EQ(httpfx_request_count(f->fx), tries);
    CHECK(took >= BOUND_RETRY_MAX_MS);
    CHECK(took < 5 * BOUND_RETRY_MAX_MS);
}

static void test_retry_bound(void)
{
    struct httpfx_step steps[20];
    for (size_t i = 0; i < 20; i++) {
        steps[i] = (struct httpfx_step){ HTTPFX_RESPOND, 503, "{}" };
    }
    struct store_os_http_opts o = { .retry_max_ms = BOUND_RETRY_MAX_MS };
    struct fix f;
    int rc = fix_open(&f, steps, 20, &o);
    if (rc == 0) {
        check_retry_bound(&f);
    }
    fix_close(&f);
    CHECK_OK(rc);
}

static void test_url_checks(void)
{
    static const char *const bad[] = {
        "",
        "ftp://127.0.0.1:9200",
        "localhost:9200",
        "127.0.0.1:9200",
        "http://",
        "http://:9200",
        "file:///etc/passwd",
        "http://user:secret@127.0.0.1:9200",
        "http://127.0.0.1:9200/?q=1",
        "http://127.0.0.1:9200/#frag",
        "http://127.0.0.1:99999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct store_os_http_opts o = { .url = bad[i] };
        struct store_os_http_shared *sh = NULL;
        int rc = store_os_http_shared_new(&o, &sh);
        store_os_http_shared_free(sh);
        if (rc != OST_EINVAL) {
            fprintf(stderr, "  url \"%s\"\n", bad[i]);
        }
        CHECK_INT_EQ(rc, OST_EINVAL);
    }
    struct store_os_http_opts none = { 0 };
    struct store_os_http_shared *sh = NULL;
    CHECK_INT_EQ(store_os_http_shared_new(&none, &sh), OST_EINVAL);
    static const struct {
        const char *url, *want;
    } good[] = {
        { "http://127.0.0.1:9200", "http://127.0.0.1:9200" },
        { "https://search.example:443//", "https://search.example:443" },
        { "HTTP://localhost/prefix/", "HTTP://localhost/prefix" },
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct store_os_http_opts o = { .url = good[i].url };
        int rc = store_os_http_shared_new(&o, &sh);
        bool same = rc == 0 && strcmp(store_os_http_url(sh), good[i].want) == 0;
        store_os_http_shared_free(sh);
        sh = NULL;
        CHECK_OK(rc);
        CHECK(same);
    }
}

static void check_bad_path(struct fix *f)
{
    long status = -7;
    CHECK_INT_EQ(store_os_http_request(f->h, "GET", "nope", NULL, NULL, 0, &status, &f->resp),
                 OST_EINVAL);
    CHECK_INT_EQ(store_os_http_request_retry(f->h, "GET", "", NULL, NULL, 0, &status, &f->resp),
                 OST_EINVAL);
    CHECK_INT_EQ(store_os_http_last_tries(f->h), 1);
    CHECK_INT_EQ(status, -7);
    CHECK_INT_EQ(httpfx_request_count(f->fx), 0);
}

static void test_bad_path(void)
{
    struct fix f;
    int rc = fix_open(&f, NULL, 0, NULL);
    if (rc == 0) {
        check_bad_path(&f);
    }
    fix_close(&f);
    CHECK_OK(rc);
}

/* https:// to the plain server: libcurl sends a TLS ClientHello, httpfx
 * sees bytes that are not an HTTP method and closes, and the handshake
 * fails (CURLE_SSL_CONNECT_ERROR). That is OST_EIO, a TLS failure, not
 * OST_EUNAVAIL: the server is there and asking again cannot help, so it
 * must not be retried. */
static void check_tls_to_plain(struct fix *f)
{
    long status = -7;
    CHECK_INT_EQ(store_os_http_request(f->h, "GET", "/", NULL, NULL, 0, &status, &f->resp),
                 OST_EIO);
    CHECK_INT_EQ(store_os_http_request_retry(f->h, "GET", "/", NULL, NULL, 0, &status, &f->resp),
                 OST_EIO);
    CHECK_INT_EQ(store_os_http_last_tries(f->h), 1);
    CHECK_INT_EQ(status, -7);
    CHECK(strstr(store_os_http_last_error(f->h), "SSL") != NULL ||
          strstr(store_os_http_last_error(f->h), "TLS") != NULL);
    CHECK(strstr(store_os_http_last_error(f->h), "SSL") != NULL ||
          strstr(store_os_http_last_error(f->h), "TLS") != NULL);
    CHECK_INT_EQ(httpfx_request_count(f->fx), 0);
    CHECK(httpfx_connection_count(f->fx) >= 1); /* it did reach the server */
}

static void test_tls_to_plain_server(void)
{
    struct fix f;
    int rc = fix_open(&f, NULL, 0, NULL);
    if (rc == 0) {
        /* Reopen the client on https:// with verification on. */
        store_os_http_free(f.h);
        store_os_http_shared_free(f.sh);
        f.h = NULL;
        f.sh = NULL;
        char url[80];
        snprintf(url, sizeof(url), "https://127.0.0.1:%u", (unsigned)httpfx_port(f.fx));
        struct store_os_http_opts o = { .url = url, .is_tls_verify = true };
        rc = store_os_http_shared_new(&o, &f.sh);
        rc = rc == 0 ? store_os_http_new(f.sh, &f.h) : rc;
    }
    if (rc == 0) {
        check_tls_to_plain(&f);
    }
    fix_close(&f);
    CHECK_OK(rc);
}

/* A body above libcurl's 1 MiB threshold for "Expect: 100-continue" goes
 * out without the header, whole. */
static void check_large_body(struct fix *f, const char *big, size_t len)
{
    long status = 0;
    CHECK_OK(store_os_http_request(f->h, "POST", "/_bulk", "application/x-ndjson", big, len,
                                   &status, &f->resp));
    CHECK_INT_EQ(status, 200);
    const struct httpfx_req *r = httpfx_request(f->fx, 0);
    CHECK(r != NULL);
    CHECK_STR_EQ(r->expect, "");
    CHECK_INT_EQ(r->body_len, len);
    CHECK_MEM_EQ(r->body, big, len);
}

static void test_large_body(void)
{
    static const struct httpfx_step steps[] = { { HTTPFX_RESPOND, 200, "{}" } };
    size_t len = 3u << 20;
    char *big = malloc(len);
    struct fix f;
    int rc = big ? fix_open(&f, steps, 1, NULL) : OST_ENOMEM;
    if (rc == 0) {
        for (size_t i = 0; i < len; i++) {
            big[i] = (char)('a' + (i * 7 + i / 4096) % 26);
        }
        check_large_body(&f, big, len);
    }
    if (big != NULL) {
        fix_close(&f);
    }
    free(big);
    CHECK_OK(rc);
}

#define THREAD_REQUESTS 25

struct worker {
    struct store_os_http_shared *sh;
    int n_ok; /* requests answered 200 */
    int rc;   /* the first failure, or 0 */
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct store_os_http *h = NULL;
    struct buf resp;
    buf_init(&resp);
    w->rc = store_os_http_new(w->sh, &h);
    for (int i = 0; i < THREAD_REQUESTS && w->rc == 0; i++) {
        long status = 0;
        w->rc = store_os_http_request(h, "GET", "/t", NULL, NULL, 0, &status, &resp);
        w->n_ok += w->rc == 0 && status == 200;
    }
    store_os_http_free(h);
    buf_fini(&resp);
    return NULL;
}

/* Two threads with a client each on one shared object at the same time:
 * the share's locks are taken from both (ASan and the counts check them),
 * and each client keeps its own connection. */
static void check_threads(struct fix *f)
{
    struct worker w[2] = { { .sh = f->sh }, { .sh = f->sh } };
    pthread_t t[2];
    bool started[2] = { false, false };
    for (int i = 0; i < 2; i++) {
        started[i] = pthread_create(&t[i], NULL, worker_main, &w[i]) == 0;
    }
    for (int i = 0; i < 2; i++) {
        if (started[i]) {
            pthread_join(t[i], NULL);
        }
    }
    CHECK(started[0] && started[1]);
    for (int i = 0; i < 2; i++) {
        CHECK_OK(w[i].rc);
        CHECK_INT_EQ(w[i].n_ok, THREAD_REQUESTS);
    }
    CHECK_INT_EQ(httpfx_request_count(f->fx), 2 * THREAD_REQUESTS);
    CHECK_INT_EQ(httpfx_connection_count(f->fx), 2);
}

static void test_threads_share(void)
{
    struct httpfx_step steps[2 * THREAD_REQUESTS];
    for (size_t i = 0; i < 2 * THREAD_REQUESTS; i++) {
        steps[i] = (struct httpfx_step){ HTTPFX_RESPOND, 200, "{}" };
    }
    struct fix f;
    int rc = fix_open(&f, steps, 2 * THREAD_REQUESTS, NULL);
    if (rc == 0) {
        check_threads(&f);
    }
    fix_close(&f);
    CHECK_OK(rc);
}

static void test_is_transient(void)
{
    static const struct {
        int rc;
        long status;
        bool want;
    } cases[] = {
        { 0, 200, false },          { 0, 201, false },
        { 0, 400, false },          { 0, 404, false },
        { 0, 409, false },          { 0, 428, false },
        { 0, 429, true },           { 0, 500, false },
        { 0, 501, false },          { 0, 502, true },
        { 0, 503, true },           { 0, 504, true },
        { 0, 505, false },          { OST_EUNAVAIL, 0, true },
        { OST_ETIMEDOUT, 0, true }, { OST_EUNAVAIL, 200, true },
        { OST_EIO, 503, false }, /* the status means nothing without an answer */
        { OST_EIO, 0, false },      { OST_ENOMEM, 0, false },
        { OST_EINVAL, 0, false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool got = store_os_http_is_transient(cases[i].rc, cases[i].status);
        if (got != cases[i].want) {
            fprintf(stderr, "  case %zu: rc %d status %ld\n", i, cases[i].rc, cases[i].status);
        }
        CHECK(got == cases[i].want);
    }
}

CHECK_MAIN({ "request_fields", test_request_fields }, { "keep_alive_reuse", test_keep_alive_reuse },
           { "status_is_not_error", test_status_is_not_error },
           { "retry_transient", test_retry_transient }, { "reset_and_close", test_reset_and_close },
           { "hang_times_out", test_hang_times_out },
           { "connection_refused", test_connection_refused }, { "retry_bound", test_retry_bound },
           { "url_checks", test_url_checks }, { "bad_path", test_bad_path },
           { "tls_to_plain_server", test_tls_to_plain_server }, { "large_body", test_large_body },
           { "threads_share", test_threads_share }, { "is_transient", test_is_transient })
