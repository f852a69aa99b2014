/* libFuzzer target: datagram framing (RFC 3261 §18.3, legacy.transport
 * udp). Invariants: a framed message lies inside the datagram, ends at
 * its Content-Length or at the datagram's end, and parsing it never reads
 * outside it; leading line ends are skipped in bounded steps; the stream
 * framer agrees wherever the datagram carries a Content-Length that fits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "sip/framing.h"
#include "sip/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_copy(data, size);
    if (!buf)
        return 0;
    const size_t max = 2048;
    size_t off = 0;
    struct sip_frame fr;
    while (sip_frame_datagram(buf + off, size - off, max, &fr) == SIP_FRAME_PONG) {
        FUZZ_CHECK(fr.len > 0 && fr.len <= size - off);
        off += fr.len;
    }
    FUZZ_CHECK(fr.event == SIP_FRAME_MESSAGE || fr.event == SIP_FRAME_ERROR);
    if (fr.event == SIP_FRAME_MESSAGE) {
        FUZZ_CHECK(fr.len > 0 && fr.len <= size - off && fr.len <= max);
        FUZZ_CHECK(fr.header_len > 0 && fr.header_len <= fr.len);
        struct sip_header hdrs[32];
        struct sip_msg msg;
        enum sip_err err = sip_parse(buf + off, fr.len, &msg, hdrs, 32);
        FUZZ_CHECK(err != SIP_OK || msg.body.len == fr.len - fr.header_len);
        struct sip_framer f;
        struct sip_frame st;
        sip_framer_init(&f);
        if (sip_framer_feed(&f, buf + off, size - off, max, &st) == SIP_FRAME_MESSAGE)
            FUZZ_CHECK(st.len == fr.len && st.header_len == fr.header_len);
    }
    free(buf);
    return 0;
}
