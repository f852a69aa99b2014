/* conn_io: a connection's life on the loop after it opened — receive and
 * framing, ordered sends, back-pressure, timers, close. A slot is released
 * only when no operation is in flight on it, so late completions always
 * find their own connection (or its bumped generation). */
#include "conn/conn_io.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "capture/capture.h"
#include "config/config.h"
#include "conn/conn.h"
#include "conn/conn_internal.h"
#include "conn/conn_log.h"
#include "conn/conn_limits.h"
#include "conn/conn_ours.h"
#include "conn/conn_proxy.h"
#include "conn/conn_udp.h"
#include "conn/tlsio.h"
#include "core/log.h"
#include "tls/conn.h"
#include "tls/identities.h"

enum {
    CLOSE_GRACE_MS = 2000,      /* how long a closing connection may flush */
    LINGER_MS = 2000,           /* CLOSE_LINGER: how long it then reads to EOF */
    LINGER_BYTES = 1024 * 1024, /* and how much it discards at most */
};

/* struct conn's |linger|. */
enum { LINGER_NONE, LINGER_FLUSHING, LINGER_SHUT };

bool conn_is_live(const struct conn *c)
{
    return c->state != CONN_FREE && c->state != CONN_DEAD;
}

size_t conn_backlog(const struct conn *c)
{
    return c->out.bytes + c->plain.bytes + c->hold.bytes;
}

void conn_arm_recv(struct conn_layer *cl, struct conn *c)
{
    if (c->recv_armed || c->read_paused || c->fd < 0 || !conn_is_live(c) ||
        c->state == CONN_CONNECTING)
        return;
    struct conn_ref r = conn_ref_of(&cl->conns, c);
    uint64_t tag = tag_make(OP_RECV, r.slot, r.gen);
    /* A datagram socket is read on readiness: recvfrom names the sender. */
    if ((c->kind == CONN_UDP ? loop_poll(cl->loop, c->fd, POLLIN, tag)
                             : loop_recv(cl->loop, c->fd, tag)) == 0)
        c->recv_armed = true;
}

void conn_maybe_release(struct conn_layer *cl, struct conn *c)
{
    if (c->state == CONN_DEAD && !c->recv_armed && !c->send_inflight && !c->op_inflight)
        conn_release(&cl->conns, c);
}

static void wake_waiters(struct conn_layer *cl, struct conn *dst)
{
    struct conn_ref me = conn_ref_of(&cl->conns, dst);
    uint32_t slot = dst->waiters;
    dst->waiters = 0;
    while (slot) {
        struct conn *src = conn_at(&cl->conns, slot);
        slot = src->waiter_next;
        src->waiter_next = 0;
        if (!conn_ref_eq(src->blocked_on, me))
            continue;
        src->blocked_on = (struct conn_ref){0};
        src->read_paused = false;
        if (src->state == CONN_OPEN && src->kind != CONN_UDP) {
            /* What waited is framed from its timer, not from inside the
             * send or close that ended the wait (resume). */
            src->resuming = true;
            conn_arm_timer(cl, src, 0);
        } else {
            conn_arm_recv(cl, src);
        }
    }
}

/* unwait takes |src| out of the waiting list of the connection it waits on,
 * so that the list never runs through a released slot. */
static void unwait(struct conn_layer *cl, struct conn *src)
{
    struct conn *dst = conn_get(&cl->conns, src->blocked_on);
    src->blocked_on = (struct conn_ref){0};
    if (!dst)
        return;
    uint32_t me = conn_ref_of(&cl->conns, src).slot;
    uint32_t *link = &dst->waiters;
    while (*link) {
        if (*link == me) {
            *link = src->waiter_next;
            break;
        }
        link = &conn_at(&cl->conns, *link)->waiter_next;
    }
    src->waiter_next = 0;
}

