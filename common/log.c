/*
 * Logging to stderr, one write(2) per line, in the text, logfmt or JSON
 * format.
 *
 * Design: the message is formatted into one stack buffer, then the line is
 * assembled in a second one: header fields first, then the message,
 * escaped for the format one character at a time. Escaping replaces
 * invalid UTF-8 with U+FFFD and writes control characters as escapes, so a
 * line is always one line of valid UTF-8, and a JSON or logfmt line always
 * parses. When the message does not fit, it is cut after the last whole
 * character (never inside an escape) that leaves room for "..." and the
 * closing characters of the format. Nothing here takes a lock or
 * allocates, so any thread may log at any time.
 */
#include "common/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <pthread.h>
#include <unistd.h>

#include <stdarg.h>

#include "common/err.h"

static _Atomic int log_level_now = LOG_LEVEL_INFO;
static _Atomic int log_format_now = LOG_FORMAT_TEXT;

static const char *const level_upper[] = { "ERROR", "WARN", "INFO", "DEBUG" };
static const char *const level_lower[] = { "error", "warn", "info", "debug" };

/* How a value is escaped: TEXT keeps quotes and backslashes as they are;
 * QUOTED (a quoted logfmt value or a JSON string) escapes them too. Both
 * escape control characters and replace invalid UTF-8. */
enum esc {
    ESC_TEXT,
    ESC_QUOTED,
};

/* A line being assembled; len never exceeds LOG_LINE_MAX. */
struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
};

void log_set_level(enum log_level level)
{
    atomic_store_explicit(&log_level_now, (int)level, memory_order_relaxed);
}

bool log_enabled(enum log_level level)
{
    return (int)level <= atomic_load_explicit(&log_level_now, memory_order_relaxed);
}

void log_set_format(enum log_format format)
{
    atomic_store_explicit(&log_format_now, (int)format, memory_order_relaxed);
}

int log_level_parse(const char *name, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_lower[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return OST_EINVAL;
}

/* ---- characters ---- */

/* The length of the well-formed UTF-8 sequence at p[0..n) (1 to 4), or 0
 * when it is not one; then *bad is the number of bytes one U+FFFD replaces
 * (the maximal subpart, as Unicode recommends). Overlong forms, surrogates
 * and code points above U+10FFFF are not well formed. */
static size_t utf8_len(const unsigned char *p, size_t n, size_t *bad)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;
    size_t need;
    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        *bad = 1;
        return 0;
    }
    for (size_t i = 1; i <= need; i++) {
        if (i >= n || p[i] < lo || p[i] > hi) {
            *bad = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xBF;
    }
    return need + 1;
}

/* Encodes the character at p[0..n) into out (at most 6 bytes) for mode.
 * Returns the bytes written and sets *used to the input bytes consumed. */
static size_t encode_char(const unsigned char *p, size_t n, enum esc mode, char out[6],
                          size_t *used)
{
    static const char hexd[] = "0123456789abcdef";
    size_t bad = 0;
    size_t len = utf8_len(p, n, &bad);
    if (len == 0) {
        *used = bad;
        memcpy(out, "\xEF\xBF\xBD", 3);
        return 3;
    }
    *used = len;
    /* The code point of a control character: C0, DEL, or C1 (U+0080 to
     * U+009F, written as C2 80 to C2 9F); anything else is printable here. */
    unsigned cp = len == 1 ? p[0] : (len == 2 && p[0] == 0xC2 && p[1] <= 0x9F) ? p[1] : 0x100;
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
        char short_esc = cp == '\n' ? 'n' : cp == '\r' ? 'r' : cp == '\t' ? 't' : 0;
        out[0] = '\\';
        if (short_esc != 0) {
            out[1] = short_esc;
            return 2;
        }
        memcpy(out + 1, "u00", 3);
        out[4] = hexd[cp >> 4];
        out[5] = hexd[cp & 0xF];
        return 6;
    }
    if (mode == ESC_QUOTED && (cp == '"' || cp == '\\')) {
        out[0] = '\\';
        out[1] = (char)cp;
        return 2;
    }
    memcpy(out, p, len);
    return len;
}

