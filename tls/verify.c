/* Chain verification with the ctx's X509_STORE, certificate purpose, identities. */
#include "tls/verify.h"

#include <stdio.h>
#include <string.h>

#include <openssl/x509.h>

static void fail(struct tls_verify_result *out, enum tls_error error, uint8_t alert,
                 const char *fmt, const char *detail)
{
    out->error = error;
    out->alert = alert;
    snprintf(out->reason, sizeof(out->reason), fmt, detail);
}

static uint8_t alert_for(int x509_error)
{
    switch (x509_error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return SSL_AD_CERTIFICATE_EXPIRED;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
        return SSL_AD_UNKNOWN_CA;
    case X509_V_ERR_CERT_REVOKED:
        return SSL_AD_CERTIFICATE_REVOKED;
    default:
        return SSL_AD_BAD_CERTIFICATE;
    }
}

/* path_check is what one path validation asks and learns, beside the
 * store's verdict: BoringSSL calls path_verify_cb with every error. */
struct path_check {
    bool crl_strict;
    bool revocation_only; /* a reload's re-check: only a revoked certificate fails */
    bool crl_expired;     /* a CRL past nextUpdate was used */
    bool revoked;
};

static int path_verify_cb(int ok, X509_STORE_CTX *store_ctx)
{
    struct path_check *pc = X509_STORE_CTX_get_app_data(store_ctx);
    int error = X509_STORE_CTX_get_error(store_ctx);
    if (ok)
        return 1;
    if (error == X509_V_ERR_CERT_REVOKED)
        pc->revoked = true;
    if (pc->revocation_only)
        return !pc->revoked;
    if (error == X509_V_ERR_CRL_HAS_EXPIRED && !pc->crl_strict) {
        pc->crl_expired = true; /* the CRL is still applied to the chain */
        return 1;
    }
    return 0;
}

/* verify_path runs RFC 5280 path validation of |leaf| with |untrusted|
 * intermediates, CRLs included when the store has them (tls_crl_load);
 * no purpose is set because RFC 5924 EKU rules are ours. Returns 1 when
 * the path verified, 0 when not (|*error| says why), -1 out of memory. */
static int verify_path(X509_STORE *trust, X509 *leaf, STACK_OF(X509) * untrusted,
                       struct path_check *pc, int *error)
{
    X509_STORE_CTX *store_ctx = X509_STORE_CTX_new();
    if (store_ctx == NULL || !X509_STORE_CTX_init(store_ctx, trust, leaf, untrusted)) {
        X509_STORE_CTX_free(store_ctx);
        return -1;
    }
    X509_STORE_CTX_set_app_data(store_ctx, pc);
    X509_STORE_CTX_set_verify_cb(store_ctx, path_verify_cb);
    int ok = X509_verify_cert(store_ctx) == 1;
    *error = X509_STORE_CTX_get_error(store_ctx);
    X509_STORE_CTX_free(store_ctx);
    return ok;
}

/* policy_of finds the peer policy for |domain|, or for a client leaf the
 * first one of its names has: only a lookup key until the chain verifies. */
static const struct tls_peer_policy *policy_of(const struct tls_ctx *ctx, X509 *leaf,
                                               const char *domain)
{
    if (ctx->n_peers == 0)
        return NULL;
    if (domain != NULL)
        return tls_ctx_peer(ctx, domain, strlen(domain));
    struct tls_identities *names = tls_identities_from_x509(leaf);
    const struct tls_peer_policy *p = NULL;
    for (size_t i = 0; p == NULL && i < tls_identities_count(names); i++) {
        const char *n = tls_identities_get(names, i);
        p = tls_ctx_peer(ctx, n, strlen(n));
    }
    tls_identities_unref(names);
    return p;
}

/* purpose_of is the leaf's EKU as the policy reads it: serverAuth stands
 * for clientAuth where a peer policy allows it. */
static unsigned purpose_of(X509 *leaf, const struct tls_peer_policy *p)
{
    unsigned eku = tls_eku_classify(leaf);
    if (p != NULL && p->allow_server_auth_only && (eku & TLS_EKU_SERVER_AUTH))
        eku |= TLS_EKU_CLIENT_AUTH;
    return eku;
}

static bool check_path(struct tls_ctx *ctx, X509_STORE *trust, X509 *leaf,
                       STACK_OF(X509) * untrusted, struct tls_verify_result *out)
{
    struct path_check pc = {.crl_strict = ctx->crl_strict};
    int error = 0;
    int ok = verify_path(trust, leaf, untrusted, &pc, &error);
    if (ok < 0) {
        fail(out, TLS_ERROR_RESOURCES, SSL_AD_INTERNAL_ERROR, "%s", "out of memory");
    } else if (!ok) {
        enum tls_error e = error == X509_V_ERR_CERT_REVOKED      ? TLS_ERROR_CERT_REVOKED
                           : error == X509_V_ERR_CRL_HAS_EXPIRED ? TLS_ERROR_CRL_EXPIRED
                                                                 : TLS_ERROR_CERT_INVALID;
        fail(out, e, alert_for(error), "certificate verify failed: %s",
             X509_verify_cert_error_string(error));
    }
    out->crl_expired = ok > 0 && pc.crl_expired;
    return ok > 0;
}

