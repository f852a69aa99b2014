#include "sip/uri.h"

#include <string.h>

#include "sip/chars.h"

static bool is_hex(char c)
{
    return (unsigned char)(c - '0') < 10 || (unsigned char)(sip_lower((unsigned char)c) - 'a') < 6;
}

/* User and password bytes: unreserved, escaped, and the user-unreserved /
 * password punctuation of RFC 3261 §25.1. */
static bool valid_userinfo(const char *p, const char *end)
{
    static const char punct[] = "-_.!~*'()&=+$,;?/:";
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '%') {
            if (end - p < 3 || !is_hex(p[1]) || !is_hex(p[2]))
                return false;
            p += 2;
        } else if (!((unsigned char)(c - '0') < 10 || (unsigned char)(sip_lower(c) - 'a') < 26 ||
                     (c != 0 && memchr(punct, c, sizeof(punct) - 1) != NULL))) {
            return false;
        }
    }
    return true;
}

/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ); returns the colon. */
static const char *scheme_end(const char *p, const char *end)
{
    const char *q = p;
    if (q == end || (unsigned char)(sip_lower((unsigned char)*q) - 'a') >= 26)
        return NULL;
    while (q < end && *q != ':') {
        unsigned char c = (unsigned char)*q;
        if (!((unsigned char)(sip_lower(c) - 'a') < 26 || (unsigned char)(c - '0') < 10 ||
              c == '+' || c == '-' || c == '.'))
            return NULL;
        q++;
    }
    return q < end ? q : NULL;
}

static void note_param(struct sip_uri *uri, const struct sip_param *prm)
{
    bool valued = sip_str_present(prm->value);
    if (!valued && sip_str_ieq(prm->name, "lr", 2))
        uri->lr = true;
    else if (valued && sip_str_ieq(prm->name, "transport", 9))
        uri->transport = prm->value;
    else if (valued && sip_str_ieq(prm->name, "maddr", 5))
        uri->maddr = prm->value;
    else if (valued && sip_str_ieq(prm->name, "user", 4))
        uri->user_param = prm->value;
}

enum sip_err sip_uri_parse(const char *p, size_t len, struct sip_uri *uri)
{
    memset(uri, 0, sizeof(*uri));
    const char *end = p + len;
    const char *colon = scheme_end(p, end);
    if (colon == NULL)
        return SIP_ERR_URI;
    uri->scheme_str = (struct sip_str){p, (size_t)(colon - p)};
    if (sip_str_ieq(uri->scheme_str, "sip", 3)) {
        uri->scheme = SIP_SCHEME_SIP;
    } else if (sip_str_ieq(uri->scheme_str, "sips", 4)) {
        uri->scheme = SIP_SCHEME_SIPS;
    } else {
        uri->scheme = SIP_SCHEME_OTHER;
        for (const char *q = colon + 1; q < end; q++)
            if ((unsigned char)*q <= ' ' || *q == '<' || *q == '>' || *q == '"')
                return SIP_ERR_URI;
        return colon + 1 < end ? SIP_ERR_URI_SCHEME : SIP_ERR_URI;
    }
    const char *q = colon + 1;
    /* Userinfo cannot hold a raw '@', so the first one ends it. */
    const char *at = memchr(q, '@', (size_t)(end - q));
    if (at != NULL) {
        const char *pw = memchr(q, ':', (size_t)(at - q));
        const char *user_end = pw ? pw : at;
        if (user_end == q || !valid_userinfo(q, at))
            return SIP_ERR_URI;
        uri->user = (struct sip_str){q, (size_t)(user_end - q)};
        if (pw != NULL)
            uri->password = (struct sip_str){pw + 1, (size_t)(at - pw - 1)};
        q = at + 1;
    }
    enum sip_err err;
    q = sip_hostport_parse(q, end, &uri->hp, &err);
    if (q == NULL)
        return err;
    const char *qmark = memchr(q, '?', (size_t)(end - q));
    const char *params_end = qmark ? qmark : end;
    uri->params = (struct sip_str){q, (size_t)(params_end - q)};
    for (const char *c = q; c < params_end; c++)
        if ((unsigned char)*c <= ' ' || *c == '<' || *c == '>' || *c == '"')
            return SIP_ERR_URI;
    struct sip_str rest = uri->params;
    for (;;) {
        struct sip_param prm;
        bool found;
        if ((err = sip_param_next(&rest, &prm, &found, SIP_ERR_URI)) != SIP_OK)
            return err;
        if (!found)
            break;
        note_param(uri, &prm);
    }
    if (qmark != NULL) {
        uri->headers = (struct sip_str){qmark + 1, (size_t)(end - qmark - 1)};
        for (const char *c = qmark + 1; c < end; c++)
            if ((unsigned char)*c <= ' ' || *c == '<' || *c == '>' || *c == '"')
                return SIP_ERR_URI;
    }
    return SIP_OK;
}

