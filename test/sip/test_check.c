/* Semantic checks: required headers, single values, CSeq, version,
 * Max-Forwards, Request-URI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check_ref.h"
#include "sip/check.h"

static struct sip_header hdrs[32];
static struct sip_msg m;

static void parse(const char *text)
{
    assert_int_equal(sip_parse(text, strlen(text), &m, hdrs, 32), SIP_OK);
}

#define FULL                                                                                       \
    "Via: SIP/2.0/TLS h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\n"             \
    "Call-ID: x\r\nCSeq: 2147483647 INVITE\r\nMax-Forwards: 70\r\n"

static void test_required(void **state)
{
    parse("INVITE sip:c@d SIP/2.0\r\n" FULL "\r\n");
    assert_int_equal(sip_check_required(&m, true), SIP_OK);
    static const struct {
        const char *drop;
        enum sip_err err;
    } cases[] = {
        {"Via", SIP_ERR_MISSING_VIA},   {"From", SIP_ERR_MISSING_FROM},
        {"To", SIP_ERR_MISSING_TO},     {"Call-ID", SIP_ERR_MISSING_CALL_ID},
        {"CSeq", SIP_ERR_MISSING_CSEQ}, {"Max-Forwards", SIP_ERR_MISSING_MAX_FORWARDS},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[512] = "INVITE sip:c@d SIP/2.0\r\n";
        const char *lines[] = {"Via: SIP/2.0/TLS h\r\n", "From: <sip:a@b>\r\n",
                               "To: <sip:c@d>\r\n",      "Call-ID: x\r\n",
                               "CSeq: 1 INVITE\r\n",     "Max-Forwards: 70\r\n"};
        for (size_t j = 0; j < 6; j++)
            if (strncmp(lines[j], cases[i].drop, strlen(cases[i].drop)) != 0 ||
                lines[j][strlen(cases[i].drop)] != ':')
                strcat(text, lines[j]);
        strcat(text, "\r\n");
        parse(text);
        if (sip_check_required(&m, true) != cases[i].err)
            fail_msg("without %s: got %s", cases[i].drop,
                     sip_err_text(sip_check_required(&m, true)));
    }
    parse("INVITE sip:c@d SIP/2.0\r\nv: SIP/2.0/TLS h\r\nf: <sip:a@b>\r\nt: <sip:c@d>\r\n"
          "i: x\r\nCSeq: 1 INVITE\r\n\r\n");
    assert_int_equal(sip_check_required(&m, false), SIP_OK);
    assert_int_equal(sip_check_required(&m, true), SIP_ERR_MISSING_MAX_FORWARDS);
}

static void test_single(void **state)
{
    parse("INVITE sip:c@d SIP/2.0\r\n" FULL "\r\n");
    assert_int_equal(sip_check_single(&m), SIP_OK);
    parse("INVITE sip:c@d SIP/2.0\r\n" FULL "i: y\r\n\r\n");
    assert_int_equal(sip_check_single(&m), SIP_ERR_MULTIPLE_VALUES);
    parse("INVITE sip:c@d SIP/2.0\r\n" FULL "Via: SIP/2.0/TCP x\r\n\r\n");
    assert_int_equal(sip_check_single(&m), SIP_OK);
}

static void test_cseq(void **state)
{
    struct sip_cseq c;
    parse("INVITE sip:c@d SIP/2.0\r\n" FULL "\r\n");
    assert_int_equal(sip_check_cseq(&m, &c), SIP_OK);
    assert_int_equal(c.number, 2147483647u);
    assert_int_equal(c.method.len, 6);
    parse("ACK sip:c@d SIP/2.0\r\n" FULL "\r\n");
    assert_int_equal(sip_check_cseq(&m, &c), SIP_ERR_CSEQ_METHOD);
    parse("invite sip:c@d SIP/2.0\r\n" FULL "\r\n");
    assert_int_equal(sip_check_cseq(&m, &c), SIP_ERR_CSEQ_METHOD); /* methods are case-sensitive */
    parse("SIP/2.0 200 OK\r\n" FULL "\r\n");
    assert_int_equal(sip_check_cseq(&m, &c), SIP_OK);
    const char *bad[] = {"2147483648 INVITE", "INVITE",    "1", "1INVITE",
                         "-1 INVITE",         "1 INV ITE", "",  "1 <X>"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sip_cseq_parse((struct sip_str){bad[i], strlen(bad[i])}, &c) != SIP_ERR_CSEQ)
            fail_msg("accepted CSeq \"%s\"", bad[i]);
    assert_int_equal(sip_cseq_parse(SIP_STR_LIT("0009\r\n  INVITE"), &c), SIP_OK);
    assert_int_equal(c.number, 9);
    parse("OPTIONS sip:c@d SIP/2.0\r\n\r\n");
    assert_int_equal(sip_check_cseq(&m, &c), SIP_ERR_MISSING_CSEQ);
}