/* parse_chain parses |chain| (leaf first) into |*leaf| and |*untrusted|
 * (the caller frees both, even on failure); false when a certificate does
 * not parse or memory ran out. */
static bool parse_chain(const STACK_OF(CRYPTO_BUFFER) * chain, X509 **leaf,
                        STACK_OF(X509) * *untrusted)
{
    size_t n = sk_CRYPTO_BUFFER_num(chain);
    *leaf = X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(chain, 0));
    *untrusted = sk_X509_new_null();
    for (size_t i = 1; *leaf != NULL && *untrusted != NULL && i < n; i++) {
        X509 *x = X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(chain, i));
        if (x == NULL || !sk_X509_push(*untrusted, x)) {
            X509_free(x);
            break;
        }
    }
    return *leaf != NULL && *untrusted != NULL && sk_X509_num(*untrusted) == n - 1;
}

bool tls_ctx_revokes(struct tls_ctx *ctx, const struct tls_identities *ids)
{
    const STACK_OF(CRYPTO_BUFFER) *chain = tls_identities_chain(ids);
    if (!ctx->has_crl || chain == NULL || sk_CRYPTO_BUFFER_num(chain) == 0)
        return false;
    X509 *leaf;
    STACK_OF(X509) * untrusted;
    struct path_check pc = {.revocation_only = true};
    int error = 0;
    if (parse_chain(chain, &leaf, &untrusted)) {
        /* Under the store the connection was verified with: its peer's CA. */
        const struct tls_peer_policy *p = policy_of(ctx, leaf, NULL);
        verify_path(p != NULL && p->trust != NULL ? p->trust : ctx->trust, leaf, untrusted, &pc,
                    &error);
    }
    sk_X509_pop_free(untrusted, X509_free);
    X509_free(leaf);
    return pc.revoked;
}

void tls_verify_chain(struct tls_ctx *ctx, const STACK_OF(CRYPTO_BUFFER) * chain,
                      const char *domain, struct tls_verify_result *out)
{
    out->error = TLS_ERROR_NONE;
    out->ids = NULL;
    out->crl_expired = false;
    out->reason[0] = '\0';
    out->policy = NULL;
    if (sk_CRYPTO_BUFFER_num(chain) == 0) {
        fail(out, TLS_ERROR_NO_PEER_CERT, SSL_AD_CERTIFICATE_REQUIRED, "%s",
             "peer did not return a certificate");
        return;
    }
    X509 *leaf;
    STACK_OF(X509) * untrusted;
    bool parsed = parse_chain(chain, &leaf, &untrusted);
    out->policy = leaf != NULL ? policy_of(ctx, leaf, domain) : NULL;
    if (!parsed) {
        fail(out, TLS_ERROR_CERT_INVALID, SSL_AD_BAD_CERTIFICATE, "%s",
             "certificate verify failed: cannot parse certificate");
    } else if (check_path(ctx, out->policy && out->policy->trust ? out->policy->trust : ctx->trust,
                          leaf, untrusted, out)) {
        const struct tls_peer_policy *p = out->policy;
        const char *refusal =
            tls_eku_refusal(purpose_of(leaf, p), domain != NULL ? TLS_PEER_SERVER : TLS_PEER_CLIENT,
                            p != NULL ? p->require_sip_eku : ctx->require_sip_eku);
        if (refusal != NULL) {
            fail(out, TLS_ERROR_CERT_PURPOSE, SSL_AD_UNSUPPORTED_CERTIFICATE, "%s", refusal);
        } else if ((out->ids = tls_identities_from_x509(leaf)) == NULL ||
                   !tls_identities_keep_chain(out->ids, chain)) {
            tls_identities_unref(out->ids);
            out->ids = NULL;
            fail(out, TLS_ERROR_RESOURCES, SSL_AD_INTERNAL_ERROR, "%s", "out of memory");
        } else if (domain != NULL && !tls_identities_contains(out->ids, domain, strlen(domain))) {
            tls_identities_unref(out->ids);
            out->ids = NULL;
            fail(out, TLS_ERROR_CERT_IDENTITY, SSL_AD_BAD_CERTIFICATE,
                 "certificate does not prove domain %s (RFC 5922 7.3)", domain);
        }
    }
    sk_X509_pop_free(untrusted, X509_free);
    X509_free(leaf);
}
