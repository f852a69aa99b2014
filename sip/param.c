#include "sip/param.h"

#include <string.h>

#include "sip/chars.h"

static bool is_stop(char c)
{
    return sip_param_stop[(unsigned char)c];
}

enum sip_err sip_param_next(struct sip_str *rest, struct sip_param *out, bool *found,
                            enum sip_err syntax_err)
{
    const char *p = rest->p, *end = rest->p + rest->len;
    *found = false;
    while (p < end && sip_is_lws(*p))
        p++;
    if (p == end) {
        rest->p = end;
        rest->len = 0;
        return SIP_OK;
    }
    if (*p != ';')
        return syntax_err;
    p++;
    while (p < end && sip_is_lws(*p))
        p++;
    const char *name = p;
    while (p < end && !is_stop(*p))
        p++;
    if (p == name)
        return syntax_err;
    out->name = (struct sip_str){name, (size_t)(p - name)};
    out->value = (struct sip_str){NULL, 0};
    const char *q = p;
    while (q < end && sip_is_lws(*q))
        q++;
    if (q < end && *q == '=') {
        q++;
        while (q < end && sip_is_lws(*q))
            q++;
        const char *value = q;
        if (q < end && *q == '"') {
            for (q++; q < end && *q != '"'; q++)
                if (*q == '\\' && q + 1 < end)
                    q++;
            if (q == end)
                return syntax_err;
            q++;
        } else {
            while (q < end && !is_stop(*q))
                q++;
        }
        out->value = (struct sip_str){value, (size_t)(q - value)};
        p = q;
    }
    rest->p = p;
    rest->len = (size_t)(end - p);
    *found = true;
    return SIP_OK;
}

bool sip_param_find(struct sip_str list, const char *lower_name, struct sip_param *out)
{
    size_t len = strlen(lower_name);
    for (;;) {
        bool found;
        if (sip_param_next(&list, out, &found, SIP_ERR_NAME_ADDR) || !found)
            return false;
        if (sip_str_ieq(out->name, lower_name, len))
            return true;
    }
}
