/* libFuzzer target: the admin endpoint's request parser on arbitrary bytes.
 * A parsed path must lie inside the input, start with '/', and stop before
 * any query; the query must lie inside the input too, and the page parser
 * run on it must either fill a page within its ranges or name a parameter
 * inside the query. The JSON escaper, on the same bytes, must write one
 * valid JSON string. No parser may read past |size|. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_http.h"
#include "core/strbuf.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(const char *p, size_t n, const char *buf, size_t size)
{
    return p >= buf && p + n <= buf + size;
}

/* check_json_string aborts unless |s| (|n| bytes) is exactly one JSON
 * string (RFC 8259) in UTF-8 with no raw control byte. */
static void check_json_string(const unsigned char *s, size_t n)
{
    if (n < 2 || s[0] != '"' || s[n - 1] != '"')
        abort();
    for (size_t i = 1; i < n - 1; i++) {
        unsigned char c = s[i];
        if (c < 0x20 || c == '"')
            abort();
        if (c == '\\') {
            if (i + 1 >= n - 1)
                abort();
            c = s[++i];
            if (c == 'u') {
                for (size_t k = 1; k <= 4; k++)
                    if (i + k >= n - 1 || !strchr("0123456789abcdef", s[i + k]))
                        abort();
                i += 4;
            } else if (!strchr("\"\\nrt", c) || c == '\0') {
                abort();
            }
        } else if (c >= 0x80) { /* one whole, well-formed sequence */
            size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
            if (c < 0xc2 || c > 0xf4 || i + len > n - 1)
                abort();
            for (size_t k = 1; k < len; k++)
                if ((s[i + k] & 0xc0) != 0x80)
                    abort();
            i += len - 1;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_copy(data, size);
    if (!buf)
        return 0;
    struct admin_request req;
    if (admin_parse_request(buf, size, &req) == ADMIN_REQUEST_OK) {
        if (!inside(req.path, req.path_len, buf, size) || req.path_len == 0 || req.path[0] != '/' ||
            memchr(req.path, '?', req.path_len) || !inside(req.query, req.query_len, buf, size) ||
            memchr(req.query, ' ', req.query_len))
            abort();
        struct admin_page page;
        struct admin_query_error err;
        if (admin_parse_page(req.query, req.query_len, &page, &err)) {
            if (page.limit > ADMIN_PAGE_MAX_LIMIT)
                abort();
        } else if (!err.why || !inside(err.param, err.param_len, req.query, req.query_len)) {
            abort();
        }
    }
    size_t cap = size * 6 + 3;
    char *out = malloc(cap);
    if (out) {
        struct strbuf j = {.buf = out, .cap = cap};
        strbuf_json_string(&j, buf, size);
        if (j.len >= cap)
            abort(); /* six bytes per input byte is the most it needs */
        check_json_string((const unsigned char *)out, j.len);
        free(out);
    }
    free(buf);
    return 0;
}
