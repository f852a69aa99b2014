/* HEPv3 encoder: exact bytes, what a collector reads back, and the bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "capture/hep.h"
#include "hep_decode.h"

static const char invite[] = "INVITE sip:bob@b.test SIP/2.0\r\n"
                             "Call-ID: a84b4c76e66710@pc33.a.test\r\n"
                             "Content-Length: 0\r\n\r\n";
static const char call_id[] = "a84b4c76e66710@pc33.a.test";

static struct hep_octets text(const char *s)
{
    return (struct hep_octets){s, strlen(s)};
}

static struct hep_packet v4_packet(void)
{
    struct hep_packet p = {
        .family = AF_INET,
        .ip_proto = HEP_IP_PROTO_TLS,
        .src = {.port = 5061},
        .dst = {.port = 40112},
        .ts_sec = 1700000000,
        .ts_usec = 999999,
        .capture_id = 2001,
        .auth_key = text("s3cret"),
        .correlation_id = text(call_id),
        .node_name = text("reusegw-a"),
        .payload = text(invite),
    };
    inet_pton(AF_INET, "127.0.0.2", p.src.addr);
    inet_pton(AF_INET, "127.0.0.3", p.dst.addr);
    return p;
}

/* round_trip encodes |p| into |buf| and decodes it back into |d| whole. */
static void round_trip(const struct hep_packet *p, uint8_t *buf, size_t cap, struct hep_decoded *d)
{
    size_t len;
    assert_int_equal(hep_encode(p, buf, cap, &len), HEP_OK);
    assert_int_equal(len, hep_encoded_size(p));
    const char *why = NULL;
    assert_int_equal(hep_decode(buf, len, d, &why), len);
}

static void assert_octets(struct hep_octets got, const char *want)
{
    assert_int_equal(got.len, strlen(want));
    assert_memory_equal(got.p, want, got.len);
}

static void test_v4_wire_bytes(void **state)
{
    struct hep_packet p = v4_packet();
    uint8_t buf[1024];
    size_t len;
    assert_int_equal(hep_encode(&p, buf, sizeof(buf), &len), HEP_OK);
    assert_int_equal(len, hep_encoded_size(&p));
    /* Header, then the family, protocol and source address chunks as the
     * HEPv3 specification lays them out (vendor 0, type, length). */
    const uint8_t head[] = {
        'H',
        'E',
        'P',
        '3',
        (uint8_t)(len >> 8),
        (uint8_t)len,
        0,
        0,
        0,
        1,
        0,
        7,
        AF_INET, /* IP family */
        0,
        0,
        0,
        2,
        0,
        7,
        22, /* IP protocol: TLS stand-in */
        0,
        0,
        0,
        3,
        0,
        10,
        127,
        0,
        0,
        2, /* IPv4 source */
        0,
        0,
        0,
        4,
        0,
        10,
        127,
        0,
        0,
        3, /* IPv4 destination */
        0,
        0,
        0,
        7,
        0,
        8,
        0x13,
        0xc5, /* source port 5061 */
        0,
        0,
        0,
        8,
        0,
        8,
        0x9c,
        0xb0, /* destination port 40112 */
        0,
        0,
        0,
        9,
        0,
        10,
        0x65,
        0x53,
        0xf1,
        0x00, /* 1700000000 s */
        0,
        0,
        0,
        10,
        0,
        10,
        0x00,
        0x0f,
        0x42,
        0x3f, /* 999999 us */
        0,
        0,
        0,
        11,
        0,
        7,
        1, /* SIP */
        0,
        0,
        0,
        12,
        0,
        10,
        0,
        0,
        0x07,
        0xd1, /* capture id 2001 */
    };
    assert_memory_equal(buf, head, sizeof(head));
    /* The payload is the last chunk, byte for byte. */
    size_t n = strlen(invite);
    assert_memory_equal(buf + len - n, invite, n);
    assert_int_equal(buf[len - n - 3], 15);
}

static void test_v4_decodes_to_every_field(void **state)
{
    struct hep_packet p = v4_packet();
    uint8_t buf[1024];
    struct hep_decoded d;
    round_trip(&p, buf, sizeof(buf), &d);
    assert_int_equal(d.family, AF_INET);
    assert_int_equal(d.ip_proto, 22);
    assert_int_equal(d.proto_type, HEP_PROTO_TYPE_SIP);
    assert_memory_equal(d.src_addr, p.src.addr, 4);
    assert_memory_equal(d.dst_addr, p.dst.addr, 4);
    assert_int_equal(d.src_port, 5061);
    assert_int_equal(d.dst_port, 40112);
    assert_int_equal(d.ts_sec, 1700000000);
    assert_int_equal(d.ts_usec, 999999);
    assert_int_equal(d.capture_id, 2001);
    assert_octets(d.auth_key, "s3cret");
    assert_octets(d.correlation_id, call_id);
    assert_octets(d.node_name, "reusegw-a");
    assert_octets(d.payload, invite);
}

