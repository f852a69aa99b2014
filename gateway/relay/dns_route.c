/* dns_route: the waiting queue and the dialled target lists. */
#include "relay/dns_route.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "core/addr.h"
#include "dns/dns.h"
#include "core/log.h"
#include "core/metrics.h"
#include "relay/route.h"
#include "conn/conn.h"
#include "conn/conn_layer.h"

enum {
    DNS_WAIT_MAX = 256,   /* requests waiting for an answer, per worker */
    DNS_ROUTE_SETS = 256, /* distinct target lists in use, per worker */
};

/* dns_wait is one request held until its domain resolves. Requests for a
 * (domain, port) already being resolved join that resolution instead of
 * starting their own, and all of them are replayed in arrival order. */
struct dns_wait {
    struct dns_routes *d;
    struct conn_ref from;
    struct dns_handle handle; /* set on the entry that started the lookup */
    uint64_t seq;             /* arrival order */
    char *msg;                /* copy; NULL when the entry is free */
    size_t len;
    uint16_t port;
    char domain[DNS_HOST_MAX + 1];
};

/* dns_route_set is a resolved target list in the form connections dial
 * (cfg_hostport); a connection keeps a pointer into it for failover, so a
 * set is reused only when no live connection points into it. */
struct dns_route_set {
    char domain[DNS_HOST_MAX + 1];
    uint16_t port;
    uint16_t n; /* 0: free */
    uint64_t last_used_ms;
    struct cfg_hostport targets[DNS_MAX_TARGETS];
};

struct dns_routes {
    struct conn_layer *conn; /* borrowed: where waiting requests re-enter */
    struct dns_resolver *resolver;
    const struct dns_result *answer; /* set while a waiting request re-enters */
    uint64_t next_seq;
    struct dns_wait waits[DNS_WAIT_MAX];
    struct dns_route_set sets[DNS_ROUTE_SETS];
};

struct dns_routes *dns_routes_new(struct conn_layer *cl, const struct cfg_snapshot *cfg)
{
    struct dns_routes *d = calloc(1, sizeof(*d));
    if (!d) {
        LOG_ERROR("out of memory for DNS routing");
        return NULL;
    }
    d->conn = cl;
    struct dns_options o = {
        .servers = cfg->dns.servers,
        .n_servers = cfg->dns.n_servers,
        .tag_op = OP_DNS,
    };
    d->resolver = dns_resolver_new(cl->loop, cl->timers, cl->metrics, &o);
    if (!d->resolver) {
        free(d);
        return NULL;
    }
    return d;
}

void dns_routes_free(struct dns_routes *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < DNS_WAIT_MAX; i++) {
        dns_cancel(d->resolver, d->waits[i].handle);
        free(d->waits[i].msg);
    }
    dns_resolver_free(d->resolver);
    free(d);
}

void dns_routes_on_event(struct dns_routes *d, const struct loop_event *ev)
{
    dns_on_event(d->resolver, ev);
}

/* mark_in_use flags the sets some live connection points into (it may
 * still fail over within them): one pass over the connection table. */
static void mark_in_use(const struct dns_routes *d, bool *used)
{
    uintptr_t lo = (uintptr_t)d->sets, hi = (uintptr_t)(d->sets + DNS_ROUTE_SETS);
    for (uint32_t i = 1; i <= d->conn->conns.high; i++) {
        const struct conn *c = conn_at(&d->conn->conns, i);
        uintptr_t t = (uintptr_t)c->targets;
        if (c->state != CONN_FREE && t >= lo && t < hi)
            used[(t - lo) / sizeof(d->sets[0])] = true;
    }
}

static void to_hostport(const struct dns_target *t, struct cfg_hostport *hp)
{
    memset(hp, 0, sizeof(*hp));
    hp->port = t->port;
    hp->is_ipv6_literal = t->addr.ss_family == AF_INET6;
    addr_host_format(&t->addr, hp->host, sizeof(hp->host));
}

/* route_set finds the set equal to |res| for (domain, port) or fills a free
 * or idle one; NULL when every set is pointed at by a live connection. The
 * scan of the connection table runs only on a miss with the table full. */
static struct dns_route_set *route_set(struct dns_routes *d, const struct dns_result *res,
                                       uint16_t port)
{
    struct cfg_hostport want[DNS_MAX_TARGETS];
    for (size_t i = 0; i < res->n_targets; i++)
        to_hostport(&res->targets[i], &want[i]);
    struct dns_route_set *s = NULL;
    for (size_t i = 0; i < DNS_ROUTE_SETS; i++) {
        struct dns_route_set *set = &d->sets[i];
        if (set->n == 0) {
            s = s ? s : set;
            continue;
        }
        if (set->port == port && set->n == res->n_targets &&
            strcasecmp(set->domain, res->domain) == 0 &&
            memcmp(set->targets, want, set->n * sizeof(want[0])) == 0) {
            set->last_used_ms = d->conn->timers->now_ms;
            return set;
        }
    }
    if (!s) {
        /* All taken: reuse the least recently used set nobody dials. */
        bool used[DNS_ROUTE_SETS] = {false};
        mark_in_use(d, used);
        for (size_t i = 0; i < DNS_ROUTE_SETS; i++)
            if (!used[i] && (!s || d->sets[i].last_used_ms < s->last_used_ms))
                s = &d->sets[i];
        if (!s)
            return NULL;
    }
    snprintf(s->domain, sizeof(s->domain), "%s", res->domain);
    s->port = port;
    s->n = (uint16_t)res->n_targets;
    memcpy(s->targets, want, s->n * sizeof(want[0]));
    s->last_used_ms = d->conn->timers->now_ms;
    return s;
}

