#include "sip/framing.h"

#include <stdint.h>
#include <string.h>

#include "sip/scan.h"
#include "sip/str.h"

void sip_framer_init(struct sip_framer *f)
{
    memset(f, 0, sizeof(*f));
}

/* The byte after the colon when only WSP comes before it from q on. */
static const char *colon_after(const char *q, const char *end)
{
    while (q < end && sip_is_wsp(*q))
        q++;
    return q < end && *q == ':' ? q + 1 : NULL;
}

/* If the line [p, end) names header `name` (lower case, any case in the
 * line) or its compact form `compact` (0: none), with optional WSP before
 * the colon, returns the byte after the colon; else NULL. */
static const char *named_value(const char *p, const char *end, const char *name, size_t len,
                               char compact)
{
    unsigned char c = sip_lower((unsigned char)*p);
    const char *q = NULL;
    /* "v" and "Via" share their first byte: the compact form is only the
     * one whose next non-WSP byte is the colon. */
    if (compact && c == (unsigned char)compact) {
        q = colon_after(p + 1, end);
        if (q != NULL || c != (unsigned char)name[0])
            return q;
    }
    if (c != (unsigned char)name[0] || end - p <= (ptrdiff_t)len)
        return NULL;
    for (size_t i = 1; i < len; i++)
        if (sip_lower((unsigned char)p[i]) != (unsigned char)name[i])
            return NULL;
    return colon_after(p + len, end);
}

/* The byte after the colon when [p, end) is a Content-Length (or `l`)
 * line; else NULL. */
static const char *content_length_value(const char *p, const char *end)
{
    return named_value(p, end, "content-length", 14, 'l');
}

/* Notes the header line at ls, ending at nl, if it is one the framer
 * counts (Content-Length) or locates for sip_peek (first Via, first CSeq)
 * or for an address check (first Contact or Record-Route). One switch on
 * the first byte keeps the other lines at one compare. */
static void note_line(struct sip_framer *f, const char *buf, size_t ls, const char *nl)
{
    const char *p = buf + ls;
    switch (sip_lower((unsigned char)*p)) {
    case 'l':
        if (content_length_value(p, nl) != NULL && f->cl_count++ == 0)
            f->cl_line = ls;
        break;
    case 'c':
        /* Most lines of a message start with c (Call-ID, CSeq, Content-*,
         * Contact): the second byte, which the line holds (its LF comes
         * later), leaves one or two names to compare. */
        switch (sip_lower((unsigned char)p[1])) {
        case 'o':
            if (content_length_value(p, nl) != NULL) {
                if (f->cl_count++ == 0)
                    f->cl_line = ls;
            } else if (f->addr_line == 0 && named_value(p, nl, "contact", 7, 0) != NULL) {
                f->addr_line = ls;
            }
            break;
        case 's':
            if (f->cseq_line == 0 && named_value(p, nl, "cseq", 4, 0) != NULL)
                f->cseq_line = ls;
            break;
        default:
            break;
        }
        break;
    case 'm':
        if (f->addr_line == 0 && named_value(p, nl, "contact", 7, 'm') != NULL)
            f->addr_line = ls;
        break;
    case 'r':
        if (f->addr_line == 0 && named_value(p, nl, "record-route", 12, 0) != NULL)
            f->addr_line = ls;
        break;
    case 'v':
        if (f->via_line == 0 && named_value(p, nl, "via", 3, 'v') != NULL)
            f->via_line = ls;
        break;
    default:
        break;
    }
}

/* End of the logical header starting at p: the LF of its last physical line
 * (continuation lines start with WSP). `stop` is the end of the header
 * section, which always ends in an empty line. */
static const char *logical_end(const char *p, const char *stop)
{
    for (;;) {
        const char *nl = sip_find(p, stop, '\n');
        if (nl == NULL || nl + 1 >= stop || !sip_is_wsp(nl[1]))
            return nl ? nl : stop;
        p = nl + 1;
    }
}

