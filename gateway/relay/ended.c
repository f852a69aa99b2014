/* ended: answers and re-routes for the transactions of a dying connection. */
#include "relay/ended.h"

#include <stdio.h>
#include <string.h>

#include "conn/conn.h"
#include "conn/conn_io.h"
#include "core/log.h"
#include "relay/answer.h"
#include "relay/handoff.h"
#include "relay/pending.h"
#include "relay/relay_internal.h"
#include "sip/check.h"
#include "sip/peek.h"

_Static_assert((int)CONN_ENDS == (int)METRIC_CONN_ENDS, "one answered_on_close series per cause");

enum {
    HEAD_MAX = 4096, /* the longest head kept; past it, the topmost Via alone */
    /* Copies of requests in flight take at most this share of the pool, so
     * that heads always find room. */
    COPY_SHARE_DIVISOR = 2,
};

/* An entry whose request a response showed to have left. */
#define MARK_ANSWERED UINT64_MAX

/* kept_head writes the compact head of request |m| into |out| (HEAD_MAX
 * bytes): its method in a request line of its own, then the header lines a
 * response copies (RFC 3261 §8.2.6.2), in order; every Via or, when they do
 * not fit, the topmost alone. Its length, or 0. */
static size_t kept_head(const struct sip_msg *m, char *out)
{
    for (int all_vias = 1; all_vias >= 0; all_vias--) {
        static const char tail[] = " sip:reusegw SIP/2.0\r\n";
        size_t len = m->method.len + sizeof(tail) - 1;
        bool via_seen = false, fits = len < HEAD_MAX;
        if (fits) { /* no snprintf: its set-up cost more than the copies */
            memcpy(out, m->method.p, m->method.len);
            memcpy(out + m->method.len, tail, sizeof(tail) - 1);
        }
        for (size_t i = 0; fits && i < m->nheaders; i++) {
            const struct sip_header *h = &m->headers[i];
            bool want = h->id == SIP_HDR_FROM || h->id == SIP_HDR_TO || h->id == SIP_HDR_CALL_ID ||
                        h->id == SIP_HDR_CSEQ || (h->id == SIP_HDR_VIA && (all_vias || !via_seen));
            via_seen |= h->id == SIP_HDR_VIA;
            if (!want)
                continue;
            fits = len + h->line.len + 2 < HEAD_MAX;
            if (fits) {
                memcpy(out + len, h->line.p, h->line.len);
                len += h->line.len;
            }
        }
        if (fits) {
            memcpy(out + len, "\r\n", 2);
            return len + 2;
        }
    }
    return 0;
}

/* kept_read copies the bytes of |q| from offset |off| on into |out| (|cap|
 * bytes); how many it copied. */
static size_t kept_read(const struct buf_queue *q, size_t off, char *out, size_t cap)
{
    size_t n = 0;
    for (const struct buf_block *b = q->head; b && n < cap; b = b->next) {
        size_t avail = b->tail - b->head;
        if (off >= avail) {
            off -= avail;
            continue;
        }
        size_t take = avail - off < cap - n ? avail - off : cap - n;
        memcpy(out + n, b->data + b->head + off, take);
        n += take;
        off = 0;
    }
    return n;
}

/* no_head says that an entry keeps no head: a dying connection cannot
 * answer it. */
static void no_head(const struct buf_pool *pool)
{
    LOG_RATELIMITED(LOG_WARN,
                    "no room to keep a request's head; if its connection dies, the "
                    "other side's timer ends it",
                    LF_UINT("kept_blocks", pool->in_use));
}

/* keep stores in |e| (of table |pt| of |rl|) what answers or re-routes
 * request |p| (NULL: parsed here, when needed, from |sent|) if its connection
 * dies: room permitting, the |n| bytes of |sent| as queued (|sent| NULL:
 * none), and its head. A copy of at most HEAD_MAX bytes stands in for the
 * head, which answer_ended parses from it, and ended_responded makes from
 * it when a provisional response lets the copy go: most transactions end
 * with one final response, and then no head was ever made. */
