/* sip/error.h: the reason codes every sip/ function returns. Owns the code
 * list and its short texts (fit for a 400 reason phrase); the caller decides
 * whether an error is answered, dropped or closes the connection. */
#ifndef REUSEGW_SIP_ERROR_H
#define REUSEGW_SIP_ERROR_H

/* Reason codes. SIP_OK is zero so `if (err)` reads naturally. */
enum sip_err {
    SIP_OK = 0,
    /* Stream framing (RFC 3261 §18.3). */
    SIP_ERR_HEADERS_TOO_LARGE, /* header section over max_message_bytes */
    SIP_ERR_MESSAGE_TOO_LARGE, /* headers + Content-Length over the limit */
    SIP_ERR_CL_MISSING,        /* no Content-Length on a stream */
    SIP_ERR_CL_INVALID,        /* negative, non-numeric or overflowing value */
    SIP_ERR_CL_DUPLICATE,      /* Content-Length twice with the same value */
    SIP_ERR_CL_CONFLICT,       /* Content-Length twice with different values */
    SIP_ERR_BODY_TRUNCATED,    /* Content-Length larger than the bytes given */
    SIP_ERR_BARE_CR,           /* CR not followed by LF between headers */
    /* Start line and header section. */
    SIP_ERR_START_LINE,
    SIP_ERR_METHOD,
    SIP_ERR_REQUEST_URI,
    SIP_ERR_VERSION, /* well-formed but not SIP/2.0: answer 505 */
    SIP_ERR_STATUS,
    SIP_ERR_HEADER_SYNTAX,
    SIP_ERR_TOO_MANY_HEADERS,
    SIP_ERR_CONTROL_CHAR, /* NUL or another control octet (sip_check_chars) */
    /* Header values. */
    SIP_ERR_VIA,
    SIP_ERR_TOO_MANY_PARAMS,
    SIP_ERR_URI,
    SIP_ERR_URI_SCHEME, /* parsed, but neither sip: nor sips: */
    SIP_ERR_NAME_ADDR,
    SIP_ERR_HOST,
    SIP_ERR_PORT,
    /* Semantic checks (sip/check.h). */
    SIP_ERR_MISSING_VIA,
    SIP_ERR_MISSING_FROM,
    SIP_ERR_MISSING_TO,
    SIP_ERR_MISSING_CALL_ID,
    SIP_ERR_MISSING_CSEQ,
    SIP_ERR_MISSING_MAX_FORWARDS,
    SIP_ERR_MULTIPLE_VALUES, /* a single-valued header appears twice */
    SIP_ERR_CSEQ,
    SIP_ERR_CSEQ_METHOD,
    SIP_ERR_MAX_FORWARDS,
    /* Editing and building. */
    SIP_ERR_NO_SPACE, /* caller's buffer, iovec array or patch list is full */
    SIP_ERR_EDIT_OVERLAP,
    SIP_ERR_NOT_FOUND,
    SIP_ERR__COUNT
};

/* Short human text for a code, e.g. "Bad Content-Length"; never NULL,
 * static storage, safe as a SIP reason phrase (no CR/LF). */
const char *sip_err_text(enum sip_err err);

/* The status a server would answer a request failing with this code:
 * 505 for SIP_ERR_VERSION, 513 for size limits, else 400. */
unsigned sip_err_status(enum sip_err err);

#endif
