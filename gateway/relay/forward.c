/* forward: the client-role rewrite and the way out to a TLS peer. */
#include "relay/forward.h"

#include <string.h>
#include <sys/uio.h>

#include "config/config.h"
#include "conn/conn.h"
#include "conn/conn_limits.h"
#include "conn/conn_open.h"
#include "conn/conn_ours.h"
#include "core/addr.h"
#include "core/log.h"
#include "relay/answer.h"
#include "relay/ended.h"
#include "relay/pending.h"
#include "relay/relay_internal.h"
#include "relay/reuse_decision.h"
#include "relay/udp_legacy.h"
#include "sip/edit.h"
#include "sip/header.h"
#include "tls/ctx.h"

size_t relay_emit(struct relay_layer *rl, const struct sip_edit *ed)
{
    struct iovec iov[SIP_EDIT_MAX_IOV];
    size_t niov = 0, total = 0;
    if (sip_edit_iov(ed, iov, SIP_EDIT_MAX_IOV, &niov, &total) != SIP_OK ||
        total > rl->conn->scratch_size)
        return 0;
    size_t off = 0;
    for (size_t i = 0; i < niov; i++) {
        memcpy(rl->conn->scratch + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    return total;
}

size_t relay_via_restored(struct relay_layer *rl, const char *msg, size_t len,
                          const struct sip_via *top, const struct pending *e)
{
    return sip_via_splice(msg, len, top->parm, (struct sip_str){e->via, e->via_len},
                          rl->conn->scratch, rl->conn->scratch_size);
}

void relay_copy_domain(char *dst, size_t cap, struct sip_str domain)
{
    size_t n = domain.len < cap ? domain.len : cap - 1;
    memcpy(dst, domain.p, n);
    dst[n] = 0;
}

/* drop_alias removes every `;alias` flag of the legacy proxy's top Via
 * |via|. After the rewrite the sent-by is reusegw's, so only reusegw may ask
 * for reuse of the connection; the legacy proxy's flag was about its plain
 * TCP hop (RFC5923.md §6, "proxy in front of a proxy"; R-5923-26). */
static enum sip_err drop_alias(struct sip_edit *ed, const struct sip_via *via)
{
    struct sip_param params[32];
    struct sip_via v;
    enum sip_err err = sip_via_parse(via->parm, &v, params, 32);
    for (size_t i = 0; !err && i < v.nparams; i++) {
        const struct sip_param *q = &params[i];
        if (sip_str_present(q->value) || !sip_str_ieq(q->name, "alias", 5))
            continue;
        const char *semi = q->name.p;
        while (semi > via->parm.p && *semi != ';')
            semi--;
        err = sip_edit_replace(ed, semi, (size_t)(q->name.p + q->name.len - semi),
                               (struct sip_str){"", 0});
    }
    return err;
}

/* rewrite_request applies the client-role rewrite (docs/design.md): top Via
 * with transport TLS, sent-by that of our identity |ours|, the original parameters,
 * and `;alias` on a connection reusegw opened; a topmost Route naming
 * reusegw is popped. Returns the length in scratch, or 0. */
static size_t rewrite_request(struct relay_layer *rl, const struct parsed *p,
                              enum conn_kind to_kind, uint8_t ours, bool pop_route)
{
    bool alias = rl->cfg->reuse.request_alias && to_kind == CONN_TLS_OUT;
    struct sip_edit ed;
    sip_edit_init(&ed, &p->msg);
    if ((pop_route && sip_edit_pop_route(&ed) != SIP_OK) ||
        sip_edit_via_client(&ed, &p->via,
                            (struct sip_str){rl->sent_by[ours], rl->sent_by_len[ours]},
                            alias) != SIP_OK ||
        (p->via.alias && !alias && drop_alias(&ed, &p->via) != SIP_OK) ||
        /* A datagram may leave Content-Length out (RFC 3261 18.3); TLS needs it. */
        (!p->msg.has_content_length && sip_edit_content_length(&ed, p->msg.body.len) != SIP_OK))
        return 0;
    return relay_emit(rl, &ed);
}

/* track opens the pending entry of request |p| from |from| going to |dst|
 * for |domain|; NULL (answered 503) when the table cannot take it. */
static struct pending *track(struct relay_layer *rl, struct conn *from, const struct dest *dst,
                             enum conn_kind to_kind, const struct parsed *p, struct sip_str domain)
{
    struct conn *to = dst->local;
    enum pending_method pm = pending_method_of(p->msg.method.p, p->msg.method.len);
    struct pending *e = pending_add(&rl->pending, p->via.branch.p, p->via.branch.len, pm,
                                    p->via.parm.p, p->via.parm.len, rl->timers->now_ms);
    if (!e) {
        limits_hit(rl->metrics, LIMIT_MAX_PENDING_TRANSACTIONS);
        LOG_RATELIMITED(LOG_WARN, "cannot track transaction; answering 503",
                        LF_UINT("pending", rl->pending.used));
        answer_send(rl, from, p, 503, "Service Unavailable",
                    "too many pending transactions or oversized Via", M_503_PENDING_FULL);
        return NULL;
    }
    e->legacy = conn_ref_of(&rl->conn->conns, from);
    if (from->kind == CONN_UDP)
        udp_track(e, from);
    e->legacy_worker = (uint8_t)rl->id;
    e->tls = to ? conn_ref_of(&rl->conn->conns, to) : dst->remote.ref;
    e->tls_worker = (uint8_t)(to ? rl->id : dst->remote.worker);
    e->tls_kind = (uint8_t)to_kind;
    e->ours = to ? to->ours : dst->ours;
    e->target = to ? to->key : dst->remote.key;
    relay_copy_domain(e->domain, sizeof(e->domain), domain);
    return e;
}

void forward_request(struct relay_layer *rl, struct conn *from, const struct dest *dst,
                     const struct parsed *p, const struct sip_header *drop_route,
                     struct sip_str domain)
{
    struct conn *to = dst->local;
    enum conn_kind to_kind = to ? (enum conn_kind)to->kind : (enum conn_kind)dst->remote.kind;
    struct pending *e = NULL;
    if (!relay_is_method(&p->msg, "ACK") && !(e = track(rl, from, dst, to_kind, p, domain)))
        return;
    size_t n = rewrite_request(rl, p, to_kind, to ? to->ours : dst->ours, drop_route != NULL);
    if (!to) {
        relay_hand_request(rl, from, &dst->remote, p, e, n, domain);
        return;
    }
    if (n > 0 &&
        relay_send(rl, from, to, rl->conn->scratch, n, M_MSG_TO_PEER_REQUEST, M_BYTES_TO_PEER)) {
        if (e)
            ended_track(rl, e, to, p, rl->conn->scratch, n);
        return;
    }
    answer_unsent(rl, from, p, e, n, "peer connection cannot take the ACK",
                  "peer connection congested");
}

bool forward_after_invite(struct relay_layer *rl, struct conn *from, const struct parsed *p,
                          struct conn_key *bound)
{
    memset(bound, 0, sizeof(*bound));
    if (!relay_is_method(&p->msg, "ACK") && !relay_is_method(&p->msg, "CANCEL"))
        return false;
    struct pending *inv =
        pending_find(&rl->pending, p->via.branch.p, p->via.branch.len, PENDING_INVITE);
    if (!inv)
        return false;
    if (ended_absorbed(rl, from, p, inv))
        return true;
    struct sip_str domain = {inv->domain, strlen(inv->domain)};
    if (inv->tls_worker != rl->id && !rl->local_only) {
        /* Its owner checks the connection; when that is gone the CANCEL
         * comes back and is routed again here, to the INVITE's address
         * (handed.c). */
        struct dest d = {.remote = {.worker = inv->tls_worker,
                                    .kind = inv->tls_kind,
                                    .ref = inv->tls,
                                    .key = inv->target},
                         .ours = inv->ours};
        forward_request(rl, from, &d, p, NULL, domain);
        return true;
    }
    struct conn *t = inv->tls_worker == rl->id ? conn_get(&rl->conn->conns, inv->tls) : NULL;
    if (!t || t->state == CONN_CLOSING || t->state == CONN_DEAD)
        t = conn_index_find(&rl->conn->conns, &inv->target, inv->domain, inv->ours);
    if (t && t->state != CONN_CLOSING && t->state != CONN_DEAD) {
        reuse_decided(rl->metrics, REUSE_REUSED, inv->domain, &inv->target);
        forward_request(rl, from, &(struct dest){.local = t}, p, NULL, domain);
        return true;
    }
    reuse_decided(rl->metrics, REUSE_CONNECTION_GONE, inv->domain, &inv->target);
    *bound = inv->target;
    return false;
}

/* target_key is the index key of static target |t|; false when |t| is not
 * an IP address. */
static bool target_key(const struct cfg_hostport *t, struct conn_key *key)
{
    struct sockaddr_storage ss;
    socklen_t len;
    return addr_from_hostport(t, &ss, &len) &&
           conn_key_from_sockaddr(key, (struct sockaddr *)&ss, 0);
}

void forward_narrow_to(struct route_plan *plan, const struct conn_key *key)
{
    for (size_t i = 0; i < plan->n_targets; i++) {
        struct conn_key k;
        if (target_key(&plan->targets[i], &k) && conn_key_eq(&k, key)) {
            plan->targets += i;
            plan->n_targets = 1;
            return;
        }
    }
}

bool forward_pick(struct relay_layer *rl, const struct route_plan *plan, const char **why,
                  struct dest *dst)
{
    char domain[256];
    relay_copy_domain(domain, sizeof(domain), plan->domain);
    enum reuse_reason miss = REUSE_NO_ROW;
    struct conn_key first = {0};
    for (size_t i = 0; i < plan->n_targets; i++) {
        struct conn_key key;
        if (!target_key(&plan->targets[i], &key))
            continue;
        dst->local = conn_index_find(&rl->conn->conns, &key, domain, dst->ours);
        if (dst->local) {
            reuse_decided(rl->metrics, REUSE_REUSED, domain, &key);
            return true;
        }
        /* Another worker's connection: its owner records the decision
         * (handed.c), or sends the request back to be routed again. */
        if (rl->mesh && !rl->local_only &&
            peer_index_find(rl->index, &key, domain, dst->ours, rl->id, &dst->remote))
            return true;
        if (!first.family)
            first = key;
        if (miss == REUSE_NO_ROW)
            miss = conn_index_miss(&rl->conn->conns, &key, domain, dst->ours);
        if (miss == REUSE_NO_ROW && rl->mesh && !rl->local_only)
            miss = peer_index_miss(rl->index, &key, domain, dst->ours, rl->id);
    }
    reuse_decided(rl->metrics, miss, domain, &first);
    if (miss == REUSE_IDENTITY_OURS_MISMATCH)
        LOG_RATELIMITED(LOG_INFO,
                        "the connection to this peer carries another identity of ours; "
                        "dialling one of this identity's own (RFC 5923 9.3)",
                        LF_STR("domain", domain),
                        LF_STR("identity", conn_ours_name(rl->cfg, dst->ours)));
    dst->local =
        conn_dial(rl->conn, rl->cfg, domain, plan->targets, plan->n_targets, 0, dst->ours, why);
    return dst->local != NULL;
}

/* ours_of_host is the identity of ours one of whose domains is the host
 * of |uri| (a name-addr or URI), or -1. */
static int ours_of_host(const struct relay_layer *rl, struct sip_str uri)
{
    struct sip_hostport hp;
    return route_uri_host(uri, &hp) == SIP_OK
               ? tls_ctx_identity_for(rl->conn->tls_ctx, hp.host.p, hp.host.len)
               : -1;
}

uint8_t forward_ours(const struct relay_layer *rl, const struct conn *from, const struct parsed *p)
{
    if (from->ours || rl->cfg->n_identities == 0)
        return from->ours;
    const struct sip_str host = p->via.hp.host;
    int i = tls_ctx_identity_for(rl->conn->tls_ctx, host.p, host.len);
    const struct sip_header *rr = i < 0 ? sip_msg_header(&p->msg, SIP_HDR_RECORD_ROUTE) : NULL;
    struct sip_str rest = rr ? rr->value : (struct sip_str){0}, first;
    if (rr && sip_list_next(&rest, &first))
        i = ours_of_host(rl, first);
    return i > 0 ? (uint8_t)i : 0;
}

bool forward_names_legacy(const struct relay_layer *rl, struct sip_str value)
{
    for (size_t i = 0; i < 2; i++)
        if (memmem(value.p, value.len, rl->legacy_names[i], rl->legacy_name_lens[i]))
            return true;
    return false;
}

void forward_warn_legacy_leak(struct relay_layer *rl, const struct sip_msg *m)
{
    static const enum sip_hdr kinds[] = {SIP_HDR_RECORD_ROUTE, SIP_HDR_CONTACT};
    for (size_t k = 0; k < 2; k++)
        for (const struct sip_header *h = sip_msg_header(m, kinds[k]); h; h = sip_msg_next(m, h))
            if (forward_names_legacy(rl, h->value)) {
                metrics_inc(rl->metrics, M_LEGACY_ADDRESS_LEAKS);
                LOG_RATELIMITED(LOG_WARN,
                                "legacy proxy advertises an internal address to a TLS peer; "
                                "set its advertised address to identity.sent_by",
                                LF_STR("header", sip_hdr_name(kinds[k])));
                return;
            }
}
