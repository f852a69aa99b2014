/* strbuf: vsnprintf into the room that is left; the JSON escaper. */
#include "core/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void strbuf_printf(struct strbuf *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = s->len < s->cap ? s->cap - s->len : 0;
    int n = vsnprintf(room ? s->buf + s->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        s->len += (size_t)n;
}

void strbuf_append(struct strbuf *s, const char *data, size_t n)
{
    size_t room = s->len < s->cap ? s->cap - s->len : 0;
    size_t take = n < room ? n : room;
    if (room) {
        memcpy(s->buf + s->len, data, take);
        if (take < room)
            s->buf[s->len + take] = '\0';
    }
    s->len += n;
}

/* utf8_len is the length of the well-formed UTF-8 sequence (RFC 3629) at
 * |p| (|left| bytes available) that starts with a byte >= 0x80, or 0. */
static size_t utf8_len(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    size_t n = c >= 0xc2 && c <= 0xdf   ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    if (n == 0 || n > left)
        return 0;
    /* The second byte's range excludes overlong forms and surrogates. */
    unsigned char lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
    unsigned char hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

void strbuf_json_string(struct strbuf *s, const char *str, size_t len)
{
    const unsigned char *p = (const unsigned char *)str;
    strbuf_append(s, "\"", 1);
    size_t run = 0; /* bytes before |i| that go out as they are */
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        size_t keep = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? 1
                      : c >= 0x80                                    ? utf8_len(p + i, len - i)
                                                                     : 0;
        if (keep) {
            i += keep;
            run += keep;
            continue;
        }
        strbuf_append(s, str + i - run, run);
        run = 0;
        if (c == '"' || c == '\\')
            strbuf_printf(s, "\\%c", c);
        else if (c == '\n')
            strbuf_append(s, "\\n", 2);
        else if (c == '\r')
            strbuf_append(s, "\\r", 2);
        else if (c == '\t')
            strbuf_append(s, "\\t", 2);
        else
            strbuf_printf(s, "\\u%04x", c);
        i++;
    }
    strbuf_append(s, str + len - run, run);
    strbuf_append(s, "\"", 1);
}

void strbuf_json_cstr(struct strbuf *s, const char *str)
{
    if (str)
        strbuf_json_string(s, str, strlen(str));
    else
        strbuf_append(s, "null", 4);
}
