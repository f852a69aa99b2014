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
        int n = snprintf(out, HEAD_MAX, "%.*s sip:reusegw SIP/2.0\r\n", (int)m->method.len,
                         m->method.p);
        size_t len = (size_t)n;
        bool via_seen = false, fits = n > 0 && len < HEAD_MAX;
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

void ended_track(struct relay_layer *rl, struct pending *e, struct conn *t, const struct parsed *p,
                 const char *sent, size_t n)
{
    struct pending_table *pt = &rl->pending;
    e->mark = conn_out_mark(t);
    pending_link(pt, e, conn_ref_of(&rl->conn->conns, t).slot);
    char head[HEAD_MAX];
    size_t hn = kept_head(&p->msg, head);
    buf_queue_clear(&e->kept, &pt->kept_pool); /* a retransmission keeps anew */
    e->copy_len = 0;
    struct buf_pool *pool = &pt->kept_pool;
    if (pool->in_use + (n + hn) / pool->block_size + 2 <= pool->max_blocks / COPY_SHARE_DIVISOR &&
        buf_queue_append(&e->kept, pool, sent, n)) {
        e->copy_len = (uint32_t)n;
    }
    if (hn > 0 && buf_queue_append(&e->kept, pool, head, hn))
        return;
    buf_queue_clear(&e->kept, pool); /* no head: a dying connection cannot answer it */
    e->copy_len = 0;
    LOG_RATELIMITED(LOG_WARN,
                    "no room to keep a request's head; its connection's death will "
                    "leave it to the legacy proxy's timer",
                    LF_UINT("kept_blocks", pool->in_use));
}

void ended_responded(struct relay_layer *rl, struct pending *e)
{
    e->mark = MARK_ANSWERED;
    if (e->copy_len) {
        buf_queue_consume(&e->kept, &rl->pending.kept_pool, e->copy_len);
        e->copy_len = 0;
    }
}

bool ended_absorbed(struct relay_layer *rl, struct conn *from, const struct parsed *p,
                    const struct pending *inv)
{
    if (!inv->ended)
        return false;
    if (relay_is_method(&p->msg, "ACK")) {
        relay_drop(rl, M_DROP_PEER_GONE, from, "ACK of reusegw's own answer");
        return true;
    }
    /* RFC 3261 §9.2: the INVITE has its final answer; the CANCEL gets 200. */
    answer_send(rl, from, p, 200, NULL, NULL,
                (enum metric_id)(M_ANSWERED_ON_CLOSE_FIRST + inv->ended - 1));
    return true;
}

static const char *const cause_texts[CONN_ENDS] = {
    "connection closed by reusegw",
    "connection closed by peer",
    "connection reset by peer",
    "peer connection timed out",
};

/* answer_dead answers entry |e| of dead connection |c| (ended for |cause|)
 * from its kept head, like a peer's response: towards the legacy proxy,
 * the Via restored, or to the worker whose legacy connection it came from.
 * |e| may be gone afterwards. */
static void answer_dead(struct relay_layer *rl, struct conn *c, struct pending *e,
                        enum conn_end cause)
{
    char head[HEAD_MAX];
    size_t hn = kept_read(&e->kept, e->copy_len, head, sizeof(head));
    struct parsed q;
    if (hn == 0 || parsed_view(&q, head, hn) != SIP_OK) {
        LOG_RATELIMITED(LOG_WARN, "cannot answer a transaction of a dead connection",
                        LF_STR("conn", conn_kind_name(c)));
        return;
    }
    char why[192];
    if (cause == CONN_END_PEER_CLOSED || cause == CONN_END_PEER_RESET || !c->close_why)
        snprintf(why, sizeof(why), "%s", cause_texts[cause]);
    else
        snprintf(why, sizeof(why), "%s (%s)", cause_texts[cause], c->close_why);
    unsigned status = e->method == PENDING_CANCEL ? 200 : cause == CONN_END_TIMEOUT ? 408 : 503;
    char out[8192];
    size_t n =
        answer_build(rl, &q, status, NULL, status == 200 ? NULL : why, true, out, sizeof(out));
    struct parsed r;
    if (n == 0 || parsed_view(&r, out, n) != SIP_OK)
        return;
    e->ended = (uint8_t)(cause + 1);
    metrics_inc(rl->metrics, (enum metric_id)(M_ANSWERED_ON_CLOSE_FIRST + cause));
    LOG_RATELIMITED(LOG_INFO, "answering a transaction of a dead connection",
                    LF_STR("conn", conn_kind_name(c)), LF_UINT("status", status),
                    LF_STR("reason", why));
    relay_response_from_tls(rl, conn_kind_name(c), NULL, &r); /* may free |e| */
}

/* route_again sends |e|, whose request never left |c|, back into routing:
 * here when its legacy connection is this worker's, else to the worker
 * whose it is. False when it cannot (no copy kept, or already re-routing):
 * it is answered instead. */
static bool route_again(struct relay_layer *rl, struct pending *e)
{
    if (!e->copy_len || rl->local_only)
        return false;
    size_t n = kept_read(&e->kept, 0, rl->reroute, e->copy_len);
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
        bool left = e->mark == MARK_ANSWERED || conn_out_left(c, e->mark);
        if (!left && route_again(rl, e))
            continue;
        answer_dead(rl, c, e, cause);
    }
}
