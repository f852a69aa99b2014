/* verify: RFC 5922 §7 certificate checks for one peer chain.
 *
 * Owns nothing: checks a chain received in a handshake against a ctx's trust
 * store and policy, and extracts the identities. Borrows the chain, the ctx
 * and the domain for the call. Never performs I/O and never trusts a name
 * it did not extract from a chain that verified. */
#ifndef REUSEGW_TLS_VERIFY_H
#define REUSEGW_TLS_VERIFY_H

#include <openssl/ssl.h>

#include "tls/conn.h"
#include "tls/internal.h"

/* tls_verify_result is the outcome of tls_verify_chain. */
struct tls_verify_result {
    enum tls_error error;       /* TLS_ERROR_NONE when the chain is accepted */
    uint8_t alert;              /* TLS alert to send on failure */
    struct tls_identities *ids; /* on success: a new reference, holding the chain */
    /* The peer policy the chain was checked under (borrowed from the ctx),
     * NULL: the ctx's defaults. Set on failure too. */
    const struct tls_peer_policy *policy;
    bool crl_expired; /* accepted under a CRL past its nextUpdate */
    char reason[320]; /* on failure: for the log */
};

/* tls_verify_chain verifies |chain| (leaf first) against |ctx|'s trust
 * anchors at the current time, applies the certificate-purpose policy
 * (tls_eku_refusal) and extracts the leaf's identities. |domain| non-NULL
 * means we are the client: the chain is a server's, fit for serverAuth, and
 * the domain must be one of its identities (RFC 5922 §7.3); NULL means the
 * chain is a client's, fit for clientAuth. The peer policy of |domain|, or
 * for a client the first policy one of the leaf's (not yet trusted) names
 * has, replaces the trust anchors and purpose knobs. */
void tls_verify_chain(struct tls_ctx *ctx, const STACK_OF(CRYPTO_BUFFER) * chain,
                      const char *domain, struct tls_verify_result *out);

/* BoringSSL callbacks installed on every SSL_CTX; implemented by conn.c. */
enum ssl_verify_result_t tls_verify_peer(SSL *ssl, uint8_t *out_alert);
int tls_verify_new_session(SSL *ssl, SSL_SESSION *session);
int tls_pick_identity(SSL *ssl, int *out_alert, void *arg);

#endif
