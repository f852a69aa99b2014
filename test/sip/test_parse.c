/* Start line, header index, header names and comma lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sip/message.h"

#define assert_str(s, lit)                                                                         \
    do {                                                                                           \
        struct sip_str s_ = (s);                                                                   \
        assert_int_equal(s_.len, sizeof(lit) - 1);                                                 \
        assert_memory_equal(s_.p, lit, sizeof(lit) - 1);                                           \
    } while (0)

static struct sip_header hdrs[64];

static enum sip_err parse(const char *text, struct sip_msg *msg)
{
    return sip_parse(text, strlen(text), msg, hdrs, 64);
}

static const char invite[] = "INVITE sip:bob@example.com;transport=tls SIP/2.0\r\n"
                             "v: SIP/2.0/TLS a.example.com;branch=z9hG4bK1, SIP/2.0/TCP b\r\n"
                             "Via: SIP/2.0/TCP c;branch=z9hG4bK3\r\n"
                             "Max-Forwards: 70\r\n"
                             "From: \"A, B\" <sip:a@example.com>;tag=1\r\n"
                             "t: <sip:bob@example.com>\r\n"
                             "i: abc@def\r\n"
                             "CSeq: 1 INVITE\r\n"
                             "Subject: folded\r\n"
                             "  over two lines  \r\n"
                             "X-Unknown: ok\r\n"
                             "Content-Length: 4\r\n"
                             "\r\n"
                             "bodyTRAILING";

static void test_request_index(void **state)
{
    struct sip_msg m;
    assert_int_equal(parse(invite, &m), SIP_OK);
    assert_true(m.is_request);
    assert_str(m.method, "INVITE");
    assert_str(m.uri, "sip:bob@example.com;transport=tls");
    assert_str(m.version, "SIP/2.0");
    assert_int_equal(m.nheaders, 10);
    assert_int_equal(m.count[SIP_HDR_VIA], 2);
    assert_int_equal(m.first[SIP_HDR_VIA], 0);
    assert_str(sip_msg_header(&m, SIP_HDR_CALL_ID)->value, "abc@def");
    assert_str(sip_msg_header(&m, SIP_HDR_TO)->name, "t");
    assert_str(sip_msg_header(&m, SIP_HDR_SUBJECT)->value, "folded\r\n  over two lines");
    assert_str(sip_msg_header(&m, SIP_HDR_SUBJECT)->line,
               "Subject: folded\r\n  over two lines  \r\n");
    assert_int_equal(m.first[SIP_HDR_ROUTE], SIP_NO_HEADER);
    assert_null(sip_msg_header(&m, SIP_HDR_ROUTE));
    assert_int_equal(m.headers[8].id, SIP_HDR_OTHER);
    assert_true(m.has_content_length);
    assert_str(m.body, "body");
    const struct sip_header *v2 = sip_msg_next(&m, sip_msg_header(&m, SIP_HDR_VIA));
    assert_str(v2->value, "SIP/2.0/TCP c;branch=z9hG4bK3");
    assert_null(sip_msg_next(&m, v2));
}

static void test_response_line(void **state)
{
    struct sip_msg m;
    assert_int_equal(parse("SIP/2.0 180 Ringing Now\r\nl: 0\r\n\r\n", &m), SIP_OK);
    assert_false(m.is_request);
    assert_int_equal(m.status, 180);
    assert_str(m.reason, "Ringing Now");
    assert_int_equal(parse("SIP/2.0 100 \r\n\r\n", &m), SIP_OK);
    assert_int_equal(m.reason.len, 0);
    assert_int_equal(parse("SIP/2.0 100\r\n\r\n", &m), SIP_OK);
    assert_int_equal(parse("SIP/2.0 4294967301 big\r\n\r\n", &m), SIP_ERR_STATUS);
    assert_int_equal(parse("SIP/2.0 099 low\r\n\r\n", &m), SIP_ERR_STATUS);
    assert_int_equal(parse("SIP/2.0 700 high\r\n\r\n", &m), SIP_ERR_STATUS);
    assert_int_equal(parse("SIP/2.0 20x OK\r\n\r\n", &m), SIP_ERR_STATUS);
    assert_int_equal(parse("SIP/2.0\r\n\r\n", &m), SIP_ERR_START_LINE);
    assert_int_equal(parse("SIP/2 200 OK\r\n\r\n", &m), SIP_ERR_START_LINE);
    assert_int_equal(parse("SIP/2.0 200 O\rK\r\n\r\n", &m), SIP_ERR_STATUS);
}

static void test_request_line_errors(void **state)
{
    struct sip_msg m;
    assert_int_equal(parse("INVITE  sip:a@b SIP/2.0\r\n\r\n", &m), SIP_ERR_REQUEST_URI);
    assert_int_equal(parse("INVITE sip:a@b SIP/2.0 \r\n\r\n", &m), SIP_ERR_START_LINE);
    assert_int_equal(parse("INVITE sip:a@b; lr SIP/2.0\r\n\r\n", &m), SIP_ERR_REQUEST_URI);
    assert_int_equal(parse("INVITE <sip:a@b> SIP/2.0\r\n\r\n", &m), SIP_ERR_REQUEST_URI);
    assert_int_equal(parse("INV<TE sip:a@b SIP/2.0\r\n\r\n", &m), SIP_ERR_METHOD);
    assert_int_equal(parse("INVITE sip:a@b SIP/2.x\r\n\r\n", &m), SIP_ERR_START_LINE);
    assert_int_equal(parse("INVITE sip:a@b\r\n\r\n", &m), SIP_ERR_START_LINE);
    assert_int_equal(parse("INVITE\r\n\r\n", &m), SIP_ERR_START_LINE);
    assert_int_equal(parse("", &m), SIP_ERR_START_LINE);
    /* Well-formed but another version: parses; sip_check_version answers 505. */
    assert_int_equal(parse("OPTIONS sip:a@b SIP/7.0\r\n\r\n", &m), SIP_OK);
    assert_str(m.version, "SIP/7.0");
}

