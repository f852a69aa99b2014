#include "sip/message.h"

#include <string.h>

#include "sip/chars.h"
#include "sip/framing.h"
#include "sip/scan.h"

static bool is_token(struct sip_str s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++)
        if (!sip_token_chars[(unsigned char)s.p[i]])
            return false;
    return true;
}

static bool is_digit(char c)
{
    return (unsigned char)(c - '0') < 10;
}

/* "SIP/" 1*DIGIT "." 1*DIGIT, any case for the name (RFC 3261 §25.1). */
static bool is_version(struct sip_str v)
{
    if (v.len < 7 || sip_lower((unsigned char)v.p[0]) != 's' ||
        sip_lower((unsigned char)v.p[1]) != 'i' || sip_lower((unsigned char)v.p[2]) != 'p' ||
        v.p[3] != '/')
        return false;
    size_t i = 4, digits = 0;
    while (i < v.len && is_digit(v.p[i]))
        i++, digits++;
    if (digits == 0 || i == v.len || v.p[i] != '.')
        return false;
    i++;
    digits = 0;
    while (i < v.len && is_digit(v.p[i]))
        i++, digits++;
    return digits > 0 && i == v.len;
}

/* scheme ":" then at least one byte, none of them SP, HTAB or CTL. */
static bool is_request_uri(struct sip_str u)
{
    size_t i = 0;
    if (u.len == 0 || (unsigned char)(sip_lower((unsigned char)u.p[0]) - 'a') >= 26)
        return false;
    while (i < u.len && u.p[i] != ':') {
        unsigned char c = (unsigned char)u.p[i];
        if (!((unsigned char)(sip_lower(c) - 'a') < 26 || is_digit((char)c) || c == '+' ||
              c == '-' || c == '.'))
            return false;
        i++;
    }
    if (i + 1 >= u.len)
        return false;
    for (; i < u.len; i++)
        if ((unsigned char)u.p[i] <= ' ' || u.p[i] == 0x7f)
            return false;
    return true;
}

static enum sip_err parse_request_line(struct sip_msg *msg, struct sip_str line)
{
    const char *end = line.p + line.len;
    const char *sp1 = sip_find(line.p, end, ' ');
    if (sp1 == NULL)
        return SIP_ERR_START_LINE;
    msg->method = (struct sip_str){line.p, (size_t)(sp1 - line.p)};
    if (!is_token(msg->method))
        return SIP_ERR_METHOD;
    const char *sp2 = end;
    while (sp2 > sp1 && sp2[-1] != ' ')
        sp2--;
    msg->version = (struct sip_str){sp2, (size_t)(end - sp2)};
    if (sp2 == sp1 + 1 || !is_version(msg->version))
        return SIP_ERR_START_LINE;
    msg->uri = (struct sip_str){sp1 + 1, (size_t)(sp2 - 1 - (sp1 + 1))};
    if (!is_request_uri(msg->uri))
        return SIP_ERR_REQUEST_URI;
    return SIP_OK;
}

