/* Real handshakes between two tls_conn engines pumped in memory, one per
 * certificate case of test/certs/gen.sh, both roles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tls/conn.h"
#include "tls_test_support.h"

struct outcome {
    bool ok;
    enum tls_error client_error, server_error;
    char client_reason[160], server_reason[160];
    struct tls_identities *client_saw; /* server's identities, seen by client */
    struct tls_identities *server_saw; /* client's identities, seen by server */
    char version[16];
};

/* handshake runs one in-memory handshake: a client holding |client_leaf|
 * dials |domain| on a server holding |server_leaf|. */
static struct outcome handshake(const char *client_leaf, const char *server_leaf,
                                const char *domain, bool required, bool require_sip_eku,
                                bool max_tls12)
{
    struct tls_ctx *cctx = pki_ctx_new(client_leaf, true, require_sip_eku, max_tls12);
    struct tls_ctx *sctx = pki_ctx_new(server_leaf, required, require_sip_eku, max_tls12);
    struct tls_conn *c = tls_conn_new_client(cctx, domain, NULL, NULL, 0);
    struct tls_conn *s = tls_conn_new_server(sctx);
    assert_non_null(c);
    assert_non_null(s);
    tls_ctx_unref(cctx); /* the conns hold their own references */
    tls_ctx_unref(sctx);
    struct outcome o = {.ok = pump_handshake(c, s)};
    o.client_error = tls_conn_error(c);
    o.server_error = tls_conn_error(s);
    snprintf(o.client_reason, sizeof(o.client_reason), "%s", tls_conn_error_reason(c));
    snprintf(o.server_reason, sizeof(o.server_reason), "%s", tls_conn_error_reason(s));
    if (tls_conn_identities(c))
        o.client_saw = tls_identities_ref(tls_conn_identities(c));
    if (tls_conn_identities(s))
        o.server_saw = tls_identities_ref(tls_conn_identities(s));
    snprintf(o.version, sizeof(o.version), "%s", o.ok ? tls_conn_version(c) : "");
    tls_conn_free(c);
    tls_conn_free(s);
    return o;
}

static void outcome_free(struct outcome *o)
{
    tls_identities_unref(o->client_saw);
    tls_identities_unref(o->server_saw);
}

static bool has(const struct tls_identities *ids, const char *host)
{
    return tls_identities_contains(ids, host, strlen(host));
}

/* A server proves its identities to a client dialling the right domain, and
 * the client's certificate proves its own to the server, in both versions. */
static void mutual_auth_both_versions(void **state)
{
    for (int tls12 = 0; tls12 <= 1; tls12++) {
        struct outcome o = handshake("gw-a", "gw-b", "b.test", true, false, tls12);
        assert_true(o.ok);
        assert_string_equal(o.version, tls12 ? "TLSv1.2" : "TLSv1.3");
        assert_true(has(o.client_saw, "b.test"));
        assert_true(has(o.server_saw, "a.test"));
        assert_false(has(o.server_saw, "b.test"));
        outcome_free(&o);
    }
}

/* R-5923-08: the client authenticates the server against the domain it
 * dials (RFC 5922 §7.3) and refuses a certificate for another domain. */
static void client_refuses_wrong_domain(void **state)
{
    struct outcome o = handshake("gw-a", "gw-b", "a.test", true, false, false);
    assert_false(o.ok);
    assert_int_equal(o.client_error, TLS_ERROR_CERT_IDENTITY);
    assert_string_equal(o.client_reason, "certificate does not prove domain a.test (RFC 5922 7.3)");
    assert_null(o.client_saw);
    assert_int_equal(o.server_error, TLS_ERROR_PEER_ALERT);
    assert_non_null(strstr(o.server_reason, "bad certificate"));
    outcome_free(&o);
}

