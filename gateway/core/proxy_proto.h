/* proxy_proto: the PROXY protocol header (HAProxy's proxy-protocol.txt,
 * versions 1 and 2) a load balancer puts in front of a TCP stream to say
 * whose connection it relays.
 *
 * A stateless parser: each call reads the bytes received so far from the
 * caller's buffer (borrowed for the call, never copied, never kept) and
 * says whether they hold a whole header, a prefix of one, or something
 * that can never become one. The caller keeps the bytes between calls and
 * calls again with more; headers are short, so reading them again from the
 * start costs nothing and keeps the parser free of state. Never allocates,
 * never touches a socket, knows nothing of the loop or of connections. */
#ifndef REUSEGW_PROXY_PROTO_H
#define REUSEGW_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* PP_V1_MAX is the longest v1 header, CRLF included (the specification's
 * bound). PP_V2_MAX_PAYLOAD bounds what follows the 16 bytes of a v2
 * header: the addresses (at most 36 bytes for TCP over IPv6) and the TLVs
 * balancers add (AWS, Azure and GCP endpoint ids are a few dozen bytes).
 * PP_MAX_HEADER is then the most a caller ever keeps for one header. */
#define PP_V1_MAX 107
#define PP_V2_MAX_PAYLOAD 512
#define PP_MAX_HEADER (16 + PP_V2_MAX_PAYLOAD)

enum pp_status {
    PP_NEED_MORE, /* a prefix of a header: call again with more bytes */
    PP_DONE,      /* a whole header: see struct pp_header */
    PP_ERROR,     /* never a header, whatever follows: see enum pp_error */
};

/* pp_error says why bytes are not a PROXY header. The order is the export
 * order of the first reasons of reusegw_proxy_protocol_rejected_total
 * (metrics_proxy_reject_names). */
enum pp_error {
    PP_ERR_MISSING,     /* no header at all (a TLS ClientHello, say) */
    PP_ERR_SIGNATURE,   /* begins like a signature, then differs */
    PP_ERR_V1_SYNTAX,   /* v1 line not "PROXY TCP4|TCP6 src dst sport dport" */
    PP_ERR_V1_TOO_LONG, /* no CRLF within PP_V1_MAX bytes */
    PP_ERR_V2_VERSION,  /* v2 version nibble is not 2 */
    PP_ERR_V2_COMMAND,  /* v2 command is neither LOCAL nor PROXY */
    PP_ERR_V2_FAMILY,   /* v2 PROXY of a family or transport other than TCP/IP */
    PP_ERR_V2_TOO_LONG, /* v2 length beyond PP_V2_MAX_PAYLOAD */
    PP_ERR_V2_SHORT,    /* v2 length too short for its addresses */
    PP_ERRORS
};

/* pp_header is one parsed header. */
struct pp_header {
    size_t len;      /* bytes the header takes: the stream proper follows */
    uint8_t version; /* 1 or 2 */
    /* No relayed client: a v2 LOCAL command (a balancer's health check) or
     * a v1 UNKNOWN line. |src| is then unset. */
    bool local;
    struct sockaddr_storage src; /* the client's address and port */
    socklen_t src_len;
};

/* pp_parse reads the |len| bytes at |buf|. On PP_DONE it fills |out|; on
 * PP_ERROR it sets |*err|. Every prefix of a valid header is PP_NEED_MORE,
 * and PP_NEED_MORE is only ever answered for fewer than PP_MAX_HEADER
 * bytes, so a caller never keeps more. */
enum pp_status pp_parse(const uint8_t *buf, size_t len, struct pp_header *out, enum pp_error *err);

/* pp_looks_like_header reports whether the |len| (> 0) bytes at |buf|
 * begin like a v1 or v2 signature (its first min(len, signature) bytes):
 * what a source that must not send a header is refused for. A TLS record
 * never does (its first byte is 0x16). */
bool pp_looks_like_header(const uint8_t *buf, size_t len);

#endif
