/* conn: one TLS connection as a pure byte engine.
 *
 * Owns the SSL object and the identity set the peer proved. Holds no
 * buffer of its own: every driving call borrows the caller's buffers
 * (struct tls_io) for ciphertext in and out, and the caller's plaintext
 * buffer to decrypt into or encrypt from, and gives them back when it
 * returns. Holds a reference to its tls_ctx. Never allocates on an
 * established connection itself (BoringSSL's record buffer is the one
 * allocation left, see conn.c), never touches a file descriptor, never
 * blocks, knows nothing of SIP or the event loop: the caller moves every
 * socket byte.
 *
 * Use: present received ciphertext and a place for outgoing ciphertext in a
 * tls_io, drive with tls_conn_handshake / tls_conn_read / tls_conn_write /
 * tls_conn_close_notify, then send what the call put in the caller's
 * buffers and keep the ciphertext it did not take for the next call. */
#ifndef REUSEGW_TLS_CONN_H
#define REUSEGW_TLS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tls/ctx.h"
#include "tls/identities.h"
#include "tls/session_cache.h"

/* tls_state: where a connection is in its life. */
enum tls_state {
    TLS_STATE_HANDSHAKE,      /* handshake in progress */
    TLS_STATE_ESTABLISHED,    /* application data both ways */
    TLS_STATE_CLOSE_SENT,     /* we sent close_notify: incoming data is dropped
                                 until the peer's close_notify (R-5923-22) */
    TLS_STATE_CLOSE_RECEIVED, /* peer sent close_notify: start no new
                                 transactions (R-5923-23); we may still send */
    TLS_STATE_CLOSED,         /* close_notify both ways */
    TLS_STATE_FAILED,         /* fatal error; see tls_conn_error */
};

/* tls_error: why a connection failed. */
enum tls_error {
    TLS_ERROR_NONE,
    TLS_ERROR_NO_PEER_CERT,  /* client sent no certificate, one was required */
    TLS_ERROR_CERT_INVALID,  /* chain did not verify (expired, untrusted...) */
    TLS_ERROR_CERT_PURPOSE,  /* the leaf's EKU does not fit its role
                                (tls_eku_refusal, RFC 5280/5924) */
    TLS_ERROR_CERT_IDENTITY, /* server certificate does not prove the domain */
    TLS_ERROR_CERT_REVOKED,  /* a certificate of the chain is on a CRL */
    TLS_ERROR_CRL_EXPIRED,   /* crl_strict and the CRL of the chain is past nextUpdate */
    TLS_ERROR_PEER_ALERT,    /* peer aborted with a fatal alert */
    TLS_ERROR_PROTOCOL,      /* malformed or unexpected TLS */
    TLS_ERROR_RESOURCES,     /* out of memory, or the caller's buffers for
                                outgoing ciphertext were full */
};

/* tls_progress: the answer of every driving call. After any of them the
 * caller sends the ciphertext the call appended through its tls_io. */
enum tls_progress {
    TLS_PROGRESS_DONE,      /* handshake complete / data moved */
    TLS_PROGRESS_WANT_READ, /* present more ciphertext, then call again */
    TLS_PROGRESS_CLOSED,    /* close_notify state reached; see tls_conn_state */
    TLS_PROGRESS_FAILED,    /* see tls_conn_error / tls_conn_error_reason */
};

struct tls_conn;

/* tls_io: the caller's buffers, lent to one driving call and borrowed by
 * the engine only until the call returns.
 *
 * |in| and |in_len| are received ciphertext. The engine takes bytes from
 * the front only as it needs them (never past the record it is reading),
 * advancing |in| and shrinking |in_len|; bytes it leaves stay the caller's,
 * to present again on the next call. A record begun in one call is kept by
 * BoringSSL until its end arrives.
 *
 * |out| takes the ciphertext the call produces: it copies |len| bytes of
 * |data| (borrowed) into the caller's buffers (typically pool blocks queued
 * for the socket), in order, and returns false when they are full, which
 * fails the connection with TLS_ERROR_RESOURCES. |out_arg| is passed to it.
 * The caller bounds what it buffers; the engine adds no bound of its own. */
struct tls_io {
    const uint8_t *in;
    size_t in_len;
    bool (*out)(void *out_arg, const void *data, size_t len);
    void *out_arg;
};

/* tls_conn_new_server makes the accepting side of a connection. It takes a
 * reference to |ctx|. Returns NULL on allocation failure. Free with
 * tls_conn_free. */
struct tls_conn *tls_conn_new_server(struct tls_ctx *ctx);

/* tls_conn_new_client makes the connecting side towards |domain| (borrowed,
 * NUL-terminated): SNI = |domain|, and the server's certificate must verify
 * and list |domain| among its RFC 5922 identities (§7.3), else the handshake
 * fails with TLS_ERROR_CERT_IDENTITY. Our certificate is always sent.
 * |cache| (borrowed, may be NULL; must outlive the conn) resumes and stores
 * sessions under (|peer_addr|, |domain|); |peer_addr| is |peer_addr_len| <=
 * TLS_SESSION_KEY_MAX_ADDR opaque bytes, typically the sockaddr dialled.
 * Returns NULL on allocation failure or an over-long key. */
struct tls_conn *tls_conn_new_client(struct tls_ctx *ctx, const char *domain,
                                     struct tls_session_cache *cache, const void *peer_addr,
                                     size_t peer_addr_len);