static void test_header_errors_and_limits(void **state)
{
    struct sip_msg m;
    assert_int_equal(parse("OPTIONS sip:a@b SIP/2.0\r\nNoColon\r\n\r\n", &m),
                     SIP_ERR_HEADER_SYNTAX);
    assert_int_equal(parse("OPTIONS sip:a@b SIP/2.0\r\n: empty\r\n\r\n", &m),
                     SIP_ERR_HEADER_SYNTAX);
    assert_int_equal(parse("OPTIONS sip:a@b SIP/2.0\r\nBad Name: x\r\n\r\n", &m),
                     SIP_ERR_HEADER_SYNTAX);
    const char *three = "OPTIONS sip:a@b SIP/2.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    assert_int_equal(sip_parse(three, strlen(three), &m, hdrs, 2), SIP_ERR_TOO_MANY_HEADERS);
    assert_int_equal(sip_parse(three, strlen(three), &m, hdrs, 3), SIP_OK);
    /* A datagram may end right after its last header (RFC 4475 baddn). */
    assert_int_equal(parse("OPTIONS sip:a@b SIP/2.0\r\nA: 1\r\n", &m), SIP_OK);
    assert_int_equal(m.nheaders, 1);
    assert_int_equal(m.body.len, 0);
    /* ... or even in the middle of its last header line. */
    assert_int_equal(parse("OPTIONS sip:a@b SIP/2.0\r\nA: 1\r\nB: two", &m), SIP_OK);
    assert_int_equal(m.nheaders, 2);
    assert_str(m.headers[1].value, "two");
    assert_int_equal(parse("OPTIONS sip:a@b SIP/2.0\r\nA: 1\r\n  more", &m), SIP_OK);
    assert_str(m.headers[0].value, "1\r\n  more");
    assert_int_equal(parse("OPTIONS sip:a@b SIP/2.0\r\nAB", &m), SIP_ERR_HEADER_SYNTAX);
    /* More than the index can count is clamped, not trusted. */
    assert_int_equal(sip_parse(three, strlen(three), &m, hdrs, SIZE_MAX), SIP_OK);
}

static void test_content_length_rules(void **state)
{
    struct sip_msg m;
    assert_int_equal(parse("OPTIONS sip:a@b SIP/2.0\r\nl: 10\r\n\r\nshort", &m),
                     SIP_ERR_BODY_TRUNCATED);
    assert_int_equal(parse("OPTIONS sip:a@b SIP/2.0\r\nl: -1\r\n\r\n", &m), SIP_ERR_CL_INVALID);
    assert_int_equal(parse("OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nl: 2\r\n\r\nab", &m),
                     SIP_ERR_CL_CONFLICT);
    assert_int_equal(parse("OPTIONS sip:a@b SIP/2.0\r\nl: 1\r\nl: 1\r\n\r\nab", &m),
                     SIP_ERR_CL_DUPLICATE);
    assert_int_equal(parse("OPTIONS sip:a@b SIP/2.0\r\nA: 1\r\n\r\nall of it", &m), SIP_OK);
    assert_false(m.has_content_length);
    assert_str(m.body, "all of it");
}

