/* addr: socket addresses from the configuration's host:port values, and
 * the one text form of an address reusegw writes (logs, admin JSON, Via
 * sent-by, route targets).
 *
 * Borrows the cfg_hostport it converts and the addresses it formats; writes
 * only the caller's buffer. Never resolves a name: DNS belongs to routing,
 * on the event loop. */
#ifndef REUSEGW_ADDR_H
#define REUSEGW_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct cfg_hostport;

/* addr_from_hostport fills |ss| and |len| from an IPv4 or IPv6 literal
 * |hp|; false when the host is a name. */
bool addr_from_hostport(const struct cfg_hostport *hp, struct sockaddr_storage *ss, socklen_t *len);

/* ADDR_TEXT_MAX fits "[v6-address]:port" and its NUL. */
#define ADDR_TEXT_MAX 64

/* addr_ip_format writes the |family| (AF_INET, AF_INET6) address |ip| (4
 * or 16 bytes) as text into |buf| of |cap| bytes; false, and "" written,
 * for another family or a buffer too small. */
bool addr_ip_format(int family, const void *ip, char *buf, size_t cap);

/* addr_ip_port_format writes |ip| (as addr_ip_format) and |port| (host
 * order) as "ip:port", "[ip]:port" for IPv6; false, and "" written, as
 * addr_ip_format. */
bool addr_ip_port_format(int family, const void *ip, uint16_t port, char *buf, size_t cap);

/* addr_format writes socket address |ss| as addr_ip_port_format does, "?"
 * when it is neither IPv4 nor IPv6. */
void addr_format(const struct sockaddr_storage *ss, char *buf, size_t cap);

/* addr_host_format writes only the address of |ss| (addr_ip_format). */
bool addr_host_format(const struct sockaddr_storage *ss, char *buf, size_t cap);

#endif
