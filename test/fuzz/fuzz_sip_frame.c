/* libFuzzer target: stream framing. Invariants: framing at any split point
 * gives the one-shot answer; the control-octet check (sip_check_chars_in,
 * block by block) judges the input and every framed header section as its
 * octet-wise definition (test/sip/check_ref.h) does; a framed message lies inside the input and
 * parsing it never reads outside it; the answer basis of an unframeable
 * prefix (sip_response_basis) fits its buffer, ends in an empty line and
 * indexes at most its Via bound plus four headers. */
#include <stdint.h>

#include "../sip/check_ref.h"
#include "fuzz_check.h"
#include <stdlib.h>
#include <string.h>

#include "sip/check.h"
#include "sip/framing.h"
#include "sip/message.h"
#include "sip/response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct sip_frame *a, const struct sip_frame *b)
{
    FUZZ_CHECK(a->event == b->event && a->len == b->len && a->err == b->err &&
               a->header_len == b->header_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    const size_t max = 2048;
    struct sip_framer f;
    struct sip_frame once, split;
    sip_framer_init(&f);
    sip_framer_feed(&f, buf, size, max, &once);
    FUZZ_CHECK(sip_check_chars_in(buf, size) == check_chars_ref(buf, size));

    /* Resume from a split point chosen by the input itself. */
    if (size > 1) {
        size_t k = 1 + (size_t)data[0] * 7919 % (size - 1);
        sip_framer_init(&f);
        if (sip_framer_feed(&f, buf, k, max, &split) == SIP_FRAME_NEED_MORE)
            sip_framer_feed(&f, buf, size, max, &split);
        same(&once, &split);
    }

    /* What an answer to a cut-off header section copies. */
    char basis[1024];
    size_t blen = sip_response_basis(buf, size, 8, basis, sizeof(basis));
    FUZZ_CHECK(blen <= sizeof(basis));
    if (blen > 0) {
        FUZZ_CHECK(blen >= 3 && basis[blen - 2] == '\r' && basis[blen - 1] == '\n');
        struct sip_header bh[16];
        struct sip_msg bm;
        if (sip_parse(basis, blen, &bm, bh, 16) == SIP_OK)
            FUZZ_CHECK(bm.count[SIP_HDR_VIA] <= 8 && bm.nheaders <= 12);
    }

    /* Walk the stream message by message, parsing each framed message. */
    size_t off = 0;
    sip_framer_init(&f);
    for (int n = 0; n < 64 && off < size; n++) {
        struct sip_frame fr;
        if (sip_framer_feed(&f, buf + off, size - off, max, &fr) == SIP_FRAME_NEED_MORE ||
            fr.event == SIP_FRAME_ERROR)
            break;
        FUZZ_CHECK(fr.len > 0 && fr.len <= size - off && fr.len <= max);
        if (fr.event == SIP_FRAME_MESSAGE) {
            struct sip_header hdrs[32];
            struct sip_msg msg;
            FUZZ_CHECK(fr.header_len > 0 && fr.header_len <= fr.len);
            FUZZ_CHECK(sip_check_chars_in(buf + off, fr.header_len) ==
                       check_chars_ref(buf + off, fr.header_len));
            enum sip_err err = sip_parse(buf + off, fr.len, &msg, hdrs, 32);
            FUZZ_CHECK(err != SIP_OK ||
                       (msg.body.len == fr.len - fr.header_len && msg.header_len == fr.header_len));
        }
        off += fr.len;
    }
    return 0;
}
