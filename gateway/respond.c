/* respond: response construction by header copy. */
#include "respond.h"

#include <stdio.h>
#include <string.h>

#include "sip/param.h"

struct out {
    char *p;
    size_t len;
    size_t cap;
    bool overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->overflow || o->len + n > o->cap) {
        o->overflow = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* copy_all copies every header line of kind |id| as written. */
static bool copy_all(struct out *o, const struct sip_msg *req, enum sip_hdr id)
{
    const struct sip_header *h = sip_msg_header(req, id);
    if (!h)
        return false;
    for (; h; h = sip_msg_next(req, h))
        put(o, h->line.p, h->line.len);
    return true;
}

/* to_has_tag looks for a tag parameter after the URI of a To value. */
static bool to_has_tag(struct sip_str value)
{
    const char *gt = memchr(value.p, '>', value.len);
    struct sip_str params = value;
    if (gt) {
        params.p = gt + 1;
        params.len = value.len - (size_t)(gt + 1 - value.p);
    } else {
        const char *semi = memchr(value.p, ';', value.len);
        if (!semi)
            return false;
        params.p = semi;
        params.len = value.len - (size_t)(semi - value.p);
    }
    struct sip_param tag;
    return sip_param_find(params, "tag", &tag);
}

size_t respond_build(const struct sip_msg *req, unsigned status, const char *reason,
                     const char *agent, const char *why, char *out, size_t cap)
{
    struct out o = {.p = out, .cap = cap};
    char line[64];
    snprintf(line, sizeof(line), "SIP/2.0 %u ", status);
    puts_(&o, line);
    puts_(&o, reason);
    puts_(&o, "\r\n");
    const struct sip_header *to = sip_msg_header(req, SIP_HDR_TO);
    if (!copy_all(&o, req, SIP_HDR_VIA) || !copy_all(&o, req, SIP_HDR_FROM) || !to ||
        !copy_all(&o, req, SIP_HDR_CALL_ID) || !copy_all(&o, req, SIP_HDR_CSEQ))
        return 0;
    puts_(&o, "To: ");
    put(&o, to->value.p, to->value.len);
    if (!to_has_tag(to->value)) {
        /* One tag per originated response is enough: reusegw never keeps a
         * dialog, it only answers. */
        puts_(&o, ";tag=rgw");
        snprintf(line, sizeof(line), "%u", status);
        puts_(&o, line);
    }
    puts_(&o, "\r\n");
    if (why) {
        puts_(&o, "Warning: 399 ");
        puts_(&o, agent);
        puts_(&o, " \"");
        for (const char *p = why; *p; p++) /* keep the quoted-string valid */
            if (*p != '"' && *p != '\\' && *p != '\r' && *p != '\n')
                put(&o, p, 1);
        puts_(&o, "\"\r\n");
    }
    puts_(&o, "Server: reusegw\r\nContent-Length: 0\r\n\r\n");
    return o.overflow ? 0 : o.len;
}
