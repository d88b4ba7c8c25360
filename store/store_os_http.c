/*
 * HTTP for the OpenSearch backend, over libcurl's easy interface.
 *
 * Design. Each client owns one easy handle, reused for every request so
 * that its connection stays alive between requests (HTTP/1.1 keep-alive,
 * plus TCP keepalive probes so a dead peer is noticed while idle). The
 * clients of one shared object share DNS answers and TLS sessions through
 * a CURLSH, whose lock callbacks take one pthread mutex per kind of data.
 * Connections themselves are not shared: libcurl documents that a shared
 * connection cache must not be used by concurrent threads (KNOWN_BUGS, "A
 * shared connection cache is not thread-safe", still open in 7.88), and
 * every client here may run on its own thread.
 *
 * Only http and https are allowed, redirects are never followed, proxies
 * from the environment are ignored (the cluster is addressed directly),
 * and credentials go through CURLOPT_USERNAME/PASSWORD, never into a URL.
 * libcurl's "Expect: 100-continue" is switched off: OpenSearch answers
 * without it, and waiting for the 100 costs up to a second per large bulk.
 * Nothing here logs; every failure is a return code.
 */
#include "store/store_os_http.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include <curl/curl.h>
#include <strings.h>

#include "common/buf.h"
#include "common/err.h"

#define HTTP_DEFAULT_CONTENT_TYPE "application/json"
/* Idle seconds before the first TCP keepalive probe, and between probes. */
#define HTTP_KEEPIDLE_S  30L
#define HTTP_KEEPINTVL_S 15L

struct store_os_http_shared {
    char *url; /* without the trailing '/' */
    char *username;
    char *password;
    char *ca_file;
    bool is_tls_verify;
    uint32_t connect_timeout_ms;
    uint32_t request_timeout_ms;
    uint32_t retry_max_ms;
    CURLSH *share;
    /* One per curl_lock_data; libcurl asks for them from any client's
     * thread, for the duration of a cache lookup only. */
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
};

/* Owned by: the thread that uses it. */
struct store_os_http {
    struct store_os_http_shared *sh;
    CURL *easy;
    struct curl_slist *hdr_nobody; /* no Content-Type, no Expect */
    struct curl_slist *hdr_json;   /* the default Content-Type, "Expect:" */
    struct buf url;                /* the last request's full URL */
    struct buf *resp;              /* the current call's, for the write callback */
    bool is_oom;                   /* the write callback ran out of memory */
    unsigned last_tries;
    uint64_t rng; /* xorshift64 state for the backoff jitter */
    /* libcurl's words for the last failure ("SSL certificate problem:
     * self-signed certificate", "Failed to connect to ..."); the URL holds
     * no credentials, so neither does this. */
    char errbuf[CURL_ERROR_SIZE];
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_FAILED_INIT;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_ALL);
}

static void share_lock(CURL *easy, curl_lock_data data, curl_lock_access access, void *userp)
{
    struct store_os_http_shared *sh = userp;
    (void)easy;
    (void)access;
    pthread_mutex_lock(&sh->locks[data]);
}

static void share_unlock(CURL *easy, curl_lock_data data, void *userp)
{
    struct store_os_http_shared *sh = userp;
    (void)easy;
    pthread_mutex_unlock(&sh->locks[data]);
}

static bool has_part(CURLU *u, CURLUPart part)
{
    char *s = NULL;
    CURLUcode uc = curl_url_get(u, part, &s, 0);
    bool has = uc == CURLUE_OK && s != NULL && s[0] != '\0';
    curl_free(s);
    return has;
}

/* Accepts http:// and https:// URLs with a host and without user
 * information (which would end up in logs through store_os_http_url), a
 * query or a fragment (a path is appended to the base). */
static int check_url(const char *url)
{
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        return OST_EINVAL;
    }
    CURLU *u = curl_url();
    if (u == NULL) {
        return OST_ENOMEM;
    }
    int rc = 0;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, 0);
    if (uc == CURLUE_OUT_OF_MEMORY) {
        rc = OST_ENOMEM;
    } else if (uc != CURLUE_OK || !has_part(u, CURLUPART_HOST) || has_part(u, CURLUPART_USER) ||
               has_part(u, CURLUPART_PASSWORD) || has_part(u, CURLUPART_QUERY) ||
               has_part(u, CURLUPART_FRAGMENT)) {
        rc = OST_EINVAL;
    }
    curl_url_cleanup(u);
    return rc;
}

