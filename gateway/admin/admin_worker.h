/* admin_worker: the admin endpoint of one worker — its HTTP server on
 * admin.listen, the legacy-proxy probe behind /ready, and the answers for
 * /metrics (the worker's registry, refreshed at each scrape) and /aliases
 * (the connection index's alias rows as JSON).
 *
 * Owns the admin server and probe. Borrows the worker (its thread only).
 * Never stops the gateway: an admin.listen that cannot be bound is logged and
 * the relay runs without the endpoint. */
#ifndef REUSEGW_ADMIN_WORKER_H
#define REUSEGW_ADMIN_WORKER_H

#include "core/loop.h"

struct worker;
struct admin_worker;

/* admin_worker_new starts the endpoint and the probe for |w| (whose
 * listeners are bound). Returns NULL (logged) when it cannot; the caller
 * carries on without it. Release with admin_worker_free. */
struct admin_worker *admin_worker_new(struct worker *w);

/* admin_worker_free closes the endpoint. NULL is a no-op. */
void admin_worker_free(struct admin_worker *aw);

/* admin_worker_reloaded re-reads what a reload may change: the
 * certificate whose expiry /metrics shows. */
void admin_worker_reloaded(struct admin_worker *aw);

/* admin_worker_on_event handles an OP_ADMIN or OP_PROBE completion. */
void admin_worker_on_event(struct admin_worker *aw, const struct loop_event *ev);

#endif
