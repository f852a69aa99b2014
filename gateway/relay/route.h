/* route: where a request from the legacy proxy should go — the target URI
 * (topmost Route unless it names reusegw itself, else the Request-URI) and
 * the RFC 3263 answer for its host from the static `routes`.
 *
 * Borrows the message bytes and the configuration snapshot; results point
 * into them. Never opens a connection and never does DNS: a domain without
 * a static route is a ROUTE_DNS verdict for dns_route.h, and an IP literal
 * (which no certificate identity can ever match, RFC 5922 §7.3) a verdict
 * with a reason for the 503. */
#ifndef REUSEGW_ROUTE_H
#define REUSEGW_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn/conn-t.h"
#include "core/metrics.h"
#include "sip/host.h"
#include "sip/message.h"

struct cfg_snapshot;
struct cfg_hostport;

/* route_uri_host parses the host[:port] of a SIP or SIPS URI, written as an
 * addr-spec ("sip:u@h:5061") or a name-addr ("Name <sips:h;lr>;p"), with
 * sip/uri.h. SIP_OK or the sip_err of the first problem. */
enum sip_err route_uri_host(struct sip_str uri, struct sip_hostport *hp);

/* route_names_self reports whether |hp| is reusegw itself: the host of
 * identity.sent_by or of a tls.listen address, with a matching port (5061
 * when the URI has none). */
bool route_names_self(const struct cfg_snapshot *cfg, const struct sip_hostport *hp);

/* route_verdict is the outcome of route_plan. */
enum route_verdict {
    ROUTE_OK,         /* |targets| to try in order for |domain| */
    ROUTE_DNS,        /* no static route: resolve |domain| (|port|) by DNS */
    ROUTE_UNROUTABLE, /* answer 503 with |why| */
};

/* route_plan is the routing decision for one request. */
struct route_plan {
    enum route_verdict verdict;
    const char *why;                     /* static text when UNROUTABLE */
    enum metric_id refusal;              /* UNROUTABLE: its 503's M_503_* series */
    struct sip_str domain;               /* the URI host (borrowed from the message) */
    uint16_t port;                       /* the URI's explicit port, 0 when none */
    const struct sip_header *self_route; /* topmost Route naming reusegw: pop it */
    const struct cfg_hostport *targets;  /* snapshot-owned */
    size_t n_targets;
};

/* route_plan decides for request |msg| (parsed; borrowed) under |cfg|. */
void route_plan(const struct cfg_snapshot *cfg, const struct sip_msg *msg, struct route_plan *plan);

/* route_plan_transparent (legacy.transparent mode) points |plan| at the one destination |dst|
 * (formatted into |storage|, which must outlive the plan's use) for its domain, replacing static
 * routes and DNS. Leaves |plan| alone when it has no DNS domain to prove. */
void route_plan_transparent(struct route_plan *plan, const struct conn_key *dst,
                            struct cfg_hostport *storage);

#endif