void conn_throttle(struct conn_layer *cl, struct conn *src, struct conn *dst)
{
    if (src->read_paused || conn_backlog(dst) <= cl->cfg->limits.max_buffered_bytes)
        return;
    src->read_paused = true;
    src->blocked_on = conn_ref_of(&cl->conns, dst);
    src->waiter_next = dst->waiters;
    dst->waiters = conn_ref_of(&cl->conns, src).slot;
    if (src->recv_armed) {
        struct conn_ref r = conn_ref_of(&cl->conns, src);
        loop_cancel(cl->loop, tag_make(OP_RECV, r.slot, r.gen));
    }
    /* Warn: a reader that stays this slow is closed by send_timeout. */
    limits_hit(cl->metrics, LIMIT_MAX_BUFFERED_BYTES);
    LOG_RATELIMITED(LOG_WARN, "limits.max_buffered_bytes reached; pausing reads",
                    LF_STR("conn", conn_kind_name(src)), LF_STR("slow", conn_kind_name(dst)),
                    LF_UINT("queued", conn_backlog(dst)),
                    LF_UINT("max_buffered_bytes", cl->cfg->limits.max_buffered_bytes));
}

/* finish_close drops every resource of |c| and closes its socket; the slot
 * is released once the loop has returned every operation on it. */
void conn_finish_close(struct conn_layer *cl, struct conn *c)
{
    if (!conn_is_live(c))
        return;
    conn_log_closed(cl, c);
    limits_handshake_over(cl, c);
    c->state = CONN_DEAD;
    if (cl->up.ended)
        cl->up.ended(cl->up.ctx, c, (enum conn_end)c->end);
    timer_disarm(cl->timers, &c->timer);
    conn_index_remove(&cl->conns, c);
    conn_peer_untrack(&cl->conns, c);
    unwait(cl, c);
    wake_waiters(cl, c);
    buf_pool_put(&cl->in_pool, c->in);
    c->in = NULL;
    buf_queue_clear(&c->out, &cl->out_pool);
    buf_queue_clear(&c->plain, &cl->out_pool);
    buf_queue_clear(&c->hold, &cl->out_pool);
    buf_queue_clear(&c->stash, &cl->out_pool);
    tls_conn_free(c->tls);
    c->tls = NULL;
    tls_identities_unref(c->ids);
    c->ids = NULL;
    cfg_unref(c->route_cfg);
    c->route_cfg = NULL;
    if (c->fd >= 0) {
        struct conn_ref r = conn_ref_of(&cl->conns, c);
        loop_cancel_fd(cl->loop, c->fd);
        if (loop_close(cl->loop, c->fd, tag_make(OP_CLOSE, r.slot, r.gen)) == 0)
            c->op_inflight = true;
        else
            close(c->fd);
        c->fd = -1;
    }
    struct conn *partner = conn_get(&cl->conns, c->partner);
    c->partner = (struct conn_ref){0};
    if (partner) {
        partner->partner = (struct conn_ref){0};
        /* A mirror dies with its TLS connection; a TLS connection outlives
         * its mirror, which is reopened on next use. */
        if (partner->kind == CONN_MIRROR)
            conn_close(cl, partner, CLOSE_FLUSH, "tls connection closed");
    }
    conn_maybe_release(cl, c);
}

/* linger_start runs when a CLOSE_LINGER connection has sent its last
 * byte: the peer gets our FIN, and reading goes on (discarding) until its
 * EOF, the time bound (the close timer) or the byte bound. */
static void linger_start(struct conn_layer *cl, struct conn *c)
{
    if (shutdown(c->fd, SHUT_WR) != 0) { /* the peer is gone already */
        conn_finish_close(cl, c);
        return;
    }
    c->linger = LINGER_SHUT;
    unwait(cl, c);
    c->read_paused = false;
    conn_arm_recv(cl, c);
    conn_arm_timer(cl, c, LINGER_MS);
}

/* linger_read takes receive completion |ev| of lingering |c|: bytes are
 * discarded up to the bound, which closes it; EOF or an error ends the
 * wait, at once when the write side is shut, else once the flush ends. */
static void linger_read(struct conn_layer *cl, struct conn *c, const struct loop_event *ev)
{
    if (ev->res == -ENOBUFS || ev->res == -ECANCELED) { /* a cancelled pause too */
        conn_arm_recv(cl, c);
        return;
    }
    if (ev->res > 0 && c->lingered + (uint64_t)ev->res <= LINGER_BYTES) {
        c->lingered += (uint32_t)ev->res;
        conn_arm_recv(cl, c);
        return;
    }
    if (ev->res > 0 || c->linger == LINGER_SHUT)
        conn_finish_close(cl, c);
    else
        c->linger = LINGER_NONE; /* the flush's end closes it */
}

