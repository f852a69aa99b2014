/* peer_index: the process-wide (address, port) index of every worker's
 * indexed TLS connections, so a worker can route a request to a
 * connection another worker owns. Only built with more than one worker.
 *
 * Owns its rows and a reference to each row's identity set. Borrows
 * nothing past a call. Never touches a connection: a row is a copy of what
 * routing needs (owner, conn_ref, kind, dial domain, identities), kept in
 * step by the owning worker wherever its own index (conn.h) changes, and
 * the owner re-checks the conn_ref when a request arrives. Sharded: one
 * mutex per shard, taken only by publish/update/remove (per connection
 * event) and by a lookup after a worker's own index missed. */
#ifndef REUSEGW_PEER_INDEX_H
#define REUSEGW_PEER_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn/conn-t.h"

struct peer_index;
struct tls_identities;

/* peer_hit is what a lookup tells the asking worker about a match. */
struct peer_hit {
    uint8_t worker;      /* owning worker's id */
    uint8_t kind;        /* enum conn_kind: CONN_TLS_IN or CONN_TLS_OUT */
    struct conn_ref ref; /* the connection on its owner's table */
    struct conn_key key;
};

/* peer_row_view is one row as peer_index_each shows it (borrowed for the
 * callback only). */
struct peer_row_view {
    const struct conn_key *key;
    unsigned worker;
    enum conn_kind kind;
    bool open;
    struct conn_ref ref;
    const struct tls_identities *ids;
    uint8_t ours; /* the identity of ours it carries (struct conn) */
};

/* peer_index_new creates an empty index of at most |max_rows| rows.
 * NULL when out of memory. Release with peer_index_free. */
struct peer_index *peer_index_new(uint32_t max_rows);

/* peer_index_free releases every row (and its identity reference). */
void peer_index_free(struct peer_index *pi);

/* peer_index_publish adds the row of connection |ref| of |worker| under
 * |key|: |kind| and, while it is being dialled (|open| false), the
 * |dial_domain| it is dialled for; once open, |ids| (a reference is taken;
 * NULL is the empty set); |ours|, the identity of ours it carries. False (nothing added) when the
 * index is full. */
bool peer_index_publish(struct peer_index *pi, const struct conn_key *key, unsigned worker,
                        struct conn_ref ref, enum conn_kind kind, const char *dial_domain,
                        struct tls_identities *ids, bool open, uint8_t ours);

/* peer_index_opened marks the row of |ref| under |key| open with the
 * verified identity set |ids| (a reference is taken). No-op without one. */
void peer_index_opened(struct peer_index *pi, const struct conn_key *key, unsigned worker,
                       struct conn_ref ref, struct tls_identities *ids);

/* peer_index_remove drops the row of |ref| of |worker| under |key| (no-op
 * when there is none). */
void peer_index_remove(struct peer_index *pi, const struct conn_key *key, unsigned worker,
                       struct conn_ref ref);

/* peer_index_find applies conn_index_find's rule (conn.h) to the rows
 * under |key| of every worker but |skip_worker|: a row of identity |ours|,
 * open with identities that contain |domain|, or an outbound row being
 * dialled for |domain|. Fills |hit| and returns true on a match. */
bool peer_index_find(struct peer_index *pi, const struct conn_key *key, const char *domain,
                     uint8_t ours, unsigned skip_worker, struct peer_hit *hit);

/* peer_index_miss is conn_index_miss (conn.h) over the same rows: a row
 * under |key| that would carry |domain| as another identity of ours means
 * REUSE_IDENTITY_OURS_MISMATCH, any other REUSE_IDENTITY_MISMATCH, none REUSE_NO_ROW (rows leave
 * the index when their connection stops taking transactions, so there is
 * no "gone" row). */
enum reuse_reason peer_index_miss(struct peer_index *pi, const struct conn_key *key,
                                  const char *domain, uint8_t ours, unsigned skip_worker);

/* peer_index_inbound fills |hits| (up to |max|) with the inbound rows
 * (server-role aliases) under |key| of every worker but |skip_worker| and
 * returns how many it found. */
size_t peer_index_inbound(struct peer_index *pi, const struct conn_key *key, unsigned skip_worker,
                          struct peer_hit *hits, size_t max);

/* peer_index_each calls |fn| for every row, one shard locked at a time
 * (|fn| must not call back into |pi|). */
void peer_index_each(struct peer_index *pi, void (*fn)(void *ctx, const struct peer_row_view *row),
                     void *ctx);

/* peer_index_rows is how many rows the index holds now. */
uint32_t peer_index_rows(struct peer_index *pi);

#endif
