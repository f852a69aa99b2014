/* alias: the server role of RFC 5923 (§8.2, §9.2) — turning `;alias` in the
 * topmost Via of a request from a verified TLS peer into a row of the
 * connection index, so the legacy proxy's backward requests reuse the
 * peer's connection.
 *
 * Owns no storage: a row is the inbound connection itself, indexed under
 * (peer IP from the socket, Via sent-by port or 5061, never rport) with the
 * identity set its certificate proved; it dies with the connection. Borrows
 * the parsed Via. Never rejects a request: declining is silent (R-5923-15). */
#ifndef REUSEGW_ALIAS_H
#define REUSEGW_ALIAS_H

#include "sip/via.h"
#include "conn/conn-t.h"
#include "relay/relay-t.h"

/* alias_consider records an alias for inbound TLS connection |t| when |via|
 * (its request's topmost via-parm) carries the flag, reuse.accept_alias is
 * on, the peer's certificate verified and proved identities (R-5923-18,
 * -25), the Via transport is TLS (R-5923-26) and, under
 * reuse.require_sent_by_identity, the sent-by host is one of them. A newer
 * alias for the same key replaces the older one. */
void alias_consider(struct relay_layer *rl, struct conn *t, const struct sip_via *via);

/* alias_unalias drops the alias of this worker's inbound connection |ref|
 * under |key| (no-op when it no longer has that one): another worker
 * recorded a newer alias for the key and counted the replacement. */
void alias_unalias(struct relay_layer *rl, struct conn_ref ref, const struct conn_key *key);

#endif
