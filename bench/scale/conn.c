#include "conn.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Ciphertext one socket read takes: one read() per wakeup instead of two per
 * TLS record (BoringSSL reads a record's header and body separately, with no
 * read-ahead), and no memmove per record as a memory BIO would do. */
#define CONN_CIPHER_CAP 65536

/* The SSL object's read BIO: hands out the rest of c->cipher. */
static int cipher_read(BIO *bio, char *out, int len)
{
    struct conn *c = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    size_t n = c->cipher_len - c->cipher_off;
    if (n == 0) {
        BIO_set_retry_read(bio);
        return -1;
    }
    if (n > (size_t)len)
        n = (size_t)len;
    memcpy(out, c->cipher + c->cipher_off, n);
    c->cipher_off += n;
    return (int)n;
}

static long cipher_ctrl(BIO *bio, int cmd, long larg, void *parg)
{
    return cmd == BIO_CTRL_FLUSH;
}

static BIO_METHOD *cipher_method;
static pthread_once_t cipher_method_once = PTHREAD_ONCE_INIT;

static void cipher_method_init(void)
{
    cipher_method = BIO_meth_new(BIO_TYPE_SOURCE_SINK, "scale cipher");
    if (cipher_method && (!BIO_meth_set_read(cipher_method, cipher_read) ||
                          !BIO_meth_set_ctrl(cipher_method, cipher_ctrl))) {
        BIO_meth_free(cipher_method);
        cipher_method = NULL;
    }
}

bool conn_init(struct conn *c, int fd, SSL *ssl, unsigned id, unsigned window,
               const struct peer_form *form, struct meter *meter)
{
    *c = (struct conn){.fd = fd, .ssl = ssl};
    if (!peer_init(&c->sip, id, window, form, meter))
        return false;
    if (!ssl)
        return true;
    pthread_once(&cipher_method_once, cipher_method_init);
    BIO *rbio = cipher_method ? BIO_new(cipher_method) : NULL;
    c->cipher = malloc(CONN_CIPHER_CAP);
    if (!rbio || !c->cipher) {
        BIO_free(rbio);
        free(c->cipher);
        peer_free(&c->sip);
        return false;
    }
    BIO_set_data(rbio, c);
    BIO_set_init(rbio, 1);
    SSL_set0_rbio(ssl, rbio);
    return true;
}

enum conn_io conn_flush(struct conn *c)
{
    struct peer *p = &c->sip;
    while (p->out_len > 0) {
        ssize_t n;
        if (c->ssl) {
            int r = SSL_write(c->ssl, p->out, (int)p->out_len);
            if (r <= 0) {
                c->blocked = SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_WRITE;
                return c->blocked ? CONN_IO_BLOCKED : CONN_IO_FAILED;
            }
            n = r;
        } else {
            n = write(c->fd, p->out, p->out_len);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                c->blocked = errno == EAGAIN;
                return c->blocked ? CONN_IO_BLOCKED : CONN_IO_FAILED;
            }
        }
        peer_sent(p, (size_t)n);
    }
    c->blocked = false;
    return CONN_IO_OK;
}

/* Reads the socket once into dst; -1 after a clean close, -2 on error, 0
 * when nothing is there. *drained: the socket had less than cap bytes, so
 * a second read() would only say EAGAIN; epoll reports any later bytes. */
static ssize_t read_socket(int fd, char *dst, size_t cap, bool *drained)
{
    for (;;) {
        ssize_t n = read(fd, dst, cap);
        if (n > 0) {
            *drained = (size_t)n < cap;
            return n;
        }
        if (n == 0)
            return -1;
        if (errno != EINTR) {
            *drained = true;
            return errno == EAGAIN ? 0 : -2;
        }
    }
}

/* One read into the peer's receive buffer: bytes read, 0 when there is
 * nothing more for now, -1 after a clean close by the other side, -2 on
 * error. */
static ssize_t read_some(struct conn *c, bool *drained)
{
    struct peer *p = &c->sip;
    if (!c->ssl)
        return *drained ? 0 : read_socket(c->fd, peer_in_tail(p), peer_in_room(p), drained);
    for (;;) {
        int r = SSL_read(c->ssl, peer_in_tail(p), (int)peer_in_room(p));
        if (r > 0)
            return r;
        int err = SSL_get_error(c->ssl, r);
        if (err == SSL_ERROR_ZERO_RETURN)
            return -1;
        if (err != SSL_ERROR_WANT_READ)
            return -2;
        if (*drained)
            return 0;
        /* WANT_READ: the BIO is empty, so the buffer can be refilled. */
        ssize_t n = read_socket(c->fd, c->cipher, CONN_CIPHER_CAP, drained);
        if (n <= 0)
            return n;
        c->cipher_off = 0;
        c->cipher_len = (size_t)n;
    }
}

enum conn_io conn_receive(struct conn *c, uint64_t now_ns)
{
    struct peer *p = &c->sip;
    bool drained = false;
    for (;;) {
        /* Bytes left from a stop on a full send buffer come first. */
        enum peer_status st;
        while ((st = peer_consume(p, now_ns)) == PEER_OUT_FULL) {
            enum conn_io io = conn_flush(c);
            if (io != CONN_IO_OK)
                return io;
        }
        if (st == PEER_BROKEN)
            return CONN_IO_FAILED;
        if (peer_in_room(p) == 0)
            return CONN_IO_FAILED; /* cannot happen: the framer caps a message below it */
        ssize_t n = read_some(c, &drained);
        if (n < 0)
            return n == -1 ? CONN_IO_CLOSED : CONN_IO_FAILED;
        if (n == 0)
            return conn_flush(c);
        p->in_len += (size_t)n;
    }
}

bool conn_idle(const struct conn *c)
{
    return c->sip.window.outstanding == 0 && c->sip.in_len == 0;
}

void conn_close(struct conn *c)
{
    if (!c->sip.in)
        return;
    peer_count_lost(&c->sip);
    peer_free(&c->sip);
    if (c->ssl) {
        if (!c->blocked)
            SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        free(c->cipher);
    }
    close(c->fd);
    c->dead = true;
}
