#include "sip/response.h"

#include <stdio.h>
#include <string.h>

#include "sip/chars.h"
#include "sip/uri.h"
#include "sip/via.h"

/* A bounded writer: once full it stays full and the result is NO_SPACE. */
struct writer {
    char *p;
    size_t cap, len;
    bool full;
};

static void put(struct writer *w, const char *s, size_t n)
{
    if (w->full || n > w->cap - w->len) {
        w->full = true;
        return;
    }
    memcpy(w->p + w->len, s, n);
    w->len += n;
}

static void puts_(struct writer *w, const char *s)
{
    put(w, s, strlen(s));
}

static void put_header(struct writer *w, enum sip_hdr id, struct sip_str value)
{
    puts_(w, sip_hdr_name(id));
    put(w, ": ", 2);
    put(w, value.p, value.len);
}

const char *sip_status_phrase(unsigned status)
{
    switch (status) {
    case 100:
        return "Trying";
    case 180:
        return "Ringing";
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 408:
        return "Request Timeout";
    case 413:
        return "Request Entity Too Large";
    case 416:
        return "Unsupported URI Scheme";
    case 420:
        return "Bad Extension";
    case 480:
        return "Temporarily Unavailable";
    case 481:
        return "Call/Transaction Does Not Exist";
    case 482:
        return "Loop Detected";
    case 483:
        return "Too Many Hops";
    case 500:
        return "Server Internal Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Server Time-out";
    case 505:
        return "Version Not Supported";
    case 513:
        return "Message Too Large";
    default:
        break;
    }
    static const char *const classes[] = {"Informational", "Success",      "Redirection",
                                          "Client Error",  "Server Error", "Global Failure"};
    return status >= 100 && status <= 699 ? classes[status / 100 - 1] : "Unknown";
}

static bool has_line_break(const char *s, bool allow_crlf_lines)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\r' && allow_crlf_lines && p[1] == '\n' && p[2] != ' ' && p[2] != '\t') {
            p++;
            continue;
        }
        if (*p == '\r' || *p == '\n')
            return true;
    }
    return false;
}

/* FNV-1a over the fields that identify a request, so retransmissions get
 * the same To tag without the gateway keeping state. */
static void derive_tag(const struct sip_msg *req, char out[17])
{
    uint64_t h = 0xcbf29ce484222325u;
    struct sip_via via;
    struct sip_str parts[3] = {{NULL, 0}, {NULL, 0}, {NULL, 0}};
    const struct sip_header *call_id = sip_msg_header(req, SIP_HDR_CALL_ID);
    const struct sip_header *from = sip_msg_header(req, SIP_HDR_FROM);
    if (call_id)
        parts[0] = call_id->value;
    if (from)
        parts[1] = from->value;
    if (sip_via_parse_first(req, &via, NULL, 0) == SIP_OK)
        parts[2] = via.branch;
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < parts[i].len; j++)
            h = (h ^ (unsigned char)parts[i].p[j]) * 0x100000001b3u;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static bool to_has_tag(struct sip_str to)
{
    struct sip_name_addr na;
    struct sip_param tag;
    /* An unparseable To gets no tag appended: we would only make it worse. */
    return sip_name_addr_parse(to, &na) != SIP_OK || sip_param_find(na.params, "tag", &tag);
}

