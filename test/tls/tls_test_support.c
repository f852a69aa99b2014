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

/* outbox: bytes [off, len) of data wait for the peer; a free slot has
 * conn NULL. A handful of engines have bytes pending at any time. */
static struct outbox {
    const struct tls_conn *conn;
    uint8_t *data;
    size_t off, len, cap;
} outboxes[64];

static struct outbox *outbox_of(const struct tls_conn *conn, bool create)
{
    struct outbox *free_slot = NULL;
    for (size_t i = 0; i < sizeof(outboxes) / sizeof(outboxes[0]); i++) {
        if (outboxes[i].conn == conn)
            return &outboxes[i];
        if (outboxes[i].conn == NULL && free_slot == NULL)
            free_slot = &outboxes[i];
    }
    if (!create)
        return NULL;
    if (free_slot == NULL) {
        fprintf(stderr, "tls_test_support: more than 64 outboxes pending\n");
        abort();
    }
    free_slot->conn = conn;
    return free_slot;
}

static bool outbox_append(void *arg, const void *data, size_t len)
{
    struct outbox *box = outbox_of(arg, true);
    if (box->len + len > box->cap) {
        size_t cap = box->cap ? box->cap : 4096;
        while (cap < box->len + len)
            cap *= 2;
        uint8_t *grown = realloc(box->data, cap);
        if (grown == NULL)
            return false;
        box->data = grown;
        box->cap = cap;
    }
    memcpy(box->data + box->len, data, len);
    box->len += len;
    return true;
}

struct tls_io wire_lend(struct tls_conn *conn, const void *in, size_t in_len)
{
    return (struct tls_io){.in = in, .in_len = in_len, .out = outbox_append, .out_arg = conn};
}

size_t wire_pending(struct tls_conn *conn, const uint8_t **data)
{
    struct outbox *box = outbox_of(conn, false);
    *data = box ? box->data + box->off : NULL;
    return box ? box->len - box->off : 0;
}

void wire_take(struct tls_conn *conn, size_t n)
{
    struct outbox *box = outbox_of(conn, false);
    if (box == NULL)
        return;
    box->off += n;
    if (box->off == box->len) {
        free(box->data);
        *box = (struct outbox){0};
    }
}

void wire_free(struct tls_conn *conn)
{
    const uint8_t *data;
    wire_take(conn, wire_pending(conn, &data));
    tls_conn_free(conn);
}

/* lend_from lends |peer|'s outbox as |conn|'s input; taken() drops what
 * the call took. */
static struct tls_io lend_from(struct tls_conn *conn, struct tls_conn *peer)
{
    const uint8_t *data = NULL;
    size_t len = peer ? wire_pending(peer, &data) : 0;
    return wire_lend(conn, data, len);
}

static void taken(struct tls_conn *peer, const struct tls_io *io)
{
    const uint8_t *data;
    if (peer != NULL)
        wire_take(peer, wire_pending(peer, &data) - io->in_len);
}

enum tls_progress wire_handshake(struct tls_conn *conn, struct tls_conn *peer)
{
    struct tls_io io = lend_from(conn, peer);
    enum tls_progress p = tls_conn_handshake(conn, &io);
    taken(peer, &io);
    return p;
}

enum tls_progress wire_read(struct tls_conn *conn, struct tls_conn *peer, void *buf, size_t cap,
                            size_t *n)
{
    struct tls_io io = lend_from(conn, peer);
    enum tls_progress p = tls_conn_read(conn, &io, buf, cap, n);
    taken(peer, &io);
    return p;
}

enum tls_progress wire_write(struct tls_conn *conn, const void *data, size_t len)
{
    struct tls_io io = wire_lend(conn, NULL, 0);
    return tls_conn_write(conn, &io, data, len);
}

void wire_close_notify(struct tls_conn *conn)
{
    struct tls_io io = wire_lend(conn, NULL, 0);
    tls_conn_close_notify(conn, &io);
}

bool pump_handshake(struct tls_conn *client, struct tls_conn *server)
{
    for (int round = 0; round < 20; round++) {
        enum tls_progress c = wire_handshake(client, server);
        enum tls_progress s = wire_handshake(server, client);
        if (c == TLS_PROGRESS_FAILED || s == TLS_PROGRESS_FAILED) {
            /* deliver the alert and let the other side notice it */
            wire_handshake(client, server);
            wire_handshake(server, client);
            char scratch[64];
            size_t n;
            wire_read(client, server, scratch, sizeof(scratch), &n);
            wire_read(server, client, scratch, sizeof(scratch), &n);
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
    return wire_read(reader, writer, buf, cap, n);
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

/* Moves ciphertext between the bare client's BIO pair and |server|, and
 * drives the server's handshake on what arrived. */
static enum tls_progress bare_pump(struct bare_client *bc, struct tls_conn *server)
{
    int n =
        BIO_read(bc->net, bc->unread + bc->unread_len, (int)(sizeof(bc->unread) - bc->unread_len));
    if (n > 0)
        bc->unread_len += (size_t)n;
    struct tls_io io = wire_lend(server, bc->unread, bc->unread_len);
    enum tls_progress p = tls_conn_handshake(server, &io);
    memmove(bc->unread, io.in, io.in_len);
    bc->unread_len = io.in_len;
    const uint8_t *data;
    size_t len;
    while ((len = wire_pending(server, &data)) > 0) {
        int w = BIO_write(bc->net, data, (int)len);
        if (w <= 0)
            break;
        wire_take(server, (size_t)w);
    }
    return p;
}

bool bare_pump_handshake(struct bare_client *bc, struct tls_conn *server)
{
    for (int round = 0; round < 20; round++) {
        int c = SSL_do_handshake(bc->ssl);
        enum tls_progress s = bare_pump(bc, server);
        if (s == TLS_PROGRESS_FAILED)
            return false;
        if (c == 1 && s == TLS_PROGRESS_DONE)
            return true;
        if (c != 1 && SSL_get_error(bc->ssl, c) != SSL_ERROR_WANT_READ)
            return false;
    }
    return false;
}
