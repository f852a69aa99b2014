/* conn_layer: setting up, re-configuring and tearing down one worker's
 * connection layer (struct conn_layer, conn-t.h), and the registration of
 * the callback set through which it hands events up.
 *
 * Owns the layer's table, pools, session cache and scratch buffer.
 * Borrows everything in struct conn_layer_borrowed for the layer's life.
 * Never calls a layer above except through the registered conn_events. */
#ifndef REUSEGW_CONN_LAYER_H
#define REUSEGW_CONN_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn/conn-t.h"

/* conn_layer_borrowed is what a conn_layer borrows from its worker. */
struct conn_layer_borrowed {
    struct loop *loop;
    struct timer_heap *timers;
    struct metrics *metrics;
    struct cfg_snapshot *cfg; /* the worker holds the reference */
    struct tls_ctx *tls_ctx;  /* the worker holds the reference */
    unsigned workers;         /* how many workers share the process-wide limits */
    /* With several workers: the shared peer index the table mirrors its
     * index into, and this worker's id there; NULL and 0 with one. */
    struct peer_index *shared;
    unsigned worker_id;
};

/* conn_layer_init sizes |cl| for its share of cfg->limits and takes |b|.
 * False when out of memory; conn_layer_free releases what was made either
 * way. */
bool conn_layer_init(struct conn_layer *cl, const struct conn_layer_borrowed *b);

/* conn_layer_set_events registers the callback set (copied) the layer
 * calls for every complete message, framing error and dial failure. */
void conn_layer_set_events(struct conn_layer *cl, const struct conn_events *up);

/* conn_layer_install points |cl| at a new snapshot and TLS context (both
 * borrowed; the worker holds the references): new connections use them,
 * existing ones keep what they were made with, except that a TLS
 * connection whose peer chain the new context's CRLs revoke is closed
 * (close_notify, aliases removed; logged and counted). */
void conn_layer_install(struct conn_layer *cl, struct cfg_snapshot *cfg, struct tls_ctx *tls_ctx);

/* conn_layer_drop_all closes every socket at once and releases what each
 * connection holds, without a word to the peer: the worker is going away.
 * Call it before the loop is freed. */
void conn_layer_drop_all(struct conn_layer *cl);

/* conn_layer_free releases the table, pools and caches (connections must be
 * gone: conn_layer_drop_all). A zeroed |cl| is a no-op. */
void conn_layer_free(struct conn_layer *cl);

/* conn_share is this worker's part of a process-wide limit |value|:
 * ceil(value / workers). */
static inline uint32_t conn_share(const struct conn_layer *cl, uint32_t value)
{
    unsigned n = cl->workers ? cl->workers : 1;
    return (uint32_t)(((uint64_t)value + n - 1) / n);
}

/* conn_deliver hands |msg| (|len| bytes, borrowed) up as if it had just
 * been framed on |c|: the one door, also for a request that waited for DNS
 * and re-enters routing with its answer. */
static inline void conn_deliver(struct conn_layer *cl, struct conn *c, const char *msg, size_t len)
{
    cl->up.message(cl->up.ctx, c, msg, len, NULL);
}

#endif
