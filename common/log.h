/*
 * Logging: one line per record on stderr, written with a single write(2) so
 * lines from different threads never interleave.
 *
 * Line formats (log_set_format): text "2026-11-23T12:00:00.123Z INFO  ost-io
 * message", logfmt and JSON (see enum log_format). Whatever the message holds,
 * a line is one line of valid UTF-8 (invalid bytes become U+FFFD, control
 * characters are escaped) of at most LOG_LINE_MAX bytes: a longer message is
 * cut at a character boundary and ends with "...", and a logfmt or JSON line
 * stays parseable. The level is checked before the arguments are evaluated.
 * Any thread may log; the level and the format are atomics that
 * log_set_level and log_set_format change (SIGHUP may, while others log).
 */
#ifndef OSTRICH_COMMON_LOG_H
#define OSTRICH_COMMON_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* The longest line written, newline included. */
#define LOG_LINE_MAX 2048

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN = 1,
    LOG_LEVEL_INFO = 2,
    LOG_LEVEL_DEBUG = 3,
};

/* How a line is written:
 *   text:   2026-11-23T12:00:00.123Z INFO  ost-io     [c:12 1.2.3.4] message
 *   logfmt: ts=2026-11-23T12:00:00.123Z level=info thread=ost-io conn=12 addr=1.2.3.4 msg="message"
 *   json:   {"ts":"2026-11-23T12:00:00.123Z","level":"info","thread":"ost-io","conn":12,
 *            "addr":"1.2.3.4","msg":"message"}
 * A logfmt value is quoted when it is empty or holds a space, '=', '"', a
 * control character or an invalid byte; inside quotes '"' and '\' are
 * escaped and control characters written as \n, \r, \t or \u00XX, as in
 * JSON. conn and addr appear only on connection lines (log_write_conn). */
enum log_format {
    LOG_FORMAT_TEXT = 0,
    LOG_FORMAT_LOGFMT = 1,
    LOG_FORMAT_JSON = 2,
};

void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);

/* Parses "error", "warn", "info" or "debug". Returns 0 or OST_EINVAL. */
int log_level_parse(const char *name, enum log_level *out);

/* Writes one line to stderr with a single write(2), whatever the level (the
 * macros below check it first). Never blocks on a lock; any thread. */
__attribute__((format(printf, 2, 3))) void log_write(enum log_level level, const char *fmt, ...);

#define log_error(...) log_at(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_at(level, ...)                 \
    do {                                   \
        if (log_enabled(level)) {          \
            log_write(level, __VA_ARGS__); \
        }                                  \
    } while (0)

/* Sets the line format (LOG_FORMAT_TEXT until called). Any thread; lines
 * being written at that moment may still come out in the old format. */
void log_set_format(enum log_format format);

/* What a line about one connection says about it: its id and the client's
 * address (NULL or "" when unknown). Borrowed for the call. In text lines
 * it is written as "[c:ID ADDR]" before the message, in logfmt as
 * conn=ID addr=ADDR, in JSON as "conn":ID,"addr":"ADDR"; an unknown address
 * is left out ("[c:ID]"). */
struct log_conn {
    uint64_t conn_id;
    const char *addr;
};

/* log_write for a line about the connection lc (NULL: as log_write). */
__attribute__((format(printf, 3, 4))) void
log_write_conn(enum log_level level, const struct log_conn *lc, const char *fmt, ...);

#define log_conn_warn(lc, ...)  log_conn_at(LOG_LEVEL_WARN, lc, __VA_ARGS__)
#define log_conn_info(lc, ...)  log_conn_at(LOG_LEVEL_INFO, lc, __VA_ARGS__)
#define log_conn_debug(lc, ...) log_conn_at(LOG_LEVEL_DEBUG, lc, __VA_ARGS__)
#define log_conn_at(level, lc, ...)                 \
    do {                                            \
        if (log_enabled(level)) {                   \
            log_write_conn(level, lc, __VA_ARGS__); \
        }                                           \
    } while (0)

#endif
