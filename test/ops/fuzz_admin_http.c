/* libFuzzer target: the admin endpoint's request parser on arbitrary bytes.
 * A parsed path must lie inside the input, start with '/', and stop before
 * any query; the parser must never read past |size|. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/admin_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy, so ASan flags any read beyond the bytes given. */
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    struct admin_request req;
    if (admin_parse_request(buf, size, &req) == ADMIN_REQUEST_OK) {
        if (req.path < buf || req.path + req.path_len > buf + size || req.path_len == 0 ||
            req.path[0] != '/' || memchr(req.path, '?', req.path_len))
            abort();
    }
    free(buf);
    return 0;
}
