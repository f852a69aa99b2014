/* The PROXY protocol parser on any bytes: a header it reads is one it
 * reads again from exactly its own bytes, with the same result, and every
 * shorter prefix is a prefix; it asks for more only below PP_MAX_HEADER
 * (what a caller keeps); an error is one of the enum. */
#include <stdint.h>
#include <string.h>

#include "core/proxy_proto.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pp_header h;
    enum pp_error err = PP_ERRORS;
    enum pp_status st = pp_parse(data, size, &h, &err);
    (void)pp_looks_like_header(data, size ? size : 1);
    switch (st) {
    case PP_NEED_MORE:
        FUZZ_CHECK(size < PP_MAX_HEADER);
        FUZZ_CHECK(size == 0 || pp_looks_like_header(data, size));
        break;
    case PP_ERROR:
        FUZZ_CHECK(err < PP_ERRORS);
        break;
    case PP_DONE: {
        FUZZ_CHECK(h.len > 0 && h.len <= size && h.len <= PP_MAX_HEADER);
        FUZZ_CHECK(h.version == 1 || h.version == 2);
        FUZZ_CHECK(h.version != 1 || h.len <= PP_V1_MAX);
        FUZZ_CHECK(h.local || h.src.ss_family == AF_INET || h.src.ss_family == AF_INET6);
        struct pp_header again;
        FUZZ_CHECK(pp_parse(data, h.len, &again, &err) == PP_DONE);
        FUZZ_CHECK(again.len == h.len && again.local == h.local && again.src_len == h.src_len);
        FUZZ_CHECK(memcmp(&again.src, &h.src, sizeof h.src) == 0);
        struct pp_header shorter;
        FUZZ_CHECK(pp_parse(data, h.len - 1, &shorter, &err) == PP_NEED_MORE);
        break;
    }
    }
    return 0;
}
