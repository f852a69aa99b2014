/* conn: the worker's table of connection slots and the (address, port) index
 * that routing uses to find a TLS connection whose identities cover a domain.
 *
 * Owns the slot array and the index buckets. Borrows the identity sets it
 * compares (connections own them). Never touches sockets, buffers or TLS:
 * opening and closing is the worker's job. */
#ifndef REUSEGW_CONN_H
#define REUSEGW_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "conn/types.h"

struct peer_index;

/* conn_table holds up to |capacity| connections; slots are handed out from a
 * high-water mark and recycled through a free list, so untouched capacity
 * costs no memory pages. */
struct conn_table {
    struct conn *slots;
    uint32_t capacity;
    uint32_t used;          /* live connections */
    uint32_t high;          /* slots ever handed out */
    uint32_t free_head;     /* slot+1 of the first recycled slot */
    uint32_t *buckets;      /* index heads (slot+1) */
    uint32_t *peer_buckets; /* per-peer-IP heads (slot+1) */
    uint32_t bucket_mask;
    /* With several workers: the shared index every change of this table's
     * index is mirrored into (borrowed), and this worker's id there. */
    struct peer_index *shared;
    uint8_t worker_id;
};

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

/* conn_kind_name names |c|'s kind for logs: "tls-in", "tls-out", "mirror"
 * or "egress". */
const char *conn_kind_name(const struct conn *c);

/* conn_key_from_sockaddr fills |key| from an IPv4/IPv6 address with |port|
 * overriding the address's own port when nonzero. False for other families. */
bool conn_key_from_sockaddr(struct conn_key *key, const struct sockaddr *sa, uint16_t port);

/* conn_key_hash hashes the meaningful bytes of |key|. */
uint32_t conn_key_hash(const struct conn_key *key);

/* conn_key_eq compares two keys (family, address, port). */
bool conn_key_eq(const struct conn_key *a, const struct conn_key *b);

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
 * request for |domain| (RFC 5923 §8.1/§9.3, R-5923-11/-20/-27): once its
 * peer is verified, |domain| must be one of its proven identities; while it
 * is still being dialled, it must be the domain it is dialled for. Closing,
 * dead and peer-closed connections never match. NULL when none does. */
struct conn *conn_index_find(const struct conn_table *t, const struct conn_key *key,
                             const char *domain);

/* conn_index_miss explains why conn_index_find found nothing under |key|:
 * REUSE_IDENTITY_MISMATCH when a usable connection is indexed there (its
 * identities, or the domain it is being dialled for, do not cover the
 * domain), REUSE_CONNECTION_GONE when the only ones there can take no new
 * transaction (the peer closed), REUSE_NO_ROW when nothing is. */
enum reuse_reason conn_index_miss(const struct conn_table *t, const struct conn_key *key);

#endif