static enum sip_err parse_status_line(struct sip_msg *msg, struct sip_str line)
{
    const char *end = line.p + line.len;
    const char *sp = sip_find(line.p, end, ' ');
    if (sp == NULL)
        return SIP_ERR_START_LINE;
    msg->version = (struct sip_str){line.p, (size_t)(sp - line.p)};
    if (!is_version(msg->version))
        return SIP_ERR_START_LINE;
    const char *code = sp + 1;
    if (end - code < 3 || !is_digit(code[0]) || !is_digit(code[1]) || !is_digit(code[2]) ||
        (end - code > 3 && code[3] != ' '))
        return SIP_ERR_STATUS;
    msg->status = (unsigned)((code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0'));
    if (msg->status < 100 || msg->status > 699)
        return SIP_ERR_STATUS;
    const char *reason = end - code > 3 ? code + 4 : end;
    msg->reason = (struct sip_str){reason, (size_t)(end - reason)};
    for (const char *p = reason; p < end; p++)
        if (*p == '\r' || *p == '\n')
            return SIP_ERR_STATUS;
    return SIP_OK;
}

/* Strips one line end (LF or CRLF) off the line [p, nl]. */
static size_t line_len_without_end(const char *p, const char *nl)
{
    return (size_t)(nl - p) - (nl > p && nl[-1] == '\r');
}

enum sip_err sip_parse_start_line(const char *buf, const char *nl, struct sip_msg *msg)
{
    size_t len = (size_t)(nl + 1 - buf);
    msg->method = msg->uri = msg->version = msg->reason = (struct sip_str){0};
    msg->status = 0;
    msg->start_line = (struct sip_str){buf, line_len_without_end(buf, nl)};
    msg->is_request = !(len > 4 && memcmp(buf, "SIP/", 4) == 0);
    return msg->is_request ? parse_request_line(msg, msg->start_line)
                           : parse_status_line(msg, msg->start_line);
}

/* Validates the Content-Length header(s) and sets the body. */
static enum sip_err frame_body(struct sip_msg *msg)
{
    const char *rest = msg->buf + msg->header_len;
    size_t avail = msg->len - msg->header_len;
    const struct sip_header *h = sip_msg_header(msg, SIP_HDR_CONTENT_LENGTH);
    if (h == NULL) {
        msg->body = (struct sip_str){rest, avail};
        return SIP_OK;
    }
    size_t cl;
    enum sip_err err = sip_content_length_parse(h->value.p, h->value.p + h->value.len, &cl);
    if (err)
        return err;
    if (msg->count[SIP_HDR_CONTENT_LENGTH] > 1) {
        enum sip_err verdict = SIP_ERR_CL_DUPLICATE;
        for (const struct sip_header *o = sip_msg_next(msg, h); o; o = sip_msg_next(msg, o)) {
            size_t other;
            err = sip_content_length_parse(o->value.p, o->value.p + o->value.len, &other);
            if (err)
                return err;
            if (other != cl)
                verdict = SIP_ERR_CL_CONFLICT;
        }
        return verdict;
    }
    msg->has_content_length = true;
    msg->content_length = cl;
    if (cl > avail)
        return SIP_ERR_BODY_TRUNCATED;
    msg->body = (struct sip_str){rest, cl};
    return SIP_OK;
}

enum sip_err sip_parse(const char *buf, size_t len, struct sip_msg *msg, struct sip_header *headers,
                       size_t max_headers)
{
    /* Field by field: one memset of the whole struct costs a rep stos. */
    msg->buf = buf;
    msg->len = len;
    msg->is_request = false;
    msg->start_line = msg->method = msg->uri = msg->version = msg->reason = (struct sip_str){0};
    msg->status = 0;
    msg->headers = headers;
    msg->nheaders = 0;
    memset(msg->first, 0xff, sizeof(msg->first));
    memset(msg->count, 0, sizeof(msg->count));
    msg->header_len = 0;
    msg->has_content_length = false;
    msg->content_length = 0;
    msg->body = (struct sip_str){0};
    if (max_headers > SIP_NO_HEADER - 1)
        max_headers = SIP_NO_HEADER - 1;

    if (len == 0)
        return SIP_ERR_START_LINE;
    const char *end = buf + len;
    const char *nl = sip_find(buf, end, '\n');
    if (nl == NULL)
        return SIP_ERR_START_LINE;
    enum sip_err err = sip_parse_start_line(buf, nl, msg);
    if (err)
        return err;

    const char *p = nl + 1;
    for (;;) {
        if (p == end) {
            msg->header_len = len; /* datagram without the empty line */
            break;
        }
        if (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')) {
            msg->header_len = (size_t)(p - buf) + (*p == '\r' ? 2 : 1);
            break;
        }
        /* Find the line end first: LF is no token byte, so it also bounds
         * the name scan without a length check per byte. */
        const char *lf = sip_find(p, end, '\n');
        const char *name = p;
        if (lf != NULL) {
            while (sip_token_chars[(unsigned char)*p])
                p++;
        } else {
            while (p < end && sip_token_chars[(unsigned char)*p])
                p++;
        }
        const char *name_end = p;
        while (p < end && sip_is_wsp(*p))
            p++;
        if (name_end == name || p == end || *p != ':')
            return SIP_ERR_HEADER_SYNTAX;
        p++;
        /* The value runs over continuation lines (leading WSP). */
        const char *v = p, *line_end;
        for (;;) {
            if (lf == NULL) {
                line_end = end;
                p = end;
                break;
            }
            p = lf + 1;
            if (p == end || !sip_is_wsp(*p)) {
                line_end = lf;
                break;
            }
            lf = sip_find(p, end, '\n');
        }
        const char *ve = line_end;
        while (v < ve && sip_is_lws(*v))
            v++;
        while (ve > v && sip_is_lws(ve[-1]))
            ve--;
        if (msg->nheaders == max_headers)
            return SIP_ERR_TOO_MANY_HEADERS;
        struct sip_header *h = &headers[msg->nheaders];
        h->id = sip_hdr_lookup(name, (size_t)(name_end - name));
        h->name = (struct sip_str){name, (size_t)(name_end - name)};
        h->value = (struct sip_str){v, (size_t)(ve - v)};
        h->line = (struct sip_str){name, (size_t)(p - name)};
        if (msg->first[h->id] == SIP_NO_HEADER)
            msg->first[h->id] = (uint16_t)msg->nheaders;
        msg->count[h->id]++;
        msg->nheaders++;
    }
    return frame_body(msg);
}

const struct sip_header *sip_msg_next(const struct sip_msg *msg, const struct sip_header *h)
{
    for (const struct sip_header *o = h + 1; o < msg->headers + msg->nheaders; o++)
        if (o->id == h->id)
            return o;
    return NULL;
}
