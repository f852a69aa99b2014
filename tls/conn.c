/* The per-connection engine: SSL over a BIO that reads from and writes to
 * the caller's buffers of the call in progress (struct tls_io).
 *
 * Allocations: none of ours after the handshake. BoringSSL (13.0.0+r24)
 * mallocs one record buffer when it starts reading a record and frees it
 * once the record's plaintext is taken, and does the same for each
 * SSL_write; no setting keeps them (SSL_MODE_RELEASE_BUFFERS is 0, "always
 * released"; the in-place bssl::OpenRecord / SealRecord work only for TLS
 * 1.2 servers). That is what keeps an idle connection small: handshake
 * configuration is shed, the server keeps only the SHA-256 of the client
 * certificate, and between records nothing is buffered at all. */
#include "tls/conn.h"

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls/internal.h"
#include "tls/resumed_identities.h"
#include "tls/verify.h"

/* BoringSSL never writes a record of more plaintext than this. */
#define TLS_WRITE_CHUNK 16384

struct tls_conn {
    SSL *ssl;
    struct tls_ctx *ctx;
    struct tls_identities *ids;      /* NULL: unauthenticated or not yet known */
    struct tls_session_cache *cache; /* client role, borrowed, may be NULL */
    struct tls_session_key *key;     /* client role: domain (+ address) */
    char *reason;                    /* set on failure only */
    struct tls_io *io;               /* the call in progress's, else NULL */
    bool out_refused;                /* io->out said no: the caller is full */
    bool crl_expired;                /* verified under a CRL past nextUpdate */
    enum tls_state state;
    enum tls_error error;
    bool is_client;
    uint8_t identity; /* ours: the client certificate sent, or SNI's pick */
    bool sni_unknown; /* server: the SNI named no identity of ours */
    bool downgraded;  /* server: served unauthenticated by a peer policy */
};

/* --- the BIO over the caller's buffers ------------------------------------ */

static int bio_read(BIO *bio, char *dst, int len)
{
    struct tls_conn *conn = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    struct tls_io *io = conn->io;
    if (io == NULL || io->in_len == 0) {
        BIO_set_retry_read(bio);
        return -1;
    }
    size_t n = io->in_len < (size_t)len ? io->in_len : (size_t)len;
    memcpy(dst, io->in, n);
    io->in += n;
    io->in_len -= n;
    return (int)n;
}

static int bio_write(BIO *bio, const char *src, int len)
{
    struct tls_conn *conn = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    struct tls_io *io = conn->io;
    if (io == NULL || io->out == NULL || !io->out(io->out_arg, src, (size_t)len)) {
        conn->out_refused = true;
        return -1;
    }
    return len;
}

static long bio_ctrl(BIO *bio, int cmd, long larg, void *parg)
{
    return cmd == BIO_CTRL_FLUSH;
}

static int bio_create(BIO *bio)
{
    BIO_set_init(bio, 1);
    return 1;
}

static BIO_METHOD *io_bio_method;
static pthread_once_t io_bio_once = PTHREAD_ONCE_INIT;

static void io_bio_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOURCE_SINK, "reusegw tls io");
    if (m != NULL && BIO_meth_set_read(m, bio_read) && BIO_meth_set_write(m, bio_write) &&
        BIO_meth_set_ctrl(m, bio_ctrl) && BIO_meth_set_create(m, bio_create))
        io_bio_method = m;
}

/* --- life cycle ----------------------------------------------------------- */

static struct tls_conn *conn_new(struct tls_ctx *ctx, SSL_CTX *ssl_ctx, bool is_client)
{
    pthread_once(&io_bio_once, io_bio_init);
    struct tls_conn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL || io_bio_method == NULL)
        goto fail;
    conn->ctx = tls_ctx_ref(ctx);
    conn->is_client = is_client;
    conn->ssl = SSL_new(ssl_ctx);
    BIO *bio = BIO_new(io_bio_method);
    if (conn->ssl == NULL || bio == NULL) {
        BIO_free(bio);
        goto fail;
    }
    BIO_set_data(bio, conn);
    SSL_set_bio(conn->ssl, bio, bio);
    SSL_set_app_data(conn->ssl, conn);
    /* Handshake-only configuration is freed once the handshake is over. */
    SSL_set_shed_handshake_config(conn->ssl, 1);
    return conn;
