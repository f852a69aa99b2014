/* relay: the DESIGN.md message-flow table, one function per row. */
#include "relay/relay.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "relay/alias.h"
#include "config/config.h"
#include "conn/conn.h"
#include "conn/conn_io.h"
#include "conn/conn_layer.h"
#include "conn/conn_open.h"
#include "conn/conn_limits.h"
#include "relay/dns_route.h"
#include "relay/handoff.h"
#include "core/log.h"
#include "conn/peer_index.h"
#include "relay/reuse_decision.h"
#include "relay/route.h"
#include "sip/check.h"
#include "sip/edit.h"
#include "sip/message.h"
#include "sip/response.h"
#include "sip/via.h"
#include "relay/pending.h"

enum { MAX_HEADERS = 256 };

/* A parsed message and the top Via every flow needs. */
struct parsed {
    const char *buf;
    size_t len;
    struct sip_msg msg;
    struct sip_via via;
    struct sip_header headers[MAX_HEADERS];
};

/* drop counts a message reusegw discards in series |id| (M_DROP_*) and logs
 * why, rate-limited. Debug, not info: nothing is logged per message at info,
 * and every drop reason has its series in reusegw_dropped_messages_total. */
static void drop_from(struct relay_layer *rl, enum metric_id id, const char *from, const char *why)
{
    metrics_inc(rl->metrics, id);
    LOG_RATELIMITED(LOG_DEBUG, "dropping message", LF_STR("from", from), LF_STR("why", why));
}

static void drop(struct relay_layer *rl, enum metric_id id, const struct conn *c, const char *why)
{
    drop_from(rl, id, conn_kind_name(c), why);
}

/* dest is where a routed request goes: a connection of this worker, or
 * (with several workers) one another worker owns, as the peer index
 * described it. */
struct dest {
    struct conn *local;
    struct peer_hit remote; /* when |local| is NULL */
};

/* post counts and queues |msg| with |bytes| for worker |to|; false (counted,
 * logged) when that channel is full. */
static bool post(struct relay_layer *rl, unsigned to, struct handoff_msg *msg, const void *bytes,
                 size_t len)
{
    msg->from = (uint8_t)rl->id;
    msg->len = (uint32_t)len;
    bool response = msg->kind == HANDOFF_RESPONSE; /* else a request, or one coming back */
    if (handoff_post(rl->mesh, rl->id, to, msg, bytes)) {
        rl->wake(rl->wake_ctx, to);
        metrics_inc(rl->metrics, response ? M_HANDOFF_RESPONSE : M_HANDOFF_REQUEST);
        return true;
    }
    metrics_inc(rl->metrics, M_HANDOFF_REFUSED);
    LOG_RATELIMITED(LOG_WARN, "hand-off channel to another worker is full",
                    LF_UINT("to_worker", to), LF_STR("kind", response ? "response" : "request"));
    return false;
}

/* build_answer writes the response reusegw originates for request |p|
 * (|reason| NULL: the standard phrase), with a Warning naming |why| when not
 * NULL, into |out|; returns its length or 0. */
static size_t build_answer(struct relay_layer *rl, const struct parsed *p, unsigned status,
                           const char *reason, const char *why, char *out, size_t cap)
{
    const char *agent = rl->sent_by;
    char warning[512];
    if (why) {
        /* Warning text is a quoted-string: leave out what would end it. */
        size_t n = (size_t)snprintf(warning, sizeof(warning), "Warning: 399 %s \"", agent);
        for (const char *q = why; *q && n < sizeof(warning) - 4; q++)
            if (*q != '"' && *q != '\\' && *q != '\r' && *q != '\n')
                warning[n++] = *q;
        memcpy(warning + n, "\"\r\n", 4);
    }
    struct sip_response_spec spec = {
        .status = status,
        .reason = reason,
        .extra = why ? warning : NULL,
    };
    size_t n = 0;
    return sip_build_response(&p->msg, &spec, out, cap, &n) == SIP_OK ? n : 0;
}

/* answer sends build_answer's response back on |c| and counts it in
 * |series|: its reusegw_local_answers_total or reusegw_503_sent_total
 * reason. */
static void answer(struct relay_layer *rl, struct conn *c, const struct parsed *p, unsigned status,
                   const char *reason, const char *why, enum metric_id series)
{
    char out[8192];
    size_t n = build_answer(rl, p, status, reason, why, out, sizeof(out));
    if (n == 0 || !conn_send(rl->conn, c, out, n)) {
        drop(rl, M_DROP_BUFFER_FULL, c, "cannot queue reusegw's own answer");
        return;
    }
    metrics_inc(rl->metrics, series);
}

/* answer_error answers a request that failed a syntax rule: 400 (505, 513)
 * with the reason text of sip/error.h in the reason phrase. */
