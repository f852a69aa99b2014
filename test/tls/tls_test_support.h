/* tls_test_support: a throwaway test PKI and an in-memory wire between two
 * TLS endpoints, shared by the tls/ tests and benchmark.
 *
 * Owns the temporary PKI directory it creates and the wire's outboxes: the
 * ciphertext each engine produced that its peer has not taken yet, the
 * buffers these tests lend to the engines (tls_io), freed once taken so an
 * idle engine costs nothing here. Borrows the engines it drives. Never opens
 * a socket. */
#ifndef REUSEGW_TEST_TLS_SUPPORT_H
#define REUSEGW_TEST_TLS_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "tls/conn.h"
#include "tls/ctx.h"

/* pki_setup runs test/certs/gen.sh into a fresh temporary directory (unique
 * per process, so parallel tests never share files) and returns its path;
 * aborts the test program on failure. pki_teardown removes it. */
const char *pki_setup(void);
void pki_teardown(void);

/* pki_group_setup and pki_group_teardown wrap pki_setup and pki_teardown as
 * cmocka group fixtures, for tests whose whole group shares one PKI. |state|
 * is left untouched. Both return 0. */
int pki_group_setup(void **state);
int pki_group_teardown(void **state);

/* pki_path formats "<pki dir>/<name>" into a static rotating buffer. */
const char *pki_path(const char *name);

/* pki_ctx_new builds a ctx whose certificate and key are <leaf>.chain.pem and
 * <leaf>.key, trusting ca.pem. Aborts with the reason on failure. */
struct tls_ctx *pki_ctx_new(const char *leaf, bool client_cert_required, bool require_sip_eku,
                            bool max_tls12);

/* pki_ctx_with is pki_ctx_new for any other |opts|: their certificate,
 * key and CA files are replaced by <leaf>'s and the test CA. */
struct tls_ctx *pki_ctx_with(const char *leaf, struct tls_ctx_options opts);

/* wire_lend makes the tls_io of one call by |conn|: ciphertext in from
 * |in| (borrowed, |in_len| bytes), ciphertext out appended to |conn|'s
 * outbox. */
struct tls_io wire_lend(struct tls_conn *conn, const void *in, size_t in_len);

/* wire_pending points |*data| at |conn|'s outbox and returns its length. */
size_t wire_pending(struct tls_conn *conn, const uint8_t **data);

/* wire_take drops |n| (<= pending) bytes from the front of |conn|'s
 * outbox, as delivered. */
void wire_take(struct tls_conn *conn, size_t n);

/* wire_handshake drives |conn|'s handshake on what |peer| (NULL: nothing)
 * has sent; what it takes leaves |peer|'s outbox. */
enum tls_progress wire_handshake(struct tls_conn *conn, struct tls_conn *peer);

/* wire_read is tls_conn_read of |conn| on what |peer| (NULL: nothing) has
 * sent. */
enum tls_progress wire_read(struct tls_conn *conn, struct tls_conn *peer, void *buf, size_t cap,
                            size_t *n);

/* wire_write is tls_conn_write of |conn| into its outbox. */
enum tls_progress wire_write(struct tls_conn *conn, const void *data, size_t len);

/* wire_close_notify is tls_conn_close_notify of |conn| into its outbox. */
void wire_close_notify(struct tls_conn *conn);

/* wire_free drops |conn|'s outbox and frees |conn|. */
void wire_free(struct tls_conn *conn);

/* pump_handshake drives both engines until both completed or one failed
 * (the failing side's alert is then delivered to the other, which is
 * driven once more). Returns true if both completed. Bounded rounds. */
bool pump_handshake(struct tls_conn *client, struct tls_conn *server);

/* pump_read reads up to |cap| bytes of plaintext from |reader| on what
 * |writer| has sent; returns the progress of the read. */
enum tls_progress pump_read(struct tls_conn *writer, struct tls_conn *reader, char *buf, size_t cap,
                            size_t *n);

/* A bare BoringSSL client (no certificate) over a memory BIO pair, as a
 * certless peer for our server engine. */
struct bare_client {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *net;              /* our side of the BIO pair: ciphertext in and out */
    uint8_t unread[16384]; /* from |net|, not yet taken by the server */
    size_t unread_len;
    bool saw_certificate_request;
};

/* bare_client_init makes a client that offers no certificate and accepts
 * any server certificate. bare_client_free releases it. */
void bare_client_init(struct bare_client *bc);
void bare_client_free(struct bare_client *bc);

/* bare_pump_handshake drives |bc| against |server|; returns true if both
 * sides completed. */
bool bare_pump_handshake(struct bare_client *bc, struct tls_conn *server);

#endif
