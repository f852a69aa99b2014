/* addr: inet_pton for both families. */
#include "core/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"

bool addr_from_hostport(const struct cfg_hostport *hp, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, hp->host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(hp->port);
        *len = sizeof(*in);
        return true;
    }
    if (inet_pton(AF_INET6, hp->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(hp->port);
        *len = sizeof(*in6);
        return true;
    }
    return false;
}

/* none writes "" into |buf| (when it has room) and returns false. */
static bool none(char *buf, size_t cap)
{
    if (cap > 0)
        buf[0] = 0;
    return false;
}

bool addr_ip_format(int family, const void *ip, char *buf, size_t cap)
{
    if ((family == AF_INET || family == AF_INET6) && inet_ntop(family, ip, buf, (socklen_t)cap))
        return true;
    return none(buf, cap);
}

bool addr_ip_port_format(int family, const void *ip, uint16_t port, char *buf, size_t cap)
{
    char text[INET6_ADDRSTRLEN];
    if (!addr_ip_format(family, ip, text, sizeof(text)))
        return none(buf, cap);
    int n = snprintf(buf, cap, family == AF_INET6 ? "[%s]:%u" : "%s:%u", text, (unsigned)port);
    if (n > 0 && (size_t)n < cap)
        return true;
    return none(buf, cap);
}

/* ip_of points at the address bytes of |ss| and gives its port (host
 * order); NULL for a family other than IPv4 and IPv6. */
static const void *ip_of(const struct sockaddr_storage *ss, uint16_t *port)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        *port = ntohs(in->sin_port);
        return &in->sin_addr;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        *port = ntohs(in6->sin6_port);
        return &in6->sin6_addr;
    }
    return NULL;
}

void addr_format(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
    uint16_t port = 0;
    const void *ip = ip_of(ss, &port);
    if (!ip || !addr_ip_port_format(ss->ss_family, ip, port, buf, cap))
        snprintf(buf, cap, "?");
}

bool addr_host_format(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
    uint16_t port = 0;
    const void *ip = ip_of(ss, &port);
    return addr_ip_format(ip ? ss->ss_family : AF_UNSPEC, ip, buf, cap);
}
