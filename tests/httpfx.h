/*
 * Test support: a scripted HTTP/1.1 server on 127.0.0.1 with an ephemeral
 * port, served by its own thread. Each request it reads takes the next
 * step of the script (an answer, or a way of failing); the requests are
 * recorded for the test to inspect. Connections are kept alive, several at
 * a time, and counted, so a test can assert that a client reuses one.
 * Bodies are framed by Content-Length only (no chunked encoding).
 *
 * Threads: httpfx_start and httpfx_stop on the test's thread; the queries
 * from any thread (they lock). The script is copied at start.
 */
#ifndef OSTRICH_TESTS_HTTPFX_H
#define OSTRICH_TESTS_HTTPFX_H

#include <stddef.h>
#include <stdint.h>

enum httpfx_action {
    HTTPFX_RESPOND, /* status and body, Content-Length framed, kept alive */
    HTTPFX_RESET,   /* close with SO_LINGER 0 after reading the request: RST */
    HTTPFX_HANG,    /* read the request, never answer until the client or stop closes */
    HTTPFX_CLOSE,   /* close without answering: FIN */
};

struct httpfx_step {
    enum httpfx_action action;
    int status;       /* HTTPFX_RESPOND */
    const char *body; /* HTTPFX_RESPOND; NULL: empty */
};

/* One request as received. Header values are "" when absent and cut at
 * the array's size. */
struct httpfx_req {
    char method[16];
    char path[512];
    char authorization[256];
    char content_type[128];
    char expect[64];
    unsigned conn_no; /* 1 for the first connection accepted, and so on */
    char *body;       /* body_len bytes, NUL-terminated */
    size_t body_len;
};

struct httpfx;

/* Starts a server that answers with steps[0..n) in order; once they are
 * used up it answers 500 "httpfx: script exhausted". Returns 0 with *out
 * set, or a negative code. */
int httpfx_start(const struct httpfx_step *steps, size_t n, struct httpfx **out);

/* Stops the thread, joins it, closes every socket and frees fx. Views
 * from httpfx_request end here. NULL does nothing. */
void httpfx_stop(struct httpfx *fx);

uint16_t httpfx_port(const struct httpfx *fx);

/* "http://127.0.0.1:<port>" into out[0..cap). */
void httpfx_url(const struct httpfx *fx, char *out, size_t cap);

/* How many requests have been read so far, and how many connections
 * accepted. A request is recorded before the server acts on it, so a
 * client that has its answer (or failure) finds its request here. */
size_t httpfx_request_count(struct httpfx *fx);
unsigned httpfx_connection_count(struct httpfx *fx);

/* The i-th request (from 0), a view valid until httpfx_stop; NULL when
 * there is none yet. */
const struct httpfx_req *httpfx_request(struct httpfx *fx, size_t i);

#endif
