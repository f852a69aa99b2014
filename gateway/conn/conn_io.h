/* conn_io: the public face of a connection's life on the loop — accept,
 * dial with failover, mirrors, ordered sends, back-pressure and close
 * (implemented in conn_open.c, tlsio.c and conn_io.c).
 *
 * Owns nothing beyond what struct conn holds; every connection belongs to
 * the worker. Borrows the worker's loop, pools and TLS context. Never looks
 * inside a SIP message: complete messages go to relay.h. */
#ifndef REUSEGW_CONN_IO_H
#define REUSEGW_CONN_IO_H

#include <stdbool.h>
#include <stddef.h>

#include "conn/types.h"
#include "worker/worker.h"

struct cfg_hostport;
struct cfg_snapshot;

/* conn_accepted adopts socket |fd| accepted on a tls.listen (|is_tls|) or
 * legacy.listen listener. Closes |fd| itself when the connection limit is
 * reached (logged, counted). */
void conn_accepted(struct worker *w, int fd, bool is_tls);

/* conn_dial opens an outbound TLS connection for |domain| to
 * |targets|[|index|] (owned by |route_cfg|, which the connection keeps a
 * reference to for failover), or the first later target that can be dialled
 * at all. Returns the connection (state CONNECTING, indexed under the
 * target), or NULL with |why| (static storage) when no target is left. */
struct conn *conn_dial(struct worker *w, struct cfg_snapshot *route_cfg, const char *domain,
                       const struct cfg_hostport *targets, size_t n_targets, size_t index,
                       const char **why);

/* conn_mirror returns the mirror of TLS connection |t|, opening it to
 * legacy.forward_to on first use; NULL (logged) when that fails at once. */
struct conn *conn_mirror(struct worker *w, struct conn *t);

/* conn_send queues one complete SIP message (plaintext, borrowed) for |c|:
 * encrypted at once on an established TLS connection, held until the
 * handshake otherwise, queued while a plain connect is in flight. Returns
 * false when |c| is closing or the pools are exhausted (the caller counts
 * the drop). */
bool conn_send(struct worker *w, struct conn *c, const void *data, size_t len);

/* conn_throttle applies back-pressure: when |dst| holds more than
 * limits.max_buffered_bytes, |src| stops reading until |dst| drains to half. */
void conn_throttle(struct worker *w, struct conn *src, struct conn *dst);

/* How conn_close ends a connection. */
enum conn_close_mode {
    CLOSE_GRACEFUL, /* TLS: close_notify; then flush what is queued */
    CLOSE_FLUSH,    /* flush what is queued, no close_notify */
    CLOSE_ABORT,    /* drop everything now */
};

/* conn_close ends |c| (and its mirror with it). |why| is logged at debug. */
void conn_close(struct worker *w, struct conn *c, enum conn_close_mode mode, const char *why);

/* conn_on_event handles a completion whose tag names a connection. */
void conn_on_event(struct worker *w, const struct loop_event *ev);

/* conn_backlog is what |c| has queued and not yet written. */
size_t conn_backlog(const struct conn *c);

/* conn_held_next pops the next message held on |c| (see conn_send) into
 * |buf| (|cap| bytes) and returns its length, 0 when none are left. */
size_t conn_held_next(struct worker *w, struct conn *c, char *buf, size_t cap);

#endif
