/* RFC 5922 §7.1/§7.2 identity extraction and matching, RFC 5924 EKU policy,
 * straight on certificates from test/certs/gen.sh (no handshake). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/x509.h>

#include "tls/identities.h"
#include "pki_cert.h"
#include "tls_test_support.h"

static bool has(const struct tls_identities *ids, const char *host)
{
    return tls_identities_contains(ids, host, strlen(host));
}

static void assert_exactly(const char *leaf, const char *const *names, size_t n)
{
    struct tls_identities *ids = pki_identities_load(leaf);
    assert_int_equal(tls_identities_count(ids), n);
    for (size_t i = 0; i < n; i++)
        assert_true(has(ids, names[i]));
    tls_identities_unref(ids);
}

static void sip_uri_san_wins_over_dns(void **state)
{
    assert_exactly("sipuri", (const char *const[]){"sipuri.test"}, 1);
    struct tls_identities *ids = pki_identities_load("sipuri");
    assert_false(has(ids, "other.test")); /* dNSName ignored beside a sip URI */
    tls_identities_unref(ids);
}

static void dns_only_uses_dns_not_cn(void **state)
{
    assert_exactly("dnsonly", (const char *const[]){"dns.test"}, 1);
    struct tls_identities *ids = pki_identities_load("dnsonly");
    assert_false(has(ids, "ignored-cn.test"));
    tls_identities_unref(ids);
}

static void cn_only_without_san(void **state)
{
    assert_exactly("cnonly", (const char *const[]){"cn.test"}, 1);
}

static void ip_san_gives_nothing_and_hides_cn(void **state)
{
    struct tls_identities *ids = pki_identities_load("ipsan");
    assert_int_equal(tls_identities_count(ids), 0);
    assert_false(has(ids, "ipsan.test"));
    assert_false(has(ids, "127.0.0.1"));
    tls_identities_unref(ids);
}

static void wildcard_is_literal(void **state)
{
    struct tls_identities *ids = pki_identities_load("wildcard");
    assert_int_equal(tls_identities_count(ids), 1);
    assert_true(has(ids, "*.wild.test"));
    assert_false(has(ids, "x.wild.test"));
    assert_false(has(ids, "wild.test"));
    tls_identities_unref(ids);
}

static void virtual_server_two_domains(void **state)
{
    assert_exactly("virtual", (const char *const[]){"a.virt.test", "b.virt.test"}, 2);
}

static void sips_and_userinfo_ignored(void **state)
{
    struct tls_identities *ids = pki_identities_load("sipsuser");
    assert_int_equal(tls_identities_count(ids), 1);
    assert_true(has(ids, "fallback.test"));
    assert_false(has(ids, "sips.test"));
    assert_false(has(ids, "user.test"));
    tls_identities_unref(ids);
}

static void matching_is_whole_string_case_insensitive(void **state)
{
    struct tls_identities *ids = pki_identities_load("gw-a");
    assert_true(has(ids, "a.test"));
    assert_true(has(ids, "A.TeSt"));
    assert_false(has(ids, "x.a.test"));
    assert_false(has(ids, "a.tes"));
    assert_false(has(ids, "a.test."));
    assert_true(tls_identities_contains(ids, "a.test;transport=tls", 6)); /* length-bounded */
    assert_false(tls_identities_contains(NULL, "a.test", 6));
    tls_identities_unref(ids);
}

static void from_der_matches_from_x509(void **state)
{
    X509 *x = pki_x509_load("virtual");
    uint8_t *der = NULL;
    int len = i2d_X509(x, &der);
    assert_true(len > 0);
    struct tls_identities *ids = tls_identities_from_der(der, (size_t)len);
    assert_non_null(ids);
    assert_int_equal(tls_identities_count(ids), 2);
    assert_true(has(ids, "b.virt.test"));
    tls_identities_unref(ids);
    assert_null(tls_identities_from_der(der, (size_t)len / 2)); /* truncated */
    assert_null(tls_identities_from_der((const uint8_t *)"not a cert", 10));
    OPENSSL_free(der);
    X509_free(x);
}

static void refcount_keeps_set_alive(void **state)
{
    struct tls_identities *ids = pki_identities_load("gw-b");
    struct tls_identities *more = tls_identities_ref(ids);
    tls_identities_unref(ids);
    assert_true(has(more, "b.test")); /* ASan would flag a use after free */
    tls_identities_unref(more);
    assert_null(tls_identities_ref(NULL)); /* an unauthenticated peer's set */
    tls_identities_unref(NULL);
}

/* Certificate purpose: the flags read from each gen.sh leaf and the policy
 * for a client's certificate, a server's, and with require_sip_eku (either
 * role). */
static void eku_classification(void **state)
{
    const unsigned P = TLS_EKU_PRESENT;
    const struct {
        const char *leaf;
        unsigned flags;
        bool as_client, as_server, strict;
    } cases[] = {
        {"eku-none", 0, true, true, true},
        {"eku-sip", P | TLS_EKU_SIP_DOMAIN, true, true, true},
        {"eku-any", P | TLS_EKU_ANY, false, false, false},
        {"eku-wrong", P, false, false, false}, /* codeSigning only */
        {"eku-server", P | TLS_EKU_SERVER_AUTH, false, true, false},
        {"eku-client", P | TLS_EKU_CLIENT_AUTH, true, false, false},
        {"gw-a", P | TLS_EKU_SERVER_AUTH | TLS_EKU_CLIENT_AUTH, true, true, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        X509 *x = pki_x509_load(cases[i].leaf);
        unsigned flags = tls_eku_classify(x);
        X509_free(x);
        if (flags != cases[i].flags)
            fail_msg("%s: flags %#x, want %#x", cases[i].leaf, flags, cases[i].flags);
        assert_int_equal(tls_eku_refusal(flags, TLS_PEER_CLIENT, false) == NULL,
                         cases[i].as_client);
        assert_int_equal(tls_eku_refusal(flags, TLS_PEER_SERVER, false) == NULL,
                         cases[i].as_server);
        assert_int_equal(tls_eku_refusal(flags, TLS_PEER_CLIENT, true) == NULL, cases[i].strict);
        assert_int_equal(tls_eku_refusal(flags, TLS_PEER_SERVER, true) == NULL, cases[i].strict);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sip_uri_san_wins_over_dns),
        cmocka_unit_test(dns_only_uses_dns_not_cn),
        cmocka_unit_test(cn_only_without_san),
        cmocka_unit_test(ip_san_gives_nothing_and_hides_cn),
        cmocka_unit_test(wildcard_is_literal),
        cmocka_unit_test(virtual_server_two_domains),
        cmocka_unit_test(sips_and_userinfo_ignored),
        cmocka_unit_test(matching_is_whole_string_case_insensitive),
        cmocka_unit_test(from_der_matches_from_x509),
        cmocka_unit_test(refcount_keeps_set_alive),
        cmocka_unit_test(eku_classification),
    };
    return cmocka_run_group_tests(tests, pki_group_setup, pki_group_teardown);
}
