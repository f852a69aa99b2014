/* The gateway's own responses built from a request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sip/response.h"
#include "sip/uri.h"

static struct sip_header hdrs[32];
static struct sip_msg req;

#define REQ                                                                                        \
    "INVITE sip:bob@b.example.com SIP/2.0\r\n"                                                     \
    "v: SIP/2.0/TLS a.example.com;branch=z9hG4bK1;alias, SIP/2.0/TCP b;branch=z9hG4bK2\r\n"        \
    "Max-Forwards: 0\r\n"                                                                          \
    "f: \"A\" <sip:a@a.example.com>;tag=af\r\n"                                                    \
    "To: <sip:bob@b.example.com>\r\n"                                                              \
    "Via: SIP/2.0/TCP c;branch=z9hG4bK3\r\n"                                                       \
    "i: call-1@a\r\n"                                                                              \
    "CSeq: 7 INVITE\r\n"                                                                           \
    "Content-Length: 3\r\n\r\nabc"

static void parse_req(const char *text)
{
    assert_int_equal(sip_parse(text, strlen(text), &req, hdrs, 32), SIP_OK);
}

static void test_483_with_tag_and_warning(void **state)
{
    parse_req(REQ);
    char out[1024];
    size_t len;
    struct sip_response_spec spec = {
        .status = 483, .to_tag = "gw1", .extra = "Warning: 399 reusegw \"hops\"\r\n"};
    assert_int_equal(sip_build_response(&req, &spec, out, sizeof(out), &len), SIP_OK);
    static const char want[] =
        "SIP/2.0 483 Too Many Hops\r\n"
        "Via: SIP/2.0/TLS a.example.com;branch=z9hG4bK1;alias, SIP/2.0/TCP b;branch=z9hG4bK2\r\n"
        "Via: SIP/2.0/TCP c;branch=z9hG4bK3\r\n"
        "From: \"A\" <sip:a@a.example.com>;tag=af\r\n"
        "To: <sip:bob@b.example.com>;tag=gw1\r\n"
        "Call-ID: call-1@a\r\n"
        "CSeq: 7 INVITE\r\n"
        "Warning: 399 reusegw \"hops\"\r\n"
        "Content-Length: 0\r\n\r\n";
    assert_int_equal(len, sizeof(want) - 1);
    assert_memory_equal(out, want, len);
    struct sip_header h2[16];
    struct sip_msg m;
    assert_int_equal(sip_parse(out, len, &m, h2, 16), SIP_OK);
    assert_int_equal(m.status, 483);
}

/* top_via_only copies the first Via line and no other. */
static void test_top_via_only(void **state)
{
    parse_req(REQ);
    char out[1024];
    size_t len;
    struct sip_response_spec spec = {.status = 400, .to_tag = "gw1", .top_via_only = true};
    assert_int_equal(sip_build_response(&req, &spec, out, sizeof(out), &len), SIP_OK);
    struct sip_header h2[16];
    struct sip_msg m;
    assert_int_equal(sip_parse(out, len, &m, h2, 16), SIP_OK);
    assert_int_equal(m.count[SIP_HDR_VIA], 1);
    assert_non_null(memmem(out, len, "branch=z9hG4bK1;alias", 21));
    assert_null(memmem(out, len, "z9hG4bK3", 8));
}

static void test_reason_phrase_and_existing_tag(void **state)
{
    parse_req("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TLS h;branch=z9hG4bKq\r\nFrom: <sip:a@b>;tag=1"
              "\r\nTo: <sip:x>;TAG=keep\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n");
    char out[512];
    size_t len;
    struct sip_response_spec spec = {.status = 400, .reason = "Bad Content-Length"};
    assert_int_equal(sip_build_response(&req, &spec, out, sizeof(out), &len), SIP_OK);
    out[len] = '\0';
    assert_non_null(strstr(out, "SIP/2.0 400 Bad Content-Length\r\n"));
    assert_non_null(strstr(out, "\r\nTo: <sip:x>;TAG=keep\r\n"));
}

