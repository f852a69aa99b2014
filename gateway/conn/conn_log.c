/* conn_log: connection open and close lines. */
#include "conn/conn_log.h"
#include "conn/conn_ours.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

#include "conn/conn.h"
#include "core/log.h"
#include "tls/identities.h"

/* A connection flood must not become a log flood: past this many lines a
 * second per call site the rest are summed up in suppressed=N. */
enum { CONN_LOG_BURST = 200 };

void conn_log_format_addr(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(buf, cap, "%s:%u", ip, ntohs(in->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(buf, cap, "[%s]:%u", ip, ntohs(in6->sin6_port));
    } else {
        snprintf(buf, cap, "?");
    }
}

void conn_log_opened(struct conn_layer *cl, struct conn *c)
{
    static _Thread_local struct log_ratelimit rl; /* per worker thread, like LOG_RATELIMITED */
    c->opened_ms = cl->timers->now_ms;
    if (!log_enabled(LOG_INFO))
        return;
    char addr[CONN_LOG_ADDR_MAX];
    conn_log_format_addr(&c->peer, addr, sizeof addr);
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
    char addr[CONN_LOG_ADDR_MAX];
    conn_log_format_addr(&c->peer, addr, sizeof addr);
    const char *identity =
        c->ids && tls_identities_count(c->ids) > 0 ? tls_identities_get(c->ids, 0) : "";
    log_emit_ratelimited(&rl, CONN_LOG_BURST, LOG_INFO, "connection closed",
                         LOG_FIELDS(LF_STR("conn", conn_kind_name(c)), LF_STR("peer", addr),
                                    LF_STR("identity", identity),
                                    LF_STR("ours", conn_ours_name(cl->cfg, c->ours)),
                                    LF_UINT("duration_ms", cl->timers->now_ms - c->opened_ms),
                                    LF_STR("reason", c->close_why ? c->close_why : "closed")));
}