static void answer_error(struct relay_layer *rl, struct conn *c, const struct parsed *p,
                         enum sip_err err)
{
    unsigned status = sip_err_status(err);
    char reason[96];
    snprintf(reason, sizeof(reason), "%s (%s)", sip_status_phrase(status), sip_err_text(err));
    answer(rl, c, p, status, reason, NULL, M_ANSWER_BAD_REQUEST); /* 400, or 505/513 */
}

static bool is_method(const struct sip_msg *m, const char *name)
{
    size_t n = strlen(name);
    return m->method.len == n && memcmp(m->method.p, name, n) == 0;
}

/* emit flattens an edit session into the worker's scratch buffer (one TLS
 * write per message) and returns its length, or 0 when it does not fit. */
static size_t emit(struct relay_layer *rl, const struct sip_edit *ed)
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

/* rewrite_request applies the client-role rewrite (DESIGN.md): top Via with
 * transport TLS, sent-by identity.sent_by, the original parameters, and
 * `;alias` on a connection reusegw opened; a topmost Route naming reusegw
 * is popped. Returns the length in scratch, or 0. */
static size_t rewrite_request(struct relay_layer *rl, const struct parsed *p,
                              enum conn_kind to_kind, bool pop_route)
{
    bool alias = rl->cfg->reuse.request_alias && to_kind == CONN_TLS_OUT;
    struct sip_edit ed;
    sip_edit_init(&ed, &p->msg);
    if ((pop_route && sip_edit_pop_route(&ed) != SIP_OK) ||
        sip_edit_via_client(&ed, &p->via, (struct sip_str){rl->sent_by, rl->sent_by_len}, alias) !=
            SIP_OK ||
        (p->via.alias && !alias && drop_alias(&ed, &p->via) != SIP_OK))
        return 0;
    return emit(rl, &ed);
}

/* forward_remote hands the rewritten request |p| (|n| bytes in scratch,
 * pending entry |e| or NULL for an ACK, routed for |domain|) to the worker
 * owning |to|. */
static void forward_remote(struct relay_layer *rl, struct conn *from, const struct peer_hit *to,
                           const struct parsed *p, struct pending *e, size_t n,
                           struct sip_str domain)
{
    struct handoff_msg msg = {
        .kind = HANDOFF_REQUEST,
        .is_ack = e == NULL,
        .tls = to->ref,
        .legacy = conn_ref_of(&rl->conn->conns, from),
    };
    size_t dn = domain.len < sizeof(msg.domain) ? domain.len : sizeof(msg.domain) - 1;
    memcpy(msg.domain, domain.p, dn);
    if (e) {
        msg.method = e->method;
        msg.branch_len = e->branch_len;
        memcpy(msg.branch, e->branch, e->branch_len);
    }
    if (n > 0 && post(rl, to->worker, &msg, rl->conn->scratch, n))
        return;
    if (e)
        pending_remove(&rl->pending, e);
    if (!e)
        drop(rl, M_DROP_BUFFER_FULL, from, "hand-off channel cannot take the ACK");
    else if (n == 0)
        answer(rl, from, p, 400, NULL, "message too large after Via rewrite", M_ANSWER_BAD_REQUEST);
    else
        answer(rl, from, p, 503, NULL, "worker hand-off channel full", M_503_OTHER);
}

/* forward_request sends a legacy-proxy request |p| (arrived on |from|, the
 * E or mirror connection responses go back to) to TLS connection |dst|,
 * with the client-role rewrite and a pending entry. */
