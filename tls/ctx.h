/* ctx: the shared TLS configuration (one BoringSSL SSL_CTX) for both roles.
 *
 * Owns the SSL_CTX, the trust store built from the CA bundle, the session
 * ticket keys and the server's table of identities for resumed sessions.
 * Borrows the options only during tls_ctx_new; owns the key log, when the
 * options name one. Never reads the gateway's
 * configuration, never opens a socket; reload means building a new ctx. */
#ifndef REUSEGW_TLS_CTX_H
#define REUSEGW_TLS_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* tls_identity_options is one extra identity of ours: its certificate and
 * the domains a client names in SNI to get it. */
struct tls_identity_options {
    const char *certificate_file; /* PEM: leaf first, then intermediates */
    const char *private_key_file;
    const char *const *domains; /* NULL (|n_domains| 0): what the certificate proves */
    size_t n_domains;
};

/* tls_peer_options is the TLS policy of one peer domain: matched by the
 * domain dialled (client role) and by the names of the certificate a client
 * presents (server role; trusted only once the chain verified under this
 * policy). Every field holds its effective value (the caller applies the
 * defaults of the options it inherits from). */
struct tls_peer_options {
    const char *domain;
    const char *ca_file; /* NULL: the ctx's ca_file */
    const char *sni;     /* NULL: the domain dialled */
    /* Server role: false serves a client whose certificate names this peer
     * but does not verify under this policy, unauthenticated (no identities:
     * never aliased, R-5923-25), instead of failing the handshake. */
    bool client_cert_required;
    /* Server role: a client leaf whose EKU lists serverAuth but not
     * clientAuth counts as fit (public CAs stopped issuing clientAuth). */
    bool allow_server_auth_only;
    bool require_sip_eku;
};

/* tls_ctx_options is what the gateway fills from its configuration. */
struct tls_ctx_options {
    const char *certificate_file; /* PEM: our leaf first, then intermediates */
    const char *private_key_file; /* PEM: ECDSA P-256 or RSA key of the leaf */
    const char *ca_file;          /* PEM bundle of trust anchors for peers */
    /* Server role: a client that sends no certificate fails the handshake
     * ("peer did not return a certificate"). When false the connection is
     * accepted but unauthenticated: it has no identities and must never be
     * aliased (RFC 5923 §9.2). A certificate is always requested. */
    bool client_cert_required;
    /* Certificate purpose (tls_eku_refusal). False: a leaf whose EKU
     * extension lists neither the purpose of its TLS role (clientAuth,
     * serverAuth) nor id-kp-sipDomain is refused. True (RFC 5924 strict):
     * a leaf with an EKU extension must list id-kp-sipDomain. */
    bool require_sip_eku;
    /* Optional file of exactly 48 bytes of session ticket key (name, HMAC and
     * AES keys, as nginx's ssl_session_ticket_key) so that several processes
     * or a restart resume each other's tickets. NULL: BoringSSL generates
     * keys in memory and rotates them. */
    const char *ticket_key_file;
    /* Resumption lifetime in seconds; 0 selects 7200. */
    uint32_t session_lifetime_s;
    /* Cap the protocol at TLS 1.2 (peers that mishandle 1.3; benchmarks).
     * Default false: TLS 1.2 and 1.3. */
    bool max_tls12;
    /* NSS key log file (RFC 9850) the ctx appends the secrets of every
     * connection to, both roles, through its own writer thread
     * (tls/key_log.h). NULL: none (the default). */
    const char *key_log_file;
    /* Extra identities (identity 1..n; identity 0 is certificate_file):
     * a client whose SNI names one of an identity's domains gets its
     * certificate; outbound, tls_conn_new_client_as presents it. */
    const struct tls_identity_options *identities;
    size_t n_identities;
    /* Per-peer policies replacing ca_file and the certificate-purpose
     * knobs for their domain; at most one per domain. */
    const struct tls_peer_options *peers;
    size_t n_peers;
    /* PEM file of one or more CRLs (RFC 5280 §5). Every certificate of a
     * peer chain, leaf and intermediates, is then checked against the CRL
     * of its issuer, which the file must hold; a revoked one fails the
     * handshake with TLS_ERROR_CERT_REVOKED. NULL: no revocation check. */
    const char *crl_file;
    /* With crl_file: a CRL past its nextUpdate fails every chain it covers
     * (fail closed). False (the default): it is still used, and the
     * connection says so (tls_conn_crl_expired). */
    bool crl_strict;
};

