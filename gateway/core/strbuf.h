/* strbuf: a bounded text appender over a caller's buffer for the admin
 * endpoint's bodies (/metrics, /aliases).
 *
 * Owns nothing: borrows the buffer for as long as the caller writes into
 * it. Never allocates and never writes past |cap|; like snprintf it keeps
 * counting past the end, so that |len| > |cap| tells the caller the size it
 * would have needed. */
#ifndef REUSEGW_STRBUF_H
#define REUSEGW_STRBUF_H

#include <stddef.h>

struct strbuf {
    char *buf;  /* borrowed; NULL only when cap is 0 */
    size_t cap; /* bytes of |buf| */
    size_t len; /* bytes appended so far, including those that did not fit */
};

/* strbuf_printf appends the printf-formatted text; what does not fit is
 * counted in |len| but not written. */
__attribute__((format(printf, 2, 3))) void strbuf_printf(struct strbuf *s, const char *fmt, ...);

#endif
