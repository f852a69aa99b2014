/* In-memory pumping and a generated PKI for the tls/ tests. */
#include "tls_test_support.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>

static char pki_dir[PATH_MAX];

/* format writes into |buf| and aborts the test on truncation. */
static void format(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void format(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size) {
        fprintf(stderr, "path too long: %s\n", buf);
        abort();
    }
}

const char *pki_setup(void)
{
    format(pki_dir, sizeof(pki_dir), "%s/reusegw-tls-pki.XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(pki_dir) == NULL) {
        perror("mkdtemp");
        abort();
    }
    char cmd[PATH_MAX * 2 + 64];
    format(cmd, sizeof(cmd), "bash '%s/gen.sh' '%s' >/dev/null", TEST_CERTS_DIR, pki_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "gen.sh failed: %s\n", cmd);
        abort();
    }
    return pki_dir;
}

void pki_teardown(void)
{
    char cmd[PATH_MAX + 16];
    format(cmd, sizeof(cmd), "rm -rf '%s'", pki_dir);
    if (pki_dir[0] != '\0' && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", pki_dir);
}

int pki_group_setup(void **state)
{
    (void)state;
    pki_setup();
    return 0;
}

int pki_group_teardown(void **state)
{
    (void)state;
    pki_teardown();
    return 0;
}

const char *pki_path(const char *name)
{
    static char bufs[4][PATH_MAX];
    static unsigned next;
    char *b = bufs[next++ % 4];
    format(b, PATH_MAX, "%s/%s", pki_dir, name);
    return b;
}

struct tls_ctx *pki_ctx_with(const char *leaf, struct tls_ctx_options opts)
{
    char cert[PATH_MAX], key[PATH_MAX];
    format(cert, sizeof(cert), "%s/%s.chain.pem", pki_dir, leaf);
    format(key, sizeof(key), "%s/%s.key", pki_dir, leaf);
    opts.certificate_file = cert;
    opts.private_key_file = key;
    opts.ca_file = pki_path("ca.pem");
    char err[256];
    struct tls_ctx *ctx = tls_ctx_new(&opts, err, sizeof(err));
    if (ctx == NULL) {
        fprintf(stderr, "tls_ctx_new(%s): %s\n", leaf, err);
        abort();
    }
    return ctx;
}

struct tls_ctx *pki_ctx_new(const char *leaf, bool client_cert_required, bool require_sip_eku,
                            bool max_tls12)
{
    return pki_ctx_with(leaf, (struct tls_ctx_options){
                                  .client_cert_required = client_cert_required,
                                  .require_sip_eku = require_sip_eku,
                                  .max_tls12 = max_tls12,
                              });
}

size_t pump_ciphertext(struct tls_conn *from, struct tls_conn *to)
{
    size_t moved = 0;
    const uint8_t *data;
    size_t len;
    while ((len = tls_conn_ciphertext(from, &data)) > 0) {
        size_t n = tls_conn_feed(to, data, len);
        tls_conn_consume_ciphertext(from, n);
        moved += n;
        if (n < len)
            break; /* receiver full: caller must read first */
    }
    return moved;
}

bool pump_handshake(struct tls_conn *client, struct tls_conn *server)
{
    for (int round = 0; round < 20; round++) {
        enum tls_progress c = tls_conn_handshake(client);
        pump_ciphertext(client, server);
        enum tls_progress s = tls_conn_handshake(server);
        pump_ciphertext(server, client);
        if (c == TLS_PROGRESS_FAILED || s == TLS_PROGRESS_FAILED) {
            /* deliver the alert and let the other side notice it */
            tls_conn_handshake(client);
            tls_conn_handshake(server);
            char scratch[64];
            size_t n;
            tls_conn_read(client, scratch, sizeof(scratch), &n);
            pump_ciphertext(client, server);
            tls_conn_read(server, scratch, sizeof(scratch), &n);
            return false;
        }
        if (c == TLS_PROGRESS_DONE && s == TLS_PROGRESS_DONE)
            return true;
    }
    return false;
}

enum tls_progress pump_read(struct tls_conn *writer, struct tls_conn *reader, char *buf, size_t cap,
                            size_t *n)
{
    pump_ciphertext(writer, reader);
    enum tls_progress p = tls_conn_read(reader, buf, cap, n);
    pump_ciphertext(reader, writer);
    return p;
}

static int record_certificate_request(SSL *ssl, void *arg)
{
    ((struct bare_client *)arg)->saw_certificate_request = true;
    return 1; /* continue without a certificate */
}

static enum ssl_verify_result_t accept_any(SSL *ssl, uint8_t *alert)
{
    return ssl_verify_ok;
}

void bare_client_init(struct bare_client *bc)
{
    memset(bc, 0, sizeof(*bc));
    bc->ctx = SSL_CTX_new(TLS_method());
    SSL_CTX_set_min_proto_version(bc->ctx, TLS1_2_VERSION);
    SSL_CTX_set_custom_verify(bc->ctx, SSL_VERIFY_PEER, accept_any);
    SSL_CTX_set_cert_cb(bc->ctx, record_certificate_request, bc);
    bc->ssl = SSL_new(bc->ctx);
    BIO *internal;
    BIO_new_bio_pair(&internal, 0, &bc->net, 0);
    SSL_set_bio(bc->ssl, internal, internal);
    SSL_set_connect_state(bc->ssl);
    SSL_set_tlsext_host_name(bc->ssl, "a.test");
}

void bare_client_free(struct bare_client *bc)
{
    SSL_free(bc->ssl);
    BIO_free(bc->net);
    SSL_CTX_free(bc->ctx);
}

/* Moves ciphertext between the bare client's BIO pair and |server|. */
static void bare_pump(struct bare_client *bc, struct tls_conn *server)
{
    uint8_t buf[16384];
    int n;
    while ((n = BIO_read(bc->net, buf, sizeof(buf))) > 0)
        tls_conn_feed(server, buf, (size_t)n);
    const uint8_t *data;
    size_t len;
    while ((len = tls_conn_ciphertext(server, &data)) > 0) {
        int w = BIO_write(bc->net, data, (int)len);
        if (w <= 0)
            break;
        tls_conn_consume_ciphertext(server, (size_t)w);
    }
}

bool bare_pump_handshake(struct bare_client *bc, struct tls_conn *server)
{
    for (int round = 0; round < 20; round++) {
        int c = SSL_do_handshake(bc->ssl);
        bare_pump(bc, server);
        enum tls_progress s = tls_conn_handshake(server);
        bare_pump(bc, server);
        if (s == TLS_PROGRESS_FAILED)
            return false;
        if (c == 1 && s == TLS_PROGRESS_DONE)
            return true;
        if (c != 1 && SSL_get_error(bc->ssl, c) != SSL_ERROR_WANT_READ)
            return false;
    }
    return false;
}
