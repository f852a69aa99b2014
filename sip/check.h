/* sip/check.h: the minimal semantic checks the gateway applies before
 * relaying, one function per rule so the caller picks which to enforce and
 * what to answer. Reads a parsed message; never modifies or answers it. */
#ifndef REUSEGW_SIP_CHECK_H
#define REUSEGW_SIP_CHECK_H

#include "sip/message.h"
#include "sip/uri.h"

/* The parsed CSeq header. */
struct sip_cseq {
    uint32_t number; /* 0 .. 2^31 - 1 (RFC 3261 §8.1.1.5) */
    struct sip_str method;
};

/* The header section (start line, header lines and the empty line) holds no
 * control octet (%x00-1F, %x7F) but HTAB, the CR LF (or bare LF) line ends
 * and one escaped by a backslash: RFC 3261's quoted-pair, the only place
 * its grammar admits one (inside a quoted-string or comment; any octet but
 * CR and LF). NUL is refused even escaped: a legacy proxy in C may end a
 * string at it, which lets a peer smuggle what follows past reusegw (so
 * RFC 4475 3.1.1.2, whose To display-name holds a quoted-pair NUL, is
 * refused). SIP_ERR_CONTROL_CHAR otherwise. Call it before anything reads a
 * value. */
enum sip_err sip_check_chars(const struct sip_msg *msg);

/* sip_check_chars_in is sip_check_chars over the header section
 * buf[0..header_len) of a message not parsed (sip/peek.h's rows). */
enum sip_err sip_check_chars_in(const char *buf, size_t header_len);

/* The headers every request and response needs: Via, From, To, Call-ID,
 * CSeq (first missing one is reported), plus Max-Forwards when
 * need_max_forwards (requests; RFC 2543 peers omit it). */
enum sip_err sip_check_required(const struct sip_msg *msg, bool need_max_forwards);

/* From, To, Call-ID, CSeq, Max-Forwards and Content-Length appear at most
 * once (RFC 4475 multi01). SIP_ERR_MULTIPLE_VALUES. */
enum sip_err sip_check_single(const struct sip_msg *msg);

/* Parses a CSeq value: 1*DIGIT LWS method. SIP_ERR_CSEQ. */
enum sip_err sip_cseq_parse(struct sip_str value, struct sip_cseq *cseq);

/* Parses the message's CSeq into *cseq and, for a request, requires its
 * method to equal the request method (case-sensitive): SIP_ERR_CSEQ_METHOD.
 * SIP_ERR_MISSING_CSEQ without one. */
enum sip_err sip_check_cseq(const struct sip_msg *msg, struct sip_cseq *cseq);

/* SIP_OK for SIP/2.0, SIP_ERR_VERSION (answer 505) for any other version. */
enum sip_err sip_check_version(const struct sip_msg *msg);

/* Max-Forwards value (0..255) into *value; *present false and SIP_OK when
 * the header is absent. SIP_ERR_MAX_FORWARDS for a bad value. */
enum sip_err sip_max_forwards(const struct sip_msg *msg, unsigned *value, bool *present);

/* Parses a request's Request-URI into *uri. SIP_ERR_URI_SCHEME for a
 * non-SIP scheme (answer 416), SIP_ERR_REQUEST_URI for bad syntax or for
 * URI headers, which RFC 3261 §19.1.5 forbids in a Request-URI. */
enum sip_err sip_check_request_uri(const struct sip_msg *msg, struct sip_uri *uri);

#endif
