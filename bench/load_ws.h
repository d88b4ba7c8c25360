/*
 * A minimal RFC 6455 WebSocket client for bench/load: plain TCP, one
 * non-blocking socket per connection, driven by the caller's epoll loop
 * (edge-triggered: each call reads or writes until the socket would block).
 *
 * It does the HTTP upgrade (a random Sec-WebSocket-Key, and the 101 answer
 * checked against SHA-1 + base64 of the key), sends masked text frames,
 * and reads unmasked server frames of any length, joining continuation
 * frames, answering ping with pong and close with close. No extensions.
 *
 * Owned by: the thread that opened it (the load generator has only one).
 * A struct load_ws is caller storage; load_ws_fini releases what it holds.
 */
#ifndef OSTRICH_BENCH_LOAD_WS_H
#define OSTRICH_BENCH_LOAD_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Largest message accepted from the server, in bytes. */
#define LOAD_WS_MAX_MESSAGE (64u << 20)

enum load_ws_state {
    LOAD_WS_CONNECTING = 0, /* TCP connect or upgrade request in progress */
    LOAD_WS_OPEN = 1,       /* the server answered 101 with the right accept key */
    LOAD_WS_CLOSING = 2,    /* we sent a close frame and wait for the server's */
    LOAD_WS_CLOSED = 3,     /* the socket is closed; err says why when it failed */
};

/* Called once per complete text message; data is borrowed for the call.
 * The callback may send on ws. A negative return stops the read and is
 * returned by load_ws_on_readable. */
typedef int (*load_ws_message_fn)(void *arg, const char *data, size_t len);

/* Owned by: the load generator's thread. */
struct load_ws {
    int fd;
    enum load_ws_state state;
    bool is_fragmented;     /* a message continues in the next frames */
    char accept[32];        /* the Sec-WebSocket-Accept value we expect */
    struct buf tx;          /* bytes not yet written, from tx_off */
    size_t tx_off;
    struct buf rx;          /* bytes read and not yet parsed, from rx_off */
    size_t rx_off;
    struct buf frag;        /* a fragmented message being joined */
    uint64_t rng;           /* masking keys (xorshift seeded by getrandom) */
    const char *err;        /* static text: why the connection failed */
};

/* Starts a non-blocking connect to ipv4:port and queues the upgrade request
 * for path. On success ws->fd is ready to be added to epoll (EPOLLIN |
 * EPOLLOUT | EPOLLRDHUP | EPOLLET); the request goes out from
 * load_ws_on_writable. Returns 0, OST_EINVAL (bad address), OST_ENOMEM, or
 * a negative errno from socket/connect (nothing is left open then). */
int load_ws_open(struct load_ws *ws, const char *ipv4, uint16_t port, const char *path);

/* Closes the socket (if open) and frees the buffers. Safe to call twice. */
void load_ws_fini(struct load_ws *ws);

/* Queues one masked text frame whose payload is the n parts joined, then
 * writes what the socket takes. Returns 0, OST_ENOMEM, OST_ESHUTDOWN (not
 * open) or OST_EIO (write failed; ws->err says why). Never blocks. */
int load_ws_send_text(struct load_ws *ws, const char *const *parts, const size_t *lens,
                      size_t n);

/* Queues a close frame (status 1000); the connection closes when the server
 * answers. Returns 0 or a code as load_ws_send_text. */
int load_ws_send_close(struct load_ws *ws);

/* Handles EPOLLOUT: completes the connect, then writes pending bytes.
 * Returns 0, or OST_EIO with ws->err set and the socket closed. */
int load_ws_on_writable(struct load_ws *ws);

/* Handles EPOLLIN: reads until the socket would block, completes the
 * handshake and calls fn(arg, ...) for each text message. Returns 0, the
 * callback's negative code, or OST_EIO with ws->err set (protocol error,
 * read error, connection closed by the peer without a close handshake);
 * the socket is closed then. A clean close handshake returns 0 with the
 * state LOAD_WS_CLOSED. */
int load_ws_on_readable(struct load_ws *ws, load_ws_message_fn fn, void *arg);

/* Bytes queued and not yet written. */
size_t load_ws_pending(const struct load_ws *ws);

#endif