/* display-name as *(token LWS): tokens separated by LWS. */
static bool valid_token_display(const char *p, const char *end)
{
    for (; p < end; p++)
        if (!sip_token_chars[(unsigned char)*p] && !sip_is_lws(*p))
            return false;
    return true;
}

enum sip_err sip_name_addr_parse(struct sip_str value, struct sip_name_addr *na)
{
    memset(na, 0, sizeof(*na));
    const char *p = value.p, *end = value.p + value.len;
    while (p < end && sip_is_lws(*p))
        p++;
    const char *lt;
    if (p < end && *p == '"') {
        const char *q = p + 1;
        for (; q < end && *q != '"'; q++)
            if (*q == '\\' && q + 1 < end)
                q++;
        if (q == end)
            return SIP_ERR_NAME_ADDR;
        na->display = (struct sip_str){p, (size_t)(q + 1 - p)};
        q++;
        while (q < end && sip_is_lws(*q))
            q++;
        if (q == end || *q != '<')
            return SIP_ERR_NAME_ADDR;
        lt = q;
    } else {
        lt = memchr(p, '<', (size_t)(end - p));
        if (lt != NULL) {
            const char *d = lt;
            while (d > p && sip_is_lws(d[-1]))
                d--;
            if (!valid_token_display(p, d))
                return SIP_ERR_NAME_ADDR;
            if (d > p)
                na->display = (struct sip_str){p, (size_t)(d - p)};
        }
    }
    const char *rest;
    if (lt != NULL) {
        const char *gt = memchr(lt, '>', (size_t)(end - lt));
        if (gt == NULL || gt == lt + 1)
            return SIP_ERR_NAME_ADDR;
        na->angle = true;
        na->uri = (struct sip_str){lt + 1, (size_t)(gt - lt - 1)};
        rest = gt + 1;
    } else {
        const char *semi = memchr(p, ';', (size_t)(end - p));
        const char *u_end = semi ? semi : end;
        while (u_end > p && sip_is_lws(u_end[-1]))
            u_end--;
        if (u_end == p || memchr(p, '?', (size_t)(u_end - p)) != NULL)
            return SIP_ERR_NAME_ADDR;
        na->uri = (struct sip_str){p, (size_t)(u_end - p)};
        rest = semi ? semi : end;
    }
    for (size_t i = 0; i < na->uri.len; i++)
        if (sip_is_lws(na->uri.p[i]))
            return SIP_ERR_NAME_ADDR;
    while (rest < end && sip_is_lws(*rest))
        rest++;
    na->params = (struct sip_str){rest, (size_t)(end - rest)};
    struct sip_str scan = na->params;
    for (;;) {
        struct sip_param prm;
        bool found;
        if (sip_param_next(&scan, &prm, &found, SIP_ERR_NAME_ADDR) != SIP_OK)
            return SIP_ERR_NAME_ADDR;
        if (!found)
            return SIP_OK;
    }
}
