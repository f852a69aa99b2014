/* conn_open: how connections come to be — accepted from a listener (with
 * the per-peer and total limits), dialled to a static-route target with
 * source binding and failover, or opened to legacy.forward_to as a mirror. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/addr.h"
#include "config/config.h"
#include "conn/conn.h"
#include "conn/conn_fds.h"
#include "conn/conn_internal.h"
#include "conn/conn_io.h"
#include "conn/conn_layer.h"
#include "conn/conn_log.h"
#include "conn/conn_limits.h"
#include "conn/conn_open.h"
#include "conn/conn_proxy.h"
#include "conn/conn_udp.h"
#include "conn/tlsio.h"
#include "core/log.h"
#include "conn/transparent.h"
#include "tls/conn.h"

static void set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* refused counts a connection refused under |l|: in its series of
 * reusegw_connections_rejected_total (|series|) and in the limit's hits. */
static void refused(struct conn_layer *cl, enum metric_id series, enum limit l)
{
    metrics_inc(cl->metrics, series);
    limits_hit(cl->metrics, l);
}

bool conn_admit_tls_peer(struct conn_layer *cl, const struct sockaddr_storage *peer)
{
    if (conn_peer_count(&cl->conns, (const struct sockaddr *)peer) >=
        conn_share(cl, cl->cfg->limits.max_connections_per_peer)) {
        refused(cl, M_REJECTED_MAX_PER_PEER, LIMIT_MAX_CONNECTIONS_PER_PEER);
        char addr[ADDR_TEXT_MAX];
        addr_format(peer, addr, sizeof addr);
        LOG_RATELIMITED(
            LOG_WARN, "limits.max_connections_per_peer reached; refusing connection",
            LF_STR("peer", addr),
            LF_UINT("max_connections_per_peer", cl->cfg->limits.max_connections_per_peer));
        return false;
    }
    return limits_admit_handshake(cl, peer);
}

void conn_start_tls_in(struct conn_layer *cl, struct conn *c)
{
    conn_log_opened(cl, c);
    limits_handshake_started(cl, c);
    conn_peer_track(&cl->conns, c);
    c->tls = tls_conn_new_server(cl->tls_ctx);
    if (!c->tls) {
        conn_close(cl, c, CLOSE_ABORT, "tls alloc");
        return;
    }
    c->state = CONN_HANDSHAKE;
    conn_arm_timer(cl, c, cl->cfg->tls.handshake_timeout_ms);
}

void conn_accepted(struct conn_layer *cl, int fd, bool is_tls, uint8_t ours)
{
    if (!conn_fds_admit(cl, fd, false)) {
        close(fd);
        return;
    }
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof(peer);
    memset(&peer, 0, sizeof(peer));
    if (getpeername(fd, (struct sockaddr *)&peer, &peer_len) != 0) {
        /* Reset before we got to it (a balancer's health check closes with
         * RST): nobody is left to serve, and no source to judge it by. */
        close(fd);
        return;
    }
    /* A trusted balancer's connection is judged by the client its header
     * names, once it has come (conn_proxy.h): until then no limit knows
     * whose it is. */
    bool proxied = is_tls && conn_proxy_trusts(cl, &peer);
    if (is_tls && !proxied && !conn_admit_tls_peer(cl, &peer)) {
        close(fd);
        return;
    }
    struct conn *c = conn_alloc(&cl->conns, is_tls ? CONN_TLS_IN : CONN_EGRESS);
    if (!c) {
        refused(cl, M_REJECTED_MAX_CONNECTIONS, LIMIT_MAX_CONNECTIONS);
        LOG_RATELIMITED(LOG_WARN, "limits.max_connections reached; refusing connection",
                        LF_UINT("max_connections", cl->cfg->limits.max_connections));
        close(fd);
        return;
    }
    metrics_inc(cl->metrics, M_ACCEPTED);
    c->fd = fd;
    c->peer = peer;
    c->peer_len = peer_len;
    c->ours = ours; /* TLS: until SNI picks one */
    set_nodelay(fd);
    c->last_active_ms = cl->timers->now_ms;
    if (proxied) {
        conn_proxy_await(cl, c);
    } else if (is_tls) {
        c->proxy_sniff = conn_proxy_on(cl);
        conn_start_tls_in(cl, c);
    } else {
        conn_log_opened(cl, c);
        c->state = CONN_OPEN;
        if (cl->cfg->legacy.transparent)
            transparent_original_dst(fd, &c->original_dst);
    }
    conn_arm_recv(cl, c);
}

