/* conn_key: the (family, address, port) key both connection indexes hash. */
#include "conn/conn_key.h"

#include <netinet/in.h>
#include <string.h>

#include "core/addr.h"

bool conn_key_from_sockaddr(struct conn_key *key, const struct sockaddr *sa, uint16_t port)
{
    memset(key, 0, sizeof(*key));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        memcpy(key->addr, &in->sin_addr, 4);
        key->port = port ? port : ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(key->addr, &in6->sin6_addr, 16);
        key->port = port ? port : ntohs(in6->sin6_port);
    } else {
        return false;
    }
    key->family = (uint8_t)sa->sa_family;
    return true;
}

uint32_t conn_key_hash(const struct conn_key *key)
{
    /* FNV-1a over the meaningful bytes; peers are few, collisions cheap. */
    uint32_t h = 2166136261u;
    const uint8_t *p = key->addr;
    size_t n = key->family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    h = (h ^ (key->port & 0xff)) * 16777619u;
    h = (h ^ (key->port >> 8)) * 16777619u;
    return h;
}

bool conn_key_eq(const struct conn_key *a, const struct conn_key *b)
{
    return a->family == b->family && a->port == b->port &&
           memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

bool conn_key_format(const struct conn_key *key, char *buf, size_t len)
{
    return addr_ip_port_format(key->family, key->addr, key->port, buf, len);
}
