/*
 * A minimal RFC 6455 WebSocket client for bench/load: plain TCP, one
 * non-blocking socket per connection, all served by one epoll loop
 * (edge-triggered: each wakeup reads or writes until the socket would block).
 *
 * It does the HTTP upgrade (a random Sec-WebSocket-Key, and the 101 answer
 * checked against SHA-1 + base64 of the key), sends masked text frames,
 * and reads unmasked server frames of any length, joining continuation
 * frames, answering ping with pong and close with close. No extensions.
 *
 * A pool of connections shares one epoll descriptor and one thread: the
 * load generator's. The pool is caller storage; load_ws_pool_fini closes
 * and releases everything it holds.
 */
#ifndef OSTRICH_BENCH_LOAD_WS_H
#define OSTRICH_BENCH_LOAD_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Connections that may be connecting or upgrading at once: opening 10,000
 * connections all at once would overrun the server's accept backlog. */
#define LOAD_WS_MAX_CONNECTING 200

/* Called once per complete text message of connection conn (its index in
 * the pool); data is borrowed for the call. The callback may send on any
 * connection of the pool. A negative return stops the loop and is returned
 * by load_ws_pool_run. */
typedef int (*load_ws_message_fn)(void *arg, uint32_t conn, const char *data, size_t len);

/* Called at the start of every turn of the loop with the current time; may
 * send on any connection. Sets *next_ns to the time it wants to be called
 * again at the latest (0: no wish). A negative return stops the loop. */
typedef int (*load_ws_tick_fn)(void *arg, uint64_t now_ns, uint64_t *next_ns);

/* The caller's completion test for load_ws_pool_run. */
typedef bool (*load_ws_done_fn)(void *arg);

struct load_ws; /* one connection, private to load_ws.c */

/* n connections served by one epoll loop. Caller storage; owned by the
 * thread that opened it, which is the only one that may call these. */
struct load_ws_pool {
    int ep;
    uint32_t n;         /* connections asked for */
    uint32_t n_started; /* connections whose connect was started */
    uint32_t n_open;    /* connections upgraded */
    struct load_ws *ws; /* n connections; NULL when nothing is open */
    uint32_t *dirty;    /* connections with bytes queued since the last flush */
    uint32_t n_dirty;
    load_ws_message_fn fn;
    load_ws_tick_fn tick;
    void *arg;
    char host[64];
    uint16_t port;
    uint64_t rx_bytes;    /* bytes read from every connection, headers included */
    const char *failure;  /* static text: why the last call failed */
    uint32_t failed_conn; /* the connection that failed, with failure */
    char close_text[96];  /* its close frame's status and reason, or "" */
};

/* Opens n connections to ipv4:port (path "/"), at most
 * LOAD_WS_MAX_CONNECTING at a time, and waits until every one is upgraded
 * or until deadline_ns (load_ws_now_ns clock). fn(arg, ...) gets every
 * message from then on. Returns 0; OST_EINVAL (bad address), OST_ENOMEM,
 * OST_ETIMEDOUT, OST_EIO or a negative errno with p->failure set, and then
 * nothing is left open. */
int load_ws_pool_open(struct load_ws_pool *p, uint32_t n, const char *ipv4, uint16_t port,
                      load_ws_message_fn fn, void *arg, uint64_t deadline_ns);

/* Installs a tick function (NULL removes it) for the next runs. */
void load_ws_pool_set_tick(struct load_ws_pool *p, load_ws_tick_fn tick);

/* Serves the connections until is_done(arg) holds or deadline_ns passes.
 * Messages queued by the callbacks are written once per turn of the loop.
 * Returns 0, OST_ETIMEDOUT, a callback's negative code, or OST_EIO with
 * p->failure set when a connection failed or the relay closed it. */
int load_ws_pool_run(struct load_ws_pool *p, load_ws_done_fn is_done, uint64_t deadline_ns);

/* Sends a close frame on each open connection, waits up to wait_ns for the
 * close handshakes, then closes every socket and frees everything. Does
 * nothing on a zeroed pool or one with nothing open. */
void load_ws_pool_fini(struct load_ws_pool *p, uint64_t wait_ns);

/* Queues one masked text frame on connection conn whose payload is the n
 * parts joined (the parts are copied). It is written by the loop, so a
 * callback that sends many messages makes one system call per connection.
 * Returns 0, OST_ENOMEM or OST_ESHUTDOWN (the connection is not open).
 * Never blocks. */
int load_ws_send_text(struct load_ws_pool *p, uint32_t conn, const char *const *parts,
                      const size_t *lens, size_t n);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t load_ws_now_ns(void);

#endif
