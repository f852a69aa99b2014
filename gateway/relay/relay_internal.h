/* relay_internal: the steps the relay's files share — the one send path, the
 * drop count, the parsed-view builder, the hand-off path, and the rows that
 * are entered from more than one place. Not for the layers above: they use
 * relay.h.
 *
 * Owns nothing. Borrows the layer, connections and messages of each call.
 * Never touches a socket: bytes leave through conn/conn_io.h. */
#ifndef REUSEGW_RELAY_INTERNAL_H
#define REUSEGW_RELAY_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "core/metrics.h"
#include "relay/relay-t.h"
#include "sip/edit.h"
#include "sip/error.h"

struct sip_frame;
struct sip_peek;

/* ---- relay.c: the flow table ---- */

/* relay_message is the conn_events message callback: one framed message
 * |msg| (|len| bytes, framed as |fr|, NULL when replayed) that arrived on
 * |c|, through its row. May close |c|. */
void relay_message(void *ctx, struct conn *c, const char *msg, size_t len,
                   const struct sip_frame *fr);

/* relay_request_from_legacy runs the row of a legacy-proxy request |p|
 * that arrived on |c| (a mirror or E), after its Via is checked. */
void relay_request_from_legacy(struct relay_layer *rl, struct conn *c, const struct parsed *p);

/* relay_response_from_tls is the row of a peer's response |msg| (|len|
 * bytes; its status, top Via and CSeq |pk|, peeked or from a parsed view):
 * the legacy proxy's Via restored, sent to the connection its transaction
 * came from (or handed to the worker owning that one). |src| is the open
 * TLS connection it arrived on (NULL when it was not open): the transaction
 * lives there now, whatever connection it was first handed to (failover).
 * |from| names the arrival for logs. */
void relay_response_from_tls(struct relay_layer *rl, const char *from, const struct peer_hit *src,
                             const char *msg, size_t len, const struct sip_peek *pk);

/* relay_response_on is relay_response_from_tls for a response that
 * arrived on (or was answered for) this worker's connection |c|. */
void relay_response_on(struct relay_layer *rl, const struct conn *c, const char *msg, size_t len,
                       const struct sip_peek *pk);

/* relay_response_parsed_on is relay_response_on for parsed response |p|:
 * one whose CSeq does not parse is dropped, counted. */
void relay_response_parsed_on(struct relay_layer *rl, const struct conn *c, const struct parsed *p);

/* relay_send is the one send path of a relayed message: |len| bytes of
 * |data| queued on |to|, counted in |msgs| and |bytes|, and |from| (NULL:
 * none of this worker's) throttled while |to| is backed up. False when |to|
 * cannot take it: nothing was counted, the caller answers or drops. */
bool relay_send(struct relay_layer *rl, struct conn *from, struct conn *to, const void *data,
                size_t len, enum metric_id msgs, enum metric_id bytes);

/* relay_drop_from counts a message reusegw discards in series |id|
 * (M_DROP_*) and logs why, rate-limited; |from| names where it came from.
 * Debug, not info: nothing is logged per message at info, and every drop
 * reason has its series in reusegw_dropped_messages_total. */
void relay_drop_from(struct relay_layer *rl, enum metric_id id, const char *from, const char *why);

/* relay_drop is relay_drop_from for a message that arrived on |c|. */
void relay_drop(struct relay_layer *rl, enum metric_id id, const struct conn *c, const char *why);

/* relay_is_method is true when |m|'s method is |name|. */
static inline bool relay_is_method(const struct sip_msg *m, const char *name)
{
    size_t n = strlen(name);
    return m->method.len == n && memcmp(m->method.p, name, n) == 0;
}

/* ---- parsed.c: the parsed view ---- */

/* parsed_view points |p| at |len| bytes of |buf| (borrowed) and indexes
 * them: the message, then its top Via. SIP_OK or the first error, with
 * whatever was indexed before it left in |p|. */
enum sip_err parsed_view(struct parsed *p, const char *buf, size_t len);

/* parsed_basis indexes into |p| what an answer to the request at the start
 * of |buf| (|len| bytes) copies, when its header section cannot be indexed
 * whole (cut off at a size limit, or over RELAY_MAX_HEADERS lines): a copy
 * of its start line, From, To, Call-ID, CSeq and Via lines in the
 * layer's |basis| buffer (sip_response_basis). |p| is no
 * request when not even the start line is complete. */
void parsed_basis(struct relay_layer *rl, struct parsed *p, const char *buf, size_t len);

/* parsed_answerable indexes in |p| what reusegw's own answer to the request
 * it sent or holds, |len| bytes at |buf| (borrowed), copies: its view, or
 * its basis (parsed_basis) when it has more header lines than the index
 * holds; then |p| points into the layer's |basis|, valid until the next
 * parsed_basis. A request as sent can have one line more than as parsed
 * (the Content-Length added to a datagram). True when |p| is a request
 * that gets an answer (not an ACK). */