/* bind_source binds |fd| to the first non-wildcard tls.listen address of
 * |family|: peers alias by our source address (docs/design.md, routing step 3). */
static void bind_source(struct conn_layer *cl, int fd, int family)
{
    for (size_t i = 0; i < cl->cfg->tls.n_listen; i++) {
        struct sockaddr_storage ss;
        socklen_t len;
        if (!addr_from_hostport(&cl->cfg->tls.listen[i], &ss, &len) || ss.ss_family != family)
            continue;
        if (family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&ss;
            if (in->sin_addr.s_addr == htonl(INADDR_ANY))
                continue;
            in->sin_port = 0;
        } else {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
            if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
                continue;
            in6->sin6_port = 0;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&ss, len) != 0)
            LOG_RATELIMITED(LOG_WARN, "cannot bind outbound source address",
                            LF_STR("address", cl->cfg->tls.listen[i].host),
                            LF_STR("reason", strerror(errno)));
        return;
    }
}

static struct conn *open_socket(struct conn_layer *cl, enum conn_kind kind,
                                const struct cfg_hostport *hp, const char **why)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (!addr_from_hostport(hp, &ss, &len)) {
        *why = "target is not an IP address and DNS resolution is not available";
        return NULL;
    }
    struct conn *c = conn_alloc(&cl->conns, kind);
    if (!c) {
        refused(cl, M_REJECTED_MAX_CONNECTIONS, LIMIT_MAX_CONNECTIONS);
        LOG_RATELIMITED(LOG_WARN, "limits.max_connections reached; not dialling",
                        LF_UINT("max_connections", cl->cfg->limits.max_connections));
        *why = "connection limit reached";
        return NULL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && conn_fds_out(errno))
        limits_hit(cl->metrics, LIMIT_FDS);
    if (fd < 0 || !conn_fds_admit(cl, fd, true)) {
        *why = fd < 0 ? "cannot create a socket" : "file descriptors running out";
        if (fd >= 0)
            close(fd);
        conn_release(&cl->conns, c);
        return NULL;
    }
    c->fd = fd;
    set_nodelay(fd);
    if (kind == CONN_TLS_OUT)
        bind_source(cl, fd, ss.ss_family);
    c->peer = ss;
    c->peer_len = len;
    struct conn_ref r = conn_ref_of(&cl->conns, c);
    if (loop_connect(cl->loop, fd, (struct sockaddr *)&c->peer, len,
                     tag_make(OP_CONNECT, r.slot, r.gen)) != 0) {
        close(fd);
        conn_release(&cl->conns, c);
        *why = "event loop queue full";
        return NULL;
    }
    c->op_inflight = true;
    c->state = CONN_CONNECTING;
    conn_arm_timer(cl, c, cl->cfg->tls.handshake_timeout_ms);
    conn_log_opened(cl, c);
    return c;
}

struct conn *conn_dial(struct conn_layer *cl, struct cfg_snapshot *route_cfg, const char *domain,
                       const struct cfg_hostport *targets, size_t n_targets, size_t index,
                       uint8_t ours, const char **why)
{
    *why = "no target";
    for (; index < n_targets; index++) {
        struct conn *c = open_socket(cl, CONN_TLS_OUT, &targets[index], why);
        if (!c)
            continue;
        snprintf(c->domain, sizeof(c->domain), "%s", domain);
        c->route_cfg = cfg_ref(route_cfg);
        c->targets = targets;
        c->n_targets = (uint16_t)n_targets;
        c->target_index = (uint16_t)index;
        c->ours = ours;
        struct conn_key key;
        conn_key_from_sockaddr(&key, (struct sockaddr *)&c->peer, 0);
        conn_index_set(&cl->conns, c, &key);
        return c;
    }
    return NULL;
}

