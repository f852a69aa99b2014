#include "sip/peek.h"

#include <string.h>

#include "sip/header.h"
#include "sip/scan.h"

/* The header whose line starts at off: its LWS-trimmed value, running over
 * continuation lines (leading WSP) up to the header section's end, and the
 * whole header with its last line end. As sip_parse slices them. */
static enum sip_err header_at(const char *msg, size_t header_len, size_t off, struct sip_str *value,
                              struct sip_str *whole)
{
    const char *p = msg + off, *stop = msg + header_len;
    const char *colon = sip_find(p, stop, ':');
    const char *lf = sip_find(p, stop, '\n');
    if (colon == NULL || lf == NULL || colon > lf)
        return SIP_ERR_HEADER_SYNTAX;
    while (lf + 1 < stop && sip_is_wsp(lf[1]))
        if ((lf = sip_find(lf + 1, stop, '\n')) == NULL)
            return SIP_ERR_HEADER_SYNTAX; /* not a framed header section */
    const char *v = colon + 1, *ve = lf;
    while (v < ve && sip_is_lws(*v))
        v++;
    while (ve > v && sip_is_lws(ve[-1]))
        ve--;
    *value = (struct sip_str){v, (size_t)(ve - v)};
    *whole = (struct sip_str){p, (size_t)(lf + 1 - p)};
    return SIP_OK;
}

enum sip_err sip_peek(const char *msg, const struct sip_frame *frame, struct sip_peek *out)
{
    memset(out, 0, sizeof(*out));
    /* The start line ends inside the header section: the framer saw its LF. */
    struct sip_msg start;
    const char *nl = sip_find(msg, msg + frame->header_len, '\n');
    if (nl == NULL)
        return SIP_ERR_START_LINE;
    enum sip_err err = sip_parse_start_line(msg, nl, &start);
    out->is_request = start.is_request;
    out->method = start.method;
    out->uri = start.uri;
    out->status = start.status;
    if (err)
        return err;
    if (!sip_str_ieq(start.version, "sip/2.0", 7))
        return SIP_ERR_VERSION;

    struct sip_str value, rest, item, whole;
    if (frame->via_line == 0)
        return SIP_ERR_MISSING_VIA;
    err = header_at(msg, frame->header_len, frame->via_line, &value, &out->via_header);
    if (err)
        return err;
    rest = value;
    if (!sip_list_next(&rest, &item))
        return SIP_ERR_VIA;
    err = sip_via_parse(item, &out->via, NULL, 0);
    if (err)
        return err;

    if (frame->cseq_line == 0)
        return SIP_ERR_MISSING_CSEQ;
    err = header_at(msg, frame->header_len, frame->cseq_line, &value, &whole);
    if (!err)
        err = sip_cseq_parse(value, &out->cseq);
    if (err)
        return err;
    if (out->is_request && (out->cseq.method.len != out->method.len ||
                            memcmp(out->cseq.method.p, out->method.p, out->method.len) != 0))
        return SIP_ERR_CSEQ_METHOD;
    return SIP_OK;
}
