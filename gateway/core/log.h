/* log: structured log lines (logfmt or JSON) on stderr.
 *
 * Owns the process-wide log level and format, set once at start-up and on
 * reload. Borrows every string it is handed for the duration of the call.
 * Never allocates on the logging path and never blocks on anything but the
 * single write(2) of a finished line. */
#ifndef REUSEGW_LOG_H
#define REUSEGW_LOG_H

#include <stdatomic.h>
#include <stdint.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_FORMAT_LOGFMT, LOG_FORMAT_JSON };

/* log_field is one key=value pair of a line. Build them with the LF_*
 * macros; a zeroed field (key NULL) ends a list. */
struct log_field {
    const char *key;
    enum { LOG_FIELD_STR, LOG_FIELD_INT, LOG_FIELD_UINT } type;
    union {
        const char *s;
        int64_t i;
        uint64_t u;
    };
};

#define LF_STR(k, v) ((struct log_field){.key = (k), .type = LOG_FIELD_STR, .s = (v)})
#define LF_INT(k, v) ((struct log_field){.key = (k), .type = LOG_FIELD_INT, .i = (int64_t)(v)})
#define LF_UINT(k, v) ((struct log_field){.key = (k), .type = LOG_FIELD_UINT, .u = (uint64_t)(v)})

/* log_configure sets the level below which lines are dropped and the output
 * format. Safe to call while other threads log (both are atomics). */
void log_configure(enum log_level level, enum log_format format);

/* log_enabled reports whether a line at |level| would be written, so callers
 * can skip building expensive fields. */
int log_enabled(enum log_level level);

/* log_emit writes one line: ts (RFC 3339 UTC, milliseconds), level, msg, then
 * |fields| up to the first zeroed entry. Strings are quoted and escaped as the
 * format needs. */
void log_emit(enum log_level level, const char *msg, const struct log_field *fields);

/* log_ratelimit guards a call site that fires per message or per connection,
 * so that a flood of bad input cannot flood the log: at most |burst| lines per
 * second pass; the first line after a suppressed stretch carries
 * suppressed=N. One instance per call site and thread (see LOG_RATELIMITED):
 * each worker thread gets its own budget, so one worker's flood never
 * silences another's lines. */
struct log_ratelimit {
    _Atomic int64_t window_start_s;
    _Atomic uint32_t passed;
    _Atomic uint32_t suppressed;
};

void log_emit_ratelimited(struct log_ratelimit *rl, uint32_t burst, enum log_level level,
                          const char *msg, const struct log_field *fields);

#define LOG_FIELDS(...) ((const struct log_field[]){__VA_ARGS__ __VA_OPT__(, ){0}})

#define LOG_AT(level, msg, ...)                                                                    \
    do {                                                                                           \
        if (log_enabled(level))                                                                    \
            log_emit((level), (msg), LOG_FIELDS(__VA_ARGS__));                                     \
    } while (0)

#define LOG_ERROR(msg, ...) LOG_AT(LOG_ERROR, msg __VA_OPT__(, ) __VA_ARGS__)
#define LOG_WARN(msg, ...) LOG_AT(LOG_WARN, msg __VA_OPT__(, ) __VA_ARGS__)
#define LOG_INFO(msg, ...) LOG_AT(LOG_INFO, msg __VA_OPT__(, ) __VA_ARGS__)
#define LOG_DEBUG(msg, ...) LOG_AT(LOG_DEBUG, msg __VA_OPT__(, ) __VA_ARGS__)

/* LOG_RATELIMITED: at most 10 lines a second from this call site, per
 * thread. */
#define LOG_RATELIMITED(level, msg, ...)                                                           \
    do {                                                                                           \
        static _Thread_local struct log_ratelimit log_rl_;                                         \
        if (log_enabled(level))                                                                    \
            log_emit_ratelimited(&log_rl_, 10, (level), (msg), LOG_FIELDS(__VA_ARGS__));           \
    } while (0)

/* log_level_name returns "error", "warn", "info" or "debug". */
const char *log_level_name(enum log_level level);

#endif
