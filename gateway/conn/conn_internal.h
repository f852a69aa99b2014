/* conn_internal: the steps of a connection's life that conn_io.c,
 * conn_open.c and tlsio.c share. Not for the relay: relay.c uses conn_io.h.
 *
 * Owns nothing. Borrows the worker and connection of each call. Never
 * parses SIP. */
#ifndef REUSEGW_CONN_INTERNAL_H
#define REUSEGW_CONN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "sip/error.h"
#include "conn/types.h"
#include "worker/worker.h"

/* conn_is_live: neither free nor dead (closed, waiting for completions). */
bool conn_is_live(const struct conn *c);

/* conn_arm_recv arms the multishot receive unless it is armed, paused by
 * back-pressure, or the connection cannot read yet or any more. */
void conn_arm_recv(struct worker *w, struct conn *c);

/* conn_arm_timer (re)arms |c|'s one timer |after_ms| from now; what it
 * means (connect, handshake, idle, close grace) follows from c->state. */
void conn_arm_timer(struct worker *w, struct conn *c, uint64_t after_ms);

/* conn_flush starts the next send of |c|'s out queue if none is in flight;
 * a CLOSING connection with nothing left to send is finished. */
void conn_flush(struct worker *w, struct conn *c);

/* conn_finish_close releases every resource of |c| and closes its socket
 * through the loop; the slot follows once no operation is in flight. */
void conn_finish_close(struct worker *w, struct conn *c);

/* conn_maybe_release frees the slot of a dead connection with nothing in
 * flight. */
void conn_maybe_release(struct worker *w, struct conn *c);

/* conn_release_held sends, in order, what waited for |c| to open. */
void conn_release_held(struct worker *w, struct conn *c);

/* conn_ensure_in gives |c| a framing block; false (and |c| closed) when the
 * pool is exhausted. */
bool conn_ensure_in(struct worker *w, struct conn *c);

/* conn_frame_all hands every complete message in |c|'s framing block to
 * the relay and answers keepalive pings. */
void conn_frame_all(struct worker *w, struct conn *c);

/* conn_framing_error answers what can be answered (400) and closes |c|. */
void conn_framing_error(struct worker *w, struct conn *c, enum sip_err err);

/* conn_dial_failed handles a connection reusegw opened that will not open:
 * an outbound TLS connection fails over to its next static-route target,
 * taking what it holds along; when none is left, or for a mirror, the held
 * requests are answered 503 with |why|. The caller closes |c|. */
void conn_dial_failed(struct worker *w, struct conn *c, const char *why);

/* conn_on_connect completes a dial (TLS: starts the handshake; mirror:
 * starts sending) or fails it over / answers what it held. */
void conn_on_connect(struct worker *w, struct conn *c, const struct loop_event *ev);

/* tlsio_pull moves the TLS engine's pending ciphertext into |c|'s out queue
 * and sends it; false (and |c| closed) when the pool is exhausted. */
bool tlsio_pull(struct worker *w, struct conn *c);

/* tlsio_pump advances the handshake and decrypts everything fed so far into
 * the framing block; false when |c| stopped being usable. */
bool tlsio_pump(struct worker *w, struct conn *c);

/* tlsio_ingest feeds received ciphertext to the engine and pumps it. */
void tlsio_ingest(struct worker *w, struct conn *c, const uint8_t *data, size_t len);

/* tlsio_write encrypts one whole message for established |c|; false when
 * the engine did not take all of it or |c| closed. */
bool tlsio_write(struct worker *w, struct conn *c, const void *data, size_t len);

/* tlsio_close_notify queues our close_notify (R-5923-21: transactions are
 * finished or abandoned first); false when |c| closed instead. */
bool tlsio_close_notify(struct worker *w, struct conn *c);

#endif
