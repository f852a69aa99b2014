/* relay: the message-flow table of docs/design.md, one function per row.
 * Every message enters at relay_message, through the connection layer's
 * one door, and leaves through relay_send. */
#include "relay/relay.h"

#include <string.h>

#include "config/config.h"
#include "conn/conn.h"
#include "conn/conn_io.h"
#include "conn/conn_open.h"
#include "core/log.h"
#include "relay/alias.h"
#include "relay/answer.h"
#include "relay/dns_route.h"
#include "relay/ended.h"
#include "relay/forward.h"
#include "relay/pending.h"
#include "relay/relay_internal.h"
#include "relay/reuse_decision.h"
#include "relay/route.h"
#include "relay/udp_legacy.h"
#include "sip/check.h"
#include "sip/peek.h"

void relay_drop_from(struct relay_layer *rl, enum metric_id id, const char *from, const char *why)
{
    metrics_inc(rl->metrics, id);
    LOG_RATELIMITED(LOG_DEBUG, "dropping message", LF_STR("from", from), LF_STR("why", why));
}

void relay_drop(struct relay_layer *rl, enum metric_id id, const struct conn *c, const char *why)
{
    relay_drop_from(rl, id, conn_kind_name(c), why);
}

bool relay_send(struct relay_layer *rl, struct conn *from, struct conn *to, const void *data,
                size_t len, enum metric_id msgs, enum metric_id bytes)
{
    if (!conn_send(rl->conn, to, data, len))
        return false;
    metrics_relayed(rl->metrics, msgs, bytes, len);
    if (from)
        conn_throttle(rl->conn, from, to);
    return true;
}

/* Row: a request from a TLS connection goes, unchanged, to its mirror. */
static void request_from_tls(struct relay_layer *rl, struct conn *t, const struct parsed *p)
{
    alias_consider(rl, t, &p->via);
    struct conn *m = conn_mirror(rl->conn, t);
    if (!m) {
        if (!relay_is_method(&p->msg, "ACK"))
            answer_send(rl, t, p, 503, "Service Unavailable", "legacy proxy unreachable",
                        M_503_OTHER);
        return;
    }
    if (m->kind == CONN_UDP) {
        udp_request_to_legacy(rl, t, m, p);
        return;
    }
    if (relay_send(rl, t, m, p->buf, p->len, M_MSG_TO_LEGACY_REQUEST, M_BYTES_TO_LEGACY))
        ended_serve(rl, t, m, p);
    else
        relay_drop(rl, M_DROP_BUFFER_FULL, t, "mirror cannot take more");
}

/* Row: a response from a mirror goes, unchanged, to its TLS connection;
 * its bytes, status, top Via and CSeq (|pk|) are all the row needs
 * (parsed_response_peeked). */
static void response_from_mirror(struct relay_layer *rl, struct conn *m, const char *msg,
                                 size_t len, const struct sip_peek *pk)
{
    struct conn *t = conn_get(&rl->conn->conns, m->partner);
    ended_served(rl, pk);
    if (!t) {
        relay_drop(rl, M_DROP_PEER_GONE, m, "the TLS connection closed");
        return;
    }
    if (!relay_send(rl, m, t, msg, len, M_MSG_TO_PEER_RESPONSE, M_BYTES_TO_PEER))
        relay_drop(rl, M_DROP_BUFFER_FULL, m, "TLS connection cannot take more");
}

/* The same row for a response from a mirror that took the full path. */
static void response_from_mirror_parsed(struct relay_layer *rl, struct conn *m,
                                        const struct parsed *p)
{
    struct sip_peek pk;
    bool cseq = parsed_peek_of(p, &pk);
    response_from_mirror(rl, m, p->buf, p->len, cseq ? &pk : NULL);
}

/* Row: a request from a mirror goes, rewritten, to the mirror's own TLS
 * connection. */