bool parsed_answerable(struct relay_layer *rl, struct parsed *p, const char *buf, size_t len);

/* parsed_reroutable is true when request |buf| (|len| bytes, as it was
 * sent towards a peer) can be routed again: its header section fits the
 * index whole, which a datagram's added Content-Length can make it miss by
 * one line. One that cannot is answered instead. */
bool parsed_reroutable(const char *buf, size_t len);

/* parsed_peeked is true when |msg|, framed as |fr|, is a response a row
 * may relay without a parsed view, its status, top Via and CSeq left in
 * |pk|: it passes sip_check_chars_in and sip_peek (start line, version,
 * top Via, CSeq). What it does not check (sip/peek.h) the receiver parses
 * anyway; a peer's response that fails it takes parsed_checked, which
 * reports what is wrong. */
bool parsed_peeked(const char *msg, const struct sip_frame *fr, struct sip_peek *pk);

/* parsed_peek_of fills |pk| with the status, top Via and CSeq of parsed
 * message |p|, as parsed_peeked would: false when its CSeq does not parse. */
bool parsed_peek_of(const struct parsed *p, struct sip_peek *pk);

/* parsed_response_peeked is true when |msg|, framed as |fr| on a mirror,
 * is a response its row may relay without a parsed view (the row needs its
 * bytes, status, top Via branch and CSeq only, left in |pk|): it passes
 * sip_check_chars_in and sip_peek (start line, version, top Via, CSeq) and
 * its header section names no legacy address from its first Contact or
 * Record-Route line on (where forward_warn_legacy_leak would look; none:
 * nothing to look at, the framer found the line). Anything else takes parsed_checked, which reports
 * what is wrong. */
bool parsed_response_peeked(const struct relay_layer *rl, const char *msg,
                            const struct sip_frame *fr, struct sip_peek *pk);

/* parsed_checked is parsed_view plus the checks every arriving message
 * passes (version, required headers, single-valued headers, CSeq). On a
 * syntax error it answers a request that can be answered with 400 and the
 * reason, drops anything else (counted) and returns false. */
bool parsed_checked(struct relay_layer *rl, struct conn *c, const char *msg, size_t len,
                    struct parsed *p);

/* relay_via_restored writes message |msg| (|len| bytes, top via-parm
 * |top|) into the scratch buffer the connection layer lends, the legacy
 * proxy's original via-parm that entry |e| kept in place of |top|; its
 * length, or 0 when it does not fit. */
size_t relay_via_restored(struct relay_layer *rl, const char *msg, size_t len,
                          const struct sip_via *top, const struct pending *e);

/* relay_emit flattens an edit session into the scratch buffer the
 * connection layer lends (one TLS write per message) and returns its
 * length, or 0 when it does not fit. */
size_t relay_emit(struct relay_layer *rl, const struct sip_edit *ed);

/* relay_copy_domain copies |domain| into |dst| (|cap| bytes) as a string,
 * cut short when it does not fit: the one truncating copy of a routed
 * domain. */
void relay_copy_domain(char *dst, size_t cap, struct sip_str domain);

/* ---- handed.c: the hand-off path ---- */

/* relay_post counts and queues |msg| with |len| bytes of |bytes| for
 * worker |to| and wakes it; false (counted, logged) when that channel is
 * full. */
bool relay_post(struct relay_layer *rl, unsigned to, struct handoff_msg *msg, const void *bytes,
                size_t len);

/* relay_hand_request hands the rewritten request |p| (|n| bytes in
 * scratch, pending entry |e| or NULL for an ACK, routed for |domain|) to
 * the worker owning |to|; what cannot be handed is answered or dropped. */
void relay_hand_request(struct relay_layer *rl, struct conn *from, const struct peer_hit *to,
                        const struct parsed *p, struct pending *e, size_t n, struct sip_str domain);

/* relay_hand_response hands response |msg| (|len| bytes, of |status|) of
 * transaction |e|, which another worker's legacy connection started, back
 * to that worker (whose entry restores the Via); |src| as for
 * relay_response_from_tls. */
void relay_hand_response(struct relay_layer *rl, const char *from, const struct peer_hit *src,
                         struct pending *e, const char *msg, size_t len, unsigned status);

/* relay_route_again routes again, on this worker only, request |bytes|
 * (|len|, as it was sent towards a peer) of entry |e|, whose connection
 * closed before it got there: the legacy proxy's Via (kept in |e|) is put
 * back, |e| removed, and the request goes through its row again as if it
 * had just arrived. |bytes| may be the layer's |reroute| buffer. */
void relay_route_again(struct relay_layer *rl, struct pending *e, const char *bytes, size_t len);

#endif
