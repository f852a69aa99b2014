/* tlsio: a TLS connection's bytes through the tls/ engine — ciphertext in
 * from the loop, plaintext out to framing, ciphertext back to the out queue,
 * and the handshake's outcome (identities, failover, held requests). */
#include "config/config.h"
#include "conn/conn.h"
#include "conn/conn_internal.h"
#include "conn/conn_io.h"
#include "core/log.h"
#include "core/metrics.h"
#include "tls/conn.h"
#include "tls/identities.h"

/* The engine's buffer may move on its next call while a send in flight must
 * not: ciphertext is copied into the out queue. */
bool tlsio_pull(struct worker *w, struct conn *c)
{
    const uint8_t *data;
    size_t n = tls_conn_ciphertext(c->tls, &data);
    if (n == 0)
        return true;
    if (!buf_queue_append(&c->out, &w->out_pool, data, n)) {
        metrics_inc(&w->metrics, M_DROP_BUFFER_FULL);
        LOG_RATELIMITED(LOG_WARN, "send buffers exhausted; closing connection",
                        LF_STR("conn", conn_kind_name(c)));
        conn_finish_close(w, c);
        return false;
    }
    tls_conn_consume_ciphertext(c->tls, n);
    conn_flush(w, c);
    return true;
}

static void handshake_done(struct worker *w, struct conn *c)
{
    c->state = CONN_OPEN;
    limits_handshake_over(w, c);
    c->ids = tls_identities_ref(tls_conn_identities(c->tls));
    conn_index_opened(&w->conns, c);
    metrics_inc(&w->metrics, tls_conn_resumed(c->tls) ? M_HANDSHAKE_RESUMED : M_HANDSHAKE_FULL);
    LOG_DEBUG("tls established", LF_STR("conn", conn_kind_name(c)),
              LF_STR("version", tls_conn_version(c->tls)), LF_STR("domain", c->domain),
              LF_STR("resumed", tls_conn_resumed(c->tls) ? "yes" : "no"));
    c->last_active_ms = w->now_ms;
    conn_arm_timer(w, c, w->cfg->reuse.idle_timeout_ms);
    conn_release_held(w, c);
}

static void handshake_failed(struct worker *w, struct conn *c)
{
    metrics_handshake_failed(&w->metrics, M_HSFAIL_ERROR);
    const char *reason = tls_conn_error_reason(c->tls);
    LOG_RATELIMITED(LOG_WARN, "tls handshake failed", LF_STR("conn", conn_kind_name(c)),
                    LF_STR("domain", c->domain), LF_STR("reason", reason));
    if (c->kind == CONN_TLS_OUT)
        conn_dial_failed(w, c, *reason ? reason : "TLS handshake failed");
    tlsio_pull(w, c); /* the alert, if any */
    conn_close(w, c, CLOSE_FLUSH, "handshake failed");
}

bool tlsio_pump(struct worker *w, struct conn *c)
{
    if (c->state == CONN_HANDSHAKE) {
        enum tls_progress p = tls_conn_handshake(c->tls);
        if (p == TLS_PROGRESS_FAILED || p == TLS_PROGRESS_CLOSED) {
            handshake_failed(w, c);
            return false;
        }
        if (!tlsio_pull(w, c))
            return false;
        if (p != TLS_PROGRESS_DONE)
            return true;
        handshake_done(w, c);
        if (c->state != CONN_OPEN)
            return false;
    }
    while (c->state == CONN_OPEN || c->state == CONN_CLOSING) {
        if (!conn_ensure_in(w, c))
            return false;
        size_t room = w->in_pool.block_size - c->in->tail;
        if (room == 0) {
            conn_framing_error(w, c, SIP_ERR_MESSAGE_TOO_LARGE);
            return false;
        }
        size_t n = 0;
        enum tls_progress p = tls_conn_read(c->tls, c->in->data + c->in->tail, room, &n);
        if (!tlsio_pull(w, c))
            return false;
        if (p == TLS_PROGRESS_DONE && n > 0) {
            c->in->tail += (uint32_t)n;
            conn_frame_all(w, c);
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
    return conn_is_live(c);
}

void tlsio_ingest(struct worker *w, struct conn *c, const uint8_t *data, size_t len)
{
    while (len > 0 &&
           (c->state == CONN_HANDSHAKE || c->state == CONN_OPEN || c->state == CONN_CLOSING)) {
        size_t took = tls_conn_feed(c->tls, data, len);
        data += took;
        len -= took;
        if (!tlsio_pump(w, c))
            return;
        if (took == 0) { /* the engine holds a record larger than it can ever use */
            conn_close(w, c, CLOSE_ABORT, "tls input overflow");
            return;
        }
    }
}

bool tlsio_write(struct worker *w, struct conn *c, const void *data, size_t len)
{
    size_t n = 0;
    bool ok = tls_conn_write(c->tls, data, len, &n) == TLS_PROGRESS_DONE && n == len;
    return tlsio_pull(w, c) && ok;
}

bool tlsio_close_notify(struct worker *w, struct conn *c)
{
    tls_conn_close_notify(c->tls);
    return tlsio_pull(w, c);
}
