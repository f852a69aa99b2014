/* hep: one SIP message as one HEPv3 packet (the Homer Encapsulation
 * Protocol that heplify-server, Homer, sngrep and Kamailio's sipcapture
 * collect).
 *
 * Owns nothing: hep_encode is a pure function that writes into the caller's
 * buffer and borrows every field of the packet description for the call.
 * Never allocates, never reads a clock, never touches a socket: the capture
 * sender (capture/sender.h) decides when, where and whether to send.
 *
 * Wire format: "HEP3", a 16-bit total length, then chunks, each a 16-bit
 * vendor id (0, generic), a 16-bit type id and a 16-bit length that counts
 * the 6-byte chunk header too; every integer is big-endian. */
#ifndef REUSEGW_CAPTURE_HEP_H
#define REUSEGW_CAPTURE_HEP_H

#include <stddef.h>
#include <stdint.h>

/* HEP_MAX_PACKET is the largest packet the 16-bit length field can say. */
#define HEP_MAX_PACKET 65535u

/* hep_chunk_type: the generic (vendor 0) chunk type ids reusegw writes. */
enum hep_chunk_type {
    HEP_CHUNK_IP_FAMILY = 1,       /* uint8: AF_INET (2) or AF_INET6 (10) */
    HEP_CHUNK_IP_PROTO = 2,        /* uint8: enum hep_ip_proto */
    HEP_CHUNK_IPV4_SRC = 3,        /* 4 bytes */
    HEP_CHUNK_IPV4_DST = 4,        /* 4 bytes */
    HEP_CHUNK_IPV6_SRC = 5,        /* 16 bytes */
    HEP_CHUNK_IPV6_DST = 6,        /* 16 bytes */
    HEP_CHUNK_SRC_PORT = 7,        /* uint16 */
    HEP_CHUNK_DST_PORT = 8,        /* uint16 */
    HEP_CHUNK_TS_SEC = 9,          /* uint32: seconds since the epoch */
    HEP_CHUNK_TS_USEC = 10,        /* uint32: microseconds within it */
    HEP_CHUNK_PROTO_TYPE = 11,     /* uint8: 1 is SIP */
    HEP_CHUNK_CAPTURE_ID = 12,     /* uint32: the capture agent's id */
    HEP_CHUNK_AUTH_KEY = 14,       /* octets: the collector's password */
    HEP_CHUNK_PAYLOAD = 15,        /* octets: the SIP message */
    HEP_CHUNK_CORRELATION_ID = 17, /* octets: reusegw writes the Call-ID */
    HEP_CHUNK_NODE_NAME = 19,      /* octets: the capture node's name */
};

/* HEP_PROTO_TYPE_SIP is the payload type of a SIP message. */
#define HEP_PROTO_TYPE_SIP 1

/* hep_ip_proto: what the IP protocol chunk says about the leg. TLS is not
 * an IP protocol; Kamailio's siptrace and sipcapture and Homer's UI use 22
 * (IPPROTO_IDP) as its stand-in, so a collector shows the leg as TLS. */
enum hep_ip_proto {
    HEP_IP_PROTO_TCP = 6,
    HEP_IP_PROTO_UDP = 17,
    HEP_IP_PROTO_TLS = 22,
};

/* hep_endpoint is one end of the captured leg: |addr| holds 4 bytes for
 * AF_INET, 16 for AF_INET6, in network order; |port| is in host order. */
struct hep_endpoint {
    uint8_t addr[16];
    uint16_t port;
};

/* hep_octets is a borrowed byte string; len 0 leaves its chunk out (the
 * payload is always written). */
struct hep_octets {
    const void *p;
    size_t len;
};

/* hep_packet describes one captured message. */
struct hep_packet {
    int family; /* AF_INET or AF_INET6, for both endpoints */
    enum hep_ip_proto ip_proto;
    struct hep_endpoint src, dst;
    uint32_t ts_sec, ts_usec;
    uint32_t capture_id;
    struct hep_octets auth_key;       /* capture.hep.password */
    struct hep_octets correlation_id; /* the Call-ID */
    struct hep_octets node_name;      /* capture.hep.node_name */
    struct hep_octets payload;        /* the SIP message */
};

/* hep_err: why a packet was not written. */
enum hep_err {
    HEP_OK,
    HEP_ERR_FAMILY,    /* family is neither AF_INET nor AF_INET6 */
    HEP_ERR_TOO_LARGE, /* more than HEP_MAX_PACKET bytes, or a chunk over 65535 */
    HEP_ERR_NO_ROOM,   /* it does not fit the caller's buffer */
};

/* hep_encoded_size returns the bytes |p| takes as one packet (which may
 * exceed HEP_MAX_PACKET: hep_encode then refuses it). */
size_t hep_encoded_size(const struct hep_packet *p);

/* hep_encode writes |p| into |buf| (|cap| bytes) and sets |*len| to the
 * packet's length. On an error nothing is promised about |buf| and |*len|
 * is 0. */
enum hep_err hep_encode(const struct hep_packet *p, uint8_t *buf, size_t cap, size_t *len);

#endif
