/* hep_decode: the tests' stand-in for heplify-server. See hep_decode.h. */
#include "hep_decode.h"

#include <string.h>

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* body_size is the exact body length of a fixed-size chunk, 0 for octets. */
static size_t body_size(uint16_t type)
{
    switch (type) {
    case HEP_CHUNK_IP_FAMILY:
    case HEP_CHUNK_IP_PROTO:
    case HEP_CHUNK_PROTO_TYPE:
        return 1;
    case HEP_CHUNK_SRC_PORT:
    case HEP_CHUNK_DST_PORT:
        return 2;
    case HEP_CHUNK_IPV4_SRC:
    case HEP_CHUNK_IPV4_DST:
    case HEP_CHUNK_TS_SEC:
    case HEP_CHUNK_TS_USEC:
    case HEP_CHUNK_CAPTURE_ID:
        return 4;
    case HEP_CHUNK_IPV6_SRC:
    case HEP_CHUNK_IPV6_DST:
        return 16;
    default:
        return 0;
    }
}

static void store(struct hep_decoded *out, uint16_t type, const uint8_t *body, size_t n)
{
    struct hep_octets octets = {body, n};
    switch (type) {
    case HEP_CHUNK_IP_FAMILY:
        out->family = body[0];
        break;
    case HEP_CHUNK_IP_PROTO:
        out->ip_proto = body[0];
        break;
    case HEP_CHUNK_PROTO_TYPE:
        out->proto_type = body[0];
        break;
    case HEP_CHUNK_IPV4_SRC:
    case HEP_CHUNK_IPV6_SRC:
        memcpy(out->src_addr, body, n);
        break;
    case HEP_CHUNK_IPV4_DST:
    case HEP_CHUNK_IPV6_DST:
        memcpy(out->dst_addr, body, n);
        break;
    case HEP_CHUNK_SRC_PORT:
        out->src_port = get16(body);
        break;
    case HEP_CHUNK_DST_PORT:
        out->dst_port = get16(body);
        break;
    case HEP_CHUNK_TS_SEC:
        out->ts_sec = get32(body);
        break;
    case HEP_CHUNK_TS_USEC:
        out->ts_usec = get32(body);
        break;
    case HEP_CHUNK_CAPTURE_ID:
        out->capture_id = get32(body);
        break;
    case HEP_CHUNK_AUTH_KEY:
        out->auth_key = octets;
        break;
    case HEP_CHUNK_CORRELATION_ID:
        out->correlation_id = octets;
        break;
    case HEP_CHUNK_NODE_NAME:
        out->node_name = octets;
        break;
    case HEP_CHUNK_PAYLOAD:
        out->payload = octets;
        break;
    default:
        break;
    }
}

size_t hep_decode(const uint8_t *buf, size_t len, struct hep_decoded *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    if (len < 6) {
        *why = "incomplete";
        return 0;
    }
    if (memcmp(buf, "HEP3", 4) != 0) {
        *why = "no HEP3 magic";
        return 0;
    }
    size_t total = get16(buf + 4);
    if (total < 6) {
        *why = "packet length shorter than its header";
        return 0;
    }
    if (total > len) {
        *why = "incomplete";
        return 0;
    }
    for (size_t at = 6; at < total;) {
        if (total - at < 6) {
            *why = "chunk header cut by the packet end";
            return 0;
        }
        uint16_t vendor = get16(buf + at), type = get16(buf + at + 2);
        size_t chunk_len = get16(buf + at + 4);
        if (chunk_len < 6 || chunk_len > total - at) {
            *why = "chunk length outside the packet";
            return 0;
        }
        const uint8_t *body = buf + at + 6;
        size_t n = chunk_len - 6;
        at += chunk_len;
        if (vendor != 0)
            continue;
        size_t want = body_size(type);
        if (want && n != want) {
            *why = "fixed-size chunk of the wrong size";
            return 0;
        }
        if (type < 32)
            out->seen |= UINT32_C(1) << type;
        store(out, type, body, n);
    }
    return total;
}