/* tls_ctx is a refcounted, immutable TLS configuration; one ctx may serve
 * every worker thread at once. */
struct tls_ctx;

/* tls_ctx_new builds a ctx from |opts| (borrowed). TLS 1.2 and 1.3 only.
 * Returns a ctx with one reference, or NULL after writing into |err| (|err_len|
 * bytes, always NUL-terminated) a reason that names the file and BoringSSL's
 * reason, e.g. "private_key_file tls/proxy.key: key does not match
 * certificate_file tls/proxy.pem (CERTIFICATE_AND_PRIVATE_KEY_MISMATCH)".
 * On reload the caller keeps its old ctx when this fails. */
struct tls_ctx *tls_ctx_new(const struct tls_ctx_options *opts, char *err, size_t err_len);

/* tls_ctx_identity_count is how many identities |ctx| presents: 1 (the
 * default, identity 0) plus the extra ones, in the order of the options. */
size_t tls_ctx_identity_count(const struct tls_ctx *ctx);

/* tls_ctx_identity_domains returns the domains identity |i| (< count)
 * serves (borrowed from |ctx|): those listed, else what its certificate
 * proves. */
const struct tls_identities *tls_ctx_identity_domains(const struct tls_ctx *ctx, size_t i);

/* tls_ctx_identity_for returns the identity one of whose domains is |host|
 * (|len| bytes, borrowed; RFC 5922 whole-name, case-insensitive), or -1
 * when none is. */
int tls_ctx_identity_for(const struct tls_ctx *ctx, const char *host, size_t len);
/* tls_cert_info describes the certificate a ctx presents, for operators
 * (/certificates, expiry metrics). Owned by the ctx, immutable. */
struct tls_cert_info {
    const char *file;                  /* certificate_file as given */
    char subject[256];                 /* RFC 2253, e.g. "CN=b.test" */
    char serial[80];                   /* hexadecimal, as openssl x509 -serial */
    int64_t not_before, not_after;     /* Unix seconds */
    int64_t loaded_at;                 /* Unix seconds: when the ctx read the file */
    struct tls_identities *identities; /* RFC 5922 §7.1 names (owned by the ctx) */
};

/* tls_trust_info describes a ctx's trust anchors and CRLs. */
struct tls_trust_info {
    const char *ca_file;     /* as given */
    size_t ca_count;         /* certificates in the CA bundle */
    const char *crl_file;    /* NULL: no CRL */
    size_t crl_count;        /* CRLs in crl_file */
    int64_t crl_next_update; /* earliest nextUpdate of them, Unix seconds; 0: none */
};

/* tls_ctx_certificate returns what identity |i| (< tls_ctx_identity_count)
 * of |ctx| presents (borrowed from |ctx|). */
const struct tls_cert_info *tls_ctx_certificate(const struct tls_ctx *ctx, size_t i);

/* tls_ctx_trust returns |ctx|'s trust anchors and CRLs (borrowed). */
const struct tls_trust_info *tls_ctx_trust(const struct tls_ctx *ctx);

/* tls_ctx_crls_differ reports whether |a| and |b| hold different CRLs
 * (by content): only then can a reload revoke a peer that is up. */
bool tls_ctx_crls_differ(const struct tls_ctx *a, const struct tls_ctx *b);

/* tls_ctx_revokes reports whether a CRL of |ctx| revokes a certificate of
 * the peer chain that proved |ids| (borrowed; the chain kept by
 * tls_identities_keep_chain): what a reload asks of the connections that
 * are up. Only revocation counts here; false when |ctx| has no CRL or
 * |ids| no chain. */
bool tls_ctx_revokes(struct tls_ctx *ctx, const struct tls_identities *ids);

/* tls_ctx_ref takes one more reference and returns |ctx|. Each connection
 * holds one, so a reload never changes a live connection's configuration. */
struct tls_ctx *tls_ctx_ref(struct tls_ctx *ctx);

/* tls_ctx_unref drops one reference; the last one frees the ctx. NULL is
 * ignored. */
void tls_ctx_unref(struct tls_ctx *ctx);

#endif
