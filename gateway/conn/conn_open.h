/* conn_open: how connections come to be — accepted from a listener (with
 * the per-peer and total limits), dialled to a static-route or DNS target
 * with source binding and failover, or opened to legacy.forward_to as the
 * mirror of a TLS connection.
 *
 * Owns nothing beyond what struct conn holds. Borrows the layer, the
 * target lists it dials (their snapshot is referenced by the connection).
 * Never decides where a request goes: the relay picks the targets. */
#ifndef REUSEGW_CONN_OPEN_H
#define REUSEGW_CONN_OPEN_H

#include <stdbool.h>
#include <stddef.h>

#include "conn/conn-t.h"

struct cfg_hostport;
struct cfg_snapshot;

/* conn_accepted adopts socket |fd| accepted on a tls.listen (|is_tls|) or
 * legacy.listen listener; |ours| is the identity of ours an egress
 * listener stands for (an identity's legacy_listen; 0 otherwise). Closes
 * |fd| itself when the connection limit is reached or descriptors run
 * short (conn_fds.h; logged, counted). */
void conn_accepted(struct conn_layer *cl, int fd, bool is_tls, uint8_t ours);

/* conn_dial opens an outbound TLS connection for |domain| to
 * |targets|[|index|] (owned by |route_cfg|, which the connection keeps a
 * reference to for failover), or the first later target that can be dialled
 * at all, presenting our identity |ours| (conn.ours). Returns the connection (state CONNECTING,
 * indexed under the target), or NULL with |why| (static storage) when no target is left. */
struct conn *conn_dial(struct conn_layer *cl, struct cfg_snapshot *route_cfg, const char *domain,
                       const struct cfg_hostport *targets, size_t n_targets, size_t index,
                       uint8_t ours, const char **why);

/* conn_mirror returns the mirror of TLS connection |t|, opening it to
 * legacy.forward_to on first use; NULL (logged) when that fails at once. */
struct conn *conn_mirror(struct conn_layer *cl, struct conn *t);

#endif
