/* Building the SSL_CTX from files: certificate, trust anchors, tickets. */
#include "tls/internal.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pool.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "tls/verify.h"

/* PEM files larger than this are refused rather than read into memory. */
#define TLS_MAX_PEM_FILE (1024 * 1024)
#define TLS_TICKET_KEY_LEN 48
#define TLS_DEFAULT_SESSION_LIFETIME_S 7200

static atomic_uint_fast64_t next_generation = 1;

/* One process-wide certificate pool: BoringSSL requires it to outlive every
 * SSL_SESSION, and cached client sessions may outlive the ctx they came from. */
static CRYPTO_BUFFER_POOL *cert_pool;
static pthread_once_t cert_pool_once = PTHREAD_ONCE_INIT;

static void cert_pool_init(void)
{
    cert_pool = CRYPTO_BUFFER_POOL_new();
}

static void set_error(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

/* BoringSSL's reason for the most recent error, e.g. "KEY_VALUES_MISMATCH". */
static const char *ssl_reason(void)
{
    const char *r = ERR_reason_error_string(ERR_peek_last_error());
    return r != NULL ? r : "unknown error";
}

uint8_t *tls_read_file(const char *what, const char *path, size_t *len, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        set_error(err, err_len, "%s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    uint8_t *data = malloc(TLS_MAX_PEM_FILE + 1);
    size_t n = data != NULL ? fread(data, 1, TLS_MAX_PEM_FILE + 1, f) : 0;
    int failed = data == NULL || ferror(f);
    fclose(f);
    if (failed || n > TLS_MAX_PEM_FILE) {
        set_error(err, err_len, "%s %s: %s", what, path,
                  failed ? "cannot read file" : "file larger than 1 MiB");
        free(data);
        return NULL;
    }
    *len = n;
    return data;
}

/* load_chain reads a PEM chain into pooled CRYPTO_BUFFERs (leaf first). */
static size_t load_chain(const char *path, const uint8_t *pem, size_t len, CRYPTO_BUFFER_POOL *pool,
                         CRYPTO_BUFFER **certs, size_t max, char *err, size_t err_len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    size_t n = 0;
    X509 *x;
    while (bio != NULL && n < max && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        uint8_t *der = NULL;
        int der_len = i2d_X509(x, &der);
        X509_free(x);
        if (der_len <= 0)
            break;
        certs[n] = CRYPTO_BUFFER_new(der, (size_t)der_len, pool);
        OPENSSL_free(der);
        if (certs[n] == NULL)
            break;
        n++;
    }
    BIO_free(bio);
    if (n == 0)
        set_error(err, err_len, "certificate_file %s: no PEM certificate (%s)", path, ssl_reason());
    ERR_clear_error(); /* the loop always ends on a "no start line" */
    return n;
}

int64_t tls_time_unix(const ASN1_TIME *t)
{
    /* This BoringSSL has no ASN1_TIME_to_posix: measure from now instead. */
    int days = 0, seconds = 0;
    if (!ASN1_TIME_diff(&days, &seconds, NULL, t))
        return 0;
    return (int64_t)time(NULL) + (int64_t)days * 86400 + seconds;
}

/* describe fills |info| from our leaf |der|; the names stay owned by it. */
static void describe(struct tls_cert_info *info, const CRYPTO_BUFFER *der)
{
    X509 *leaf = X509_parse_from_buffer((CRYPTO_BUFFER *)der);
    if (leaf == NULL)
        return;
    BIO *bio = BIO_new(BIO_s_mem());
    const uint8_t *text;
    size_t len;
    if (bio != NULL &&
        X509_NAME_print_ex(bio, X509_get_subject_name(leaf), 0, XN_FLAG_RFC2253) >= 0 &&
        BIO_mem_contents(bio, &text, &len))
        snprintf(info->subject, sizeof(info->subject), "%.*s", (int)len, (const char *)text);
    BIO_free(bio);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    if (hex != NULL) /* upper case, as openssl x509 -serial prints it */
        for (size_t i = 0; hex[i] && i + 1 < sizeof(info->serial); i++)
            info->serial[i] = (char)toupper((unsigned char)hex[i]);
    OPENSSL_free(hex);
    BN_free(bn);
    info->not_before = tls_time_unix(X509_get0_notBefore(leaf));
    info->not_after = tls_time_unix(X509_get0_notAfter(leaf));
    info->loaded_at = (int64_t)time(NULL);
    info->identities = tls_identities_from_x509(leaf);
    X509_free(leaf);
}

static bool load_certificate(SSL_CTX *ssl_ctx, CRYPTO_BUFFER_POOL *pool,
                             const struct tls_identity_options *opts, struct tls_cert_info *info,
                             char *err, size_t err_len)
{
    enum { MAX_CHAIN = 10 };
    size_t cert_len, key_len = 0;
    uint8_t *cert_pem =
        tls_read_file("certificate_file", opts->certificate_file, &cert_len, err, err_len);
    if (cert_pem == NULL)
        return false;
    uint8_t *key_pem =
        tls_read_file("private_key_file", opts->private_key_file, &key_len, err, err_len);
    CRYPTO_BUFFER *chain[MAX_CHAIN];
    size_t n = key_pem == NULL ? 0
                               : load_chain(opts->certificate_file, cert_pem, cert_len, pool, chain,
                                            MAX_CHAIN, err, err_len);
    bool ok = false;
    if (n > 0) {
        BIO *bio = BIO_new_mem_buf(key_pem, (int)key_len);
        EVP_PKEY *key = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        if (key == NULL) {
            set_error(err, err_len, "private_key_file %s: no usable PEM private key (%s)",
                      opts->private_key_file, ssl_reason());
        } else if (!SSL_CTX_set_chain_and_key(ssl_ctx, chain, n, key, NULL)) {
            set_error(err, err_len,
                      "private_key_file %s: key does not match certificate_file %s (%s)",
                      opts->private_key_file, opts->certificate_file, ssl_reason());
        } else {
            describe(info, chain[0]);
            ok = true;
        }
        EVP_PKEY_free(key);
    }
    for (size_t i = 0; i < n; i++)
        CRYPTO_BUFFER_free(chain[i]);
    if (key_pem != NULL)
        OPENSSL_cleanse(key_pem, key_len);
    free(key_pem);
    free(cert_pem);
    return ok;
}

/* load_trust builds the store of trust anchors; returns the number loaded. */
static size_t load_trust(X509_STORE *store, const char *path, const uint8_t *pem, size_t len,
                         char *err, size_t err_len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    size_t n = 0;
    X509 *x;
    while (bio != NULL && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (X509_STORE_add_cert(store, x))
            n++;
        X509_free(x);
    }
    BIO_free(bio);
    if (n == 0)
        set_error(err, err_len, "ca_file %s: no PEM certificate (%s)", path, ssl_reason());
    ERR_clear_error();
    return n;
}

static bool load_ticket_key(SSL_CTX *ssl_ctx, const char *path, char *err, size_t err_len)
{
    size_t len;
    uint8_t *key = tls_read_file("ticket_key_file", path, &len, err, err_len);
    if (key == NULL)
        return false;
    bool ok = len == TLS_TICKET_KEY_LEN && SSL_CTX_set_tlsext_ticket_keys(ssl_ctx, key, len);
    if (!ok)
        set_error(err, err_len, "ticket_key_file %s: must hold exactly %d bytes, has %zu", path,
                  TLS_TICKET_KEY_LEN, len);
    OPENSSL_cleanse(key, len);
    free(key);
    return ok;
}

/* pem_text is a file read whole; |pem| NULL and |len| 0 when not given. */
struct pem_text {
    uint8_t *pem;
    size_t len;
};

/* The session ID context binds sessions and tickets to the trust anchors
 * and policy they were verified under: after a reload to another CA bundle,
 * old tickets fall back to a full handshake instead of resuming. */
/* The CRLs count too: a session made before a peer was revoked must not
 * let it back in without the full handshake that checks it. */
static void set_session_context(SSL_CTX *ssl_ctx, const struct pem_text *ca,
                                const struct pem_text *crl, const struct tls_ctx_options *opts,
                                uint8_t identity)
{
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256_CTX sha;
    SHA256_Init(&sha);
    SHA256_Update(&sha, ca->pem, ca->len);
    SHA256_Update(&sha, crl->pem, crl->len);
    /* The identity too: a ticket issued under one of our certificates must
     * not resume under another's SNI, which would skip presenting it. */
    uint8_t policy[4] = {opts->client_cert_required, opts->require_sip_eku, opts->crl_strict,
                         identity};
    SHA256_Update(&sha, policy, sizeof(policy));
    SHA256_Final(digest, &sha);
    SSL_CTX_set_session_id_context(ssl_ctx, digest, SSL_MAX_SID_CTX_LENGTH);
}

/* key_log_line hands BoringSSL's line to the ctx's writer thread. */
static void key_log_line(const SSL *ssl, const char *line)
{
    struct tls_ctx *ctx = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    tls_key_log_add(ctx->key_log, line);
}

static SSL_CTX *new_ssl_ctx(const struct tls_ctx_options *opts,
                            const struct tls_identity_options *id, uint8_t identity,
                            struct tls_cert_info *info, const struct pem_text *ca,
                            const struct pem_text *crl, char *err, size_t err_len)
{
    SSL_CTX *ssl_ctx = SSL_CTX_new(TLS_with_buffers_method());
    if (ssl_ctx == NULL) {
        set_error(err, err_len, "cannot create SSL_CTX (%s)", ssl_reason());
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ssl_ctx, opts->max_tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
    SSL_CTX_set0_buffer_pool(ssl_ctx, cert_pool);
    /* RFC 5923 §9.2 (R-5923-24): the server always asks for a certificate. */
    SSL_CTX_set_custom_verify(
        ssl_ctx,
        SSL_VERIFY_PEER | (opts->client_cert_required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
        tls_verify_peer);
    SSL_CTX_set_retain_only_sha256_of_client_certs(ssl_ctx, 1);
    SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ssl_ctx, tls_verify_new_session);
    SSL_CTX_set_num_tickets(ssl_ctx, 1);
    SSL_CTX_set_timeout(ssl_ctx, opts->session_lifetime_s ? opts->session_lifetime_s
                                                          : TLS_DEFAULT_SESSION_LIFETIME_S);
    SSL_CTX_set_session_psk_dhe_timeout(ssl_ctx, opts->session_lifetime_s
                                                     ? opts->session_lifetime_s
                                                     : TLS_DEFAULT_SESSION_LIFETIME_S);
    set_session_context(ssl_ctx, ca, crl, opts, identity);
    if (!load_certificate(ssl_ctx, cert_pool, id, info, err, err_len) ||
        (opts->ticket_key_file != NULL &&
         !load_ticket_key(ssl_ctx, opts->ticket_key_file, err, err_len))) {
        SSL_CTX_free(ssl_ctx);
        return NULL;
    }
    return ssl_ctx;
}

/* load_identity builds identity |i| of |ctx|: its SSL_CTX (identity 0's
 * is |ctx->ssl_ctx|) and its domains. */
static bool load_identity(struct tls_ctx *ctx, const struct tls_ctx_options *opts,
                          const struct tls_identity_options *id, size_t i,
                          const struct pem_text *ca, const struct pem_text *crl, char *err,
                          size_t err_len)
{
    struct tls_cert_info *info = &ctx->ids[i].cert;
    ctx->n_ids = i + 1;
    info->file = strdup(id->certificate_file);
    SSL_CTX *ssl_ctx =
        info->file != NULL ? new_ssl_ctx(opts, id, (uint8_t)i, info, ca, crl, err, err_len) : NULL;
    if (ssl_ctx == NULL)
        return false;
    ctx->ids[i].ssl_ctx = ssl_ctx;
    ctx->ids[i].domains = id->n_domains
                              ? tls_identities_from_names(id->domains, id->n_domains)
                              : tls_identities_from_pem_file(id->certificate_file, err, err_len);
    if (ctx->ids[i].domains == NULL)
        return false;
    SSL_CTX_set_app_data(ssl_ctx, ctx);
    if (i == 0) {
        ctx->ssl_ctx = ssl_ctx;
        /* SNI picks the identity: the server side starts on identity 0's. */
        SSL_CTX_set_tlsext_servername_callback(ssl_ctx, tls_pick_identity);
    }
    return true;
}

/* load_peer builds the policy of one peer domain, with its own trust store
 * when it names a CA bundle. */
static bool load_peer(struct tls_peer_policy *p, const struct tls_peer_options *o,
                      const struct tls_ctx_options *opts, const struct pem_text *crl, char *err,
                      size_t err_len)
{
    p->domain = strdup(o->domain);
    p->sni = o->sni != NULL ? strdup(o->sni) : NULL;
    p->client_cert_required = o->client_cert_required;
    p->allow_server_auth_only = o->allow_server_auth_only;
    p->require_sip_eku = o->require_sip_eku;
    if (p->domain == NULL || (o->sni != NULL && p->sni == NULL)) {
        set_error(err, err_len, "out of memory");
        return false;
    }
    if (o->ca_file == NULL)
        return true;
    size_t len = 0;
    uint8_t *pem = tls_read_file("ca_file", o->ca_file, &len, err, err_len);
    p->trust = pem != NULL ? X509_STORE_new() : NULL;
    bool ok = p->trust != NULL && load_trust(p->trust, o->ca_file, pem, len, err, err_len) > 0;
    free(pem);
    /* The CRLs hold for every trust store: a peer with its own CA is no
     * less revocable. */
    int64_t next_update;
    return ok && (opts->crl_file == NULL || tls_crl_load(p->trust, opts->crl_file, crl->pem,
                                                         crl->len, &next_update, err, err_len) > 0);
}

/* keep_paths copies the file names operators see in /certificates into one
 * allocation the ctx owns. */
static void keep_paths(struct tls_ctx *ctx, const struct tls_ctx_options *opts)
{
    const char *crl = opts->crl_file ? opts->crl_file : "";
    size_t b = strlen(opts->ca_file) + 1;
    ctx->paths = malloc(b + strlen(crl) + 1);
    if (ctx->paths == NULL)
        return;
    memcpy(ctx->paths, opts->ca_file, b);
    strcpy(ctx->paths + b, crl);
    ctx->trust_info.ca_file = ctx->paths;
    ctx->trust_info.crl_file = opts->crl_file ? ctx->paths + b : NULL;
}

struct tls_ctx *tls_ctx_new(const struct tls_ctx_options *opts, char *err, size_t err_len)
{
    if (opts->certificate_file == NULL || opts->private_key_file == NULL || opts->ca_file == NULL) {
        set_error(err, err_len, "certificate_file, private_key_file and ca_file are required");
        return NULL;
    }
    struct tls_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) {
        set_error(err, err_len, "out of memory");
        return NULL;
    }
    atomic_init(&ctx->refs, 1);
    ctx->generation = atomic_fetch_add(&next_generation, 1);
    ctx->require_sip_eku = opts->require_sip_eku;
    ctx->crl_strict = opts->crl_strict;
    keep_paths(ctx, opts);
    pthread_once(&cert_pool_once, cert_pool_init);
    ctx->trust = X509_STORE_new();
    ctx->ids = calloc(opts->n_identities + 1, sizeof(*ctx->ids));
    ctx->peers = calloc(opts->n_peers + 1, sizeof(*ctx->peers));
    struct pem_text ca = {0}, crl = {0};
    struct tls_trust_info *ti = &ctx->trust_info;
    bool ok = false;
    if (cert_pool == NULL || ctx->trust == NULL || ctx->paths == NULL || ctx->ids == NULL ||
        ctx->peers == NULL) {
        set_error(err, err_len, "out of memory");
    } else if ((ca.pem = tls_read_file("ca_file", opts->ca_file, &ca.len, err, err_len)) != NULL &&
               (ti->ca_count =
                    load_trust(ctx->trust, opts->ca_file, ca.pem, ca.len, err, err_len)) > 0 &&
               (opts->crl_file == NULL ||
                ((crl.pem = tls_read_file("crl_file", opts->crl_file, &crl.len, err, err_len)) !=
                     NULL &&
                 (ti->crl_count = tls_crl_load(ctx->trust, opts->crl_file, crl.pem, crl.len,
                                               &ti->crl_next_update, err, err_len)) > 0))) {
        ctx->has_crl = opts->crl_file != NULL;
        if (ctx->has_crl)
            SHA256(crl.pem, crl.len, ctx->crl_digest);
        const struct tls_identity_options def = {.certificate_file = opts->certificate_file,
                                                 .private_key_file = opts->private_key_file};
        ok = load_identity(ctx, opts, &def, 0, &ca, &crl, err, err_len);
        for (size_t i = 0; ok && i < opts->n_identities; i++)
            ok = load_identity(ctx, opts, &opts->identities[i], i + 1, &ca, &crl, err, err_len);
        for (size_t i = 0; ok && i < opts->n_peers; i++) {
            ctx->n_peers = i + 1;
            ok = load_peer(&ctx->peers[i], &opts->peers[i], opts, &crl, err, err_len);
        }
    }
    free(ca.pem);
    free(crl.pem);
    if (ok && opts->key_log_file != NULL) {
        ctx->key_log = tls_key_log_open(opts->key_log_file, err, err_len);
        for (size_t i = 0; ctx->key_log && i < ctx->n_ids; i++)
            SSL_CTX_set_keylog_callback(ctx->ids[i].ssl_ctx, key_log_line);
        ok = ctx->key_log != NULL;
    }
    if (!ok) {
        tls_ctx_unref(ctx);
        return NULL;
    }
    return ctx;
}

size_t tls_ctx_identity_count(const struct tls_ctx *ctx)
{
    return ctx->n_ids;
}

const struct tls_identities *tls_ctx_identity_domains(const struct tls_ctx *ctx, size_t i)
{
    return ctx->ids[i].domains;
}

int tls_ctx_identity_for(const struct tls_ctx *ctx, const char *host, size_t len)
{
    for (size_t i = 0; i < ctx->n_ids; i++)
        if (tls_identities_contains(ctx->ids[i].domains, host, len))
            return (int)i;
    return -1;
}

const struct tls_peer_policy *tls_ctx_peer(const struct tls_ctx *ctx, const char *domain,
                                           size_t len)
{
    for (size_t i = 0; i < ctx->n_peers; i++) {
        const char *d = ctx->peers[i].domain;
        if (strlen(d) == len && strncasecmp(d, domain, len) == 0)
            return &ctx->peers[i];
    }
    return NULL;
}

struct tls_ctx *tls_ctx_ref(struct tls_ctx *ctx)
{
    atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
    return ctx;
}

void tls_ctx_unref(struct tls_ctx *ctx)
{
    if (ctx == NULL || atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; ctx->ids != NULL && i < ctx->n_ids; i++) {
        SSL_CTX_free(ctx->ids[i].ssl_ctx); /* identity 0's is |ctx->ssl_ctx| */
        tls_identities_unref(ctx->ids[i].domains);
        tls_identities_unref(ctx->ids[i].cert.identities);
        free((char *)ctx->ids[i].cert.file);
    }
    free(ctx->ids);
    for (size_t i = 0; ctx->peers != NULL && i < ctx->n_peers; i++) {
        free(ctx->peers[i].domain);
        free(ctx->peers[i].sni);
        X509_STORE_free(ctx->peers[i].trust);
    }
    free(ctx->peers);
    X509_STORE_free(ctx->trust);
    tls_key_log_close(ctx->key_log); /* after the last connection that could log */
    free(ctx->paths);
    free(ctx);
}

const struct tls_cert_info *tls_ctx_certificate(const struct tls_ctx *ctx, size_t i)
{
    return &ctx->ids[i].cert;
}

bool tls_ctx_crls_differ(const struct tls_ctx *a, const struct tls_ctx *b)
{
    return a->has_crl != b->has_crl || memcmp(a->crl_digest, b->crl_digest, 32) != 0;
}

const struct tls_trust_info *tls_ctx_trust(const struct tls_ctx *ctx)
{
    return &ctx->trust_info;
}