void conn_flush(struct conn_layer *cl, struct conn *c)
{
    if (c->send_inflight || c->fd < 0 || c->state == CONN_CONNECTING || !conn_is_live(c))
        return;
    /* What queued while earlier records went out leaves in as few records
     * as the pool blocks it fills (tlsio_seal), once they all went. */
    if (c->plain.bytes > 0 && c->out.bytes == 0 && !tlsio_seal(cl, c, false))
        return;
    const uint8_t *data;
    size_t n = buf_queue_peek(&c->out, &data);
    if (n == 0) {
        if (c->state == CONN_CLOSING && c->linger == LINGER_FLUSHING)
            linger_start(cl, c);
        else if (c->state == CONN_CLOSING)
            conn_finish_close(cl, c);
        return;
    }
    struct conn_ref r = conn_ref_of(&cl->conns, c);
    if (loop_send(cl->loop, c->fd, data, n, tag_make(OP_SEND, r.slot, r.gen)) == 0) {
        c->send_inflight = true;
        limits_note_send_started(cl, c);
    }
}

/* end_of classifies the close of |c| in |mode| for |why| (the texts of this
 * layer's own close sites). */
static enum conn_end end_of(enum conn_close_mode mode, const char *why)
{
    if (strcmp(why, "peer closed") == 0) /* on_recv: EOF, or a receive error */
        return mode == CLOSE_ABORT ? CONN_END_PEER_RESET : CONN_END_PEER_CLOSED;
    if (strcmp(why, "peer sent close_notify") == 0)
        return CONN_END_PEER_CLOSED;
    if (strcmp(why, "send failed") == 0)
        return CONN_END_PEER_RESET;
    if (strcmp(why, limit_name(LIMIT_SEND_TIMEOUT)) == 0 ||
        strcmp(why, limit_name(LIMIT_MESSAGE_TIMEOUT)) == 0)
        return CONN_END_TIMEOUT;
    return CONN_END_LOCAL;
}

void conn_close(struct conn_layer *cl, struct conn *c, enum conn_close_mode mode, const char *why)
{
    if (!conn_is_live(c) || c->state == CONN_CLOSING)
        return;
    LOG_DEBUG("closing connection", LF_STR("conn", conn_kind_name(c)), LF_STR("why", why));
    c->close_why = why;
    c->end = (uint8_t)end_of(mode, why);
    limits_handshake_over(cl, c);
    conn_index_remove(&cl->conns, c);
    if (cl->up.ended)
        cl->up.ended(cl->up.ctx, c, (enum conn_end)c->end);
    if (mode == CLOSE_ABORT || c->state == CONN_CONNECTING) {
        conn_finish_close(cl, c);
        return;
    }
    if ((mode == CLOSE_GRACEFUL || mode == CLOSE_LINGER) && c->tls && c->state == CONN_OPEN &&
        !tlsio_close_notify(cl, c))
        return;
    c->linger = mode == CLOSE_LINGER ? LINGER_FLUSHING : LINGER_NONE;
    c->state = CONN_CLOSING;
    buf_queue_clear(&c->hold, &cl->out_pool);
    conn_arm_timer(cl, c, CLOSE_GRACE_MS);
    conn_flush(cl, c);
}

void conn_capture(struct conn_layer *cl, struct conn *c, bool received, const struct sockaddr *peer,
                  const void *msg, size_t len)
{
    bool tls = c->kind == CONN_TLS_IN || c->kind == CONN_TLS_OUT;
    if (len <= 4) /* keepalive CRLFs are no SIP message */
        return;
    if (received)
        c->msgs_in++;
    else
        c->msgs_out++;
    if (c->kind == CONN_MIRROR || c->kind == CONN_EGRESS)
        metrics_inc(cl->metrics, received ? M_LEGACY_TCP_FROM : M_LEGACY_TCP_TO);
    if (!capture_wants(cl->capture, tls ? CFG_CAPTURE_LEG_TLS : CFG_CAPTURE_LEG_LEGACY))
        return;
    const struct sockaddr *local = conn_local(c);
    if (!local || local->sa_family != peer->sa_family)
        return;
    enum hep_ip_proto proto = tls                   ? HEP_IP_PROTO_TLS
                              : c->kind == CONN_UDP ? HEP_IP_PROTO_UDP
                                                    : HEP_IP_PROTO_TCP;
    capture_message(cl->capture, proto, received ? peer : local, received ? local : peer, msg, len);
}

