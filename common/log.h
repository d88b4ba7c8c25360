/*
 * Logging: one line per record on stderr, written with a single write(2) so
 * lines from different threads never interleave.
 *
 * Line format: "2026-11-23T12:00:00.123Z INFO  ost-io   message". The level is
 * checked before the arguments are evaluated. Any thread may log; the level
 * is an atomic that log_set_level changes.
 */
#ifndef OSTRICH_COMMON_LOG_H
#define OSTRICH_COMMON_LOG_H

#include <stdbool.h>

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN = 1,
    LOG_LEVEL_INFO = 2,
    LOG_LEVEL_DEBUG = 3,
};

void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);

/* Parses "error", "warn", "info" or "debug". Returns 0 or OST_EINVAL. */
int log_level_parse(const char *name, enum log_level *out);

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

#endif
