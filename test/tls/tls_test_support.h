/* tls_test_support: a throwaway test PKI and an in-memory wire between two
 * TLS endpoints, shared by the tls/ tests and benchmark.
 *
 * Owns the temporary PKI directory it creates. Borrows the endpoints it
 * pumps. Never opens a socket: bytes move between the engines' buffers. */
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

/* pump_ciphertext moves every pending ciphertext byte from |from| to |to|;
 * returns the number of bytes moved. */
size_t pump_ciphertext(struct tls_conn *from, struct tls_conn *to);

/* pump_handshake drives both engines until both completed or one failed
 * (the failing side's alert is then delivered to the other, which is
 * driven once more). Returns true if both completed. Bounded rounds. */
bool pump_handshake(struct tls_conn *client, struct tls_conn *server);

/* pump_read moves ciphertext both ways and reads up to |cap| bytes of
 * plaintext from |reader|; returns the progress of the last read. */
enum tls_progress pump_read(struct tls_conn *writer, struct tls_conn *reader, char *buf, size_t cap,
                            size_t *n);

/* A bare BoringSSL client (no certificate) over a memory BIO pair, as a
 * certless peer for our server engine. */
struct bare_client {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *net; /* our side of the BIO pair: ciphertext in and out */
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
