/* tlsio: a TLS connection's bytes through the tls/ engine — ciphertext in
 * from the loop, plaintext out to framing, ciphertext back to the out queue,
 * and the handshake's outcome (identities, failover, held requests). */
#include "conn/tlsio.h"

#include "config/config.h"
#include "conn/conn.h"
#include "conn/conn_internal.h"
#include "conn/conn_limits.h"
#include "conn/conn_io.h"
#include "core/log.h"
#include "core/metrics.h"
#include "tls/conn.h"
#include "tls/identities.h"

/* The engine's buffer may move on its next call while a send in flight must
 * not: ciphertext is copied into the out queue. */
bool tlsio_pull(struct conn_layer *cl, struct conn *c)
{
    const uint8_t *data;
    size_t n = tls_conn_ciphertext(c->tls, &data);
    if (n == 0)
        return true;
    if (!buf_queue_append(&c->out, &cl->out_pool, data, n)) {
        metrics_inc(cl->metrics, M_DROP_BUFFER_FULL);
        LOG_RATELIMITED(LOG_WARN, "send buffers exhausted; closing connection",
                        LF_STR("conn", conn_kind_name(c)));
        conn_finish_close(cl, c);
        return false;
    }
    tls_conn_consume_ciphertext(c->tls, n);
    conn_flush(cl, c);
    return true;
}

static void handshake_done(struct conn_layer *cl, struct conn *c)
{
    c->state = CONN_OPEN;
    limits_handshake_over(cl, c);
    c->ids = tls_identities_ref(tls_conn_identities(c->tls));
    conn_index_opened(&cl->conns, c);
    metrics_inc(cl->metrics, tls_conn_resumed(c->tls) ? M_HANDSHAKE_RESUMED : M_HANDSHAKE_FULL);
    LOG_DEBUG("tls established", LF_STR("conn", conn_kind_name(c)),
              LF_STR("version", tls_conn_version(c->tls)), LF_STR("domain", c->domain),
              LF_STR("resumed", tls_conn_resumed(c->tls) ? "yes" : "no"));
    c->last_active_ms = cl->timers->now_ms;
    conn_arm_timer(cl, c, cl->cfg->reuse.idle_timeout_ms);
    conn_release_held(cl, c);
}

static void handshake_failed(struct conn_layer *cl, struct conn *c)
{
    metrics_handshake_failed(cl->metrics, M_HSFAIL_ERROR);
    const char *reason = tls_conn_error_reason(c->tls);
    LOG_RATELIMITED(LOG_WARN, "tls handshake failed", LF_STR("conn", conn_kind_name(c)),
                    LF_STR("domain", c->domain), LF_STR("reason", reason));
    if (c->kind == CONN_TLS_OUT)
        conn_dial_failed(cl, c, *reason ? reason : "TLS handshake failed");
    tlsio_pull(cl, c); /* the alert, if any */
    conn_close(cl, c, CLOSE_FLUSH, "handshake failed");
}

bool tlsio_pump(struct conn_layer *cl, struct conn *c)
{
    if (c->state == CONN_HANDSHAKE) {
        enum tls_progress p = tls_conn_handshake(c->tls);
        if (p == TLS_PROGRESS_FAILED || p == TLS_PROGRESS_CLOSED) {
            handshake_failed(cl, c);
            return false;
        }
        if (!tlsio_pull(cl, c))
            return false;
        if (p != TLS_PROGRESS_DONE)
            return true;
        handshake_done(cl, c);
        if (c->state != CONN_OPEN)
            return false;
    }
    while (c->state == CONN_OPEN || c->state == CONN_CLOSING) {
        size_t room;
        uint8_t *dst = conn_in_space(cl, c, &room);
        if (!dst)
            return false;
        size_t n = 0;
        enum tls_progress p = tls_conn_read(c->tls, dst, room, &n);
        if (!tlsio_pull(cl, c))
            return false;
        if (p == TLS_PROGRESS_DONE && n > 0) {
            conn_in_commit(cl, c, n);
            continue;
        }
        if (p == TLS_PROGRESS_CLOSED) {
            /* R-5923-23: no new transactions; finish what is queued. */
            c->peer_closed = true;
            conn_index_remove(&cl->conns, c);
            conn_close(cl, c, CLOSE_GRACEFUL, "peer sent close_notify");
            return false;
        }
        if (p == TLS_PROGRESS_FAILED) {
            LOG_RATELIMITED(LOG_INFO, "tls connection failed", LF_STR("conn", conn_kind_name(c)),
                            LF_STR("reason", tls_conn_error_reason(c->tls)));
            conn_close(cl, c, CLOSE_ABORT, "tls failure");
            return false;
        }
        break; /* WANT_READ */
    }
    if (c->in && c->in->head == c->in->tail) {
        buf_pool_put(&cl->in_pool, c->in);
        c->in = NULL;
    }
    return conn_is_live(c);
}

void tlsio_ingest(struct conn_layer *cl, struct conn *c, const uint8_t *data, size_t len)
{
    while (len > 0 &&
           (c->state == CONN_HANDSHAKE || c->state == CONN_OPEN || c->state == CONN_CLOSING)) {
        size_t took = tls_conn_feed(c->tls, data, len);
        data += took;
        len -= took;
        if (!tlsio_pump(cl, c))
            return;
        if (took == 0) { /* the engine holds a record larger than it can ever use */
            conn_close(cl, c, CLOSE_ABORT, "tls input overflow");
            return;
        }
    }
}

bool tlsio_write(struct conn_layer *cl, struct conn *c, const void *data, size_t len)
{
    size_t n = 0;
    bool ok = tls_conn_write(c->tls, data, len, &n) == TLS_PROGRESS_DONE && n == len;
    return tlsio_pull(cl, c) && ok;
}

bool tlsio_close_notify(struct conn_layer *cl, struct conn *c)
{
    tls_conn_close_notify(c->tls);
    return tlsio_pull(cl, c);
}
