/* sip_peek and the framer's Via/CSeq line offsets it reads: the fields of
 * hand-made messages, every prefix and split point, the errors, and
 * agreement with the full parse over the RFC 4475 torture messages. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "peek_agree.h"
#include "sip/peek.h"
#include "testutil.h"

#define MAX 65535

/* Frames msg (which must be one complete message), checks every prefix and
 * split point, and peeks at it. */
static enum sip_err peek_text(const char *msg, size_t len, struct sip_peek *out)
{
    struct sip_frame fr = tu_frame_once(msg, len, MAX);
    assert_int_equal(fr.event, SIP_FRAME_MESSAGE);
    assert_int_equal(fr.len, len);
    for (size_t k = 0; k < len; k++) /* no prefix is a message */
        assert_int_equal(tu_frame_once(msg, k, MAX).event, SIP_FRAME_NEED_MORE);
    tu_replay("peek_text", msg, len, MAX,
              (struct sip_frame){.event = SIP_FRAME_MESSAGE, .len = len});
    bool full_ok;
    assert_true(peek_agrees(msg, &fr, &full_ok));
    return sip_peek(msg, &fr, out);
}

#define PEEK(lit, out) peek_text(lit, sizeof(lit) - 1, out)

static void test_request_fields(void **state)
{
    static const char msg[] = "OPTIONS sip:legacy.scale.test SIP/2.0\r\n"
                              "Via: SIP/2.0/TLS p0.scale.test:20000;branch=z9hG4bK-0-7;alias\r\n"
                              "Max-Forwards: 70\r\nFrom: <sip:b@scale.test>;tag=0\r\n"
                              "To: <sip:legacy.scale.test>\r\nCall-ID: 0-7@scale.test\r\n"
                              "CSeq: 8 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    struct sip_peek pk;
    assert_int_equal(PEEK(msg, &pk), SIP_OK);
    assert_true(pk.is_request);
    assert_sip_str_equal(pk.method, "OPTIONS");
    assert_sip_str_equal(pk.uri, "sip:legacy.scale.test");
    assert_sip_str_equal(pk.via_header,
                         "Via: SIP/2.0/TLS p0.scale.test:20000;branch=z9hG4bK-0-7;alias\r\n");
    assert_sip_str_equal(pk.via.transport, "TLS");
    assert_sip_str_equal(pk.via.sent_by, "p0.scale.test:20000");
    assert_sip_str_equal(pk.via.branch, "z9hG4bK-0-7");
    assert_true(pk.via.alias);
    assert_int_equal(pk.cseq.number, 8);
    assert_sip_str_equal(pk.cseq.method, "OPTIONS");
}

static void test_response_compact_via_several_parms(void **state)
{
    static const char msg[] = "SIP/2.0 200 OK\r\n"
                              "v : SIP/2.0/TCP a:1;branch=z9hG4bKx , SIP/2.0/TLS b;branch=y\r\n"
                              "Via: SIP/2.0/TLS c;branch=z\r\nCall-ID: x\r\nFrom: <sip:a@b>\r\n"
                              "To: <sip:c@d>\r\nCSeq: 7 INVITE\r\nl: 0\r\n\r\n";
    struct sip_peek pk;
    assert_int_equal(PEEK(msg, &pk), SIP_OK);
    assert_false(pk.is_request);
    assert_int_equal(pk.status, 200);
    assert_sip_str_equal(pk.via_header,
                         "v : SIP/2.0/TCP a:1;branch=z9hG4bKx , SIP/2.0/TLS b;branch=y\r\n");
    assert_sip_str_equal(pk.via.parm, "SIP/2.0/TCP a:1;branch=z9hG4bKx");
    assert_sip_str_equal(pk.via.branch, "z9hG4bKx");
    assert_sip_str_equal(pk.cseq.method, "INVITE");
}

