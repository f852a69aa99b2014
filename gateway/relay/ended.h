/* ended: the transactions of a connection that dies. A client transaction
 * whose transport fails gets its final answer at once (RFC 3261 §8.1.3.1,
 * §17.1.4: a transport error is a 503), instead of at the legacy proxy's
 * Timer F or C: reusegw answers, towards the legacy proxy, every request it
 * sent on a TLS connection that closes (FIN, reset, close_notify, a limit,
 * reusegw's own close) before a final response came — 503, or 408 when a
 * limit timer ended the connection, each with a Reason header (RFC 3326)
 * naming the cause; a CANCEL gets 200 (RFC 3261 §16.10: the hop answers
 * it; reusegw ends the INVITE itself). A request that provably never left
 * (still in the connection's out queue when it died) is routed again
 * instead, on a fresh connection, as relay/handed.c routes one that came
 * back from another worker — unless reusegw closed the connection itself
 * (shutdown, reload, revocation), which dials nothing for it. The ACK
 * for one of these 503s is absorbed; a later CANCEL of that INVITE follows
 * it over a new connection, as it did while the INVITE was open.
 *
 * The same for the peers' requests a mirror delivered to the legacy proxy
 * (relay_layer.served, a pending table of its own): when the mirror dies
 * before the final response, each peer gets its 503 on its TLS connection.
 *
 * Each entry of the pending table on a connection of this worker is on
 * that connection's list (pending_link), so a close costs the transactions
 * it carried, never a table scan. What an entry keeps for this (in the
 * table's bounded kept_pool, sized to what is there): until a response
 * shows it left, the request as sent, and the compact head of its request
 * (request line, Via, From, To, Call-ID, CSeq) while it waits for a final
 * response: made from the copy when a provisional response lets that go
 * (a copy of at most 4 KiB is its own head until then; a larger one keeps
 * a head beside it).
 *
 * Owns nothing. Borrows the layer, the connection and the entries of each
 * call. */
#ifndef REUSEGW_ENDED_H
#define REUSEGW_ENDED_H

#include <stddef.h>

#include "relay/relay-t.h"

struct sip_peek;

/* ended_track records that request |p| (NULL: not parsed yet) of entry
 * |e| was just queued on this worker's TLS connection |t|, as the |n|
 * bytes of |sent|: its place in |t|'s out stream, |t|'s list, and what
 * answers or re-routes it. */
void ended_track(struct relay_layer *rl, struct pending *e, struct conn *t, const struct parsed *p,
                 const char *sent, size_t n);

/* ended_serve records that peer request |p| from TLS connection |t| went
 * to the legacy proxy on mirror |m| (the relay_send succeeded), so that
 * |t| gets an answer if |m| dies first (an ACK is no transaction). Not
 * tracked when the served table is full. */
void ended_serve(struct relay_layer *rl, struct conn *t, struct conn *m, const struct parsed *p);

/* ended_served notes the legacy proxy's response on a mirror, of status,
 * top Via and CSeq |pk| (NULL: its CSeq did not parse, nothing to note): a
 * final one ends what ended_serve recorded. */
void ended_served(struct relay_layer *rl, const struct sip_peek *pk);

/* ended_responded notes that a response of |status| for |e| came: its
 * request left, and the copy kept to re-route it goes back to the pool
 * (after a final one, the head too: nothing is answered for |e| any more). */
void ended_responded(struct relay_layer *rl, struct pending *e, unsigned status);

/* ended_absorbed absorbs (counts) an ACK |p| from |from| of the 503 that
 * reusegw sent for INVITE |inv| when its connection died; false for
 * anything else. A CANCEL of such an INVITE still follows it to the same
 * address over a new connection (R-5923-13): the peer may still ring. */
bool ended_absorbed(struct relay_layer *rl, struct conn *from, const struct parsed *p,
                    const struct pending *inv);

/* relay_conn_ended is the conn_events ended callback (conn-t.h). */
void relay_conn_ended(void *ctx, struct conn *c, enum conn_end cause);

#endif