static int dup_opt(const char *s, char **out)
{
    *out = NULL;
    if (s == NULL || s[0] == '\0') {
        return 0;
    }
    *out = strdup(s);
    return *out == NULL ? OST_ENOMEM : 0;
}

static void free_secret(char *s)
{
    if (s != NULL) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static int make_share(struct store_os_http_shared *sh)
{
    sh->share = curl_share_init();
    if (sh->share == NULL) {
        return OST_ENOMEM;
    }
    bool bad = curl_share_setopt(sh->share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK;
    bad |= curl_share_setopt(sh->share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK;
    bad |= curl_share_setopt(sh->share, CURLSHOPT_USERDATA, sh) != CURLSHE_OK;
    bad |= curl_share_setopt(sh->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK;
    bad |= curl_share_setopt(sh->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK;
    return bad ? OST_ENOMEM : 0;
}

int store_os_http_shared_new(const struct store_os_http_opts *o, struct store_os_http_shared **out)
{
    if (o == NULL || o->url == NULL) {
        return OST_EINVAL;
    }
    int rc = check_url(o->url);
    if (rc < 0) {
        return rc;
    }
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK) {
        return global_rc == CURLE_OUT_OF_MEMORY ? OST_ENOMEM : OST_EIO;
    }
    struct store_os_http_shared *sh = calloc(1, sizeof(*sh));
    if (sh == NULL) {
        return OST_ENOMEM;
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) {
        pthread_mutex_init(&sh->locks[i], NULL);
    }
    sh->is_tls_verify = o->is_tls_verify;
    sh->connect_timeout_ms =
        o->connect_timeout_ms ? o->connect_timeout_ms : STORE_OS_HTTP_CONNECT_TIMEOUT_MS;
    sh->request_timeout_ms =
        o->request_timeout_ms ? o->request_timeout_ms : STORE_OS_HTTP_REQUEST_TIMEOUT_MS;
    sh->retry_max_ms = o->retry_max_ms ? o->retry_max_ms : STORE_OS_HTTP_RETRY_MAX_MS;
    rc = dup_opt(o->url, &sh->url);
    rc = rc == 0 ? dup_opt(o->username, &sh->username) : rc;
    rc = rc == 0 ? dup_opt(o->password, &sh->password) : rc;
    rc = rc == 0 ? dup_opt(o->ca_file, &sh->ca_file) : rc;
    rc = rc == 0 ? make_share(sh) : rc;
    if (rc < 0) {
        goto fail;
    }
    /* The scheme's own slashes are never reached: check_url saw a host. */
    size_t len = strlen(sh->url);
    while (len > 0 && sh->url[len - 1] == '/') {
        sh->url[--len] = '\0';
    }
    *out = sh;
    return 0;
fail:
    store_os_http_shared_free(sh);
    return rc;
}

void store_os_http_shared_free(struct store_os_http_shared *sh)
{
    if (sh == NULL) {
        return;
    }
    /* CURLSHE_IN_USE means a client outlives its shared object, which
     * would then unlock freed mutexes: a broken contract, not an error. */
    if (sh->share != NULL && curl_share_cleanup(sh->share) != CURLSHE_OK) {
        abort();
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++) {
        pthread_mutex_destroy(&sh->locks[i]);
    }
    free(sh->url);
    free(sh->username);
    free_secret(sh->password);
    free(sh->ca_file);
    free(sh);
}

static size_t on_write(char *data, size_t size, size_t n, void *userp)
{
    struct store_os_http *h = userp;
    if (buf_append(h->resp, data, size * n) < 0) {
        h->is_oom = true;
        return 0; /* libcurl stops with CURLE_WRITE_ERROR */
    }
    return size * n;
}

static uint64_t seed_rng(const void *p)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    /* splitmix64 of the time and the handle's address: distinct per
     * handle and per process, which is all the jitter needs. */
    uint64_t z = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)p;
    z += 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    z ^= z >> 31;
    return z ? z : 1;
}

/* The options that stay the same for every request of a client. */
static bool setup_easy(struct store_os_http *h)
{
    const struct store_os_http_shared *sh = h->sh;
    CURL *e = h->easy;
    bool bad = curl_easy_setopt(e, CURLOPT_SHARE, sh->share) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_PROXY, "") != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, HTTP_KEEPIDLE_S) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, HTTP_KEEPINTVL_S) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)sh->connect_timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)sh->request_timeout_ms) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, sh->is_tls_verify ? 1L : 0L) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, sh->is_tls_verify ? 2L : 0L) != CURLE_OK;
    if (sh->ca_file != NULL) {
        bad |= curl_easy_setopt(e, CURLOPT_CAINFO, sh->ca_file) != CURLE_OK;
    }
    if (sh->username != NULL) {
        bad |= curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_USERNAME, sh->username) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_PASSWORD, sh->password ? sh->password : "") != CURLE_OK;
    }
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, h) != CURLE_OK;
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf) != CURLE_OK;
    return !bad;
}

