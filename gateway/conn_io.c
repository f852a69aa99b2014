/* conn_io: connection life cycle over the loop. A slot is released only
 * when no operation is in flight on it, so late completions always find
 * their own connection (or its bumped generation). */
#include "conn_io.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "config/config.h"
#include "log.h"
#include "relay.h"
#include "tls/conn.h"
#include "tls/identities.h"

enum { CLOSE_GRACE_MS = 2000 }; /* how long a closing connection may flush */

static bool is_live(const struct conn *c)
{
    return c->state != CONN_FREE && c->state != CONN_DEAD;
}

size_t conn_backlog(const struct conn *c)
{
    return c->out.bytes + c->hold.bytes;
}

static struct conn_ref ref_of(struct worker *w, const struct conn *c)
{
    return conn_ref_of(&w->conns, c);
}

static void arm_timer(struct worker *w, struct conn *c, uint64_t after_ms);

static void arm_recv(struct worker *w, struct conn *c)
{
    if (c->recv_armed || c->read_paused || c->fd < 0 || !is_live(c) || c->state == CONN_CONNECTING)
        return;
    struct conn_ref r = ref_of(w, c);
    if (loop_recv(w->loop, c->fd, tag_make(OP_RECV, r.slot, r.gen)) == 0)
        c->recv_armed = true;
}

static void maybe_release(struct worker *w, struct conn *c)
{
    if (c->state == CONN_DEAD && !c->recv_armed && !c->send_inflight && !c->op_inflight)
        conn_release(&w->conns, c);
}

static void wake_waiters(struct worker *w, struct conn *dst)
{
    struct conn_ref me = ref_of(w, dst);
    uint32_t slot = dst->waiters;
    dst->waiters = 0;
    while (slot) {
        struct conn *src = conn_at(&w->conns, slot);
        slot = src->waiter_next;
        src->waiter_next = 0;
        if (!conn_ref_eq(src->blocked_on, me))
            continue;
        src->blocked_on = (struct conn_ref){0};
        src->read_paused = false;
        arm_recv(w, src);
    }
}

/* unwait takes |src| out of the waiting list of the connection it waits on,
 * so that the list never runs through a released slot. */
static void unwait(struct worker *w, struct conn *src)
{
    struct conn *dst = conn_get(&w->conns, src->blocked_on);
    src->blocked_on = (struct conn_ref){0};
    if (!dst)
        return;
    uint32_t me = ref_of(w, src).slot;
    uint32_t *link = &dst->waiters;
    while (*link) {
        if (*link == me) {
            *link = src->waiter_next;
            break;
        }
        link = &conn_at(&w->conns, *link)->waiter_next;
    }
    src->waiter_next = 0;
}

void conn_throttle(struct worker *w, struct conn *src, struct conn *dst)
{
    if (src == dst || src->read_paused || conn_backlog(dst) <= w->cfg->limits.max_buffered_bytes)
        return;
    src->read_paused = true;
    src->blocked_on = ref_of(w, dst);
    src->waiter_next = dst->waiters;
    dst->waiters = ref_of(w, src).slot;
    if (src->recv_armed) {
        struct conn_ref r = ref_of(w, src);
        loop_cancel(w->loop, tag_make(OP_RECV, r.slot, r.gen));
    }
    LOG_RATELIMITED(LOG_DEBUG, "back-pressure: pausing reads", LF_STR("conn", conn_kind_name(src)),
                    LF_UINT("queued", conn_backlog(dst)));
}

/* finish_close drops every resource of |c| and closes its socket; the slot
 * is released once the loop has returned every operation on it. */
