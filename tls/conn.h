/* conn: one TLS connection as a pure byte engine.
 *
 * Owns the SSL object, the ciphertext waiting to be sent and the ciphertext
 * not yet decrypted, and the identity set the peer proved. Borrows the caller's
 * buffers only during a call; holds a reference to its tls_ctx. Never touches
 * a file descriptor, never blocks, knows nothing of SIP or the event loop: the
 * caller moves every socket byte. An idle established connection holds no
 * plaintext or ciphertext buffer.
 *
 * Use: feed received ciphertext with tls_conn_feed, drive with
 * tls_conn_handshake / tls_conn_read / tls_conn_write, and after every call
 * send what tls_conn_ciphertext shows, then tls_conn_consume_ciphertext. */
#ifndef REUSEGW_TLS_CONN_H
#define REUSEGW_TLS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tls/ctx.h"
#include "tls/identities.h"
#include "tls/session_cache.h"

/* Ciphertext buffered by tls_conn_feed beyond which it accepts nothing more
 * until plaintext is read (back-pressure on the socket reader). */
#define TLS_CONN_MAX_INPUT (64 * 1024)
/* Ciphertext waiting to be sent beyond which tls_conn_write accepts nothing
 * more (back-pressure on the plaintext writer). */
#define TLS_CONN_MAX_OUTPUT (256 * 1024)

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
    TLS_ERROR_PEER_ALERT,    /* peer aborted with a fatal alert */
    TLS_ERROR_PROTOCOL,      /* malformed or unexpected TLS */
    TLS_ERROR_RESOURCES,     /* out of memory or a buffer bound was hit */
};

/* tls_progress: the answer of every driving call. After any of them the
 * caller sends the pending ciphertext (tls_conn_ciphertext). */
enum tls_progress {
    TLS_PROGRESS_DONE,       /* handshake complete / data moved */
    TLS_PROGRESS_WANT_READ,  /* feed more ciphertext, then call again */
    TLS_PROGRESS_WANT_WRITE, /* output bound reached: send ciphertext first */
    TLS_PROGRESS_CLOSED,     /* close_notify state reached; see tls_conn_state */
    TLS_PROGRESS_FAILED,     /* see tls_conn_error / tls_conn_error_reason */
};

struct tls_conn;

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

/* tls_conn_free frees |conn| and drops its ctx reference. Sends nothing:
 * call tls_conn_close_notify first for a graceful close. NULL is ignored. */
void tls_conn_free(struct tls_conn *conn);

/* tls_conn_feed copies up to |len| bytes of received ciphertext (borrowed)
 * and returns how many it took; fewer than |len| (possibly 0) when
 * TLS_CONN_MAX_INPUT bytes already wait: read plaintext, then feed the rest.
 * In state CLOSED or FAILED the bytes are discarded and reported as taken. */
size_t tls_conn_feed(struct tls_conn *conn, const void *data, size_t len);

/* tls_conn_handshake advances the handshake with the ciphertext fed so far.
 * DONE once it completed (the peer's identities are then known); WANT_READ
 * while it needs more input; FAILED on error. */
enum tls_progress tls_conn_handshake(struct tls_conn *conn);

/* tls_conn_read decrypts into |buf| (|cap| bytes) and sets |*n| (0 unless
 * DONE). Completes the handshake first if needed. DONE with |*n| > 0;
 * WANT_READ when no whole record is buffered; CLOSED when the peer's
 * close_notify arrived (state CLOSE_RECEIVED or CLOSED). After our own
 * close_notify it decrypts and discards application data (R-5923-22) and
 * returns WANT_READ until the peer's close_notify. */
enum tls_progress tls_conn_read(struct tls_conn *conn, void *buf, size_t cap, size_t *n);

/* tls_conn_write encrypts up to |len| bytes of |data| (borrowed) into the
 * pending ciphertext and sets |*n| to the bytes taken. DONE when all were
 * taken; WANT_WRITE when TLS_CONN_MAX_OUTPUT bytes wait to be sent (|*n| may
 * be short); CLOSED after our close_notify; FAILED on error. Only in state
 * ESTABLISHED or CLOSE_RECEIVED. */
enum tls_progress tls_conn_write(struct tls_conn *conn, const void *data, size_t len, size_t *n);

/* tls_conn_ciphertext points |*data| at the ciphertext waiting to be sent and
 * returns its length (0: nothing). The bytes stay valid until the next call
 * on |conn|. */
size_t tls_conn_ciphertext(const struct tls_conn *conn, const uint8_t **data);

/* tls_conn_consume_ciphertext marks |n| (<= pending) bytes as sent. */
void tls_conn_consume_ciphertext(struct tls_conn *conn, size_t n);

/* tls_conn_close_notify queues our close_notify (R-5923-21: the caller has
 * finished or abandoned its transactions first). ESTABLISHED becomes
 * CLOSE_SENT, CLOSE_RECEIVED becomes CLOSED; during the handshake the
 * connection just becomes CLOSED (nothing to notify). */
void tls_conn_close_notify(struct tls_conn *conn);

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

/* tls_conn_resumed reports whether the handshake resumed a session. */
bool tls_conn_resumed(const struct tls_conn *conn);

/* tls_conn_version returns "TLSv1.2" or "TLSv1.3" once established. */
const char *tls_conn_version(const struct tls_conn *conn);

#endif
