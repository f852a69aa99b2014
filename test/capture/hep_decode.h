/* hep_decode: a HEPv3 decoder for the tests. It stands in for
 * heplify-server (Homer's collector), which is not packaged for Debian, and
 * applies its rules: the header's length must equal the packet's, every
 * chunk is at least 6 bytes and inside the packet, fixed-size chunks have
 * their exact size, unknown chunks are skipped. sngrep, the real collector
 * the e2e tests use, listens over UDP only and keeps neither the capture id
 * nor the auth key in its pcap: this decoder checks those.
 *
 * Owns nothing: fields point into the caller's packet bytes. Never
 * allocates. */
#ifndef REUSEGW_TEST_HEP_DECODE_H
#define REUSEGW_TEST_HEP_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture/hep.h"

/* hep_decoded is what one packet said; |seen| has bit N set when chunk
 * type N (< 32) appeared, so a test can tell "absent" from "zero". */
struct hep_decoded {
    uint32_t seen;
    uint8_t family, ip_proto, proto_type;
    uint8_t src_addr[16], dst_addr[16];
    uint16_t src_port, dst_port;
    uint32_t ts_sec, ts_usec, capture_id;
    struct hep_octets auth_key, correlation_id, node_name, payload;
};

/* hep_decode parses one packet at the start of |buf| (|len| bytes; a
 * stream may hold more after it). Returns the packet's length, or 0 with
 * |why| (static text) set when the bytes are not a valid HEPv3 packet or
 * do not hold a whole one yet (|why| "incomplete"). */
size_t hep_decode(const uint8_t *buf, size_t len, struct hep_decoded *out, const char **why);

#endif