/* apply turns a DNS result into the plan's verdict. */
static void apply(struct dns_routes *d, const struct dns_result *res, struct route_plan *plan)
{
    plan->verdict = ROUTE_UNROUTABLE;
    if (res->status != DNS_OK || res->n_targets == 0) {
        plan->why = dns_status_text(res->status == DNS_OK ? DNS_ERR_NODATA : res->status);
        plan->refusal = res->status == DNS_ERR_TIMEOUT ? M_503_DNS_TIMEOUT : M_503_DNS_FAILED;
        return;
    }
    struct dns_route_set *s = route_set(d, res, plan->port);
    if (!s) {
        plan->why = "DNS: too many resolved domains being dialled at once";
        return;
    }
    plan->verdict = ROUTE_OK;
    plan->targets = s->targets;
    plan->n_targets = s->n;
}

/* next_waiting is the earliest-arrived entry waiting on (domain, port). */
static struct dns_wait *next_waiting(struct dns_routes *d, const char *domain, uint16_t port)
{
    struct dns_wait *first = NULL;
    for (size_t i = 0; i < DNS_WAIT_MAX; i++) {
        struct dns_wait *e = &d->waits[i];
        if (e->msg && e->port == port && strcasecmp(e->domain, domain) == 0 &&
            (!first || e->seq < first->seq))
            first = e;
    }
    return first;
}

/* on_answer replays every request waiting on the answered (domain, port),
 * oldest first; one whose legacy connection is gone is dropped. */
static void on_answer(void *ctx, const struct dns_result *res)
{
    struct dns_wait *leader = ctx;
    struct dns_routes *d = leader->d;
    struct conn_layer *cl = d->conn;
    char domain[DNS_HOST_MAX + 1];
    uint16_t port = leader->port;
    memcpy(domain, leader->domain, sizeof(domain));
    leader->handle = (struct dns_handle){0};
    struct dns_wait *e;
    while ((e = next_waiting(d, domain, port)) != NULL) {
        char *msg = e->msg;
        e->msg = NULL; /* free before the replay, which may queue anew */
        struct conn *from = conn_get(&cl->conns, e->from);
        if (!from || from->state == CONN_CLOSING || from->state == CONN_DEAD) {
            metrics_inc(cl->metrics, M_DROP_DNS_CONNECTION_GONE);
        } else {
            d->answer = res;
            conn_deliver(cl, from, msg, e->len);
            d->answer = NULL;
        }
        free(msg);
    }
}

/* wait_for queues a copy of the request on |e|. */
static bool wait_for(struct dns_routes *d, struct dns_wait *e, struct conn *from, const char *msg,
                     size_t len, const char *domain, uint16_t port)
{
    e->msg = malloc(len);
    if (!e->msg)
        return false;
    memcpy(e->msg, msg, len);
    e->len = len;
    e->d = d;
    e->from = conn_ref_of(&d->conn->conns, from);
    e->seq = d->next_seq++;
    e->port = port;
    memcpy(e->domain, domain, sizeof(e->domain));
    return true;
}

static void queue_full(struct route_plan *plan)
{
    plan->verdict = ROUTE_UNROUTABLE;
    plan->why = "DNS: too many requests waiting for resolution";
    plan->refusal = M_503_DNS_QUEUE_FULL;
}

bool dns_routes_plan(struct dns_routes *d, struct conn *from, const char *msg, size_t len,
                     struct route_plan *plan)
{
    char domain[DNS_HOST_MAX + 1] = "";
    if (plan->domain.len > DNS_HOST_MAX) {
        plan->verdict = ROUTE_UNROUTABLE;
        plan->why = dns_status_text(DNS_ERR_BAD_NAME);
        return true;
    }
    memcpy(domain, plan->domain.p, plan->domain.len);
    if (d->answer && strcasecmp(d->answer->domain, domain) == 0) {
        const struct dns_result *res = d->answer;
        d->answer = NULL; /* one answer for one request */
        apply(d, res, plan);
        return true;
    }
    struct dns_wait *e = NULL;
    for (size_t i = 0; i < DNS_WAIT_MAX && !e; i++)
        if (!d->waits[i].msg)
            e = &d->waits[i];
    if (next_waiting(d, domain, plan->port)) {
        /* Its lookup is under way: wait behind the requests already queued. */
        if (!e || !wait_for(d, e, from, msg, len, domain, plan->port)) {
            queue_full(plan);
            return true;
        }
        return false;
    }
    struct dns_result now;
    struct dns_handle handle;
    if (dns_resolve(d->resolver, domain, plan->port, on_answer, e, &now, &handle) == DNS_DONE) {
        apply(d, &now, plan);
        return true;
    }
    if (!e || !wait_for(d, e, from, msg, len, domain, plan->port)) {
        /* No room to wait: a cache miss under a flood of new domains. */
        dns_cancel(d->resolver, handle);
        queue_full(plan);
        return true;
    }
    e->handle = handle;
    return false;
}