static void test_header_names(void **state)
{
    static const struct {
        const char *name;
        enum sip_hdr id;
    } cases[] = {
        {"v", SIP_HDR_VIA},
        {"VIA", SIP_HDR_VIA},
        {"i", SIP_HDR_CALL_ID},
        {"call-ID", SIP_HDR_CALL_ID},
        {"l", SIP_HDR_CONTENT_LENGTH},
        {"Content-Length", SIP_HDR_CONTENT_LENGTH},
        {"f", SIP_HDR_FROM},
        {"t", SIP_HDR_TO},
        {"m", SIP_HDR_CONTACT},
        {"Contact", SIP_HDR_CONTACT},
        {"c", SIP_HDR_CONTENT_TYPE},
        {"k", SIP_HDR_SUPPORTED},
        {"s", SIP_HDR_SUBJECT},
        {"e", SIP_HDR_CONTENT_ENCODING},
        {"o", SIP_HDR_EVENT},
        {"r", SIP_HDR_REFER_TO},
        {"Route", SIP_HDR_ROUTE},
        {"record-route", SIP_HDR_RECORD_ROUTE},
        {"cseq", SIP_HDR_CSEQ},
        {"Max-Forwards", SIP_HDR_MAX_FORWARDS},
        {"Proxy-Require", SIP_HDR_PROXY_REQUIRE},
        {"x", SIP_HDR_SESSION_EXPIRES},
        {"g", SIP_HDR_OTHER},
        {"Vias", SIP_HDR_OTHER},
        {"X-Via", SIP_HDR_OTHER},
        {"1", SIP_HDR_OTHER},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum sip_hdr got = sip_hdr_lookup(cases[i].name, strlen(cases[i].name));
        if (got != cases[i].id)
            fail_msg("%s: got %d want %d", cases[i].name, got, cases[i].id);
    }
    assert_string_equal(sip_hdr_name(SIP_HDR_CALL_ID), "Call-ID");
    assert_null(sip_hdr_name(SIP_HDR_OTHER));
}

static void test_list_split(void **state)
{
    const char *v = "\"Doe, J\" <sip:a@b;x=\",\">;q=1 ,, <sip:c,d@e> ,\r\n sip:f@g ";
    struct sip_str rest = {v, strlen(v)}, item;
    assert_true(sip_list_next(&rest, &item));
    assert_str(item, "\"Doe, J\" <sip:a@b;x=\",\">;q=1");
    assert_true(sip_list_next(&rest, &item));
    assert_str(item, "<sip:c,d@e>");
    assert_true(sip_list_next(&rest, &item));
    assert_str(item, "sip:f@g");
    assert_false(sip_list_next(&rest, &item));
    struct sip_str empty = {"", 0};
    assert_false(sip_list_next(&empty, &item));
    /* An escaped quote does not close the quoted string. */
    const char *esc = "\"a\\\",b\" <sip:x>, sip:y";
    rest = (struct sip_str){esc, strlen(esc)};
    assert_true(sip_list_next(&rest, &item));
    assert_str(item, "\"a\\\",b\" <sip:x>");
}

static void test_error_texts(void **state)
{
    for (int e = 0; e < SIP_ERR__COUNT; e++) {
        const char *t = sip_err_text((enum sip_err)e);
        assert_non_null(t);
        assert_null(strpbrk(t, "\r\n"));
        assert_string_not_equal(t, "Bad Request"); /* every code has its own text */
    }
    assert_string_equal(sip_err_text(SIP_ERR_CL_INVALID), "Bad Content-Length");
    assert_int_equal(sip_err_status(SIP_ERR_VERSION), 505);
    assert_int_equal(sip_err_status(SIP_ERR_VIA), 400);
    assert_int_equal(sip_err_status(SIP_ERR_MESSAGE_TOO_LARGE), 513);
    assert_int_equal(sip_err_status(SIP_OK), 200);
    assert_string_equal(sip_err_text((enum sip_err)SIP_ERR__COUNT), "Bad Request");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_index),
        cmocka_unit_test(test_response_line),
        cmocka_unit_test(test_request_line_errors),
        cmocka_unit_test(test_header_errors_and_limits),
        cmocka_unit_test(test_content_length_rules),
        cmocka_unit_test(test_header_names),
        cmocka_unit_test(test_list_split),
        cmocka_unit_test(test_error_texts),
    };
    return cmocka_run_group_tests_name("sip_parse", tests, NULL, NULL);
}