static void keep(struct relay_layer *rl, struct pending_table *pt, struct pending *e,
                 const struct parsed *p, const char *sent, size_t n)
{
    struct buf_pool *pool = &pt->kept_pool;
    buf_queue_clear(&e->kept, pool); /* a retransmission keeps anew */
    e->copy_len = 0;
    size_t need = n + (n > HEAD_MAX ? HEAD_MAX : 0);
    if (sent &&
        pool->in_use + need / pool->block_size + 2 <= pool->max_blocks / COPY_SHARE_DIVISOR &&
        buf_queue_append(&e->kept, pool, sent, n)) {
        e->copy_len = (uint32_t)n;
        if (n <= HEAD_MAX)
            return;
    }
    struct parsed q;
    if (!p && sent && parsed_answerable(rl, &q, sent, n))
        p = &q;
    char head[HEAD_MAX];
    size_t hn = p ? kept_head(&p->msg, head) : 0;
    if (hn > 0 && buf_queue_append(&e->kept, pool, head, hn))
        return;
    buf_queue_clear(&e->kept, pool);
    e->copy_len = 0;
    no_head(pool);
}

/* head_in_copy is true when |e| keeps its request's copy and no head apart
 * (keep): the copy is what answers it. */
static bool head_in_copy(const struct pending *e)
{
    return e->copy_len > 0 && e->kept.bytes == e->copy_len;
}

void ended_track(struct relay_layer *rl, struct pending *e, struct conn *t, const struct parsed *p,
                 const char *sent, size_t n)
{
    e->mark = conn_out_mark(t);
    pending_link(&rl->pending, e, conn_ref_of(&rl->conn->conns, t).slot);
    keep(rl, &rl->pending, e, p, sent, n);
}

void ended_serve(struct relay_layer *rl, struct conn *t, struct conn *m, const struct parsed *p)
{
    if (relay_is_method(&p->msg, "ACK"))
        return; /* no transaction */
    struct pending *e = pending_add(&rl->served, p->via.branch.p, p->via.branch.len,
                                    pending_method_of(p->msg.method.p, p->msg.method.len), "", 0,
                                    rl->timers->now_ms);
    if (!e)
        return; /* relayed all the same: only a dying mirror would leave it unanswered */
    e->tls = conn_ref_of(&rl->conn->conns, t);
    pending_link(&rl->served, e, conn_ref_of(&rl->conn->conns, m).slot);
    keep(rl, &rl->served, e, p, NULL, 0);
}

void ended_served(struct relay_layer *rl, const struct sip_peek *pk)
{
    if (!pk)
        return;
    struct pending *e = pending_find(&rl->served, pk->via.branch.p, pk->via.branch.len,
                                     pending_method_of(pk->cseq.method.p, pk->cseq.method.len));
    if (e && pk->status >= 200)
        pending_remove(&rl->served, e);
    else if (e)
        pending_on_response(&rl->served, e, pk->status, rl->timers->now_ms);
}

void ended_responded(struct relay_layer *rl, struct pending *e, unsigned status)
{
    e->mark = MARK_ANSWERED;
    if (!e->copy_len)
        return;
    struct buf_pool *pool = &rl->pending.kept_pool;
    if (status >= 200) {
        /* A dying connection answers nothing that had its final response:
         * neither the copy nor the head is needed any more. */
        buf_queue_clear(&e->kept, pool);
        e->copy_len = 0;
        return;
    }
    if (head_in_copy(e)) {
        /* Still open: its head, from the copy, before that goes. */
        char buf[HEAD_MAX], head[HEAD_MAX];
        struct parsed q;
        size_t n = kept_read(&e->kept, 0, buf, e->copy_len), hn = 0;
        if (parsed_answerable(rl, &q, buf, n))
            hn = kept_head(&q.msg, head);
        buf_queue_clear(&e->kept, pool);
        e->copy_len = 0;
        if (hn == 0 || !buf_queue_append(&e->kept, pool, head, hn))
            no_head(pool);
        return;
    }
    buf_queue_consume(&e->kept, pool, e->copy_len);
    e->copy_len = 0;
}