/* capture is conn_capture with |c|'s own peer. */
static void capture(struct conn_layer *cl, struct conn *c, bool received, const void *msg,
                    size_t len)
{
    conn_capture(cl, c, received, (const struct sockaddr *)&c->peer, msg, len);
}

/* flush_soon flushes |c| before the next loop turn, with whatever else
 * comes for |c| until then; at once when the turn already deferred
 * CONN_DEFER_MAX connections. */
static void flush_soon(struct conn_layer *cl, struct conn *c)
{
    if (c->flush_deferred)
        return;
    if (cl->n_deferred == CONN_DEFER_MAX) {
        conn_flush(cl, c);
        return;
    }
    c->flush_deferred = true;
    cl->deferred[cl->n_deferred++] = conn_ref_of(&cl->conns, c);
}

void conn_flush_deferred(struct conn_layer *cl)
{
    for (uint32_t i = 0; i < cl->n_deferred; i++) {
        struct conn *c = conn_get(&cl->conns, cl->deferred[i]);
        if (c && c->flush_deferred) {
            c->flush_deferred = false;
            conn_flush(cl, c);
        }
    }
    cl->n_deferred = 0;
}

/* queue_and_flush appends one message to |q| (|c|'s out queue, or its
 * plaintext queue on an established TLS connection) and starts a send
 * unless one is in flight (flush_soon). */
static bool queue_and_flush(struct conn_layer *cl, struct conn *c, struct buf_queue *q,
                            const void *data, size_t len)
{
    if (!buf_queue_append(q, &cl->out_pool, data, len))
        return false;
    capture(cl, c, false, data, len);
    flush_soon(cl, c);
    return true;
}

bool conn_send(struct conn_layer *cl, struct conn *c, const void *data, size_t len)
{
    if (!conn_is_live(c) || c->state == CONN_CLOSING)
        return false;
    if (c->kind == CONN_UDP)
        return conn_udp_send(cl, c, (const struct sockaddr *)&c->peer, c->peer_len, data, len);
    if (c->tls && c->state == CONN_OPEN)
        return queue_and_flush(cl, c, &c->plain, data, len);
    if (c->tls || c->kind == CONN_TLS_OUT || c->kind == CONN_TLS_IN ||
        c->state == CONN_CONNECTING) {
        /* Bounded as |out| is: conn_throttle pauses whoever fills it. */
        uint32_t prefix = (uint32_t)len;
        if (!buf_queue_append(&c->hold, &cl->out_pool, &prefix, sizeof(prefix)))
            return false;
        if (!buf_queue_append(&c->hold, &cl->out_pool, data, len)) {
            buf_queue_clear(&c->hold, &cl->out_pool); /* never leave a torn frame */
            return false;
        }
        return true;
    }
    return queue_and_flush(cl, c, &c->out, data, len);
}

static void queue_copy(struct buf_queue *q, struct buf_pool *pool, void *dst, size_t n)
{
    uint8_t *out = dst;
    while (n > 0) {
        const uint8_t *p;
        size_t avail = buf_queue_peek(q, &p);
        size_t take = avail < n ? avail : n;
        memcpy(out, p, take);
        buf_queue_consume(q, pool, take);
        out += take;
        n -= take;
    }
}

enum { OUT_HELD = 0 }; /* a mark taken while |c| holds what it is sent */

/* marks_plaintext: |c|'s marks count in its plaintext stream (c->plain),
 * sealed into records, not in the bytes of |out|. By kind, not by c->tls:
 * a closed connection's engine is gone, its marks are not. */
static bool marks_plaintext(const struct conn *c)
{
    return c->kind == CONN_TLS_IN || c->kind == CONN_TLS_OUT;
}

