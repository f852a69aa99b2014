/* SIP/SIPS URIs and name-addr / addr-spec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sip/uri.h"
#include "testutil.h"

static enum sip_err uri(const char *text, struct sip_uri *u)
{
    return sip_uri_parse(text, strlen(text), u);
}

static void test_full_uri(void **state)
{
    struct sip_uri u;
    assert_int_equal(uri("sips:alice:secret@Example.COM:5061;transport=tls;lr;maddr=[::1];"
                         "user=phone?subject=x&priority=urgent",
                         &u),
                     SIP_OK);
    assert_int_equal(u.scheme, SIP_SCHEME_SIPS);
    assert_sip_str_equal(u.scheme_str, "sips");
    assert_sip_str_equal(u.user, "alice");
    assert_sip_str_equal(u.password, "secret");
    assert_sip_str_equal(u.hp.host, "Example.COM");
    assert_int_equal(u.hp.port, 5061);
    assert_sip_str_equal(u.transport, "tls");
    assert_true(u.lr);
    assert_sip_str_equal(u.maddr, "[::1]");
    assert_sip_str_equal(u.user_param, "phone");
    assert_sip_str_equal(u.params, ";transport=tls;lr;maddr=[::1];user=phone");
    assert_sip_str_equal(u.headers, "subject=x&priority=urgent");
}

static void test_minimal_and_hosts(void **state)
{
    struct sip_uri u;
    assert_int_equal(uri("sip:example.com", &u), SIP_OK);
    assert_int_equal(u.scheme, SIP_SCHEME_SIP);
    assert_null(u.user.p);
    assert_false(u.hp.has_port);
    assert_int_equal(u.params.len, 0);
    assert_null(u.headers.p);
    assert_false(u.lr);
    assert_int_equal(uri("SIP:[2001:db8::5]:5070;lr", &u), SIP_OK);
    assert_int_equal(u.hp.kind, SIP_HOST_IPV6);
    assert_int_equal(u.hp.port, 5070);
    assert_true(u.lr);
    assert_int_equal(uri("sip:10.0.0.1", &u), SIP_OK);
    assert_int_equal(u.hp.kind, SIP_HOST_IPV4);
    /* RFC 4475 semiuri and escnull: ';' and %00 inside the user part. */
    assert_int_equal(uri("sip:user;par=u%40example.net@example.com", &u), SIP_OK);
    assert_sip_str_equal(u.user, "user;par=u%40example.net");
    assert_sip_str_equal(u.hp.host, "example.com");
    assert_int_equal(uri("sip:null-%00-null@example.com", &u), SIP_OK);
    assert_sip_str_equal(u.user, "null-%00-null");
}

static void test_other_schemes(void **state)
{
    struct sip_uri u;
    assert_int_equal(uri("tel:+1-201-555-0123", &u), SIP_ERR_URI_SCHEME);
    assert_int_equal(u.scheme, SIP_SCHEME_OTHER);
    assert_sip_str_equal(u.scheme_str, "tel");
    assert_int_equal(uri("http:", &u), SIP_ERR_URI);
}