static void finish_close(struct worker *w, struct conn *c)
{
    if (!is_live(c))
        return;
    c->state = CONN_DEAD;
    timer_disarm(&w->timers, &c->timer);
    conn_index_remove(&w->conns, c);
    conn_peer_untrack(&w->conns, c);
    unwait(w, c);
    wake_waiters(w, c);
    buf_pool_put(&w->in_pool, c->in);
    c->in = NULL;
    buf_queue_clear(&c->out, &w->out_pool);
    buf_queue_clear(&c->hold, &w->out_pool);
    tls_conn_free(c->tls);
    c->tls = NULL;
    tls_identities_unref(c->ids);
    c->ids = NULL;
    cfg_unref(c->route_cfg);
    c->route_cfg = NULL;
    if (c->fd >= 0) {
        struct conn_ref r = ref_of(w, c);
        loop_cancel_fd(w->loop, c->fd);
        if (loop_close(w->loop, c->fd, tag_make(OP_CLOSE, r.slot, r.gen)) == 0)
            c->op_inflight = true;
        else
            close(c->fd);
        c->fd = -1;
    }
    struct conn *partner = conn_get(&w->conns, c->partner);
    c->partner = (struct conn_ref){0};
    if (partner) {
        partner->partner = (struct conn_ref){0};
        /* A mirror dies with its TLS connection; a TLS connection outlives
         * its mirror, which is reopened on next use. */
        if (partner->kind == CONN_MIRROR)
            conn_close(w, partner, CLOSE_FLUSH, "tls connection closed");
    }
    maybe_release(w, c);
}

static void flush(struct worker *w, struct conn *c)
{
    if (c->send_inflight || c->fd < 0 || c->state == CONN_CONNECTING || !is_live(c))
        return;
    const uint8_t *data;
    size_t n = buf_queue_peek(&c->out, &data);
    if (n == 0) {
        if (c->state == CONN_CLOSING)
            finish_close(w, c);
        return;
    }
    struct conn_ref r = ref_of(w, c);
    if (loop_send(w->loop, c->fd, data, n, tag_make(OP_SEND, r.slot, r.gen)) == 0)
        c->send_inflight = true;
}

/* pull_ciphertext moves what the TLS engine wants sent into |c|'s queue:
 * the engine's buffer may move on its next call, a send in flight must not. */
static bool pull_ciphertext(struct worker *w, struct conn *c)
{
    const uint8_t *data;
    size_t n = tls_conn_ciphertext(c->tls, &data);
    if (n == 0)
        return true;
    if (!buf_queue_append(&c->out, &w->out_pool, data, n)) {
        w->counters.dropped_buffer_full++;
        LOG_RATELIMITED(LOG_WARN, "send buffers exhausted; closing connection",
                        LF_STR("conn", conn_kind_name(c)));
        finish_close(w, c);
        return false;
    }
    tls_conn_consume_ciphertext(c->tls, n);
    flush(w, c);
    return true;
}

void conn_close(struct worker *w, struct conn *c, enum conn_close_mode mode, const char *why)
{
    if (!is_live(c) || c->state == CONN_CLOSING)
        return;
    LOG_DEBUG("closing connection", LF_STR("conn", conn_kind_name(c)), LF_STR("why", why));
    conn_index_remove(&w->conns, c);
    if (mode == CLOSE_ABORT || c->state == CONN_CONNECTING) {
        finish_close(w, c);
        return;
    }
    if (mode == CLOSE_GRACEFUL && c->tls && c->state == CONN_OPEN) {
        tls_conn_close_notify(c->tls);
        if (!pull_ciphertext(w, c))
            return;
    }
    c->state = CONN_CLOSING;
    buf_queue_clear(&c->hold, &w->out_pool);
    arm_timer(w, c, CLOSE_GRACE_MS);
    flush(w, c);
}