bool ended_absorbed(struct relay_layer *rl, struct conn *from, const struct parsed *p,
                    const struct pending *inv)
{
    if (!inv->ended || !relay_is_method(&p->msg, "ACK"))
        return false;
    relay_drop(rl, M_DROP_PEER_GONE, from, "ACK of reusegw's own answer");
    return true;
}

static const char *const cause_texts[2][CONN_ENDS] = {
    {"connection closed by reusegw", "connection closed by peer", "connection reset by peer",
     "peer connection timed out"},
    {"connection to the legacy proxy closed by reusegw", "connection closed by the legacy proxy",
     "connection reset by the legacy proxy", "legacy proxy connection timed out"},
};

/* answer_ended writes into |out| (|cap| bytes) the answer to entry |e|,
 * whose connection |c| ended for |cause|, from its kept head: 503
 * (408 when a limit timer ended it) with a Reason naming the cause, 200 for
 * a CANCEL; marks |e| answered and counts it. Its length, or 0. */
static size_t answer_ended(struct relay_layer *rl, struct conn *c, struct pending *e,
                           enum conn_end cause, char *out, size_t cap)
{
    char head[HEAD_MAX];
    size_t hn = kept_read(&e->kept, head_in_copy(e) ? 0 : e->copy_len, head, sizeof(head));
    struct parsed q;
    if (hn == 0 || !parsed_answerable(rl, &q, head, hn)) {
        LOG_RATELIMITED(LOG_WARN, "cannot answer a transaction of a dead connection",
                        LF_STR("conn", conn_kind_name(c)));
        return 0;
    }
    const char *text = cause_texts[c->kind == CONN_MIRROR][cause];
    char why[192];
    if (cause == CONN_END_PEER_CLOSED || cause == CONN_END_PEER_RESET || !c->close_why)
        snprintf(why, sizeof(why), "%s", text);
    else
        snprintf(why, sizeof(why), "%s (%s)", text, c->close_why);
    unsigned status = e->method == PENDING_CANCEL ? 200 : cause == CONN_END_TIMEOUT ? 408 : 503;
    size_t n = answer_build(rl, &q, status, NULL, status == 200 ? NULL : why, true, out, cap);
    if (n == 0)
        return 0;
    e->ended = (uint8_t)(cause + 1);
    metrics_inc(rl->metrics, (enum metric_id)(M_ANSWERED_ON_CLOSE_FIRST + cause));
    LOG_RATELIMITED(LOG_INFO, "answering a transaction of a dead connection",
                    LF_STR("conn", conn_kind_name(c)), LF_UINT("status", status),
                    LF_STR("reason", why));
    return n;
}

/* answer_dead answers entry |e| of dead TLS connection |c| like a peer's
 * response: towards the legacy proxy, the Via restored, or to the worker
 * whose legacy connection it came from. |e| may be gone afterwards. */
static void answer_dead(struct relay_layer *rl, struct conn *c, struct pending *e,
                        enum conn_end cause)
{
    char out[8192];
    size_t n = answer_ended(rl, c, e, cause, out, sizeof(out));
    struct parsed r;
    struct sip_peek pk;
    if (n == 0 || parsed_view(&r, out, n) != SIP_OK || !parsed_peek_of(&r, &pk))
        return;
    bool invite = e->method == PENDING_INVITE;
    /* may free |e|, not an INVITE */
    relay_response_from_tls(rl, conn_kind_name(c), NULL, out, n, &pk);
    /* The peer may still ring: a CANCEL of it must find where the INVITE
     * went for 64*T1 (R-5923-13), as while it was open. */
    if (invite && e->in_use && e->ended)
        timer_arm(rl->timers, &e->timer, rl->timers->now_ms + PENDING_LINGER_MS);
}

/* mirror_ended answers, on their TLS connection, the peers' requests that
 * mirror |m| delivered to the legacy proxy and that have no final answer:
 * none can come once |m| stops carrying. Those of a mirror that never
 * connected were answered by relay_dial_failed. */
