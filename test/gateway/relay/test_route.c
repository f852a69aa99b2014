/* Unit tests of gateway/route: which URI a request from the legacy proxy is
 * routed by, the static-route answer, and the 503 verdicts (IP literal per
 * RFC 5922 §7.3, unknown domain). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"
#include "relay/route.h"
#include "sip/message.h"

static struct cfg_hostport listen_addr = {.host = "127.0.0.2", .port = 5061};
static struct cfg_hostport b_targets[] = {{.host = "127.0.0.3", .port = 5061},
                                          {.host = "127.0.0.4", .port = 5062}};
static struct cfg_route routes[] = {{.domain = "b.test", .targets = b_targets, .n_targets = 2}};

static void make_cfg(struct cfg_snapshot *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->identity.sent_by.host, sizeof(cfg->identity.sent_by.host), "a.test");
    cfg->identity.sent_by.port = 5061;
    cfg->tls.listen = &listen_addr;
    cfg->tls.n_listen = 1;
    cfg->routes = routes;
    cfg->n_routes = 1;
    cfg_index_routes(cfg);
}

static struct sip_header headers[64];

static void parse(const char *text, struct sip_msg *msg)
{
    assert_int_equal(sip_parse(text, strlen(text), msg, headers, 64), SIP_OK);
}

#define REQ(ruri, extra)                                                                           \
    "OPTIONS " ruri " SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK1\r\n" extra        \
    "From: <sip:x@a.test>;tag=1\r\nTo: <sip:y@b.test>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n"       \
    "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"

static void uri_host_forms(void **state)
{
    struct sip_hostport hp;
    assert_int_equal(route_uri_host(SIP_STR_LIT("sip:bob@b.test:5071;transport=tls"), &hp), SIP_OK);
    assert_true(sip_str_ieq(hp.host, "b.test", 6));
    assert_true(hp.has_port);
    assert_int_equal(hp.port, 5071);
    assert_int_equal(route_uri_host(SIP_STR_LIT("\"Bob\" <sips:B.Test;lr>;x=1"), &hp), SIP_OK);
    assert_true(sip_str_ieq(hp.host, "b.test", 6));
    assert_false(hp.has_port);
    assert_int_equal(route_uri_host(SIP_STR_LIT("sip:[::1]:5061"), &hp), SIP_OK);
    assert_int_equal(hp.kind, SIP_HOST_IPV6);
    assert_int_equal(route_uri_host(SIP_STR_LIT("tel:+15551234"), &hp), SIP_ERR_URI_SCHEME);
    assert_int_not_equal(route_uri_host(SIP_STR_LIT("<sip:b.test"), &hp), SIP_OK);
}

static void request_uri_with_static_route(void **state)
{
    struct cfg_snapshot cfg;
    make_cfg(&cfg);
    struct sip_msg msg;
    parse(REQ("sip:bob@B.TEST", ""), &msg);
    struct route_plan plan;
    route_plan(&cfg, &msg, &plan);
    assert_int_equal(plan.verdict, ROUTE_OK);
    assert_ptr_equal(plan.targets, b_targets);
    assert_int_equal(plan.n_targets, 2);
    assert_true(sip_str_ieq(plan.domain, "b.test", 6));
    assert_null(plan.self_route);
    cfg_unindex_routes(&cfg);
}

static void route_header_wins_and_self_route_is_popped(void **state)
{
    struct cfg_snapshot cfg;
    make_cfg(&cfg);
    struct sip_msg msg;
    struct route_plan plan;
    /* A Route naming another domain decides over the Request-URI. */
    parse(REQ("sip:bob@c.test", "Route: <sip:b.test;lr>\r\n"), &msg);
    route_plan(&cfg, &msg, &plan);
    assert_int_equal(plan.verdict, ROUTE_OK);
    assert_null(plan.self_route);
    /* A Route naming reusegw (sent_by host, default port) is popped: the
     * next entry decides. */
    parse(REQ("sip:bob@c.test", "Route: <sip:a.test;lr>, <sip:b.test;lr>\r\n"), &msg);
    route_plan(&cfg, &msg, &plan);
    assert_int_equal(plan.verdict, ROUTE_OK);
    assert_non_null(plan.self_route);
    assert_true(sip_str_ieq(plan.domain, "b.test", 6));
    /* ... or, with no entry left, the Request-URI. */
    parse(REQ("sip:bob@b.test", "Route: <sip:127.0.0.2:5061;lr>\r\n"), &msg);
    route_plan(&cfg, &msg, &plan);
    assert_int_equal(plan.verdict, ROUTE_OK);
    assert_non_null(plan.self_route);
    /* Same host, other port: not reusegw; no static route, so DNS on that
     * explicit port. */
    parse(REQ("sip:bob@b.test", "Route: <sip:a.test:5062;lr>\r\n"), &msg);
    route_plan(&cfg, &msg, &plan);
    assert_int_equal(plan.verdict, ROUTE_DNS);
    assert_int_equal(plan.port, 5062);
    assert_null(plan.self_route);
    cfg_unindex_routes(&cfg);
}

static void unroutable_verdicts_say_why(void **state)
{
    struct cfg_snapshot cfg;
    make_cfg(&cfg);
    struct sip_msg msg;
    struct route_plan plan;
    parse(REQ("sip:127.0.0.3:5061", ""), &msg);
    route_plan(&cfg, &msg, &plan);
    assert_int_equal(plan.verdict, ROUTE_UNROUTABLE);
    assert_non_null(strstr(plan.why, "RFC 5922"));
    parse(REQ("sip:[::1]:5061", ""), &msg);
    route_plan(&cfg, &msg, &plan);
    assert_int_equal(plan.verdict, ROUTE_UNROUTABLE);
    /* A domain without a static route is DNS's to answer (dns_route.h). */
    parse(REQ("sip:nowhere.test", ""), &msg);
    route_plan(&cfg, &msg, &plan);
    assert_int_equal(plan.verdict, ROUTE_DNS);
    assert_int_equal(plan.port, 0);
    assert_true(sip_str_ieq(plan.domain, "nowhere.test", 12));
    cfg_unindex_routes(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uri_host_forms),
        cmocka_unit_test(request_uri_with_static_route),
        cmocka_unit_test(route_header_wins_and_self_route_is_popped),
        cmocka_unit_test(unroutable_verdicts_say_why),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
