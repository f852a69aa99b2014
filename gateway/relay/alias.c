/* alias: server-role alias rows as entries of the connection index. */
#include "relay/alias.h"

#include "config/config.h"
#include "conn/conn.h"
#include "relay/handoff.h"
#include "core/log.h"
#include "core/metrics.h"
#include "conn/peer_index.h"
#include "relay/reuse_decision.h"
#include "tls/identities.h"

/* replace_elsewhere asks the other workers owning an inbound row for |key|
 * to drop it. The newer row |t| is about to publish sits in front of theirs
 * in the shared index, so lookups prefer it even before they do. */
static void replace_elsewhere(struct relay_layer *rl, const struct conn *t,
                              const struct conn_key *key)
{
    struct peer_hit old[8];
    size_t n = peer_index_inbound(rl->index, key, rl->id, old, 8);
    for (size_t i = 0; i < n; i++) {
        struct handoff_msg msg = {
            .kind = HANDOFF_UNALIAS, .from = (uint8_t)rl->id, .tls = old[i].ref, .target = *key};
        if (handoff_post(rl->mesh, rl->id, old[i].worker, &msg, ""))
            rl->wake(rl->wake_ctx, old[i].worker);
        else
            metrics_inc(rl->metrics, M_HANDOFF_REFUSED);
        reuse_decided(rl->metrics, REUSE_ROW_REPLACED, tls_identities_get(t->ids, 0), key);
    }
}

void alias_unalias(struct relay_layer *rl, struct conn_ref ref, const struct conn_key *key)
{
    struct conn *c = conn_get(&rl->conn->conns, ref);
    if (c && c->kind == CONN_TLS_IN && c->key.family && conn_key_eq(&c->key, key))
        conn_index_remove(&rl->conn->conns, c);
}

void alias_consider(struct relay_layer *rl, struct conn *t, const struct sip_via *via)
{
    if (!via->alias || t->kind != CONN_TLS_IN)
        return;
    if (!rl->cfg->reuse.accept_alias) {
        reuse_decided(rl->metrics, REUSE_ALIASING_OFF, NULL, NULL);
        return;
    }
    if (!t->ids || tls_identities_count(t->ids) == 0) {
        metrics_inc(rl->metrics, M_ALIAS_DECLINED);
        reuse_decided(rl->metrics, REUSE_CERTLESS, NULL, NULL);
        return;
    }
    if (!sip_str_ieq(via->transport, "tls", 3)) {
        metrics_inc(rl->metrics, M_ALIAS_DECLINED);
        return;
    }
    if (rl->cfg->reuse.require_sent_by_identity &&
        !tls_identities_contains(t->ids, via->hp.host.p, via->hp.host.len)) {
        metrics_inc(rl->metrics, M_ALIAS_DECLINED);
        /* Warn: the peer's certificate does not back its sent-by (per message, so
         * rate-limited). */
        LOG_RATELIMITED(LOG_WARN, "alias declined: sent-by host is not a certificate identity",
                        LF_STR("first_identity", tls_identities_get(t->ids, 0)));
        return;
    }
    struct conn_key key;
    if (!conn_key_from_sockaddr(&key, (const struct sockaddr *)&t->peer, sip_via_port(via)))
        return;
    if (t->key.family && conn_key_eq(&t->key, &key))
        return; /* already this row: the common case, one per request */
    /* Replace an older inbound row for the same key; rows of connections
     * reusegw dialled stay (they are the client-role table). */
    struct conn *old;
    while ((old = conn_index_find_inbound(&rl->conn->conns, &key)) != NULL) {
        conn_index_remove(&rl->conn->conns, old);
        reuse_decided(rl->metrics, REUSE_ROW_REPLACED, tls_identities_get(t->ids, 0), &key);
    }
    if (rl->mesh)
        replace_elsewhere(rl, t, &key);
    conn_index_set(&rl->conn->conns, t, &key);
    metrics_inc(rl->metrics, M_ALIAS_RECORDED);
    LOG_DEBUG("alias recorded", LF_UINT("port", key.port),
              LF_STR("first_identity", tls_identities_get(t->ids, 0)),
              LF_UINT("identities", tls_identities_count(t->ids)));
}