static void mirror_ended(struct relay_layer *rl, struct conn *m, enum conn_end cause)
{
    uint32_t slot = conn_ref_of(&rl->conn->conns, m).slot;
    bool opened = m->state != CONN_CONNECTING && m->held_released;
    struct pending *e;
    while ((e = pending_first_on(&rl->served, slot))) {
        struct conn *t = conn_get(&rl->conn->conns, e->tls);
        char out[8192];
        size_t n = opened && t && t->state == CONN_OPEN
                       ? answer_ended(rl, m, e, cause, out, sizeof(out))
                       : 0;
        if (n > 0 && !conn_send(rl->conn, t, out, n))
            relay_drop(rl, M_DROP_BUFFER_FULL, m, "cannot queue reusegw's own answer");
        pending_remove(&rl->served, e);
    }
}

/* route_again sends |e|, whose request never left |c|, back into routing:
 * here when its legacy connection is this worker's, else to the worker
 * whose it is. False when it cannot (no copy kept, already re-routing, or
 * a copy the header index cannot hold, which routing could not parse
 * again: a datagram's added Content-Length can be its line too many): it
 * is answered instead. */
static bool route_again(struct relay_layer *rl, struct pending *e)
{
    if (!e->copy_len || rl->local_only)
        return false;
    size_t n = kept_read(&e->kept, 0, rl->reroute, e->copy_len);
    if (!parsed_reroutable(rl->reroute, n))
        return false;
    metrics_inc(rl->metrics, M_REROUTED);
    if (e->legacy_worker == rl->id) {
        relay_route_again(rl, e, rl->reroute, n);
        return true;
    }
    struct handoff_msg back = {.kind = HANDOFF_REROUTE,
                               .method = e->method,
                               .branch_len = e->branch_len,
                               .legacy = e->legacy,
                               .tls = e->tls};
    memcpy(back.branch, e->branch, e->branch_len);
    if (!relay_post(rl, e->legacy_worker, &back, rl->reroute, n))
        return false;
    pending_remove(&rl->pending, e);
    return true;
}

/* follow moves the open entries of |c|, a dial that failed over to |next|
 * with what it held, to |next|. */
static void follow(struct relay_layer *rl, struct conn *c, struct conn *next)
{
    uint32_t slot = conn_ref_of(&rl->conn->conns, c).slot;
    struct pending *e;
    while ((e = pending_first_on(&rl->pending, slot))) {
        e->tls = conn_ref_of(&rl->conn->conns, next);
        e->target = next->key;
        pending_link(&rl->pending, e, e->tls.slot);
    }
}

void relay_conn_ended(void *ctx, struct conn *c, enum conn_end cause)
{
    struct relay_layer *rl = ctx;
    if (c->kind == CONN_MIRROR) {
        mirror_ended(rl, c, cause);
        return;
    }
    if (c->kind != CONN_TLS_IN && c->kind != CONN_TLS_OUT)
        return;
    uint32_t slot = conn_ref_of(&rl->conn->conns, c).slot;
    if (c->state != CONN_DEAD) {
        /* It stopped reading: what left can have no answer any more. What
         * is still queued waits for the verdict of its death. */
        struct pending *next;
        for (struct pending *e = pending_first_on(&rl->pending, slot); e; e = next) {
            next = pending_next_on(&rl->pending, e);
            if (e->final_seen || !(e->mark == MARK_ANSWERED || conn_out_left(c, e->mark)))
                continue;
            pending_link(&rl->pending, e, 0);
            answer_dead(rl, c, e, cause);
        }
        return;
    }
    struct conn *heir = conn_get(&rl->conn->conns, c->failed_over_to);
    if (heir && heir->state != CONN_CLOSING && heir->state != CONN_DEAD) {
        follow(rl, c, heir);
        return;
    }
    struct pending *e;
    while ((e = pending_first_on(&rl->pending, slot))) {
        pending_link(&rl->pending, e, 0);
        if (e->final_seen)
            continue;
        /* When reusegw itself closed |c| (shutdown, reload, revocation...),
         * no new connection is made for what it held. */
        bool left = e->mark == MARK_ANSWERED || conn_out_left(c, e->mark);
        if (!left && cause != CONN_END_LOCAL && route_again(rl, e))
            continue;
        answer_dead(rl, c, e, cause);
    }
}
