/* admin_http: request-line parsing and response framing. */
#include "admin/admin_http.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* head_end finds the empty line that ends the head; returns the length of
 * the head up to and including it, or 0. */
static size_t head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static bool is_token_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

enum admin_parse admin_parse_request(const char *buf, size_t len, struct admin_request *req)
{
    size_t head = head_end(buf, len);
    if (!head)
        return len >= ADMIN_REQUEST_MAX ? ADMIN_TOO_LARGE : ADMIN_NEED_MORE;
    if (head > ADMIN_REQUEST_MAX)
        return ADMIN_TOO_LARGE;
    const char *line_end = memchr(buf, '\n', head);
    size_t line_len = (size_t)(line_end - buf);
    if (line_len && buf[line_len - 1] == '\r')
        line_len--;
    /* METHOD SP request-target SP HTTP-version */
    size_t m = 0;
    while (m < line_len && is_token_char(buf[m]))
        m++;
    if (m == 0 || m >= line_len || buf[m] != ' ')
        return ADMIN_BAD_REQUEST;
    const char *target = buf + m + 1;
    const char *sp = memchr(target, ' ', line_len - m - 1);
    if (!sp || sp == target)
        return ADMIN_BAD_REQUEST;
    const char *version = sp + 1;
    size_t version_len = line_len - (size_t)(version - buf);
    if (target[0] != '/' || memchr(target, '\0', (size_t)(sp - target)))
        return ADMIN_BAD_REQUEST;
    if (version_len != 8 || memcmp(version, "HTTP/1.", 7) != 0)
        return version_len >= 5 && memcmp(version, "HTTP/", 5) == 0 ? ADMIN_BAD_VERSION
                                                                    : ADMIN_BAD_REQUEST;
    if (version[7] != '0' && version[7] != '1')
        return ADMIN_BAD_VERSION;
    if (m != 3 || memcmp(buf, "GET", 3) != 0)
        return ADMIN_BAD_METHOD;
    const char *query = memchr(target, '?', (size_t)(sp - target));
    req->path = target;
    req->path_len = (size_t)((query ? query : sp) - target);
    return ADMIN_REQUEST_OK;
}

const char *admin_status_line(unsigned status)
{
    switch (status) {
    case 200:
        return "200 OK";
    case 400:
        return "400 Bad Request";
    case 404:
        return "404 Not Found";
    case 405:
        return "405 Method Not Allowed";
    case 431:
        return "431 Request Header Fields Too Large";
    case 503:
        return "503 Service Unavailable";
    case 505:
        return "505 HTTP Version Not Supported";
    default:
        return "500 Internal Server Error";
    }
}

size_t admin_write_response(char *out, size_t cap, unsigned status, const char *content_type,
                            const char *body, size_t body_len)
{
    int n = snprintf(out, cap,
                     "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
                     "Connection: close\r\n\r\n",
                     admin_status_line(status), content_type, body_len,
                     status == 405 ? "Allow: GET\r\n" : "");
    if (n < 0 || (size_t)n + body_len > cap)
        return 0;
    memcpy(out + n, body, body_len);
    return (size_t)n + body_len;
}