int store_os_http_new(struct store_os_http_shared *sh, struct store_os_http **out)
{
    struct store_os_http *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return OST_ENOMEM;
    }
    h->sh = sh;
    buf_init(&h->url);
    h->rng = seed_rng(h);
    h->easy = curl_easy_init();
    if (h->easy == NULL) {
        goto fail;
    }
    /* An empty "Name:" makes libcurl drop a header it would add: Expect
     * for large bodies, and a form Content-Type for a PUT or POST sent
     * without a body. */
    h->hdr_nobody = curl_slist_append(NULL, "Expect:");
    if (h->hdr_nobody == NULL) {
        goto fail;
    }
    struct curl_slist *l = curl_slist_append(h->hdr_nobody, "Content-Type:");
    if (l == NULL) {
        goto fail;
    }
    h->hdr_nobody = l;
    h->hdr_json = curl_slist_append(NULL, "Content-Type: " HTTP_DEFAULT_CONTENT_TYPE);
    if (h->hdr_json == NULL) {
        goto fail;
    }
    l = curl_slist_append(h->hdr_json, "Expect:");
    if (l == NULL) {
        goto fail;
    }
    h->hdr_json = l;
    if (!setup_easy(h)) {
        goto fail;
    }
    *out = h;
    return 0;
fail:
    store_os_http_free(h);
    return OST_ENOMEM;
}

void store_os_http_free(struct store_os_http *h)
{
    if (h == NULL) {
        return;
    }
    if (h->easy != NULL) {
        curl_easy_cleanup(h->easy);
    }
    curl_slist_free_all(h->hdr_nobody);
    curl_slist_free_all(h->hdr_json);
    buf_fini(&h->url);
    free(h);
}

static int map_curl(const struct store_os_http *h, CURLcode cc)
{
    switch (cc) {
    case CURLE_OK:
        return 0;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return OST_EUNAVAIL;
    case CURLE_OPERATION_TIMEDOUT:
        return OST_ETIMEDOUT;
    case CURLE_OUT_OF_MEMORY:
        return OST_ENOMEM;
    case CURLE_WRITE_ERROR:
        return h->is_oom ? OST_ENOMEM : OST_EIO;
    case CURLE_URL_MALFORMAT:
        return OST_EINVAL;
    default:
        /* TLS failures (CURLE_SSL_*, CURLE_PEER_FAILED_VERIFICATION) and
         * whatever else libcurl reports, such as a reply that is not HTTP:
         * none of these goes away by asking again. */
        return OST_EIO;
    }
}

/* Sets the method and the body. Every call sets them all again, since the
 * easy handle keeps its options from the previous request. */
static bool set_method(CURL *e, const char *method, const char *body, size_t body_len)
{
    bool is_head = strcmp(method, "HEAD") == 0;
    bool is_post = strcmp(method, "POST") == 0;
    bool has_body = body != NULL || is_post || strcmp(method, "PUT") == 0;
    /* HTTPGET resets NOBODY and the POST method left by the last call. */
    bool bad = curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK;
    if (is_head) {
        bad |= curl_easy_setopt(e, CURLOPT_NOBODY, 1L) != CURLE_OK;
    } else if (has_body) {
        /* A PUT or POST without a body still says Content-Length: 0. */
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                                (curl_off_t)(body ? body_len : 0)) != CURLE_OK;
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "") != CURLE_OK;
    }
    bool is_native = is_head || (is_post && has_body) || (strcmp(method, "GET") == 0 && !has_body);
    bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, is_native ? NULL : method) != CURLE_OK;
    return !bad;
}

