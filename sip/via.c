#include "sip/via.h"

#include "sip/chars.h"

#include <string.h>

static const char *skip_lws(const char *p, const char *end)
{
    while (p < end && sip_is_lws(*p))
        p++;
    return p;
}

/* Reads a token; returns the byte after it, or NULL when there is none. */
static const char *token(const char *p, const char *end, struct sip_str *out)
{
    const char *start = p;
    while (p < end && sip_token_chars[(unsigned char)*p])
        p++;
    *out = (struct sip_str){start, (size_t)(p - start)};
    return p == start ? NULL : p;
}

static void note_param(struct sip_via *via, const struct sip_param *prm)
{
    struct sip_str n = prm->name;
    bool valued = sip_str_present(prm->value);
    switch (n.len) {
    case 3:
        if (valued && sip_str_ieq(n, "ttl", 3))
            via->ttl = prm->value;
        break;
    case 5:
        if (!valued && sip_str_ieq(n, "alias", 5))
            via->alias = true;
        else if (sip_str_ieq(n, "maddr", 5) && valued)
            via->maddr = prm->value;
        else if (sip_str_ieq(n, "rport", 5)) {
            via->has_rport = true;
            via->rport = valued ? prm->value : (struct sip_str){n.p + n.len, 0};
        }
        break;
    case 6:
        if (valued && sip_str_ieq(n, "branch", 6))
            via->branch = prm->value;
        break;
    case 8:
        if (valued && sip_str_ieq(n, "received", 8))
            via->received = prm->value;
        break;
    default:
        break;
    }
}

enum sip_err sip_via_parse(struct sip_str parm, struct sip_via *via, struct sip_param *params,
                           size_t max_params)
{
    /* Field by field: a memset of the whole struct costs a rep stos. */
    const struct sip_str none = {NULL, 0};
    via->parm = parm;
    via->name = via->version = via->transport = via->sent_by = via->params = none;
    via->branch = via->received = via->maddr = via->ttl = via->rport = none;
    via->hp = (struct sip_hostport){none, SIP_HOST_DNS, false, 0};
    via->has_rport = false;
    via->alias = false;
    via->nparams = 0;
    const char *p = parm.p, *end = parm.p + parm.len;
    p = skip_lws(p, end);
    if ((p = token(p, end, &via->name)) == NULL)
        return SIP_ERR_VIA;
    p = skip_lws(p, end);
    if (p == end || *p++ != '/')
        return SIP_ERR_VIA;
    if ((p = token(skip_lws(p, end), end, &via->version)) == NULL)
        return SIP_ERR_VIA;
    p = skip_lws(p, end);
    if (p == end || *p++ != '/')
        return SIP_ERR_VIA;
    if ((p = token(skip_lws(p, end), end, &via->transport)) == NULL)
        return SIP_ERR_VIA;
    const char *gap = p;
    p = skip_lws(p, end);
    if (p == gap)
        return SIP_ERR_VIA;
    enum sip_err err;
    const char *after = sip_hostport_parse(p, end, &via->hp, &err);
    if (after == NULL)
        return err;
    via->sent_by = (struct sip_str){p, (size_t)(after - p)};
    p = skip_lws(after, end);
    via->params = (struct sip_str){p, (size_t)(end - p)};
    struct sip_str rest = via->params;
    for (;;) {
        struct sip_param prm;
        bool found;
        err = sip_param_next(&rest, &prm, &found, SIP_ERR_VIA);
        if (err)
            return err;
        if (!found)
            break;
        if (params != NULL) {
            if (via->nparams == max_params)
                return SIP_ERR_TOO_MANY_PARAMS;
            params[via->nparams] = prm;
        }
        via->nparams++;
        note_param(via, &prm);
    }
    return SIP_OK;
}

enum sip_err sip_via_parse_first(const struct sip_msg *msg, struct sip_via *via,
                                 struct sip_param *params, size_t max_params)
{
    const struct sip_header *h = sip_msg_header(msg, SIP_HDR_VIA);
    struct sip_str rest, item;
    if (h == NULL)
        return SIP_ERR_MISSING_VIA;
    rest = h->value;
    if (!sip_list_next(&rest, &item))
        return SIP_ERR_VIA;
    return sip_via_parse(item, via, params, max_params);
}

uint16_t sip_via_port(const struct sip_via *via)
{
    if (via->hp.has_port)
        return via->hp.port;
    if (sip_str_ieq(via->transport, "tls", 3) || sip_str_ieq(via->transport, "tls-sctp", 8))
        return 5061;
    return 5060;
}