bool conn_send(struct worker *w, struct conn *c, const void *data, size_t len)
{
    if (!is_live(c) || c->state == CONN_CLOSING)
        return false;
    if (c->tls && c->state == CONN_OPEN) {
        size_t n = 0;
        if (tls_conn_write(c->tls, data, len, &n) != TLS_PROGRESS_DONE || n != len) {
            pull_ciphertext(w, c);
            return false;
        }
        return pull_ciphertext(w, c);
    }
    if (c->tls || c->kind == CONN_TLS_OUT || c->kind == CONN_TLS_IN ||
        c->state == CONN_CONNECTING) {
        uint32_t prefix = (uint32_t)len;
        if (c->hold.bytes + sizeof(prefix) + len > w->cfg->limits.max_buffered_bytes)
            return false;
        if (!buf_queue_append(&c->hold, &w->out_pool, &prefix, sizeof(prefix)))
            return false;
        if (!buf_queue_append(&c->hold, &w->out_pool, data, len)) {
            buf_queue_clear(&c->hold, &w->out_pool); /* never leave a torn frame */
            return false;
        }
        return true;
    }
    if (!buf_queue_append(&c->out, &w->out_pool, data, len))
        return false;
    flush(w, c);
    return true;
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

size_t conn_held_next(struct worker *w, struct conn *c, char *buf, size_t cap)
{
    uint32_t len;
    if (c->hold.bytes < sizeof(len))
        return 0;
    queue_copy(&c->hold, &w->out_pool, &len, sizeof(len));
    if (len > cap || len > c->hold.bytes) { /* cannot happen: conn_send bounds it */
        buf_queue_clear(&c->hold, &w->out_pool);
        return 0;
    }
    queue_copy(&c->hold, &w->out_pool, buf, len);
    return len;
}

/* ---- timers ---- */

static void on_timer(void *ctx, struct timer *timer)
{
    struct worker *w = ctx;
    struct conn *c = (struct conn *)((char *)timer - offsetof(struct conn, timer));
    switch (c->state) {
    case CONN_CONNECTING:
    case CONN_HANDSHAKE:
        w->counters.timeouts_handshake++;
        if (c->kind == CONN_TLS_OUT || c->kind == CONN_MIRROR) {
            relay_dial_failed(w, c,
                              c->kind == CONN_MIRROR ? "legacy proxy did not accept in time"
                                                     : "TLS connect/handshake timed out");
            conn_close(w, c, CLOSE_ABORT, "handshake timeout");
        } else {
            LOG_RATELIMITED(LOG_INFO, "handshake timed out", LF_STR("conn", conn_kind_name(c)));
            conn_close(w, c, CLOSE_ABORT, "handshake timeout");
        }
        break;
    case CONN_OPEN: {
        uint64_t idle = w->cfg->reuse.idle_timeout_ms;
        if (w->now_ms - c->last_active_ms >= idle) {
            w->counters.timeouts_idle++;
            conn_close(w, c, CLOSE_GRACEFUL, "idle timeout");
        } else {
            timer_arm(&w->timers, &c->timer, c->last_active_ms + idle);
        }
        break;
    }
    case CONN_CLOSING:
        finish_close(w, c);
        break;
    default:
        break;
    }
}

static void arm_timer(struct worker *w, struct conn *c, uint64_t after_ms)
{
    c->timer.fire = on_timer;
    c->timer.ctx = w;
    /* The heap has room for one timer per connection slot. */
    timer_arm(&w->timers, &c->timer, w->now_ms + after_ms);
}

/* ---- receive path ---- */

static void framing_error(struct worker *w, struct conn *c, enum sip_err err)
{
    w->counters.framing_errors++;
    if (c->in)
        relay_framing_error(w, c, (const char *)c->in->data + c->in->head,
                            c->in->tail - c->in->head, err);
    LOG_RATELIMITED(LOG_WARN, "framing error; closing connection",
                    LF_STR("conn", conn_kind_name(c)), LF_STR("reason", sip_err_text(err)));
    conn_close(w, c, CLOSE_GRACEFUL, "framing error");
}

/* frame_all hands every complete message in |c->in| to the relay, answers
 * keepalive pings, and keeps the incomplete tail at the block start. */
static void frame_all(struct worker *w, struct conn *c)
{
    static const char pong[] = "\r\n";
    size_t max = w->cfg->limits.max_message_bytes;
    while (c->in && c->in->head < c->in->tail && (c->state == CONN_OPEN)) {
        const char *buf = (const char *)c->in->data + c->in->head;
        size_t avail = c->in->tail - c->in->head;
        struct sip_frame fr;
        switch (sip_framer_feed(&c->framer, buf, avail, max, &fr)) {
        case SIP_FRAME_NEED_MORE:
            goto compact;
        case SIP_FRAME_MESSAGE:
            c->in->head += (uint32_t)fr.len;
            relay_message(w, c, buf, fr.len);
            break;
        case SIP_FRAME_PING:
            c->in->head += (uint32_t)fr.len;
            w->counters.keepalive_pongs++;
            conn_send(w, c, pong, 2);
            break;
        case SIP_FRAME_PONG:
            c->in->head += (uint32_t)fr.len;
            break;
        case SIP_FRAME_ERROR:
            framing_error(w, c, fr.err);
            return;
        }
    }
compact:
    if (!c->in)
        return;
    if (c->in->head == c->in->tail) {
        buf_pool_put(&w->in_pool, c->in); /* idle connections hold no buffer */
        c->in = NULL;
    } else if (c->in->head > 0) {
        memmove(c->in->data, c->in->data + c->in->head, c->in->tail - c->in->head);
        c->in->tail -= c->in->head;
        c->in->head = 0;
    }
}

static bool ensure_in(struct worker *w, struct conn *c)
{
    if (c->in)
        return true;
    c->in = buf_pool_get(&w->in_pool);
    if (c->in)
        return true;
    w->counters.dropped_buffer_full++;
    LOG_RATELIMITED(LOG_WARN, "receive buffers exhausted; closing connection",
                    LF_STR("conn", conn_kind_name(c)));
    conn_close(w, c, CLOSE_ABORT, "no receive buffer");
    return false;
}

static void ingest_plain(struct worker *w, struct conn *c, const uint8_t *data, size_t len)
{
    while (len > 0 && c->state == CONN_OPEN) {
        if (!ensure_in(w, c))
            return;
        size_t room = w->in_pool.block_size - c->in->tail;
        if (room == 0) {
            framing_error(w, c, SIP_ERR_MESSAGE_TOO_LARGE);
            return;
        }
        size_t n = len < room ? len : room;
        memcpy(c->in->data + c->in->tail, data, n);
        c->in->tail += (uint32_t)n;
        data += n;
        len -= n;
        frame_all(w, c);
    }
}

/* release_held sends, in order, what waited for the connection to open. */
static void release_held(struct worker *w, struct conn *c)
{
    size_t n;
    while ((n = conn_held_next(w, c, w->scratch, w->scratch_size)) > 0) {
        if (!conn_send(w, c, w->scratch, n))
            w->counters.dropped_buffer_full++;
    }
}

static void handshake_done(struct worker *w, struct conn *c)
{
    c->state = CONN_OPEN;
    struct tls_identities *ids = tls_conn_identities(c->tls);
    c->ids = ids ? tls_identities_ref(ids) : NULL; /* NULL: no client certificate */
    LOG_DEBUG("tls established", LF_STR("conn", conn_kind_name(c)),
              LF_STR("version", tls_conn_version(c->tls)), LF_STR("domain", c->domain));
    c->last_active_ms = w->now_ms;
    arm_timer(w, c, w->cfg->reuse.idle_timeout_ms);
    release_held(w, c);
}

static void handshake_failed(struct worker *w, struct conn *c)
{
    w->counters.tls_handshake_failures++;
    const char *reason = tls_conn_error_reason(c->tls);
    LOG_RATELIMITED(LOG_WARN, "tls handshake failed", LF_STR("conn", conn_kind_name(c)),
                    LF_STR("domain", c->domain), LF_STR("reason", reason));
    if (c->kind == CONN_TLS_OUT) {
        /* Try the next target before giving up on the held requests. */
        const char *why = NULL;
        struct conn *next = c->target_index + 1 < c->n_targets
                                ? conn_dial(w, c->route_cfg, c->domain, c->targets, c->n_targets,
                                            c->target_index + 1u, &why)
                                : NULL;
        if (next) {
            next->hold = c->hold;
            memset(&c->hold, 0, sizeof(c->hold));
        } else {
            relay_dial_failed(w, c, *reason ? reason : "TLS handshake failed");
        }
    }
    pull_ciphertext(w, c); /* the alert, if any */
    conn_close(w, c, CLOSE_FLUSH, "handshake failed");
}

/* pump_tls advances the handshake and decrypts everything fed so far.
 * Returns false when |c| stopped being usable. */
static bool pump_tls(struct worker *w, struct conn *c)
{
    if (c->state == CONN_HANDSHAKE) {
        enum tls_progress p = tls_conn_handshake(c->tls);
        if (p == TLS_PROGRESS_FAILED || p == TLS_PROGRESS_CLOSED) {
            handshake_failed(w, c);
            return false;
        }
        if (!pull_ciphertext(w, c))
            return false;
        if (p != TLS_PROGRESS_DONE)
            return true;
        handshake_done(w, c);
        if (c->state != CONN_OPEN)
            return false;
    }
    while (c->state == CONN_OPEN || c->state == CONN_CLOSING) {
        if (!ensure_in(w, c))
            return false;
        size_t room = w->in_pool.block_size - c->in->tail;
        if (room == 0) {
            framing_error(w, c, SIP_ERR_MESSAGE_TOO_LARGE);
            return false;
        }
        size_t n = 0;
        enum tls_progress p = tls_conn_read(c->tls, c->in->data + c->in->tail, room, &n);
        if (!pull_ciphertext(w, c))
            return false;
        if (p == TLS_PROGRESS_DONE && n > 0) {
            c->in->tail += (uint32_t)n;
            frame_all(w, c);
            continue;
        }
        if (p == TLS_PROGRESS_CLOSED) {
            /* R-5923-23: no new transactions; finish what is queued. */
            c->peer_closed = true;
            conn_index_remove(&w->conns, c);
            conn_close(w, c, CLOSE_GRACEFUL, "peer sent close_notify");
            return false;
        }
        if (p == TLS_PROGRESS_FAILED) {
            LOG_RATELIMITED(LOG_INFO, "tls connection failed", LF_STR("conn", conn_kind_name(c)),
                            LF_STR("reason", tls_conn_error_reason(c->tls)));
            conn_close(w, c, CLOSE_ABORT, "tls failure");
            return false;
        }
        break; /* WANT_READ */
    }
    if (c->in && c->in->head == c->in->tail) {
        buf_pool_put(&w->in_pool, c->in);
        c->in = NULL;
    }
    return is_live(c);
}

static void ingest_tls(struct worker *w, struct conn *c, const uint8_t *data, size_t len)
{
    while (len > 0 &&
           (c->state == CONN_HANDSHAKE || c->state == CONN_OPEN || c->state == CONN_CLOSING)) {
        size_t took = tls_conn_feed(c->tls, data, len);
        data += took;
        len -= took;
        if (!pump_tls(w, c))
            return;
        if (took == 0) { /* the engine holds a record larger than it can ever use */
            conn_close(w, c, CLOSE_ABORT, "tls input overflow");
            return;
        }
    }
}

static void on_recv(struct worker *w, struct conn *c, const struct loop_event *ev)
{
    if (!ev->more)
        c->recv_armed = false;
    if (ev->res > 0 && is_live(c)) {
        c->last_active_ms = w->now_ms;
        if (c->tls)
            ingest_tls(w, c, ev->data, ev->len);
        else if (c->state == CONN_OPEN)
            ingest_plain(w, c, ev->data, ev->len);
    } else if (ev->res == 0 || (ev->res < 0 && ev->res != -ENOBUFS && ev->res != -ECANCELED)) {
        c->peer_closed = true;
        conn_close(w, c, ev->res == 0 ? CLOSE_FLUSH : CLOSE_ABORT, "peer closed");
    }
    if (!c->recv_armed && ev->res != 0)
        arm_recv(w, c); /* ENOBUFS, or a cancelled read that was resumed */
    maybe_release(w, c);
}

static void on_send(struct worker *w, struct conn *c, const struct loop_event *ev)
{
    c->send_inflight = false;
    if (c->state == CONN_DEAD) {
        maybe_release(w, c);
        return;
    }
    if (ev->res < 0) {
        conn_close(w, c, CLOSE_ABORT, "send failed");
        maybe_release(w, c);
        return;
    }
    buf_queue_consume(&c->out, &w->out_pool, (size_t)ev->res);
    c->last_active_ms = w->now_ms;
    if (c->waiters && conn_backlog(c) <= w->cfg->limits.max_buffered_bytes / 2)
        wake_waiters(w, c);
    flush(w, c);
}

static void on_connect(struct worker *w, struct conn *c, const struct loop_event *ev)
{
    c->op_inflight = false;
    if (c->state != CONN_CONNECTING) {
        maybe_release(w, c);
        return;
    }
    if (ev->res < 0) {
        const char *why = strerror(-ev->res);
        if (c->kind == CONN_TLS_OUT) {
            const char *next_why = NULL;
            struct conn *next = c->target_index + 1 < c->n_targets
                                    ? conn_dial(w, c->route_cfg, c->domain, c->targets,
                                                c->n_targets, c->target_index + 1u, &next_why)
                                    : NULL;
            LOG_RATELIMITED(LOG_WARN, "connect failed", LF_STR("domain", c->domain),
                            LF_STR("reason", why), LF_STR("failover", next ? "yes" : "no"));
            if (next) {
                next->hold = c->hold;
                memset(&c->hold, 0, sizeof(c->hold));
            } else {
                relay_dial_failed(w, c, "TCP connect to the peer failed");
            }
        } else {
            LOG_RATELIMITED(LOG_ERROR, "cannot connect to legacy.forward_to",
                            LF_STR("reason", why));
            relay_dial_failed(w, c, "legacy proxy unreachable");
        }
        conn_close(w, c, CLOSE_ABORT, "connect failed");
        return;
    }
    c->last_active_ms = w->now_ms;
    if (c->kind == CONN_TLS_OUT) {
        c->tls = tls_conn_new_client(w->tls_ctx, c->domain, NULL, &c->peer, c->peer_len);
        if (!c->tls) {
            relay_dial_failed(w, c, "out of memory");
            conn_close(w, c, CLOSE_ABORT, "tls alloc");
            return;
        }
        c->state = CONN_HANDSHAKE;
        arm_recv(w, c);
        pump_tls(w, c);
        return;
    }
    timer_disarm(&w->timers, &c->timer);
    c->state = CONN_OPEN;
    arm_recv(w, c);
    release_held(w, c);
}

void conn_on_event(struct worker *w, const struct loop_event *ev)
{
    struct conn_ref ref = tag_ref(ev->tag);
    struct conn *c = conn_at(&w->conns, ref.slot);
    if (!c || c->gen != ref.gen || c->state == CONN_FREE)
        return; /* cannot happen: slots outlive their operations */
    switch (tag_op(ev->tag)) {
    case OP_RECV:
        on_recv(w, c, ev);
        break;
    case OP_SEND:
        on_send(w, c, ev);
        break;
    case OP_CONNECT:
        on_connect(w, c, ev);
        break;
    case OP_CLOSE:
        c->op_inflight = false;
        maybe_release(w, c);
        break;
    default:
        break;
    }
}

/* ---- opening ---- */

static void set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

void conn_accepted(struct worker *w, int fd, bool is_tls)
{
    struct sockaddr_storage peer;
    socklen_t peer_len = sizeof(peer);
    memset(&peer, 0, sizeof(peer));
    getpeername(fd, (struct sockaddr *)&peer, &peer_len);
    if (is_tls && conn_peer_count(&w->conns, (struct sockaddr *)&peer) >=
                      w->cfg->limits.max_connections_per_peer) {
        w->counters.rejected_per_peer++;
        char ip[INET6_ADDRSTRLEN] = "?";
        const void *addr = peer.ss_family == AF_INET6
                               ? (const void *)&((struct sockaddr_in6 *)&peer)->sin6_addr
                               : (const void *)&((struct sockaddr_in *)&peer)->sin_addr;
        inet_ntop(peer.ss_family, addr, ip, sizeof(ip));
        LOG_RATELIMITED(
            LOG_WARN, "limits.max_connections_per_peer reached; refusing connection",
            LF_STR("peer", ip),
            LF_UINT("max_connections_per_peer", w->cfg->limits.max_connections_per_peer));
        close(fd);
        return;
    }
    struct conn *c = conn_alloc(&w->conns, is_tls ? CONN_TLS_IN : CONN_EGRESS);
    if (!c) {
        w->counters.rejected_max_connections++;
        LOG_RATELIMITED(LOG_WARN, "limits.max_connections reached; refusing connection",
                        LF_UINT("max_connections", w->cfg->limits.max_connections));
        close(fd);
        return;
    }
    w->counters.accepted++;
    c->fd = fd;
    c->peer = peer;
    c->peer_len = peer_len;
    set_nodelay(fd);
    c->last_active_ms = w->now_ms;
    if (is_tls) {
        conn_peer_track(&w->conns, c);
        c->tls = tls_conn_new_server(w->tls_ctx);
        if (!c->tls) {
            conn_close(w, c, CLOSE_ABORT, "tls alloc");
            return;
        }
        c->state = CONN_HANDSHAKE;
        arm_timer(w, c, w->cfg->tls.handshake_timeout_ms);
    } else {
        c->state = CONN_OPEN;
    }
    arm_recv(w, c);
}

/* bind_source binds |fd| to the first non-wildcard tls.listen address of
 * |family|: peers alias by our source address (DESIGN.md, routing step 3). */
static void bind_source(struct worker *w, int fd, int family)
{
    for (size_t i = 0; i < w->cfg->tls.n_listen; i++) {
        struct sockaddr_storage ss;
        socklen_t len;
        if (!addr_from_hostport(&w->cfg->tls.listen[i], &ss, &len) || ss.ss_family != family)
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
                            LF_STR("address", w->cfg->tls.listen[i].host),
                            LF_STR("reason", strerror(errno)));
        return;
    }
}

