/* conn_io: a connection's life on the loop once it exists — receive and
 * framing, ordered sends, back-pressure, timers and close.
 *
 * Owns nothing beyond what struct conn holds; every connection belongs to
 * the conn_layer. Borrows the layer's loop, pools and TLS context. Never
 * looks inside a SIP message: complete messages go up through the layer's
 * conn_events. */
#ifndef REUSEGW_CONN_IO_H
#define REUSEGW_CONN_IO_H

#include <stdbool.h>
#include <stddef.h>

#include "conn/conn-t.h"

struct loop_event;

/* conn_send queues one complete SIP message (plaintext, borrowed) for |c|
 * and flushes it, at once or when deferred (conn_flush_deferred): on an
 * established TLS connection, at the flush that finds no earlier record
 * still unsent, encrypted with everything queued with it (one record per
 * 16 KiB, not one per message); held until the handshake otherwise, queued
 * while a plain connect is in flight. All queues count in conn_backlog, so
 * conn_throttle bounds them alike. Returns false when |c| is closing or the
 * pools are exhausted (the caller counts the drop). */
bool conn_send(struct conn_layer *cl, struct conn *c, const void *data, size_t len);

/* conn_flush_deferred starts the sends conn_send deferred since the last
 * call; the owner of the layer calls it before each loop turn. */
void conn_flush_deferred(struct conn_layer *cl);

/* conn_throttle applies back-pressure: when |dst| holds more than
 * limits.max_buffered_bytes, |src| stops reading until |dst| drains to half
 * (|src| may be |dst|: what reusegw answers a sender by itself). Framing
 * stops after the message that crossed the limit; what |src| received
 * beyond it waits, in order (conn_internal.h, conn_ingest). */
void conn_throttle(struct conn_layer *cl, struct conn *src, struct conn *dst);

/* How conn_close ends a connection. */
enum conn_close_mode {
    CLOSE_GRACEFUL, /* TLS: close_notify; then flush what is queued */
    CLOSE_FLUSH,    /* flush what is queued, no close_notify */
    CLOSE_ABORT,    /* drop everything now */
    /* CLOSE_GRACEFUL, then, with the last byte sent, shut the write side
     * and read and discard until the peer's EOF, for at most 2 s or 1 MiB:
     * closing with unread bytes would send a RST, which can destroy the
     * final answer queued at the peer (a 400 or 513 before the close). */
    CLOSE_LINGER,
};

/* conn_close ends |c| (and its mirror with it). |why| is logged at debug. */
void conn_close(struct conn_layer *cl, struct conn *c, enum conn_close_mode mode, const char *why);

/* conn_on_event handles a completion whose tag names a connection. */
void conn_on_event(struct conn_layer *cl, const struct loop_event *ev);

/* conn_backlog is what |c| has queued and not yet written. */
size_t conn_backlog(const struct conn *c);

/* conn_out_mark is where the message conn_send just took on |c| ends in
 * the stream of bytes |c| hands to the kernel; conn_out_left(|c|, mark) is
 * false while the kernel cannot have had the whole of it (a message held
 * for the handshake: while no held byte has left). One that has not left
 * when |c| dies never reached the peer whole, so the peer never acted on
 * it. */
uint64_t conn_out_mark(const struct conn *c);
bool conn_out_left(const struct conn *c, uint64_t mark);

/* conn_held_next pops the next message held on |c| (see conn_send) into
 * |buf| (|cap| bytes) and returns its length, 0 when none are left. */
size_t conn_held_next(struct conn_layer *cl, struct conn *c, char *buf, size_t cap);

#endif
