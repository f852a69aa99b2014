/* The PROXY protocol parser (core/proxy_proto.h): every prefix of a valid
 * v1 or v2 header asks for more and the whole header is read exactly
 * (addresses, port, length, the bytes after it left alone); each way a
 * header can be wrong gets its own error, as early as the bytes show it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "core/proxy_proto.h"

static const uint8_t V2_SIG[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* v2 builds a v2 header into |out|: |ver_cmd|, |fam|, a payload of |n|
 * bytes (|payload|, or zeros past it) and returns its length. */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *payload, size_t given,
                 size_t n)
{
    memcpy(out, V2_SIG, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    out[14] = (uint8_t)(n >> 8);
    out[15] = (uint8_t)n;
    memset(out + 16, 0, n);
    if (payload)
        memcpy(out + 16, payload, given < n ? given : n);
    return 16 + n;
}

/* whole checks that every proper prefix of |buf| (|len| bytes) is a
 * prefix, and that |buf| itself, followed by a TLS record's first bytes,
 * is one header of |len| bytes. */
static struct pp_header whole(const uint8_t *buf, size_t len)
{
    struct pp_header h;
    enum pp_error err;
    for (size_t i = 0; i < len; i++)
        if (pp_parse(buf, i, &h, &err) != PP_NEED_MORE)
            fail_msg("prefix of %zu of %zu bytes is not a prefix", i, len);
    uint8_t more[PP_MAX_HEADER + 8];
    memcpy(more, buf, len);
    memcpy(more + len, "\x16\x03\x01", 3);
    assert_int_equal(pp_parse(more, len + 3, &h, &err), PP_DONE);
    assert_int_equal(h.len, len);
    struct pp_header exact;
    assert_int_equal(pp_parse(buf, len, &exact, &err), PP_DONE);
    assert_int_equal(exact.len, len);
    return h;
}

/* is_client checks that |h| names |ip| (of |family|) and |port|. */
static void is_client(const struct pp_header *h, int family, const char *ip, uint16_t port)
{
    const struct sockaddr_in *in = (const struct sockaddr_in *)&h->src;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&h->src;
    bool v6 = family == AF_INET6;
    char text[INET6_ADDRSTRLEN];
    assert_false(h->local);
    assert_int_equal(h->src.ss_family, family);
    assert_int_equal(h->src_len, v6 ? sizeof *in6 : sizeof *in);
    inet_ntop(family, v6 ? (const void *)&in6->sin6_addr : (const void *)&in->sin_addr, text,
              sizeof text);
    assert_string_equal(text, ip);
    assert_int_equal(ntohs(v6 ? in6->sin6_port : in->sin_port), port);
}

static enum pp_error error_of(const void *buf, size_t len)
{
    struct pp_header h;
    enum pp_error err = PP_ERRORS;
    assert_int_equal(pp_parse(buf, len, &h, &err), PP_ERROR);
    return err;
}

static enum pp_error error_of_text(const char *text)
{
    return error_of(text, strlen(text));
}

static void v1_tcp4_and_tcp6(void **state)
{
    (void)state;
    const char *v4 = "PROXY TCP4 192.0.2.7 198.51.100.1 40123 5061\r\n";
    struct pp_header h = whole((const uint8_t *)v4, strlen(v4));
    assert_int_equal(h.version, 1);
    is_client(&h, AF_INET, "192.0.2.7", 40123);
    const char *v6 = "PROXY TCP6 2001:db8::7 2001:db8::1 0 65535\r\n";
    h = whole((const uint8_t *)v6, strlen(v6));
    is_client(&h, AF_INET6, "2001:db8::7", 0);
}

/* The longest line the specification allows is 107 bytes; one more byte
 * and no CRLF can come in time. */
static void v1_length_bound(void **state)
{
    (void)state;
    const char *f = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    char line[200];
    snprintf(line, sizeof line, "PROXY UNKNOWN %s %s 65535 65535\r\n", f, f);
    assert_int_equal(strlen(line), PP_V1_MAX);
    struct pp_header h = whole((const uint8_t *)line, strlen(line));
    assert_true(h.local);
    snprintf(line, sizeof line, "PROXY UNKNOWN %s %s 65535 655350\r\n", f, f);
    assert_int_equal(error_of_text(line), PP_ERR_V1_TOO_LONG);
    /* Without a CR in its first 106 bytes a line can no longer end in time:
     * refused there, without waiting for the 107th. */
    memset(line + 6, 'x', 120);
    assert_int_equal(error_of(line, PP_V1_MAX - 1), PP_ERR_V1_TOO_LONG);
    struct pp_header none;
    enum pp_error err;
    assert_int_equal(pp_parse((const uint8_t *)line, PP_V1_MAX - 2, &none, &err), PP_NEED_MORE);
}

static void v1_unknown_is_local(void **state)
{
    (void)state;
    const char *u = "PROXY UNKNOWN\r\n";
    struct pp_header h = whole((const uint8_t *)u, strlen(u));
    assert_true(h.local);
    assert_int_equal(h.version, 1);
    assert_int_equal(error_of_text("PROXY UNKNOWNX\r\n"), PP_ERR_V1_SYNTAX);
}

static void v1_syntax_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "PROXY TCP4 192.0.2.7  198.51.100.1 1 2\r\n",  /* two spaces */
        "PROXY TCP4 192.0.2.7 198.51.100.1 1 2 \r\n",  /* trailing space */
        "PROXY TCP4 192.0.2.7 198.51.100.1 1\r\n",     /* a port missing */
        "PROXY TCP4 192.0.2.7 198.51.100.1 1 2 3\r\n", /* one field too many */
        "PROXY TCP4 192.0.2.256 198.51.100.1 1 2\r\n", /* no IPv4 address */
        "PROXY TCP4 2001:db8::1 2001:db8::2 1 2\r\n",  /* IPv6 under TCP4 */
        "PROXY TCP6 192.0.2.7 198.51.100.1 1 2\r\n",   /* IPv4 under TCP6 */
        "PROXY TCP4 192.0.2.7 198.51.100.1 65536 2\r\n",
        "PROXY TCP4 192.0.2.7 198.51.100.1 -1 2\r\n",
        "PROXY TCP4 192.0.2.7 198.51.100.1 123456 2\r\n",
        "PROXY tcp4 192.0.2.7 198.51.100.1 1 2\r\n", /* protocols are upper case */
        "PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n",
        "PROXY \r\n",
        "PROXY TCP4 192.0.2.7 198.51.100.1 1 2\rX",   /* CR without LF */
        "PROXY TCP4 192.0.2.7\t198.51.100.1 1 2\r\n", /* a control character */
        "PROXY TCP4 192.0.2.7 198.51.100.1 1 2\n",    /* LF alone is a control character */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct pp_header h;
        enum pp_error err = PP_ERRORS;
        enum pp_status st = pp_parse((const uint8_t *)bad[i], strlen(bad[i]), &h, &err);
        if (st != PP_ERROR || err != PP_ERR_V1_SYNTAX)
            fail_msg("case %zu (%s): status %d error %d", i, bad[i], st, err);
    }
}

