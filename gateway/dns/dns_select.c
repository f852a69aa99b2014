/* dns_select: RFC 2782 target selection over a dns_answer. */
#include "dns/dns_answer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

uint64_t dns_rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

void dns_srv_order(const struct dns_srv *srv, size_t n, uint64_t *rng, uint8_t *order)
{
    uint8_t idx[DNS_MAX_SRV];
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint8_t)i;
    /* Stable insertion sort by priority; within a priority, weight-0 records
     * first, as RFC 2782 places them at the start of the running sum. */
    for (size_t i = 1; i < n; i++) {
        uint8_t v = idx[i];
        size_t j = i;
        while (j > 0 && (srv[idx[j - 1]].priority > srv[v].priority ||
                         (srv[idx[j - 1]].priority == srv[v].priority &&
                          srv[idx[j - 1]].weight != 0 && srv[v].weight == 0))) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = v;
    }
    size_t out = 0;
    for (size_t start = 0, end; start < n; start = end) {
        for (end = start; end < n && srv[idx[end]].priority == srv[idx[start]].priority;)
            end++;
        /* idx[start..end) is one priority; draw from it without replacement. */
        bool taken[DNS_MAX_SRV] = {false};
        for (size_t left = end - start; left > 0; left--) {
            uint32_t total = 0;
            for (size_t k = start; k < end; k++)
                total += taken[k] ? 0 : srv[idx[k]].weight;
            uint64_t r = dns_rng_next(rng);
            size_t pick = end;
            if (total == 0) {
                size_t nth = (size_t)(r % left);
                for (pick = start; taken[pick] || nth-- > 0;)
                    pick++;
            } else {
                uint32_t target = (uint32_t)(r % ((uint64_t)total + 1));
                uint32_t running = 0;
                for (pick = start; pick < end; pick++) {
                    if (taken[pick])
                        continue;
                    running += srv[idx[pick]].weight;
                    if (running >= target)
                        break;
                }
            }
            taken[pick] = true;
            order[out++] = idx[pick];
        }
    }
}

size_t dns_answer_targets(const struct dns_answer *answer, uint64_t *rng, struct dns_target *out,
                          size_t cap)
{
    uint8_t order[DNS_MAX_SRV];
    dns_srv_order(answer->srv, answer->n_srv, rng, order);
    size_t count = 0;
    for (size_t i = 0; i < answer->n_srv; i++) {
        const struct dns_srv *s = &answer->srv[order[i]];
        for (size_t a = 0; a < s->n_addr && count < cap; a++) {
            const struct dns_addr *addr = &answer->addrs[s->first_addr + a];
            struct dns_target *t = &out[count++];
            memset(t, 0, sizeof(*t));
            t->port = s->port;
            if (addr->family == AF_INET) {
                struct sockaddr_in *in = (struct sockaddr_in *)&t->addr;
                in->sin_family = AF_INET;
                in->sin_port = htons(s->port);
                memcpy(&in->sin_addr, addr->bytes, 4);
                t->addr_len = sizeof(*in);
            } else {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&t->addr;
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons(s->port);
                memcpy(&in6->sin6_addr, addr->bytes, 16);
                t->addr_len = sizeof(*in6);
            }
        }
    }
    return count;
}