static void test_v6_uses_the_v6_chunks(void **state)
{
    struct hep_packet p = v4_packet();
    p.family = AF_INET6;
    p.ip_proto = HEP_IP_PROTO_TCP;
    inet_pton(AF_INET6, "::1", p.src.addr);
    inet_pton(AF_INET6, "2001:db8::7", p.dst.addr);
    uint8_t buf[1024];
    struct hep_decoded d;
    round_trip(&p, buf, sizeof(buf), &d);
    assert_true(d.seen & (1u << HEP_CHUNK_IPV6_SRC));
    assert_true(d.seen & (1u << HEP_CHUNK_IPV6_DST));
    assert_false(d.seen & (1u << HEP_CHUNK_IPV4_SRC));
    assert_int_equal(d.family, AF_INET6);
    assert_int_equal(d.ip_proto, HEP_IP_PROTO_TCP);
    assert_memory_equal(d.src_addr, p.src.addr, 16);
    assert_memory_equal(d.dst_addr, p.dst.addr, 16);
}

static void test_empty_options_leave_their_chunks_out(void **state)
{
    struct hep_packet p = v4_packet();
    size_t with = hep_encoded_size(&p);
    p.auth_key = (struct hep_octets){0};
    p.node_name = (struct hep_octets){0};
    p.correlation_id = (struct hep_octets){0};
    assert_int_equal(hep_encoded_size(&p),
                     with - 3 * 6 - strlen("s3cret") - strlen("reusegw-a") - strlen(call_id));
    uint8_t buf[1024];
    struct hep_decoded d;
    round_trip(&p, buf, sizeof(buf), &d);
    assert_false(d.seen & (1u << HEP_CHUNK_AUTH_KEY));
    assert_false(d.seen & (1u << HEP_CHUNK_NODE_NAME));
    assert_false(d.seen & (1u << HEP_CHUNK_CORRELATION_ID));
    assert_true(d.seen & (1u << HEP_CHUNK_PAYLOAD));
}

/* Every buffer shorter than the packet is refused, and nothing is written
 * beyond the room the caller gave. */
static void test_every_short_buffer_is_refused_untouched(void **state)
{
    struct hep_packet p = v4_packet();
    size_t need = hep_encoded_size(&p);
    uint8_t *buf = malloc(need + 1);
    for (size_t cap = 0; cap < need; cap++) {
        memset(buf, 0xa5, need + 1);
        size_t len = 1;
        assert_int_equal(hep_encode(&p, buf, cap, &len), HEP_ERR_NO_ROOM);
        assert_int_equal(len, 0);
        for (size_t i = 0; i <= need; i++)
            assert_int_equal(buf[i], 0xa5);
    }
    size_t len;
    assert_int_equal(hep_encode(&p, buf, need, &len), HEP_OK);
    assert_int_equal(len, need);
    free(buf);
}

static void test_the_length_field_bounds_the_packet(void **state)
{
    struct hep_packet p = v4_packet();
    size_t overhead = hep_encoded_size(&p) - p.payload.len;
    size_t big_len = HEP_MAX_PACKET - overhead;
    char *big = calloc(1, 70000);
    uint8_t *buf = malloc(70000);
    size_t len;
    p.payload = (struct hep_octets){big, big_len};
    assert_int_equal(hep_encode(&p, buf, 70000, &len), HEP_OK);
    assert_int_equal(len, HEP_MAX_PACKET);
    p.payload.len = big_len + 1;
    assert_int_equal(hep_encode(&p, buf, 70000, &len), HEP_ERR_TOO_LARGE);
    p.payload.len = 0;
    p.node_name = (struct hep_octets){big, 65530};
    assert_int_equal(hep_encode(&p, buf, 70000, &len), HEP_ERR_TOO_LARGE);
    free(big);
    free(buf);
}

static void test_unknown_family_is_refused(void **state)
{
    struct hep_packet p = v4_packet();
    p.family = AF_UNIX;
    uint8_t buf[1024];
    size_t len = 1;
    assert_int_equal(hep_encode(&p, buf, sizeof(buf), &len), HEP_ERR_FAMILY);
    assert_int_equal(len, 0);
}

/* Over TCP packets follow each other: the length field frames them, and a
 * cut packet is incomplete, not garbage. */
static void test_packets_frame_a_stream(void **state)
{
    struct hep_packet p = v4_packet();
    uint8_t buf[2048];
    size_t a, b;
    assert_int_equal(hep_encode(&p, buf, sizeof(buf), &a), HEP_OK);
    p.payload = text("BYE sip:bob@b.test SIP/2.0\r\n\r\n");
    assert_int_equal(hep_encode(&p, buf + a, sizeof(buf) - a, &b), HEP_OK);
    struct hep_decoded d;
    const char *why = NULL;
    assert_int_equal(hep_decode(buf, a + b, &d, &why), a);
    assert_octets(d.payload, invite);
    assert_int_equal(hep_decode(buf + a, b, &d, &why), b);
    assert_octets(d.payload, "BYE sip:bob@b.test SIP/2.0\r\n\r\n");
    for (size_t cut = 0; cut < b; cut++) {
        why = NULL;
        assert_int_equal(hep_decode(buf + a, cut, &d, &why), 0);
        assert_string_equal(why, "incomplete");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v4_wire_bytes),
        cmocka_unit_test(test_v4_decodes_to_every_field),
        cmocka_unit_test(test_v6_uses_the_v6_chunks),
        cmocka_unit_test(test_empty_options_leave_their_chunks_out),
        cmocka_unit_test(test_every_short_buffer_is_refused_untouched),
        cmocka_unit_test(test_the_length_field_bounds_the_packet),
        cmocka_unit_test(test_unknown_family_is_refused),
        cmocka_unit_test(test_packets_frame_a_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