static void forward_request(struct relay_layer *rl, struct conn *from, const struct dest *dst,
                            const struct parsed *p, const struct sip_header *drop_route,
                            const struct sip_str domain)
{
    struct conn *to = dst->local;
    enum conn_kind to_kind = to ? (enum conn_kind)to->kind : (enum conn_kind)dst->remote.kind;
    bool is_ack = is_method(&p->msg, "ACK");
    struct pending *e = NULL;
    if (!is_ack) {
        enum pending_method pm = pending_method_of(p->msg.method.p, p->msg.method.len);
        e = pending_add(&rl->pending, p->via.branch.p, p->via.branch.len, pm, p->via.parm.p,
                        p->via.parm.len, rl->timers->now_ms);
        if (!e) {
            limits_hit(rl->metrics, LIMIT_MAX_PENDING_TRANSACTIONS);
            LOG_RATELIMITED(LOG_WARN, "cannot track transaction; answering 503",
                            LF_UINT("pending", rl->pending.used));
            answer(rl, from, p, 503, "Service Unavailable",
                   "too many pending transactions or oversized Via", M_503_PENDING_FULL);
            return;
        }
        e->legacy = conn_ref_of(&rl->conn->conns, from);
        e->legacy_worker = (uint8_t)rl->id;
        e->tls = to ? conn_ref_of(&rl->conn->conns, to) : dst->remote.ref;
        e->tls_worker = (uint8_t)(to ? rl->id : dst->remote.worker);
        e->tls_kind = (uint8_t)to_kind;
        e->target = to ? to->key : dst->remote.key;
        size_t n = domain.len < sizeof(e->domain) ? domain.len : sizeof(e->domain) - 1;
        memcpy(e->domain, domain.p, n);
        e->domain[n] = 0;
    }
    size_t n = rewrite_request(rl, p, to_kind, drop_route != NULL);
    if (!to) {
        forward_remote(rl, from, &dst->remote, p, e, n, domain);
        return;
    }
    bool sent = n > 0 && conn_send(rl->conn, to, rl->conn->scratch, n);
    if (sent) {
        metrics_relayed(rl->metrics, M_MSG_TO_PEER_REQUEST, M_BYTES_TO_PEER, n);
        conn_throttle(rl->conn, from, to);
        return;
    }
    if (e)
        pending_remove(&rl->pending, e); /* never sent: nothing will answer it */
    if (is_ack)
        drop(rl, M_DROP_BUFFER_FULL, from, "peer connection cannot take the ACK");
    else if (n == 0)
        answer(rl, from, p, 400, NULL, "message too large after Via rewrite", M_ANSWER_BAD_REQUEST);
    else
        answer(rl, from, p, 503, NULL, "peer connection congested", M_503_OTHER);
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

/* narrow_to keeps only the target of |plan| that is |key|, when one is: a
 * CANCEL or non-2xx ACK whose INVITE's connection died goes to the address
 * the INVITE went to, never to a failover alternative (R-5923-13). */
static void narrow_to(struct route_plan *plan, const struct conn_key *key)
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

/* pick_connection finds or dials the TLS connection for a routed request:
 * an existing one to a target whose identities cover the domain, in target
 * order — this worker's own first (no lock), then, with several workers,
 * another worker's — else a new dial with failover (DESIGN.md routing step
 * 3), which this worker owns. False (|why| set) when nothing can be
 * dialled. */
static bool pick_connection(struct relay_layer *rl, const struct route_plan *plan, const char **why,
                            struct dest *dst)
{
    char domain[256];
    size_t n = plan->domain.len < sizeof(domain) ? plan->domain.len : sizeof(domain) - 1;
    memcpy(domain, plan->domain.p, n);
    domain[n] = 0;
    enum reuse_reason miss = REUSE_NO_ROW;
    struct conn_key first = {0};
    for (size_t i = 0; i < plan->n_targets; i++) {
        struct conn_key key;
        if (!target_key(&plan->targets[i], &key))
            continue;
        dst->local = conn_index_find(&rl->conn->conns, &key, domain);
        if (dst->local) {
            reuse_decided(rl->metrics, REUSE_REUSED, domain, &key);
            return true;
        }
        /* Another worker's connection: its owner records the decision
         * (request_handed), or sends the request back to be routed again. */
        if (rl->mesh && !rl->local_only &&
            peer_index_find(rl->index, &key, domain, rl->id, &dst->remote))
            return true;
        if (!first.family)
            first = key;
        if (miss == REUSE_NO_ROW)
            miss = conn_index_miss(&rl->conn->conns, &key);
        if (miss == REUSE_NO_ROW && rl->mesh && !rl->local_only)
            miss = peer_index_miss(rl->index, &key, rl->id);
    }
    reuse_decided(rl->metrics, miss, domain, &first);
    dst->local = conn_dial(rl->conn, rl->cfg, domain, plan->targets, plan->n_targets, 0, why);
    return dst->local != NULL;
}

/* from_legacy handles a request from the legacy proxy on E (routed) or on
 * a mirror (goes to its TLS connection). */
static void request_from_legacy(struct relay_layer *rl, struct conn *c, struct parsed *p)
{
    bool is_ack = is_method(&p->msg, "ACK");
    if (p->via.branch.len == 0) {
        if (!is_ack)
            answer(rl, c, p, 400, "Bad Request", "top Via has no branch", M_ANSWER_BAD_REQUEST);
        return;
    }
    if (c->kind == CONN_MIRROR) {
        struct conn *t = conn_get(&rl->conn->conns, c->partner);
        if (!t || t->peer_closed) {
            reuse_decided(rl->metrics, REUSE_CONNECTION_GONE, t ? t->domain : NULL, NULL);
            if (!is_ack)
                answer(rl, c, p, 503, "Service Unavailable", "peer connection is gone",
                       M_503_OTHER);
            return;
        }
        forward_request(rl, c, &(struct dest){.local = t}, p, NULL,
                        (struct sip_str){t->domain, strlen(t->domain)});
        return;
    }
    /* CANCEL and non-2xx ACK follow their INVITE (R-5923-13). */
    struct conn_key bound = {0};
    if (is_ack || is_method(&p->msg, "CANCEL")) {
        struct pending *inv =
            pending_find(&rl->pending, p->via.branch.p, p->via.branch.len, PENDING_INVITE);
        if (inv && inv->tls_worker != rl->id && !rl->local_only) {
            /* Its owner checks the connection; when that is gone the
             * CANCEL comes back and is routed again here, to the INVITE's
             * address (reroute_handed). */
            struct dest d = {.remote = {.worker = inv->tls_worker,
                                        .kind = inv->tls_kind,
                                        .ref = inv->tls,
                                        .key = inv->target}};
            forward_request(rl, c, &d, p, NULL, (struct sip_str){inv->domain, strlen(inv->domain)});
            return;
        }
        struct conn *t =
            inv && inv->tls_worker == rl->id ? conn_get(&rl->conn->conns, inv->tls) : NULL;
        if (inv && (!t || t->state == CONN_CLOSING || t->state == CONN_DEAD))
            t = conn_index_find(&rl->conn->conns, &inv->target, inv->domain); /* same address */
        if (t && t->state != CONN_CLOSING && t->state != CONN_DEAD) {
            reuse_decided(rl->metrics, REUSE_REUSED, inv->domain, &inv->target);
            forward_request(rl, c, &(struct dest){.local = t}, p, NULL,
                            (struct sip_str){inv->domain, strlen(inv->domain)});
            return;
        }
        if (inv) {
            reuse_decided(rl->metrics, REUSE_CONNECTION_GONE, inv->domain, &inv->target);
            bound = inv->target;
        }
    }
    struct route_plan plan;
    route_plan(rl->cfg, &p->msg, &plan);
    struct cfg_hostport original;
    if (c->original_dst.family)
        route_plan_transparent(&plan, &c->original_dst, &original);
    if (plan.verdict == ROUTE_DNS && !dns_routes_plan(rl->dns, c, p->buf, p->len, &plan))
        return; /* waiting for DNS: relay_message sees it again with the answer */
    if (plan.verdict == ROUTE_OK && bound.family)
        narrow_to(&plan, &bound);
    const char *why = plan.why;
    struct dest dst = {0};
    bool routed = plan.verdict == ROUTE_OK && pick_connection(rl, &plan, &why, &dst);
    if (dst.local && dst.local->targets == &original) {
        /* The kernel named one destination: nothing to fail over to, and
         * |original| dies with this call. */
        dst.local->targets = NULL;
        dst.local->n_targets = 0;
    }
    if (!routed) {
        /* Per message, and counted in reusegw_503_sent_total: debug. */
        LOG_RATELIMITED(LOG_DEBUG, "cannot route request", LF_STR("reason", why));
        if (is_ack)
            drop(rl, M_DROP_ACK_UNROUTABLE, c, why);
        else
            answer(rl, c, p, 503, "Service Unavailable", why, plan.refusal);
        return;
    }
    forward_request(rl, c, &dst, p, plan.self_route, plan.domain);
}

/* deliver_response restores the legacy proxy's Via and sends response |p|
 * to the connection its transaction came from, or hands it to the worker
 * owning that connection. |src| is the open TLS connection it arrived on
 * (NULL when it was not open): the transaction lives there now, whatever
 * connection it was first handed to (failover). |from| names the arrival
 * for logs. */
static void deliver_response(struct relay_layer *rl, const char *from, const struct peer_hit *src,
                             const struct parsed *p)
{
    struct sip_cseq cseq;
    if (sip_check_cseq(&p->msg, &cseq) != SIP_OK) {
        drop_from(rl, M_DROP_MALFORMED, from, "response without a valid CSeq");
        return;
    }
    enum pending_method pm = pending_method_of(cseq.method.p, cseq.method.len);
    struct pending *e = pending_find(&rl->pending, p->via.branch.p, p->via.branch.len, pm);
    if (!e) {
        drop_from(rl, M_DROP_UNKNOWN_BRANCH, from, "response to an unknown transaction");
        return;
    }
    if (e->legacy_worker != rl->id) {
        /* A request another worker handed over: its entry there restores
         * the Via. This one only lives as long as the transaction does. */
        struct handoff_msg msg = {
            .kind = HANDOFF_RESPONSE, .open = src != NULL, .legacy = e->legacy};
        if (src) {
            msg.tls = src->ref;
            msg.tls_kind = src->kind;
            msg.target = src->key;
        }
        unsigned to = e->legacy_worker;
        pending_on_response(&rl->pending, e, p->msg.status, rl->timers->now_ms); /* may free |e| */
        if (!post(rl, to, &msg, p->buf, p->len))
            drop_from(rl, M_DROP_BUFFER_FULL, from, "hand-off channel full");
        return;
    }
    struct conn *legacy = conn_get(&rl->conn->conns, e->legacy);
    if (!legacy) {
        drop_from(rl, M_DROP_PEER_GONE, from, "the legacy connection of this response closed");
        return;
    }
    if (src) {
        e->tls = src->ref;
        e->tls_worker = src->worker;
        e->tls_kind = src->kind;
        if (src->key.family)
            e->target = src->key;
    }
    struct sip_edit ed;
    sip_edit_init(&ed, &p->msg);
    size_t n = sip_edit_via_restore(&ed, &p->via, (struct sip_str){e->via, e->via_len}) == SIP_OK
                   ? emit(rl, &ed)
                   : 0;
    pending_on_response(&rl->pending, e, p->msg.status, rl->timers->now_ms); /* may free |e| */
    if (n == 0 || !conn_send(rl->conn, legacy, rl->conn->scratch, n)) {
        drop_from(rl, M_DROP_BUFFER_FULL, from, "legacy connection cannot take the response");
        return;
    }
    metrics_relayed(rl->metrics, M_MSG_TO_LEGACY_RESPONSE, M_BYTES_TO_LEGACY, n);
}

/* response_from_peer is deliver_response for a response that arrived on
 * this worker's connection |from|. */
static void response_from_peer(struct relay_layer *rl, const struct conn *from,
                               const struct parsed *p)
{
    struct peer_hit src = {.worker = (uint8_t)rl->id,
                           .kind = from->kind,
                           .ref = conn_ref_of(&rl->conn->conns, from),
                           .key = from->key};
    deliver_response(rl, conn_kind_name(from), from->state == CONN_OPEN ? &src : NULL, p);
}

/* names_legacy is true when |value| mentions legacy.forward_to or
 * legacy.listen as "host:port". */
static bool names_legacy(const struct relay_layer *rl, struct sip_str value)
{
    for (size_t i = 0; i < 2; i++)
        if (memmem(value.p, value.len, rl->legacy_names[i], rl->legacy_name_lens[i]))
            return true;
    return false;
}

/* warn_legacy_leak warns (DESIGN.md "Dialogs and Record-Route") when a
 * message leaving for a TLS peer carries a Record-Route or Contact naming
 * reusegw's internal legacy addresses: the peer could never reach them. */
static void warn_legacy_leak(struct relay_layer *rl, const struct sip_msg *m)
{
    static const enum sip_hdr kinds[] = {SIP_HDR_RECORD_ROUTE, SIP_HDR_CONTACT};
    for (size_t k = 0; k < 2; k++)
        for (const struct sip_header *h = sip_msg_header(m, kinds[k]); h; h = sip_msg_next(m, h))
            if (names_legacy(rl, h->value)) {
                metrics_inc(rl->metrics, M_LEGACY_ADDRESS_LEAKS);
                LOG_RATELIMITED(LOG_WARN,
                                "legacy proxy advertises an internal address to a TLS peer; "
                                "set its advertised address to identity.sent_by",
                                LF_STR("header", sip_hdr_name(kinds[k])));
                return;
            }
}

static void relay_parsed(struct relay_layer *rl, struct conn *c, struct parsed *p)
{
    if (c->kind == CONN_MIRROR || c->kind == CONN_EGRESS)
        warn_legacy_leak(rl, &p->msg);
    bool from_tls = c->kind == CONN_TLS_IN || c->kind == CONN_TLS_OUT;
    if (!p->msg.is_request) {
        if (from_tls) {
            response_from_peer(rl, c, p);
        } else if (c->kind == CONN_MIRROR) {
            struct conn *t = conn_get(&rl->conn->conns, c->partner);
            if (!t) {
                drop(rl, M_DROP_PEER_GONE, c, "the TLS connection closed");
                return;
            }
            if (!conn_send(rl->conn, t, p->buf, p->len)) {
                drop(rl, M_DROP_BUFFER_FULL, c, "TLS connection cannot take more");
                return;
            }
            metrics_relayed(rl->metrics, M_MSG_TO_PEER_RESPONSE, M_BYTES_TO_PEER, p->len);
            conn_throttle(rl->conn, c, t);
        } else {
            drop(rl, M_DROP_RESPONSE_ON_EGRESS, c,
                 "a response on egress: reusegw never sends requests there");
        }
        return;
    }
    unsigned max_forwards = 0;
    bool has_max_forwards = false;
    if (sip_max_forwards(&p->msg, &max_forwards, &has_max_forwards) == SIP_OK && has_max_forwards &&
        max_forwards == 0 && !is_method(&p->msg, "ACK")) {
        answer(rl, c, p, 483, "Too Many Hops", NULL, M_ANSWER_TOO_MANY_HOPS);
        return;
    }
    if (from_tls) {
        alias_consider(rl, c, &p->via);
        struct conn *m = conn_mirror(rl->conn, c);
        if (!m) {
            if (!is_method(&p->msg, "ACK"))
                answer(rl, c, p, 503, "Service Unavailable", "legacy proxy unreachable",
                       M_503_OTHER);
            return;
        }
        if (!conn_send(rl->conn, m, p->buf, p->len)) {
            drop(rl, M_DROP_BUFFER_FULL, c, "mirror cannot take more");
            return;
        }
        metrics_relayed(rl->metrics, M_MSG_TO_LEGACY_REQUEST, M_BYTES_TO_LEGACY, p->len);
        conn_throttle(rl->conn, c, m);
        return;
    }
    request_from_legacy(rl, c, p);
}

/* index_behind_stand_in indexes the header lines of request |p|, whose
 * start line failed to parse (so none were indexed), behind a stand-in start
 * line in the worker's scratch buffer: the 400 must copy Via, From, To,
 * Call-ID and CSeq (RFC 3261 §8.2.6.2) or its sender cannot match it. */
static void index_behind_stand_in(struct relay_layer *rl, struct parsed *p)
{
    static const char stand_in[] = "OPTIONS sip:invalid SIP/2.0\r\n";
    const char *eol = memmem(p->buf, p->len, "\r\n", 2);
    if (!eol)
        return;
    size_t rest = p->len - (size_t)(eol + 2 - p->buf);
    size_t n = sizeof(stand_in) - 1;
    if (n + rest > rl->conn->scratch_size)
        return;
    memcpy(rl->conn->scratch, stand_in, n);
    memcpy(rl->conn->scratch + n, eol + 2, rest);
    sip_parse(rl->conn->scratch, n + rest, &p->msg, p->headers, MAX_HEADERS);
}

/* parse fills |p| for |msg|; on a syntax error it answers a request that
 * can be answered with 400 and the reason, and returns false. */
static bool parse(struct relay_layer *rl, struct conn *c, const char *msg, size_t len,
                  struct parsed *p)
{
    p->buf = msg;
    p->len = len;
    struct sip_cseq cseq;
    enum sip_err err = sip_parse(msg, len, &p->msg, p->headers, MAX_HEADERS);
    if (!err)
        err = sip_check_version(&p->msg);
    if (!err)
        err = sip_check_required(&p->msg, false);
    if (!err)
        err = sip_check_single(&p->msg);
    if (!err)
        err = sip_check_cseq(&p->msg, &cseq);
    if (!err)
        err = sip_via_parse_first(&p->msg, &p->via, NULL, 0);
    if (!err)
        return true;
    /* Warn, rate-limited: a peer or the legacy proxy sending broken SIP is
     * an interop or abuse problem an operator must hear of. */
    LOG_RATELIMITED(LOG_WARN, "malformed SIP message", LF_STR("conn", conn_kind_name(c)),
                    LF_STR("reason", sip_err_text(err)));
    metrics_inc(rl->metrics, metrics_parse_error_id(err));
    if (p->msg.is_request && !is_method(&p->msg, "ACK")) {
        if (p->msg.nheaders == 0)
            index_behind_stand_in(rl, p);
        answer_error(rl, c, p, err);
    } else {
        drop(rl, M_DROP_MALFORMED, c, sip_err_text(err));
    }
    return false;
}

/* relay_message is the conn_events message callback: one framed message
 * |msg| (|len| bytes) that arrived on |c|. May close |c|. */
static void relay_message(void *ctx, struct conn *c, const char *msg, size_t len)
{
    struct relay_layer *rl = ctx;
    struct parsed p; /* bounded: MAX_HEADERS entries, on the stack */
    if (parse(rl, c, msg, len, &p))
        relay_parsed(rl, c, &p);
}

/* relay_framing_error is the conn_events framing_error callback: it
 * answers the request at the start of |buf| (|len| bytes, its stream
 * unframeable for |err|) with a 400 naming the reason when its header
 * section is complete enough to build one. The caller closes |c|. */
static void relay_framing_error(void *ctx, struct conn *c, const char *buf, size_t len,
                                enum sip_err err)
{
    struct relay_layer *rl = ctx;
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return;
    struct parsed p;
    p.buf = buf;
    p.len = (size_t)(end + 4 - buf);
    /* The framing rule that failed (Content-Length) may fail the parse too;
     * what matters is that the headers a response copies were indexed. */
    sip_parse(buf, p.len, &p.msg, p.headers, MAX_HEADERS);
    if (!p.msg.is_request || is_method(&p.msg, "ACK"))
        return;
    answer_error(rl, c, &p, err);
}

/* relay_dial_failed is the conn_events dial_failed callback: it answers
 * every request held on |c|, an outbound TLS connection or a mirror that
 * could not be opened, with a 503 carrying |why| (ACKs are dropped):
 * towards the legacy proxy like any peer response, or to the mirror's TLS
 * peer. |c| is closed by the caller afterwards. */
static void relay_dial_failed(void *ctx, struct conn *c, const char *why)
{
    struct relay_layer *rl = ctx;
    char buf[8192];
    LOG_RATELIMITED(LOG_WARN, "connection failed; answering held requests with 503",
                    LF_STR("conn", conn_kind_name(c)), LF_STR("domain", c->domain),
                    LF_STR("reason", why));
    size_t n;
    while ((n = conn_held_next(rl->conn, c, rl->conn->scratch, rl->conn->scratch_size)) > 0) {
        struct parsed p;
        p.buf = rl->conn->scratch;
        p.len = n;
        if (sip_parse(rl->conn->scratch, n, &p.msg, p.headers, MAX_HEADERS) != SIP_OK ||
            !p.msg.is_request || sip_via_parse_first(&p.msg, &p.via, NULL, 0) != SIP_OK ||
            is_method(&p.msg, "ACK"))
            continue;
        size_t rn = build_answer(rl, &p, 503, NULL, why, buf, sizeof(buf));
        if (rn == 0)
            continue;
        if (c->kind == CONN_MIRROR) {
            /* A peer's request the legacy proxy never got: answer the peer. */
            struct conn *t = conn_get(&rl->conn->conns, c->partner);
            if (t && conn_send(rl->conn, t, buf, rn))
                metrics_inc(rl->metrics, M_503_OTHER);
            continue;
        }
        /* The 503 carries the rewritten Via: route it like a peer's response
         * so the legacy proxy gets its own Via back. */
        struct parsed r;
        r.buf = buf;
        r.len = rn;
        if (sip_parse(buf, rn, &r.msg, r.headers, MAX_HEADERS) == SIP_OK &&
            sip_via_parse_first(&r.msg, &r.via, NULL, 0) == SIP_OK) {
            metrics_inc(rl->metrics, M_503_OTHER);
            response_from_peer(rl, c, &r);
        }
    }
}

/* parse_handed indexes |len| bytes another worker handed over; it parsed
 * them once already, so a failure here is a bug, counted as malformed. */
static bool parse_handed(struct parsed *p, const char *buf, size_t len)
{
    p->buf = buf;
    p->len = len;
    return sip_parse(buf, len, &p->msg, p->headers, MAX_HEADERS) == SIP_OK &&
           sip_via_parse_first(&p->msg, &p->via, NULL, 0) == SIP_OK;
}

/* bounce answers a handed-over request that cannot leave on this worker
 * with a 503 naming |why|, counted in |series| (M_503_*) and sent back like
 * a peer's response so that the worker of its legacy connection restores
 * the Via. An ACK is dropped. */
static void bounce(struct relay_layer *rl, const struct handoff_msg *msg, const char *bytes,
                   const char *why, enum metric_id series)
{
    struct parsed p;
    if (msg->is_ack || !parse_handed(&p, bytes, msg->len)) {
        drop_from(rl, M_DROP_PEER_GONE, "hand-off", why);
        return;
    }
    char buf[8192];
    size_t n = build_answer(rl, &p, 503, NULL, why, buf, sizeof(buf));
    struct handoff_msg r = {.kind = HANDOFF_RESPONSE, .legacy = msg->legacy};
    if (n > 0 && post(rl, msg->from, &r, buf, n))
        metrics_inc(rl->metrics, series);
}

/* still_established asks the kernel whether open connection |c| is still
 * established: a reset or FIN the loop has not delivered yet shows there
 * first. One getsockopt, on the hand-off path only: a worker's own requests
 * meet the connection's end in its event order, a handed one arrives from
 * another thread in no order with it, and is better routed again than lost
 * on a dead connection. */
static bool still_established(const struct conn *c)
{
    uint8_t state = 0; /* tcpi_state, the first byte of struct tcp_info */
    socklen_t len = sizeof(state);
    return c->state != CONN_OPEN || (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &state, &len) == 0 &&
                                     state == TCP_ESTABLISHED);
}