/* n, or less so that s[0..n) does not end inside a UTF-8 sequence that
 * was cut (which would otherwise read as an invalid byte). */
static size_t trim_partial_char(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = p[n - back];
        if ((c & 0xC0) != 0x80) {
            size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
            return want > back ? n - back : n;
        }
    }
    return n;
}

/* ---- assembling a line ---- */

/* Appends s[0..n) as it is, or as much as fits. */
static void put(struct line *l, const char *s, size_t n)
{
    size_t room = LOG_LINE_MAX - l->len;
    n = n < room ? n : room;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_str(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

/* Appends s[0..n) escaped for mode, keeping l->len at most limit. When it
 * does not all fit, or is_cut says s is already the start of something
 * longer, it ends after the last whole character that leaves room for
 * "...", and then "...". limit - l->len must be at least 3. */
static void put_escaped(struct line *l, const char *s, size_t n, enum esc mode, size_t limit,
                        bool is_cut)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, mark = l->len;
    while (i < n) {
        char enc[6];
        size_t used;
        size_t k = encode_char(p + i, n - i, mode, enc, &used);
        if (l->len + k > limit) {
            is_cut = true;
            break;
        }
        memcpy(l->buf + l->len, enc, k);
        l->len += k;
        i += used;
        if (l->len + 3 <= limit) {
            mark = l->len;
        }
    }
    if (is_cut) {
        if (l->len + 3 > limit) {
            l->len = mark;
        }
        put(l, "...", 3);
    }
}

/* Whether a logfmt value must be quoted: it is empty or holds a space, '=',
 * '"', a control character or a byte that is not well-formed UTF-8. */
static bool logfmt_needs_quotes(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    if (n == 0) {
        return true;
    }
    while (i < n) {
        size_t bad, len = utf8_len(p + i, n - i, &bad);
        if (len == 0 || p[i] <= ' ' || p[i] == '=' || p[i] == '"' || p[i] == 0x7F ||
            (p[i] == 0xC2 && p[i + 1] <= 0x9F)) {
            return true;
        }
        i += len;
    }
    return false;
}

/* The most a header value other than the message may take, so that the
 * message always keeps most of the line. */
#define FIELD_MAX 128

/* A logfmt value, bare when it can be, else quoted; l->len stays at most
 * limit. is_cut as for put_escaped. */
static void put_logfmt_value(struct line *l, const char *s, size_t n, size_t limit, bool is_cut)
{
    if (logfmt_needs_quotes(s, n)) {
        put(l, "\"", 1);
        put_escaped(l, s, n, ESC_QUOTED, limit - 1, is_cut);
        put(l, "\"", 1);
    } else {
        put_escaped(l, s, n, ESC_TEXT, limit, is_cut);
    }
}

static void put_field(struct line *l, enum log_format fmt, const char *key, const char *s)
{
    size_t n = strlen(s);
    if (fmt == LOG_FORMAT_JSON) {
        put_str(l, ",\"");
        put_str(l, key);
        put_str(l, "\":\"");
        put_escaped(l, s, n, ESC_QUOTED, l->len + FIELD_MAX, false);
        put(l, "\"", 1);
    } else {
        put_str(l, " ");
        put_str(l, key);
        put(l, "=", 1);
        put_logfmt_value(l, s, n, l->len + FIELD_MAX, false);
    }
}

/* Everything before the message. */
static void put_header(struct line *l, enum log_format fmt, enum log_level level,
                       const struct log_conn *lc)
{
    struct timespec ts;
    struct tm tm;
    char stamp[64], tname[16] = "?", num[24];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ts.tv_nsec / 1000000));
    pthread_getname_np(pthread_self(), tname, sizeof(tname));
    const char *addr = lc != NULL && lc->addr != NULL ? lc->addr : "";
    if (lc != NULL) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)lc->conn_id);
    }

    if (fmt == LOG_FORMAT_TEXT) {
        size_t start;
        put_str(l, stamp);
        put(l, " ", 1);
        put_str(l, level_upper[level]);
        put(l, "      ", 6 - strlen(level_upper[level]));
        start = l->len;
        put_escaped(l, tname, strlen(tname), ESC_TEXT, l->len + FIELD_MAX, false);
        while (l->len - start < 10) {
            put(l, " ", 1);
        }
        put(l, " ", 1);
        if (lc != NULL) {
            put_str(l, "[c:");
            put_str(l, num);
            if (addr[0] != '\0') {
                put(l, " ", 1);
                put_escaped(l, addr, strlen(addr), ESC_TEXT, l->len + FIELD_MAX, false);
            }
            put_str(l, "] ");
        }
        return;
    }
    if (fmt == LOG_FORMAT_JSON) {
        put_str(l, "{\"ts\":\"");
        put_str(l, stamp);
        put_str(l, "\",\"level\":\"");
        put_str(l, level_lower[level]);
        put(l, "\"", 1);
        put_field(l, fmt, "thread", tname);
        if (lc != NULL) {
            put_str(l, ",\"conn\":");
            put_str(l, num);
            if (addr[0] != '\0') {
                put_field(l, fmt, "addr", addr);
            }
        }
        put_str(l, ",\"msg\":\"");
        return;
    }
    put_str(l, "ts=");
    put_str(l, stamp);
    put_str(l, " level=");
    put_str(l, level_lower[level]);
    put_field(l, fmt, "thread", tname);
    if (lc != NULL) {
        put_str(l, " conn=");
        put_str(l, num);
        if (addr[0] != '\0') {
            put_field(l, fmt, "addr", addr);
        }
    }
    put_str(l, " msg=");
}