static void request_from_mirror(struct relay_layer *rl, struct conn *m, const struct parsed *p)
{
    struct conn *t = conn_get(&rl->conn->conns, m->partner);
    if (!t || t->peer_closed) {
        reuse_decided(rl->metrics, REUSE_CONNECTION_GONE, t ? t->domain : NULL, NULL);
        if (!relay_is_method(&p->msg, "ACK"))
            answer_send(rl, m, p, 503, "Service Unavailable", "peer connection is gone",
                        M_503_OTHER);
        return;
    }
    forward_request(rl, m, &(struct dest){.local = t}, p, NULL,
                    (struct sip_str){t->domain, strlen(t->domain)});
}

/* Row: a request from egress (E) is routed — after its INVITE when it is a
 * CANCEL or non-2xx ACK, else by static route, transparent destination or
 * DNS — and goes, rewritten, to a reused or newly dialled TLS connection. */
static void request_from_egress(struct relay_layer *rl, struct conn *e, const struct parsed *p)
{
    struct conn_key bound;
    if (forward_after_invite(rl, e, p, &bound))
        return;
    struct route_plan plan;
    route_plan(rl->cfg, &p->msg, &plan);
    struct cfg_hostport original;
    if (e->original_dst.family)
        route_plan_transparent(&plan, &e->original_dst, &original);
    if (plan.verdict == ROUTE_DNS && !dns_routes_plan(rl->dns, e, p->buf, p->len, &plan))
        return; /* waiting for DNS: it is delivered again with the answer */
    if (plan.verdict == ROUTE_OK && bound.family)
        forward_narrow_to(&plan, &bound);
    const char *why = plan.why;
    struct dest dst = {.ours = forward_ours(rl, e, p)};
    bool routed = plan.verdict == ROUTE_OK && forward_pick(rl, &plan, &why, &dst);
    if (dst.local && dst.local->targets == &original) {
        /* The kernel named one destination: nothing to fail over to, and
         * |original| dies with this call. */
        dst.local->targets = NULL;
        dst.local->n_targets = 0;
    }
    if (!routed) {
        /* Per message, and counted in reusegw_503_sent_total: debug. */
        LOG_RATELIMITED(LOG_DEBUG, "cannot route request", LF_STR("reason", why));
        if (relay_is_method(&p->msg, "ACK"))
            relay_drop(rl, M_DROP_ACK_UNROUTABLE, e, why);
        else
            answer_send(rl, e, p, 503, "Service Unavailable", why, plan.refusal);
        return;
    }
    forward_request(rl, e, &dst, p, plan.self_route, plan.domain);
}

void relay_response_from_tls(struct relay_layer *rl, const char *from, const struct peer_hit *src,
                             const char *msg, size_t len, const struct sip_peek *pk)
{
    enum pending_method pm = pending_method_of(pk->cseq.method.p, pk->cseq.method.len);
    struct pending *e = pending_find(&rl->pending, pk->via.branch.p, pk->via.branch.len, pm);
    if (!e) {
        relay_drop_from(rl, M_DROP_UNKNOWN_BRANCH, from, "response to an unknown transaction");
        return;
    }
    ended_responded(rl, e, pk->status);
    if (e->legacy_worker != rl->id) {
        /* A request another worker handed over: its entry there restores
         * the Via. This one only lives as long as the transaction does. */
        relay_hand_response(rl, from, src, e, msg, len, pk->status);
        return;
    }
    struct conn *legacy = conn_get(&rl->conn->conns, e->legacy);
    if (!legacy) {
        relay_drop_from(rl, M_DROP_PEER_GONE, from,
                        "the legacy connection of this response closed");
        return;
    }
    if (src) {
        e->tls = src->ref;
        e->tls_worker = src->worker;
        e->tls_kind = src->kind;
        if (src->key.family)
            e->target = src->key;
        uint32_t slot = src->worker == rl->id ? src->ref.slot : 0;
        if (e->on_slot != slot) /* it lives on that connection now (failover, RFC 3261 18.2.2) */
            pending_link(&rl->pending, e, slot);
    }
    size_t n = relay_via_restored(rl, msg, len, &pk->via, e);
    if (legacy->kind == CONN_UDP) {
        bool sent = n > 0 && udp_response_to_legacy(rl, legacy, e, rl->conn->scratch, n);
        pending_on_response(&rl->pending, e, pk->status, rl->timers->now_ms);
        if (!sent)
            relay_drop_from(rl, M_DROP_BUFFER_FULL, from, "udp send of the response failed");
        return;
    }
    pending_on_response(&rl->pending, e, pk->status, rl->timers->now_ms); /* may free |e| */
    if (n == 0 || !relay_send(rl, NULL, legacy, rl->conn->scratch, n, M_MSG_TO_LEGACY_RESPONSE,
                              M_BYTES_TO_LEGACY))
        relay_drop_from(rl, M_DROP_BUFFER_FULL, from, "legacy connection cannot take the response");
}

