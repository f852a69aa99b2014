/* conn_limits: handshake admission, the slow-sender and slow-reader timeouts,
 * and the per-limit hit counters. */
#include "conn/conn_limits.h"

#include "conn/conn.h"
#include "conn/conn_internal.h"
#include "conn/conn_log.h"
#include "config/config.h"
#include "core/log.h"
#include "conn/conn_layer.h"

_Static_assert((int)LIMITS_COUNT == (int)METRIC_LIMITS,
               "enum limit and the limit metric ids must match");

const char *limit_name(enum limit l)
{
    return metrics_limit_names[l];
}

bool token_bucket_take(struct token_bucket *tb, uint32_t rate, uint64_t now_ms)
{
    uint64_t cap = (uint64_t)rate * 1000;
    if (!tb->started) {
        tb->started = true;
        tb->milli = cap;
    } else if (now_ms > tb->at_ms) {
        /* elapsed ms * rate tokens/s = thousandths of a token */
        uint64_t elapsed = now_ms - tb->at_ms;
        uint64_t add = elapsed >= 1000 ? cap : elapsed * rate;
        tb->milli = tb->milli + add > cap ? cap : tb->milli + add;
    }
    if (tb->milli > cap) /* the rate was lowered by a reload */
        tb->milli = cap;
    tb->at_ms = now_ms;
    if (tb->milli < 1000)
        return false;
    tb->milli -= 1000;
    return true;
}

/* Over either handshake limit the connection is accepted and closed at
 * once rather than left in the listen backlog: the peer learns in one round
 * trip that this target is busy and can fail over (RFC 3263) instead of
 * waiting out a SYN retry, the backlog stays free for the moment the burst
 * ends, and both event-loop backends keep their accept armed unchanged. A
 * closed socket costs the flood nothing, but it never reaches the expensive
 * part, the TLS handshake. */
bool limits_admit_handshake(struct conn_layer *cl, const struct sockaddr_storage *peer)
{
    const struct cfg_snapshot *cfg = cl->cfg;
    enum limit hit = LIMITS_COUNT;
    if (cl->limits.handshaking >= conn_share(cl, cfg->limits.max_concurrent_handshakes))
        hit = LIMIT_MAX_CONCURRENT_HANDSHAKES;
    else if (!token_bucket_take(&cl->limits.handshakes, conn_share(cl, cfg->limits.handshake_rate),
                                cl->timers->now_ms))
        hit = LIMIT_HANDSHAKE_RATE;
    if (hit == LIMITS_COUNT)
        return true;
    limits_hit(cl->metrics, hit);
    char addr[ADDR_TEXT_MAX];
    addr_format(peer, addr, sizeof addr);
    LOG_RATELIMITED(LOG_WARN, "handshake limit reached; refusing connection",
                    LF_STR("limit", limit_name(hit)), LF_STR("peer", addr),
                    LF_UINT("handshaking", cl->limits.handshaking),
                    LF_UINT("max_concurrent_handshakes", cfg->limits.max_concurrent_handshakes),
                    LF_UINT("handshake_rate", cfg->limits.handshake_rate));
    return false;
}

void limits_handshake_started(struct conn_layer *cl, struct conn *c)
{
    c->handshake_counted = true;
    cl->limits.handshaking++;
}

void limits_handshake_over(struct conn_layer *cl, struct conn *c)
{
    if (!c->handshake_counted)
        return;
    c->handshake_counted = false;
    cl->limits.handshaking--;
}

/* arm pulls |c|'s one timer forward to its earliest limit deadline; the
 * timer handler sorts out which deadline it was (conn_io.c). */
static void arm(struct conn_layer *cl, struct conn *c)
{
    uint64_t d = limits_deadline(cl, c);
    if (d != UINT64_MAX && (!timer_armed(&c->timer) || c->timer.deadline_ms > d))
        conn_arm_timer(cl, c, d > cl->timers->now_ms ? d - cl->timers->now_ms : 0);
}

void limits_note_received(struct conn_layer *cl, struct conn *c)
{
    if (c->partial_since_ms)
        return;
    c->partial_since_ms = cl->timers->now_ms;
    arm(cl, c);
}

void limits_note_framed(struct conn_layer *cl, struct conn *c, bool tail_left)
{
    /* The tail starts a new message now: a busy connection whose reads
     * always end mid-message is not a slow one. */
    c->partial_since_ms = tail_left ? cl->timers->now_ms : 0;
}

void limits_note_send_started(struct conn_layer *cl, struct conn *c)
{
    c->send_progress_ms = cl->timers->now_ms;
    arm(cl, c);
}

static bool sending(const struct conn *c)
{
    return c->send_inflight && c->out.bytes > 0;
}

uint64_t limits_deadline(struct conn_layer *cl, struct conn *c)
{
    const struct cfg_snapshot *cfg = cl->cfg;
    uint64_t d = UINT64_MAX;
    if (c->state != CONN_OPEN)
        return d;
    if (c->partial_since_ms)
        d = c->partial_since_ms + cfg->limits.message_timeout_ms;
    if (sending(c) && c->send_progress_ms + cfg->limits.send_timeout_ms < d)
        d = c->send_progress_ms + cfg->limits.send_timeout_ms;
    return d;
}

enum limit limits_broken(struct conn_layer *cl, struct conn *c)
{
    const struct cfg_snapshot *cfg = cl->cfg;
    if (c->state != CONN_OPEN)
        return LIMITS_COUNT;
    /* A connection whose reads back-pressure paused holds its partial
     * message because of us, not because it is slow: start its clock
     * again. */
    if (c->partial_since_ms && c->read_paused)
        c->partial_since_ms = cl->timers->now_ms;
    enum limit hit = LIMITS_COUNT;
    uint64_t held_ms = 0;
    if (sending(c) && cl->timers->now_ms - c->send_progress_ms >= cfg->limits.send_timeout_ms) {
        hit = LIMIT_SEND_TIMEOUT;
        held_ms = cl->timers->now_ms - c->send_progress_ms;
    } else if (c->partial_since_ms &&
               cl->timers->now_ms - c->partial_since_ms >= cfg->limits.message_timeout_ms) {
        hit = LIMIT_MESSAGE_TIMEOUT;
        held_ms = cl->timers->now_ms - c->partial_since_ms;
    }
    if (hit == LIMITS_COUNT)
        return hit;
    limits_hit(cl->metrics, hit);
    char addr[ADDR_TEXT_MAX];
    addr_format(&c->peer, addr, sizeof addr);
    LOG_RATELIMITED(
        LOG_WARN,
        hit == LIMIT_SEND_TIMEOUT ? "peer reads too slowly; closing connection"
                                  : "message incomplete for too long; closing connection",
        LF_STR("limit", limit_name(hit)), LF_STR("conn", conn_kind_name(c)), LF_STR("peer", addr),
        LF_UINT("waited_ms", held_ms), LF_UINT("queued", c->out.bytes));
    return hit;
}