uint64_t conn_out_mark(const struct conn *c)
{
    if (marks_plaintext(c) ? c->state != CONN_OPEN : c->state == CONN_CONNECTING)
        return OUT_HELD;
    return marks_plaintext(c) ? c->plain.consumed + c->plain.bytes : c->out.consumed + c->out.bytes;
}

bool conn_out_left(const struct conn *c, uint64_t mark)
{
    /* Where each held message landed is not kept: one may have left as
     * soon as any byte of them did. */
    if (mark == OUT_HELD)
        return c->held_released && c->out.consumed > c->held_start;
    if (!marks_plaintext(c))
        return c->out.consumed >= mark;
    /* Plaintext: gone once the record that carries its last byte is. */
    if (mark <= c->plain_gone)
        return true;
    if (mark > c->plain.consumed)
        return false; /* not sealed yet */
    for (uint8_t i = 0; i < c->n_sealed; i++)
        if (mark <= c->sealed[i].plain_end)
            return c->out.consumed >= c->sealed[i].out_end;
    return true; /* in a record older than every one still noted */
}

size_t conn_held_next(struct conn_layer *cl, struct conn *c, char *buf, size_t cap)
{
    uint32_t len;
    if (c->hold.bytes < sizeof(len))
        return 0;
    queue_copy(&c->hold, &cl->out_pool, &len, sizeof(len));
    if (len > cap || len > c->hold.bytes) { /* cannot happen: every message fits the scratch */
        buf_queue_clear(&c->hold, &cl->out_pool);
        return 0;
    }
    queue_copy(&c->hold, &cl->out_pool, buf, len);
    return len;
}

/* ---- timers ---- */

static bool resume(struct conn_layer *cl, struct conn *c);

static void on_timer(void *ctx, struct timer *timer)
{
    struct conn_layer *cl = ctx;
    struct conn *c = (struct conn *)((char *)timer - offsetof(struct conn, timer));
    switch (c->state) {
    case CONN_CONNECTING:
    case CONN_HANDSHAKE:
        if (c->proxy_wait) {
            conn_proxy_reject(cl, c, PROXY_REJECT_TIMEOUT);
            break;
        }
        metrics_inc(cl->metrics, M_TIMEOUT_HANDSHAKE);
        metrics_handshake_failed(cl->metrics, M_HSFAIL_TIMEOUT);
        if (c->kind == CONN_TLS_OUT || c->kind == CONN_MIRROR) {
            conn_dial_failed(cl, c,
                             c->kind == CONN_MIRROR ? "legacy proxy did not accept in time"
                                                    : "TLS connect/handshake timed out");
            conn_close(cl, c, CLOSE_ABORT, "handshake timeout");
        } else {
            /* Per connection: its close line already says "handshake timeout". */
            LOG_RATELIMITED(LOG_DEBUG, "handshake timed out", LF_STR("conn", conn_kind_name(c)));
            conn_close(cl, c, CLOSE_ABORT, "handshake timeout");
        }
        break;
    case CONN_OPEN: {
        enum limit broken = limits_broken(cl, c);
        if (broken != LIMITS_COUNT) {
            conn_close(cl, c, CLOSE_ABORT, limit_name(broken));
            break;
        }
        if (c->resuming && !resume(cl, c))
            break;
        /* Only TLS connections idle out (reuse.idle_timeout); the timer of
         * a plain one watches its limits alone. */
        uint64_t idle = cl->cfg->reuse.idle_timeout_ms;
        uint64_t next = limits_deadline(cl, c);
        if (c->tls && cl->timers->now_ms - c->last_active_ms >= idle) {
            metrics_inc(cl->metrics, M_TIMEOUT_IDLE);
            conn_close(cl, c, CLOSE_GRACEFUL, "idle timeout");
            break;
        }
        if (c->tls && c->last_active_ms + idle < next)
            next = c->last_active_ms + idle;
        if (c->retired_ms && conn_retired_due(cl, c, &next)) {
            conn_close(cl, c, CLOSE_GRACEFUL, "identity removed by reload");
            break;
        }
        if (next != UINT64_MAX)
            timer_arm(cl->timers, &c->timer, next);
        break;
    }
    case CONN_CLOSING:
        conn_finish_close(cl, c);
        break;
    default:
        break;
    }
}

