/*
 * HTTP for the OpenSearch backend, over libcurl.
 *
 * A store opens one struct store_os_http_shared; each store handle (one
 * thread: the storage thread, or a reader thread) opens its own client on
 * it. The clients of one shared object share DNS answers and TLS sessions
 * through a libcurl share object whose locks are the only state behind a
 * mutex here (libcurl calls them; we never hold one across a request).
 * Each client keeps its own connection alive between its requests:
 * libcurl's shared connection cache is not safe across threads (its
 * KNOWN_BUGS), so connections are not shared. A client is used by one
 * thread at a time.
 *
 * Failures come back as codes, never as logs from here: the backend knows
 * whether a failure is news (the cluster just went away) and logs once.
 * Credentials are never logged or put in error texts.
 *
 * Ownership: the options are copied; body and path are borrowed for the
 * call; the response buffer is the caller's.
 */
#ifndef OSTRICH_STORE_STORE_OS_HTTP_H
#define OSTRICH_STORE_STORE_OS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* Defaults when an option below is 0. */
#define STORE_OS_HTTP_CONNECT_TIMEOUT_MS 2000
#define STORE_OS_HTTP_REQUEST_TIMEOUT_MS 30000
#define STORE_OS_HTTP_RETRY_MAX_MS       10000
/* The backoff between tries of store_os_http_request_retry: the first
 * wait, doubled after each try up to the cap, each with up to a quarter
 * added at random so that many relays do not retry in step. */
#define STORE_OS_HTTP_BACKOFF_FIRST_MS 100
#define STORE_OS_HTTP_BACKOFF_MAX_MS   2000

struct store_os_http_opts {
    const char *url;             /* base URL, "http://host:port" or "https://...", a
                                    trailing '/' is dropped; no user:password@, no
                                    query or fragment (credentials go below) */
    const char *username;        /* NULL or "": no basic authentication */
    const char *password;        /* NULL: "" */
    const char *ca_file;         /* NULL or "": the system's CA certificates */
    bool is_tls_verify;          /* verify the server's certificate and host name */
    uint32_t connect_timeout_ms; /* 0: the default above */
    uint32_t request_timeout_ms; /* a whole request, connect included; 0: default */
    uint32_t retry_max_ms;       /* 0: default; see store_os_http_request_retry */
};

/* Owned by: the store; read-only between new and free except inside
 * libcurl's share locks. */
struct store_os_http_shared;

/* Owned by: the thread that uses it. */
struct store_os_http;

/* Lifecycle */

/* Initialises libcurl once for the process (thread-safe) and makes a
 * shared object with a copy of o. Does not connect. Returns 0 with *out
 * set, OST_EINVAL (no URL, or a URL that is not http:// or https:// with a
 * host, or that carries credentials, a query or a fragment), OST_ENOMEM,
 * or OST_EIO when libcurl cannot be initialised. */
int store_os_http_shared_new(const struct store_os_http_opts *o, struct store_os_http_shared **out);

/* Frees sh. Every client made on it must be freed first. NULL does
 * nothing. */
void store_os_http_shared_free(struct store_os_http_shared *sh);

/* Makes a client on sh for the calling thread. Returns 0 with *out set or
 * OST_ENOMEM. */
int store_os_http_new(struct store_os_http_shared *sh, struct store_os_http **out);

/* Frees h. NULL does nothing. */
void store_os_http_free(struct store_os_http *h);

/* Operations */

/* Sends one request: method ("GET", "HEAD", "PUT", "POST", "DELETE") to
 * the base URL followed by path (which starts with '/' and may hold a
 * query string), with body[0..body_len) when body is not NULL, sent with
 * Content-Type content_type (NULL: "application/json"). Replaces the
 * contents of resp with the response body. Returns 0 with *status set to
 * the HTTP status, whatever it is (a 4xx or 5xx is an answer, not a
 * transport failure); or, with *status untouched:
 *   OST_EUNAVAIL  no connection: refused, reset, closed before an answer,
 *                 host not found;
 *   OST_ETIMEDOUT no complete answer within request_timeout_ms (or no
 *                 connection within connect_timeout_ms);
 *   OST_EIO       TLS failure (certificate not trusted, handshake) or
 *                 another transport error;
 *   OST_EINVAL    path does not start with '/', or makes a URL libcurl
 *                 refuses (a caller's bug: never retried);
 *   OST_ENOMEM.
 * The easy handle is reused, so consecutive requests share one kept-alive
 * connection when the server allows it. No proxy is used and redirects
 * are not followed (a 3xx is returned as a status). On failure resp may
 * hold part of a body. Blocks for at most request_timeout_ms. */
int store_os_http_request(struct store_os_http *h, const char *method, const char *path,
                          const char *content_type, const char *body, size_t body_len, long *status,
                          struct buf *resp);

/* store_os_http_request, tried again while the outcome is transient (see
 * store_os_http_is_transient), with the backoff above between tries, until
 * retry_max_ms has passed since the first try: no new try starts after
 * that, and the wait before one is cut so it does not pass it. Returns the
 * last try's outcome, as store_os_http_request. For requests that are safe
 * to repeat: every request the backend makes is (a repeated create meets
 * its own document and reports a conflict, which the backend reads as "stored"
 * only after checking it is the same event). */
int store_os_http_request_retry(struct store_os_http *h, const char *method, const char *path,
                                const char *content_type, const char *body, size_t body_len,
                                long *status, struct buf *resp);

/* Queries */

/* True when a request that ended with rc (and, when rc is 0, HTTP status)
 * may succeed if sent again: OST_EUNAVAIL, OST_ETIMEDOUT, and the statuses
 * 429 (too many requests), 502, 503 and 504. */
bool store_os_http_is_transient(int rc, long status);

/* How many tries the last call on h made (1 for store_os_http_request;
 * for tests and logs). */
unsigned store_os_http_last_tries(const struct store_os_http *h);

/* What went wrong in the last request on h that failed in transport
 * (libcurl's message, e.g. "SSL certificate problem: self-signed
 * certificate"), "" when it got an answer. Borrowed until the next request
 * on h. For logs; it never holds credentials. */
const char *store_os_http_last_error(const struct store_os_http *h);

/* The base URL of sh, without credentials, for logs. */
const char *store_os_http_url(const struct store_os_http_shared *sh);

#endif
