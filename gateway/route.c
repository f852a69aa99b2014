/* route: target URI selection and static RFC 3263 answers. */
#include "route.h"

#include <string.h>
#include <strings.h>

#include "config/config.h"

enum sip_err route_uri_host(struct sip_str uri, struct sip_hostport *hp)
{
    const char *p = uri.p, *end = uri.p + uri.len;
    const char *lt = memchr(p, '<', uri.len);
    if (lt) {
        const char *gt = memchr(lt, '>', (size_t)(end - lt));
        if (!gt)
            return SIP_ERR_NAME_ADDR;
        p = lt + 1;
        end = gt;
    }
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    size_t n = (size_t)(end - p);
    if (n >= 4 && strncasecmp(p, "sip:", 4) == 0)
        p += 4;
    else if (n >= 5 && strncasecmp(p, "sips:", 5) == 0)
        p += 5;
    else
        return SIP_ERR_URI_SCHEME;
    /* userinfo ends at the last '@' before the host's parameters begin. */
    const char *stop = p;
    while (stop < end && *stop != ';' && *stop != '?' && *stop != '>')
        stop++;
    for (const char *q = stop; q > p; q--)
        if (q[-1] == '@') {
            p = q;
            break;
        }
    enum sip_err err = SIP_OK;
    const char *after = sip_hostport_parse(p, stop, hp, &err);
    if (!after)
        return err;
    return after == stop ? SIP_OK : SIP_ERR_URI;
}

static bool host_eq(struct sip_str host, const struct cfg_hostport *hp)
{
    struct sip_str h = host;
    if (h.len >= 2 && h.p[0] == '[') { /* IPv6 reference: compare without brackets */
        h.p++;
        h.len -= 2;
    }
    return strlen(hp->host) == h.len && strncasecmp(hp->host, h.p, h.len) == 0;
}

bool route_names_self(const struct cfg_snapshot *cfg, const struct sip_hostport *hp)
{
    uint16_t port = hp->has_port ? hp->port : 5061;
    if (host_eq(hp->host, &cfg->identity.sent_by) && port == cfg->identity.sent_by.port)
        return true;
    for (size_t i = 0; i < cfg->tls.n_listen; i++)
        if (host_eq(hp->host, &cfg->tls.listen[i]) && port == cfg->tls.listen[i].port)
            return true;
    return false;
}

static enum sip_err target_of(const struct cfg_snapshot *cfg, const struct sip_msg *msg,
                              struct sip_hostport *hp, const struct sip_header **self_route)
{
    *self_route = NULL;
    const struct sip_header *route = sip_msg_header(msg, SIP_HDR_ROUTE);
    for (int popped = 0; route && popped < 2; popped++) {
        struct sip_str rest = route->value, first;
        if (!sip_list_next(&rest, &first))
            return SIP_ERR_NAME_ADDR;
        enum sip_err err = route_uri_host(first, hp);
        if (err)
            return err;
        if (*self_route || !route_names_self(cfg, hp))
            return SIP_OK;
        *self_route = route;
        /* The next route set entry: the rest of this header, or the next one. */
        struct sip_str next;
        if (sip_list_next(&rest, &next)) {
            err = route_uri_host(next, hp);
            return err;
        }
        route = sip_msg_next(msg, route);
    }
    return route_uri_host(msg->uri, hp);
}

void route_plan(const struct cfg_snapshot *cfg, const struct sip_msg *msg, struct route_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
    plan->verdict = ROUTE_UNROUTABLE;
    struct sip_hostport hp;
    if (target_of(cfg, msg, &hp, &plan->self_route) != SIP_OK) {
        plan->why = "unparseable target URI";
        return;
    }
    plan->domain = hp.host;
    if (hp.kind != SIP_HOST_DNS) {
        plan->why = "target is an IP address: no certificate identity can match it "
                    "(RFC 5922 7.3)";
        return;
    }
    for (size_t i = 0; i < cfg->n_routes; i++) {
        const struct cfg_route *r = &cfg->routes[i];
        if (strlen(r->domain) == hp.host.len &&
            strncasecmp(r->domain, hp.host.p, hp.host.len) == 0 && r->n_targets > 0) {
            plan->verdict = ROUTE_OK;
            plan->targets = r->targets;
            plan->n_targets = r->n_targets;
            return;
        }
    }
    plan->verdict = ROUTE_DNS; /* static routes win; DNS answers the rest */
    plan->port = hp.has_port ? hp.port : 0;
}