void conn_arm_timer(struct conn_layer *cl, struct conn *c, uint64_t after_ms)
{
    c->timer.fire = on_timer;
    c->timer.ctx = cl;
    /* The heap has room for one timer per connection slot. */
    timer_arm(cl->timers, &c->timer, cl->timers->now_ms + after_ms);
}

/* ---- receive path ---- */

void conn_framing_error(struct conn_layer *cl, struct conn *c, enum sip_err err)
{
    metrics_inc(cl->metrics, M_FRAMING_ERRORS);
    if (err == SIP_ERR_MESSAGE_TOO_LARGE || err == SIP_ERR_HEADERS_TOO_LARGE)
        limits_hit(cl->metrics, LIMIT_MAX_MESSAGE_BYTES);
    metrics_inc(cl->metrics, metrics_parse_error_id(err));
    if (c->in)
        cl->up.framing_error(cl->up.ctx, c, (const char *)c->in->data + c->in->head,
                             c->in->tail - c->in->head, err);
    LOG_RATELIMITED(LOG_WARN, "framing error; closing connection",
                    LF_STR("conn", conn_kind_name(c)), LF_STR("reason", sip_err_text(err)));
    conn_close(cl, c, CLOSE_LINGER, "framing error");
}

/* pong answers a keepalive ping with CRLF (RFC 5626 §4.4.1) unless a pong
 * of |c| is still unsent: that one answers this ping too. It is queued and
 * counted against limits.max_buffered_bytes like every byte reusegw sends. */
static void pong(struct conn_layer *cl, struct conn *c)
{
    metrics_inc(cl->metrics, M_KEEPALIVE_PONGS);
    if ((c->pong_mark > 0 && !conn_out_left(c, c->pong_mark)) || !conn_send(cl, c, "\r\n", 2))
        return;
    c->pong_mark = conn_out_mark(c);
    conn_throttle(cl, c, c);
}

/* frame_all hands every complete message in |c->in| up (conn_events),
 * answers keepalive pings, and keeps the incomplete tail at the block start.
 * It stops where back-pressure paused |c|: the rest waits in the block. */
static void frame_all(struct conn_layer *cl, struct conn *c)
{
    size_t max = cl->cfg->limits.max_message_bytes;
    while (c->in && c->in->head < c->in->tail && c->state == CONN_OPEN && !c->read_paused) {
        const char *buf = (const char *)c->in->data + c->in->head;
        size_t avail = c->in->tail - c->in->head;
        struct sip_frame fr;
        switch (sip_framer_feed(&c->framer, buf, avail, max, &fr)) {
        case SIP_FRAME_NEED_MORE:
            goto compact;
        case SIP_FRAME_MESSAGE:
            c->in->head += (uint32_t)fr.len;
            limits_note_framed(cl, c, c->in->head < c->in->tail);
            capture(cl, c, true, buf, fr.len);
            cl->up.message(cl->up.ctx, c, buf, fr.len, &fr);
            break;
        case SIP_FRAME_PING:
            c->in->head += (uint32_t)fr.len;
            limits_note_framed(cl, c, c->in->head < c->in->tail);
            pong(cl, c);
            break;
        case SIP_FRAME_PONG:
            c->in->head += (uint32_t)fr.len;
            limits_note_framed(cl, c, c->in->head < c->in->tail);
            break;
        case SIP_FRAME_ERROR:
            conn_framing_error(cl, c, fr.err);
            return;
        }
    }
compact:
    if (!c->in)
        return;
    if (c->in->head == c->in->tail) {
        buf_pool_put(&cl->in_pool, c->in); /* idle connections hold no buffer */
        c->in = NULL;
    } else if (c->in->head > 0) {
        memmove(c->in->data, c->in->data + c->in->head, c->in->tail - c->in->head);
        c->in->tail -= c->in->head;
        c->in->head = 0;
    }
}

/* ensure_in gives |c| a framing block; false (and |c| closed) when the
 * pool is exhausted. */
