/* relay/ — the relay layer (this header is its manual).
 *
 * Owns what happens to each complete SIP message, per the message-flow
 * table of docs/design.md: the six row functions (relay.c), the answers
 * reusegw originates itself (answer.h: 400, 483, 503), pending client
 * transactions (pending.h), the server-role alias rows (alias.h), routing
 * by static routes (route.h) and DNS (dns_route.h), the record of every
 * reuse decision (reuse_decision.h), and the hand-off between workers
 * (handoff.h: the channels; relay_handoff below: what a record means). Its
 * context is struct relay_layer (relay-t.h).
 *
 * Borrows the connection layer (connections, the scratch buffer it lends),
 * the worker's registry, timers and configuration snapshot, and with
 * several workers the shared peer index and a way to wake a worker. Never
 * touches a socket: bytes leave through conn/conn_io.h. Never names the
 * worker: it is reached through the connection layer's callback set, which
 * relay_layer_init registers, and through relay_handoff. */
#ifndef REUSEGW_RELAY_H
#define REUSEGW_RELAY_H

#include <stdbool.h>

#include "relay/relay-t.h"

/* relay_layer_borrowed is what a relay_layer borrows from its worker. */
struct relay_layer_borrowed {
    struct conn_layer *conn;
    struct metrics *metrics;
    struct timer_heap *timers;
    struct cfg_snapshot *cfg; /* the worker holds the reference */
    /* With several workers; NULL / 0 with one. */
    unsigned id;
    struct peer_index *index;
    struct handoff_mesh *mesh;
    void *wake_ctx;
    void (*wake)(void *wake_ctx, unsigned to);
};

/* relay_layer_init sizes |rl| for its share of the limits, creates its DNS
 * resolver and registers the relay as |b|->conn's callback set. Returns 0,
 * -ENOMEM (out of memory) or -EINVAL (the resolver could not be made,
 * logged); relay_layer_free releases what was made either way. */
int relay_layer_init(struct relay_layer *rl, const struct relay_layer_borrowed *b);

/* relay_layer_install points |rl| at a new snapshot (borrowed; the worker
 * holds the reference) and formats its addresses again. */
void relay_layer_install(struct relay_layer *rl, struct cfg_snapshot *cfg);

/* relay_layer_free drops waiting requests unanswered and releases
 * everything. Call it before the loop is freed (the resolver cancels what
 * it has in flight on it). A zeroed |rl| is a no-op. */
void relay_layer_free(struct relay_layer *rl);

/* relay_handoff handles a record another worker handed over: a REQUEST
 * goes out on this worker's TLS connection it names (or is answered 503
 * back when that connection cannot take it), a RESPONSE goes to this
 * worker's legacy connection with the Via restored, an UNALIAS drops the
 * alias a newer one replaced. |bytes| is borrowed. */
void relay_handoff(struct relay_layer *rl, const struct handoff_msg *msg, const char *bytes);

#endif