static void test_version(void **state)
{
    parse("OPTIONS sip:c@d SIP/2.0\r\n\r\n");
    assert_int_equal(sip_check_version(&m), SIP_OK);
    parse("OPTIONS sip:c@d sip/2.0\r\n\r\n");
    assert_int_equal(sip_check_version(&m), SIP_OK);
    parse("OPTIONS sip:c@d SIP/7.0\r\n\r\n");
    assert_int_equal(sip_check_version(&m), SIP_ERR_VERSION);
    parse("SIP/2.00 200 OK\r\n\r\n");
    assert_int_equal(sip_check_version(&m), SIP_ERR_VERSION);
}

static void test_max_forwards(void **state)
{
    unsigned v = 1234;
    bool present;
    parse("OPTIONS sip:c@d SIP/2.0\r\nMax-Forwards: 0068\r\n\r\n");
    assert_int_equal(sip_max_forwards(&m, &v, &present), SIP_OK);
    assert_true(present);
    assert_int_equal(v, 68);
    parse("OPTIONS sip:c@d SIP/2.0\r\nMax-Forwards: 0\r\n\r\n");
    assert_int_equal(sip_max_forwards(&m, &v, &present), SIP_OK);
    assert_int_equal(v, 0);
    parse("OPTIONS sip:c@d SIP/2.0\r\n\r\n");
    assert_int_equal(sip_max_forwards(&m, &v, &present), SIP_OK);
    assert_false(present);
    const char *bad[] = {"256", "-1", "7 0", "", "x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "OPTIONS sip:c@d SIP/2.0\r\nMax-Forwards: %s\r\n\r\n", bad[i]);
        parse(text);
        if (sip_max_forwards(&m, &v, &present) != SIP_ERR_MAX_FORWARDS)
            fail_msg("accepted Max-Forwards \"%s\"", bad[i]);
    }
}

static void test_request_uri(void **state)
{
    struct sip_uri u;
    parse("OPTIONS sips:c@d.example.com:5061;transport=tls SIP/2.0\r\n\r\n");
    assert_int_equal(sip_check_request_uri(&m, &u), SIP_OK);
    assert_int_equal(u.scheme, SIP_SCHEME_SIPS);
    assert_int_equal(u.hp.port, 5061);
    parse("OPTIONS tel:+12015550123 SIP/2.0\r\n\r\n");
    assert_int_equal(sip_check_request_uri(&m, &u), SIP_ERR_URI_SCHEME);
    parse("OPTIONS sip:c@d?Route=%3Csip:x%3E SIP/2.0\r\n\r\n");
    assert_int_equal(sip_check_request_uri(&m, &u), SIP_ERR_REQUEST_URI);
    parse("OPTIONS sip:c@d:0 SIP/2.0\r\n\r\n");
    assert_int_equal(sip_check_request_uri(&m, &u), SIP_ERR_REQUEST_URI);
}

/* Every octet value inside a header value, inside Call-ID, inside a
 * response's reason phrase and escaped in a quoted-string: the controls RFC
 * 3261 has no place for are refused, HTAB and every other octet pass; a
 * quoted-pair admits every control but NUL and CR; NUL in the body passes.
 * Each at 16 offsets (padding before it), so that it and its backslash fall
 * at every place of the check's eight-octet words and across their edges. */
