#include "core/log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/strbuf.h"

static _Atomic int log_level_current = LOG_INFO;
static _Atomic int log_format_current = LOG_FORMAT_LOGFMT;

/* A line longer than this is cut; the cut is marked with "...". */
enum { LOG_LINE_MAX = 4096 };

struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
};

static void put_char(struct line *l, char c)
{
    if (l->len < sizeof(l->buf) - 1)
        l->buf[l->len++] = c;
}

static void put_str(struct line *l, const char *s)
{
    while (*s)
        put_char(l, *s++);
}

static void put_fmt(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_fmt(struct line *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = sizeof(l->buf) - 1 - l->len;
    int n = vsnprintf(l->buf + l->len, room + 1, fmt, ap);
    va_end(ap);
    if (n > 0)
        l->len += (size_t)n < room ? (size_t)n : room;
}

static int needs_quotes(const char *s)
{
    if (*s == '\0')
        return 1;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == '"' || *s == '=' || *s == '\\' || *s == 0x7f)
            return 1;
    return 0;
}

/* Writes |s| as a quoted string; both formats accept JSON escaping. */
static void put_quoted(struct line *l, const char *s)
{
    struct strbuf sb = {.buf = l->buf + l->len, .cap = sizeof(l->buf) - 1 - l->len};
    strbuf_json_string(&sb, s, strlen(s));
    l->len += sb.len < sb.cap ? sb.len : sb.cap;
}

static void put_field(struct line *l, int json, const char *key, const struct log_field *f)
{
    if (json) {
        put_str(l, ",");
        put_quoted(l, key);
        put_char(l, ':');
    } else {
        put_char(l, ' ');
        put_str(l, key);
        put_char(l, '=');
    }
    switch (f->type) {
    case LOG_FIELD_STR: {
        const char *s = f->s ? f->s : "";
        if (json || needs_quotes(s))
            put_quoted(l, s);
        else
            put_str(l, s);
        break;
    }
    case LOG_FIELD_INT:
        put_fmt(l, "%" PRId64, f->i);
        break;
    case LOG_FIELD_UINT:
        put_fmt(l, "%" PRIu64, f->u);
        break;
    }
}

const char *log_level_name(enum log_level level)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    return (unsigned)level < 4 ? names[level] : "info";
}

void log_configure(enum log_level level, enum log_format format)
{
    log_level_current = level;
    log_format_current = format;
}

int log_enabled(enum log_level level)
{
    return (int)level <= log_level_current;
}

static void format_line(struct line *l, enum log_level level, const char *msg,
                        const struct log_field *fields, uint32_t suppressed)
{
    int json = log_format_current == LOG_FORMAT_JSON;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[32];
    size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof(stamp) - n, ".%03dZ", (int)(ts.tv_nsec / 1000000));

    l->len = 0;
    if (json) {
        put_str(l, "{\"ts\":\"");
        put_str(l, stamp);
        put_str(l, "\",\"level\":\"");
        put_str(l, log_level_name(level));
        put_str(l, "\",\"msg\":");
        put_quoted(l, msg);
    } else {
        put_str(l, "ts=");
        put_str(l, stamp);
        put_str(l, " level=");
        put_str(l, log_level_name(level));
        put_str(l, " msg=");
        put_quoted(l, msg);
    }
    for (const struct log_field *f = fields; f && f->key; f++)
        put_field(l, json, f->key, f);
    if (suppressed)
        put_field(l, json, "suppressed", &LF_UINT("suppressed", suppressed));
    if (json)
        put_char(l, '}');
    if (l->len >= sizeof(l->buf) - 2)
        memcpy(l->buf + sizeof(l->buf) - 5, "...", 3), l->len = sizeof(l->buf) - 2;
    l->buf[l->len++] = '\n';
}

static void write_line(const struct line *l)
{
    /* One write per line keeps lines whole when several threads log. */
    ssize_t n = write(STDERR_FILENO, l->buf, l->len);
    (void)n;
}

void log_emit(enum log_level level, const char *msg, const struct log_field *fields)
{
    if (!log_enabled(level))
        return;
    struct line l;
    format_line(&l, level, msg, fields, 0);
    write_line(&l);
}

void log_emit_ratelimited(struct log_ratelimit *rl, uint32_t burst, enum log_level level,
                          const char *msg, const struct log_field *fields)
{
    if (!log_enabled(level))
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t window = rl->window_start_s;
    if (now.tv_sec != window &&
        atomic_compare_exchange_strong(&rl->window_start_s, &window, (int64_t)now.tv_sec))
        rl->passed = 0;
    if (atomic_fetch_add(&rl->passed, 1) >= burst) {
        atomic_fetch_add(&rl->suppressed, 1);
        return;
    }
    struct line l;
    format_line(&l, level, msg, fields, atomic_exchange(&rl->suppressed, 0));
    write_line(&l);
}
