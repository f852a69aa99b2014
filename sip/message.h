/* sip/message.h: one parsed SIP message as an index of slices: start line,
 * header array, first occurrence of each known header, body. Owns nothing:
 * slices borrow the message buffer and the header array is the caller's.
 * Never unfolds, unescapes or copies; header values stay raw. */
#ifndef REUSEGW_SIP_MESSAGE_H
#define REUSEGW_SIP_MESSAGE_H

#include <stdint.h>

#include "sip/error.h"
#include "sip/header.h"
#include "sip/str.h"

/* One header line of the message. */
struct sip_header {
    enum sip_hdr id;
    struct sip_str name;  /* as written, without WSP before the colon */
    struct sip_str value; /* LWS-trimmed; folded line ends stay inside */
    struct sip_str line;  /* whole header: continuation lines and last line end included */
};

/* Index value of sip_msg.first[] for a header that is absent. */
#define SIP_NO_HEADER UINT16_MAX

/* A parsed message. Request fields are empty for responses and vice versa. */
struct sip_msg {
    const char *buf; /* the parsed bytes (borrowed) */
    size_t len;      /* bytes given to sip_parse */
    bool is_request;
    struct sip_str start_line;  /* without its line end */
    struct sip_str method;      /* request */
    struct sip_str uri;         /* request: Request-URI as written */
    struct sip_str version;     /* both: "SIP/2.0" as written */
    unsigned status;            /* response: 100..699 */
    struct sip_str reason;      /* response: may be empty */
    struct sip_header *headers; /* the caller's array, nheaders filled */
    size_t nheaders;
    uint16_t first[SIP_HDR__COUNT]; /* index into headers, or SIP_NO_HEADER */
    uint16_t count[SIP_HDR__COUNT]; /* header lines of each kind */
    size_t header_len;              /* start line + headers + empty line */
    bool has_content_length;
    size_t content_length;
    struct sip_str body; /* Content-Length bytes after the header section, or
                            all the rest when Content-Length is absent */
};

/* Parses the message buf[0..len) (one framed stream message, or a whole
 * datagram) into *msg, filling up to max_headers entries of headers[]
 * (max_headers above 65534 is treated as 65534). Checks the start-line and
 * header-line syntax and the Content-Length rules; semantic checks live in
 * sip/check.h. Bytes past Content-Length are ignored (trailing datagram
 * octets); a missing empty line at the very end is accepted (datagram).
 * On error *msg holds what was parsed so far. */
enum sip_err sip_parse(const char *buf, size_t len, struct sip_msg *msg, struct sip_header *headers,
                       size_t max_headers);

/* Parses the start line buf[0..nl] (nl: its LF) into msg's start-line
 * fields (start_line, is_request, method, uri, version, status, reason;
 * those a response or request lacks are empty), as sip_parse does; leaves
 * the rest of *msg alone. sip_peek shares it. */
enum sip_err sip_parse_start_line(const char *buf, const char *nl, struct sip_msg *msg);

/* The first header of a kind, or NULL. */
static inline const struct sip_header *sip_msg_header(const struct sip_msg *msg, enum sip_hdr id)
{
    uint16_t i = msg->first[id];
    return i == SIP_NO_HEADER ? NULL : &msg->headers[i];
}

/* The next header of the same kind after h, or NULL. */
const struct sip_header *sip_msg_next(const struct sip_msg *msg, const struct sip_header *h);

#endif
