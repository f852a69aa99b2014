/* Message edits as iovec lists: every byte outside an edit is unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sip/edit.h"

static struct sip_header hdrs[32];
static struct sip_msg msg;
static struct sip_edit ed;
static char out[4096];

static void start(const char *text)
{
    assert_int_equal(sip_parse(text, strlen(text), &msg, hdrs, 32), SIP_OK);
    sip_edit_init(&ed, &msg);
}

/* Flattens the edit and compares it with the expected message, which must
 * also parse again. */
static void expect(const char *want)
{
    struct iovec iov[SIP_EDIT_MAX_IOV];
    size_t n, total, off = 0;
    assert_int_equal(sip_edit_iov(&ed, iov, SIP_EDIT_MAX_IOV, &n, &total), SIP_OK);
    for (size_t i = 0; i < n; i++) {
        assert_true(iov[i].iov_len > 0);
        memcpy(out + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    assert_int_equal(off, total);
    out[off] = '\0';
    assert_string_equal(out, want);
    struct sip_header h2[32];
    struct sip_msg m2;
    assert_int_equal(sip_parse(out, off, &m2, h2, 32), SIP_OK);
}

#define BODY "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
#define REQ_HEAD "INVITE sip:bob@b.example.com SIP/2.0\r\n"
#define TOP_VIA "Via: SIP/2.0/TCP 127.0.0.1:5070 ;branch=z9hG4bKabc;rport\r\n"
#define REST                                                                                       \
    "Via: SIP/2.0/TLS far.example.net;branch=z9hG4bKold\r\n"                                       \
    "Max-Forwards: 70\r\nCall-ID: x@y\r\nContent-Length: 31\r\n\r\n" BODY

static void test_client_rewrite_adds_alias(void **state)
{
    start(REQ_HEAD TOP_VIA REST);
    struct sip_via top;
    assert_int_equal(sip_via_parse_first(&msg, &top, NULL, 0), SIP_OK);
    assert_int_equal(sip_edit_via_client(&ed, &top, SIP_STR_LIT("proxy.example.com:5061"), true),
                     SIP_OK);
    expect(REQ_HEAD
           "Via: SIP/2.0/TLS proxy.example.com:5061 ;branch=z9hG4bKabc;rport;alias\r\n" REST);
    /* The body is not copied: its iovec entry points into the original. */
    struct iovec iov[SIP_EDIT_MAX_IOV];
    size_t n, total;
    assert_int_equal(sip_edit_iov(&ed, iov, SIP_EDIT_MAX_IOV, &n, &total), SIP_OK);
    assert_ptr_equal((char *)iov[n - 1].iov_base + iov[n - 1].iov_len, msg.body.p + msg.body.len);
    assert_true(n <= 6);
}

static void test_client_rewrite_without_alias_or_duplicate(void **state)
{
    start(REQ_HEAD TOP_VIA REST);
    struct sip_via top;
    assert_int_equal(sip_via_parse_first(&msg, &top, NULL, 0), SIP_OK);
    assert_int_equal(sip_edit_via_client(&ed, &top, SIP_STR_LIT("gw.example.com"), false), SIP_OK);
    expect(REQ_HEAD "Via: SIP/2.0/TLS gw.example.com ;branch=z9hG4bKabc;rport\r\n" REST);

    /* A Via that already carries alias does not get a second one. */
    start(REQ_HEAD "v: SIP/2.0/TCP h;ALIAS;branch=z9hG4bK1, SIP/2.0/TCP x\r\n" REST);
    assert_int_equal(sip_via_parse_first(&msg, &top, NULL, 0), SIP_OK);
    assert_int_equal(sip_edit_via_client(&ed, &top, SIP_STR_LIT("gw:5061"), true), SIP_OK);
    expect(REQ_HEAD "v: SIP/2.0/TLS gw:5061;ALIAS;branch=z9hG4bK1, SIP/2.0/TCP x\r\n" REST);
}

static void test_restore_in_response(void **state)
{
    static const char original[] = "SIP/2.0/TCP 127.0.0.1:5070 ;branch=z9hG4bKabc;rport";
    start("SIP/2.0 200 OK\r\n"
          "Via: SIP/2.0/TLS proxy.example.com:5061;branch=z9hG4bKabc;rport=1234;alias;"
          "received=192.0.2.9, SIP/2.0/UDP second\r\nl: 0\r\n\r\n");
    struct sip_via top;
    assert_int_equal(sip_via_parse_first(&msg, &top, NULL, 0), SIP_OK);
    static const char want[] = "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:5070 "
                               ";branch=z9hG4bKabc;rport, SIP/2.0/UDP second\r\nl: 0\r\n\r\n";
    size_t n = sip_via_splice(msg.buf, msg.len, top.parm, SIP_STR_LIT(original), out, sizeof(out));
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(out, want, n);
    /* No room for it, or a span that is not the message's: nothing. */
    assert_int_equal(sip_via_splice(msg.buf, msg.len, top.parm, SIP_STR_LIT(original), out, n - 1),
                     0);
    assert_int_equal(sip_via_splice(msg.buf, (size_t)(top.parm.p - msg.buf), top.parm,
                                    SIP_STR_LIT(original), out, sizeof(out)),
                     0);
}

static void test_pop_route(void **state)
{
    /* Only value: the whole line goes. */
    start(REQ_HEAD "Route: <sip:gw.example.com;lr>\r\nRoute: <sip:next;lr>\r\nl: 0\r\n\r\n");
    assert_int_equal(sip_edit_pop_route(&ed), SIP_OK);
    expect(REQ_HEAD "Route: <sip:next;lr>\r\nl: 0\r\n\r\n");
    /* First of several: the value and its comma go. */
    start(REQ_HEAD "Route: <sip:gw;lr>, \"x,y\" <sip:n1;lr>,<sip:n2>\r\nl: 0\r\n\r\n");
    assert_int_equal(sip_edit_pop_route(&ed), SIP_OK);
    expect(REQ_HEAD "Route: \"x,y\" <sip:n1;lr>,<sip:n2>\r\nl: 0\r\n\r\n");
    /* Folded only value: every physical line of it goes. */
    start(REQ_HEAD "Route:\r\n <sip:gw;lr>\r\nl: 0\r\n\r\n");
    assert_int_equal(sip_edit_pop_route(&ed), SIP_OK);
    expect(REQ_HEAD "l: 0\r\n\r\n");
    start(REQ_HEAD "l: 0\r\n\r\n");
    assert_int_equal(sip_edit_pop_route(&ed), SIP_ERR_NOT_FOUND);
    start(REQ_HEAD "Route: ,\r\nl: 0\r\n\r\n");
    assert_int_equal(sip_edit_pop_route(&ed), SIP_ERR_NOT_FOUND);
}

static void test_drop_last_and_middle_values(void **state)
{
    start(REQ_HEAD "Record-Route: <sip:a>, <sip:b>, <sip:c>\r\nl: 0\r\n\r\n");
    const struct sip_header *h = sip_msg_header(&msg, SIP_HDR_RECORD_ROUTE);
    struct sip_str rest = h->value, a, b, c;
    assert_true(sip_list_next(&rest, &a));
    assert_true(sip_list_next(&rest, &b));
    assert_true(sip_list_next(&rest, &c));
    assert_int_equal(sip_edit_drop_value(&ed, h, c), SIP_OK);
    expect(REQ_HEAD "Record-Route: <sip:a>, <sip:b>\r\nl: 0\r\n\r\n");
    sip_edit_init(&ed, &msg);
    assert_int_equal(sip_edit_drop_value(&ed, h, b), SIP_OK);
    expect(REQ_HEAD "Record-Route: <sip:a>, <sip:c>\r\nl: 0\r\n\r\n");
    sip_edit_init(&ed, &msg);
    assert_int_equal(sip_edit_drop_value(&ed, h, (struct sip_str){b.p, b.len - 1}),
                     SIP_ERR_NOT_FOUND);
}

static void test_prepend_and_combined_edits(void **state)
{
    start(REQ_HEAD TOP_VIA "Route: <sip:gw;lr>\r\n" REST);
    struct sip_via top;
    assert_int_equal(sip_via_parse_first(&msg, &top, NULL, 0), SIP_OK);
    assert_int_equal(sip_edit_prepend_header(&ed, SIP_STR_LIT("Record-Route: <sip:gw;lr>\r\n")),
                     SIP_OK);
    assert_int_equal(sip_edit_via_client(&ed, &top, SIP_STR_LIT("gw:5061"), true), SIP_OK);
    assert_int_equal(sip_edit_pop_route(&ed), SIP_OK);
    expect(REQ_HEAD "Record-Route: <sip:gw;lr>\r\n"
                    "Via: SIP/2.0/TLS gw:5061 ;branch=z9hG4bKabc;rport;alias\r\n" REST);
}

static void test_content_length_fix(void **state)
{
    start(REQ_HEAD "Content-Length: 31\r\n\r\n" BODY);
    assert_int_equal(sip_edit_content_length(&ed, 31), SIP_OK);
    assert_int_equal(ed.npatches, 0);
    assert_int_equal(sip_edit_content_length(&ed, 7), SIP_OK);
    struct iovec iov[SIP_EDIT_MAX_IOV];
    size_t n, total;
    assert_int_equal(sip_edit_iov(&ed, iov, SIP_EDIT_MAX_IOV, &n, &total), SIP_OK);
    assert_int_equal(total, msg.header_len - 1 + 31);
    /* A refused second call leaves the first one's text alone. */
    assert_int_equal(sip_edit_content_length(&ed, 123456), SIP_ERR_EDIT_OVERLAP);
    expect(REQ_HEAD "Content-Length: 7\r\n\r\n" BODY);
    /* A datagram without Content-Length gets one before the empty line. */
    start(REQ_HEAD "Call-ID: a\r\n\r\nxyz");
    assert_int_equal(sip_edit_content_length(&ed, 3), SIP_OK);
    expect(REQ_HEAD "Call-ID: a\r\nContent-Length: 3\r\n\r\nxyz");
    start(REQ_HEAD "Call-ID: a\r\n");
    assert_int_equal(sip_edit_content_length(&ed, 0), SIP_OK);
    expect(REQ_HEAD "Call-ID: a\r\nContent-Length: 0\r\n\r\n");
    start("OPTIONS sip:a@b SIP/2.0\nCall-ID: a\n\nxy");
    assert_int_equal(sip_edit_content_length(&ed, 2), SIP_OK);
    expect("OPTIONS sip:a@b SIP/2.0\nCall-ID: a\nContent-Length: 2\r\n\nxy");
}

static void test_overlap_and_limits(void **state)
{
    start(REQ_HEAD TOP_VIA REST);
    struct sip_via top;
    assert_int_equal(sip_via_parse_first(&msg, &top, NULL, 0), SIP_OK);
    assert_int_equal(sip_edit_via_client(&ed, &top, SIP_STR_LIT("gw"), true), SIP_OK);
    size_t before = ed.npatches;
    /* Restoring the same Via now overlaps the rewrite. */
    assert_int_equal(sip_edit_replace(&ed, top.parm.p, top.parm.len, SIP_STR_LIT("x")),
                     SIP_ERR_EDIT_OVERLAP);
    assert_int_equal(ed.npatches, before);
    assert_int_equal(sip_edit_replace(&ed, msg.buf + msg.len + 1, 0, SIP_STR_LIT("x")),
                     SIP_ERR_EDIT_OVERLAP);
    assert_int_equal(sip_edit_replace(&ed, msg.buf + msg.len - 1, 2, SIP_STR_LIT("x")),
                     SIP_ERR_EDIT_OVERLAP);
    assert_int_equal(sip_edit_replace(&ed, msg.buf - 1, 0, SIP_STR_LIT("x")), SIP_ERR_EDIT_OVERLAP);
    /* A patch may not start inside an earlier one either. */
    assert_int_equal(sip_edit_replace(&ed, top.parm.p + 1, 0, SIP_STR_LIT("x")),
                     SIP_ERR_EDIT_OVERLAP);
    /* Fill the patch list; the rewrite then fails whole, changing nothing. */
    start(REQ_HEAD TOP_VIA REST);
    for (int i = 0; i < SIP_EDIT_MAX_PATCHES - 2; i++)
        assert_int_equal(sip_edit_replace(&ed, msg.buf + 1, 0, SIP_STR_LIT("")), SIP_OK);
    assert_int_equal(sip_edit_via_client(&ed, &top, SIP_STR_LIT("gw"), true), SIP_ERR_NO_SPACE);
    assert_int_equal(ed.npatches, SIP_EDIT_MAX_PATCHES - 2);
    struct iovec iov[2];
    size_t n, total;
    start(REQ_HEAD TOP_VIA REST);
    assert_int_equal(sip_edit_via_client(&ed, &top, SIP_STR_LIT("gw"), true), SIP_OK);
    assert_int_equal(sip_edit_iov(&ed, iov, 2, &n, &total), SIP_ERR_NO_SPACE);
}

static void test_no_edit_is_identity(void **state)
{
    start(REQ_HEAD TOP_VIA REST);
    expect(REQ_HEAD TOP_VIA REST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_rewrite_adds_alias),
        cmocka_unit_test(test_client_rewrite_without_alias_or_duplicate),
        cmocka_unit_test(test_restore_in_response),
        cmocka_unit_test(test_pop_route),
        cmocka_unit_test(test_drop_last_and_middle_values),
        cmocka_unit_test(test_prepend_and_combined_edits),
        cmocka_unit_test(test_content_length_fix),
        cmocka_unit_test(test_overlap_and_limits),
        cmocka_unit_test(test_no_edit_is_identity),
    };
    return cmocka_run_group_tests_name("sip_edit", tests, NULL, NULL);
}
