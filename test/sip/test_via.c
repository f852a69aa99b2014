/* Via parsing: protocol, sent-by, parameters, RFC 5923 alias. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sip/via.h"
#include "testutil.h"

static enum sip_err via(const char *text, struct sip_via *v)
{
    return sip_via_parse((struct sip_str){text, strlen(text)}, v, NULL, 0);
}

static void test_full_via(void **state)
{
    struct sip_via v;
    struct sip_param params[8];
    const char *t = "SIP/2.0/TLS edge7.example.org:5071;branch=z9hG4bK.w4Tq9e;rport=40112;alias;"
                    "received=198.51.100.23;maddr=224.2.0.1;ttl=16;x-foo=\"a b\";flag";
    assert_int_equal(sip_via_parse((struct sip_str){t, strlen(t)}, &v, params, 8), SIP_OK);
    assert_sip_str_equal(v.name, "SIP");
    assert_sip_str_equal(v.version, "2.0");
    assert_sip_str_equal(v.transport, "TLS");
    assert_sip_str_equal(v.sent_by, "edge7.example.org:5071");
    assert_sip_str_equal(v.hp.host, "edge7.example.org");
    assert_int_equal(v.hp.kind, SIP_HOST_DNS);
    assert_true(v.hp.has_port);
    assert_int_equal(v.hp.port, 5071);
    assert_sip_str_equal(v.branch, "z9hG4bK.w4Tq9e");
    assert_true(v.has_rport);
    assert_sip_str_equal(v.rport, "40112");
    assert_sip_str_equal(v.received, "198.51.100.23");
    assert_sip_str_equal(v.maddr, "224.2.0.1");
    assert_sip_str_equal(v.ttl, "16");
    assert_true(v.alias);
    assert_int_equal(v.nparams, 8);
    assert_sip_str_equal(params[6].name, "x-foo");
    assert_sip_str_equal(params[6].value, "\"a b\"");
    assert_sip_str_equal(params[7].name, "flag");
    assert_null(params[7].value.p);
    assert_sip_str_equal(v.params,
                         ";branch=z9hG4bK.w4Tq9e;rport=40112;alias;received=198.51.100.23;"
                         "maddr=224.2.0.1;ttl=16;x-foo=\"a b\";flag");
    /* R-5923-17: the alias port is the sent-by port, never rport. */
    assert_int_equal(sip_via_port(&v), 5071);
    assert_int_equal(sip_via_parse((struct sip_str){t, strlen(t)}, &v, params, 7),
                     SIP_ERR_TOO_MANY_PARAMS);
}

/* R-5923-01: `alias` is a value-less flag matched case-insensitively;
 * `alias=x` is a generic parameter and no error. */
static void test_alias_flag_r_5923_01(void **state)
{
    struct sip_via v;
    assert_int_equal(via("SIP/2.0/TLS h;ALIAS", &v), SIP_OK);
    assert_true(v.alias);
    assert_int_equal(via("SIP/2.0/TLS h;branch=z9hG4bK1 ; Alias ", &v), SIP_OK);
    assert_true(v.alias);
    assert_int_equal(via("SIP/2.0/TLS h;alias=1", &v), SIP_OK);
    assert_false(v.alias);
    assert_int_equal(v.nparams, 1);
    assert_int_equal(via("SIP/2.0/TLS h;aliases", &v), SIP_OK);
    assert_false(v.alias);
    assert_int_equal(via("SIP/2.0/TLS h;branch=alias", &v), SIP_OK);
    assert_false(v.alias);
}

/* R-5923-17: without a sent-by port the TLS default 5061 applies, even when
 * rport carries the ephemeral source port. */
static void test_default_port_r_5923_17(void **state)
{
    struct sip_via v;
    assert_int_equal(via("SIP/2.0/TLS h.example.com;rport=40112;alias", &v), SIP_OK);
    assert_false(v.hp.has_port);
    assert_int_equal(sip_via_port(&v), 5061);
    assert_int_equal(via("SIP/2.0/tls-sctp h", &v), SIP_OK);
    assert_int_equal(sip_via_port(&v), 5061);
    assert_int_equal(via("SIP/2.0/TCP h", &v), SIP_OK);
    assert_int_equal(sip_via_port(&v), 5060);
}

