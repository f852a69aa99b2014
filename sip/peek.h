/* sip/peek.h: the fast path for relay rows that need a framed message's
 * start line, topmost Via and CSeq only (e.g. a response the legacy proxy
 * sends down its mirror connection): no header index, no look at any other
 * header. Borrows the message bytes and the frame sip_framer_feed returned
 * for them (which located the Via and CSeq lines in its own scan); fills the
 * caller's struct only; never allocates or copies.
 *
 * It checks less than sip_parse + sip/check.h: the start line, SIP/2.0, the
 * first via-parm of the first Via, and the CSeq (for a request, its method
 * must equal the request's). It does not check the syntax of other header
 * lines, the presence of From, To, Call-ID or Max-Forwards, or that
 * single-valued headers appear once. Whatever passes the full path passes
 * sip_peek with the same values (test/sip/test_peek.c, fuzz_sip_peek). */
#ifndef REUSEGW_SIP_PEEK_H
#define REUSEGW_SIP_PEEK_H

#include "sip/check.h"
#include "sip/framing.h"
#include "sip/via.h"

/* What sip_peek found. Slices borrow the message. */
struct sip_peek {
    bool is_request;
    struct sip_str method;     /* request */
    struct sip_str uri;        /* request: Request-URI as written */
    unsigned status;           /* response: 100..699 */
    struct sip_str via_header; /* the whole first Via header: continuation
                                  lines and last line end included (the
                                  range an edit drops or inserts before) */
    struct sip_via via;        /* its first via-parm */
    struct sip_cseq cseq;
};

/* Peeks at the message msg[0..frame->len) that sip_framer_feed framed as
 * SIP_FRAME_MESSAGE into *out. Errors as the full path reports them:
 * start-line errors, SIP_ERR_VERSION, SIP_ERR_MISSING_VIA, SIP_ERR_VIA (and
 * sip_via_parse's), SIP_ERR_MISSING_CSEQ, SIP_ERR_CSEQ, SIP_ERR_CSEQ_METHOD,
 * SIP_ERR_HEADER_SYNTAX for a Via or CSeq line without a colon. On error
 * *out holds what was found so far. */
enum sip_err sip_peek(const char *msg, const struct sip_frame *frame, struct sip_peek *out);

#endif
