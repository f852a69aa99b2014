/* conn_proxy: trusted sources, the wait for a header, and what becomes of
 * a connection once its header came, or did not. */
#include "conn/conn_proxy.h"

#include <netinet/in.h>
#include <string.h>

#include "config/config.h"
#include "conn/conn_internal.h"
#include "conn/conn_io.h"
#include "conn/conn_log.h"
#include "core/log.h"
#include "core/metrics.h"

_Static_assert((int)PROXY_REJECTS == (int)METRIC_PROXY_REJECTS,
               "enum proxy_reject and the rejection metric ids must match");
/* The smallest framing block (limits.max_message_bytes >= 1024) holds the
 * longest header a connection may have to keep. */
_Static_assert(PP_MAX_HEADER <= 1024, "a framing block holds a whole PROXY header");

bool conn_proxy_on(const struct conn_layer *cl)
{
    return cl->cfg->tls.proxy_protocol.n_trusted > 0;
}

static bool in_range(const struct cfg_cidr *r, int family, const uint8_t *addr)
{
    if (r->family != family)
        return false;
    unsigned whole = r->prefix / 8, rest = r->prefix % 8;
    if (memcmp(r->addr, addr, whole) != 0)
        return false;
    return rest == 0 || (addr[whole] & (uint8_t)(0xff00u >> rest)) == r->addr[whole];
}

bool conn_proxy_trusts(const struct conn_layer *cl, const struct sockaddr_storage *peer)
{
    int family = peer->ss_family;
    const uint8_t *addr;
    if (family == AF_INET) {
        addr = (const uint8_t *)&((const struct sockaddr_in *)peer)->sin_addr;
    } else if (family == AF_INET6) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)peer)->sin6_addr;
        addr = a6->s6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) { /* an IPv4 balancer on a [::] listener */
            family = AF_INET;
            addr += 12;
        }
    } else {
        return false;
    }
    const struct cfg_cidr *r = cl->cfg->tls.proxy_protocol.trusted;
    for (size_t i = 0; i < cl->cfg->tls.proxy_protocol.n_trusted; i++)
        if (in_range(&r[i], family, addr))
            return true;
    return false;
}

void conn_proxy_await(struct conn_layer *cl, struct conn *c)
{
    c->proxy_wait = true;
    c->opened_ms = cl->timers->now_ms;
    c->state = CONN_HANDSHAKE; /* setting up, as far as the gauges tell */
    conn_arm_timer(cl, c, cl->cfg->tls.proxy_protocol.timeout_ms);
}

void conn_proxy_reject(struct conn_layer *cl, struct conn *c, unsigned why)
{
    metrics_inc(cl->metrics, (enum metric_id)(M_PROXY_REJECT_FIRST + why));
    char source[ADDR_TEXT_MAX];
    addr_format(&c->peer, source, sizeof source);
    LOG_RATELIMITED(LOG_WARN, "PROXY protocol header refused; closing connection",
                    LF_STR("reason", metrics_proxy_reject_names[why]), LF_STR("source", source),
                    LF_STR("trusted", c->proxy_wait ? "true" : "false"));
    conn_close(cl, c, CLOSE_ABORT, metrics_proxy_reject_names[why]);
}

void conn_proxy_hung_up(struct conn_layer *cl, struct conn *c)
{
    if (c->in && c->in->tail > 0)
        conn_proxy_reject(cl, c, PROXY_REJECT_TRUNCATED);
}

/* sniff: an untrusted source's first bytes. A balancer we do not trust
 * could otherwise name any client it likes, so a header from it is
 * refused by name instead of failing as a broken TLS record. */
static void sniff(struct conn_layer *cl, struct conn *c, const uint8_t *data, size_t len)
{
    c->proxy_sniff = false;
    if (pp_looks_like_header(data, len)) {
        conn_proxy_reject(cl, c, PROXY_REJECT_UNTRUSTED);
        return;
    }
    conn_ingest(cl, c, data, len);
}

/* keep stores the |len| (< PP_MAX_HEADER) bytes of a header's prefix that
 * arrived in one read in |c|'s framing block, so that the next read can
 * finish it (|c| is closed when no block is left). */
static void keep(struct conn_layer *cl, struct conn *c, const uint8_t *data, size_t len)
{
    size_t room;
    uint8_t *dst = conn_in_space(cl, c, &room);
    if (!dst)
        return;
    memcpy(dst, data, len);
    c->in->tail += (uint32_t)len;
}

/* proxied: |h| named the client of |c|. It becomes the peer, the limits
 * judge it as if it had connected itself, and the handshake starts. */
static bool proxied(struct conn_layer *cl, struct conn *c, const struct pp_header *h)
{
    char balancer[ADDR_TEXT_MAX], client[ADDR_TEXT_MAX];
    addr_format(&c->peer, balancer, sizeof balancer);
    memcpy(&c->peer, &h->src, h->src_len);
    c->peer_len = h->src_len;
    metrics_inc(cl->metrics, h->version == 1 ? M_PROXY_V1 : M_PROXY_V2);
    addr_format(&c->peer, client, sizeof client);
    LOG_DEBUG("PROXY protocol header", LF_STR("peer", client), LF_STR("balancer", balancer),
              LF_UINT("version", h->version));
    if (!conn_admit_tls_peer(cl, &c->peer)) {
        conn_close(cl, c, CLOSE_ABORT, "refused by limits"); /* still quiet: never opened */
        return false;
    }
    c->proxy_wait = false;
    conn_start_tls_in(cl, c);
    return conn_is_live(c) && c->tls;
}

void conn_proxy_ingest(struct conn_layer *cl, struct conn *c, const uint8_t *data, size_t len)
{
    if (!c->proxy_wait) {
        sniff(cl, c, data, len);
        return;
    }
    /* Most headers come whole in the first read and are parsed where the
     * loop received them; a header cut across reads is gathered in c->in,
     * never beyond PP_MAX_HEADER (the parser decides before that). */
    const uint8_t *buf = data;
    size_t have = len, taken = len;
    if (c->in) {
        size_t room = PP_MAX_HEADER - c->in->tail;
        taken = len < room ? len : room;
        memcpy(c->in->data + c->in->tail, data, taken);
        c->in->tail += (uint32_t)taken;
        buf = c->in->data;
        have = c->in->tail;
    }
    struct pp_header h;
    enum pp_error err;
    switch (pp_parse(buf, have, &h, &err)) {
    case PP_NEED_MORE:
        if (!c->in)
            keep(cl, c, data, len);
        return;
    case PP_ERROR:
        conn_proxy_reject(cl, c, err);
        return;
    case PP_DONE:
        break;
    }
    if (h.local) {
        metrics_inc(cl->metrics, M_PROXY_LOCAL);
        conn_close(cl, c, CLOSE_ABORT, "PROXY LOCAL");
        return;
    }
    /* What followed the header is the client's first TLS bytes: out of the
     * block (the engine's plaintext will need it) before the engine runs. */
    uint8_t early[PP_MAX_HEADER];
    size_t n_early = 0;
    if (c->in) {
        n_early = have - h.len;
        memcpy(early, buf + h.len, n_early);
        buf_pool_put(&cl->in_pool, c->in);
        c->in = NULL;
    } else {
        taken = h.len;
    }
    if (!proxied(cl, c, &h))
        return;
    if (n_early > 0)
        conn_ingest(cl, c, early, n_early);
    if (taken < len && conn_is_live(c) && c->tls)
        conn_ingest(cl, c, data + taken, len - taken);
}