static void test_control_chars(void **state)
{
    static const char *const templates[] = {
        "INVITE sip:c@d SIP/2.0\r\n" FULL "Subject: %sa%cb\r\n\r\n",
        "INVITE sip:c@d SIP/2.0\r\nVia: SIP/2.0/TLS h;branch=z9hG4bK1\r\n"
        "Call-ID: %sx%cy@h\r\n\r\n",
        "SIP/2.0 200 %sO%cK\r\n" FULL "\r\n",
        "INVITE sip:c@d SIP/2.0\r\n" FULL "Subject: \"%sa\\%cb\"\r\n\r\n",
        /* a quoted-pair, then a word, then an unescaped octet */
        "INVITE sip:c@d SIP/2.0\r\n" FULL "Subject: \"%sa\\bcdefghi%c\"\r\n\r\n",
    };
    const size_t quoted_pair = 3;
    for (size_t t = 0; t < sizeof(templates) / sizeof(templates[0]); t++) {
        for (unsigned case_no = 0; case_no < 256 * 16; case_no++) {
            unsigned c = case_no % 256;
            const char *pad = &"pppppppppppppppp"[case_no / 256];
            if (c == '\n')
                continue; /* a line end: another message, not this check's */
            char text[512];
            int n = snprintf(text, sizeof(text), templates[t], pad, 'Z');
            char *at = memchr(text, 'Z', (size_t)n);
            *at = (char)c;
            struct sip_header h[32];
            struct sip_msg msg;
            enum sip_err parsed = sip_parse(text, (size_t)n, &msg, h, 32);
            bool refuse = (c < 0x20 && c != '\t') || c == 0x7f;
            if (t == quoted_pair)
                refuse = c == '\0' || c == '\r';
            if (parsed == SIP_ERR_STATUS && refuse && c == '\r')
                continue; /* the status-line parser refuses a CR in the reason */
            if (parsed != SIP_OK)
                fail_msg("template %zu octet 0x%02x pad %zu: parse %s", t, c, strlen(pad),
                         sip_err_text(parsed));
            if (sip_check_chars(&msg) != (refuse ? SIP_ERR_CONTROL_CHAR : SIP_OK))
                fail_msg("template %zu octet 0x%02x pad %zu: %s", t, c, strlen(pad),
                         sip_err_text(sip_check_chars(&msg)));
            /* The unparsed form (sip/peek.h's rows) judges alike. */
            assert_int_equal(sip_check_chars_in(text, msg.header_len), sip_check_chars(&msg));
        }
    }
    static const char nul_body[] = "MESSAGE sip:c@d SIP/2.0\r\n" FULL "Content-Length: 3\r\n"
                                   "\r\na\0b";
    struct sip_header h[32];
    struct sip_msg msg;
    assert_int_equal(sip_parse(nul_body, sizeof(nul_body) - 1, &msg, h, 32), SIP_OK);
    assert_int_equal(sip_check_chars(&msg), SIP_OK);
    assert_int_equal(sip_err_status(SIP_ERR_CONTROL_CHAR), 400);
}

/* check_at judges buf[0..len) in a heap copy of exactly len octets (so
 * that ASan sees any read past it) against the octet-wise definition. */
static void check_at(const char *buf, size_t len, const char *what, size_t at)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, buf, len);
    enum sip_err got = sip_check_chars_in(copy, len), want = check_chars_ref(copy, len);
    free(copy);
    if (got != want)
        fail_msg("%s at %zu of %zu: %s, the definition says %s", what, at, len, sip_err_text(got),
                 sip_err_text(want));
}

/* The block scans of sip/check.c (sixteen octets with SSE2, else a word)
 * judge every buffer as the octet-wise definition does: each crafted
 * pattern (the octets that change a verdict, a CR before or after a block
 * edge, quoted-pairs reaching into the next block, the last octet) at every
 * offset of every length up to five blocks, then random buffers of mostly
 * harmless octets, so that most blocks pass and the odd one does not. */
static void test_control_chars_blocks(void **state)
{
    static const struct {
        const char *octets;
        size_t len;
    } patterns[] = {
        {"\0", 1},   {"\x01", 1},     {"\t", 1},       {"\n", 1},     {"\r", 1},
        {"\x1f", 1}, {" ", 1},        {"\x7f", 1},     {"\x80", 1},   {"\xff", 1},
        {"\\", 1},   {"\r\n", 2},     {"\r\r\n", 3},   {"\\\x01", 2}, {"\\\0", 2},
        {"\\\r", 2}, {"\\\r\n", 3},   {"\\\\\x01", 3}, {"\\\x7f", 2}, {"\\\\\\\x7f", 4},
        {"\n\r", 2}, {"\\\t\x01", 3}, {"\x7f\\", 2},
    };
    char buf[96];
    for (size_t p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
        for (size_t len = 0; len <= 80; len++) {
            for (size_t at = 0; at + patterns[p].len <= len; at++) {
                memset(buf, 'a', len);
                memcpy(buf + at, patterns[p].octets, patterns[p].len);
                check_at(buf, len, "pattern", at);
                /* Line ends around it: the fast lanes must judge them too. */
                for (size_t k = 0; k + 2 <= len; k += 7)
                    if (k + 2 <= at || k >= at + patterns[p].len)
                        memcpy(buf + k, "\r\n", 2);
                check_at(buf, len, "pattern among line ends", at);
            }
        }
    }
    static const char alphabet[] = "\r\n\t\\\x7f\x01\x80\" \0";
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (int n = 0; n < 200000; n++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t len = (size_t)(x % sizeof(buf));
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = x % 64 < 60 ? 'a' : alphabet[x / 64 % (sizeof(alphabet) - 1)];
            if (buf[i] == '\r' && i + 1 < len && x % 2)
                buf[++i] = '\n';
        }
        check_at(buf, len, "random buffer", 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_control_chars), cmocka_unit_test(test_control_chars_blocks),
        cmocka_unit_test(test_required),      cmocka_unit_test(test_single),
        cmocka_unit_test(test_cseq),          cmocka_unit_test(test_version),
        cmocka_unit_test(test_max_forwards),  cmocka_unit_test(test_request_uri),
    };
    return cmocka_run_group_tests_name("sip_check", tests, NULL, NULL);
}
