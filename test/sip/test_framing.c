/* Stream and datagram framing (RFC 3261 §18.3) and RFC 5626 keepalives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sip/framing.h"
#include "sip/scan.h"
#include "testutil.h"

#define MAX 65535

static struct sip_frame frame(enum sip_frame_event ev, size_t len, enum sip_err err)
{
    return (struct sip_frame){.event = ev, .len = len, .err = err};
}

/* Checks a literal both in one piece and at every split point. */
#define EXPECT(msg, want_ev, want_len, want_err)                                                   \
    do {                                                                                           \
        struct sip_frame got_ = tu_frame_once(msg, sizeof(msg) - 1, MAX);                          \
        assert_int_equal(got_.event, want_ev);                                                     \
        assert_int_equal(got_.len, want_len);                                                      \
        assert_int_equal(got_.err, want_err);                                                      \
        tu_replay(#msg, msg, sizeof(msg) - 1, MAX, frame(want_ev, want_len, want_err));            \
    } while (0)

#define OPTIONS "OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TLS h;branch=z9hG4bK1\r\n"

static void test_message_with_body(void **state)
{
    static const char msg[] = OPTIONS "Content-Length: 5\r\n\r\nhello";
    EXPECT(msg, SIP_FRAME_MESSAGE, sizeof(msg) - 1, SIP_OK);
    struct sip_frame f = tu_frame_once(msg, sizeof(msg) - 1, MAX);
    assert_int_equal(f.header_len, sizeof(msg) - 1 - 5);
}

static void test_compact_and_odd_spacing(void **state)
{
    static const char compact[] = OPTIONS "l: 2\r\n\r\nhi";
    EXPECT(compact, SIP_FRAME_MESSAGE, sizeof(compact) - 1, SIP_OK);
    static const char spaced[] = OPTIONS "cOnTeNt-LeNgTh   :   2  \r\n\r\nhi";
    EXPECT(spaced, SIP_FRAME_MESSAGE, sizeof(spaced) - 1, SIP_OK);
    static const char folded[] = OPTIONS "Content-Length:\r\n  2\r\n\r\nhi";
    EXPECT(folded, SIP_FRAME_MESSAGE, sizeof(folded) - 1, SIP_OK);
    static const char lf_only[] = "OPTIONS sip:a@b SIP/2.0\nl: 1\n\nX";
    EXPECT(lf_only, SIP_FRAME_MESSAGE, sizeof(lf_only) - 1, SIP_OK);
}

static void test_lookalike_names_are_not_content_length(void **state)
{
    static const char msg[] = OPTIONS "Content-Lengthy: 9\r\nlx: 9\r\nl: 0\r\n\r\n";
    EXPECT(msg, SIP_FRAME_MESSAGE, sizeof(msg) - 1, SIP_OK);
}

static void test_pipelined_messages(void **state)
{
    static const char two[] = OPTIONS "l: 0\r\n\r\n" OPTIONS "l: 1\r\n\r\nx";
    size_t first = sizeof(OPTIONS "l: 0\r\n\r\n") - 1;
    EXPECT(two, SIP_FRAME_MESSAGE, first, SIP_OK);
    struct sip_frame rest = tu_frame_once(two + first, sizeof(two) - 1 - first, MAX);
    assert_int_equal(rest.event, SIP_FRAME_MESSAGE);
    assert_int_equal(rest.len, sizeof(two) - 1 - first);
}

static void test_content_length_errors(void **state)
{
    static const char missing[] = OPTIONS "\r\n";
    EXPECT(missing, SIP_FRAME_ERROR, 0, SIP_ERR_CL_MISSING);
    static const char negative[] = OPTIONS "Content-Length: -5\r\n\r\n";
    EXPECT(negative, SIP_FRAME_ERROR, 0, SIP_ERR_CL_INVALID);
    static const char word[] = OPTIONS "Content-Length: five\r\n\r\n";
    EXPECT(word, SIP_FRAME_ERROR, 0, SIP_ERR_CL_INVALID);
    static const char empty[] = OPTIONS "Content-Length:\r\n\r\n";
    EXPECT(empty, SIP_FRAME_ERROR, 0, SIP_ERR_CL_INVALID);
    static const char trailing[] = OPTIONS "Content-Length: 5 5\r\n\r\n";
    EXPECT(trailing, SIP_FRAME_ERROR, 0, SIP_ERR_CL_INVALID);
    static const char huge[] = OPTIONS "Content-Length: 99999999999999999999\r\n\r\n";
    EXPECT(huge, SIP_FRAME_ERROR, 0, SIP_ERR_CL_INVALID);
    static const char dup[] = OPTIONS "Content-Length: 0\r\nl: 0\r\n\r\n";
    EXPECT(dup, SIP_FRAME_ERROR, 0, SIP_ERR_CL_DUPLICATE);
    static const char conflict[] = OPTIONS "Content-Length: 0\r\nl: 3\r\n\r\nabc";
    EXPECT(conflict, SIP_FRAME_ERROR, 0, SIP_ERR_CL_CONFLICT);
    static const char bad_second[] = OPTIONS "Content-Length: 0\r\nl: x\r\n\r\n";
    EXPECT(bad_second, SIP_FRAME_ERROR, 0, SIP_ERR_CL_INVALID);
}

static void test_size_limits(void **state)
{
    static const char msg[] = OPTIONS "Content-Length: 10\r\n\r\n0123456789";
    size_t headers = sizeof(msg) - 1 - 10;
    /* Exactly at the limit: fine. One byte less: the body does not fit. */
    assert_int_equal(tu_frame_once(msg, sizeof(msg) - 1, sizeof(msg) - 1).event, SIP_FRAME_MESSAGE);
    struct sip_frame f = tu_frame_once(msg, sizeof(msg) - 1, sizeof(msg) - 2);
    assert_int_equal(f.event, SIP_FRAME_ERROR);
    assert_int_equal(f.err, SIP_ERR_MESSAGE_TOO_LARGE);
    /* The header section alone over the limit, complete or not. */
    f = tu_frame_once(msg, sizeof(msg) - 1, headers - 1);
    assert_int_equal(f.err, SIP_ERR_HEADERS_TOO_LARGE);
    f = tu_frame_once(msg, headers - 3, headers - 3);
    assert_int_equal(f.err, SIP_ERR_HEADERS_TOO_LARGE);
    f = tu_frame_once(msg, headers - 3, headers - 2);
    assert_int_equal(f.event, SIP_FRAME_NEED_MORE);
    /* Bytes past the limit are never judged: a bare CR there does not turn
     * "too large" into another error, however the bytes arrive (fuzz). */
    static const char late_cr[] = "OPTIONS sip:a@b SIP/2.0\r\nX: 0123456789\r\n\rX";
    tu_replay("late_cr", late_cr, sizeof(late_cr) - 1, 30,
              frame(SIP_FRAME_ERROR, 0, SIP_ERR_HEADERS_TOO_LARGE));
    f = tu_frame_once(late_cr, sizeof(late_cr) - 1, 30);
    assert_int_equal(f.err, SIP_ERR_HEADERS_TOO_LARGE);
}

static void test_keepalives(void **state)
{
    static const char ping[] = "\r\n\r\n";
    EXPECT(ping, SIP_FRAME_PING, 4, SIP_OK);
    /* A lone CRLF may be half a ping: wait for the next byte. */
    assert_int_equal(tu_frame_once("\r\n", 2, MAX).event, SIP_FRAME_NEED_MORE);
    static const char pong_pong[] = "\r\n\r\n\r\n";
    EXPECT(pong_pong, SIP_FRAME_PING, 4, SIP_OK);
    static const char pong_then_msg[] = "\r\n" OPTIONS "l: 0\r\n\r\n";
    EXPECT(pong_then_msg, SIP_FRAME_PONG, 2, SIP_OK);
    static const char ping_then_msg[] = "\r\n\r\n" OPTIONS "l: 0\r\n\r\n";
    EXPECT(ping_then_msg, SIP_FRAME_PING, 4, SIP_OK);
    static const char stray_lf[] = "\nOPTIONS";
    EXPECT(stray_lf, SIP_FRAME_PONG, 1, SIP_OK);
    /* "\r\n\r" could still become a ping. */
    assert_int_equal(tu_frame_once("\r\n\r", 3, MAX).event, SIP_FRAME_NEED_MORE);
    assert_int_equal(tu_frame_once("\r", 1, MAX).event, SIP_FRAME_NEED_MORE);
    static const char bare_cr[] = "\rX";
    EXPECT(bare_cr, SIP_FRAME_ERROR, 0, SIP_ERR_BARE_CR);
}

static void test_bare_cr_ends_nothing(void **state)
{
    static const char msg[] = OPTIONS "l: 0\r\n\rX\r\n\r\n";
    EXPECT(msg, SIP_FRAME_ERROR, 0, SIP_ERR_BARE_CR);
}

static void test_framer_resets_after_message(void **state)
{
    static const char msg[] = OPTIONS "l: 1\r\n\r\nx";
    struct sip_framer f;
    struct sip_frame out;
    sip_framer_init(&f);
    assert_int_equal(sip_framer_feed(&f, msg, sizeof(msg) - 1, MAX, &out), SIP_FRAME_MESSAGE);
    struct sip_framer zero;
    sip_framer_init(&zero);
    assert_memory_equal(&f, &zero, sizeof(f));
    assert_int_equal(sip_framer_feed(&f, msg, sizeof(msg) - 1, MAX, &out), SIP_FRAME_MESSAGE);
}

/* A peer dribbling a long header one byte at a time: the framer resumes
 * where it stopped instead of rescanning the line (O(n) in total). */
static void test_resume_point_tracks_input(void **state)
{
    enum { N = 4000 };
    char *buf = malloc(N);
    assert_non_null(buf);
    memcpy(buf, "MESSAGE sip:a@b SIP/2.0\r\nSubject: ", 34);
    memset(buf + 34, 'x', N - 34);
    struct sip_framer f;
    struct sip_frame out;
    sip_framer_init(&f);
    for (size_t k = 1; k <= N; k++) {
        assert_int_equal(sip_framer_feed(&f, buf, k, MAX, &out), SIP_FRAME_NEED_MORE);
        assert_int_equal(f.scan, k);
    }
    assert_int_equal(f.line_start, 25); /* still inside the Subject line */
    free(buf);
}

/* DGRAM frames literal |msg| as one datagram. */
#define DGRAM(msg, max) dgram(msg, sizeof(msg) - 1, max)

static struct sip_frame dgram(const char *msg, size_t len, size_t max)
{
    struct sip_frame f;
    /* Copied to the heap: ASan sees a read past the datagram. */
    char *copy = malloc(len ? len : 1);
    memcpy(copy, msg, len);
    sip_frame_datagram(copy, len, max, &f);
    free(copy);
    return f;
}

static void test_datagram_content_length_optional(void **state)
{
    /* RFC 3261 18.3: without Content-Length the body is the rest. */
    static const char no_cl[] = OPTIONS "\r\nhello";
    struct sip_frame f = DGRAM(no_cl, MAX);
    assert_int_equal(f.event, SIP_FRAME_MESSAGE);
    assert_int_equal(f.len, sizeof(no_cl) - 1);
    assert_int_equal(f.header_len, sizeof(no_cl) - 1 - 5);
    assert_true(f.via_line > 0);
    /* Bytes past Content-Length are discarded. */
    static const char extra[] = OPTIONS "Content-Length: 2\r\n\r\nhiJUNK";
    f = DGRAM(extra, MAX);
    assert_int_equal(f.event, SIP_FRAME_MESSAGE);
    assert_int_equal(f.len, sizeof(extra) - 1 - 4);
    /* Larger than the datagram: drop. */
    static const char longer[] = OPTIONS "Content-Length: 20\r\n\r\nhi";
    f = DGRAM(longer, MAX);
    assert_int_equal(f.event, SIP_FRAME_ERROR);
    assert_int_equal(f.err, SIP_ERR_BODY_TRUNCATED);
}

static void test_datagram_errors_and_keepalives(void **state)
{
    static const char crlf[] = "\r\n\r\n";
    struct sip_frame f = DGRAM(crlf, MAX);
    assert_int_equal(f.event, SIP_FRAME_PONG);
    assert_int_equal(f.len, 4);
    static const char no_end[] = OPTIONS "Content-Length: 0\r\n";
    f = DGRAM(no_end, MAX);
    assert_int_equal(f.event, SIP_FRAME_ERROR);
    assert_int_equal(f.err, SIP_ERR_HEADER_SYNTAX);
    static const char twice[] = OPTIONS "l: 1\r\nl: 2\r\n\r\nab";
    f = DGRAM(twice, MAX);
    assert_int_equal(f.event, SIP_FRAME_ERROR);
    assert_int_equal(f.err, SIP_ERR_CL_CONFLICT);
    static const char big[] = OPTIONS "\r\n0123456789";
    f = DGRAM(big, sizeof(big) - 5);
    assert_int_equal(f.event, SIP_FRAME_ERROR);
    assert_int_equal(f.err, SIP_ERR_MESSAGE_TOO_LARGE);
    f = DGRAM(big, 10);
    assert_int_equal(f.event, SIP_FRAME_ERROR);
    assert_int_equal(f.err, SIP_ERR_HEADERS_TOO_LARGE);
    f = dgram("", 0, MAX);
    assert_int_equal(f.event, SIP_FRAME_ERROR);
}

static void test_content_length_parse(void **state)
{
    size_t v = 7;
    const char *s = " \t 0042 \r\n ";
    assert_int_equal(sip_content_length_parse(s, s + strlen(s), &v), SIP_OK);
    assert_int_equal(v, 42);
    s = "4294967295";
    assert_int_equal(sip_content_length_parse(s, s + strlen(s), &v), SIP_OK);
    assert_int_equal(v, 4294967295u);
    s = "4294967296";
    assert_int_equal(sip_content_length_parse(s, s + strlen(s), &v), SIP_ERR_CL_INVALID);
    s = "+1";
    assert_int_equal(sip_content_length_parse(s, s + strlen(s), &v), SIP_ERR_CL_INVALID);
}

/* sip_find answers as memchr for every start, length and place of the
 * first hit (none, one, two), in a heap copy of exactly the range so that
 * ASan sees a read past it: its blocks and the octets after them. */
static void test_find_is_memchr(void **state)
{
    for (size_t len = 0; len <= 70; len++) {
        for (size_t hit = 0; hit <= len; hit++) {
            char *buf = malloc(len ? len : 1);
            assert_non_null(buf);
            memset(buf, 'a', len);
            if (hit < len)
                buf[hit] = '\n';
            if (hit + 17 < len)
                buf[hit + 17] = '\n';
            for (size_t from = 0; from <= len; from++)
                assert_ptr_equal(sip_find(buf + from, buf + len, '\n'),
                                 memchr(buf + from, '\n', len - from));
            free(buf);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_is_memchr),
        cmocka_unit_test(test_message_with_body),
        cmocka_unit_test(test_compact_and_odd_spacing),
        cmocka_unit_test(test_lookalike_names_are_not_content_length),
        cmocka_unit_test(test_pipelined_messages),
        cmocka_unit_test(test_content_length_errors),
        cmocka_unit_test(test_size_limits),
        cmocka_unit_test(test_keepalives),
        cmocka_unit_test(test_datagram_content_length_optional),
        cmocka_unit_test(test_datagram_errors_and_keepalives),
        cmocka_unit_test(test_bare_cr_ends_nothing),
        cmocka_unit_test(test_framer_resets_after_message),
        cmocka_unit_test(test_resume_point_tracks_input),
        cmocka_unit_test(test_content_length_parse),
    };
    return cmocka_run_group_tests_name("sip_framing", tests, NULL, NULL);
}
