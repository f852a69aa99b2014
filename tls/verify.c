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
    default:
        return SSL_AD_BAD_CERTIFICATE;
    }
}

/* check_path runs RFC 5280 path validation of |leaf| with |untrusted|
 * intermediates; no purpose is set because RFC 5924 EKU rules are ours. */
static bool check_path(X509_STORE *trust, X509 *leaf, STACK_OF(X509) * untrusted,
                       struct tls_verify_result *out)
{
    X509_STORE_CTX *store_ctx = X509_STORE_CTX_new();
    if (store_ctx == NULL || !X509_STORE_CTX_init(store_ctx, trust, leaf, untrusted)) {
        X509_STORE_CTX_free(store_ctx);
        fail(out, TLS_ERROR_RESOURCES, SSL_AD_INTERNAL_ERROR, "%s", "out of memory");
        return false;
    }
    bool ok = X509_verify_cert(store_ctx) == 1;
    if (!ok) {
        int error = X509_STORE_CTX_get_error(store_ctx);
        fail(out, TLS_ERROR_CERT_INVALID, alert_for(error), "certificate verify failed: %s",
             X509_verify_cert_error_string(error));
    }
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

void tls_verify_chain(struct tls_ctx *ctx, const STACK_OF(CRYPTO_BUFFER) * chain,
                      const char *domain, struct tls_verify_result *out)
{
    out->error = TLS_ERROR_NONE;
    out->ids = NULL;
    out->reason[0] = '\0';
    out->policy = NULL;
    size_t n = sk_CRYPTO_BUFFER_num(chain);
    if (n == 0) {
        fail(out, TLS_ERROR_NO_PEER_CERT, SSL_AD_CERTIFICATE_REQUIRED, "%s",
             "peer did not return a certificate");
        return;
    }
    X509 *leaf = X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(chain, 0));
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    for (size_t i = 1; leaf != NULL && untrusted != NULL && i < n; i++) {
        X509 *x = X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(chain, i));
        if (x == NULL || !sk_X509_push(untrusted, x)) {
            X509_free(x);
            break;
        }
    }
    out->policy = leaf != NULL ? policy_of(ctx, leaf, domain) : NULL;
    if (leaf == NULL || untrusted == NULL || sk_X509_num(untrusted) != n - 1) {
        fail(out, TLS_ERROR_CERT_INVALID, SSL_AD_BAD_CERTIFICATE, "%s",
             "certificate verify failed: cannot parse certificate");
    } else if (check_path(out->policy && out->policy->trust ? out->policy->trust : ctx->trust, leaf,
                          untrusted, out)) {
        const struct tls_peer_policy *p = out->policy;
        const char *refusal =
            tls_eku_refusal(purpose_of(leaf, p), domain != NULL ? TLS_PEER_SERVER : TLS_PEER_CLIENT,
                            p != NULL ? p->require_sip_eku : ctx->require_sip_eku);
        if (refusal != NULL) {
            fail(out, TLS_ERROR_CERT_PURPOSE, SSL_AD_UNSUPPORTED_CERTIFICATE, "%s", refusal);
        } else if ((out->ids = tls_identities_from_x509(leaf)) == NULL) {
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
