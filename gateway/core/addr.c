/* addr: inet_pton for both families. */
#include "core/addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
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
