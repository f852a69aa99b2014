/* conn/ — the connection layer (this header is its manual).
 *
 * Owns every socket of a worker and what rides on it: the slot table and
 * its (address, port) index (this file, conn.c), the receive / send /
 * back-pressure / close life on the loop (conn_io.h), accepting, dialling
 * with failover and mirrors (conn_open.h), the TLS glue to tls/ (tlsio.h),
 * the abuse limits (conn_limits.h), the descriptor reserve (conn_fds.h),
 * the connection log (conn_log.h), the
 * PROXY protocol on tls.listen (conn_proxy.h), the transparent-mode
 * destination (transparent.h), which identity of ours a connection carries
 * (conn_ours.h), the process-wide peer
 * index (peer_index.h) and the key both indexes hash (conn_key.h). Its
 * context is struct conn_layer (conn-t.h, conn_layer.h).
 *
 * Borrows the worker's loop, timers, registry, configuration snapshot and
 * TLS context, all handed in through struct conn_layer. Never parses SIP
 * beyond framing and never names a layer above it: complete messages,
 * framing errors and dial failures go up through the one callback set the
 * layer above registers (struct conn_events).
 *
 * conn: the table of connection slots and the (address, port) index that
 * routing uses to find a TLS connection whose identities cover a domain.
 * Owns the slot array and the index buckets. Borrows the identity sets it
 * compares (connections own them). Never touches sockets, buffers or TLS. */
#ifndef REUSEGW_CONN_H
#define REUSEGW_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "conn/conn-t.h"
#include "conn/conn_key.h"

/* conn_table_init sizes the table; false when out of memory. */
bool conn_table_init(struct conn_table *t, uint32_t capacity);

/* conn_table_free releases the table; live connections must be gone. */
void conn_table_free(struct conn_table *t);

/* conn_alloc returns a zeroed connection in state CONNECTING (fd -1) with a
 * fresh generation, or NULL when |capacity| connections are live. */
struct conn *conn_alloc(struct conn_table *t, enum conn_kind kind);

/* conn_release frees the slot of |c| (removing it from the index) and bumps
 * its generation so every outstanding conn_ref to it goes stale. The caller
 * has already released its buffers, TLS state and identity set. */
void conn_release(struct conn_table *t, struct conn *c);

/* conn_ref_of returns a reference to live |c|. */
struct conn_ref conn_ref_of(const struct conn_table *t, const struct conn *c);

/* conn_get resolves |ref|: the connection, or NULL when the ref is unset or
 * the slot was released since. */
struct conn *conn_get(const struct conn_table *t, struct conn_ref ref);

/* conn_at returns the slot |slot| (slot+1 numbering) or NULL. */
struct conn *conn_at(const struct conn_table *t, uint32_t slot);

/* conn_kind_name names |c|'s kind for logs: "tls-in", "tls-out", "mirror",
 * "egress" or "udp" (a static string). */
const char *conn_kind_name(const struct conn *c);

/* conn_local is |c|'s own end of its socket, read (getsockname) on first
 * need and kept in |c|, or NULL when it cannot be read. */
const struct sockaddr *conn_local(struct conn *c);

/* conn_index_find_inbound returns an inbound (server-role alias) connection
 * indexed under |key|, whatever its identities, or NULL. */
struct conn *conn_index_find_inbound(const struct conn_table *t, const struct conn_key *key);

/* conn_peer_track counts |c| (its |peer| address already set) against its
 * peer IP address for limits.max_connections_per_peer, until release. */
void conn_peer_track(struct conn_table *t, struct conn *c);

/* conn_peer_untrack stops counting |c| (no-op when it is not counted);
 * conn_release does it too. */
void conn_peer_untrack(struct conn_table *t, struct conn *c);

/* conn_peer_count returns how many tracked connections come from the IP
 * address of |sa| (any port). */
uint32_t conn_peer_count(const struct conn_table *t, const struct sockaddr *sa);

/* conn_index_set indexes |c| under |key| (replacing its previous key). */
void conn_index_set(struct conn_table *t, struct conn *c, const struct conn_key *key);

/* conn_index_opened tells the shared index (when there is one) that
 * indexed |c| verified its peer: its identities now decide what it
 * carries. */
void conn_index_opened(struct conn_table *t, struct conn *c);

/* conn_index_remove takes |c| out of the index (no-op when not indexed). */
void conn_index_remove(struct conn_table *t, struct conn *c);

/* conn_index_find returns a connection indexed under |key| that may carry a
 * request for |domain| of our identity |ours| (RFC 5923 §8.1/§9.3,
 * R-5923-11/-20/-27): it must carry |ours|, and once its
 * peer is verified, |domain| must be one of its proven identities; while it
 * is still being dialled, it must be the domain it is dialled for. Closing,
 * dead and peer-closed connections never match. NULL when none does. */
struct conn *conn_index_find(const struct conn_table *t, const struct conn_key *key,
                             const char *domain, uint8_t ours);

/* conn_index_miss explains why conn_index_find(|key|, |domain|, |ours|)
 * found nothing: REUSE_IDENTITY_OURS_MISMATCH when a usable connection there
 * would carry |domain| but as another identity of ours, else
 * REUSE_IDENTITY_MISMATCH when a usable connection is indexed there (its
 * identities, or the domain it is being dialled for, do not cover the
 * domain), REUSE_CONNECTION_GONE when the only ones there can take no new
 * transaction (the peer closed), REUSE_NO_ROW when nothing is. */
enum reuse_reason conn_index_miss(const struct conn_table *t, const struct conn_key *key,
                                  const char *domain, uint8_t ours);

#endif