static void test_bad_uris(void **state)
{
    struct sip_uri u;
    const char *bad[] = {
        "",          "sip",         ":x",     "sip:",     "sip:@host",  "sip:a b@h",
        "sip:u%4@h", "sip:h:99999", "sip:h;", "sip:h;=x", "sip:h junk", "sip:[::1",
        "<sip:h>",   "sip:h?a b",   "1sip:h", "sip:u@",   "sip:h;lr\"",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (uri(bad[i], &u) == SIP_OK)
            fail_msg("accepted bad URI \"%s\"", bad[i]);
}

static enum sip_err na(const char *text, struct sip_name_addr *out)
{
    return sip_name_addr_parse((struct sip_str){text, strlen(text)}, out);
}

static void test_name_addr(void **state)
{
    struct sip_name_addr a;
    assert_int_equal(na("\"Bob \\\"B\\\" <x>\" <sip:bob@example.com;lr>;tag=9;q=0.5", &a), SIP_OK);
    assert_sip_str_equal(a.display, "\"Bob \\\"B\\\" <x>\"");
    assert_sip_str_equal(a.uri, "sip:bob@example.com;lr");
    assert_true(a.angle);
    assert_sip_str_equal(a.params, ";tag=9;q=0.5");
    struct sip_param tag;
    assert_true(sip_param_find(a.params, "tag", &tag));
    assert_sip_str_equal(tag.value, "9");
    assert_false(sip_param_find(a.params, "expires", &tag));

    assert_int_equal(na("Bob Smith <sip:b@h>", &a), SIP_OK);
    assert_sip_str_equal(a.display, "Bob Smith");
    assert_int_equal(na("caller<sip:caller@example.com>;tag=323", &a), SIP_OK);
    assert_sip_str_equal(a.display, "caller");
    assert_int_equal(na("<sip:services.example.com;lr;unknownwith=value;unknown-no-value>", &a),
                     SIP_OK);
    assert_null(a.display.p);
    assert_int_equal(na("sip:a@b;tag=1", &a), SIP_OK);
    assert_false(a.angle);
    assert_sip_str_equal(a.uri, "sip:a@b");
    assert_sip_str_equal(a.params, ";tag=1");
}

static void test_bad_name_addrs(void **state)
{
    struct sip_name_addr a;
    const char *bad[] = {
        "\"unterminated <sip:a@b>", "Bad<Name <sip:a@b>", /* '<' twice: display is not tokens */
        "J@Doe <sip:a@b>",          "< sip:a@b >",        "<sip:a@b",       "<>",
        "sip:a@b?Route=x",          "\"x\" sip:a@b",      "<sip:a@b> junk", "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (na(bad[i], &a) == SIP_OK)
            fail_msg("accepted bad name-addr \"%s\"", bad[i]);
}

static void test_param_lists(void **state)
{
    const char *text = " ;\r\n a = 1 ;b;c=\"x;\\\"y\";d=";
    struct sip_str rest = {text, strlen(text)};
    struct sip_param p;
    bool found;
    assert_int_equal(sip_param_next(&rest, &p, &found, SIP_ERR_URI), SIP_OK);
    assert_true(found);
    assert_sip_str_equal(p.name, "a");
    assert_sip_str_equal(p.value, "1");
    assert_int_equal(sip_param_next(&rest, &p, &found, SIP_ERR_URI), SIP_OK);
    assert_sip_str_equal(p.name, "b");
    assert_null(p.value.p);
    assert_int_equal(sip_param_next(&rest, &p, &found, SIP_ERR_URI), SIP_OK);
    assert_sip_str_equal(p.value, "\"x;\\\"y\"");
    assert_int_equal(sip_param_next(&rest, &p, &found, SIP_ERR_URI), SIP_OK);
    assert_sip_str_equal(p.name, "d");
    assert_non_null(p.value.p);
    assert_int_equal(p.value.len, 0);
    assert_int_equal(sip_param_next(&rest, &p, &found, SIP_ERR_URI), SIP_OK);
    assert_false(found);
    /* The caller chooses the error code a bad list reports. */
    const char *bad[] = {"x", ";", "; =1", ";a=\"open", ";a;;b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct sip_str r = {bad[i], strlen(bad[i])};
        enum sip_err err = SIP_OK;
        while (err == SIP_OK) {
            err = sip_param_next(&r, &p, &found, SIP_ERR_VIA);
            if (err == SIP_OK && !found)
                fail_msg("accepted parameter list \"%s\"", bad[i]);
        }
        assert_int_equal(err, SIP_ERR_VIA);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_uri),      cmocka_unit_test(test_minimal_and_hosts),
        cmocka_unit_test(test_other_schemes), cmocka_unit_test(test_bad_uris),
        cmocka_unit_test(test_name_addr),     cmocka_unit_test(test_bad_name_addrs),
        cmocka_unit_test(test_param_lists),
    };
    return cmocka_run_group_tests_name("sip_uri", tests, NULL, NULL);
}
