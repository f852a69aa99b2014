/* sip/response.h: builds the gateway's own answers (400, 483, 503, ...) to
 * a parsed request into a caller buffer (RFC 3261 §8.2.6). Borrows the
 * request; writes only inside the given buffer; never sends anything. */
#ifndef REUSEGW_SIP_RESPONSE_H
#define REUSEGW_SIP_RESPONSE_H

#include "sip/message.h"

/* What the response says beyond the copied headers. */
struct sip_response_spec {
    unsigned status;    /* 100..699 */
    const char *reason; /* reason phrase; NULL: the standard one for status */
    const char *to_tag; /* tag added to To when it has none; NULL: derived
                           from Call-ID, From tag and top branch, so a
                           retransmitted request gets the same tag */
    const char *extra;  /* NULL, or whole header lines each ending in CRLF,
                           e.g. "Warning: 399 gw \"no route\"\r\n" */
    bool top_via_only;  /* copy the first Via header line only: for a request
                           whose Via list cannot be copied whole (too many
                           headers indexed, or too long); the sender matches
                           its transaction by the topmost value (RFC 3261
                           §17.1.3) and gets the response on its connection */
};

/* Writes a response to req into out[0..cap): status line, every Via value
 * (each Via header line copied; the first only with top_via_only), From, To (plus a tag for status
 * > 100 when it has none), Call-ID, CSeq, the extra lines, and Content-Length: 0. Missing request
 * headers are simply not copied. *len receives the size. SIP_ERR_NO_SPACE when cap is too small
 * (out is then unspecified); SIP_ERR_STATUS for a status outside 100..699, a reason or extra text
 * with a stray CR/LF, or a to_tag that is not a token. */
enum sip_err sip_build_response(const struct sip_msg *req, const struct sip_response_spec *spec,
                                char *out, size_t cap, size_t *len);

/* sip_response_basis copies into out[0..cap) what an answer to a request
 * must copy (RFC 3261 §8.2.6.2) when its header section cannot be parsed
 * whole: cut off at a size limit (no empty line within buf[0..len)), or with
 * more header lines than an index holds. The copy is the start line, the
 * first From, To, Call-ID and CSeq lines, then the Via lines in their order
 * while they fit (at most |max_vias|), then an empty line; every other
 * header is left out. Only complete lines count: a line whose end is the
 * last byte of buf could still continue (folding) and is left out with the
 * rest. Scanning stops at the empty line when there is one. Returns the
 * copy's length, or 0 when buf holds no complete start line or cap cannot
 * take it with the empty line. Borrows buf; writes only inside out. */
size_t sip_response_basis(const char *buf, size_t len, size_t max_vias, char *out, size_t cap);

/* The standard reason phrase of a status code ("Service Unavailable"), or
 * a class phrase ("Server Error") for codes without a well-known one. */
const char *sip_status_phrase(unsigned status);

#endif
