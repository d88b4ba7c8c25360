/*
 * Tests for common/log: the exact text, logfmt and JSON lines, escaping,
 * invalid UTF-8, truncation of long messages, and connection lines. Each
 * test captures what one call writes by putting a pipe in place of stderr.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <pthread.h>
#include <unistd.h>

#include <stdarg.h>

#include "check.h"
#include "common/jdoc.h"
#include "common/log.h"

/* What one log call wrote, without its timestamp (checked separately). */
struct captured {
    char line[LOG_LINE_MAX + 64];
    size_t len;                   /* the whole line, newline included */
    char ts[32];                  /* the timestamp */
    char rest[LOG_LINE_MAX + 64]; /* the line with the timestamp cut out */
};

/* Starts capturing stderr; returns the saved descriptor, or -1. */
static int capture_begin(int pipe_fds[2])
{
    if (pipe(pipe_fds) < 0) {
        return -1;
    }
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    if (saved < 0 || dup2(pipe_fds[1], STDERR_FILENO) < 0) {
        return -1;
    }
    close(pipe_fds[1]);
    return saved;
}

/* Restores stderr and reads what was written (one line is far below the
 * pipe's buffer, so the writer never blocked). */
static size_t capture_end(int saved, int pipe_fds[2], char *out, size_t cap)
{
    dup2(saved, STDERR_FILENO);
    close(saved);
    size_t len = 0;
    ssize_t n;
    while (len < cap - 1 && (n = read(pipe_fds[0], out + len, cap - 1 - len)) > 0) {
        len += (size_t)n;
    }
    close(pipe_fds[0]);
    out[len] = '\0';
    return len;
}

