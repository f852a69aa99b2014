/* transparent: legacy.transparent mode — connections the kernel redirected
 * (iptables/nft REDIRECT) from the legacy proxy to legacy.listen keep the
 * destination the proxy meant (conn->original_dst); routing points the
 * request there (route_plan_transparent, relay/route.h).
 *
 * Owns nothing. Borrows the socket. Never routes. */
#ifndef REUSEGW_TRANSPARENT_H
#define REUSEGW_TRANSPARENT_H

#include <stdbool.h>

#include "conn/conn-t.h"

/* transparent_original_dst reads SO_ORIGINAL_DST of accepted socket |fd|
 * into |dst|. False (|dst| zeroed) when the connection was not redirected:
 * no NAT record, or the original destination is the socket's own address. */
bool transparent_original_dst(int fd, struct conn_key *dst);

#endif
