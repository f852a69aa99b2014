/* reuse_decision: registry series + debug line per decision. */
#include "relay/reuse_decision.h"

#include "conn/conn_key.h"
#include "core/addr.h"
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
    char addr[ADDR_TEXT_MAX] = "";
    if (key)
        conn_key_format(key, addr, sizeof(addr));
    LOG_DEBUG("reuse decision", LF_STR("reason", reuse_reason_name(r)),
              LF_STR("domain", domain ? domain : ""), LF_STR("address", addr));
}
