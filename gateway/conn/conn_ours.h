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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfg_hostport;
struct cfg_snapshot;
struct conn;
struct conn_layer;

/* CONN_OURS_REMOVED is the identity of a connection whose identity a
 * reload removed: no snapshot has it, so no request ever matches it. */
#define CONN_OURS_REMOVED UINT8_MAX

/* conn_ours_sent_by is the sent_by of identity |ours| in |cfg| (borrowed
 * from |cfg|), or NULL when |cfg| has no such identity. */
const struct cfg_hostport *conn_ours_sent_by(const struct cfg_snapshot *cfg, size_t ours);

/* conn_ours_name is the host of identity |ours|'s sent_by, for logs and
 * /aliases ("(removed)" when |cfg| has no such identity). */
const char *conn_ours_name(const struct cfg_snapshot *cfg, size_t ours);

/* conn_ours_by_listen is the identity whose legacy_listen is |name|
 * ("host:port", as the listener formats it), or 0 (the default). */
uint8_t conn_ours_by_listen(const struct cfg_snapshot *cfg, const char *name);

/* conn_ours_remap moves every connection of |cl| from identity indexes of
 * |old| to those of |next| before |next| is installed: an identity whose
 * sent_by stays keeps its connections (re-indexed under its new index). The
 * TLS connections of an identity |next| drops are retired (logged, one line
 * each): they leave the index and take no new transaction at once, and
 * drain what is in flight until conn_retired_due says they close. */
void conn_ours_remap(struct conn_layer *cl, const struct cfg_snapshot *old,
                     const struct cfg_snapshot *next);

/* CONN_RETIRED_QUIET_MS: a retired connection without traffic for this
 * long has no transaction left in flight (64*T1, RFC 3261 Timer F). */
#define CONN_RETIRED_QUIET_MS 32000u

/* conn_retired_due reports whether retired |c| closes now (with
 * close_notify): quiet for CONN_RETIRED_QUIET_MS, or runtime.drain_timeout
 * after it was retired. Otherwise lowers |*next| to when it will. */
bool conn_retired_due(const struct conn_layer *cl, const struct conn *c, uint64_t *next);

#endif
