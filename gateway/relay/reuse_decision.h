/* reuse_decision: where every RFC 5923 reuse decision is recorded — one
 * per-reason counter (enum reuse_reason, exported as
 * reusegw_reuse_decisions_total{reason}) and one debug line, so an operator
 * can tell why a request did or did not travel on an existing connection.
 *
 * Owns nothing; borrows the registry it counts in and the key it formats. Never
 * changes a decision, only records it. */
#ifndef REUSEGW_REUSE_DECISION_H
#define REUSEGW_REUSE_DECISION_H

#include "conn/conn-t.h"

struct metrics;

/* reuse_decided counts |r| in |m| and logs `reuse decision` at debug with the
 * reason, |domain| (the URI host, or the peer's first identity for an
 * inbound alias) and |key| (the address the decision concerns; NULL when
 * there is none). */
void reuse_decided(struct metrics *m, enum reuse_reason r, const char *domain,
                   const struct conn_key *key);

#endif
