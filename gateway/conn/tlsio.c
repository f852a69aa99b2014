/* tlsio: a TLS connection's bytes through the tls/ engine — ciphertext in
 * straight from the loop's receive buffer, plaintext out into the framing
 * block, ciphertext out into the out queue's pool blocks, and the
 * handshake's outcome (identities, failover, held requests).
 *
 * Every engine call borrows those buffers for its duration (struct tls_io):
 * nothing is allocated or copied to an intermediate queue per message. */
#include "conn/tlsio.h"

#include <string.h>

#include "config/config.h"
#include "conn/conn.h"
#include "conn/conn_internal.h"
#include "conn/conn_limits.h"
#include "conn/conn_ours.h"
#include "conn/conn_log.h"
#include "conn/conn_io.h"
#include "core/log.h"
#include "core/metrics.h"
#include "tls/conn.h"
#include "tls/identities.h"

/* sink lends |c|'s out queue, filled from the worker's pool, to one engine
 * call as the place for its ciphertext; a send in flight keeps its blocks. */
struct sink {
    struct conn_layer *cl;
    struct conn *c;
    size_t appended;
    bool starved; /* the pool refused a record: |c| must close */
};

static bool sink_append(void *arg, const void *data, size_t len)
{
    struct sink *s = arg;
    if (!buf_queue_append(&s->c->out, &s->cl->out_pool, data, len)) {
        s->starved = true;
        return false;
    }
    s->appended += len;
    return true;
}

static struct tls_io lend(struct sink *s, const uint8_t *in, size_t in_len)
{
    return (struct tls_io){.in = in, .in_len = in_len, .out = sink_append, .out_arg = s};
}

/* fed is false (and |c| closed) when the pool ran dry during the call. */
static bool fed(struct sink *s)
{
    if (!s->starved)
        return true;
    metrics_inc(s->cl->metrics, M_DROP_BUFFER_FULL);
    LOG_RATELIMITED(LOG_WARN, "send buffers exhausted; closing connection",
                    LF_STR("conn", conn_kind_name(s->c)));
    conn_finish_close(s->cl, s->c);
    return false;
}

/* sent starts sending what the call appended; false (and |c| closed) when
 * the pool ran dry. */
static bool sent(struct sink *s)
{
    if (!fed(s))
        return false;
    if (s->appended > 0) {
        s->appended = 0;
        conn_flush(s->cl, s->c);
    }
    return true;
}

static void handshake_done(struct conn_layer *cl, struct conn *c)
{
    c->state = CONN_OPEN;
    limits_handshake_over(cl, c);
    c->ids = tls_identities_ref(tls_conn_identities(c->tls));
    c->ours = (uint8_t)tls_conn_identity(c->tls);
    if (tls_conn_sni_unknown(c->tls))
        metrics_inc(cl->metrics, M_TLS_SNI_UNKNOWN);
    const char *unverified = tls_conn_unverified_reason(c->tls);
    if (unverified) {
        metrics_inc(cl->metrics, M_TLS_PEER_UNVERIFIED);
        LOG_RATELIMITED(LOG_INFO,
                        "client certificate did not verify; serving it unauthenticated "
                        "(peers[].client_certificate optional)",
                        LF_STR("reason", unverified));
    }
    if (tls_conn_crl_expired(c->tls)) {
        metrics_inc(cl->metrics, M_CRL_EXPIRED_USED);
        LOG_RATELIMITED(LOG_WARN, "peer checked against an expired CRL (tls.crl_strict is off)",
                        LF_STR("conn", conn_kind_name(c)),
                        LF_STR("crl", cl->cfg->tls.crl ? cl->cfg->tls.crl : ""));
    }
    conn_index_opened(&cl->conns, c);
    metrics_inc(cl->metrics, tls_conn_resumed(c->tls) ? M_HANDSHAKE_RESUMED : M_HANDSHAKE_FULL);
    LOG_DEBUG("tls established", LF_STR("conn", conn_kind_name(c)),
              LF_STR("version", tls_conn_version(c->tls)), LF_STR("domain", c->domain),
              LF_STR("resumed", tls_conn_resumed(c->tls) ? "yes" : "no"),
              LF_STR("identity", conn_ours_name(cl->cfg, c->ours)));
    c->last_active_ms = cl->timers->now_ms;
    conn_arm_timer(cl, c, cl->cfg->reuse.idle_timeout_ms);
    conn_release_held(cl, c);
}

/* failure_reason is the reusegw_tls_handshake_failures_total series of a
 * failed engine. */
static enum metric_id failure_reason(const struct tls_conn *tls)
{
    switch (tls_conn_error(tls)) {
    case TLS_ERROR_CERT_PURPOSE:
        return M_HSFAIL_CERT_PURPOSE;
    case TLS_ERROR_CERT_REVOKED:
        return M_HSFAIL_REVOKED;
    case TLS_ERROR_CRL_EXPIRED:
        return M_HSFAIL_CRL_EXPIRED;
    default:
        return M_HSFAIL_ERROR;
    }
}

