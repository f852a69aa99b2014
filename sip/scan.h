/* sip/scan.h: the byte search the sip/ parsers run per header line
 * (internal). Borrows the caller's bytes; reads only inside [p, end). */
#ifndef REUSEGW_SIP_SCAN_H
#define REUSEGW_SIP_SCAN_H

#include <stddef.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* memchr(p, c, end - p), inline: the runs sip/ searches are header lines
 * of a few dozen octets, for which a call into libc (bench/ladder's profile
 * had memchr at 4.8% of the relay's CPU) costs more than the search. With
 * SSE2 sixteen octets at a time, the octets after the last whole block one
 * by one. */
static inline const char *sip_find(const char *p, const char *end, char c)
{
#ifdef __SSE2__
    const __m128i want = _mm_set1_epi8(c);
    for (; end - p >= 16; p += 16) {
        __m128i block = _mm_loadu_si128((const __m128i *)(const void *)p);
        unsigned hits = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(block, want));
        if (hits)
            return p + __builtin_ctz(hits);
    }
#endif
    for (; p < end; p++)
        if (*p == c)
            return p;
    return NULL;
}

#endif
