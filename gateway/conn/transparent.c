/* transparent: SO_ORIGINAL_DST and the one-destination route plan. */
#include "conn/transparent.h"

#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config/config.h"
#include "conn/conn.h"

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

void transparent_plan(struct route_plan *plan, const struct conn_key *dst,
                      struct cfg_hostport *storage)
{
    char domain[256];
    unsigned char addr[16];
    if (plan->domain.len == 0 || plan->domain.len >= sizeof(domain))
        return;
    memcpy(domain, plan->domain.p, plan->domain.len);
    domain[plan->domain.len] = 0;
    if (domain[0] == '[' || inet_pton(AF_INET, domain, addr) == 1 ||
        inet_pton(AF_INET6, domain, addr) == 1)
        return; /* route_plan already refused it: no identity can match */
    memset(storage, 0, sizeof(*storage));
    inet_ntop(dst->family, dst->addr, storage->host, sizeof(storage->host));
    storage->port = dst->port;
    storage->is_ipv6_literal = dst->family == AF_INET6;
    plan->verdict = ROUTE_OK;
    plan->why = NULL;
    plan->targets = storage;
    plan->n_targets = 1;
}
