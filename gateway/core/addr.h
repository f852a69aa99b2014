/* addr: socket addresses from the configuration's host:port values.
 *
 * Borrows the cfg_hostport it converts. Never resolves a name: DNS belongs
 * to routing, on the event loop. */
#ifndef REUSEGW_ADDR_H
#define REUSEGW_ADDR_H

#include <stdbool.h>
#include <sys/socket.h>

struct cfg_hostport;

/* addr_from_hostport fills |ss| and |len| from an IPv4 or IPv6 literal
 * |hp|; false when the host is a name. */
bool addr_from_hostport(const struct cfg_hostport *hp, struct sockaddr_storage *ss, socklen_t *len);

#endif