/* Server certificates per identity case: which domains a client accepts. */
static void client_domain_per_certificate_case(void **state)
{
    const struct {
        const char *server, *domain;
        bool ok;
    } cases[] = {
        {"sipuri", "sipuri.test", true},  {"sipuri", "other.test", false},
        {"dnsonly", "dns.test", true},    {"dnsonly", "ignored-cn.test", false},
        {"cnonly", "cn.test", true},      {"ipsan", "ipsan.test", false},
        {"ipsan", "127.0.0.1", false},    {"wildcard", "x.wild.test", false},
        {"virtual", "a.virt.test", true}, {"virtual", "b.virt.test", true},
        {"virtual", "virt", false},       {"sipsuser", "fallback.test", true},
        {"sipsuser", "sips.test", false}, {"sipsuser", "user.test", false},
        {"rsa", "rsa.test", true},        {"gw-b", "B.TEST", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct outcome o = handshake("gw-a", cases[i].server, cases[i].domain, true, false, false);
        if (o.ok != cases[i].ok)
            fail_msg("server %s domain %s: ok=%d (%s)", cases[i].server, cases[i].domain, o.ok,
                     o.client_reason);
        if (!o.ok)
            assert_int_equal(o.client_error, TLS_ERROR_CERT_IDENTITY);
        outcome_free(&o);
    }
}

/* Client certificates per identity case: what the server extracts (these
 * sets are what the gateway stores in an alias row, R-5923-19). */
static void server_extracts_client_identities(void **state)
{
    const struct {
        const char *client, *expect, *absent;
        size_t count;
    } cases[] = {
        {"sipuri", "sipuri.test", "other.test", 1},
        {"dnsonly", "dns.test", "ignored-cn.test", 1},
        {"cnonly", "cn.test", NULL, 1},
        {"ipsan", NULL, "ipsan.test", 0},
        {"wildcard", "*.wild.test", "x.wild.test", 1},
        {"virtual", "a.virt.test", "virt", 2},
        {"sipsuser", "fallback.test", "sips.test", 1},
        {"rsa", "rsa.test", NULL, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct outcome o = handshake(cases[i].client, "gw-b", "b.test", true, false, false);
        assert_true(o.ok);
        assert_non_null(o.server_saw); /* verified, even when it proves nothing */
        assert_int_equal(tls_identities_count(o.server_saw), cases[i].count);
        if (cases[i].expect)
            assert_true(has(o.server_saw, cases[i].expect));
        if (cases[i].absent)
            assert_false(has(o.server_saw, cases[i].absent));
        outcome_free(&o);
    }
}

/* expect_purpose checks one in-memory handshake where only |checker| (the
 * side whose ctx has |strict|) judges the other's leaf: ok must be |want|,
 * and a refusal must name the certificate purpose. */
static void expect_purpose(bool ok, bool want, struct tls_conn *checker, const char *what,
                           const char *leaf, int strict)
{
    if (ok != want)
        fail_msg("%s %s strict=%d: ok=%d %s", what, leaf, strict, ok,
                 tls_conn_error_reason(checker));
    if (!ok) {
        assert_int_equal(tls_conn_error(checker), TLS_ERROR_CERT_PURPOSE);
        assert_non_null(strstr(tls_conn_error_reason(checker), "certificate purpose"));
    }
}

/* Certificate purpose (RFC 5280 4.2.1.12, RFC 5924) with require_sip_eku off
 * and on, in the server role (the client's leaf needs clientAuth) and the
 * client role (the server's leaf needs serverAuth). */
static void eku_policy_both_ways(void **state)
{
    const struct {
        const char *leaf, *domain;
        bool as_client, as_server, strict;
    } cases[] = {
        {"eku-none", "eku-none.test", true, true, true},
        {"eku-sip", "eku-sip.test", true, true, true},
        {"eku-any", "eku-any.test", false, false, false},
        {"eku-wrong", "eku-wrong.test", false, false, false},
        {"eku-server", "eku-server.test", false, true, false},
        {"eku-client", "eku-client.test", true, false, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int strict = 0; strict <= 1; strict++) {
            /* The peer's own ctx is built strict=0 so only the checked side
             * applies the policy under test. */
            struct tls_ctx *server_ctx = pki_ctx_new("gw-b", true, strict, false);
            struct tls_ctx *client_ctx = pki_ctx_new(cases[i].leaf, true, false, false);
            struct tls_conn *c = tls_conn_new_client(client_ctx, "b.test", NULL, NULL, 0);
            struct tls_conn *s = tls_conn_new_server(server_ctx);
            expect_purpose(pump_handshake(c, s), strict ? cases[i].strict : cases[i].as_client, s,
                           "server role, client leaf", cases[i].leaf, strict);
            tls_conn_free(c);
            tls_conn_free(s);
            tls_ctx_unref(server_ctx);
            tls_ctx_unref(client_ctx);

            server_ctx = pki_ctx_new(cases[i].leaf, true, false, false);
            client_ctx = pki_ctx_new("gw-a", true, strict, false);
            c = tls_conn_new_client(client_ctx, cases[i].domain, NULL, NULL, 0);
            s = tls_conn_new_server(server_ctx);
            expect_purpose(pump_handshake(c, s), strict ? cases[i].strict : cases[i].as_server, c,
                           "client role, server leaf", cases[i].leaf, strict);
            tls_conn_free(c);
            tls_conn_free(s);
            tls_ctx_unref(server_ctx);
            tls_ctx_unref(client_ctx);
        }
    }
}

/* R-5923-18: a client certificate that does not verify fails the handshake,
 * so no alias can ever be made from it; the reason names the cause. */
static void bad_client_certificates_fail(void **state)
{
    const struct {
        const char *leaf, *reason;
    } cases[] = {
        {"expired", "certificate verify failed: certificate has expired"},
        {"notyet", "certificate verify failed: certificate is not yet valid"},
        {"untrusted", "certificate verify failed: unable to get local issuer certificate"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int required = 0; required <= 1; required++) {
            struct outcome o = handshake(cases[i].leaf, "gw-b", "b.test", required, false, false);
            assert_false(o.ok);
            assert_int_equal(o.server_error, TLS_ERROR_CERT_INVALID);
            assert_string_equal(o.server_reason, cases[i].reason);
            assert_null(o.server_saw);
            assert_int_equal(o.client_error, TLS_ERROR_PEER_ALERT);
            outcome_free(&o);
        }
    }
}

/* The same checks apply to a server certificate (RFC 5922 §7.3). */
static void bad_server_certificates_fail(void **state)
{
    const struct {
        const char *leaf, *domain, *reason;
    } cases[] = {
        {"expired", "expired.test", "certificate verify failed: certificate has expired"},
        {"notyet", "notyet.test", "certificate verify failed: certificate is not yet valid"},
        {"untrusted", "untrusted.test",
         "certificate verify failed: unable to get local issuer certificate"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct outcome o = handshake("gw-a", cases[i].leaf, cases[i].domain, true, false, false);
        assert_false(o.ok);
        assert_int_equal(o.client_error, TLS_ERROR_CERT_INVALID);
        assert_string_equal(o.client_reason, cases[i].reason);
        assert_null(o.client_saw);
        outcome_free(&o);
    }
}

/* R-5923-24: the server requests a client certificate whether or not one is
 * required. R-5923-25: required refuses a certless client with a clear
 * reason; optional accepts it as unauthenticated (no identities, no alias). */
static void certless_client_required_and_optional(void **state)
{
    for (int required = 0; required <= 1; required++) {
        struct tls_ctx *sctx = pki_ctx_new("gw-a", required, false, false);
        struct tls_conn *s = tls_conn_new_server(sctx);
        struct bare_client bc;
        bare_client_init(&bc);
        bool ok = bare_pump_handshake(&bc, s);
        assert_true(bc.saw_certificate_request);
        if (required) {
            assert_false(ok);
            assert_int_equal(tls_conn_state(s), TLS_STATE_FAILED);
            assert_int_equal(tls_conn_error(s), TLS_ERROR_NO_PEER_CERT);
            assert_string_equal(tls_conn_error_reason(s), "peer did not return a certificate");
        } else {
            assert_true(ok);
            assert_int_equal(tls_conn_state(s), TLS_STATE_ESTABLISHED);
            assert_null(tls_conn_identities(s));
        }
        bare_client_free(&bc);
        tls_conn_free(s);
        tls_ctx_unref(sctx);
    }
}

/* Garbage instead of a ClientHello fails cleanly with a reason. */
static void garbage_input_fails_with_reason(void **state)
{
    struct tls_ctx *sctx = pki_ctx_new("gw-a", true, false, false);
    struct tls_conn *s = tls_conn_new_server(sctx);
    const char junk[] = "OPTIONS sip:a.test SIP/2.0\r\n\r\n";
    assert_int_equal(tls_conn_feed(s, junk, sizeof(junk) - 1), sizeof(junk) - 1);
    assert_int_equal(tls_conn_handshake(s), TLS_PROGRESS_FAILED);
    assert_int_equal(tls_conn_error(s), TLS_ERROR_PROTOCOL);
    assert_string_not_equal(tls_conn_error_reason(s), "");
    tls_conn_free(s);
    tls_ctx_unref(sctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mutual_auth_both_versions),
        cmocka_unit_test(client_refuses_wrong_domain),
        cmocka_unit_test(client_domain_per_certificate_case),
        cmocka_unit_test(server_extracts_client_identities),
        cmocka_unit_test(eku_policy_both_ways),
        cmocka_unit_test(bad_client_certificates_fail),
        cmocka_unit_test(bad_server_certificates_fail),
        cmocka_unit_test(certless_client_required_and_optional),
        cmocka_unit_test(garbage_input_fails_with_reason),
    };
    return cmocka_run_group_tests(tests, pki_group_setup, pki_group_teardown);
}
