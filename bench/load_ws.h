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

/* Called once per complete text message of connection conn (its index in
 * the pool); data is borrowed for the call. The callback may send on any
 * connection of the pool. A negative return stops the loop and is returned
 * by load_ws_pool_run. */
typedef int (*load_ws_message_fn)(void *arg, uint32_t conn, const char *data, size_t len);

/* The caller's completion test for load_ws_pool_run. */
typedef bool (*load_ws_done_fn)(void *arg);

struct load_ws; /* one connection, private to load_ws.c */

/* n connections served by one epoll loop. Caller storage; owned by the
 * thread that opened it, which is the only one that may call these. */
struct load_ws_pool {
    int ep;
    uint32_t n, n_open;
    struct load_ws *ws; /* n connections; NULL when nothing is open */
    load_ws_message_fn fn;
    void *arg;
    const char *failure; /* static text: why the last call failed */
};

/* Opens n connections to ipv4:port (path "/") and waits until every one is
 * upgraded or until deadline_ns (load_ws_now_ns clock). fn(arg, ...) gets
 * every message from then on. Returns 0; OST_EINVAL (bad address),
 * OST_ENOMEM, OST_ETIMEDOUT, OST_EIO or a negative errno with p->failure
 * set, and then nothing is left open. */
int load_ws_pool_open(struct load_ws_pool *p, uint32_t n, const char *ipv4, uint16_t port,
                      load_ws_message_fn fn, void *arg, uint64_t deadline_ns);

/* Serves the connections until is_done(arg) holds or deadline_ns passes.
 * Messages queued by the callback are written once per turn of the loop.
 * Returns 0, OST_ETIMEDOUT, the callback's negative code, or OST_EIO with
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
