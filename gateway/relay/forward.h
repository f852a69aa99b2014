/* forward: how a legacy-proxy request leaves for a TLS peer — the
 * client-role rewrite, its pending entry, the choice of connection (reuse
 * where a certificate proves the domain, else a dial with failover), and a
 * CANCEL or non-2xx ACK following its INVITE (R-5923-13).
 *
 * Owns nothing. Borrows the layer, the request and its route plan. Never
 * routes by itself: the row (relay.c) asks route.h and dns_route.h first. */
#ifndef REUSEGW_FORWARD_H
#define REUSEGW_FORWARD_H

#include <stdbool.h>

#include "relay/relay-t.h"
#include "relay/route.h"

/* forward_request sends legacy-proxy request |p| (arrived on |from|, the E
 * or mirror connection responses go back to) to |dst| for |domain|, with
 * the client-role rewrite (|drop_route|: the topmost Route naming reusegw,
 * popped) and a pending entry; what cannot be sent is answered (400, 503)
 * or, an ACK, dropped. */
void forward_request(struct relay_layer *rl, struct conn *from, const struct dest *dst,
                     const struct parsed *p, const struct sip_header *drop_route,
                     struct sip_str domain);

/* forward_after_invite sends a CANCEL or ACK |p| where its INVITE went and
 * returns true, when that connection can still take it. Otherwise it
 * returns false with |bound| set to the address the INVITE went to (family
 * 0 when there was no INVITE): route it again, to that address only. */
bool forward_after_invite(struct relay_layer *rl, struct conn *from, const struct parsed *p,
                          struct conn_key *bound);

/* forward_narrow_to keeps only the target of |plan| that is |key|, when
 * one is: never a failover alternative to where the INVITE went. */
void forward_narrow_to(struct route_plan *plan, const struct conn_key *key);

/* forward_ours is the identity of ours request |p| of the legacy proxy
 * takes, in order: that of the egress listener |from| arrived on (an
 * identity's legacy_listen), else the identity one of whose domains is the
 * host of the legacy proxy's own topmost Via sent-by, else that of its
 * topmost Record-Route, else the default (0). */
uint8_t forward_ours(const struct relay_layer *rl, const struct conn *from, const struct parsed *p);

/* forward_pick finds or dials the TLS connection for routed |plan| as our
 * identity |dst->ours|: an existing one of that identity to a target whose
 * identities cover the domain, in target
 * order — this worker's own first (no lock), then, with several workers,
 * another worker's — else a new dial with failover (docs/design.md,
 * routing step 3), which this worker owns. False (|why| set) when nothing
 * can be dialled. */
bool forward_pick(struct relay_layer *rl, const struct route_plan *plan, const char **why,
                  struct dest *dst);

/* forward_warn_legacy_leak warns (docs/design.md "Dialogs and
 * Record-Route") when a message from the legacy proxy, about to leave for
 * a TLS peer, carries a Record-Route or Contact naming reusegw's internal
 * legacy addresses: the peer could never reach them. */
void forward_warn_legacy_leak(struct relay_layer *rl, const struct sip_msg *m);

/* forward_names_legacy is true when |value| mentions legacy.forward_to or
 * legacy.listen as "host:port". */
bool forward_names_legacy(const struct relay_layer *rl, struct sip_str value);

#endif
