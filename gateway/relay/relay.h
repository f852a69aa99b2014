/* relay: what happens to each complete SIP message, per the DESIGN.md flow
 * table — forwarding, the client-role Via rewrite and its exact restore,
 * routing of the legacy proxy's requests, and the answers reusegw originates
 * itself (400, 483, 503).
 *
 * Owns no state of its own: it works on the worker's pending table and
 * connections. Borrows each message for the duration of the call. Never
 * touches a socket directly: bytes leave through conn_io. */
#ifndef REUSEGW_RELAY_H
#define REUSEGW_RELAY_H

#include <stddef.h>

#include "sip/error.h"
#include "relay/handoff.h"
#include "conn/types.h"
#include "worker/worker.h"

/* relay_message handles one framed message |msg| (|len| bytes) that arrived
 * on |c|. May close |c|. */
void relay_message(struct worker *w, struct conn *c, const char *msg, size_t len);

/* relay_framing_error answers the request at the start of |buf| (|len|
 * bytes, its stream unframeable for |err|) with a 400 naming the reason when
 * its header section is complete enough to build one. The caller closes |c|. */
void relay_framing_error(struct worker *w, struct conn *c, const char *buf, size_t len,
                         enum sip_err err);

/* relay_dial_failed answers every request held on |c|, an outbound TLS
 * connection or a mirror that could not be opened, with a 503 carrying |why|
 * (ACKs are dropped): towards the legacy proxy like any peer response, or
 * to the mirror's TLS peer. |c| is closed by the caller afterwards. */
void relay_dial_failed(struct worker *w, struct conn *c, const char *why);

/* relay_handoff handles a record another worker handed over: a REQUEST
 * goes out on this worker's TLS connection it names (or is answered 503
 * back when that connection cannot take it), a RESPONSE goes to this
 * worker's legacy connection with the Via restored, an UNALIAS drops the
 * alias a newer one replaced. |bytes| is borrowed. */
void relay_handoff(struct worker *w, const struct handoff_msg *msg, const char *bytes);

#endif
