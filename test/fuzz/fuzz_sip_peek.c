/* libFuzzer target: the framer's Via/CSeq/address line offsets and
 * sip_peek. Invariants: the offsets lie inside the header section and are
 * the same whether the stream arrived in one piece or in two, the address
 * line is the full parse's first Contact or Record-Route; sip_peek never reads
 * outside the framed message, its slices lie inside it, and whatever the
 * full parse accepts it accepts with the same values (peek_agree.h). */
#include <stdint.h>

#include "../sip/peek_agree.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(struct sip_str s, const char *buf, size_t len)
{
    return s.p == NULL || (s.p >= buf && s.len <= len && s.p + s.len <= buf + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    const size_t max = 4096;
    struct sip_framer f;
    struct sip_frame once, split;
    sip_framer_init(&f);
    if (sip_framer_feed(&f, buf, size, max, &once) == SIP_FRAME_MESSAGE && size > 1) {
        size_t k = 1 + (size_t)data[0] * 7919 % (size - 1);
        sip_framer_init(&f);
        if (sip_framer_feed(&f, buf, k, max, &split) == SIP_FRAME_NEED_MORE)
            sip_framer_feed(&f, buf, size, max, &split);
        FUZZ_CHECK(split.via_line == once.via_line && split.cseq_line == once.cseq_line &&
                   split.addr_line == once.addr_line);
    }

    size_t off = 0;
    sip_framer_init(&f);
    for (int n = 0; n < 64 && off < size; n++) {
        struct sip_frame fr;
        if (sip_framer_feed(&f, buf + off, size - off, max, &fr) == SIP_FRAME_NEED_MORE ||
            fr.event == SIP_FRAME_ERROR)
            break;
        if (fr.event == SIP_FRAME_MESSAGE) {
            const char *msg = buf + off;
            FUZZ_CHECK(fr.via_line < fr.header_len && fr.cseq_line < fr.header_len &&
                       fr.addr_line < fr.header_len);
            struct sip_peek pk;
            if (sip_peek(msg, &fr, &pk) == SIP_OK)
                FUZZ_CHECK(inside(pk.via_header, msg, fr.header_len) &&
                           inside(pk.via.parm, msg, fr.header_len) &&
                           inside(pk.cseq.method, msg, fr.header_len) &&
                           inside(pk.method, msg, fr.header_len));
            bool full_ok;
            FUZZ_CHECK(peek_agrees(msg, &fr, &full_ok));
        }
        off += fr.len;
    }
    return 0;
}