/* request_handed sends a request another worker routed to this worker's
 * connection, keeping an entry that forwards its responses back. */
static void request_handed(struct relay_layer *rl, const struct handoff_msg *msg, const char *bytes)
{
    struct conn *t = conn_get(&rl->conn->conns, msg->tls);
    bool usable =
        t && (t->kind == CONN_TLS_IN || t->kind == CONN_TLS_OUT) && !t->peer_closed &&
        (t->state == CONN_CONNECTING || t->state == CONN_HANDSHAKE || t->state == CONN_OPEN) &&
        still_established(t);
    if (!usable) {
        /* Its row was still in the peer index when the sender looked: let
         * the sender route it again, as one worker would have. */
        struct handoff_msg back = *msg;
        back.kind = HANDOFF_REROUTE;
        if (msg->is_ack || !post(rl, msg->from, &back, bytes, msg->len))
            drop_from(rl, M_DROP_PEER_GONE, "hand-off", "peer connection is gone");
        return;
    }
    reuse_decided(rl->metrics, REUSE_REUSED, msg->domain, &t->key);
    struct pending *e = NULL;
    if (!msg->is_ack) {
        e = pending_add(&rl->pending, msg->branch, msg->branch_len, msg->method, "", 0,
                        rl->timers->now_ms);
        if (!e) {
            limits_hit(rl->metrics, LIMIT_MAX_PENDING_TRANSACTIONS);
            bounce(rl, msg, bytes, "too many pending transactions", M_503_PENDING_FULL);
            return;
        }
        e->legacy = msg->legacy;
        e->legacy_worker = msg->from;
        e->tls = msg->tls;
        e->tls_worker = (uint8_t)rl->id;
        e->tls_kind = t->kind;
        e->target = t->key;
    }
    if (conn_send(rl->conn, t, bytes, msg->len)) {
        metrics_relayed(rl->metrics, M_MSG_TO_PEER_REQUEST, M_BYTES_TO_PEER, msg->len);
        return;
    }
    if (e)
        pending_remove(&rl->pending, e);
    bounce(rl, msg, bytes, "peer connection congested", M_503_OTHER);
}

