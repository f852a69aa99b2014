/* strbuf: vsnprintf into the room that is left. */
#include "core/strbuf.h"

#include <stdarg.h>
#include <stdio.h>

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