static bool ensure_in(struct conn_layer *cl, struct conn *c)
{
    if (c->in)
        return true;
    c->in = buf_pool_get(&cl->in_pool);
    if (c->in)
        return true;
    metrics_inc(cl->metrics, M_DROP_BUFFER_FULL);
    LOG_RATELIMITED(LOG_WARN, "receive buffers exhausted; closing connection",
                    LF_STR("conn", conn_kind_name(c)));
    conn_close(cl, c, CLOSE_ABORT, "no receive buffer");
    return false;
}

uint8_t *conn_in_space(struct conn_layer *cl, struct conn *c, size_t *room)
{
    if (!ensure_in(cl, c))
        return NULL;
    *room = cl->in_pool.block_size - c->in->tail;
    if (*room == 0) {
        conn_framing_error(cl, c, SIP_ERR_MESSAGE_TOO_LARGE);
        return NULL;
    }
    return c->in->data + c->in->tail;
}

void conn_in_commit(struct conn_layer *cl, struct conn *c, size_t n)
{
    c->in->tail += (uint32_t)n;
    frame_all(cl, c);
}

/* ingest_plain copies a plain connection's bytes into its framing block and
 * frames them; returns how many it took (all, unless |c| was paused). */
static size_t ingest_plain(struct conn_layer *cl, struct conn *c, const uint8_t *data, size_t len)
{
    size_t left = len;
    while (left > 0 && c->state == CONN_OPEN && !c->read_paused) {
        size_t room;
        uint8_t *dst = conn_in_space(cl, c, &room);
        if (!dst)
            break;
        size_t n = left < room ? left : room;
        memcpy(dst, data, n);
        data += n;
        left -= n;
        conn_in_commit(cl, c, n);
    }
    return c->state == CONN_OPEN ? len - left : len; /* a closing one reads no more */
}

/* ingest hands received bytes to |c|'s engine or framing block; how many
 * it took. */
static size_t ingest(struct conn_layer *cl, struct conn *c, const uint8_t *data, size_t len)
{
    return c->tls ? tlsio_ingest(cl, c, data, len) : ingest_plain(cl, c, data, len);
}

/* stash keeps bytes |c| received while its reading waits. Nothing more
 * arrives once the cancel of its read took effect, so the stash holds at
 * most the rest of what the loop had already received for |c| when it was
 * paused (one turn's completions). A pool that cannot take them closes |c|:
 * a stream cannot skip bytes. */
static void stash(struct conn_layer *cl, struct conn *c, const uint8_t *data, size_t len)
{
    if (buf_queue_append(&c->stash, &cl->out_pool, data, len))
        return;
    metrics_inc(cl->metrics, M_DROP_BUFFER_FULL);
    LOG_RATELIMITED(LOG_WARN, "send buffers exhausted; closing connection",
                    LF_STR("conn", conn_kind_name(c)));
    conn_close(cl, c, CLOSE_ABORT, "no buffer for received bytes");
}

/* waiting: |c| is open and bytes it received before wait for back-pressure
 * to lift; what it receives now goes behind them. */
static bool waiting(const struct conn *c)
{
    return c->state == CONN_OPEN && (c->read_paused || c->resuming || c->stash.bytes > 0);
}

void conn_ingest(struct conn_layer *cl, struct conn *c, const uint8_t *data, size_t len)
{
    size_t taken = waiting(c) ? 0 : ingest(cl, c, data, len);
    if (taken < len && c->state == CONN_OPEN)
        stash(cl, c, data + taken, len - taken);
}

/* resume frames, in order, what waited while |c| was paused: the rest of
 * its framing block, the plaintext the TLS engine still holds, then the
 * stash; reading resumes once all of it went. False when |c| is no longer
 * open. */
static bool resume(struct conn_layer *cl, struct conn *c)
{
    c->resuming = false;
    frame_all(cl, c);
    if (c->tls && c->state == CONN_OPEN && !c->read_paused)
        tlsio_ingest(cl, c, NULL, 0);
    while (c->stash.bytes > 0 && c->state == CONN_OPEN && !c->read_paused) {
        const uint8_t *data;
        size_t n = buf_queue_peek(&c->stash, &data);
        size_t taken = ingest(cl, c, data, n);
        if (c->state != CONN_OPEN)
            break;
        buf_queue_consume(&c->stash, &cl->out_pool, taken);
        if (taken < n) /* paused again */
            break;
    }
    if (c->state != CONN_OPEN)
        return false;
    conn_arm_recv(cl, c);
    return true;
}