enum sip_err sip_content_length_parse(const char *p, const char *end, size_t *value)
{
    /* LWS may hide folded line ends: treat CR and LF as white space here,
     * `end` already bounds the logical header. */
    while (p < end && sip_is_lws(*p))
        p++;
    uint64_t v = 0;
    const char *digits = p;
    while (p < end && (unsigned char)(*p - '0') < 10) {
        v = v * 10 + (uint64_t)(*p - '0');
        if (v > UINT32_MAX)
            return SIP_ERR_CL_INVALID;
        p++;
    }
    if (p == digits)
        return SIP_ERR_CL_INVALID;
    while (p < end && sip_is_lws(*p))
        p++;
    if (p != end)
        return SIP_ERR_CL_INVALID;
    *value = (size_t)v;
    return SIP_OK;
}

/* Validates the Content-Length header(s) of a complete header section. */
static enum sip_err header_section_length(const struct sip_framer *f, const char *buf,
                                          size_t *body_len)
{
    const char *stop = buf + f->header_len;
    if (f->cl_count == 0)
        return SIP_ERR_CL_MISSING;
    const char *line = buf + f->cl_line;
    const char *lend = logical_end(line, stop);
    enum sip_err err = sip_content_length_parse(content_length_value(line, lend), lend, body_len);
    if (err || f->cl_count == 1)
        return err;
    /* Rare: several Content-Length lines. Tell a conflict from a repeat. */
    enum sip_err verdict = SIP_ERR_CL_DUPLICATE;
    for (const char *p = lend + 1; p < stop;) {
        const char *e = logical_end(p, stop);
        const char *v = content_length_value(p, e);
        size_t other;
        if (v != NULL) {
            err = sip_content_length_parse(v, e, &other);
            if (err)
                return err;
            if (other != *body_len)
                verdict = SIP_ERR_CL_CONFLICT;
        }
        p = e + 1;
    }
    return verdict;
}

static enum sip_frame_event emit(struct sip_frame *out, enum sip_frame_event ev, size_t len)
{
    out->event = ev;
    out->len = len;
    return ev;
}

static enum sip_frame_event fail(struct sip_framer *f, struct sip_frame *out, enum sip_err err)
{
    f->total = 0;
    out->event = SIP_FRAME_ERROR;
    out->err = err;
    return SIP_FRAME_ERROR;
}

/* RFC 5626 §4.4.1 keepalives and stray line ends before a message. */
static enum sip_frame_event keepalive(struct sip_framer *f, const char *buf, size_t len,
                                      struct sip_frame *out)
{
    if (buf[0] == '\n')
        return emit(out, SIP_FRAME_PONG, 1);
    if (len < 2)
        return emit(out, SIP_FRAME_NEED_MORE, 0);
    if (buf[1] != '\n')
        return fail(f, out, SIP_ERR_BARE_CR);
    /* Until the next byte shows whether a second CRLF follows, a CRLF may
     * still be the first half of a ping: wait rather than misread it. */
    if (len < 4 && (len == 2 || buf[2] == '\r'))
        return emit(out, SIP_FRAME_NEED_MORE, 0);
    if (buf[2] != '\r')
        return emit(out, SIP_FRAME_PONG, 2);
    return emit(out, buf[3] == '\n' ? SIP_FRAME_PING : SIP_FRAME_PONG, buf[3] == '\n' ? 4 : 2);
}

