#include "sip/check.h"

#include <stdint.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "sip/chars.h"

/* This check runs on every relayed message (bench/ladder's profile had it
 * at 19% of the relay's CPU octet by octet, 7.9% eight octets at a time), so
 * it scans blocks: sixteen octets with SSE2 (the x86-64 baseline), else
 * eight in a word. A block with no DEL, no backslash and nothing escaped
 * into it is judged whole by the rule without its quoted-pair; anything
 * else takes the octet-wise rule, which is the definition. */

/* One octet by the rule of sip/check.h; false when it is refused. */
static inline bool octet_passes(const unsigned char *p, size_t i, size_t len, bool *escaped)
{
    unsigned char c = p[i];
    bool control = c < 0x20 || c == 0x7f;
    bool line_end = c == '\n' || (c == '\r' && i + 1 < len && p[i + 1] == '\n');
    if (control && c != '\t' && !line_end && (c == '\0' || c == '\r' || !*escaped))
        return false;
    *escaped = c == '\\' && !*escaped;
    return true;
}

/* The octets [from, to) of p[0..len) by the octet-wise rule. */
static inline bool octets_pass(const unsigned char *p, size_t from, size_t to, size_t len,
                               bool *escaped)
{
    for (size_t i = from; i < to; i++)
        if (!octet_passes(p, i, len, escaped))
            return false;
    return true;
}

#ifdef __SSE2__
enum { BLOCK = 16 };

/* The lanes of block |c| that break the rule when none of them is escaped:
 * control octets but HTAB, LF and a CR whose next octet (the same lane of
 * |next|) is an LF. In *odd the lanes holding DEL or a backslash, which
 * the block scan leaves to the octet-wise rule. */
static inline unsigned block_bad(__m128i c, __m128i next, unsigned *odd)
{
    __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(c, _mm_set1_epi8(0x1f)), c);
    __m128i crlf = _mm_and_si128(_mm_cmpeq_epi8(c, _mm_set1_epi8('\r')),
                                 _mm_cmpeq_epi8(next, _mm_set1_epi8('\n')));
    __m128i fine = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(c, _mm_set1_epi8('\t')),
                                             _mm_cmpeq_epi8(c, _mm_set1_epi8('\n'))),
                                crlf);
    *odd = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(c, _mm_set1_epi8(0x7f)),
                                                    _mm_cmpeq_epi8(c, _mm_set1_epi8('\\'))));
    return (unsigned)_mm_movemask_epi8(_mm_andnot_si128(fine, control));
}

/* Judges the octets [i, at + BLOCK) of the block |c| loaded at |at| (at <=
 * i), |next| being the octets one further on. */
static inline bool block_passes(const unsigned char *p, size_t i, size_t at, size_t len, __m128i c,
                                __m128i next, bool *escaped)
{
    unsigned odd, fresh = 0xffffu << (i - at) & 0xffffu;
    unsigned bad = block_bad(c, next, &odd) & fresh;
    if ((odd & fresh) == 0 && !*escaped)
        return bad == 0;
    return octets_pass(p, i, at + BLOCK, len, escaped);
}

/* Checks p[0..len) for len >= BLOCK: whole blocks while the octets after
 * them are inside, then the last sixteen octets, overlapping the block
 * before (only the lanes not yet judged count), their next octets shifted
 * in with a zero past the end (a CR there is bare, as the rule has it). */
static bool blocks_pass(const unsigned char *p, size_t len)
{
    bool escaped = false; /* the octet before block i is a backslash that escapes */
    size_t i = 0;
    for (; i + BLOCK < len; i += BLOCK) {
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i next = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 1));
        if (!block_passes(p, i, i, len, c, next, &escaped))
            return false;
    }
    size_t at = len - BLOCK;
    __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(p + at));
    return block_passes(p, i, at, len, c, _mm_srli_si128(c, 1), &escaped);
}
#else
enum { BLOCK = sizeof(uint64_t) };
#define ONES UINT64_C(0x0101010101010101)
#define LOWS UINT64_C(0x7f7f7f7f7f7f7f7f)
#define HIGHS UINT64_C(0x8080808080808080)

/* The high bit of each octet of |x| that is zero: exact, no carry between
 * octets. */
static inline uint64_t zero_octets(uint64_t x)
{
    return ~(((x & LOWS) + LOWS) | x | LOWS);
}

/* The high bit of each octet of |x| below 0x20. */
static inline uint64_t control_octets(uint64_t x)
{
    return ~(((x & LOWS) + ONES * (0x80 - 0x20)) | x) & HIGHS;
}

/* The control octets |controls| marks in the word at |i| are all HTABs and
 * line ends (no octet of the word is escaped). */
static inline bool controls_are_line_ends(const unsigned char *p, size_t i, size_t len,
                                          uint64_t controls)
{
    for (; controls; controls &= controls - 1) {
        size_t at = i + (size_t)__builtin_ctzll(controls) / 8;
        unsigned char c = p[at];
        if (c != '\t' && c != '\n' && !(c == '\r' && at + 1 < len && p[at + 1] == '\n'))
            return false;
    }
    return true;
}

/* Checks p[0..len) for len >= BLOCK, a word at a time, the octets after
 * the last whole word one by one. */
