/* admin_http: request-line parsing and response framing. */
#include "admin/admin_http.h"

#include <stdint.h>
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
    req->query = query ? query + 1 : sp;
    req->query_len = query ? (size_t)(sp - query - 1) : 0;
    return ADMIN_REQUEST_OK;
}

/* page_value reads the decimal integer |v| (|n| bytes) of at most |max|. */
static bool page_value(const char *v, size_t n, uint64_t max, uint32_t *out)
{
    uint64_t x = 0;
    if (n == 0 || n > 10)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (x > max)
        return false;
    *out = (uint32_t)x;
    return true;
}

bool admin_parse_page(const char *query, size_t len, struct admin_page *page,
                      struct admin_query_error *err)
{
    static const struct {
        const char *name;
        uint64_t max;
        const char *why;
    } known[] = {
        {"limit", ADMIN_PAGE_MAX_LIMIT, "must be a decimal integer from 0 to 1000"},
        {"offset", UINT32_MAX, "must be a decimal integer from 0 to 4294967295"},
    };
    uint32_t *field[] = {&page->limit, &page->offset};
    enum { KNOWN = sizeof(known) / sizeof(known[0]) };
    bool seen[KNOWN] = {false};
    *page = (struct admin_page){.limit = ADMIN_PAGE_LIMIT, .offset = 0};
    const char *end = query + len;
    for (const char *p = query; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pair_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pair_end - p));
        const char *name_end = eq ? eq : pair_end;
        size_t name_len = (size_t)(name_end - p);
        *err = (struct admin_query_error){.param = p, .param_len = name_len};
        if (pair_end > p) {
            size_t k = 0;
            while (k < KNOWN &&
                   !(strlen(known[k].name) == name_len && memcmp(known[k].name, p, name_len) == 0))
                k++;
            if (k == KNOWN) {
                err->why = "unknown parameter";
                return false;
            }
            if (seen[k]) {
                err->why = "given more than once";
                return false;
            }
            seen[k] = true;
            if (!eq || !page_value(eq + 1, (size_t)(pair_end - eq - 1), known[k].max, field[k])) {
                err->why = known[k].why;
                return false;
            }
        }
        p = amp ? amp + 1 : end;
    }
    return true;
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
