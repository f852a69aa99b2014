/* libFuzzer target for gateway/route: any message the legacy proxy could
 * send is parsed and routed under a fixed configuration. Invariants: a
 * verdict always comes with targets or a reason, the domain is a slice of
 * the input, an IP literal is never routed (RFC 5922 §7.3), the route
 * table agrees with a plain walk of the routes, and a popped
 * Route is the message's first one. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "fuzz_check.h"
#include "relay/route.h"
#include "sip/message.h"

static struct cfg_hostport listen_addr = {.host = "127.0.0.2", .port = 5061};
static struct cfg_hostport targets[][1] = {{{.host = "127.0.0.3", .port = 5061}},
                                           {{.host = "127.0.0.4", .port = 5061}}};
static struct cfg_route routes[] = {
    {.domain = "b.test", .targets = targets[0], .n_targets = 1},
    {.domain = "example.com", .targets = targets[1], .n_targets = 1},
};

/* static_route is the index of the route named |domain| by the plain
 * definition (every route, ignoring ASCII case), or -1: what the route
 * table must agree with. */
static int static_route(struct sip_str domain)
{
    for (int i = 0; i < (int)(sizeof(routes) / sizeof(routes[0])); i++)
        if (sip_str_ieq(domain, routes[i].domain, strlen(routes[i].domain)))
            return i;
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cfg_snapshot cfg;
    if (cfg.tls.n_listen == 0) {
        snprintf(cfg.identity.sent_by.host, sizeof(cfg.identity.sent_by.host), "a.test");
        cfg.identity.sent_by.port = 5061;
        cfg.tls.listen = &listen_addr;
        cfg.tls.n_listen = 1;
        cfg.routes = routes;
        cfg.n_routes = 2;
        cfg_index_routes(&cfg);
    }
    static struct sip_header headers[128];
    struct sip_msg msg;
    const char *buf = (const char *)data;
    if (sip_parse(buf, size, &msg, headers, 128) != SIP_OK || !msg.is_request)
        return 0;
    struct route_plan plan;
    route_plan(&cfg, &msg, &plan);
    if (plan.verdict == ROUTE_OK) {
        int r = static_route(plan.domain);
        FUZZ_CHECK(r >= 0 && plan.targets == routes[r].targets && plan.n_targets == 1);
        FUZZ_CHECK(plan.domain.p >= buf && plan.domain.p + plan.domain.len <= buf + size);
        FUZZ_CHECK(plan.domain.len > 0 && plan.domain.p[0] != '[');
    } else if (plan.verdict == ROUTE_DNS) {
        /* No static route: a DNS name inside the message, never an IP literal. */
        FUZZ_CHECK(plan.domain.p >= buf && plan.domain.p + plan.domain.len <= buf + size);
        FUZZ_CHECK(plan.domain.len > 0 && plan.domain.p[0] != '[');
        FUZZ_CHECK(static_route(plan.domain) < 0);
    } else {
        /* No static route: RFC 3263 DNS takes over (gateway/relay/dns_route.h). */
        FUZZ_CHECK(plan.verdict == ROUTE_DNS ||
                   (plan.verdict == ROUTE_UNROUTABLE && plan.why && *plan.why));
    }
    if (plan.self_route)
        FUZZ_CHECK(plan.self_route == sip_msg_header(&msg, SIP_HDR_ROUTE));
    for (const struct sip_header *h = sip_msg_header(&msg, SIP_HDR_CONTACT); h;
         h = sip_msg_next(&msg, h)) {
        struct sip_hostport hp;
        if (route_uri_host(h->value, &hp) == SIP_OK)
            FUZZ_CHECK(hp.host.p >= h->value.p &&
                       hp.host.p + hp.host.len <= h->value.p + h->value.len);
    }
    return 0;
}
