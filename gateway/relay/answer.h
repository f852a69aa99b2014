/* answer: the responses reusegw originates itself, never relays — 400 (and
 * 505, 513) for what breaks a syntax rule, 483 when Max-Forwards ran out,
 * 503 for what cannot be routed, tracked or sent, and the 503s for the
 * requests a failed dial was holding.
 *
 * Owns nothing; each answer is built on the stack. Borrows the layer and
 * the request it answers. Never answers an ACK (it has no response) and
 * never answers a response. */
#ifndef REUSEGW_ANSWER_H
#define REUSEGW_ANSWER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/metrics.h"
#include "relay/relay-t.h"
#include "sip/error.h"

/* answer_build writes the response reusegw originates for request |p| with
 * |status| (|reason| NULL: the standard phrase) and a Warning naming |why|
 * when not NULL — with |cause|, a Reason header (RFC 3326) as well,
 * `Reason: SIP;cause=<status>;text="<why>"` — into |out| (|cap| bytes);
 * returns its length or 0. */
size_t answer_build(struct relay_layer *rl, const struct parsed *p, unsigned status,
                    const char *reason, const char *why, bool cause, char *out, size_t cap);

/* answer_send sends answer_build's response back on |c| and counts it in
 * |series|: its reusegw_local_answers_total or reusegw_503_sent_total
 * reason (a drop when |c| cannot take it). */
void answer_send(struct relay_layer *rl, struct conn *c, const struct parsed *p, unsigned status,
                 const char *reason, const char *why, enum metric_id series);

/* answer_error answers a request that failed a syntax rule: 400 (505, 513)
 * with the reason text of sip/error.h in the reason phrase. */
void answer_error(struct relay_layer *rl, struct conn *c, const struct parsed *p, enum sip_err err);

/* answer_hops_exhausted answers request |p| 483 and returns true when its
 * Max-Forwards is 0 (an ACK is let through: it has no response). */
bool answer_hops_exhausted(struct relay_layer *rl, struct conn *c, const struct parsed *p);

/* answer_unsent ends request |p| from |from| that could not leave: its
 * pending entry |e| (NULL for an ACK) removed, an ACK dropped with
 * |ack_why|, and otherwise a 400 when its rewrite did not fit (|n| 0) or a
 * 503 with |busy_why|. */
void answer_unsent(struct relay_layer *rl, struct conn *from, const struct parsed *p,
                   struct pending *e, size_t n, const char *ack_why, const char *busy_why);

/* relay_framing_error is the conn_events framing_error callback: it
 * answers the request at the start of |buf| (|len| bytes, its stream
 * unframeable for |err|) with a 400 (513 for a size limit) naming the
 * reason when at least its start line is complete: a header section cut
 * off at the limit is answered from the lines it holds (parsed_basis). The
 * caller closes |c| (a stream) or drops the datagram (UDP). */
void relay_framing_error(void *ctx, struct conn *c, const char *buf, size_t len, enum sip_err err);

/* relay_dial_failed is the conn_events dial_failed callback: it answers
 * every request held on |c|, an outbound TLS connection or a mirror that
 * could not be opened, with a 503 carrying |why| (ACKs are dropped):
 * towards the legacy proxy like any peer response, or to the mirror's TLS
 * peer. |c| is closed by the caller afterwards. */
void relay_dial_failed(void *ctx, struct conn *c, const char *why);

#endif