static struct conn *open_socket(struct worker *w, enum conn_kind kind,
                                const struct cfg_hostport *hp, const char **why)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (!addr_from_hostport(hp, &ss, &len)) {
        *why = "target is not an IP address and DNS resolution is not available";
        return NULL;
    }
    struct conn *c = conn_alloc(&w->conns, kind);
    if (!c) {
        w->counters.rejected_max_connections++;
        LOG_RATELIMITED(LOG_WARN, "limits.max_connections reached; not dialling",
                        LF_UINT("max_connections", w->cfg->limits.max_connections));
        *why = "connection limit reached";
        return NULL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = "cannot create a socket";
        conn_release(&w->conns, c);
        return NULL;
    }
    c->fd = fd;
    set_nodelay(fd);
    if (kind == CONN_TLS_OUT)
        bind_source(w, fd, ss.ss_family);
    c->peer = ss;
    c->peer_len = len;
    struct conn_ref r = ref_of(w, c);
    if (loop_connect(w->loop, fd, (struct sockaddr *)&c->peer, len,
                     tag_make(OP_CONNECT, r.slot, r.gen)) != 0) {
        close(fd);
        conn_release(&w->conns, c);
        *why = "event loop queue full";
        return NULL;
    }
    c->op_inflight = true;
    c->state = CONN_CONNECTING;
    arm_timer(w, c, w->cfg->tls.handshake_timeout_ms);
    return c;
}