/* A timestamp as the logger writes it: 2026-11-23T12:00:00.123Z. */
static bool is_stamp(const char *s)
{
    const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (size_t i = 0; shape[i] != '\0'; i++) {
        bool ok = shape[i] == 'd' ? (s[i] >= '0' && s[i] <= '9') : s[i] == shape[i];
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* Logs one line in format (with lc when not NULL) and splits it. The
 * timestamp is found after prefix ("" for text, "ts=" for logfmt,
 * {"ts":" for JSON) and cut out of rest. */
__attribute__((format(printf, 4, 5))) static bool
log_one(struct captured *c, enum log_format format, const struct log_conn *lc, const char *fmt, ...)
{
    static const char *const prefixes[] = { "", "ts=", "{\"ts\":\"" };
    int fds[2];
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_set_format(format);
    int saved = capture_begin(fds);
    if (saved < 0) {
        return false;
    }
    if (lc != NULL) {
        log_write_conn(LOG_LEVEL_INFO, lc, "%s", msg);
    } else {
        log_write(LOG_LEVEL_INFO, "%s", msg);
    }
    c->len = capture_end(saved, fds, c->line, sizeof(c->line));
    log_set_format(LOG_FORMAT_TEXT);
    size_t plen = strlen(prefixes[format]);
    if (c->len < plen + 24 || memcmp(c->line, prefixes[format], plen) != 0 ||
        !is_stamp(c->line + plen)) {
        fprintf(stderr, "    unexpected line: %s", c->line);
        return false;
    }
    memcpy(c->ts, c->line + plen, 24);
    c->ts[24] = '\0';
    snprintf(c->rest, sizeof(c->rest), "%.*s%s", (int)plen, c->line, c->line + plen + 24);
    return true;
}

/* True when s[0..n) is well-formed UTF-8 (checked independently of the
 * logger, by decoding code points). */
static bool valid_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (k == 0 || i + k > n) {
            return false;
        }
        unsigned cp = k == 1 ? c : c & (0x7F >> k);
        for (size_t j = 1; j < k; j++) {
            if ((p[i + j] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i + j] & 0x3F);
        }
        static const unsigned min_cp[] = { 0, 0, 0x80, 0x800, 0x10000 };
        if (cp < min_cp[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return false;
        }
        i += k;
    }
    return true;
}

static void name_thread(void)
{
    pthread_setname_np(pthread_self(), "ost-test");
}

static void test_text(void)
{
    struct captured c;
    name_thread();
    CHECK(log_one(&c, LOG_FORMAT_TEXT, NULL, "hello %d", 42));
    CHECK_STR_EQ(c.rest, " INFO  ost-test   hello 42\n");
    struct log_conn lc = { .conn_id = 12, .addr = "1.2.3.4" };
    CHECK(log_one(&c, LOG_FORMAT_TEXT, &lc, "closed"));
    CHECK_STR_EQ(c.rest, " INFO  ost-test   [c:12 1.2.3.4] closed\n");
    lc.addr = NULL;
    CHECK(log_one(&c, LOG_FORMAT_TEXT, &lc, "closed"));
    CHECK_STR_EQ(c.rest, " INFO  ost-test   [c:12] closed\n");
    lc.addr = "";
    CHECK(log_one(&c, LOG_FORMAT_TEXT, &lc, "closed"));
    CHECK_STR_EQ(c.rest, " INFO  ost-test   [c:12] closed\n");
    /* Quotes stay; control characters are escaped, so a line stays one
     * line; invalid bytes become U+FFFD. */
    CHECK(log_one(&c, LOG_FORMAT_TEXT, NULL, "a \"b\" \\ c\nd\te\x01\x7f\xff"));
    CHECK_STR_EQ(c.rest, " INFO  ost-test   a \"b\" \\ c\\nd\\te\\u0001\\u007f\xEF\xBF\xBD\n");
    /* Every level's name, padded to the same width. */
    const char *const want[] = { " ERROR ost-test   x\n", " WARN  ost-test   x\n",
                                 " INFO  ost-test   x\n", " DEBUG ost-test   x\n" };
    for (int lv = LOG_LEVEL_ERROR; lv <= LOG_LEVEL_DEBUG; lv++) {
        int fds[2];
        char line[256];
        int saved = capture_begin(fds);
        CHECK(saved >= 0);
        log_write((enum log_level)lv, "x");
        size_t n = capture_end(saved, fds, line, sizeof(line));
        CHECK(n > 24 && is_stamp(line));
        CHECK_STR_EQ(line + 24, want[lv]);
    }
}

static void test_logfmt(void)
{
    struct captured c;
    name_thread();
    CHECK(log_one(&c, LOG_FORMAT_LOGFMT, NULL, "hello 42"));
    CHECK_STR_EQ(c.rest, "ts= level=info thread=ost-test msg=\"hello 42\"\n");
    /* A value without spaces, quotes, '=' or control characters is bare. */
    CHECK(log_one(&c, LOG_FORMAT_LOGFMT, NULL, "stopped"));
    CHECK_STR_EQ(c.rest, "ts= level=info thread=ost-test msg=stopped\n");
    CHECK(log_one(&c, LOG_FORMAT_LOGFMT, NULL, "caf\xC3\xA9"));
    CHECK_STR_EQ(c.rest, "ts= level=info thread=ost-test msg=caf\xC3\xA9\n");
    CHECK(log_one(&c, LOG_FORMAT_LOGFMT, NULL, "%s", ""));
    CHECK_STR_EQ(c.rest, "ts= level=info thread=ost-test msg=\"\"\n");
    CHECK(log_one(&c, LOG_FORMAT_LOGFMT, NULL, "a=b"));
    CHECK_STR_EQ(c.rest, "ts= level=info thread=ost-test msg=\"a=b\"\n");
    CHECK(log_one(&c, LOG_FORMAT_LOGFMT, NULL, "say\"hi\""));
    CHECK_STR_EQ(c.rest, "ts= level=info thread=ost-test msg=\"say\\\"hi\\\"\"\n");
    /* A backslash alone needs no quotes; inside quotes it is escaped. */
    CHECK(log_one(&c, LOG_FORMAT_LOGFMT, NULL, "a\\b"));
    CHECK_STR_EQ(c.rest, "ts= level=info thread=ost-test msg=a\\b\n");
    CHECK(log_one(&c, LOG_FORMAT_LOGFMT, NULL, "a\\b c\r\n\x1b\xC2\x85"));
    CHECK_STR_EQ(c.rest, "ts= level=info thread=ost-test msg=\"a\\\\b c\\r\\n\\u001b\\u0085\"\n");
    /* Invalid bytes force quotes and become U+FFFD. */
    CHECK(log_one(&c, LOG_FORMAT_LOGFMT, NULL, "x\xC3"));
    CHECK_STR_EQ(c.rest, "ts= level=info thread=ost-test msg=\"x\xEF\xBF\xBD\"\n");
    struct log_conn lc = { .conn_id = 12, .addr = "1.2.3.4" };
    CHECK(log_one(&c, LOG_FORMAT_LOGFMT, &lc, "closed by peer"));
    CHECK_STR_EQ(c.rest,
                 "ts= level=info thread=ost-test conn=12 addr=1.2.3.4 msg=\"closed by peer\"\n");
    lc.addr = "::1";
    CHECK(log_one(&c, LOG_FORMAT_LOGFMT, &lc, "x"));
    CHECK_STR_EQ(c.rest, "ts= level=info thread=ost-test conn=12 addr=::1 msg=x\n");
    lc.addr = "a b";
    CHECK(log_one(&c, LOG_FORMAT_LOGFMT, &lc, "x"));
    CHECK_STR_EQ(c.rest, "ts= level=info thread=ost-test conn=12 addr=\"a b\" msg=x\n");
    lc.addr = NULL;
    CHECK(log_one(&c, LOG_FORMAT_LOGFMT, &lc, "x"));
    CHECK_STR_EQ(c.rest, "ts= level=info thread=ost-test conn=12 msg=x\n");
}

/* Parses a JSON line with jdoc and checks its fields. */
static bool json_fields(const char *line, size_t len, const char *msg, int64_t conn,
                        const char *addr)
{
    struct jdoc *d = NULL;
    bool ok = false;
    size_t n;
    int64_t id;
    if (jdoc_parse(line, len, 4, &d) < 0) {
        fprintf(stderr, "    not JSON: %s", line);
        return false;
    }
    const struct jdoc_val *root = jdoc_root(d);
    const struct jdoc_val *v_msg = jdoc_get(root, "msg");
    const struct jdoc_val *v_level = jdoc_get(root, "level");
    const struct jdoc_val *v_thread = jdoc_get(root, "thread");
    const struct jdoc_val *v_conn = jdoc_get(root, "conn");
    const struct jdoc_val *v_addr = jdoc_get(root, "addr");
    const char *s;
    if (v_msg == NULL || v_level == NULL || v_thread == NULL || jdoc_get(root, "ts") == NULL) {
        goto out;
    }
    s = jdoc_str(v_msg, &n);
    if (s == NULL || n != strlen(msg) || memcmp(s, msg, n) != 0) {
        fprintf(stderr, "    msg is \"%.*s\", want \"%s\"\n", (int)n, s ? s : "", msg);
        goto out;
    }
    if ((conn < 0) != (v_conn == NULL) ||
        (v_conn != NULL && !(jdoc_int(v_conn, &id) && id == conn))) {
        goto out;
    }
    if ((addr == NULL) != (v_addr == NULL)) {
        goto out;
    }
    if (addr != NULL) {
        s = jdoc_str(v_addr, &n);
        if (s == NULL || n != strlen(addr) || memcmp(s, addr, n) != 0) {
            goto out;
        }
    }
    ok = true;
out:
    jdoc_free(d);
    return ok;
}

static void test_json(void)
{
    struct captured c;
    name_thread();
    CHECK(log_one(&c, LOG_FORMAT_JSON, NULL, "hello 42"));
    CHECK_STR_EQ(c.rest,
                 "{\"ts\":\"\",\"level\":\"info\",\"thread\":\"ost-test\",\"msg\":\"hello 42\"}\n");
    CHECK(json_fields(c.line, c.len, "hello 42", -1, NULL));
    struct log_conn lc = { .conn_id = 12, .addr = "1.2.3.4" };
    CHECK(log_one(&c, LOG_FORMAT_JSON, &lc, "closed"));
    CHECK_STR_EQ(c.rest, "{\"ts\":\"\",\"level\":\"info\",\"thread\":\"ost-test\",\"conn\":12,"
                         "\"addr\":\"1.2.3.4\",\"msg\":\"closed\"}\n");
    CHECK(json_fields(c.line, c.len, "closed", 12, "1.2.3.4"));
    lc.conn_id = UINT64_MAX / 2;
    lc.addr = NULL;
    CHECK(log_one(&c, LOG_FORMAT_JSON, &lc, "x"));
    CHECK_STR_EQ(c.rest, "{\"ts\":\"\",\"level\":\"info\",\"thread\":\"ost-test\","
                         "\"conn\":9223372036854775807,\"msg\":\"x\"}\n");
    /* JSON string escapes; U+2028 and other printable characters stay. */
    const char *tricky = "q\"b\\s/\n\r\t\x01\x1f\x7f\xC2\x9F\xE2\x80\xA8";
    CHECK(log_one(&c, LOG_FORMAT_JSON, NULL, "%s", tricky));
    CHECK_STR_EQ(c.rest, "{\"ts\":\"\",\"level\":\"info\",\"thread\":\"ost-test\",\"msg\":"
                         "\"q\\\"b\\\\s/\\n\\r\\t\\u0001\\u001f\\u007f\\u009f\xE2\x80\xA8\"}\n");
    CHECK(json_fields(c.line, c.len, tricky, -1, NULL));
    /* Invalid UTF-8: every maximal ill-formed part becomes one U+FFFD (a
     * lone continuation byte, a truncated sequence, an overlong form, a
     * surrogate, a code point above U+10FFFF, bytes that never occur). */
    CHECK(log_one(&c, LOG_FORMAT_JSON, NULL,
                  "a\x80"
                  "b\xE2\x82"
                  "c\xC0\xAF"
                  "d\xED\xA0\x80"
                  "e\xF4\x90\x80\x80"
                  "f\xFE\xFF"));
    const char *fffd = "\xEF\xBF\xBD";
    char want[256];
    snprintf(want, sizeof(want), "a%sb%sc%s%sd%s%s%se%s%s%s%sf%s%s", fffd, fffd, fffd, fffd, fffd,
             fffd, fffd, fffd, fffd, fffd, fffd, fffd, fffd);
    CHECK(valid_utf8(c.line, c.len));
    CHECK(json_fields(c.line, c.len, want, -1, NULL));
}

/* A long message is cut at a character boundary, ends with "...", and the
 * line stays at most LOG_LINE_MAX bytes and valid in every format. */
static void test_truncation(void)
{
    static char big[3 * LOG_LINE_MAX];
    struct captured c;
    name_thread();
    /* Plain ASCII, then characters whose escapes are 6 bytes and 2 bytes,
     * and 3-byte UTF-8, so cuts land at every offset inside an escape. */
    const char *fills[] = { "a", "\x01", "\"", "\xE2\x82\xAC", "\xFF" };
    for (size_t f = 0; f < sizeof(fills) / sizeof(fills[0]); f++) {
        for (size_t shift = 0; shift < 7; shift++) {
            size_t n = 0;
            for (size_t i = 0; i < shift; i++) {
                big[n++] = 'x';
            }
            while (n + strlen(fills[f]) < sizeof(big) - 1) {
                memcpy(big + n, fills[f], strlen(fills[f]));
                n += strlen(fills[f]);
            }
            big[n] = '\0';
            for (int fmt = LOG_FORMAT_TEXT; fmt <= LOG_FORMAT_JSON; fmt++) {
                CHECK(log_one(&c, (enum log_format)fmt, NULL, "%s", big));
                CHECK(c.len <= LOG_LINE_MAX);
                CHECK(c.len > LOG_LINE_MAX - 8); /* no more cut than an escape needs */
                CHECK(c.line[c.len - 1] == '\n');
                CHECK(memchr(c.line, '\n', c.len - 1) == NULL);
                CHECK(valid_utf8(c.line, c.len));
                const char *tail = fmt == LOG_FORMAT_JSON     ? "...\"}\n"
                                   : fmt == LOG_FORMAT_LOGFMT ? "...\"\n"
                                                              : "...\n";
                size_t tl = strlen(tail);
                if (fmt == LOG_FORMAT_LOGFMT && (f == 0 || f == 3)) {
                    tail = "...\n"; /* a bare value stays bare */
                    tl = strlen(tail);
                }
                if (memcmp(c.line + c.len - tl, tail, tl) != 0) {
                    fprintf(stderr, "    fill %zu, shift %zu, format %d: ends %s", f, shift, fmt,
                            c.line + c.len - 12);
                }
                CHECK(memcmp(c.line + c.len - tl, tail, tl) == 0);
                if (fmt == LOG_FORMAT_JSON) {
                    struct jdoc *d = NULL;
                    CHECK_OK(jdoc_parse(c.line, c.len, 4, &d));
                    size_t mlen;
                    const char *m = jdoc_str(jdoc_get(jdoc_root(d), "msg"), &mlen);
                    bool is_prefix = m != NULL && mlen > 3 && memcmp(m + mlen - 3, "...", 3) == 0;
                    jdoc_free(d);
                    CHECK(is_prefix);
                }
            }
        }
    }
    /* A message that exactly fills a text line is not cut; one byte more
     * is. */
    size_t room = LOG_LINE_MAX - strlen("2026-11-23T12:00:00.123Z INFO  ost-test   \n");
    memset(big, 'b', room);
    big[room] = '\0';
    CHECK(log_one(&c, LOG_FORMAT_TEXT, NULL, "%s", big));
    CHECK_INT_EQ(c.len, LOG_LINE_MAX);
    CHECK(c.line[c.len - 2] == 'b');
    big[room] = 'b';
    big[room + 1] = '\0';
    CHECK(log_one(&c, LOG_FORMAT_TEXT, NULL, "%s", big));
    CHECK_INT_EQ(c.len, LOG_LINE_MAX);
    CHECK(memcmp(c.line + c.len - 5, "b...\n", 5) == 0);
}

CHECK_MAIN({ "text", test_text }, { "logfmt", test_logfmt }, { "json", test_json },
           { "truncation", test_truncation })