static void v2_inet_inet6_local(void **state)
{
    (void)state;
    uint8_t buf[PP_MAX_HEADER];
    const uint8_t a4[12] = {192, 0, 2, 7, 198, 51, 100, 1, 0x9c, 0xbb, 0x13, 0xc5};
    struct pp_header h = whole(buf, v2(buf, 0x21, 0x11, a4, sizeof a4, sizeof a4));
    assert_int_equal(h.version, 2);
    is_client(&h, AF_INET, "192.0.2.7", 40123);

    uint8_t a6[36] = {0x20, 0x01, 0x0d, 0xb8};
    a6[15] = 7;
    a6[32] = 0x13;
    a6[33] = 0xc4;
    h = whole(buf, v2(buf, 0x21, 0x21, a6, sizeof a6, sizeof a6));
    is_client(&h, AF_INET6, "2001:db8::7", 5060);

    /* TLVs after the addresses (AWS, HAProxy's unique-id...) are skipped. */
    h = whole(buf, v2(buf, 0x21, 0x11, a4, sizeof a4, sizeof a4 + 40));
    is_client(&h, AF_INET, "192.0.2.7", 40123);
    h = whole(buf, v2(buf, 0x21, 0x11, a4, sizeof a4, PP_V2_MAX_PAYLOAD));
    assert_int_equal(h.len, PP_MAX_HEADER);

    /* LOCAL: no client, whatever the family byte says. */
    h = whole(buf, v2(buf, 0x20, 0x00, NULL, 0, 0));
    assert_true(h.local);
    h = whole(buf, v2(buf, 0x20, 0x31, a6, sizeof a6, sizeof a6));
    assert_true(h.local);
}

