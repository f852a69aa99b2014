#include "conn.h"

#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

bool conn_init(struct conn *c, int fd, SSL *ssl, unsigned id, unsigned window,
               const struct peer_form *form, struct meter *meter)
{
    *c = (struct conn){.fd = fd, .ssl = ssl};
    return peer_init(&c->sip, id, window, form, meter);
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

/* Ciphertext read from a socket before it goes into the SSL object's
 * memory BIO: one read() per wakeup instead of two per TLS record
 * (BoringSSL reads a record's header and body separately, no read-ahead). */
static _Thread_local char cipher_in[65536];

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
        ssize_t n = read_socket(c->fd, cipher_in, sizeof(cipher_in), drained);
        if (n <= 0)
            return n;
        if (BIO_write(SSL_get_rbio(c->ssl), cipher_in, (int)n) != n)
            return -2;
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
    }
    close(c->fd);
    c->dead = true;
}
