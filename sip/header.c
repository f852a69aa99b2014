#include "sip/header.h"

#include <string.h>

#include "sip/scan.h"

struct name_entry {
    const char *lower;
    unsigned char len;
    unsigned char id;
};

#define E(s, id)                                                                                   \
    {                                                                                              \
        s, sizeof(s) - 1, id                                                                       \
    }

/* Full names sorted by length, so a lookup compares a handful. */
static const struct name_entry full_names[] = {
    E("to", SIP_HDR_TO),
    E("via", SIP_HDR_VIA),
    E("cseq", SIP_HDR_CSEQ),
    E("from", SIP_HDR_FROM),
    E("event", SIP_HDR_EVENT),
    E("route", SIP_HDR_ROUTE),
    E("reason", SIP_HDR_REASON),
    E("call-id", SIP_HDR_CALL_ID),
    E("contact", SIP_HDR_CONTACT),
    E("require", SIP_HDR_REQUIRE),
    E("subject", SIP_HDR_SUBJECT),
    E("warning", SIP_HDR_WARNING),
    E("identity", SIP_HDR_IDENTITY),
    E("refer-to", SIP_HDR_REFER_TO),
    E("supported", SIP_HDR_SUPPORTED),
    E("referred-by", SIP_HDR_REFERRED_BY),
    E("allow-events", SIP_HDR_ALLOW_EVENTS),
    E("content-type", SIP_HDR_CONTENT_TYPE),
    E("max-forwards", SIP_HDR_MAX_FORWARDS),
    E("record-route", SIP_HDR_RECORD_ROUTE),
    E("identity-info", SIP_HDR_IDENTITY_INFO),
    E("proxy-require", SIP_HDR_PROXY_REQUIRE),
    E("accept-contact", SIP_HDR_ACCEPT_CONTACT),
    E("content-length", SIP_HDR_CONTENT_LENGTH),
    E("reject-contact", SIP_HDR_REJECT_CONTACT),
    E("session-expires", SIP_HDR_SESSION_EXPIRES),
    E("content-encoding", SIP_HDR_CONTENT_ENCODING),
    E("request-disposition", SIP_HDR_REQUEST_DISPOSITION),
};

/* full_names[by_len[n] .. by_len[n + 1]) are the names of length n. */
static const unsigned char by_len[21] = {0,  0,  0,  1,  2,  4,  6,  7,  12, 14, 15,
                                         15, 16, 20, 22, 25, 26, 27, 27, 27, 28};

static const char *const canonical[SIP_HDR__COUNT] = {
    [SIP_HDR_VIA] = "Via",
    [SIP_HDR_FROM] = "From",
    [SIP_HDR_TO] = "To",
    [SIP_HDR_CALL_ID] = "Call-ID",
    [SIP_HDR_CSEQ] = "CSeq",
    [SIP_HDR_MAX_FORWARDS] = "Max-Forwards",
    [SIP_HDR_CONTENT_LENGTH] = "Content-Length",
    [SIP_HDR_CONTENT_TYPE] = "Content-Type",
    [SIP_HDR_CONTENT_ENCODING] = "Content-Encoding",
    [SIP_HDR_CONTACT] = "Contact",
    [SIP_HDR_ROUTE] = "Route",
    [SIP_HDR_RECORD_ROUTE] = "Record-Route",
    [SIP_HDR_REQUIRE] = "Require",
    [SIP_HDR_PROXY_REQUIRE] = "Proxy-Require",
    [SIP_HDR_SUPPORTED] = "Supported",
    [SIP_HDR_SUBJECT] = "Subject",
    [SIP_HDR_EVENT] = "Event",
    [SIP_HDR_ALLOW_EVENTS] = "Allow-Events",
    [SIP_HDR_REFER_TO] = "Refer-To",
    [SIP_HDR_REFERRED_BY] = "Referred-By",
    [SIP_HDR_SESSION_EXPIRES] = "Session-Expires",
    [SIP_HDR_ACCEPT_CONTACT] = "Accept-Contact",
    [SIP_HDR_REJECT_CONTACT] = "Reject-Contact",
    [SIP_HDR_REQUEST_DISPOSITION] = "Request-Disposition",
    [SIP_HDR_IDENTITY] = "Identity",
    [SIP_HDR_IDENTITY_INFO] = "Identity-Info",
    [SIP_HDR_REASON] = "Reason",
    [SIP_HDR_WARNING] = "Warning",
};

