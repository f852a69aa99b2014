/* hep: the HEPv3 encoder. See hep.h. */
#include "capture/hep.h"

#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

enum { HEADER_LEN = 6, CHUNK_HEADER_LEN = 6, MAX_CHUNK_BODY = 65535 - CHUNK_HEADER_LEN };

/* writer appends to a buffer whose room was checked once, up front. */
struct writer {
    uint8_t *p;
};

static void put16(struct writer *w, uint16_t v)
{
    w->p[0] = (uint8_t)(v >> 8);
    w->p[1] = (uint8_t)v;
    w->p += 2;
}

static void put32(struct writer *w, uint32_t v)
{
    put16(w, (uint16_t)(v >> 16));
    put16(w, (uint16_t)v);
}

static void chunk_header(struct writer *w, enum hep_chunk_type type, size_t body_len)
{
    put16(w, 0); /* generic vendor */
    put16(w, (uint16_t)type);
    put16(w, (uint16_t)(CHUNK_HEADER_LEN + body_len));
}

static void chunk_bytes(struct writer *w, enum hep_chunk_type type, const void *p, size_t len)
{
    chunk_header(w, type, len);
    if (len) /* an empty payload may come with a NULL pointer */
        memcpy(w->p, p, len);
    w->p += len;
}

static void chunk_u8(struct writer *w, enum hep_chunk_type type, uint8_t v)
{
    chunk_bytes(w, type, &v, 1);
}

static void chunk_u16(struct writer *w, enum hep_chunk_type type, uint16_t v)
{
    chunk_header(w, type, 2);
    put16(w, v);
}

static void chunk_u32(struct writer *w, enum hep_chunk_type type, uint32_t v)
{
    chunk_header(w, type, 4);
    put32(w, v);
}

/* optional_size is what an octet chunk costs: nothing when it is empty. */
static size_t optional_size(struct hep_octets o)
{
    return o.len ? CHUNK_HEADER_LEN + o.len : 0;
}

static size_t address_len(int family)
{
    return family == AF_INET6 ? 16 : 4;
}

size_t hep_encoded_size(const struct hep_packet *p)
{
    size_t fixed = HEADER_LEN + 2 * (CHUNK_HEADER_LEN + 1)            /* family, proto */
                   + 2 * (CHUNK_HEADER_LEN + address_len(p->family))  /* addresses */
                   + 2 * (CHUNK_HEADER_LEN + 2)                       /* ports */
                   + 2 * (CHUNK_HEADER_LEN + 4)                       /* timestamp */
                   + (CHUNK_HEADER_LEN + 1) + (CHUNK_HEADER_LEN + 4); /* type, id */
    return fixed + optional_size(p->auth_key) + optional_size(p->correlation_id) +
           optional_size(p->node_name) + CHUNK_HEADER_LEN + p->payload.len;
}

static bool octets_fit(struct hep_octets o)
{
    return o.len <= MAX_CHUNK_BODY;
}

static void chunk_optional(struct writer *w, enum hep_chunk_type type, struct hep_octets o)
{
    if (o.len)
        chunk_bytes(w, type, o.p, o.len);
}

enum hep_err hep_encode(const struct hep_packet *p, uint8_t *buf, size_t cap, size_t *len)
{
    *len = 0;
    if (p->family != AF_INET && p->family != AF_INET6)
        return HEP_ERR_FAMILY;
    /* Each length is checked before the sum so that the sum cannot wrap. */
    if (!octets_fit(p->auth_key) || !octets_fit(p->correlation_id) || !octets_fit(p->node_name) ||
        !octets_fit(p->payload))
        return HEP_ERR_TOO_LARGE;
    size_t total = hep_encoded_size(p);
    if (total > HEP_MAX_PACKET)
        return HEP_ERR_TOO_LARGE;
    if (total > cap)
        return HEP_ERR_NO_ROOM;
    bool v6 = p->family == AF_INET6;
    size_t alen = address_len(p->family);
    struct writer w = {buf};
    memcpy(w.p, "HEP3", 4);
    w.p += 4;
    put16(&w, (uint16_t)total);
    chunk_u8(&w, HEP_CHUNK_IP_FAMILY, (uint8_t)p->family);
    chunk_u8(&w, HEP_CHUNK_IP_PROTO, (uint8_t)p->ip_proto);
    chunk_bytes(&w, v6 ? HEP_CHUNK_IPV6_SRC : HEP_CHUNK_IPV4_SRC, p->src.addr, alen);
    chunk_bytes(&w, v6 ? HEP_CHUNK_IPV6_DST : HEP_CHUNK_IPV4_DST, p->dst.addr, alen);
    chunk_u16(&w, HEP_CHUNK_SRC_PORT, p->src.port);
    chunk_u16(&w, HEP_CHUNK_DST_PORT, p->dst.port);
    chunk_u32(&w, HEP_CHUNK_TS_SEC, p->ts_sec);
    chunk_u32(&w, HEP_CHUNK_TS_USEC, p->ts_usec);
    chunk_u8(&w, HEP_CHUNK_PROTO_TYPE, HEP_PROTO_TYPE_SIP);
    chunk_u32(&w, HEP_CHUNK_CAPTURE_ID, p->capture_id);
    chunk_optional(&w, HEP_CHUNK_AUTH_KEY, p->auth_key);
    chunk_optional(&w, HEP_CHUNK_CORRELATION_ID, p->correlation_id);
    chunk_optional(&w, HEP_CHUNK_NODE_NAME, p->node_name);
    chunk_bytes(&w, HEP_CHUNK_PAYLOAD, p->payload.p, p->payload.len);
    *len = total;
    return HEP_OK;
}
