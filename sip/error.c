#include "sip/error.h"

#include <stddef.h>

static const char *const texts[SIP_ERR__COUNT] = {
    [SIP_OK] = "OK",
    [SIP_ERR_HEADERS_TOO_LARGE] = "Header Section Too Large",
    [SIP_ERR_MESSAGE_TOO_LARGE] = "Message Too Large",
    [SIP_ERR_CL_MISSING] = "Missing Content-Length",
    [SIP_ERR_CL_INVALID] = "Bad Content-Length",
    [SIP_ERR_CL_DUPLICATE] = "Duplicate Content-Length",
    [SIP_ERR_CL_CONFLICT] = "Conflicting Content-Length",
    [SIP_ERR_BODY_TRUNCATED] = "Content-Length Exceeds Message",
    [SIP_ERR_BARE_CR] = "Bare CR in Header Section",
    [SIP_ERR_START_LINE] = "Malformed Start Line",
    [SIP_ERR_METHOD] = "Malformed Method",
    [SIP_ERR_REQUEST_URI] = "Malformed Request-URI",
    [SIP_ERR_VERSION] = "Version Not Supported",
    [SIP_ERR_STATUS] = "Malformed Status Code",
    [SIP_ERR_HEADER_SYNTAX] = "Malformed Header",
    [SIP_ERR_TOO_MANY_HEADERS] = "Too Many Headers",
    [SIP_ERR_CONTROL_CHAR] = "Control Character in Header Section",
    [SIP_ERR_VIA] = "Malformed Via",
    [SIP_ERR_TOO_MANY_PARAMS] = "Too Many Parameters",
    [SIP_ERR_URI] = "Malformed URI",
    [SIP_ERR_URI_SCHEME] = "Unsupported URI Scheme",
    [SIP_ERR_NAME_ADDR] = "Malformed Address",
    [SIP_ERR_HOST] = "Malformed Host",
    [SIP_ERR_PORT] = "Malformed Port",
    [SIP_ERR_MISSING_VIA] = "Missing Via",
    [SIP_ERR_MISSING_FROM] = "Missing From",
    [SIP_ERR_MISSING_TO] = "Missing To",
    [SIP_ERR_MISSING_CALL_ID] = "Missing Call-ID",
    [SIP_ERR_MISSING_CSEQ] = "Missing CSeq",
    [SIP_ERR_MISSING_MAX_FORWARDS] = "Missing Max-Forwards",
    [SIP_ERR_MULTIPLE_VALUES] = "Multiple Values in Single-Value Header",
    [SIP_ERR_CSEQ] = "Malformed CSeq",
    [SIP_ERR_CSEQ_METHOD] = "CSeq Method Mismatch",
    [SIP_ERR_MAX_FORWARDS] = "Malformed Max-Forwards",
    [SIP_ERR_NO_SPACE] = "Output Too Large",
    [SIP_ERR_EDIT_OVERLAP] = "Overlapping Edits",
    [SIP_ERR_NOT_FOUND] = "Not Found",
};

const char *sip_err_text(enum sip_err err)
{
    if ((unsigned)err >= SIP_ERR__COUNT || texts[err] == NULL)
        return "Bad Request";
    return texts[err];
}

unsigned sip_err_status(enum sip_err err)
{
    switch (err) {
    case SIP_OK:
        return 200;
    case SIP_ERR_VERSION:
        return 505;
    case SIP_ERR_HEADERS_TOO_LARGE:
    case SIP_ERR_MESSAGE_TOO_LARGE:
        return 513;
    default:
        return 400;
    }
}
