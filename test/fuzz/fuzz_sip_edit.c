/* libFuzzer target: editing. For any message that parses with a valid top
 * Via: the client-role rewrite re-parses with the new sent-by and alias,
 * restoring the original via-parm (sip_via_splice, against the edit
 * session's replace of the same span) gives back the original bytes, and the
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

    /* Restore: back to the original bytes exactly, spliced the same as the
     * edit session replacing the span (the definition it stands in for);
     * one byte short of room, nothing. */
    static char spliced[1 << 17];
    size_t ns = sip_via_splice(out1, n1, top1.parm, top.parm, spliced, sizeof(spliced));
    FUZZ_CHECK(ns == orig_len && memcmp(spliced, data, orig_len) == 0);
    FUZZ_CHECK(sip_via_splice(out1, n1, top1.parm, top.parm, spliced, ns - 1) == 0);
    sip_edit_init(&ed, &m1);
    FUZZ_CHECK(sip_edit_replace(&ed, top1.parm.p, top1.parm.len, top.parm) == SIP_OK);
    size_t n2 = flatten(&ed, out2, sizeof(out2));
    FUZZ_CHECK(n2 == ns && memcmp(out2, spliced, ns) == 0);
    /* A span outside the message is refused. */
    FUZZ_CHECK(sip_via_splice(out1, top1.parm.len > 0 ? (size_t)(top1.parm.p - out1) : 0,
                              top1.parm.len > 0 ? top1.parm : (struct sip_str){out1 + 1, 0},
                              top.parm, spliced, sizeof(spliced)) == 0);

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
