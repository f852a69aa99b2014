/* conn_layer: the layer's set-up, sizing and teardown. */
#include "conn/conn_layer.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "conn/conn.h"
#include "conn/conn_fds.h"
#include "conn/conn_ours.h"
#include "conn/conn_io.h"
#include "conn/conn_log.h"
#include "core/log.h"
#include "core/metrics.h"
#include "tls/conn.h"
#include "tls/ctx.h"
#include "tls/identities.h"
#include "tls/session_cache.h"

enum {
    OUT_BLOCK_SIZE = 16 * 1024,
    SCRATCH_SLACK = 2048,           /* room for a rewritten Via or an added header */
    TLS_SESSIONS_PER_WORKER = 4096, /* (address, domain) pairs whose re-dial resumes */
};

bool conn_layer_init(struct conn_layer *cl, const struct conn_layer_borrowed *b)
{
    memset(cl, 0, sizeof(*cl));
    conn_fds_init(&cl->fds);
    cl->loop = b->loop;
    cl->timers = b->timers;
    cl->metrics = b->metrics;
    cl->cfg = b->cfg;
    cl->tls_ctx = b->tls_ctx;
    cl->workers = b->workers;
    const struct cfg_snapshot *cfg = b->cfg;
    const uint32_t max_conns = conn_share(cl, cfg->limits.max_connections);
    cl->scratch_size = cfg->limits.max_message_bytes + SCRATCH_SLACK;
    cl->scratch = malloc(cl->scratch_size);
    /* One framing block per connection at most; out blocks bounded so that
     * every connection can queue max_buffered_bytes plus one message. */
    uint64_t out_blocks =
        (uint64_t)max_conns *
        ((cfg->limits.max_buffered_bytes + cfg->limits.max_message_bytes) / OUT_BLOCK_SIZE + 2);
    buf_pool_init(&cl->out_pool, OUT_BLOCK_SIZE,
                  (uint32_t)(out_blocks > UINT32_MAX ? UINT32_MAX : out_blocks));
    buf_pool_init(&cl->in_pool, cfg->limits.max_message_bytes + 4, max_conns);
    if (!cl->scratch || !conn_table_init(&cl->conns, max_conns))
        return false;
    cl->conns.shared = b->shared;
    cl->conns.worker_id = (uint8_t)b->worker_id;
    cl->tls_sessions = tls_session_cache_new(TLS_SESSIONS_PER_WORKER);
    return cl->tls_sessions != NULL;
}

void conn_layer_set_events(struct conn_layer *cl, const struct conn_events *up)
{
    cl->up = *up;
}

/* close_revoked ends every TLS connection whose peer the newly installed
 * CRLs revoke (RFC 5923 §8.3: close_notify), which takes it out of the
 * index and so its aliases with it. Connections keep the ctx they were
 * made with, so nothing else would ever re-check them. */
static void close_revoked(struct conn_layer *cl)
{
    const struct tls_identities *fine = NULL; /* resumed connections share theirs */
    for (uint32_t i = 1; i <= cl->conns.high; i++) {
        struct conn *c = conn_at(&cl->conns, i);
        if ((c->kind != CONN_TLS_IN && c->kind != CONN_TLS_OUT) || c->state != CONN_OPEN ||
            !c->ids || c->ids == fine)
            continue;
        if (!tls_ctx_revokes(cl->tls_ctx, c->ids)) {
            fine = c->ids;
            continue;
        }
        char addr[ADDR_TEXT_MAX];
        addr_format(&c->peer, addr, sizeof addr);
        LOG_WARN(
            "peer certificate revoked by the reloaded CRL; closing its connection",
            LF_STR("conn", conn_kind_name(c)), LF_STR("peer", addr),
            LF_STR("identity", tls_identities_count(c->ids) ? tls_identities_get(c->ids, 0) : ""),
            LF_STR("refused", "revoked"));
        metrics_inc(cl->metrics, M_REVOKED_CLOSED);
        conn_close(cl, c, CLOSE_GRACEFUL, "revoked");
    }
}

void conn_layer_install(struct conn_layer *cl, struct cfg_snapshot *cfg, struct tls_ctx *tls_ctx)
{
    if (cl->cfg && cl->cfg != cfg)
        conn_ours_remap(cl, cl->cfg, cfg);
    /* Re-checking every chain costs a path validation each: only when the
     * CRLs changed. */
    bool recheck = cl->tls_ctx && tls_ctx_crls_differ(cl->tls_ctx, tls_ctx);
    cl->cfg = cfg;
    cl->tls_ctx = tls_ctx;
    if (recheck)
        close_revoked(cl);
}

void conn_layer_drop_all(struct conn_layer *cl)
{
    for (uint32_t i = 1; i <= cl->conns.high; i++) {
        struct conn *c = conn_at(&cl->conns, i);
        if (c->state == CONN_FREE)
            continue;
        if (c->fd >= 0)
            close(c->fd);
        c->fd = -1;
        buf_pool_put(&cl->in_pool, c->in);
        buf_queue_clear(&c->out, &cl->out_pool);
        buf_queue_clear(&c->plain, &cl->out_pool);
        buf_queue_clear(&c->hold, &cl->out_pool);
        buf_queue_clear(&c->stash, &cl->out_pool);
        tls_conn_free(c->tls);
        tls_identities_unref(c->ids);
        cfg_unref(c->route_cfg);
    }
}

void conn_layer_free(struct conn_layer *cl)
{
    conn_table_free(&cl->conns);
    buf_pool_free(&cl->out_pool);
    buf_pool_free(&cl->in_pool);
    free(cl->scratch);
    free(cl->dgram);
    tls_session_cache_free(cl->tls_sessions); /* after every conn that used it */
    conn_fds_free(&cl->fds);
    memset(cl, 0, sizeof(*cl));
}
