/* sip/header.h: header names the gateway cares about (full and compact
 * forms, RFC 3261 §7.3.3) and the comma-list splitter for multi-valued
 * headers. Borrows the caller's bytes; knows nothing of any header's
 * grammar beyond quotes and angle brackets. */
#ifndef REUSEGW_SIP_HEADER_H
#define REUSEGW_SIP_HEADER_H

#include "sip/str.h"

/* Known header names. SIP_HDR_OTHER covers every other name, which is kept
 * in the index as written and relayed untouched. */
enum sip_hdr {
    SIP_HDR_OTHER = 0,
    SIP_HDR_VIA,     /* v */
    SIP_HDR_FROM,    /* f */
    SIP_HDR_TO,      /* t */
    SIP_HDR_CALL_ID, /* i */
    SIP_HDR_CSEQ,
    SIP_HDR_MAX_FORWARDS,
    SIP_HDR_CONTENT_LENGTH,   /* l */
    SIP_HDR_CONTENT_TYPE,     /* c */
    SIP_HDR_CONTENT_ENCODING, /* e */
    SIP_HDR_CONTACT,          /* m */
    SIP_HDR_ROUTE,
    SIP_HDR_RECORD_ROUTE,
    SIP_HDR_REQUIRE,
    SIP_HDR_PROXY_REQUIRE,
    SIP_HDR_SUPPORTED,           /* k */
    SIP_HDR_SUBJECT,             /* s */
    SIP_HDR_EVENT,               /* o, RFC 6665 */
    SIP_HDR_ALLOW_EVENTS,        /* u, RFC 6665 */
    SIP_HDR_REFER_TO,            /* r, RFC 3515 */
    SIP_HDR_REFERRED_BY,         /* b, RFC 3892 */
    SIP_HDR_SESSION_EXPIRES,     /* x, RFC 4028 */
    SIP_HDR_ACCEPT_CONTACT,      /* a, RFC 3841 */
    SIP_HDR_REJECT_CONTACT,      /* j, RFC 3841 */
    SIP_HDR_REQUEST_DISPOSITION, /* d, RFC 3841 */
    SIP_HDR_IDENTITY,            /* y, RFC 4474 */
    SIP_HDR_IDENTITY_INFO,       /* n, RFC 4474 */
    SIP_HDR_REASON,
    SIP_HDR_WARNING,
    SIP_HDR__COUNT
};

/* Identifies a header name (full or compact form, any case). */
enum sip_hdr sip_hdr_lookup(const char *name, size_t len);

/* The canonical full name of a known header ("Via"), or NULL for OTHER. */
const char *sip_hdr_name(enum sip_hdr id);

/* Splits a comma-separated header value (Via, Route, Record-Route, Contact,
 * ...): commas inside quoted strings and angle brackets do not separate.
 * *rest is the unparsed remainder (start with the header value); on true,
 * *item is the next element with surrounding LWS trimmed and *rest moves
 * past it. Empty elements (",,") are skipped. Returns false at the end. */
bool sip_list_next(struct sip_str *rest, struct sip_str *item);

#endif
