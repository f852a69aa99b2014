/* transparent: SO_ORIGINAL_DST of a redirected legacy connection. */
#include "conn/transparent.h"

#include <netinet/in.h>

#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <string.h>
#include <sys/socket.h>

#include "conn/conn_key.h"

bool transparent_original_dst(int fd, struct conn_key *dst)
{
    memset(dst, 0, sizeof(*dst));
    struct sockaddr_storage local, orig;
    socklen_t local_len = sizeof(local), orig_len = sizeof(orig);
    if (getsockname(fd, (struct sockaddr *)&local, &local_len) != 0)
        return false;
    int rc = local.ss_family == AF_INET6
                 ? getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &orig, &orig_len)
                 : getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &orig, &orig_len);
    struct conn_key self;
    if (rc != 0 || !conn_key_from_sockaddr(dst, (struct sockaddr *)&orig, 0) ||
        !conn_key_from_sockaddr(&self, (struct sockaddr *)&local, 0) || conn_key_eq(dst, &self)) {
        memset(dst, 0, sizeof(*dst));
        return false;
    }
    return true;
}
