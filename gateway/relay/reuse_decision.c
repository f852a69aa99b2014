/* reuse_decision: registry series + debug line per decision. */
#include "relay/reuse_decision.h"

#include <arpa/inet.h>
#include <stdio.h>

#include "core/log.h"
#include "core/metrics.h"

/* enum reuse_reason and the M_REUSE_* ids list the reasons in one order. */
_Static_assert(M_REUSE_IDENTITY_OURS_MISMATCH - M_REUSE_REUSED + 1 == REUSE_REASONS,
               "reuse reasons and their metric ids must match");

void reuse_decided(struct metrics *m, enum reuse_reason r, const char *domain,
                   const struct conn_key *key)
{
    metrics_inc(m, (enum metric_id)(M_REUSE_REUSED + r));
    if (!log_enabled(LOG_DEBUG))
        return;
    char addr[INET6_ADDRSTRLEN + 8] = "";
    if (key && key->family) {
        char ip[INET6_ADDRSTRLEN];
        inet_ntop(key->family, key->addr, ip, sizeof(ip));
        snprintf(addr, sizeof(addr), key->family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
                 (unsigned)key->port);
    }
    LOG_DEBUG("reuse decision", LF_STR("reason", reuse_reason_name(r)),
              LF_STR("domain", domain ? domain : ""), LF_STR("address", addr));
}
