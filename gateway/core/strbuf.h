/* strbuf: a bounded text appender over a caller's buffer for the admin
 * endpoint's bodies (/metrics, /aliases, /connections) and the log line,
 * with the one JSON string escaper both use.
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

/* strbuf_append appends |n| bytes of |data| (counted like strbuf_printf;
 * NUL-terminated when room is left). */
void strbuf_append(struct strbuf *s, const char *data, size_t n);

/* strbuf_json_string appends |str| (|len| bytes, which may hold any byte)
 * as a quoted JSON string (RFC 8259): quote and backslash escaped, control
 * bytes as \n \r \t or \u00XX, DEL as \u007f, well-formed UTF-8 kept, and
 * every byte of an ill-formed sequence as \u00XX — so that untrusted text
 * (certificate names, request bytes) always yields valid JSON. */
void strbuf_json_string(struct strbuf *s, const char *str, size_t len);

/* strbuf_json_cstr appends C string |str| as strbuf_json_string does, or
 * null when |str| is NULL. */
void strbuf_json_cstr(struct strbuf *s, const char *str);

#endif