fail:
    tls_conn_free(conn);
    return NULL;
}

struct tls_conn *tls_conn_new_server(struct tls_ctx *ctx)
{
    struct tls_conn *conn = conn_new(ctx, ctx->ssl_ctx, false);
    if (conn != NULL)
        SSL_set_accept_state(conn->ssl);
    return conn;
}

struct tls_conn *tls_conn_new_client(struct tls_ctx *ctx, const char *domain,
                                     struct tls_session_cache *cache, const void *peer_addr,
                                     size_t peer_addr_len)
{
    return tls_conn_new_client_as(ctx, 0, domain, cache, peer_addr, peer_addr_len);
}

struct tls_conn *tls_conn_new_client_as(struct tls_ctx *ctx, size_t identity, const char *domain,
                                        struct tls_session_cache *cache, const void *peer_addr,
                                        size_t peer_addr_len)
{
    size_t domain_len = strlen(domain);
    if (domain_len == 0 || domain_len > TLS_IDENTITY_MAX_LEN ||
        peer_addr_len > TLS_SESSION_KEY_MAX_ADDR || identity >= ctx->n_ids)
        return NULL;
    struct tls_conn *conn = conn_new(ctx, ctx->ids[identity].ssl_ctx, true);
    if (conn == NULL)
        return NULL;
    conn->identity = (uint8_t)identity;
    const struct tls_peer_policy *policy = tls_ctx_peer(ctx, domain, domain_len);
    conn->key = calloc(1, sizeof(*conn->key));
    if (conn->key == NULL ||
        !SSL_set_tlsext_host_name(conn->ssl, policy && policy->sni ? policy->sni : domain)) {
        tls_conn_free(conn);
        return NULL;
    }
    conn->key->identity = (uint8_t)identity;
    conn->key->addr_len = (uint8_t)peer_addr_len;
    if (peer_addr_len > 0)
        memcpy(conn->key->addr, peer_addr, peer_addr_len);
    conn->key->domain_len = (uint8_t)domain_len;
    memcpy(conn->key->domain, domain, domain_len + 1);
    conn->cache = cache;
    SSL_set_connect_state(conn->ssl);
    if (cache != NULL) {
        /* The identities proven when the session was made stand for a resumed
         * handshake; a full handshake replaces them in tls_verify_peer. */
        SSL_SESSION *session =
            tls_session_cache_take(cache, conn->key, ctx->generation, &conn->ids);
        if (session != NULL) {
            SSL_set_session(conn->ssl, session);
            SSL_SESSION_free(session);
        }
    }
    return conn;
}

void tls_conn_free(struct tls_conn *conn)
{
    if (conn == NULL)
        return;
    SSL_free(conn->ssl);
    tls_ctx_unref(conn->ctx);
    tls_identities_unref(conn->ids);
    free(conn->key);
    free(conn->reason);
    free(conn);
}

/* --- failures ------------------------------------------------------------- */

static void set_reason(struct tls_conn *conn, const char *reason)
{
    free(conn->reason);
    conn->reason = strdup(reason);
}

/* fail records why |conn| failed from BoringSSL's error queue, unless our
 * verify callback already gave a more precise reason, and clears the queue. */
