/*
 * A growable byte buffer. Owned by one thread at a time; the caller owns the
 * struct and releases it with buf_fini. Contents are not NUL-terminated
 * unless buf_cstr is called.
 */
#ifndef OSTRICH_COMMON_BUF_H
#define OSTRICH_COMMON_BUF_H

#include <stddef.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
};

void buf_init(struct buf *b);
void buf_fini(struct buf *b);

/* Empties the buffer and keeps its memory for reuse. */
static inline void buf_reset(struct buf *b)
{
    b->len = 0;
}

/* Makes room for at least extra more bytes. Returns 0 or OST_ENOMEM. */
int buf_reserve(struct buf *b, size_t extra);

/* Appends bytes. Returns 0 or OST_ENOMEM (the buffer is unchanged then). */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_append_str(struct buf *b, const char *s);
int buf_append_char(struct buf *b, char c);
__attribute__((format(printf, 2, 3))) int buf_printf(struct buf *b, const char *fmt, ...);

/* NUL-terminates the contents (the terminator is not counted in len) and
 * returns them, or NULL when memory runs out. */
const char *buf_cstr(struct buf *b);

#endif