enum sip_err sip_build_response(const struct sip_msg *req, const struct sip_response_spec *spec,
                                char *out, size_t cap, size_t *len)
{
    const char *reason = spec->reason ? spec->reason : sip_status_phrase(spec->status);
    if (spec->status < 100 || spec->status > 699 || has_line_break(reason, false))
        return SIP_ERR_STATUS;
    if (spec->to_tag != NULL) {
        const char *t = spec->to_tag;
        for (; *t; t++)
            if (!sip_token_chars[(unsigned char)*t])
                return SIP_ERR_STATUS;
        if (t == spec->to_tag)
            return SIP_ERR_STATUS;
    }
    size_t extra_len = spec->extra ? strlen(spec->extra) : 0;
    if (spec->extra &&
        (has_line_break(spec->extra, true) ||
         (extra_len > 0 && (extra_len < 2 || memcmp(spec->extra + extra_len - 2, "\r\n", 2) != 0))))
        return SIP_ERR_STATUS;

    struct writer w = {out, cap, 0, false};
    char status[16];
    int n = snprintf(status, sizeof(status), "SIP/2.0 %03u ", spec->status);
    put(&w, status, (size_t)n);
    puts_(&w, reason);
    put(&w, "\r\n", 2);

    for (size_t i = 0; i < req->nheaders; i++) {
        const struct sip_header *h = &req->headers[i];
        if (h->id == SIP_HDR_VIA) {
            put_header(&w, SIP_HDR_VIA, h->value);
            put(&w, "\r\n", 2);
            if (spec->top_via_only)
                break;
        }
    }
    static const enum sip_hdr copied[] = {SIP_HDR_FROM, SIP_HDR_TO, SIP_HDR_CALL_ID, SIP_HDR_CSEQ};
    for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
        const struct sip_header *h = sip_msg_header(req, copied[i]);
        if (h == NULL)
            continue;
        put_header(&w, copied[i], h->value);
        if (copied[i] == SIP_HDR_TO && spec->status > 100 && !to_has_tag(h->value)) {
            char derived[17];
            const char *tag = spec->to_tag;
            if (tag == NULL) {
                derive_tag(req, derived);
                tag = derived;
            }
            put(&w, ";tag=", 5);
            puts_(&w, tag);
        }
        put(&w, "\r\n", 2);
    }
    if (spec->extra)
        put(&w, spec->extra, extra_len);
    puts_(&w, "Content-Length: 0\r\n\r\n");
    if (w.full)
        return SIP_ERR_NO_SPACE;
    *len = w.len;
    return SIP_OK;
}

/* next_line returns the end (after its LF) of the header line starting at
 * buf[at], continuation lines included, or 0 when that line is not known
 * to be complete within buf[0..len). */
static size_t next_line(const char *buf, size_t len, size_t at)
{
    for (;;) {
        const char *lf = memchr(buf + at, '\n', len - at);
        if (lf == NULL || (size_t)(lf + 1 - buf) >= len)
            return 0;
        at = (size_t)(lf + 1 - buf);
        if (buf[at] != ' ' && buf[at] != '\t')
            return at;
    }
}

/* line_id names the header of line buf[at..end). */
static enum sip_hdr line_id(const char *buf, size_t at, size_t end)
{
    size_t name_end = at;
    while (name_end < end && buf[name_end] != ':' && buf[name_end] != ' ' &&
           buf[name_end] != '\t' && buf[name_end] != '\r' && buf[name_end] != '\n')
        name_end++;
    return sip_hdr_lookup(buf + at, name_end - at);
}

static bool is_empty_line(const char *buf, size_t len, size_t at)
{
    return buf[at] == '\n' || (buf[at] == '\r' && at + 1 < len && buf[at + 1] == '\n');
}

size_t sip_response_basis(const char *buf, size_t len, size_t max_vias, char *out, size_t cap)
{
    const char *lf = memchr(buf, '\n', len);
    if (lf == NULL || (size_t)(lf + 1 - buf) >= len)
        return 0;
    size_t first = (size_t)(lf + 1 - buf);
    struct writer w = {out, cap > 2 ? cap - 2 : 0, 0, cap < 2}; /* room for the empty line */
    put(&w, buf, first);
    /* Pass 0 copies the singletons, so that an index too small for all the
     * Vias still holds them; pass 1 the Vias. */
    bool seen[SIP_HDR__COUNT] = {false};
    for (int pass = 0; pass < 2 && !w.full; pass++) {
        size_t vias = 0;
        for (size_t at = first, end;
             at < len && !is_empty_line(buf, len, at) && (end = next_line(buf, len, at)) != 0;
             at = end) {
            enum sip_hdr id = line_id(buf, at, end);
            if (pass == 0 &&
                (id == SIP_HDR_FROM || id == SIP_HDR_TO || id == SIP_HDR_CALL_ID ||
                 id == SIP_HDR_CSEQ) &&
                !seen[id]) {
                seen[id] = true;
                put(&w, buf + at, end - at);
            } else if (pass == 1 && id == SIP_HDR_VIA) {
                if (vias == max_vias || end - at > w.cap - w.len)
                    break; /* the first Vias, as many as fit */
                put(&w, buf + at, end - at);
                vias++;
            }
        }
    }
    if (w.full)
        return 0;
    memcpy(out + w.len, "\r\n", 2);
    return w.len + 2;
}