static void test_hosts(void **state)
{
    struct sip_via v;
    assert_int_equal(via("SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bKa", &v), SIP_OK);
    assert_int_equal(v.hp.kind, SIP_HOST_IPV6);
    assert_sip_str_equal(v.hp.host, "[2001:db8::1]");
    assert_sip_str_equal(sip_host_address(&v.hp), "2001:db8::1");
    assert_int_equal(v.hp.port, 5061);
    assert_int_equal(via("SIP/2.0/UDP 192.0.2.1", &v), SIP_OK);
    assert_int_equal(v.hp.kind, SIP_HOST_IPV4);
    assert_int_equal(via("SIP/2.0/UDP 192.0.2.256", &v), SIP_OK);
    assert_int_equal(v.hp.kind, SIP_HOST_DNS);
    assert_int_equal(via("SIP/2.0/UDP 1920.0.2.1", &v), SIP_OK);
    assert_int_equal(v.hp.kind, SIP_HOST_DNS);
    assert_int_equal(via("SIP/2.0/UDP 192.0.2", &v), SIP_OK);
    assert_int_equal(v.hp.kind, SIP_HOST_DNS);
    assert_int_equal(via("SIP/2.0/UDP [0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:1]", &v),
                     SIP_ERR_HOST);
    assert_sip_str_equal(sip_host_address(&(struct sip_hostport){{"h", 1}, SIP_HOST_DNS, false, 0}),
                         "h");
    assert_int_equal(via("SIP/2.0/UDP [2001:db8::zz]", &v), SIP_ERR_HOST);
    assert_int_equal(via("SIP/2.0/UDP [::1", &v), SIP_ERR_HOST);
    assert_int_equal(via("SIP/2.0/UDP h:65536", &v), SIP_ERR_PORT);
    assert_int_equal(via("SIP/2.0/UDP h:0", &v), SIP_ERR_PORT);
    assert_int_equal(via("SIP/2.0/UDP h:", &v), SIP_ERR_PORT);
    assert_int_equal(via("SIP/2.0/UDP h:65535", &v), SIP_OK);
    assert_int_equal(v.hp.port, 65535);
}

static void test_lws_everywhere(void **state)
{
    struct sip_via v;
    /* From RFC 4475 wsinv: LWS and folding around every separator. */
    const char *t = "SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw";
    assert_int_equal(via(t, &v), SIP_OK);
    assert_sip_str_equal(v.transport, "UDP");
    assert_sip_str_equal(v.sent_by, "192.0.2.2");
    assert_sip_str_equal(v.branch, "390skdjuw");
    t = "SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8";
    assert_int_equal(via(t, &v), SIP_OK);
    assert_sip_str_equal(v.sent_by, "spindle.example.com");
    assert_sip_str_equal(v.branch, "z9hG4bK9ikj8");
    assert_int_equal(via("SIP/2.0/TLS h ; rport ; alias", &v), SIP_OK);
    assert_true(v.has_rport);
    assert_int_equal(v.rport.len, 0);
    assert_true(v.alias);
}

static void test_bad_vias(void **state)
{
    struct sip_via v;
    const char *bad[] = {
        "",
        "SIP/2.0/TLS",
        "SIP/2.0/TLS ",
        "SIP/2.0 TLS h",
        "SIP/2.0/TLSh",
        "SIP/2.0/TLS h junk",
        "SIP/2.0/TLS h;",
        "SIP/2.0/TLS h;=x",
        "SIP/2.0/TLS h;x=\"open",
        "/2.0/TLS h",
        "SIP",
        "SIP/",
        "SIP/2.0",
        "SIP/2.0/",
        "SIP 2.0/TLS h",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        enum sip_err err = via(bad[i], &v);
        if (err == SIP_OK)
            fail_msg("accepted bad Via \"%s\"", bad[i]);
    }
}

static void test_first_via_of_message(void **state)
{
    const char *msg = "SIP/2.0 200 OK\r\n"
                      "Via: SIP/2.0/TLS first.example.com;branch=z9hG4bK1, SIP/2.0/TCP second\r\n"
                      "Via: SIP/2.0/TCP third;alias\r\n\r\n";
    struct sip_header h[8];
    struct sip_msg m;
    struct sip_via v;
    assert_int_equal(sip_parse(msg, strlen(msg), &m, h, 8), SIP_OK);
    assert_int_equal(sip_via_parse_first(&m, &v, NULL, 0), SIP_OK);
    assert_sip_str_equal(v.parm, "SIP/2.0/TLS first.example.com;branch=z9hG4bK1");
    assert_int_equal(v.parm.p - msg, strlen("SIP/2.0 200 OK\r\nVia: "));
    /* alias in a Via other than the topmost does not count. */
    assert_false(v.alias);
    const char *none = "SIP/2.0 200 OK\r\nl: 0\r\n\r\n";
    assert_int_equal(sip_parse(none, strlen(none), &m, h, 8), SIP_OK);
    assert_int_equal(sip_via_parse_first(&m, &v, NULL, 0), SIP_ERR_MISSING_VIA);
    const char *empty = "SIP/2.0 200 OK\r\nVia: ,\r\n\r\n";
    assert_int_equal(sip_parse(empty, strlen(empty), &m, h, 8), SIP_OK);
    assert_int_equal(sip_via_parse_first(&m, &v, NULL, 0), SIP_ERR_VIA);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_via),
        cmocka_unit_test(test_alias_flag_r_5923_01),
        cmocka_unit_test(test_default_port_r_5923_17),
        cmocka_unit_test(test_hosts),
        cmocka_unit_test(test_lws_everywhere),
        cmocka_unit_test(test_bad_vias),
        cmocka_unit_test(test_first_via_of_message),
    };
    return cmocka_run_group_tests_name("sip_via", tests, NULL, NULL);
}