static enum tls_progress fail(struct tls_conn *conn)
{
    conn->state = TLS_STATE_FAILED;
    uint32_t packed = ERR_get_error();
    ERR_clear_error();
    if (conn->error != TLS_ERROR_NONE)
        return TLS_PROGRESS_FAILED;
    int reason = ERR_GET_REASON(packed);
    char text[160];
    if (conn->out_refused) {
        conn->error = TLS_ERROR_RESOURCES;
        snprintf(text, sizeof(text), "no room for outgoing ciphertext");
    } else if (ERR_GET_LIB(packed) == ERR_LIB_SSL &&
               reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
        conn->error = TLS_ERROR_NO_PEER_CERT;
        snprintf(text, sizeof(text), "peer did not return a certificate");
    } else if (ERR_GET_LIB(packed) == ERR_LIB_SSL && reason >= SSL_AD_REASON_OFFSET) {
        conn->error = TLS_ERROR_PEER_ALERT;
        snprintf(text, sizeof(text), "peer sent alert: %s",
                 SSL_alert_desc_string_long(reason - SSL_AD_REASON_OFFSET));
    } else if (packed == 0) {
        conn->error = TLS_ERROR_RESOURCES;
        snprintf(text, sizeof(text), "out of memory");
    } else {
        /* BoringSSL reasons read "WRONG_VERSION_NUMBER": make them prose. */
        conn->error = ERR_GET_LIB(packed) == ERR_LIB_SSL ? TLS_ERROR_PROTOCOL : TLS_ERROR_RESOURCES;
        const char *r = ERR_reason_error_string(packed);
        snprintf(text, sizeof(text), "%s", r != NULL ? r : "unknown error");
        for (char *p = text; *p; p++)
            *p = *p == '_' ? ' ' : (char)tolower((unsigned char)*p);
    }
    set_reason(conn, text);
    return TLS_PROGRESS_FAILED;
}

/* --- BoringSSL callbacks -------------------------------------------------- */

enum ssl_verify_result_t tls_verify_peer(SSL *ssl, uint8_t *out_alert)
{
    struct tls_conn *conn = SSL_get_app_data(ssl);
    const STACK_OF(CRYPTO_BUFFER) *chain = SSL_get0_peer_certificates(ssl);
    struct tls_verify_result result;
    tls_verify_chain(conn->ctx, chain, conn->is_client ? conn->key->domain : NULL, &result);
    if (result.error != TLS_ERROR_NONE && !conn->is_client && result.policy != NULL &&
        !result.policy->client_cert_required && result.error != TLS_ERROR_RESOURCES) {
        /* The peer's policy makes its certificate optional: serve it as if
         * it had sent none (no identities, never aliased, R-5923-25). */
        conn->downgraded = true;
        set_reason(conn, result.reason);
        tls_identities_unref(conn->ids);
        conn->ids = NULL;
        return ssl_verify_ok;
    }
    if (result.error != TLS_ERROR_NONE) {
        conn->error = result.error;
        set_reason(conn, result.reason);
        *out_alert = result.alert;
        return ssl_verify_invalid;
    }
    tls_identities_unref(conn->ids);
    conn->ids = result.ids;
    conn->crl_expired = result.crl_expired;
    if (!conn->is_client) {
        const CRYPTO_BUFFER *leaf = sk_CRYPTO_BUFFER_value(chain, 0);
        tls_resumed_identities_remember(CRYPTO_BUFFER_data(leaf), CRYPTO_BUFFER_len(leaf),
                                        conn->ids);
    }
    return ssl_verify_ok;
}

int tls_verify_new_session(SSL *ssl, SSL_SESSION *session)
{
    struct tls_conn *conn = SSL_get_app_data(ssl);
    if (!conn->is_client || conn->cache == NULL || conn->ids == NULL)
        return 0;
    tls_session_cache_put(conn->cache, conn->key, conn->ctx->generation, session, conn->ids);
    return 1;
}

int tls_pick_identity(SSL *ssl, int *out_alert, void *arg)
{
    struct tls_conn *conn = SSL_get_app_data(ssl);
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == NULL)
        return SSL_TLSEXT_ERR_OK; /* no SNI: the default identity */
    int i = tls_ctx_identity_for(conn->ctx, name, strlen(name));
    conn->sni_unknown = i < 0;
    if (i > 0 && SSL_set_SSL_CTX(ssl, conn->ctx->ids[i].ssl_ctx) == NULL) {
        *out_alert = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    conn->identity = i > 0 ? (uint8_t)i : 0;
    return SSL_TLSEXT_ERR_OK;
}

