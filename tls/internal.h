/* internal: what the tls/ sources share; not for users of tls/.
 * Owns nothing itself: the private layout of struct tls_ctx and the session
 * cache calls the engine makes. Never included outside tls/. */
#ifndef REUSEGW_TLS_INTERNAL_H
#define REUSEGW_TLS_INTERNAL_H

#include <stdatomic.h>

#include <openssl/ssl.h>

#include "tls/ctx.h"
#include "tls/identities.h"
#include "tls/key_log.h"
#include "tls/session_cache.h"

/* tls_identity_ctx is one identity of ours: the SSL_CTX presenting its
 * certificate (identity 0's is the ctx's own |ssl_ctx|) and its domains. */
struct tls_identity_ctx {
    SSL_CTX *ssl_ctx;
    struct tls_identities *domains;
    struct tls_cert_info cert; /* what it presents; |cert.file| owned here */
};

/* tls_peer_policy is one peer domain's policy (tls_peer_options). */
struct tls_peer_policy {
    char *domain;
    char *sni;         /* NULL: the domain dialled */
    X509_STORE *trust; /* NULL: the ctx's */
    bool client_cert_required;
    bool allow_server_auth_only;
    bool require_sip_eku;
};

struct tls_ctx {
    atomic_uint refs;
    uint64_t generation; /* distinguishes ctxs for the client session cache */
    SSL_CTX *ssl_ctx;
    X509_STORE *trust;
    bool require_sip_eku;
    bool has_crl;           /* CRLs are in |trust| and checked for every chain */
    bool crl_strict;        /* an expired CRL fails the chains it covers */
    uint8_t crl_digest[32]; /* SHA-256 of the CRL file as loaded; zero without */
    struct tls_trust_info trust_info;
    char *paths;                  /* CA and CRL file names, NUL-separated */
    struct tls_key_log *key_log;  /* NULL unless the options named a file */
    struct tls_identity_ctx *ids; /* n_ids >= 1; [0] is the default identity */
    size_t n_ids;
    struct tls_peer_policy *peers;
    size_t n_peers;
};

/* tls_ctx_peer returns the policy of |domain| (|len| bytes), or NULL. */
const struct tls_peer_policy *tls_ctx_peer(const struct tls_ctx *ctx, const char *domain,
                                           size_t len);

/* tls_read_file loads the file |path| whole (at most 1 MiB), naming it
 * |what| in the error. Returns malloc'd bytes (|*len| of them) or NULL
 * after writing the reason into |err|. */
uint8_t *tls_read_file(const char *what, const char *path, size_t *len, char *err, size_t err_len);

/* tls_time_unix converts |t| to Unix seconds (0 when it cannot). */
int64_t tls_time_unix(const ASN1_TIME *t);

/* tls_crl_load adds every CRL of the PEM text |pem| (|len| bytes, read from
 * |path|) to |store| and switches on CRL checks for every certificate of a
 * chain. Returns how many it added, and the earliest nextUpdate of them in
 * |*next_update| (0: none); 0 after writing into |err| why none. */
size_t tls_crl_load(X509_STORE *store, const char *path, const uint8_t *pem, size_t len,
                    int64_t *next_update, char *err, size_t err_len);

/* tls_session_key identifies one cache entry. */
struct tls_session_key {
    uint8_t identity; /* ours: a session resumes only under the certificate it proved */
    uint8_t addr_len;
    uint8_t addr[TLS_SESSION_KEY_MAX_ADDR];
    uint8_t domain_len;
    char domain[TLS_IDENTITY_MAX_LEN + 1];
};

/* tls_session_cache_take returns the session stored for |key| under ctx
 * |generation| (caller owns one session reference; a single-use TLS 1.3
 * session leaves the cache, a TLS 1.2 one stays) and sets |*ids| to a new
 * reference to the identities proven with it; NULL when none. An entry of
 * another generation is dropped. */
SSL_SESSION *tls_session_cache_take(struct tls_session_cache *cache,
                                    const struct tls_session_key *key, uint64_t generation,
                                    struct tls_identities **ids);

/* tls_session_cache_put stores |session| (takes ownership of one reference)
 * and |ids| (takes a new reference) for |key|, replacing any older one. */
void tls_session_cache_put(struct tls_session_cache *cache, const struct tls_session_key *key,
                           uint64_t generation, SSL_SESSION *session, struct tls_identities *ids);

#endif