/* A v2 error shows at byte 16, before its payload: a stalling sender of a
 * bad header is refused without waiting. */
static void v2_errors(void **state)
{
    (void)state;
    uint8_t buf[PP_MAX_HEADER + 64];
    const uint8_t a4[12] = {192, 0, 2, 7};
    v2(buf, 0x11, 0x11, a4, sizeof a4, 12);
    assert_int_equal(error_of(buf, 16), PP_ERR_V2_VERSION);
    v2(buf, 0x22, 0x11, a4, sizeof a4, 12);
    assert_int_equal(error_of(buf, 16), PP_ERR_V2_COMMAND);
    v2(buf, 0x21, 0x31, a4, sizeof a4, 216); /* AF_UNIX */
    assert_int_equal(error_of(buf, 16), PP_ERR_V2_FAMILY);
    v2(buf, 0x21, 0x12, a4, sizeof a4, 12); /* UDP */
    assert_int_equal(error_of(buf, 16), PP_ERR_V2_FAMILY);
    v2(buf, 0x21, 0x00, a4, sizeof a4, 0); /* PROXY of AF_UNSPEC: no client to key on */
    assert_int_equal(error_of(buf, 16), PP_ERR_V2_FAMILY);
    v2(buf, 0x21, 0x11, a4, sizeof a4, 11);
    assert_int_equal(error_of(buf, 16), PP_ERR_V2_SHORT);
    v2(buf, 0x21, 0x21, a4, sizeof a4, 35);
    assert_int_equal(error_of(buf, 16), PP_ERR_V2_SHORT);
    v2(buf, 0x21, 0x11, a4, sizeof a4, PP_V2_MAX_PAYLOAD + 1);
    assert_int_equal(error_of(buf, 16), PP_ERR_V2_TOO_LONG);
    v2(buf, 0x20, 0x00, a4, 0, 0);
    buf[14] = 0xff; /* LOCAL is bounded too */
    assert_int_equal(error_of(buf, 16), PP_ERR_V2_TOO_LONG);
}

static void signatures(void **state)
{
    (void)state;
    /* A TLS ClientHello: no header at all. */
    assert_int_equal(error_of("\x16\x03\x01\x02\x00", 5), PP_ERR_MISSING);
    assert_int_equal(error_of_text("GET / HTTP/1.1\r\n"), PP_ERR_MISSING);
    assert_int_equal(error_of_text("PROXX TCP4"), PP_ERR_SIGNATURE);
    assert_int_equal(error_of_text("PROXYTCP4"), PP_ERR_SIGNATURE);
    assert_int_equal(error_of("\r\n\r\n\0\r\nQUIZ\n", 12), PP_ERR_SIGNATURE);
    assert_int_equal(error_of_text("\r\n\r\n\r\n"), PP_ERR_SIGNATURE);

    assert_true(pp_looks_like_header((const uint8_t *)"P", 1));
    assert_true(pp_looks_like_header((const uint8_t *)"PROXY TCP4", 10));
    assert_true(pp_looks_like_header(V2_SIG, 5));
    assert_true(pp_looks_like_header(V2_SIG, 12));
    assert_false(pp_looks_like_header((const uint8_t *)"\x16\x03\x01", 3));
    assert_false(pp_looks_like_header((const uint8_t *)"PROXX", 5));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v1_tcp4_and_tcp6),    cmocka_unit_test(v1_length_bound),
        cmocka_unit_test(v1_unknown_is_local), cmocka_unit_test(v1_syntax_errors),
        cmocka_unit_test(v2_inet_inet6_local), cmocka_unit_test(v2_errors),
        cmocka_unit_test(signatures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
