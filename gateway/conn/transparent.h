/* transparent: legacy.transparent mode — connections the kernel redirected
 * (iptables/nft REDIRECT) from the legacy proxy to legacy.listen keep the
 * destination the proxy meant, and that destination fixes where the request
 * goes over TLS while the URI still names the domain to authenticate.
 *
 * Owns nothing. Borrows the socket, the route plan and the caller's storage.
 * Never resolves names and never overrides a verdict that no destination can
 * cure (an unparseable URI, an IP-literal target). */
#ifndef REUSEGW_TRANSPARENT_H
#define REUSEGW_TRANSPARENT_H

#include <stdbool.h>

#include "relay/route.h"
#include "conn/types.h"

struct cfg_hostport;

/* transparent_original_dst reads SO_ORIGINAL_DST of accepted socket |fd|
 * into |dst|. False (|dst| zeroed) when the connection was not redirected:
 * no NAT record, or the original destination is the socket's own address. */
bool transparent_original_dst(int fd, struct conn_key *dst);

/* transparent_plan points |plan| at the one destination |dst| (formatted into
 * |storage|, which must outlive the plan's use) for its domain, replacing
 * static routes and DNS. Leaves |plan| alone when it has no DNS domain to prove. */
void transparent_plan(struct route_plan *plan, const struct conn_key *dst,
                      struct cfg_hostport *storage);

#endif