void relay_response_on(struct relay_layer *rl, const struct conn *c, const char *msg, size_t len,
                       const struct sip_peek *pk)
{
    struct peer_hit src = {.worker = (uint8_t)rl->id,
                           .kind = c->kind,
                           .ref = conn_ref_of(&rl->conn->conns, c),
                           .key = c->key};
    relay_response_from_tls(rl, conn_kind_name(c), c->state == CONN_OPEN ? &src : NULL, msg, len,
                            pk);
}

void relay_response_parsed_on(struct relay_layer *rl, const struct conn *c, const struct parsed *p)
{
    struct sip_peek pk;
    if (parsed_peek_of(p, &pk))
        relay_response_on(rl, c, p->buf, p->len, &pk);
    else
        relay_drop(rl, M_DROP_MALFORMED, c, "response without a valid CSeq");
}

/* Row: a response on egress is dropped: reusegw never sends requests
 * there, so nothing there can be answered. */
static void response_on_egress(struct relay_layer *rl, struct conn *e, const struct parsed *p)
{
    relay_drop(rl, M_DROP_RESPONSE_ON_EGRESS, e,
               "a response on egress: reusegw never sends requests there");
}

void relay_request_from_legacy(struct relay_layer *rl, struct conn *c, const struct parsed *p)
{
    if (p->via.branch.len == 0) {
        if (!relay_is_method(&p->msg, "ACK"))
            answer_send(rl, c, p, 400, "Bad Request", "top Via has no branch",
                        M_ANSWER_BAD_REQUEST);
        return;
    }
    if (c->kind == CONN_MIRROR) {
        request_from_mirror(rl, c, p);
    } else if (c->kind == CONN_UDP) {
        /* Row: as from egress, once its retransmissions are told apart. */
        if (udp_request_absorbed(rl, c, p))
            return;
        request_from_egress(rl, c, p);
        udp_request_routed(rl, c, p);
    } else {
        request_from_egress(rl, c, p);
    }
}

void relay_message(void *ctx, struct conn *c, const char *msg, size_t len,
                   const struct sip_frame *fr)
{
    struct relay_layer *rl = ctx;
    struct sip_peek pk;
    bool from_tls = c->kind == CONN_TLS_IN || c->kind == CONN_TLS_OUT;
    if (fr && c->kind == CONN_MIRROR && parsed_response_peeked(rl, msg, fr, &pk)) {
        response_from_mirror(rl, c, msg, len, &pk);
        return;
    }
    if (fr && from_tls && parsed_peeked(msg, fr, &pk)) {
        /* Its row needs the bytes, status, top Via and CSeq: the legacy
         * proxy parses the rest itself. */
        relay_response_on(rl, c, msg, len, &pk);
        return;
    }
    struct parsed p; /* bounded: RELAY_MAX_HEADERS entries, on the stack */
    if (!parsed_checked(rl, c, msg, len, &p))
        return;
    if (!from_tls)
        forward_warn_legacy_leak(rl, &p.msg);
    if (!p.msg.is_request) {
        if (from_tls)
            relay_response_parsed_on(rl, c, &p);
        else if (c->kind == CONN_MIRROR)
            response_from_mirror_parsed(rl, c, &p);
        else if (c->kind == CONN_UDP)
            udp_response_from_legacy(rl, c, &p);
        else
            response_on_egress(rl, c, &p);
        return;
    }
    if (c->kind == CONN_UDP)
        udp_reply_to(c, &p.via);
    if (answer_hops_exhausted(rl, c, &p))
        return;
    if (from_tls)
        request_from_tls(rl, c, &p);
    else
        relay_request_from_legacy(rl, c, &p);
}
