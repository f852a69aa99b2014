/* test/sip/peek_agree.h: the one property sip_peek promises, shared by its
 * unit test and its fuzz target: whatever the full path accepts (sip_parse,
 * SIP/2.0, required and single-valued headers, CSeq, first Via), sip_peek
 * accepts with the same start line, Via and CSeq, and the framer's address
 * line is the first Contact or Record-Route header it found. Header-only: the fuzz
 * target links no test library. */
#ifndef REUSEGW_TEST_SIP_PEEK_AGREE_H
#define REUSEGW_TEST_SIP_PEEK_AGREE_H

#include <string.h>

#include "sip/check.h"
#include "sip/message.h"
#include "sip/peek.h"

/* Slices equal when both are absent or both hold the same bytes at the
 * same place (both index the same buffer). */
static inline bool peek_same_str(struct sip_str a, struct sip_str b)
{
    return a.p == b.p && a.len == b.len;
}

/* For the framed message buf[0..fr->len): sets *full_ok to whether the full
 * path accepts it and returns false only when it does but sip_peek
 * disagrees. */
static inline bool peek_agrees(const char *buf, const struct sip_frame *fr, bool *full_ok)
{
    struct sip_header hdrs[64];
    struct sip_msg msg;
    struct sip_cseq cseq;
    struct sip_via via;
    *full_ok = sip_parse(buf, fr->len, &msg, hdrs, 64) == SIP_OK &&
               sip_check_version(&msg) == SIP_OK && sip_check_required(&msg, false) == SIP_OK &&
               sip_check_single(&msg) == SIP_OK && sip_check_cseq(&msg, &cseq) == SIP_OK &&
               sip_via_parse_first(&msg, &via, NULL, 0) == SIP_OK;
    struct sip_peek pk;
    enum sip_err err = sip_peek(buf, fr, &pk);
    if (!*full_ok)
        return true;
    const struct sip_header *vh = sip_msg_header(&msg, SIP_HDR_VIA);
    size_t addr = 0;
    static const enum sip_hdr kinds[] = {SIP_HDR_CONTACT, SIP_HDR_RECORD_ROUTE};
    for (size_t k = 0; k < 2; k++) {
        const struct sip_header *h = sip_msg_header(&msg, kinds[k]);
        size_t at = h ? (size_t)(h->line.p - buf) : 0;
        if (h && (addr == 0 || at < addr))
            addr = at;
    }
    return err == SIP_OK && fr->addr_line == addr && pk.is_request == msg.is_request &&
           peek_same_str(pk.method, msg.method) && peek_same_str(pk.uri, msg.uri) &&
           pk.status == msg.status && peek_same_str(pk.via_header, vh->line) &&
           peek_same_str(pk.via.parm, via.parm) && peek_same_str(pk.via.branch, via.branch) &&
           peek_same_str(pk.via.sent_by, via.sent_by) && pk.via.alias == via.alias &&
           pk.cseq.number == cseq.number && peek_same_str(pk.cseq.method, cseq.method);
}

#endif
