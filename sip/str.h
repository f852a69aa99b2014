/* sip/str.h: the byte slice every sip/ parser returns, and the few inline
 * character helpers they share. Slices borrow the caller's buffer: they are
 * valid only while that buffer is, and nothing in sip/ ever allocates. */
#ifndef REUSEGW_SIP_STR_H
#define REUSEGW_SIP_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A borrowed, not NUL-terminated range of bytes. An absent element has
 * p == NULL and len == 0; a present but empty one has p != NULL, len == 0. */
struct sip_str {
    const char *p;
    size_t len;
};

/* Builds a slice from a string literal (no terminating NUL). */
#define SIP_STR_LIT(s) ((struct sip_str){(s), sizeof(s) - 1})

/* True when a slice was found in the message, even if it is empty. */
static inline bool sip_str_present(struct sip_str s)
{
    return s.p != NULL;
}

/* ASCII lower-casing without the locale lookups of tolower(). */
static inline unsigned char sip_lower(unsigned char c)
{
    return (unsigned char)(c | ((unsigned char)(c - 'A') < 26 ? 0x20 : 0));
}

/* Case-insensitive ASCII equality of a slice and a lower-case literal. */
static inline bool sip_str_ieq(struct sip_str s, const char *lower, size_t len)
{
    if (s.len != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (sip_lower((unsigned char)s.p[i]) != (unsigned char)lower[i])
            return false;
    return true;
}

/* Case-insensitive equality of two slices (method names are compared
 * case-sensitively by callers that need it, with memcmp). */
static inline bool sip_str_ieq_str(struct sip_str a, struct sip_str b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++)
        if (sip_lower((unsigned char)a.p[i]) != sip_lower((unsigned char)b.p[i]))
            return false;
    return true;
}

/* SP or HTAB. */
static inline bool sip_is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* Linear white space as it appears inside a header value: SP, HTAB, and
 * the CR/LF of folded continuation lines. */
static inline bool sip_is_lws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

#endif
