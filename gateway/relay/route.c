/* route: target URI selection, static RFC 3263 answers and the
 * transparent-mode destination. */
#include "relay/route.h"

#include <arpa/inet.h>
#include <string.h>

#include "config/config.h"
#include "core/addr.h"
#include "sip/uri.h"

enum sip_err route_uri_host(struct sip_str uri, struct sip_hostport *hp)
{
    struct sip_name_addr na;
    enum sip_err err = sip_name_addr_parse(uri, &na);
    if (err)
        return err;
    struct sip_uri parsed;
    err = sip_uri_parse(na.uri.p, na.uri.len, &parsed);
    if (err)
        return err;
    *hp = parsed.hp;
    return SIP_OK;
}

/* name_is is true when string |name| equals |host|, ignoring ASCII case,
 * in one pass that stops at the first differing byte, without strlen. */
static bool name_is(const char *name, struct sip_str host)
{
    for (size_t i = 0; i < host.len; i++)
        if (name[i] == 0 ||
            sip_lower((unsigned char)name[i]) != sip_lower((unsigned char)host.p[i]))
            return false;
    return name[host.len] == 0;
}

static bool host_eq(struct sip_str host, const struct cfg_hostport *hp)
{
    struct sip_str h = host;
    if (h.len >= 2 && h.p[0] == '[') { /* IPv6 reference: compare without brackets */
        h.p++;
        h.len -= 2;
    }
    return name_is(hp->host, h);
}

bool route_names_self(const struct cfg_snapshot *cfg, const struct sip_hostport *hp)
{
    uint16_t port = hp->has_port ? hp->port : 5061;
    if (host_eq(hp->host, &cfg->identity.sent_by) && port == cfg->identity.sent_by.port)
        return true;
    for (size_t i = 0; i < cfg->n_identities; i++)
        if (host_eq(hp->host, &cfg->identities[i].sent_by) &&
            port == cfg->identities[i].sent_by.port)
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
    struct sip_uri ruri;
    enum sip_err err = sip_uri_parse(msg->uri.p, msg->uri.len, &ruri);
    if (!err)
        *hp = ruri.hp;
    return err;
}

void route_plan(const struct cfg_snapshot *cfg, const struct sip_msg *msg, struct route_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
    plan->verdict = ROUTE_UNROUTABLE;
    plan->refusal = M_503_OTHER;
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
    const struct cfg_route *r = cfg_route_find(cfg, hp.host.p, hp.host.len);
    if (r && r->n_targets > 0) {
        plan->verdict = ROUTE_OK;
        plan->targets = r->targets;
        plan->n_targets = r->n_targets;
        return;
    }
    plan->verdict = ROUTE_DNS; /* static routes win; DNS answers the rest */
    plan->port = hp.has_port ? hp.port : 0;
}

void route_plan_transparent(struct route_plan *plan, const struct conn_key *dst,
                            struct cfg_hostport *storage)
{
    char domain[256];
    unsigned char addr[16];
    if (plan->domain.len == 0 || plan->domain.len >= sizeof(domain))
        return;
    memcpy(domain, plan->domain.p, plan->domain.len);
    domain[plan->domain.len] = 0;
    if (domain[0] == '[' || inet_pton(AF_INET, domain, addr) == 1 ||
        inet_pton(AF_INET6, domain, addr) == 1)
        return; /* route_plan already refused it: no identity can match */
    memset(storage, 0, sizeof(*storage));
    addr_ip_format(dst->family, dst->addr, storage->host, sizeof(storage->host));
    storage->port = dst->port;
    storage->is_ipv6_literal = dst->family == AF_INET6;
    plan->verdict = ROUTE_OK;
    plan->why = NULL;
    plan->targets = storage;
    plan->n_targets = 1;
}
