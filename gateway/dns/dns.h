/* dns/ — the DNS layer (this header is its manual): the resolver (this
 * file, dns.c), its TTL cache (dns_cache.h), RFC 3263 target selection
 * (dns_select.c) and the answer types they share (dns_answer.h). Above
 * core/ only; relay/dns_route.h turns its answers into routes.
 *
 * dns: RFC 3263 resolution of a SIP URI host for TLS — NAPTR (SIPS+D2T),
 * SRV _sips._tcp with RFC 2782 selection, then A/AAAA — through c-ares,
 * driven by a worker's loop and timer heap, with a bounded TTL cache.
 *
 * Owns its c-ares channel, its query slots and its cache. Borrows the loop,
 * the timer heap and the metrics registry of its worker for its lifetime.
 * Never blocks and never calls a caller back from inside dns_resolve or
 * after dns_cancel. Knows nothing of connections: callers check static
 * routes first and decide what to dial. */
#ifndef REUSEGW_DNS_H
#define REUSEGW_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/dns_answer.h"
#include "dns/dns_cache.h"
#include "core/loop.h"
#include "core/timer.h"

struct cfg_hostport;
struct metrics;
struct dns_resolver;

/* dns_status is the outcome of one resolution. */
enum dns_status {
    DNS_OK = 0,
    DNS_ERR_NXDOMAIN, /* the name does not exist */
    DNS_ERR_NODATA,   /* the name exists but has no usable record */
    DNS_ERR_TIMEOUT,  /* no server answered in time */
    DNS_ERR_SERVER,   /* servers answered with an error (SERVFAIL, REFUSED) */
    DNS_ERR_BAD_NAME, /* empty, too long, or not a host name */
    DNS_ERR_BUSY,     /* too many resolutions in flight */
    DNS_ERR_OTHER,    /* anything else c-ares reports */
};

/* dns_status_text is a short static phrase for logs and 503 reasons. */
const char *dns_status_text(enum dns_status status);

/* dns_result is a finished resolution: targets in the order to try and the
 * domain a peer certificate must prove (the URI host, RFC 5922 §7.3). */
struct dns_result {
    enum dns_status status;
    bool from_cache;
    char domain[DNS_HOST_MAX + 1];
    size_t n_targets;
    struct dns_target targets[DNS_MAX_TARGETS];
};

/* dns_callback receives a pending resolution's result, which is borrowed for
 * the duration of the call. */
typedef void (*dns_callback)(void *ctx, const struct dns_result *result);

/* dns_handle names a pending resolution for dns_cancel; a stale handle is
 * harmless. */
struct dns_handle {
    uint32_t slot; /* index + 1; 0: none */
    uint32_t gen;
};

/* dns_options configures a resolver. Zero fields take the defaults given. */
struct dns_options {
    const struct cfg_hostport *servers; /* IP literals; borrowed during _new */
    size_t n_servers;                   /* 0: nameservers of |resolv_conf| */
    const char *resolv_conf;            /* NULL: /etc/resolv.conf */
    uint32_t timeout_ms;                /* per try and server; default 2000 */
    uint32_t tries;                     /* default 2 */
    uint32_t max_queries;               /* in flight; default 256 */
    uint32_t cache_entries;             /* default 1024 */
    uint32_t negative_ttl_ms;           /* NXDOMAIN/NODATA; default 30 s */
    uint32_t max_ttl_ms;                /* cap on positive TTLs; default 1 h */
    uint8_t tag_op;                     /* high byte of every loop tag it uses */
    uint64_t seed;                      /* SRV draw seed; 0: from getrandom */
};

/* dns_resolver_new creates a resolver that polls its sockets through |loop|
 * with tags whose top byte is options->tag_op (route those completions to
 * dns_on_event) and times out through |timers|. |metrics| may be NULL.
 * Returns NULL after logging why. Release with dns_resolver_free. */
struct dns_resolver *dns_resolver_new(struct loop *loop, struct timer_heap *timers,
                                      struct metrics *metrics, const struct dns_options *options);

/* dns_resolver_free cancels every resolution without calling back and
 * releases everything. NULL is a no-op. */
void dns_resolver_free(struct dns_resolver *r);

/* How dns_resolve answered. */
enum dns_start {
    DNS_DONE,    /* |now| holds the result (IP literal, cache, or error) */
    DNS_PENDING, /* |cb| will be called once, later, unless cancelled */
};

/* dns_resolve resolves |host| (no brackets around IPv6) with |port| (0 when
 * the URI has none) for sips/TLS. An IP literal answers at once on |port| or
 * 5061; an explicit port skips NAPTR and SRV. |now| must stay valid only for
 * the call; |handle| receives the pending resolution's name. */
enum dns_start dns_resolve(struct dns_resolver *r, const char *host, uint16_t port, dns_callback cb,
                           void *ctx, struct dns_result *now, struct dns_handle *handle);

/* dns_cancel stops the callback of a pending resolution; its queries finish
 * in the background and still fill the cache. */
void dns_cancel(struct dns_resolver *r, struct dns_handle handle);

/* dns_on_event handles a loop completion whose tag carries tag_op. */
void dns_on_event(struct dns_resolver *r, const struct loop_event *ev);

/* dns_pending counts resolutions in flight (cancelled ones included). */
size_t dns_pending(const struct dns_resolver *r);

#endif
