/* libFuzzer target: editing. For any message that parses with a valid top
 * Via: the client-role rewrite re-parses with the new sent-by and alias,
 * restoring the original via-parm gives back the original bytes, and the
 * other edits (pop Route, prepend, Content-Length) re-parse too. Requests
 * also get a built response, which must parse. */
#include <stdint.h>

#include "fuzz_check.h"

#include <string.h>

#include "sip/edit.h"
#include "sip/response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t flatten(const struct sip_edit *ed, char *out, size_t cap)
{
    struct iovec iov[SIP_EDIT_MAX_IOV];
    size_t n, total, off = 0;
    FUZZ_CHECK(sip_edit_iov(ed, iov, SIP_EDIT_MAX_IOV, &n, &total) == SIP_OK);
    FUZZ_CHECK(total <= cap);
    for (size_t i = 0; i < n; i++) {
        memcpy(out + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    FUZZ_CHECK(off == total);
    return off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char sent_by[] = "gw.example.com:5061";
    static char out1[1 << 17], out2[1 << 17];
    /* Edits may add two headers (Record-Route, Content-Length). */
    struct sip_header hdrs[64], h1[64], h2[66];
    struct sip_msg msg, m1, m2;
    struct sip_via top, top1;
    if (size > 65535 || sip_parse((const char *)data, size, &msg, hdrs, 64) != SIP_OK ||
        sip_via_parse_first(&msg, &top, NULL, 0) != SIP_OK)
        return 0;
    size_t orig_len = msg.header_len + msg.body.len;

    struct sip_edit ed;
    sip_edit_init(&ed, &msg);
    FUZZ_CHECK(sip_edit_via_client(&ed, &top, SIP_STR_LIT(sent_by), true) == SIP_OK);
    size_t n1 = flatten(&ed, out1, sizeof(out1));
    FUZZ_CHECK(sip_parse(out1, n1, &m1, h1, 64) == SIP_OK);
    FUZZ_CHECK(sip_via_parse_first(&m1, &top1, NULL, 0) == SIP_OK);
    FUZZ_CHECK(top1.alias && sip_str_ieq(top1.transport, "tls", 3));
    FUZZ_CHECK(top1.sent_by.len == sizeof(sent_by) - 1 &&
               memcmp(top1.sent_by.p, sent_by, sizeof(sent_by) - 1) == 0);
    FUZZ_CHECK(top1.branch.len == top.branch.len);

    /* Restore: back to the original bytes exactly. */
    sip_edit_init(&ed, &m1);
    FUZZ_CHECK(sip_edit_via_restore(&ed, &top1, top.parm) == SIP_OK);
    size_t n2 = flatten(&ed, out2, sizeof(out2));
    FUZZ_CHECK(n2 == orig_len && memcmp(out2, data, orig_len) == 0);

    /* Other edits together. */
    sip_edit_init(&ed, &msg);
    FUZZ_CHECK(sip_edit_prepend_header(&ed, SIP_STR_LIT("Record-Route: <sip:gw;lr>\r\n")) ==
               SIP_OK);
    FUZZ_CHECK(sip_edit_content_length(&ed, msg.body.len) == SIP_OK);
    enum sip_err err = sip_edit_pop_route(&ed);
    FUZZ_CHECK(err == SIP_OK || err == SIP_ERR_NOT_FOUND);
    n2 = flatten(&ed, out2, sizeof(out2));
    FUZZ_CHECK(sip_parse(out2, n2, &m2, h2, 66) == SIP_OK);

    if (msg.is_request) {
        struct sip_response_spec spec = {.status = 400, .reason = "Bad Request"};
        size_t len;
        FUZZ_CHECK(sip_build_response(&msg, &spec, out2, sizeof(out2), &len) == SIP_OK);
        FUZZ_CHECK(sip_parse(out2, len, &m2, h2, 66) == SIP_OK);
    }
    return 0;
}
