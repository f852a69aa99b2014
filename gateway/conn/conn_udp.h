/* conn_udp: the legacy side over UDP (legacy.transport: udp). One UDP
 * socket is one connection object of kind CONN_UDP, so that the relay's
 * flow table keeps its rows: a datagram socket plays mirror(T) for every
 * TLS connection (the requests peers send leave from it to
 * legacy.forward_to) and E (the legacy proxy's requests arrive on it).
 * Per worker: the *forward* socket, bound to the legacy.listen address
 * with a port of its own, so that responses to this worker's requests come
 * back to this worker; and the *listen* socket on legacy.listen itself
 * (SO_REUSEPORT in a group).
 *
 * Owns the sockets it opens (through the connection table) and the
 * layer's one datagram buffer. Borrows the layer. Never parses SIP beyond
 * sip_frame_datagram: one datagram is one message (RFC 3261 §18.3),
 * handed up through conn_events like a framed stream message; while it is
 * handed up, the connection's |peer| is the datagram's source. */
#ifndef REUSEGW_CONN_UDP_H
#define REUSEGW_CONN_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "conn/conn-t.h"

struct loop_event;

/* CONN_UDP_MAX_PAYLOAD is the most one IPv4 UDP datagram carries: 65,535
 * minus the IP (20) and UDP (8) headers. */
#define CONN_UDP_MAX_PAYLOAD 65507u

/* conn_udp_open binds a datagram socket on |bind_sa| (port 0: one of its
 * own; |shared|: SO_REUSEPORT, every worker its own socket on the same
 * address) and arms its readiness. |dest| (may be NULL) becomes the
 * connection's |peer|: where conn_send sends when no datagram is being
 * handed up. Returns the connection (state OPEN) or NULL with |why|. */
struct conn *conn_udp_open(struct conn_layer *cl, const struct sockaddr *bind_sa, socklen_t len,
                           bool shared, const struct sockaddr *dest, socklen_t dest_len,
                           const char **why);

/* conn_udp_on_ready reads every datagram waiting on |c| (its readiness
 * poll completed with |ev|) and hands each message up. */
void conn_udp_on_ready(struct conn_layer *cl, struct conn *c, const struct loop_event *ev);

/* conn_udp_send sends |len| bytes as one datagram from |c| to |to|. False
 * (counted: reusegw_udp_dropped_total) when it is larger than a datagram
 * can carry or the kernel refused it (its buffer full: UDP is lossy, the
 * legacy proxy retransmits). */
bool conn_udp_send(struct conn_layer *cl, struct conn *c, const struct sockaddr *to,
                   socklen_t to_len, const void *data, size_t len);

/* conn_udp_forward is this worker's forward socket (the mirror of every
 * TLS connection over UDP), or NULL when legacy.transport is tcp or it
 * could not be opened. */
struct conn *conn_udp_forward(struct conn_layer *cl);

#endif
