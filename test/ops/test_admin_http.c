/* The admin endpoint's HTTP parsing: every prefix of a request waits for
 * more, the head is bounded, and each malformed or unsupported request gets
 * its own status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "admin/admin_http.h"

static enum admin_parse parse(const char *text, struct admin_request *req)
{
    return admin_parse_request(text, strlen(text), req);
}

static void every_prefix_needs_more(void **state)
{
    static const char full[] = "GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9091\r\n"
                               "User-Agent: Prometheus/2.42\r\nAccept: */*\r\n\r\n";
    struct admin_request req;
    for (size_t len = 0; len < sizeof(full) - 1; len++)
        assert_int_equal(admin_parse_request(full, len, &req), ADMIN_NEED_MORE);
    assert_int_equal(admin_parse_request(full, sizeof(full) - 1, &req), ADMIN_REQUEST_OK);
    assert_int_equal(req.path_len, strlen("/metrics"));
    assert_memory_equal(req.path, "/metrics", req.path_len);
}

static void bare_lf_and_http10(void **state)
{
    struct admin_request req;
    assert_int_equal(parse("GET /healthz HTTP/1.0\n\n", &req), ADMIN_REQUEST_OK);
    assert_int_equal(req.path_len, strlen("/healthz"));
    assert_int_equal(parse("GET / HTTP/1.1\r\n\r\n", &req), ADMIN_REQUEST_OK);
    assert_int_equal(req.path_len, 1);
}

static void oversize_head(void **state)
{
    static char big[ADMIN_REQUEST_MAX + 64];
    struct admin_request req;
    memset(big, 'a', sizeof(big));
    memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
    assert_int_equal(admin_parse_request(big, ADMIN_REQUEST_MAX - 1, &req), ADMIN_NEED_MORE);
    assert_int_equal(admin_parse_request(big, ADMIN_REQUEST_MAX, &req), ADMIN_TOO_LARGE);
    /* A head that does end, but past the bound, is refused too. */
    memcpy(big + ADMIN_REQUEST_MAX + 10, "\r\n\r\n", 4);
    assert_int_equal(admin_parse_request(big, ADMIN_REQUEST_MAX + 14, &req), ADMIN_TOO_LARGE);
}

static void methods_other_than_get(void **state)
{
    struct admin_request req;
    assert_int_equal(parse("POST /metrics HTTP/1.1\r\n\r\n", &req), ADMIN_BAD_METHOD);
    assert_int_equal(parse("HEAD /metrics HTTP/1.1\r\n\r\n", &req), ADMIN_BAD_METHOD);
    assert_int_equal(parse("get /metrics HTTP/1.1\r\n\r\n", &req), ADMIN_BAD_METHOD);
    assert_int_equal(parse("DELETE / HTTP/1.1\r\n\r\n", &req), ADMIN_BAD_METHOD);
}

static void malformed_request_lines(void **state)
{
    struct admin_request req;
    assert_int_equal(parse("GET\r\n\r\n", &req), ADMIN_BAD_REQUEST);
    assert_int_equal(parse("GET /\r\n\r\n", &req), ADMIN_BAD_REQUEST);
    assert_int_equal(parse("GET  / HTTP/1.1\r\n\r\n", &req), ADMIN_BAD_REQUEST);
    assert_int_equal(parse("GET metrics HTTP/1.1\r\n\r\n", &req), ADMIN_BAD_REQUEST);
    assert_int_equal(parse(" GET / HTTP/1.1\r\n\r\n", &req), ADMIN_BAD_REQUEST);
    assert_int_equal(parse("GET / FOO/1.1\r\n\r\n", &req), ADMIN_BAD_REQUEST);
    assert_int_equal(parse("G(T / HTTP/1.1\r\n\r\n", &req), ADMIN_BAD_REQUEST);
    assert_int_equal(parse("\r\n\r\n", &req), ADMIN_BAD_REQUEST);
    assert_int_equal(parse("GET / HTTP/2.0\r\n\r\n", &req), ADMIN_BAD_VERSION);
    assert_int_equal(parse("GET / HTTP/1.2\r\n\r\n", &req), ADMIN_BAD_VERSION);
    assert_int_equal(parse("GET / HTTP/1.10\r\n\r\n", &req), ADMIN_BAD_VERSION);
    /* A NUL inside the target is not a path. */
    static const char nul[] = "GET /me\0trics HTTP/1.1\r\n\r\n";
    assert_int_equal(admin_parse_request(nul, sizeof(nul) - 1, &req), ADMIN_BAD_REQUEST);
}

static void response_framing(void **state)
{
    char out[256];
    size_t n = admin_write_response(out, sizeof(out), 200, "text/plain", "ok\n", 3);
    assert_true(n > 0);
    out[n] = '\0';
    assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(out, "Content-Length: 3\r\n"));
    assert_non_null(strstr(out, "Connection: close\r\n\r\nok\n"));
    assert_null(strstr(out, "Allow:"));
    n = admin_write_response(out, sizeof(out), 405, "text/plain", "", 0);
    out[n] = '\0';
    assert_non_null(strstr(out, "HTTP/1.1 405 Method Not Allowed\r\n"));
    assert_non_null(strstr(out, "Allow: GET\r\n"));
    assert_int_equal(admin_write_response(out, 40, 200, "text/plain", "ok\n", 3), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_prefix_needs_more), cmocka_unit_test(bare_lf_and_http10),
        cmocka_unit_test(oversize_head),           cmocka_unit_test(methods_other_than_get),
        cmocka_unit_test(malformed_request_lines), cmocka_unit_test(response_framing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