static void test_derived_tag_is_stable(void **state)
{
    char a[1024], b[1024];
    size_t la, lb;
    struct sip_response_spec spec = {.status = 503};
    parse_req(REQ);
    assert_int_equal(sip_build_response(&req, &spec, a, sizeof(a), &la), SIP_OK);
    assert_int_equal(sip_build_response(&req, &spec, b, sizeof(b), &lb), SIP_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    a[la] = '\0';
    const char *to = strstr(a, "\r\nTo: <sip:bob@b.example.com>;tag=");
    assert_non_null(to);
    /* Another transaction (other branch) gets another tag. */
    char other[sizeof(REQ)];
    memcpy(other, REQ, sizeof(REQ));
    *strstr(other, "z9hG4bK1") = 'Z';
    parse_req(other);
    assert_int_equal(sip_build_response(&req, &spec, b, sizeof(b), &lb), SIP_OK);
    b[lb] = '\0';
    assert_string_not_equal(strstr(a, "tag="), strstr(b, "tag="));
    /* 100 Trying never gets a To tag. */
    spec.status = 100;
    parse_req(REQ);
    assert_int_equal(sip_build_response(&req, &spec, a, sizeof(a), &la), SIP_OK);
    a[la] = '\0';
    assert_non_null(strstr(a, "\r\nTo: <sip:bob@b.example.com>\r\n"));
}

static void test_bounded_by_buffer(void **state)
{
    parse_req(REQ);
    char out[1024];
    size_t len, full;
    struct sip_response_spec spec = {.status = 503, .to_tag = "t"};
    assert_int_equal(sip_build_response(&req, &spec, out, sizeof(out), &full), SIP_OK);
    for (size_t cap = 0; cap < full; cap++) {
        memset(out, 'Z', sizeof(out));
        assert_int_equal(sip_build_response(&req, &spec, out, cap, &len), SIP_ERR_NO_SPACE);
        assert_int_equal(out[cap], 'Z'); /* nothing written past cap */
    }
    assert_int_equal(sip_build_response(&req, &spec, out, full, &len), SIP_OK);
}

static void test_bad_specs(void **state)
{
    parse_req(REQ);
    char out[1024];
    size_t len;
    struct sip_response_spec bad[] = {
        {.status = 99},
        {.status = 700},
        {.status = 400, .reason = "two\r\nlines"},
        {.status = 400, .extra = "X: no line end"},
        {.status = 400, .extra = "X: a\r\nInjected\n: b\r\n"},
        {.status = 400, .to_tag = "a b"},
        {.status = 400, .to_tag = ""},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sip_build_response(&req, &bad[i], out, sizeof(out), &len) != SIP_ERR_STATUS)
            fail_msg("bad spec %zu accepted", i);
    assert_string_equal(sip_status_phrase(503), "Service Unavailable");
    assert_string_equal(sip_status_phrase(599), "Server Error");
}

static void test_missing_headers_are_skipped(void **state)
{
    parse_req("OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h\r\n\r\n");
    char out[256];
    size_t len;
    struct sip_response_spec spec = {.status = 400, .reason = "Missing From"};
    assert_int_equal(sip_build_response(&req, &spec, out, sizeof(out), &len), SIP_OK);
    static const char want[] = "SIP/2.0 400 Missing From\r\nVia: SIP/2.0/TCP h\r\n"
                               "Content-Length: 0\r\n\r\n";
    assert_int_equal(len, sizeof(want) - 1);
    assert_memory_equal(out, want, len);
}

static void expect_basis(const char *in, size_t max_vias, size_t cap, const char *want)
{
    char out[512];
    assert_true(cap <= sizeof(out));
    size_t n = sip_response_basis(in, strlen(in), max_vias, out, cap);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
}

/* The start of every basis of test_basis_of_a_cut_header_section's cut
 * request: its start line, singletons in order, and its topmost Via. */
#define BASIS_HEAD                                                                                 \
    "INVITE sip:b@b SIP/2.0\r\n"                                                                   \
    "From: <sip:a@a>\r\n ;tag=af\r\n"                                                              \
    "i: c1\r\n"                                                                                    \
    "CSeq: 1 INVITE\r\n"                                                                           \
    "To: <sip:b@b>\r\n"                                                                            \
    "v: SIP/2.0/TLS a;branch=z9hG4bK1\r\n"

static void test_basis_of_a_cut_header_section(void **state)
{
    /* Cut inside a header line: the folded From is complete only once the
     * byte after its continuation says so; the partial last line goes. */
    static const char cut[] = "INVITE sip:b@b SIP/2.0\r\n"
                              "v: SIP/2.0/TLS a;branch=z9hG4bK1\r\n"
                              "Max-Forwards: 70\r\n"
                              "From: <sip:a@a>\r\n ;tag=af\r\n"
                              "Via: SIP/2.0/TLS h2;branch=z9hG4bK2\r\n"
                              "Via: SIP/2.0/TLS h3;branch=z9hG4bK3\r\n"
                              "i: c1\r\n"
                              "CSeq: 1 INVITE\r\n"
                              "CSeq: 2 INVITE\r\n"
                              "To: <sip:b@b>\r\n"
                              "Call-ID: cut-he";
    expect_basis(cut, 10, 512,
                 BASIS_HEAD "Via: SIP/2.0/TLS h2;branch=z9hG4bK2\r\n"
                            "Via: SIP/2.0/TLS h3;branch=z9hG4bK3\r\n"
                            "\r\n");
    /* The Vias as many as max_vias, or cap, allow, from the topmost. */
    expect_basis(cut, 2, 512,
                 BASIS_HEAD "Via: SIP/2.0/TLS h2;branch=z9hG4bK2\r\n"
                            "\r\n");
    expect_basis(cut, 10, 140, BASIS_HEAD "\r\n");
    /* No room for the singletons, or no complete start line: nothing. */
    expect_basis(cut, 10, 60, "");
    expect_basis("INVITE sip:b@b SIP/2.0\r\n", 10, 512, "");
    /* A whole section: scanning ends at its empty line, the body is not
     * looked at. */
    expect_basis("OPTIONS sip:x SIP/2.0\nVia: SIP/2.0/TCP h\n\nTo: body\n\n", 10, 512,
                 "OPTIONS sip:x SIP/2.0\nVia: SIP/2.0/TCP h\n\r\n");
    /* The copy parses, and answers like the request would. */
    char out[512] = {0};
    size_t n = sip_response_basis(cut, sizeof(cut) - 1, 10, out, sizeof(out) - 1);
    assert_int_equal(n, strlen(out));
    parse_req(out);
    assert_int_equal(req.count[SIP_HDR_VIA], 3);
    assert_non_null(sip_msg_header(&req, SIP_HDR_CALL_ID));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_483_with_tag_and_warning),
        cmocka_unit_test(test_top_via_only),
        cmocka_unit_test(test_reason_phrase_and_existing_tag),
        cmocka_unit_test(test_derived_tag_is_stable),
        cmocka_unit_test(test_bounded_by_buffer),
        cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_missing_headers_are_skipped),
        cmocka_unit_test(test_basis_of_a_cut_header_section),
    };
    return cmocka_run_group_tests_name("sip_response", tests, NULL, NULL);
}