/* tls_conn_new_client_as is tls_conn_new_client presenting identity
 * |identity| (< tls_ctx_identity_count) of |ctx| as the client certificate;
 * the session cache keeps its sessions apart from other identities'. The
 * peer policy of |domain| (tls_peer_options) may name the SNI sent and the
 * trust anchors; the certificate must still prove |domain|. */
struct tls_conn *tls_conn_new_client_as(struct tls_ctx *ctx, size_t identity, const char *domain,
                                        struct tls_session_cache *cache, const void *peer_addr,
                                        size_t peer_addr_len);

/* tls_conn_free frees |conn| and drops its ctx reference. Sends nothing:
 * call tls_conn_close_notify first for a graceful close. NULL is ignored. */
void tls_conn_free(struct tls_conn *conn);

/* tls_conn_handshake advances the handshake with the ciphertext of |io|
 * (borrowed, see tls_io). DONE once it completed (the peer's identities are
 * then known; ciphertext after the handshake stays in |io| for
 * tls_conn_read); WANT_READ while it needs more input; FAILED on error. */
enum tls_progress tls_conn_handshake(struct tls_conn *conn, struct tls_io *io);

/* tls_conn_read decrypts the ciphertext of |io| (borrowed) into |buf|
 * (borrowed, |cap| bytes) and sets |*n| (0 unless DONE). Completes the
 * handshake first if needed. DONE with |*n| > 0: call again, a record may
 * hold more than |cap| bytes; WANT_READ when |io| holds no whole record;
 * CLOSED when the peer's close_notify arrived (state CLOSE_RECEIVED or
 * CLOSED). After our own close_notify it decrypts and discards application
 * data (R-5923-22) and returns WANT_READ until the peer's close_notify. */
enum tls_progress tls_conn_read(struct tls_conn *conn, struct tls_io *io, void *buf, size_t cap,
                                size_t *n);

/* tls_conn_write encrypts all |len| bytes of |data| (borrowed) into
 * records of at most 16 KiB of plaintext each, appended through |io|'s
 * |out|. DONE when all were encrypted; WANT_READ during the handshake
 * (nothing taken); CLOSED after our close_notify; FAILED on error, including
 * |out| refusing bytes. Only in state ESTABLISHED or CLOSE_RECEIVED. */
enum tls_progress tls_conn_write(struct tls_conn *conn, struct tls_io *io, const void *data,
                                 size_t len);

/* tls_conn_close_notify appends our close_notify through |io| (R-5923-21:
 * the caller has finished or abandoned its transactions first).
 * ESTABLISHED becomes CLOSE_SENT, CLOSE_RECEIVED becomes CLOSED; during the
 * handshake the connection just becomes CLOSED (nothing to notify). */
void tls_conn_close_notify(struct tls_conn *conn, struct tls_io *io);

/* tls_conn_state returns the connection's state. */
enum tls_state tls_conn_state(const struct tls_conn *conn);

/* tls_conn_error returns why the connection failed (NONE unless FAILED). */
enum tls_error tls_conn_error(const struct tls_conn *conn);

/* tls_conn_error_reason returns a human-readable reason for the log, e.g.
 * "certificate verify failed: certificate has expired" or "peer did not
 * return a certificate"; "" when there is none. Owned by |conn|. */
const char *tls_conn_error_reason(const struct tls_conn *conn);

/* tls_conn_identities returns the identities the peer's verified certificate
 * proves (borrowed; take a reference to keep them beyond |conn|), or NULL when
 * the peer is unauthenticated (server role, optional certificate, none sent):
 * such a connection must never be aliased (R-5923-25). NULL before the
 * handshake completes. */
struct tls_identities *tls_conn_identities(const struct tls_conn *conn);

/* tls_conn_identity returns which identity of ours (an index of the ctx,
 * 0 the default) |conn| presents: the one it was made with (client), or
 * the one the client's SNI chose (server; 0 for no SNI or an unknown name). */
size_t tls_conn_identity(const struct tls_conn *conn);

/* tls_conn_sni_unknown reports whether the client's SNI named a host that
 * no identity of ours serves (server role; it got the default identity). */
bool tls_conn_sni_unknown(const struct tls_conn *conn);

/* tls_conn_unverified_reason returns why the client's certificate did not
 * verify when a peer policy with client_cert_required false served it
 * unauthenticated anyway (owned by |conn|), else NULL. */
const char *tls_conn_unverified_reason(const struct tls_conn *conn);

/* tls_conn_crl_expired reports whether the peer chain was accepted under
 * a CRL past its nextUpdate (crl_strict off): still checked, but stale. */
bool tls_conn_crl_expired(const struct tls_conn *conn);

/* tls_conn_resumed reports whether the handshake resumed a session. */
bool tls_conn_resumed(const struct tls_conn *conn);

/* tls_conn_version returns "TLSv1.2" or "TLSv1.3" once established (a
 * static string of BoringSSL's: it outlives |conn|). */
const char *tls_conn_version(const struct tls_conn *conn);

/* tls_conn_cipher returns the IANA name of the negotiated cipher suite
 * ("TLS_AES_128_GCM_SHA256"; static, like the version), or NULL before the
 * handshake completes. */
const char *tls_conn_cipher(const struct tls_conn *conn);

#endif
