/* conn_ours: which identity of ours a connection carries (struct conn's
 * |ours|), named in the configuration snapshot, and kept in step when a
 * reload adds, removes or reorders `identities`.
 *
 * Owns nothing. Borrows the snapshots and the connection layer of each
 * call. An identity is known across snapshots by its sent_by: index 0 is
 * always the default identity (identity.sent_by, tls.certificate), index
 * i > 0 is identities[i - 1] of the snapshot the index was taken under. */
#ifndef REUSEGW_CONN_OURS_H
#define REUSEGW_CONN_OURS_H

#include <stddef.h>
#include <stdint.h>

struct cfg_hostport;
struct cfg_snapshot;
struct conn_layer;

/* conn_ours_sent_by is the sent_by of identity |ours| in |cfg| (borrowed
 * from |cfg|), or NULL when |cfg| has no such identity. */
const struct cfg_hostport *conn_ours_sent_by(const struct cfg_snapshot *cfg, size_t ours);

/* conn_ours_name is the host of identity |ours|'s sent_by, for logs and
 * /aliases ("?" when |cfg| has no such identity). */
const char *conn_ours_name(const struct cfg_snapshot *cfg, size_t ours);

/* conn_ours_by_listen is the identity whose legacy_listen is |name|
 * ("host:port", as the listener formats it), or 0 (the default). */
uint8_t conn_ours_by_listen(const struct cfg_snapshot *cfg, const char *name);

/* conn_ours_remap moves every connection of |cl| from identity indexes of
 * |old| to those of |next| before |next| is installed: an identity whose
 * sent_by stays keeps its connections (re-indexed under its new index); the
 * TLS connections of an identity |next| drops leave the index at once (no
 * new request picks them) and close with close_notify, after the bytes
 * already queued (logged, one line each). */
void conn_ours_remap(struct conn_layer *cl, const struct cfg_snapshot *old,
                     const struct cfg_snapshot *next);

#endif
