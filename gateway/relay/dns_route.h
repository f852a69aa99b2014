/* dns_route: routing by DNS for requests whose domain has no static route
 * (docs/design.md routing step 2) — the worker's resolver, the bounded queue of
 * requests waiting for an answer, and the target lists connections dial.
 *
 * Owns the resolver, a copy of each waiting request, and a fixed table of
 * target lists. Borrows the connection layer (its thread only). Never
 * answers the legacy proxy itself: a waiting request re-enters routing with
 * its answer through the connection layer's one door (conn_deliver), and
 * the relay writes the 503 when there is no target. */
#ifndef REUSEGW_DNS_ROUTE_H
#define REUSEGW_DNS_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/loop.h"

struct cfg_snapshot;
struct conn_layer;
struct conn;
struct route_plan;
struct dns_routes;

/* dns_routes_new creates the resolver (|cfg|'s dns.servers, else
 * resolv.conf) on |cl|'s loop, timers and registry; waiting requests
 * re-enter through |cl|. Returns NULL (logged) on a bad server list or no
 * memory. Release with dns_routes_free before the loop. */
struct dns_routes *dns_routes_new(struct conn_layer *cl, const struct cfg_snapshot *cfg);

/* dns_routes_free drops waiting requests unanswered and releases all. NULL
 * is a no-op. */
void dns_routes_free(struct dns_routes *d);

/* dns_routes_on_event handles an OP_DNS completion. */
void dns_routes_on_event(struct dns_routes *d, const struct loop_event *ev);

/* dns_routes_plan completes |plan| (verdict ROUTE_DNS) for request
 * |msg|[0..|len|) (borrowed) that arrived on |from|. Returns true with
 * |plan| now ROUTE_OK (targets valid while any connection dials them) or
 * ROUTE_UNROUTABLE with a reason. Returns false when the request was copied
 * into the waiting queue: it is delivered on |from| again once DNS answers,
 * unless |from| is gone by then. A DNS failure names its 503 series in
 * |plan|->refusal; the caller counts it once the 503 is sent. */
bool dns_routes_plan(struct dns_routes *d, struct conn *from, const char *msg, size_t len,
                     struct route_plan *plan);

#endif