static void handshake_failed(struct conn_layer *cl, struct conn *c)
{
    enum metric_id why = failure_reason(c->tls);
    metrics_handshake_failed(cl->metrics, why);
    const char *reason = tls_conn_error_reason(c->tls);
    char addr[ADDR_TEXT_MAX];
    addr_format(&c->peer, addr, sizeof addr);
    LOG_RATELIMITED(LOG_WARN, "tls handshake failed", LF_STR("conn", conn_kind_name(c)),
                    LF_STR("peer", addr), LF_STR("domain", c->domain),
                    LF_STR("refused", why == M_HSFAIL_REVOKED       ? "revoked"
                                      : why == M_HSFAIL_CRL_EXPIRED ? "crl_expired"
                                                                    : "error"),
                    LF_STR("reason", reason));
    if (c->kind == CONN_TLS_OUT)
        conn_dial_failed(cl, c, *reason ? reason : "TLS handshake failed");
    conn_close(cl, c, CLOSE_FLUSH, "handshake failed"); /* sends the alert, if any */
}

/* failed ends |c| after its engine failed. */
static void failed(struct conn_layer *cl, struct conn *c)
{
    LOG_RATELIMITED(LOG_INFO, "tls connection failed", LF_STR("conn", conn_kind_name(c)),
                    LF_STR("reason", tls_conn_error_reason(c->tls)));
    conn_close(cl, c, CLOSE_ABORT, "tls failure");
}

/* pump advances the handshake and decrypts all of |io|'s ciphertext into
 * the framing block, framing as it goes; false when |c| stopped being
 * usable. The engine takes every byte unless |c| ends first or
 * back-pressure pauses it (framing stopped: the rest stays in |io|). */
static bool pump(struct conn_layer *cl, struct conn *c, struct sink *s, struct tls_io *io)
{
    if (c->state == CONN_HANDSHAKE) {
        enum tls_progress p = tls_conn_handshake(c->tls, io);
        if (p == TLS_PROGRESS_FAILED || p == TLS_PROGRESS_CLOSED) {
            handshake_failed(cl, c);
            return false;
        }
        if (!sent(s))
            return false;
        if (p != TLS_PROGRESS_DONE)
            return true;
        handshake_done(cl, c);
        if (c->state != CONN_OPEN)
            return false;
    }
    while ((c->state == CONN_OPEN && !c->read_paused) || c->state == CONN_CLOSING) {
        size_t room;
        uint8_t *dst = conn_in_space(cl, c, &room);
        if (!dst)
            return false;
        size_t n = 0;
        enum tls_progress p = tls_conn_read(c->tls, io, dst, room, &n);
        if (!sent(s))
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
            failed(cl, c);
            return false;
        }
        break; /* WANT_READ: |io| is empty */
    }
    if (c->in && c->in->head == c->in->tail) {
        buf_pool_put(&cl->in_pool, c->in);
        c->in = NULL;
    }
    return conn_is_live(c);
}

size_t tlsio_ingest(struct conn_layer *cl, struct conn *c, const uint8_t *data, size_t len)
{
    if (c->state != CONN_HANDSHAKE && c->state != CONN_OPEN && c->state != CONN_CLOSING)
        return len;
    struct sink s = {.cl = cl, .c = c};
    struct tls_io io = lend(&s, data, len);
    pump(cl, c, &s, &io);
    return len - io.in_len;
}

/* note_sealed records where the record just sealed ends, in the plaintext
 * stream and in |out|'s (conn_out_left). Past CONN_SEALED_MAX records in
 * |out| (only a close_notify seals that many), the newest entry takes the
 * plaintext too: that plaintext counts as gone with the record before it,
 * an answer rather than a second copy if |c| dies in between. */
static void note_sealed(struct conn *c)
{
    if (c->n_sealed == CONN_SEALED_MAX) {
        c->sealed[CONN_SEALED_MAX - 1].plain_end = c->plain.consumed;
        return;
    }
    c->sealed[c->n_sealed++] = (struct conn_sealed){.plain_end = c->plain.consumed,
                                                    .out_end = c->out.consumed + c->out.bytes};
}

/* prune_sealed forgets the records the kernel has taken whole. */
static void prune_sealed(struct conn *c)
{
    uint8_t gone = 0;
    while (gone < c->n_sealed && c->sealed[gone].out_end <= c->out.consumed)
        c->plain_gone = c->sealed[gone++].plain_end;
    memmove(c->sealed, c->sealed + gone, (c->n_sealed - gone) * sizeof(c->sealed[0]));
    c->n_sealed = (uint8_t)(c->n_sealed - gone);
}

bool tlsio_seal(struct conn_layer *cl, struct conn *c, bool all)
{
    struct sink s = {.cl = cl, .c = c};
    struct tls_io io = lend(&s, NULL, 0);
    enum tls_progress p = TLS_PROGRESS_DONE;
    const uint8_t *run;
    size_t n;
    prune_sealed(c);
    while (p == TLS_PROGRESS_DONE && (all || c->n_sealed < CONN_SEALED_MAX) &&
           (n = buf_queue_peek(&c->plain, &run)) > 0) {
        p = tls_conn_write(c->tls, &io, run, n);
        buf_queue_consume(&c->plain, &cl->out_pool, n);
        note_sealed(c);
    }
    if (p != TLS_PROGRESS_DONE || s.starved)
        buf_queue_clear(&c->plain, &cl->out_pool);
    if (!fed(&s))
        return false;
    if (p != TLS_PROGRESS_DONE) {
        failed(cl, c);
        return false;
    }
    return true;
}

bool tlsio_close_notify(struct conn_layer *cl, struct conn *c)
{
    if (c->plain.bytes > 0 && !tlsio_seal(cl, c, true))
        return false; /* what was queued goes before our close_notify */
    struct sink s = {.cl = cl, .c = c};
    struct tls_io io = lend(&s, NULL, 0);
    tls_conn_close_notify(c->tls, &io);
    return sent(&s);
}