/* One try. Writes *status only on success. */
static int perform(struct store_os_http *h, const char *method, const char *path,
                   const char *content_type, const char *body, size_t body_len, long *status,
                   struct buf *resp)
{
    CURL *e = h->easy;
    struct curl_slist *custom = NULL;
    if (method == NULL || path == NULL || path[0] != '/') {
        return OST_EINVAL;
    }
    buf_reset(&h->url);
    int rc = buf_append_str(&h->url, h->sh->url);
    rc = rc == 0 ? buf_append_str(&h->url, path) : rc;
    if (rc < 0 || buf_cstr(&h->url) == NULL) {
        return OST_ENOMEM;
    }
    struct curl_slist *hdrs = h->hdr_nobody;
    if (body != NULL && content_type != NULL &&
        strcmp(content_type, HTTP_DEFAULT_CONTENT_TYPE) != 0) {
        struct buf line;
        buf_init(&line);
        if (buf_printf(&line, "Content-Type: %s", content_type) == 0 && buf_cstr(&line)) {
            custom = curl_slist_append(NULL, line.data);
        }
        struct curl_slist *l = custom ? curl_slist_append(custom, "Expect:") : NULL;
        buf_fini(&line);
        if (l == NULL) {
            rc = OST_ENOMEM;
            goto out;
        }
        hdrs = custom = l;
    } else if (body != NULL) {
        hdrs = h->hdr_json;
    }
    if (curl_easy_setopt(e, CURLOPT_URL, h->url.data) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK ||
        !set_method(e, method, body, body_len)) {
        rc = OST_ENOMEM;
        goto out;
    }
    buf_reset(resp);
    h->resp = resp;
    h->is_oom = false;
    h->errbuf[0] = '\0';
    CURLcode cc = curl_easy_perform(e);
    if (cc != CURLE_OK && h->errbuf[0] == '\0') {
        snprintf(h->errbuf, sizeof(h->errbuf), "%s", curl_easy_strerror(cc));
    }
    rc = map_curl(h, cc);
    if (rc == 0) {
        long code = 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        *status = code;
    }
out:
    /* Keep no pointer into the caller's memory or into custom past the call. */
    h->resp = NULL;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(custom);
    return rc;
}

int store_os_http_request(struct store_os_http *h, const char *method, const char *path,
                          const char *content_type, const char *body, size_t body_len, long *status,
                          struct buf *resp)
{
    h->last_tries = 1;
    return perform(h, method, path, content_type, body, body_len, status, resp);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Sleeps until the CLOCK_MONOTONIC time until_ns. An absolute deadline,
 * so a signal only shortens the wait by the time it takes to come back. */
static void sleep_until(uint64_t until_ns)
{
    struct timespec ts = { .tv_sec = (time_t)(until_ns / 1000000000u),
                           .tv_nsec = (long)(until_ns % 1000000000u) };
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
    }
}

static uint64_t next_rand(struct store_os_http *h)
{
    uint64_t x = h->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    h->rng = x;
    return x;
}

int store_os_http_request_retry(struct store_os_http *h, const char *method, const char *path,
                                const char *content_type, const char *body, size_t body_len,
                                long *status, struct buf *resp)
{
    /* Nanoseconds, so the bound holds to the millisecond it is given in. */
    uint64_t deadline = now_ns() + (uint64_t)h->sh->retry_max_ms * 1000000u;
    uint64_t backoff_ms = STORE_OS_HTTP_BACKOFF_FIRST_MS;
    unsigned tries = 0;
    long st = 0;
    int rc;
    for (;;) {
        rc = perform(h, method, path, content_type, body, body_len, &st, resp);
        tries++;
        if (!store_os_http_is_transient(rc, st)) {
            break;
        }
        uint64_t now = now_ns();
        if (now >= deadline) {
            break;
        }
        uint64_t wait_ms = backoff_ms + next_rand(h) % (backoff_ms / 4 + 1);
        uint64_t until = now + wait_ms * 1000000u;
        sleep_until(until < deadline ? until : deadline);
        backoff_ms = backoff_ms * 2 < STORE_OS_HTTP_BACKOFF_MAX_MS ? backoff_ms * 2
                                                                   : STORE_OS_HTTP_BACKOFF_MAX_MS;
    }
    h->last_tries = tries;
    if (rc == 0) {
        *status = st;
    }
    return rc;
}

bool store_os_http_is_transient(int rc, long status)
{
    if (rc == OST_EUNAVAIL || rc == OST_ETIMEDOUT) {
        return true;
    }
    return rc == 0 && (status == 429 || status == 502 || status == 503 || status == 504);
}

unsigned store_os_http_last_tries(const struct store_os_http *h)
{
    return h->last_tries;
}

const char *store_os_http_url(const struct store_os_http_shared *sh)
{
    return sh->url;
}

const char *store_os_http_last_error(const struct store_os_http *h)
{
    return h->errbuf;
}