/* --- driving -------------------------------------------------------------- */

static void on_established(struct tls_conn *conn)
{
    conn->state = TLS_STATE_ESTABLISHED;
    if (conn->is_client)
        return; /* ids came from the verify callback or the session cache */
    /* BoringSSL holds TLS 1.3 tickets back until the server writes; a SIP
     * server may stay silent, so flush them now with a zero-byte write. */
    SSL_write(conn->ssl, NULL, 0);
    if (!SSL_session_reused(conn->ssl))
        return;
    /* Server, resumed: only the hash of the client certificate survives in
     * the session; the identities were proven at the full handshake. */
    const uint8_t *sha256;
    size_t len;
    SSL_SESSION_get0_peer_sha256(SSL_get_session(conn->ssl), &sha256, &len);
    tls_identities_unref(conn->ids);
    conn->ids = len == 32 ? tls_resumed_identities_recall(sha256) : NULL;
}

/* lend and unlend bracket every driving call: the BIO sees |io| only
 * while the caller's buffers are ours. */
static void lend(struct tls_conn *conn, struct tls_io *io)
{
    conn->io = io;
    ERR_clear_error();
}

static enum tls_progress unlend(struct tls_conn *conn, enum tls_progress p)
{
    conn->io = NULL;
    return p;
}

static enum tls_progress handshake(struct tls_conn *conn)
{
    if (conn->state == TLS_STATE_FAILED)
        return TLS_PROGRESS_FAILED;
    if (conn->state != TLS_STATE_HANDSHAKE)
        return TLS_PROGRESS_DONE;
    int r = SSL_do_handshake(conn->ssl);
    if (r == 1) {
        on_established(conn);
        return conn->out_refused ? fail(conn) : TLS_PROGRESS_DONE;
    }
    if (SSL_get_error(conn->ssl, r) == SSL_ERROR_WANT_READ && !conn->out_refused)
        return TLS_PROGRESS_WANT_READ;
    return fail(conn);
}

enum tls_progress tls_conn_handshake(struct tls_conn *conn, struct tls_io *io)
{
    lend(conn, io);
    return unlend(conn, handshake(conn));
}

/* drain_until_close_notify discards application data after our close_notify
 * (RFC 5923 §8.3, R-5923-22). */
static enum tls_progress drain_until_close_notify(struct tls_conn *conn)
{
    char scratch[4096];
    for (;;) {
        int r = SSL_read(conn->ssl, scratch, sizeof(scratch));
        if (r > 0)
            continue;
        int err = SSL_get_error(conn->ssl, r);
        if (err == SSL_ERROR_ZERO_RETURN) {
            conn->state = TLS_STATE_CLOSED;
            return TLS_PROGRESS_CLOSED;
        }
        return err == SSL_ERROR_WANT_READ && !conn->out_refused ? TLS_PROGRESS_WANT_READ
                                                                : fail(conn);
    }
}

