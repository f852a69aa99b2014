/* tlsio: a TLS connection's bytes through the tls/ engine — ciphertext in
 * from the loop, plaintext out to framing, ciphertext back to the out queue,
 * and the handshake's outcome (identities, failover, held requests).
 *
 * Owns nothing beyond the engine state its connection holds (c->tls).
 * Borrows the layer's pools and the connection of each call. Never frames
 * or parses SIP itself: plaintext goes to the layer's one frame-and-deliver
 * step (conn_internal.h). */
#ifndef REUSEGW_TLSIO_H
#define REUSEGW_TLSIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn/conn-t.h"

/* tlsio_ingest lends received ciphertext (|data|, borrowed for the call;
 * NULL and 0 to start a client's handshake, or to decrypt what the engine
 * still holds) to the engine, advances the handshake, and decrypts into
 * |c|'s framing block, framing as it goes. Returns how many bytes the
 * engine took: all of them, unless back-pressure paused |c| (the caller
 * keeps the rest, conn_ingest). */
size_t tlsio_ingest(struct conn_layer *cl, struct conn *c, const uint8_t *data, size_t len);

/* tlsio_seal encrypts |c|'s plaintext queue (c->plain) onto its out queue,
 * one record per pool block of it (at most 16 KiB each), noting where each
 * ends (c->sealed, for conn_out_left): all of it when |all|, else as many
 * blocks as c->sealed has room for (the rest waits for the next flush).
 * False when |c| closed instead (pool exhausted: counted as a buffer_full
 * drop; or an engine failure). Never starts a send. */
bool tlsio_seal(struct conn_layer *cl, struct conn *c, bool all);

/* tlsio_close_notify queues our close_notify (R-5923-21: transactions are
 * finished or abandoned first); false when |c| closed instead. */
bool tlsio_close_notify(struct conn_layer *cl, struct conn *c);

#endif
