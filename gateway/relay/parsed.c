/* parsed: the one place a message's parsed view is built. */
#include <string.h>

#include "conn/conn.h"
#include "core/log.h"
#include "relay/answer.h"
#include "relay/forward.h"
#include "relay/relay_internal.h"
#include "sip/check.h"
#include "sip/peek.h"
#include "sip/response.h"

enum sip_err parsed_view(struct parsed *p, const char *buf, size_t len)
{
    p->buf = buf;
    p->len = len;
    enum sip_err err = sip_parse(buf, len, &p->msg, p->headers, RELAY_MAX_HEADERS);
    return err ? err : sip_via_parse_first(&p->msg, &p->via, NULL, 0);
}

bool parsed_peeked(const char *msg, const struct sip_frame *fr, struct sip_peek *pk)
{
    return fr->header_len > 4 && memcmp(msg, "SIP/", 4) == 0 &&
           sip_check_chars_in(msg, fr->header_len) == SIP_OK && sip_peek(msg, fr, pk) == SIP_OK &&
           !pk->is_request;
}

bool parsed_response_peeked(const struct relay_layer *rl, const char *msg,
                            const struct sip_frame *fr, struct sip_peek *pk)
{
    return parsed_peeked(msg, fr, pk) &&
           (fr->addr_line == 0 ||
            !forward_names_legacy(
                rl, (struct sip_str){msg + fr->addr_line, fr->header_len - fr->addr_line}));
}

bool parsed_peek_of(const struct parsed *p, struct sip_peek *pk)
{
    memset(pk, 0, sizeof(*pk));
    pk->status = p->msg.status;
    pk->via = p->via;
    return sip_check_cseq(&p->msg, &pk->cseq) == SIP_OK;
}

/* index_behind_stand_in indexes the header lines of request |p|, whose
 * start line failed to parse (so none were indexed), behind a stand-in start
 * line in the scratch buffer: the 400 must copy Via, From, To, Call-ID and
 * CSeq (RFC 3261 §8.2.6.2) or its sender cannot match it. */
static void index_behind_stand_in(struct relay_layer *rl, struct parsed *p)
{
    static const char stand_in[] = "OPTIONS sip:invalid SIP/2.0\r\n";
    const char *eol = memmem(p->buf, p->len, "\r\n", 2);
    if (!eol)
        return;
    size_t rest = p->len - (size_t)(eol + 2 - p->buf);
    size_t n = sizeof(stand_in) - 1;
    if (n + rest > rl->conn->scratch_size)
        return;
    memcpy(rl->conn->scratch, stand_in, n);
    memcpy(rl->conn->scratch + n, eol + 2, rest);
    sip_parse(rl->conn->scratch, n + rest, &p->msg, p->headers, RELAY_MAX_HEADERS);
}

void parsed_basis(struct relay_layer *rl, struct parsed *p, const char *buf, size_t len)
{
    /* What a truncated answer keeps, and why: From, To, Call-ID and CSeq
     * (RFC 3261 §8.2.6.2: the sender matches its transaction by the top Via
     * branch and the CSeq method, §17.1.3, and its dialog by the tags), and
     * the Via lines in their order, as many as fit: each proxy on the path
     * pops its own and forwards the answer to the next (§16.7 step 3), and
     * the hop at the cut takes it as its own, which ends its client
     * transaction too. A header that is not among the bytes reusegw holds
     * (past the limit) is not copied: the answer says what it could. */
    size_t n = sip_response_basis(buf, len, RELAY_MAX_HEADERS - 4, rl->basis, sizeof(rl->basis));
    if (n == 0) {
        p->msg.nheaders = 0;
        p->msg.is_request = false; /* nothing to answer from */
        return;
    }
    parsed_view(p, rl->basis, n);
}

bool parsed_reroutable(const char *buf, size_t len)
{
    struct parsed p;
    return parsed_view(&p, buf, len) == SIP_OK;
}

bool parsed_answerable(struct relay_layer *rl, struct parsed *p, const char *buf, size_t len)
{
    enum sip_err err = parsed_view(p, buf, len);
    if (err == SIP_ERR_TOO_MANY_HEADERS)
        parsed_basis(rl, p, buf, len);
    else if (err != SIP_OK)
        return false;
    return p->msg.is_request && !relay_is_method(&p->msg, "ACK");
}

bool parsed_checked(struct relay_layer *rl, struct conn *c, const char *msg, size_t len,
                    struct parsed *p)
{
    p->buf = msg;
    p->len = len;
    struct sip_cseq cseq;
    enum sip_err err = sip_parse(msg, len, &p->msg, p->headers, RELAY_MAX_HEADERS);
    if (!err)
        err = sip_check_chars(&p->msg);
    if (!err)
        err = sip_check_version(&p->msg);
    if (!err)
        err = sip_check_required(&p->msg, false);
    if (!err)
        err = sip_check_single(&p->msg);
    if (!err)
        err = sip_check_cseq(&p->msg, &cseq);
    if (!err)
        err = sip_via_parse_first(&p->msg, &p->via, NULL, 0);
    if (!err)
        return true;
    /* Warn, rate-limited: a peer or the legacy proxy sending broken SIP is
     * an interop or abuse problem an operator must hear of. */
    LOG_RATELIMITED(LOG_WARN, "malformed SIP message", LF_STR("conn", conn_kind_name(c)),
                    LF_STR("reason", sip_err_text(err)));
    metrics_inc(rl->metrics, metrics_parse_error_id(err));
    if (p->msg.is_request && !relay_is_method(&p->msg, "ACK")) {
        if (err == SIP_ERR_TOO_MANY_HEADERS)
            parsed_basis(rl, p, msg, len);
        else if (p->msg.nheaders == 0)
            index_behind_stand_in(rl, p);
        answer_error(rl, c, p, err);
    } else {
        relay_drop(rl, M_DROP_MALFORMED, c, sip_err_text(err));
    }
    return false;
}
