/* conn_log: connection open and close lines. */
#include "conn/conn_log.h"
#include "conn/conn_ours.h"

#include <stdio.h>

#include "conn/conn.h"
#include "core/log.h"
#include "tls/identities.h"

/* A connection flood must not become a log flood: past this many lines a
 * second per call site the rest are summed up in suppressed=N. */
enum { CONN_LOG_BURST = 200 };

void conn_log_opened(struct conn_layer *cl, struct conn *c)
{
    static _Thread_local struct log_ratelimit rl; /* per worker thread, like LOG_RATELIMITED */
    c->opened_ms = cl->timers->now_ms;
    if (!log_enabled(LOG_INFO))
        return;
    char addr[ADDR_TEXT_MAX];
    addr_format(&c->peer, addr, sizeof addr);
    log_emit_ratelimited(&rl, CONN_LOG_BURST, LOG_INFO, "connection opened",
                         LOG_FIELDS(LF_STR("conn", conn_kind_name(c)), LF_STR("peer", addr)));
}

void conn_log_closed(struct conn_layer *cl, const struct conn *c)
{
    static _Thread_local struct log_ratelimit rl; /* per worker thread, like LOG_RATELIMITED */
    /* A connection that closes still waiting for its PROXY header never had
     * an opened line (conn_proxy.h): no closed line either. */
    if (!log_enabled(LOG_INFO) || c->proxy_wait)
        return;
    char addr[ADDR_TEXT_MAX];
    addr_format(&c->peer, addr, sizeof addr);
    const char *identity =
        c->ids && tls_identities_count(c->ids) > 0 ? tls_identities_get(c->ids, 0) : "";
    log_emit_ratelimited(&rl, CONN_LOG_BURST, LOG_INFO, "connection closed",
                         LOG_FIELDS(LF_STR("conn", conn_kind_name(c)), LF_STR("peer", addr),
                                    LF_STR("identity", identity),
                                    LF_STR("ours", conn_ours_name(cl->cfg, c->ours)),
                                    LF_UINT("duration_ms", cl->timers->now_ms - c->opened_ms),
                                    LF_STR("reason", c->close_why ? c->close_why : "closed")));
}
