/* dns_answer: the plain data of an RFC 3263 answer — SRV records with the
 * addresses of their targets — and the RFC 2782 selection that turns one into
 * an ordered target list.
 *
 * Owns nothing: answers are fixed-size values copied into the cache and into
 * queries. Borrows the caller's random state. Never does I/O. */
#ifndef REUSEGW_DNS_ANSWER_H
#define REUSEGW_DNS_ANSWER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum {
    DNS_MAX_SRV = 8,      /* SRV records kept per name (more are dropped) */
    DNS_MAX_ADDRS = 16,   /* addresses kept per answer over all SRV targets */
    DNS_MAX_TARGETS = 16, /* targets handed to a caller */
};

/* dns_srv is one SRV record (or, without SRV, the one implied target of an
 * A/AAAA lookup: priority 0, weight 0). Its addresses are
 * addrs[first_addr, first_addr + n_addr) of the answer. */
struct dns_srv {
    uint16_t priority;
    uint16_t weight;
    uint16_t port;
    uint8_t first_addr;
    uint8_t n_addr;
};

/* dns_addr is one IPv4 or IPv6 address. */
struct dns_addr {
    uint8_t family; /* AF_INET or AF_INET6 */
    uint8_t bytes[16];
};

/* dns_answer is what RFC 3263 found for one (host, port). */
struct dns_answer {
    uint8_t n_srv;
    uint8_t n_addr;
    struct dns_srv srv[DNS_MAX_SRV];
    struct dns_addr addrs[DNS_MAX_ADDRS];
};

/* dns_target is one place to connect to, in the order to try. */
struct dns_target {
    struct sockaddr_storage addr; /* port included */
    socklen_t addr_len;
    uint16_t port; /* host byte order, same as in |addr| */
};

/* dns_rng_next steps the xorshift64* generator in |state| (never 0). */
uint64_t dns_rng_next(uint64_t *state);

/* dns_srv_order writes to |order| the indexes 0..|n|-1 of |srv| in the order
 * RFC 2782 says to try them: ascending priority; within one priority a
 * weighted random draw without replacement where a record of weight w is
 * picked with chance w / (sum + 1) and weight-0 records come first in the
 * running sum (so they rarely win while others have weight); a priority whose
 * remaining records all weigh 0 is drawn uniformly. |n| <= DNS_MAX_SRV. */
void dns_srv_order(const struct dns_srv *srv, size_t n, uint64_t *rng, uint8_t *order);

/* dns_answer_targets flattens |answer| into at most |cap| targets: SRV
 * records in dns_srv_order, each one's addresses in answer order. Returns
 * the count. */
size_t dns_answer_targets(const struct dns_answer *answer, uint64_t *rng, struct dns_target *out,
                          size_t cap);

#endif
