/* libFuzzer target: the admin endpoint's request parser on arbitrary bytes.
 * A parsed path must lie inside the input, start with '/', and stop before
 * any query; the parser must never read past |size|. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_http.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_copy(data, size);
    if (!buf)
        return 0;
    struct admin_request req;
    if (admin_parse_request(buf, size, &req) == ADMIN_REQUEST_OK)
        FUZZ_CHECK(req.path >= buf && req.path + req.path_len <= buf + size && req.path_len > 0 &&
                   req.path[0] == '/' && !memchr(req.path, '?', req.path_len));
    free(buf);
    return 0;
}
