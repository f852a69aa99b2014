/* udp_legacy: the rows of the flow table for legacy.transport udp
 * (docs/design.md, "The legacy side over UDP"). The datagram sockets are
 * connections of kind CONN_UDP (conn/conn_udp.h); these are the steps
 * that differ from a stream:
 *
 * - A peer's request leaves with a Via of reusegw's own on top (RFC 3261
 *   16.11 style): sent-by is this worker's forward socket, the branch
 *   `z9hG4bKrgw.` + the TLS connection's slot and generation + a hash of
 *   the peer's branch, and `rport`. The proxy's response comes back to
 *   that socket whether or not it honours rport; the branch names the TLS
 *   connection, and the Via is removed before the response goes there.
 * - A request of the legacy proxy is answered per RFC 3261 18.2.2 and
 *   RFC 3581 (source address, rport, sent-by port), and remembered as a
 *   server transaction: a retransmission never crosses TLS again, it gets
 *   the last response sent (an INVITE gets a 100 Trying at once).
 *
 * Owns nothing: the transaction memory is the pending table's (bounded by
 * limits.max_pending_transactions). Borrows the layer, the connections and
 * the messages of each call. Never touches a socket: datagrams leave
 * through conn/conn_udp.h. */
#ifndef REUSEGW_UDP_LEGACY_H
#define REUSEGW_UDP_LEGACY_H

#include <stdbool.h>
#include <stddef.h>

#include "relay/relay-t.h"

/* udp_request_to_legacy is the row of a request |p| from TLS connection
 * |t| going to the legacy proxy over forward socket |u|: reusegw's Via on
 * top, sent to legacy.forward_to; a 513 back on |t| when it is larger than
 * one datagram. */
void udp_request_to_legacy(struct relay_layer *rl, struct conn *t, struct conn *u,
                           const struct parsed *p);

/* udp_response_from_legacy is the row of a response |p| on |u|: reusegw's
 * Via removed, sent to the TLS connection that Via names. Not ours, or
 * that connection gone: a counted drop. */
void udp_response_from_legacy(struct relay_layer *rl, struct conn *u, const struct parsed *p);

/* udp_reply_to points u->peer, the source of the request with top Via
 * |via| that arrived on |u|, at its reply address (RFC 3261 18.2.2, RFC
 * 3581): whatever reusegw answers it, and its transaction, go there. */
void udp_reply_to(struct conn *u, const struct sip_via *via);

/* udp_request_absorbed runs before the egress row for request |p| on |u|
 * (after udp_reply_to): true when |p| is a retransmission (answered with
 * the last response, if any), which goes no further. */
bool udp_request_absorbed(struct relay_layer *rl, struct conn *u, const struct parsed *p);

/* udp_request_routed runs after it: an INVITE that opened a transaction
 * gets a 100 Trying at once, so that the proxy's Timer A stops. */
void udp_request_routed(struct relay_layer *rl, struct conn *u, const struct parsed *p);

/* udp_track marks entry |e| of a request that came over |u| as a server
 * transaction over UDP, replying to u->peer. */
void udp_track(struct pending *e, const struct conn *u);

/* udp_response_to_legacy sends response |msg| (|len| bytes, the legacy
 * proxy's Via restored) of transaction |e| over |u| and keeps it for
 * retransmissions. False (counted) when it is too large for a datagram or
 * could not be sent. */
bool udp_response_to_legacy(struct relay_layer *rl, struct conn *u, struct pending *e,
                            const char *msg, size_t len);

#endif