__attribute__((format(printf, 3, 0))) static void
emit(enum log_level level, const struct log_conn *lc, const char *fmt, va_list ap)
{
    char msg[LOG_LINE_MAX];
    struct line l;
    enum log_format format =
        (enum log_format)atomic_load_explicit(&log_format_now, memory_order_relaxed);
    if ((int)level < LOG_LEVEL_ERROR || level > LOG_LEVEL_DEBUG) {
        level = LOG_LEVEL_ERROR;
    }
    if (format != LOG_FORMAT_LOGFMT && format != LOG_FORMAT_JSON) {
        format = LOG_FORMAT_TEXT;
    }
    int m = vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = m < 0 ? 0 : (size_t)m;
    /* vsnprintf cut the message: the encoder cuts it again, shorter,
     * since the header takes room too; say so either way. */
    bool is_cut = n >= sizeof(msg);
    if (is_cut) {
        n = trim_partial_char(msg, sizeof(msg) - 1);
    }

    l.len = 0;
    put_header(&l, format, level, lc);
    /* Each limit keeps room for what follows the message: the newline,
     * and for JSON the closing quote and brace. */
    if (format == LOG_FORMAT_JSON) {
        put_escaped(&l, msg, n, ESC_QUOTED, LOG_LINE_MAX - 3, is_cut);
        put(&l, "\"}", 2);
    } else if (format == LOG_FORMAT_LOGFMT) {
        put_logfmt_value(&l, msg, n, LOG_LINE_MAX - 1, is_cut);
    } else {
        put_escaped(&l, msg, n, ESC_TEXT, LOG_LINE_MAX - 1, is_cut);
    }
    put(&l, "\n", 1);
    /* A short write to stderr is not worth retrying for a log line. */
    ssize_t w = write(STDERR_FILENO, l.buf, l.len);
    (void)w;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(level, NULL, fmt, ap);
    va_end(ap);
}

void log_write_conn(enum log_level level, const struct log_conn *lc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(level, lc, fmt, ap);
    va_end(ap);
}