enum sip_frame_event sip_framer_feed(struct sip_framer *f, const char *buf, size_t len,
                                     size_t max_message_bytes, struct sip_frame *out)
{
    out->event = SIP_FRAME_NEED_MORE;
    out->len = 0;
    out->header_len = 0;
    out->via_line = out->cseq_line = out->addr_line = 0;
    out->err = SIP_OK;

    if (f->total == 0) {
        if (f->scan == 0) {
            if (len == 0)
                return SIP_FRAME_NEED_MORE;
            if (buf[0] == '\r' || buf[0] == '\n')
                return keepalive(f, buf, len, out);
        }
        /* Never look past the limit: the verdict must not depend on how
         * much of an oversized message happened to arrive. */
        size_t avail = len < max_message_bytes ? len : max_message_bytes;
        size_t ls = f->line_start, pos = f->scan;
        for (;;) {
            if (pos == ls) {
                /* A fresh line: an empty one ends the header section. */
                if (ls >= avail)
                    break;
                if (buf[ls] == '\n') {
                    f->header_len = ls + 1;
                    break;
                }
                if (buf[ls] == '\r') {
                    if (ls + 1 >= avail)
                        break;
                    if (buf[ls + 1] != '\n')
                        return fail(f, out, SIP_ERR_BARE_CR);
                    f->header_len = ls + 2;
                    break;
                }
            }
            const char *nl = sip_find(buf + pos, buf + avail, '\n');
            if (nl == NULL) {
                pos = avail;
                break;
            }
            if (ls > 0)
                note_line(f, buf, ls, nl);
            ls = pos = (size_t)(nl - buf) + 1;
        }
        f->line_start = ls;
        f->scan = pos;
        if (f->header_len == 0) {
            if (len >= max_message_bytes)
                return fail(f, out, SIP_ERR_HEADERS_TOO_LARGE);
            return SIP_FRAME_NEED_MORE;
        }
        size_t body_len; /* header_len <= avail <= max_message_bytes here */
        enum sip_err err = header_section_length(f, buf, &body_len);
        if (err)
            return fail(f, out, err);
        if (body_len > max_message_bytes - f->header_len)
            return fail(f, out, SIP_ERR_MESSAGE_TOO_LARGE);
        f->total = f->header_len + body_len;
    }
    if (len < f->total)
        return SIP_FRAME_NEED_MORE;
    out->header_len = f->header_len;
    out->via_line = f->via_line;
    out->cseq_line = f->cseq_line;
    out->addr_line = f->addr_line;
    size_t total = f->total;
    sip_framer_init(f);
    return emit(out, SIP_FRAME_MESSAGE, total);
}

enum sip_frame_event sip_frame_datagram(const char *buf, size_t len, size_t max_message_bytes,
                                        struct sip_frame *out)
{
    struct sip_framer f;
    sip_framer_init(&f);
    size_t skip = 0;
    while (skip < len && (buf[skip] == '\r' || buf[skip] == '\n'))
        skip++;
    if (skip > 0)
        return emit(out, SIP_FRAME_PONG, skip);
    /* The stream framer finds the header section, its Via and CSeq lines
     * and a Content-Length; only what the datagram boundary decides
     * differs. */
    size_t feed = len < max_message_bytes ? len : max_message_bytes;
    enum sip_frame_event ev = sip_framer_feed(&f, buf, feed, max_message_bytes, out);
    if (ev == SIP_FRAME_MESSAGE)
        return ev;
    if (ev == SIP_FRAME_ERROR && out->err != SIP_ERR_CL_MISSING)
        return ev;
    if (f.header_len == 0)
        return fail(&f, out,
                    len > max_message_bytes ? SIP_ERR_HEADERS_TOO_LARGE : SIP_ERR_HEADER_SYNTAX);
    if (ev == SIP_FRAME_NEED_MORE)
        return fail(&f, out,
                    len > max_message_bytes ? SIP_ERR_MESSAGE_TOO_LARGE : SIP_ERR_BODY_TRUNCATED);
    if (len > max_message_bytes)
        return fail(&f, out, SIP_ERR_MESSAGE_TOO_LARGE);
    out->err = SIP_OK;
    out->header_len = f.header_len;
    out->via_line = f.via_line;
    out->cseq_line = f.cseq_line;
    out->addr_line = f.addr_line;
    return emit(out, SIP_FRAME_MESSAGE, len);
}