struct conn *conn_dial(struct worker *w, struct cfg_snapshot *route_cfg, const char *domain,
                       const struct cfg_hostport *targets, size_t n_targets, size_t index,
                       const char **why)
{
    *why = "no target";
    for (; index < n_targets; index++) {
        struct conn *c = open_socket(w, CONN_TLS_OUT, &targets[index], why);
        if (!c)
            continue;
        snprintf(c->domain, sizeof(c->domain), "%s", domain);
        c->route_cfg = cfg_ref(route_cfg);
        c->targets = targets;
        c->n_targets = (uint16_t)n_targets;
        c->target_index = (uint16_t)index;
        struct conn_key key;
        conn_key_from_sockaddr(&key, (struct sockaddr *)&c->peer, 0);
        conn_index_set(&w->conns, c, &key);
        return c;
    }
    return NULL;
}

struct conn *conn_mirror(struct worker *w, struct conn *t)
{
    struct conn *m = conn_get(&w->conns, t->partner);
    if (m)
        return m;
    const char *why = NULL;
    m = open_socket(w, CONN_MIRROR, &w->cfg->legacy.forward_to, &why);
    if (!m) {
        LOG_RATELIMITED(LOG_ERROR, "cannot open a connection to legacy.forward_to",
                        LF_STR("reason", why));
        return NULL;
    }
    m->partner = ref_of(w, t);
    t->partner = ref_of(w, m);
    return m;
}