static bool blocks_pass(const unsigned char *p, size_t len)
{
    bool escaped = false;
    size_t i = 0;
    for (; i + BLOCK <= len; i += BLOCK) {
        uint64_t w;
        memcpy(&w, p + i, BLOCK);
        uint64_t odd = zero_octets(w ^ (ONES * 0x7f)) | zero_octets(w ^ (ONES * '\\'));
        if (!odd && !escaped) {
            if (!controls_are_line_ends(p, i, len, control_octets(w)))
                return false;
        } else if (!octets_pass(p, i, i + BLOCK, len, &escaped)) {
            return false;
        }
    }
    return octets_pass(p, i, len, len, &escaped);
}
#endif

enum sip_err sip_check_chars(const struct sip_msg *msg)
{
    return sip_check_chars_in(msg->buf, msg->header_len);
}

enum sip_err sip_check_chars_in(const char *buf, size_t header_len)
{
    const unsigned char *p = (const unsigned char *)buf;
    bool escaped = false;
    bool pass = header_len >= BLOCK ? blocks_pass(p, header_len)
                                    : octets_pass(p, 0, header_len, header_len, &escaped);
    return pass ? SIP_OK : SIP_ERR_CONTROL_CHAR;
}

enum sip_err sip_check_required(const struct sip_msg *msg, bool need_max_forwards)
{
    static const struct {
        enum sip_hdr id;
        enum sip_err missing;
    } required[] = {
        {SIP_HDR_VIA, SIP_ERR_MISSING_VIA},   {SIP_HDR_FROM, SIP_ERR_MISSING_FROM},
        {SIP_HDR_TO, SIP_ERR_MISSING_TO},     {SIP_HDR_CALL_ID, SIP_ERR_MISSING_CALL_ID},
        {SIP_HDR_CSEQ, SIP_ERR_MISSING_CSEQ},
    };
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (msg->first[required[i].id] == SIP_NO_HEADER)
            return required[i].missing;
    if (need_max_forwards && msg->first[SIP_HDR_MAX_FORWARDS] == SIP_NO_HEADER)
        return SIP_ERR_MISSING_MAX_FORWARDS;
    return SIP_OK;
}

enum sip_err sip_check_single(const struct sip_msg *msg)
{
    static const enum sip_hdr single[] = {SIP_HDR_FROM,         SIP_HDR_TO,
                                          SIP_HDR_CALL_ID,      SIP_HDR_CSEQ,
                                          SIP_HDR_MAX_FORWARDS, SIP_HDR_CONTENT_LENGTH};
    for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++)
        if (msg->count[single[i]] > 1)
            return SIP_ERR_MULTIPLE_VALUES;
    return SIP_OK;
}

enum sip_err sip_cseq_parse(struct sip_str value, struct sip_cseq *cseq)
{
    const char *p = value.p, *end = value.p + value.len;
    uint64_t n = 0;
    const char *digits = p;
    while (p < end && (unsigned char)(*p - '0') < 10) {
        n = n * 10 + (uint64_t)(*p++ - '0');
        if (n > 0x7fffffffu)
            return SIP_ERR_CSEQ;
    }
    if (p == digits || p == end || !sip_is_lws(*p))
        return SIP_ERR_CSEQ;
    while (p < end && sip_is_lws(*p))
        p++;
    const char *method = p;
    while (p < end && sip_token_chars[(unsigned char)*p])
        p++;
    if (p == method || p != end)
        return SIP_ERR_CSEQ;
    cseq->number = (uint32_t)n;
    cseq->method = (struct sip_str){method, (size_t)(end - method)};
    return SIP_OK;
}

enum sip_err sip_check_cseq(const struct sip_msg *msg, struct sip_cseq *cseq)
{
    const struct sip_header *h = sip_msg_header(msg, SIP_HDR_CSEQ);
    if (h == NULL)
        return SIP_ERR_MISSING_CSEQ;
    enum sip_err err = sip_cseq_parse(h->value, cseq);
    if (err)
        return err;
    if (msg->is_request && (cseq->method.len != msg->method.len ||
                            memcmp(cseq->method.p, msg->method.p, msg->method.len) != 0))
        return SIP_ERR_CSEQ_METHOD;
    return SIP_OK;
}

enum sip_err sip_check_version(const struct sip_msg *msg)
{
    return sip_str_ieq(msg->version, "sip/2.0", 7) ? SIP_OK : SIP_ERR_VERSION;
}

enum sip_err sip_max_forwards(const struct sip_msg *msg, unsigned *value, bool *present)
{
    const struct sip_header *h = sip_msg_header(msg, SIP_HDR_MAX_FORWARDS);
    *present = h != NULL;
    if (h == NULL)
        return SIP_OK;
    unsigned v = 0;
    if (h->value.len == 0)
        return SIP_ERR_MAX_FORWARDS;
    for (size_t i = 0; i < h->value.len; i++) {
        char c = h->value.p[i];
        if ((unsigned char)(c - '0') >= 10)
            return SIP_ERR_MAX_FORWARDS;
        v = v * 10 + (unsigned)(c - '0');
        if (v > 255)
            return SIP_ERR_MAX_FORWARDS;
    }
    *value = v;
    return SIP_OK;
}

enum sip_err sip_check_request_uri(const struct sip_msg *msg, struct sip_uri *uri)
{
    enum sip_err err = sip_uri_parse(msg->uri.p, msg->uri.len, uri);
    if (err == SIP_ERR_URI_SCHEME)
        return err;
    if (err || sip_str_present(uri->headers))
        return SIP_ERR_REQUEST_URI;
    return SIP_OK;
}
