/* handed: the hand-off path — requests and responses one worker hands to
 * another over the mesh (relay/handoff.h), and what each record means when
 * it arrives. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "conn/conn.h"
#include "conn/conn_limits.h"
#include "core/log.h"
#include "relay/alias.h"
#include "relay/answer.h"
#include "relay/ended.h"
#include "relay/handoff.h"
#include "relay/pending.h"
#include "relay/relay.h"
#include "relay/relay_internal.h"
#include "relay/reuse_decision.h"
#include "sip/framing.h"
#include "sip/peek.h"

bool relay_post(struct relay_layer *rl, unsigned to, struct handoff_msg *msg, const void *bytes,
                size_t len)
{
    msg->from = (uint8_t)rl->id;
    msg->len = (uint32_t)len;
    bool response = msg->kind == HANDOFF_RESPONSE; /* else a request, or one coming back */
    if (handoff_post(rl->mesh, rl->id, to, msg, bytes)) {
        rl->wake(rl->wake_ctx, to);
        metrics_inc(rl->metrics, response ? M_HANDOFF_RESPONSE : M_HANDOFF_REQUEST);
        return true;
    }
    metrics_inc(rl->metrics, M_HANDOFF_REFUSED);
    LOG_RATELIMITED(LOG_WARN, "hand-off channel to another worker is full",
                    LF_UINT("to_worker", to), LF_STR("kind", response ? "response" : "request"));
    return false;
}

void relay_hand_request(struct relay_layer *rl, struct conn *from, const struct peer_hit *to,
                        const struct parsed *p, struct pending *e, size_t n, struct sip_str domain)
{
    struct handoff_msg msg = {
        .kind = HANDOFF_REQUEST,
        .is_ack = e == NULL,
        .tls = to->ref,
        .legacy = conn_ref_of(&rl->conn->conns, from),
    };
    relay_copy_domain(msg.domain, sizeof(msg.domain), domain);
    if (e) {
        msg.method = e->method;
        msg.branch_len = e->branch_len;
        memcpy(msg.branch, e->branch, e->branch_len);
    }
    if (n > 0 && relay_post(rl, to->worker, &msg, rl->conn->scratch, n))
        return;
    answer_unsent(rl, from, p, e, n, "hand-off channel cannot take the ACK",
                  "worker hand-off channel full");
}

void relay_hand_response(struct relay_layer *rl, const char *from, const struct peer_hit *src,
                         struct pending *e, const char *bytes, size_t len, unsigned status)
{
    struct handoff_msg msg = {.kind = HANDOFF_RESPONSE, .open = src != NULL, .legacy = e->legacy};
    if (src) {
        msg.tls = src->ref;
        msg.tls_kind = src->kind;
        msg.target = src->key;
    }
    unsigned to = e->legacy_worker;
    pending_on_response(&rl->pending, e, status, rl->timers->now_ms); /* may free |e| */
    if (!relay_post(rl, to, &msg, bytes, len))
        relay_drop_from(rl, M_DROP_BUFFER_FULL, from, "hand-off channel full");
}

/* parse_handed indexes |len| bytes another worker handed over; it parsed
 * them once already, so a failure here is a bug, counted as malformed. */
static bool parse_handed(struct parsed *p, const char *buf, size_t len)
{
    return parsed_view(p, buf, len) == SIP_OK;
}

/* bounce answers a handed-over request that cannot leave on this worker
 * with a 503 naming |why|, counted in |series| (M_503_*) and sent back like
 * a peer's response so that the worker of its legacy connection restores
 * the Via. An ACK is dropped. */
static void bounce(struct relay_layer *rl, const struct handoff_msg *msg, const char *bytes,
                   const char *why, enum metric_id series)
{
    struct parsed p;
    if (msg->is_ack || !parsed_answerable(rl, &p, bytes, msg->len)) {
        relay_drop_from(rl, M_DROP_PEER_GONE, "hand-off", why);
        return;
    }
    char buf[8192];
    size_t n = answer_build(rl, &p, 503, NULL, why, false, buf, sizeof(buf));
    struct handoff_msg r = {.kind = HANDOFF_RESPONSE, .legacy = msg->legacy};
    if (n > 0 && relay_post(rl, msg->from, &r, buf, n))
        metrics_inc(rl->metrics, series);
}

/* still_established asks the kernel whether open connection |c| is still
 * established: a reset or FIN the loop has not delivered yet shows there
 * first. One getsockopt, on the hand-off path only, and at most once per
 * connection and loop time (a batch of handed requests asks once per
 * connection it is spread over): a worker's own requests meet the
 * connection's end in its event order, a handed one arrives from another
 * thread in no order with it, and is better routed again than lost on a
 * dead connection. One that dies later still has its answer (relay/ended.h). */
static bool still_established(struct relay_layer *rl, const struct conn *c)
{
    if (c->state != CONN_OPEN)
        return true;
    struct conn_ref ref = conn_ref_of(&rl->conn->conns, c);
    struct relay_established *seen = &rl->established[ref.slot % RELAY_ESTABLISHED_WAYS];
    if (conn_ref_eq(ref, seen->ref) && seen->ms == rl->timers->now_ms)
        return true;
    uint8_t state = 0; /* tcpi_state, the first byte of struct tcp_info */
    socklen_t len = sizeof(state);
    if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &state, &len) != 0 || state != TCP_ESTABLISHED)
        return false;
    *seen = (struct relay_established){.ref = ref, .ms = rl->timers->now_ms};
    return true;
}