static void test_folded_via_late_cseq_and_body(void **state)
{
    static const char msg[] = "SIP/2.0 180 Ringing\nVIA:\n  SIP/2.0/UDP h;\n branch=z9hG4bKf\n"
                              "Content-Length: 4\ncseq:  12\t BYE \n\nbody";
    struct sip_peek pk;
    assert_int_equal(PEEK(msg, &pk), SIP_OK);
    assert_int_equal(pk.status, 180);
    assert_sip_str_equal(pk.via_header, "VIA:\n  SIP/2.0/UDP h;\n branch=z9hG4bKf\n");
    assert_sip_str_equal(pk.via.branch, "z9hG4bKf");
    assert_int_equal(pk.cseq.number, 12);
    assert_sip_str_equal(pk.cseq.method, "BYE");
}

static void test_lookalike_names_are_not_via_or_cseq(void **state)
{
    struct sip_peek pk;
    static const char no_via[] = "SIP/2.0 200 OK\r\nViaduct: SIP/2.0/TCP a\r\nvv: x\r\n"
                                 "CSeq: 1 A\r\nl: 0\r\n\r\n";
    assert_int_equal(PEEK(no_via, &pk), SIP_ERR_MISSING_VIA);
    static const char no_cseq[] = "SIP/2.0 200 OK\r\nv: SIP/2.0/TCP a\r\nCSeqs: 1 A\r\n"
                                  "Content-Length: 0\r\n\r\n";
    assert_int_equal(PEEK(no_cseq, &pk), SIP_ERR_MISSING_CSEQ);
}

/* The framer's address line: the first Contact (any case, compact `m`) or
 * Record-Route line; look-alike names are none (peek_text checks it
 * against the full parse too). */
static void test_address_line(void **state)
{
    struct sip_peek pk;
#define HEAD                                                                                       \
    "SIP/2.0 200 OK\r\nv: SIP/2.0/TCP a;branch=z9hG4bK1\r\nf: <sip:a@b>;tag=1\r\n"                 \
    "t: <sip:c@d>\r\ni: x\r\nCSeq: 1 INVITE\r\n"
    static const char none[] = HEAD "Contacts: x\r\nmm: y\r\nRecord-Routes: z\r\nl: 0\r\n\r\n";
    static const char compact[] = HEAD "Max-Forwards: 1\r\nm : <sip:10.0.0.1:5070>\r\n"
                                       "Record-Route: <sip:r>\r\nl: 0\r\n\r\n";
    static const char rr[] = HEAD "record-ROUTE:<sip:r>\r\nCONTACT: <sip:c>\r\nl: 0\r\n\r\n";
#undef HEAD
    const size_t head =
        sizeof(none) - sizeof("Contacts: x\r\nmm: y\r\nRecord-Routes: z\r\nl: 0\r\n\r\n");
    assert_int_equal(PEEK(none, &pk), SIP_OK);
    assert_int_equal(tu_frame_once(none, sizeof(none) - 1, MAX).addr_line, 0);
    assert_int_equal(PEEK(compact, &pk), SIP_OK);
    assert_int_equal(tu_frame_once(compact, sizeof(compact) - 1, MAX).addr_line,
                     head + strlen("Max-Forwards: 1\r\n"));
    assert_int_equal(PEEK(rr, &pk), SIP_OK);
    assert_int_equal(tu_frame_once(rr, sizeof(rr) - 1, MAX).addr_line, head);
}