static enum tls_progress read_record(struct tls_conn *conn, void *buf, size_t cap, size_t *n)
{
    enum tls_progress p = handshake(conn);
    if (p != TLS_PROGRESS_DONE)
        return p;
    switch (conn->state) {
    case TLS_STATE_CLOSE_SENT:
        return drain_until_close_notify(conn);
    case TLS_STATE_CLOSE_RECEIVED:
    case TLS_STATE_CLOSED:
        return TLS_PROGRESS_CLOSED;
    default:
        break;
    }
    int r = SSL_read(conn->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    if (r > 0) {
        *n = (size_t)r;
        return TLS_PROGRESS_DONE;
    }
    switch (SSL_get_error(conn->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        return conn->out_refused ? fail(conn) : TLS_PROGRESS_WANT_READ;
    case SSL_ERROR_ZERO_RETURN:
        conn->state = TLS_STATE_CLOSE_RECEIVED;
        return TLS_PROGRESS_CLOSED;
    default:
        return fail(conn);
    }
}

enum tls_progress tls_conn_read(struct tls_conn *conn, struct tls_io *io, void *buf, size_t cap,
                                size_t *n)
{
    *n = 0;
    lend(conn, io);
    return unlend(conn, read_record(conn, buf, cap, n));
}

static enum tls_progress write_records(struct tls_conn *conn, const uint8_t *data, size_t len)
{
    switch (conn->state) {
    case TLS_STATE_HANDSHAKE:
        return TLS_PROGRESS_WANT_READ;
    case TLS_STATE_CLOSE_SENT:
    case TLS_STATE_CLOSED:
        return TLS_PROGRESS_CLOSED;
    case TLS_STATE_FAILED:
        return TLS_PROGRESS_FAILED;
    default:
        break;
    }
    for (size_t done = 0; done < len;) {
        size_t chunk = len - done < TLS_WRITE_CHUNK ? len - done : TLS_WRITE_CHUNK;
        int r = SSL_write(conn->ssl, data + done, (int)chunk);
        if (r <= 0)
            return fail(conn);
        done += (size_t)r;
    }
    return TLS_PROGRESS_DONE;
}

enum tls_progress tls_conn_write(struct tls_conn *conn, struct tls_io *io, const void *data,
                                 size_t len)
{
    lend(conn, io);
    return unlend(conn, write_records(conn, data, len));
}

void tls_conn_close_notify(struct tls_conn *conn, struct tls_io *io)
{
    lend(conn, io);
    switch (conn->state) {
    case TLS_STATE_HANDSHAKE:
        conn->state = TLS_STATE_CLOSED;
        break;
    case TLS_STATE_ESTABLISHED:
    case TLS_STATE_CLOSE_RECEIVED:
        SSL_shutdown(conn->ssl);
        ERR_clear_error();
        conn->state =
            conn->state == TLS_STATE_ESTABLISHED ? TLS_STATE_CLOSE_SENT : TLS_STATE_CLOSED;
        if (conn->out_refused)
            fail(conn);
        break;
    default:
        break;
    }
    unlend(conn, TLS_PROGRESS_DONE);
}

enum tls_state tls_conn_state(const struct tls_conn *conn)
{
    return conn->state;
}

enum tls_error tls_conn_error(const struct tls_conn *conn)
{
    return conn->state == TLS_STATE_FAILED ? conn->error : TLS_ERROR_NONE;
}

const char *tls_conn_error_reason(const struct tls_conn *conn)
{
    return conn->reason != NULL ? conn->reason : "";
}

struct tls_identities *tls_conn_identities(const struct tls_conn *conn)
{
    return conn->state == TLS_STATE_HANDSHAKE || conn->state == TLS_STATE_FAILED ? NULL : conn->ids;
}

size_t tls_conn_identity(const struct tls_conn *conn)
{
    return conn->identity;
}

bool tls_conn_sni_unknown(const struct tls_conn *conn)
{
    return conn->sni_unknown;
}

const char *tls_conn_unverified_reason(const struct tls_conn *conn)
{
    return conn->downgraded ? conn->reason : NULL;
}

bool tls_conn_crl_expired(const struct tls_conn *conn)
{
    return conn->crl_expired;
}

bool tls_conn_resumed(const struct tls_conn *conn)
{
    return conn->state != TLS_STATE_HANDSHAKE && SSL_session_reused(conn->ssl);
}

const char *tls_conn_version(const struct tls_conn *conn)
{
    return SSL_get_version(conn->ssl);
}

const char *tls_conn_cipher(const struct tls_conn *conn)
{
    const SSL_CIPHER *cipher =
        conn->state != TLS_STATE_HANDSHAKE ? SSL_get_current_cipher(conn->ssl) : NULL;
    return cipher ? SSL_CIPHER_standard_name(cipher) : NULL;
}
