/* Round trip: any packet description the input spells is encoded, then
 * read back by the stand-in collector (hep_decode.h), and every field must
 * come back equal; a refusal must be the one hep_encoded_size predicts.
 * The raw input also goes through the decoder and the Call-ID scan
 * (call_id.h), which must answer a slice of one line inside it.
 *
 * Input layout: byte 0 flags (bit 0 IPv6, bits 1-2 ip proto), bytes 1-36
 * addresses and ports, 37-48 timestamp and capture id, 49-51 the lengths of
 * the auth key, correlation id and node name (the payload takes the rest,
 * all cut from the bytes that follow), 52-53 the caller buffer's room. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "capture/call_id.h"
#include "capture/hep.h"
#include "hep_decode.h"

enum { HEADER = 54 };

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static struct hep_octets take(const uint8_t **at, size_t *left, size_t want)
{
    size_t n = want < *left ? want : *left;
    struct hep_octets o = {*at, n};
    *at += n;
    *left -= n;
    return o;
}

static void same(struct hep_octets a, struct hep_octets b)
{
    if (a.len != b.len || (a.len && memcmp(a.p, b.p, a.len) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hep_decoded d;
    const char *why;
    hep_decode(data, size, &d, &why); /* the stand-in itself takes any bytes */
    /* The Call-ID scan stays inside the message and returns one line. */
    struct hep_octets id = capture_call_id((const char *)data, size);
    if ((const uint8_t *)id.p < data || (const uint8_t *)id.p + id.len > data + size ||
        memchr(id.p, '\n', id.len) || memchr(id.p, '\r', id.len))
        abort();
    if (size < HEADER)
        return 0;
    static const enum hep_ip_proto protos[] = {HEP_IP_PROTO_TCP, HEP_IP_PROTO_UDP, HEP_IP_PROTO_TLS,
                                               HEP_IP_PROTO_TCP};
    struct hep_packet p = {
        .family = data[0] & 1 ? AF_INET6 : AF_INET,
        .ip_proto = protos[(data[0] >> 1) & 3],
        .src.port = (uint16_t)(data[33] << 8 | data[34]),
        .dst.port = (uint16_t)(data[35] << 8 | data[36]),
        .ts_sec = get32(data + 37),
        .ts_usec = get32(data + 41),
        .capture_id = get32(data + 45),
    };
    memcpy(p.src.addr, data + 1, 16);
    memcpy(p.dst.addr, data + 17, 16);
    const uint8_t *at = data + HEADER;
    size_t left = size - HEADER;
    p.auth_key = take(&at, &left, data[49]);
    p.correlation_id = take(&at, &left, data[50]);
    p.node_name = take(&at, &left, data[51]);
    p.payload = take(&at, &left, left);
    size_t cap = (size_t)(data[52] << 8 | data[53]) * 2;
    uint8_t *buf = malloc(cap ? cap : 1);
    size_t len;
    enum hep_err err = hep_encode(&p, buf, cap, &len);
    size_t need = hep_encoded_size(&p);
    if (err != HEP_OK) {
        if (len != 0 || (err == HEP_ERR_NO_ROOM) != (need <= HEP_MAX_PACKET && need > cap) ||
            (err == HEP_ERR_TOO_LARGE) != (need > HEP_MAX_PACKET))
            abort();
        free(buf);
        return 0;
    }
    if (len != need || need > cap || hep_decode(buf, len, &d, &why) != len)
        abort();
    size_t alen = p.family == AF_INET6 ? 16 : 4;
    if (d.family != p.family || d.ip_proto != p.ip_proto || d.proto_type != HEP_PROTO_TYPE_SIP ||
        memcmp(d.src_addr, p.src.addr, alen) || memcmp(d.dst_addr, p.dst.addr, alen) ||
        d.src_port != p.src.port || d.dst_port != p.dst.port || d.ts_sec != p.ts_sec ||
        d.ts_usec != p.ts_usec || d.capture_id != p.capture_id)
        abort();
    same(d.auth_key, p.auth_key);
    same(d.correlation_id, p.correlation_id);
    same(d.node_name, p.node_name);
    same(d.payload, p.payload);
    free(buf);
    return 0;
}