/* reroute_handed routes again, on this worker only, a request whose
 * connection on another worker had closed: the legacy proxy's Via (kept in
 * the pending entry) is put back, the entry dropped, and the request goes
 * through request_from_legacy as if it had just arrived. */
static void reroute_handed(struct relay_layer *rl, const struct handoff_msg *msg, const char *bytes)
{
    struct pending *e = pending_find(&rl->pending, msg->branch, msg->branch_len, msg->method);
    struct conn *legacy = e ? conn_get(&rl->conn->conns, e->legacy) : NULL;
    struct parsed p;
    if (!legacy || !parse_handed(&p, bytes, msg->len)) {
        drop_from(rl, M_DROP_PEER_GONE, "hand-off", "legacy connection or transaction gone");
        return;
    }
    struct sip_edit ed;
    sip_edit_init(&ed, &p.msg);
    size_t n = sip_edit_via_restore(&ed, &p.via, (struct sip_str){e->via, e->via_len}) == SIP_OK
                   ? emit(rl, &ed)
                   : 0;
    pending_remove(&rl->pending, e);
    if (n == 0) {
        drop_from(rl, M_DROP_MALFORMED, "hand-off", "cannot restore the Via to re-route");
        return;
    }
    memcpy(rl->reroute, rl->conn->scratch, n); /* routing rewrites into scratch */
    if (!parse_handed(&p, rl->reroute, n)) {
        drop_from(rl, M_DROP_MALFORMED, "hand-off", "restored request does not parse");
        return;
    }
    rl->local_only = true;
    request_from_legacy(rl, legacy, &p);
    rl->local_only = false;
}