/* release_held sends, in order, what waited for the connection to open. */
void conn_release_held(struct conn_layer *cl, struct conn *c)
{
    size_t n;
    c->held_released = true;
    c->held_start = c->out.consumed + c->out.bytes;
    while ((n = conn_held_next(cl, c, cl->scratch, cl->scratch_size)) > 0) {
        if (!conn_send(cl, c, cl->scratch, n))
            metrics_inc(cl->metrics, M_DROP_BUFFER_FULL);
    }
}

static void on_recv(struct conn_layer *cl, struct conn *c, const struct loop_event *ev)
{
    if (!ev->more)
        c->recv_armed = false;
    if (c->linger && c->state == CONN_CLOSING) {
        linger_read(cl, c, ev);
        conn_maybe_release(cl, c);
        return;
    }
    if (ev->res > 0 && conn_is_live(c)) {
        c->last_active_ms = cl->timers->now_ms;
        c->bytes_in += ev->len;
        if (c->state == CONN_OPEN) /* handshake bytes are the handshake timer's */
            limits_note_received(cl, c);
        if (c->proxy_wait || c->proxy_sniff)
            conn_proxy_ingest(cl, c, ev->data, ev->len);
        else
            conn_ingest(cl, c, ev->data, ev->len);
    } else if (ev->res == 0 && waiting(c)) {
        /* The peer's FIN behind bytes that wait: once they went, the read
         * armed again finds the end of the stream once more. */
    } else if (ev->res == 0 || (ev->res < 0 && ev->res != -ENOBUFS && ev->res != -ECANCELED)) {
        c->peer_closed = true;
        if (c->proxy_wait)
            conn_proxy_hung_up(cl, c);
        if (c->kind == CONN_TLS_OUT && c->state == CONN_HANDSHAKE) {
            /* A peer that hangs up mid-handshake failed it: fail over (or
             * answer what is held) instead of dropping the held requests. */
            metrics_handshake_failed(cl->metrics, M_HSFAIL_ERROR);
            conn_dial_failed(cl, c, "peer closed the connection during the TLS handshake");
        }
        conn_close(cl, c, ev->res == 0 ? CLOSE_FLUSH : CLOSE_ABORT, "peer closed");
    }
    if (!c->recv_armed && ev->res != 0)
        conn_arm_recv(cl, c); /* ENOBUFS, or a cancelled read that was resumed */
    conn_maybe_release(cl, c);
}

static void on_send(struct conn_layer *cl, struct conn *c, const struct loop_event *ev)
{
    c->send_inflight = false;
    if (c->state == CONN_DEAD) {
        conn_maybe_release(cl, c);
        return;
    }
    if (ev->res < 0) {
        conn_close(cl, c, CLOSE_ABORT, "send failed");
        conn_maybe_release(cl, c);
        return;
    }
    buf_queue_consume(&c->out, &cl->out_pool, (size_t)ev->res);
    c->last_active_ms = cl->timers->now_ms;
    c->bytes_out += (uint64_t)ev->res;
    if (c->waiters && conn_backlog(c) <= cl->cfg->limits.max_buffered_bytes / 2)
        wake_waiters(cl, c);
    conn_flush(cl, c);
}

void conn_on_event(struct conn_layer *cl, const struct loop_event *ev)
{
    struct conn_ref ref = tag_ref(ev->tag);
    struct conn *c = conn_at(&cl->conns, ref.slot);
    if (!c || c->gen != ref.gen || c->state == CONN_FREE)
        return; /* cannot happen: slots outlive their operations */
    switch (tag_op(ev->tag)) {
    case OP_RECV:
        if (c->kind == CONN_UDP)
            conn_udp_on_ready(cl, c, ev);
        else
            on_recv(cl, c, ev);
        break;
    case OP_SEND:
        on_send(cl, c, ev);
        break;
    case OP_CONNECT:
        conn_on_connect(cl, c, ev);
        break;
    case OP_CLOSE:
        c->op_inflight = false;
        conn_maybe_release(cl, c);
        break;
    default:
        break;
    }
}