/* request_handed sends a request another worker routed to this worker's
 * connection, keeping an entry that forwards its responses back. */
static void request_handed(struct relay_layer *rl, const struct handoff_msg *msg, const char *bytes)
{
    struct conn *t = conn_get(&rl->conn->conns, msg->tls);
    bool usable =
        t && (t->kind == CONN_TLS_IN || t->kind == CONN_TLS_OUT) && !t->peer_closed &&
        (t->state == CONN_CONNECTING || t->state == CONN_HANDSHAKE || t->state == CONN_OPEN) &&
        still_established(rl, t);
    if (!usable && !msg->is_ack && !parsed_reroutable(bytes, msg->len)) {
        bounce(rl, msg, bytes, "peer connection is gone", M_503_OTHER);
        return;
    }
    if (!usable) {
        /* Its row was still in the peer index when the sender looked: let
         * the sender route it again, as one worker would have. */
        struct handoff_msg back = *msg;
        back.kind = HANDOFF_REROUTE;
        if (msg->is_ack || !relay_post(rl, msg->from, &back, bytes, msg->len))
            relay_drop_from(rl, M_DROP_PEER_GONE, "hand-off", "peer connection is gone");
        return;
    }
    reuse_decided(rl->metrics, REUSE_REUSED, msg->domain, &t->key);
    struct pending *e = NULL;
    if (!msg->is_ack) {
        e = pending_add(&rl->pending, msg->branch, msg->branch_len, msg->method, "", 0,
                        rl->timers->now_ms);
        if (!e) {
            limits_hit(rl->metrics, LIMIT_MAX_PENDING_TRANSACTIONS);
            bounce(rl, msg, bytes, "too many pending transactions", M_503_PENDING_FULL);
            return;
        }
        e->legacy = msg->legacy;
        e->legacy_worker = msg->from;
        e->tls = msg->tls;
        e->tls_worker = (uint8_t)rl->id;
        e->tls_kind = t->kind;
        e->target = t->key;
    }
    if (relay_send(rl, NULL, t, bytes, msg->len, M_MSG_TO_PEER_REQUEST, M_BYTES_TO_PEER)) {
        if (e)
            ended_track(rl, e, t, NULL, bytes, msg->len);
        return;
    }
    if (e)
        pending_remove(&rl->pending, e);
    bounce(rl, msg, bytes, "peer connection congested", M_503_OTHER);
}

void relay_route_again(struct relay_layer *rl, struct pending *e, const char *bytes, size_t len)
{
    struct conn *legacy = e ? conn_get(&rl->conn->conns, e->legacy) : NULL;
    struct parsed p;
    if (!legacy || !parse_handed(&p, bytes, len)) {
        relay_drop_from(rl, M_DROP_PEER_GONE, "hand-off", "legacy connection or transaction gone");
        return;
    }
    size_t n = relay_via_restored(rl, bytes, len, &p.via, e);
    pending_remove(&rl->pending, e);
    if (n == 0) {
        relay_drop_from(rl, M_DROP_MALFORMED, "hand-off", "cannot restore the Via to re-route");
        return;
    }
    memcpy(rl->reroute, rl->conn->scratch, n); /* routing rewrites into scratch */
    if (!parse_handed(&p, rl->reroute, n)) {
        relay_drop_from(rl, M_DROP_MALFORMED, "hand-off", "restored request does not parse");
        return;
    }
    rl->local_only = true;
    relay_request_from_legacy(rl, legacy, &p);
    rl->local_only = false;
}

void relay_handoff(struct relay_layer *rl, const struct handoff_msg *msg, const char *bytes)
{
    if (msg->kind == HANDOFF_REROUTE) {
        relay_route_again(rl, pending_find(&rl->pending, msg->branch, msg->branch_len, msg->method),
                          bytes, msg->len);
        return;
    }
    if (msg->kind == HANDOFF_REQUEST) {
        request_handed(rl, msg, bytes);
        return;
    }
    if (msg->kind == HANDOFF_UNALIAS) {
        alias_unalias(rl, msg->tls, &msg->target);
        return;
    }
    /* The sender peeked or parsed it: framing it again finds the lines a
     * peek reads, which is all its row needs. */
    struct sip_framer f;
    struct sip_frame fr;
    struct sip_peek pk;
    sip_framer_init(&f);
    if (sip_framer_feed(&f, bytes, msg->len, msg->len, &fr) != SIP_FRAME_MESSAGE ||
        fr.len != msg->len || !parsed_peeked(bytes, &fr, &pk)) {
        relay_drop_from(rl, M_DROP_MALFORMED, "hand-off", "unparseable handed response");
        return;
    }
    struct peer_hit src = {
        .worker = msg->from, .kind = msg->tls_kind, .ref = msg->tls, .key = msg->target};
    relay_response_from_tls(rl, "hand-off", msg->open ? &src : NULL, bytes, msg->len, &pk);
}