void relay_handoff(struct relay_layer *rl, const struct handoff_msg *msg, const char *bytes)
{
    if (msg->kind == HANDOFF_REROUTE) {
        reroute_handed(rl, msg, bytes);
        return;
    }
    if (msg->kind == HANDOFF_REQUEST) {
        request_handed(rl, msg, bytes);
        return;
    }
    if (msg->kind == HANDOFF_UNALIAS) {
        alias_unalias(rl, msg->tls, &msg->target);
        return;
    }
    struct parsed p;
    if (!parse_handed(&p, bytes, msg->len)) {
        drop_from(rl, M_DROP_MALFORMED, "hand-off", "unparseable handed response");
        return;
    }
    struct peer_hit src = {
        .worker = msg->from, .kind = msg->tls_kind, .ref = msg->tls, .key = msg->target};
    deliver_response(rl, "hand-off", msg->open ? &src : NULL, &p);
}

int relay_layer_init(struct relay_layer *rl, const struct relay_layer_borrowed *b)
{
    memset(rl, 0, sizeof(*rl));
    rl->conn = b->conn;
    rl->metrics = b->metrics;
    rl->timers = b->timers;
    rl->id = b->id;
    rl->index = b->index;
    rl->mesh = b->mesh;
    rl->wake_ctx = b->wake_ctx;
    rl->wake = b->wake;
    relay_layer_install(rl, b->cfg);
    uint32_t max_pending = conn_share(rl->conn, rl->cfg->limits.max_pending_transactions);
    if (!pending_table_init(&rl->pending, max_pending, rl->timers, rl->metrics))
        return -ENOMEM;
    if (rl->mesh && !(rl->reroute = malloc(rl->conn->scratch_size)))
        return -ENOMEM;
    conn_layer_set_events(rl->conn, &(struct conn_events){.ctx = rl,
                                                          .message = relay_message,
                                                          .framing_error = relay_framing_error,
                                                          .dial_failed = relay_dial_failed});
    rl->dns = dns_routes_new(rl->conn, rl->cfg);
    return rl->dns ? 0 : -EINVAL;
}

void relay_layer_install(struct relay_layer *rl, struct cfg_snapshot *cfg)
{
    rl->cfg = cfg;
    rl->sent_by_len = cfg_hostport_format(&cfg->identity.sent_by, rl->sent_by, sizeof(rl->sent_by));
    const struct cfg_hostport *legacy[2] = {&cfg->legacy.forward_to, &cfg->legacy.listen};
    for (size_t i = 0; i < 2; i++)
        rl->legacy_name_lens[i] =
            cfg_hostport_format(legacy[i], rl->legacy_names[i], sizeof(rl->legacy_names[i]));
}

void relay_layer_free(struct relay_layer *rl)
{
    dns_routes_free(rl->dns);
    if (rl->pending.entries)
        pending_table_free(&rl->pending);
    free(rl->reroute);
    memset(rl, 0, sizeof(*rl));
}