struct conn *conn_mirror(struct conn_layer *cl, struct conn *t)
{
    if (cl->cfg->legacy.transport == CFG_LEGACY_UDP)
        return conn_udp_forward(cl); /* one datagram socket mirrors every T */
    struct conn *m = conn_get(&cl->conns, t->partner);
    if (m && (m->state == CONN_CONNECTING || m->state == CONN_OPEN))
        return m;
    if (m) /* closing: the legacy proxy hung up; its successor takes over */
        m->partner = (struct conn_ref){0};
    const char *why = NULL;
    m = open_socket(cl, CONN_MIRROR, &cl->cfg->legacy.forward_to, &why);
    if (!m) {
        LOG_RATELIMITED(LOG_ERROR, "cannot open a connection to legacy.forward_to",
                        LF_STR("reason", why));
        return NULL;
    }
    m->partner = conn_ref_of(&cl->conns, t);
    t->partner = conn_ref_of(&cl->conns, m);
    return m;
}

void conn_dial_failed(struct conn_layer *cl, struct conn *c, const char *why)
{
    if (c->kind == CONN_TLS_OUT && c->target_index + 1u < c->n_targets) {
        const char *next_why = NULL;
        struct conn *next = conn_dial(cl, c->route_cfg, c->domain, c->targets, c->n_targets,
                                      c->target_index + 1u, c->ours, &next_why);
        if (next) {
            LOG_RATELIMITED(LOG_INFO, "failing over to the next target",
                            LF_STR("domain", c->domain), LF_STR("reason", why));
            next->hold = c->hold;
            memset(&c->hold, 0, sizeof(c->hold));
            c->failed_over_to = conn_ref_of(&cl->conns, next);
            return;
        }
    }
    cl->up.dial_failed(cl->up.ctx, c, why);
}

void conn_on_connect(struct conn_layer *cl, struct conn *c, const struct loop_event *ev)
{
    c->op_inflight = false;
    if (c->state != CONN_CONNECTING) {
        conn_maybe_release(cl, c);
        return;
    }
    if (ev->res < 0) {
        LOG_RATELIMITED(c->kind == CONN_MIRROR ? LOG_ERROR : LOG_WARN, "connect failed",
                        LF_STR("conn", conn_kind_name(c)), LF_STR("domain", c->domain),
                        LF_STR("reason", strerror(-ev->res)));
        conn_dial_failed(cl, c,
                         c->kind == CONN_MIRROR ? "legacy proxy unreachable"
                                                : "TCP connect to the peer failed");
        conn_close(cl, c, CLOSE_ABORT, "connect failed");
        return;
    }
    c->last_active_ms = cl->timers->now_ms;
    if (c->kind == CONN_TLS_OUT) {
        /* A reload may have removed its identity meanwhile (conn_ours.h). */
        c->tls = c->ours < tls_ctx_identity_count(cl->tls_ctx)
                     ? tls_conn_new_client_as(cl->tls_ctx, c->ours, c->domain, cl->tls_sessions,
                                              &c->peer, c->peer_len)
                     : NULL;
        if (!c->tls) {
            conn_dial_failed(cl, c, "out of memory");
            conn_close(cl, c, CLOSE_ABORT, "tls alloc");
            return;
        }
        c->state = CONN_HANDSHAKE;
        conn_arm_recv(cl, c);
        tlsio_ingest(cl, c, NULL, 0);
        return;
    }
    timer_disarm(cl->timers, &c->timer);
    c->state = CONN_OPEN;
    conn_arm_recv(cl, c);
    conn_release_held(cl, c);
}
