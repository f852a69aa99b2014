/* bench/scale/conn.h: one bench connection's bytes: plain TCP or TLS over
 * a non-blocking socket, feeding and draining its peer (SIP side). Owns the
 * socket, the SSL object and the peer; borrows the meter it counts into;
 * never touches epoll: the caller watches `blocked` and sets the interest. */
#ifndef REUSEGW_BENCH_SCALE_CONN_H
#define REUSEGW_BENCH_SCALE_CONN_H

#include <openssl/ssl.h>

#include "peer.h"

/* A connection of a bench thread. */
struct conn {
    struct peer sip;
    int fd;
    SSL *ssl;     /* NULL: plain TCP */
    char *cipher; /* TLS: one socket read of ciphertext, which the SSL object
                     reads through a BIO without copying it again */
    size_t cipher_off, cipher_len;
    bool blocked;   /* a send waits for the socket: read and queue nothing */
    bool dead;      /* closed after an error or the other side's close */
    bool sent_once; /* SEND_ONCE policy: its one request is queued */
};

/* What a send or a receive left the connection in. */
enum conn_io {
    CONN_IO_OK,      /* done for now: everything sent, or the socket drained */
    CONN_IO_BLOCKED, /* the socket is full: wait for EPOLLOUT, then conn_flush */
    CONN_IO_CLOSED,  /* the other side closed cleanly: conn_close it */
    CONN_IO_FAILED,  /* broken: conn_close it */
};

/* Takes ownership of fd (non-blocking, connected) and ssl (NULL for plain
 * TCP; handshake done, writing to fd); from now on ssl reads what
 * conn_receive reads from fd. Sets up the peer. False when out of memory
 * (fd and ssl still belong to the caller then). */
bool conn_init(struct conn *c, int fd, SSL *ssl, unsigned id, unsigned window,
               const struct peer_form *form, struct meter *meter);

/* Sends the send buffer; sets or clears `blocked`. */
enum conn_io conn_flush(struct conn *c);

/* Reads and handles everything available, answering requests and sending
 * as the send buffer fills. */
enum conn_io conn_receive(struct conn *c, uint64_t now_ns);

/* True when nothing is in flight and no partial message is buffered: a
 * close now loses nothing. */
bool conn_idle(const struct conn *c);

/* Counts what is still in flight as lost, sends a TLS close_notify when it
 * can without waiting, then frees everything. */
void conn_close(struct conn *c);

#endif