static void test_errors(void **state)
{
    struct sip_peek pk;
    static const char bad_cseq[] =
        "SIP/2.0 200 OK\r\nv: SIP/2.0/TCP a\r\nCSeq: x A\r\nl: 0\r\n\r\n";
    assert_int_equal(PEEK(bad_cseq, &pk), SIP_ERR_CSEQ);
    static const char method[] = "BYE sip:a@b SIP/2.0\r\nv: SIP/2.0/TCP a\r\nCSeq: 1 ACK\r\n"
                                 "l: 0\r\n\r\n";
    assert_int_equal(PEEK(method, &pk), SIP_ERR_CSEQ_METHOD);
    static const char version[] = "BYE sip:a@b SIP/3.0\r\nv: SIP/2.0/TCP a\r\nCSeq: 1 BYE\r\n"
                                  "l: 0\r\n\r\n";
    assert_int_equal(PEEK(version, &pk), SIP_ERR_VERSION);
    static const char via[] = "SIP/2.0 200 OK\r\nVia: SIP/2.0\r\nCSeq: 1 A\r\nl: 0\r\n\r\n";
    assert_int_equal(PEEK(via, &pk), SIP_ERR_VIA);
    static const char empty_via[] = "SIP/2.0 200 OK\r\nVia: ,\r\nCSeq: 1 A\r\nl: 0\r\n\r\n";
    assert_int_equal(PEEK(empty_via, &pk), SIP_ERR_VIA);
    static const char start[] = "SIP/2.0 99 Early\r\nv: SIP/2.0/TCP a\r\nCSeq: 1 A\r\nl: 0\r\n\r\n";
    assert_int_equal(PEEK(start, &pk), SIP_ERR_STATUS);
}

static void test_pipelined_messages_carry_their_own_offsets(void **state)
{
    static const char two[] = "SIP/2.0 200 OK\r\nv: SIP/2.0/TCP a;branch=z9hG4bK1\r\n"
                              "CSeq: 1 A\r\nl: 0\r\n\r\n"
                              "SIP/2.0 200 OK\r\nCSeq: 2 B\r\nX: y\r\n"
                              "Via: SIP/2.0/TCP b;branch=z9hG4bK2\r\nl: 0\r\n\r\n";
    struct sip_framer f;
    struct sip_frame fr;
    struct sip_peek pk;
    sip_framer_init(&f);
    assert_int_equal(sip_framer_feed(&f, two, sizeof(two) - 1, MAX, &fr), SIP_FRAME_MESSAGE);
    assert_int_equal(sip_peek(two, &fr, &pk), SIP_OK);
    assert_sip_str_equal(pk.via.branch, "z9hG4bK1");
    const char *second = two + fr.len;
    assert_int_equal(sip_framer_feed(&f, second, sizeof(two) - 1 - fr.len, MAX, &fr),
                     SIP_FRAME_MESSAGE);
    assert_int_equal(sip_peek(second, &fr, &pk), SIP_OK);
    assert_sip_str_equal(pk.via.branch, "z9hG4bK2");
    assert_int_equal(pk.cseq.number, 2);
}

static void test_agrees_with_full_parse_on_rfc4475(void **state)
{
    DIR *d = opendir(TEST_DATA_DIR "/rfc4475");
    assert_non_null(d);
    struct dirent *e;
    unsigned framed = 0, accepted = 0;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".dat") != 0)
            continue;
        char rel[300], *buf;
        size_t len;
        snprintf(rel, sizeof(rel), "rfc4475/%s", e->d_name);
        buf = tu_load(rel, &len);
        struct sip_frame fr = tu_frame_once(buf, len, MAX);
        if (fr.event == SIP_FRAME_MESSAGE) {
            bool full_ok;
            framed++;
            if (!peek_agrees(buf, &fr, &full_ok))
                fail_msg("%s: sip_peek disagrees with the full parse", e->d_name);
            accepted += full_ok;
        }
        free(buf);
    }
    closedir(d);
    /* The corpus must exercise both sides of the property. */
    assert_true(framed > 20);
    assert_true(accepted > 5 && accepted < framed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_fields),
        cmocka_unit_test(test_response_compact_via_several_parms),
        cmocka_unit_test(test_folded_via_late_cseq_and_body),
        cmocka_unit_test(test_lookalike_names_are_not_via_or_cseq),
        cmocka_unit_test(test_address_line),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_pipelined_messages_carry_their_own_offsets),
        cmocka_unit_test(test_agrees_with_full_parse_on_rfc4475),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
