/* conn_internal: the steps of a connection's life that conn_io.c,
 * conn_open.c, tlsio.c and conn_limits.c share. Not for the layers above:
 * they use conn_io.h, conn_open.h and conn_layer.h.
 *
 * Owns nothing. Borrows the layer and connection of each call. Never
 * parses SIP. */
#ifndef REUSEGW_CONN_INTERNAL_H
#define REUSEGW_CONN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "sip/error.h"
#include "conn/conn-t.h"

/* conn_is_live: neither free nor dead (closed, waiting for completions). */
bool conn_is_live(const struct conn *c);

/* conn_arm_recv arms the multishot receive unless it is armed, paused by
 * back-pressure, or the connection cannot read yet or any more. */
void conn_arm_recv(struct conn_layer *cl, struct conn *c);

/* conn_arm_timer (re)arms |c|'s one timer |after_ms| from now; what it
 * means (connect, handshake, idle, close grace) follows from c->state. */
void conn_arm_timer(struct conn_layer *cl, struct conn *c, uint64_t after_ms);

/* conn_flush starts the next send of |c|'s out queue if none is in flight,
 * first encrypting the plaintext queued since the last one (TLS); a CLOSING
 * connection with nothing left to send is finished. */
void conn_flush(struct conn_layer *cl, struct conn *c);

/* conn_finish_close releases every resource of |c| and closes its socket
 * through the loop; the slot follows once no operation is in flight. */
void conn_finish_close(struct conn_layer *cl, struct conn *c);

/* conn_maybe_release frees the slot of a dead connection with nothing in
 * flight. */
void conn_maybe_release(struct conn_layer *cl, struct conn *c);

/* conn_release_held sends, in order, what waited for |c| to open. */
void conn_release_held(struct conn_layer *cl, struct conn *c);

/* conn_in_space is the first half of the one receive step, for plain and
 * TLS connections alike: |c|'s framing block (taken from the pool when it
 * has none) and in |room| how many bytes it still takes. NULL when there
 * is no block or no room: |c| was closed or answered (a framing error). */
uint8_t *conn_in_space(struct conn_layer *cl, struct conn *c, size_t *room);

/* conn_in_commit is the second half: the |n| bytes just written at
 * conn_in_space join the block, and every message they complete is
 * framed and delivered up through the layer's conn_events, keepalive
 * pings answered. */
void conn_in_commit(struct conn_layer *cl, struct conn *c, size_t n);

/* conn_ingest is the door of every received byte of a stream connection
 * (|data|, borrowed for the call): to the TLS engine or the framing block,
 * unless back-pressure paused |c| (conn_throttle); what is not taken then
 * waits in |c|'s stash, in order, and is framed first when the wait ends. */
void conn_ingest(struct conn_layer *cl, struct conn *c, const uint8_t *data, size_t len);

/* conn_capture hands |msg|, received on |c| from |peer| or sent on it to
 * |peer|, to the HEP sender when |c|'s leg is captured, and counts it in
 * reusegw_legacy_messages_total when |c| is of the legacy side. */
void conn_capture(struct conn_layer *cl, struct conn *c, bool received, const struct sockaddr *peer,
                  const void *msg, size_t len);

/* conn_framing_error answers what can be answered (400) and closes |c|. */
void conn_framing_error(struct conn_layer *cl, struct conn *c, enum sip_err err);

/* conn_dial_failed handles a connection reusegw opened that will not open:
 * an outbound TLS connection fails over to its next static-route target,
 * taking what it holds along; when none is left, or for a mirror, the held
 * requests are answered 503 with |why|. The caller closes |c|. */
void conn_dial_failed(struct conn_layer *cl, struct conn *c, const char *why);

/* conn_admit_tls_peer decides whether an inbound TLS connection from
 * |peer| may start: limits.max_connections_per_peer, then the handshake
 * limits (limits_admit_handshake, whose unit the caller then owns). False
 * when refused, counted and logged; the caller closes. */
bool conn_admit_tls_peer(struct conn_layer *cl, const struct sockaddr_storage *peer);

/* conn_start_tls_in begins the server handshake of inbound |c|, whose
 * |peer| is final: the opened line, the handshake unit admitted above, the
 * per-peer count, the engine and the handshake deadline. |c| is closed
 * when the engine cannot be made. */
void conn_start_tls_in(struct conn_layer *cl, struct conn *c);

/* conn_on_connect completes a dial (TLS: starts the handshake; mirror:
 * starts sending) or fails it over / answers what it held. */
void conn_on_connect(struct conn_layer *cl, struct conn *c, const struct loop_event *ev);

#endif