/* Compact forms, RFC 3261 §7.3.3 and the IANA registry. */
static const unsigned char compact[26] = {
    ['a' - 'a'] = SIP_HDR_ACCEPT_CONTACT,
    ['b' - 'a'] = SIP_HDR_REFERRED_BY,
    ['c' - 'a'] = SIP_HDR_CONTENT_TYPE,
    ['d' - 'a'] = SIP_HDR_REQUEST_DISPOSITION,
    ['e' - 'a'] = SIP_HDR_CONTENT_ENCODING,
    ['f' - 'a'] = SIP_HDR_FROM,
    ['i' - 'a'] = SIP_HDR_CALL_ID,
    ['j' - 'a'] = SIP_HDR_REJECT_CONTACT,
    ['k' - 'a'] = SIP_HDR_SUPPORTED,
    ['l' - 'a'] = SIP_HDR_CONTENT_LENGTH,
    ['m' - 'a'] = SIP_HDR_CONTACT,
    ['n' - 'a'] = SIP_HDR_IDENTITY_INFO,
    ['o' - 'a'] = SIP_HDR_EVENT,
    ['r' - 'a'] = SIP_HDR_REFER_TO,
    ['s' - 'a'] = SIP_HDR_SUBJECT,
    ['t' - 'a'] = SIP_HDR_TO,
    ['u' - 'a'] = SIP_HDR_ALLOW_EVENTS,
    ['v' - 'a'] = SIP_HDR_VIA,
    ['x' - 'a'] = SIP_HDR_SESSION_EXPIRES,
    ['y' - 'a'] = SIP_HDR_IDENTITY,
};

enum sip_hdr sip_hdr_lookup(const char *name, size_t len)
{
    if (len == 0)
        return SIP_HDR_OTHER;
    unsigned char first = sip_lower((unsigned char)name[0]);
    if (len == 1)
        return (unsigned char)(first - 'a') < 26 ? (enum sip_hdr)compact[first - 'a']
                                                 : SIP_HDR_OTHER;
    if (len >= sizeof(by_len) - 1)
        return SIP_HDR_OTHER;
    for (size_t i = by_len[len]; i < by_len[len + 1]; i++) {
        const struct name_entry *e = &full_names[i];
        if ((unsigned char)e->lower[0] == first &&
            sip_str_ieq((struct sip_str){name, len}, e->lower, len))
            return (enum sip_hdr)e->id;
    }
    return SIP_HDR_OTHER;
}

const char *sip_hdr_name(enum sip_hdr id)
{
    return (unsigned)id < SIP_HDR__COUNT ? canonical[id] : NULL;
}

/* Bytes that change sip_list_next's state; everything else is skipped by
 * one table look-up. */
static const unsigned char list_special[256] = {
    ['"'] = 1, ['\\'] = 1, ['<'] = 1, ['>'] = 1, [','] = 1,
};

/* Finds the separating comma (or end) with quote and bracket state. */
static const char *slow_scan(const char *p, const char *end)
{
    bool quoted = false, angle = false;
    for (; p < end; p++) {
        char c = *p;
        if (!list_special[(unsigned char)c])
            continue;
        if (quoted) {
            if (c == '\\' && p + 1 < end)
                p++;
            else if (c == '"')
                quoted = false;
        } else if (c == '"') {
            quoted = true;
        } else if (c == '<') {
            angle = true;
        } else if (c == '>') {
            angle = false;
        } else if (c == ',' && !angle) {
            break;
        }
    }
    return p;
}

bool sip_list_next(struct sip_str *rest, struct sip_str *item)
{
    const char *p = rest->p, *end = rest->p + rest->len;
    while (p < end && (sip_is_lws(*p) || *p == ','))
        p++;
    if (p == end) {
        rest->p = end;
        rest->len = 0;
        return false;
    }
    const char *start = p;
    /* Fast path: no comma left, or none of quotes and brackets before the
     * next one, so that comma is the separator (sip_find is vectorised). */
    const char *comma = sip_find(p, end, ',');
    if (comma == NULL) {
        p = end;
    } else if (sip_find(p, comma, '"') == NULL && sip_find(p, comma, '<') == NULL) {
        p = comma;
    } else {
        p = slow_scan(p, end);
    }
    const char *stop = p;
    while (stop > start && sip_is_lws(stop[-1]))
        stop--;
    item->p = start;
    item->len = (size_t)(stop - start);
    rest->p = p;
    rest->len = (size_t)(end - p);
    return true;
}
