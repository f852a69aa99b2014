/* admin_http: the HTTP/1.1 request parser and response writer of the admin
 * endpoint — just enough HTTP for GET, bounded, with a clear status for
 * everything else.
 *
 * Owns nothing; borrows the request bytes (results point into them). Never
 * does I/O and never reads a body: the server closes after each response. */
#ifndef REUSEGW_ADMIN_HTTP_H
#define REUSEGW_ADMIN_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ADMIN_REQUEST_MAX bounds a request's head (request line and headers). */
#define ADMIN_REQUEST_MAX 4096

/* admin_parse is how far the parser got. */
enum admin_parse {
    ADMIN_NEED_MORE,   /* no complete head yet */
    ADMIN_REQUEST_OK,  /* a GET with a path */
    ADMIN_BAD_REQUEST, /* 400: malformed request line */
    ADMIN_BAD_METHOD,  /* 405: well-formed, not GET */
    ADMIN_BAD_VERSION, /* 505: not HTTP/1.0 or HTTP/1.1 */
    ADMIN_TOO_LARGE,   /* 431: no end of head within ADMIN_REQUEST_MAX */
};

/* admin_request is a parsed request: |path| without query string, and the
 * query after the '?' (|query_len| 0 without one), both borrowed from the
 * bytes given to admin_parse_request. */
struct admin_request {
    const char *path;
    size_t path_len;
    const char *query;
    size_t query_len;
};

/* admin_parse_request examines the |len| bytes received so far. The head
 * ends at the first empty line (CRLF CRLF, or LF LF from lax clients). */
enum admin_parse admin_parse_request(const char *buf, size_t len, struct admin_request *req);

/* A listing's page: ?limit=N&offset=M, N of 0..ADMIN_PAGE_MAX_LIMIT
 * (ADMIN_PAGE_LIMIT when absent), M of 0..UINT32_MAX (0 when absent). */
enum { ADMIN_PAGE_LIMIT = 100, ADMIN_PAGE_MAX_LIMIT = 1000 };

struct admin_page {
    uint32_t limit;
    uint32_t offset;
};

/* admin_query_error names the parameter a query got wrong (borrowed from
 * the query: any bytes but space and NUL, so escape it) and why (static). */
struct admin_query_error {
    const char *param;
    size_t param_len;
    const char *why;
};

/* admin_parse_page reads |query| (|len| bytes: name=value pairs joined by
 * '&', no percent-decoding; empty pairs are skipped) into |page|. Only limit
 * and offset are known, each at most once, each a decimal integer in its
 * range. False, with |err| filled, for anything else. */
bool admin_parse_page(const char *query, size_t len, struct admin_page *page,
                      struct admin_query_error *err);

/* admin_status_line is "200 OK" etc. for the statuses the endpoint uses. */
const char *admin_status_line(unsigned status);

/* admin_write_response writes a complete HTTP/1.1 response with
 * Content-Length and Connection: close into |out| (|cap| bytes). |body| is
 * borrowed. Returns the length, or 0 when |cap| is too small. */
size_t admin_write_response(char *out, size_t cap, unsigned status, const char *content_type,
                            const char *body, size_t body_len);

#endif
