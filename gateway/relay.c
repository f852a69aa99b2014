/* relay: the DESIGN.md message-flow table, one function per row. */
#include "relay.h"

#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "alias.h"
#include "config/config.h"
#include "conn_io.h"
#include "dns_route.h"
#include "log.h"
#include "reuse_decision.h"
#include "route.h"
#include "sip/check.h"
#include "sip/edit.h"
#include "sip/message.h"
#include "sip/response.h"
#include "sip/via.h"
#include "transparent.h"

enum { MAX_HEADERS = 256 };

/* A parsed message and the top Via every flow needs. */
struct parsed {
    const char *buf;
    size_t len;
    struct sip_msg msg;
    struct sip_via via;
    struct sip_header headers[MAX_HEADERS];
};

/* drop counts a message reusegw discards in |counter| and logs why,
 * rate-limited. Debug, not info: nothing is logged per message at info, and
 * every drop reason has its series in reusegw_dropped_messages_total. */
static void drop(uint64_t *counter, const struct conn *c, const char *why)
{
    (*counter)++;
    LOG_RATELIMITED(LOG_DEBUG, "dropping message", LF_STR("from", conn_kind_name(c)),
                    LF_STR("why", why));
}

/* build_answer writes the response reusegw originates for request |p|
 * (|reason| NULL: the standard phrase), with a Warning naming |why| when not
 * NULL, into |out|; returns its length or 0. */
static size_t build_answer(struct worker *w, const struct parsed *p, unsigned status,
                           const char *reason, const char *why, char *out, size_t cap)
{
    const char *agent = w->sent_by;
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

/* answer sends build_answer's response back on |c| and counts it. */
static void answer(struct worker *w, struct conn *c, const struct parsed *p, unsigned status,
                   const char *reason, const char *why)
{
    char out[8192];
    size_t n = build_answer(w, p, status, reason, why, out, sizeof(out));
    if (n == 0 || !conn_send(w, c, out, n)) {
        drop(&w->counters.dropped_buffer_full, c, "cannot queue reusegw's own answer");
        return;
    }
    if (status == 483)
        w->counters.answered_483++;
    else if (status == 503)
        w->counters.answered_503++;
    else
        w->counters.answered_400++; /* 400, or 505/513 for the same causes */
}

/* answer_error answers a request that failed a syntax rule: 400 (505, 513)
 * with the reason text of sip/error.h in the reason phrase. */
static void answer_error(struct worker *w, struct conn *c, const struct parsed *p, enum sip_err err)
{
    unsigned status = sip_err_status(err);
    char reason[96];
    snprintf(reason, sizeof(reason), "%s (%s)", sip_status_phrase(status), sip_err_text(err));
    answer(w, c, p, status, reason, NULL);
}

static bool is_method(const struct sip_msg *m, const char *name)
{
    size_t n = strlen(name);
    return m->method.len == n && memcmp(m->method.p, name, n) == 0;
}

/* emit flattens an edit session into the worker's scratch buffer (one TLS
 * write per message) and returns its length, or 0 when it does not fit. */
static size_t emit(struct worker *w, const struct sip_edit *ed)
{
    struct iovec iov[SIP_EDIT_MAX_IOV];
    size_t niov = 0, total = 0;
    if (sip_edit_iov(ed, iov, SIP_EDIT_MAX_IOV, &niov, &total) != SIP_OK || total > w->scratch_size)
        return 0;
    size_t off = 0;
    for (size_t i = 0; i < niov; i++) {
        memcpy(w->scratch + off, iov[i].iov_base, iov[i].iov_len);
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
static size_t rewrite_request(struct worker *w, const struct parsed *p, const struct conn *to,
                              bool pop_route)
{
    bool alias = w->cfg->reuse.request_alias && to->kind == CONN_TLS_OUT;
    struct sip_edit ed;
    sip_edit_init(&ed, &p->msg);
    if ((pop_route && sip_edit_pop_route(&ed) != SIP_OK) ||
        sip_edit_via_client(&ed, &p->via, (struct sip_str){w->sent_by, w->sent_by_len}, alias) !=
            SIP_OK ||
        (p->via.alias && !alias && drop_alias(&ed, &p->via) != SIP_OK))
        return 0;
    return emit(w, &ed);
}

/* forward_request sends a legacy-proxy request |p| (arrived on |from|, the
 * E or mirror connection responses go back to) to TLS connection |to|, with
 * the client-role rewrite and a pending entry. */
static void forward_request(struct worker *w, struct conn *from, struct conn *to,
                            const struct parsed *p, const struct sip_header *drop_route,
                            const struct sip_str domain)
{
    bool is_ack = is_method(&p->msg, "ACK");
    struct pending *e = NULL;
    if (!is_ack) {
        enum pending_method pm = pending_method_of(p->msg.method.p, p->msg.method.len);
        e = pending_add(&w->pending, p->via.branch.p, p->via.branch.len, pm, p->via.parm.p,
                        p->via.parm.len, w->now_ms);
        if (!e) {
            w->counters.refused_pending_full++;
            LOG_RATELIMITED(LOG_WARN, "cannot track transaction; answering 503",
                            LF_UINT("pending", w->pending.used));
            answer(w, from, p, 503, "Service Unavailable",
                   "too many pending transactions or oversized Via");
            return;
        }
        e->legacy = conn_ref_of(&w->conns, from);
        e->tls = conn_ref_of(&w->conns, to);
        e->target = to->key;
        size_t n = domain.len < sizeof(e->domain) ? domain.len : sizeof(e->domain) - 1;
        memcpy(e->domain, domain.p, n);
        e->domain[n] = 0;
    }
    size_t n = rewrite_request(w, p, to, drop_route != NULL);
    bool sent = n > 0 && conn_send(w, to, w->scratch, n);
    if (sent) {
        w->counters.requests_relayed++;
        metrics_relayed(&w->metrics, M_MSG_TO_PEER_REQUEST, M_BYTES_TO_PEER, n);
        conn_throttle(w, from, to);
        return;
    }
    if (e)
        pending_remove(&w->pending, e); /* never sent: nothing will answer it */
    if (is_ack)
        drop(&w->counters.dropped_buffer_full, from, "peer connection cannot take the ACK");
    else if (n == 0)
        answer(w, from, p, 400, NULL, "message too large after Via rewrite");
    else
        answer(w, from, p, 503, NULL, "peer connection congested");
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
 * order, else a new dial with failover (DESIGN.md routing step 3). */
static struct conn *pick_connection(struct worker *w, const struct route_plan *plan,
                                    const char **why)
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
        struct conn *c = conn_index_find(&w->conns, &key, domain);
        if (c) {
            reuse_decided(w, REUSE_REUSED, domain, &key);
            return c;
        }
        if (!first.family)
            first = key;
        if (miss == REUSE_NO_ROW)
            miss = conn_index_miss(&w->conns, &key);
    }
    reuse_decided(w, miss, domain, &first);
    return conn_dial(w, w->cfg, domain, plan->targets, plan->n_targets, 0, why);
}

/* from_legacy handles a request from the legacy proxy on E (routed) or on
 * a mirror (goes to its TLS connection). */
static void request_from_legacy(struct worker *w, struct conn *c, struct parsed *p)
{
    bool is_ack = is_method(&p->msg, "ACK");
    if (p->via.branch.len == 0) {
        if (!is_ack)
            answer(w, c, p, 400, "Bad Request", "top Via has no branch");
        return;
    }
    if (c->kind == CONN_MIRROR) {
        struct conn *t = conn_get(&w->conns, c->partner);
        if (!t || t->peer_closed) {
            reuse_decided(w, REUSE_CONNECTION_GONE, t ? t->domain : NULL, NULL);
            if (!is_ack)
                answer(w, c, p, 503, "Service Unavailable", "peer connection is gone");
            return;
        }
        forward_request(w, c, t, p, NULL, (struct sip_str){t->domain, strlen(t->domain)});
        return;
    }
    /* CANCEL and non-2xx ACK follow their INVITE (R-5923-13). */
    struct conn_key bound = {0};
    if (is_ack || is_method(&p->msg, "CANCEL")) {
        struct pending *inv =
            pending_find(&w->pending, p->via.branch.p, p->via.branch.len, PENDING_INVITE);
        struct conn *t = inv ? conn_get(&w->conns, inv->tls) : NULL;
        if (inv && (!t || t->state == CONN_CLOSING || t->state == CONN_DEAD))
            t = conn_index_find(&w->conns, &inv->target, inv->domain); /* same address */
        if (t && t->state != CONN_CLOSING && t->state != CONN_DEAD) {
            reuse_decided(w, REUSE_REUSED, inv->domain, &inv->target);
            forward_request(w, c, t, p, NULL, (struct sip_str){inv->domain, strlen(inv->domain)});
            return;
        }
        if (inv) {
            reuse_decided(w, REUSE_CONNECTION_GONE, inv->domain, &inv->target);
            bound = inv->target;
        }
    }
    struct route_plan plan;
    route_plan(w->cfg, &p->msg, &plan);
    struct cfg_hostport original;
    if (c->original_dst.family)
        transparent_plan(&plan, &c->original_dst, &original);
    if (plan.verdict == ROUTE_DNS && !dns_routes_plan(w, c, p->buf, p->len, is_ack, &plan))
        return; /* waiting for DNS: relay_message sees it again with the answer */
    if (plan.verdict == ROUTE_OK && bound.family)
        narrow_to(&plan, &bound);
    const char *why = plan.why;
    struct conn *t = plan.verdict == ROUTE_OK ? pick_connection(w, &plan, &why) : NULL;
    if (t && t->targets == &original) {
        /* The kernel named one destination: nothing to fail over to, and
         * |original| dies with this call. */
        t->targets = NULL;
        t->n_targets = 0;
    }
    if (!t) {
        /* Per message, and counted in reusegw_503_sent_total: debug. */
        LOG_RATELIMITED(LOG_DEBUG, "cannot route request", LF_STR("reason", why));
        if (is_ack)
            drop(&w->counters.dropped_ack_unroutable, c, why);
        else
            answer(w, c, p, 503, "Service Unavailable", why);
        return;
    }
    forward_request(w, c, t, p, plan.self_route, plan.domain);
}

/* response_from_peer restores the legacy proxy's Via and sends the response
 * to the connection its transaction came from. |from| is the connection it
 * arrived on; when that is an open TLS connection the transaction lives
 * there now, whatever connection it was first handed to (failover). */
static void response_from_peer(struct worker *w, const struct conn *from, const struct parsed *p)
{
    struct sip_cseq cseq;
    if (sip_check_cseq(&p->msg, &cseq) != SIP_OK) {
        drop(&w->counters.dropped_malformed, from, "response without a valid CSeq");
        return;
    }
    enum pending_method pm = pending_method_of(cseq.method.p, cseq.method.len);
    struct pending *e = pending_find(&w->pending, p->via.branch.p, p->via.branch.len, pm);
    struct conn *legacy = e ? conn_get(&w->conns, e->legacy) : NULL;
    if (!e) {
        drop(&w->counters.dropped_unknown_branch, from, "response to an unknown transaction");
        return;
    }
    if (!legacy) {
        drop(&w->counters.dropped_peer_gone, from, "the legacy connection of this response closed");
        return;
    }
    if (from->state == CONN_OPEN) {
        e->tls = conn_ref_of(&w->conns, from);
        if (from->key.family)
            e->target = from->key;
    }
    struct sip_edit ed;
    sip_edit_init(&ed, &p->msg);
    size_t n = sip_edit_via_restore(&ed, &p->via, (struct sip_str){e->via, e->via_len}) == SIP_OK
                   ? emit(w, &ed)
                   : 0;
    pending_on_response(&w->pending, e, p->msg.status, w->now_ms); /* may free |e| */
    if (n == 0 || !conn_send(w, legacy, w->scratch, n)) {
        drop(&w->counters.dropped_buffer_full, from, "legacy connection cannot take the response");
        return;
    }
    w->counters.responses_relayed++;
    metrics_relayed(&w->metrics, M_MSG_TO_LEGACY_RESPONSE, M_BYTES_TO_LEGACY, n);
}

/* names_legacy is true when |value| mentions legacy.forward_to or
 * legacy.listen as "host:port". */
static bool names_legacy(const struct worker *w, struct sip_str value)
{
    for (size_t i = 0; i < 2; i++)
        if (memmem(value.p, value.len, w->legacy_names[i], w->legacy_name_lens[i]))
            return true;
    return false;
}

/* warn_legacy_leak warns (DESIGN.md "Dialogs and Record-Route") when a
 * message leaving for a TLS peer carries a Record-Route or Contact naming
 * reusegw's internal legacy addresses: the peer could never reach them. */
static void warn_legacy_leak(struct worker *w, const struct sip_msg *m)
{
    static const enum sip_hdr kinds[] = {SIP_HDR_RECORD_ROUTE, SIP_HDR_CONTACT};
    for (size_t k = 0; k < 2; k++)
        for (const struct sip_header *h = sip_msg_header(m, kinds[k]); h; h = sip_msg_next(m, h))
            if (names_legacy(w, h->value)) {
                w->counters.legacy_address_leaks++;
                LOG_RATELIMITED(LOG_WARN,
                                "legacy proxy advertises an internal address to a TLS peer; "
                                "set its advertised address to identity.sent_by",
                                LF_STR("header", sip_hdr_name(kinds[k])));
                return;
            }
}

static void relay_parsed(struct worker *w, struct conn *c, struct parsed *p)
{
    if (c->kind == CONN_MIRROR || c->kind == CONN_EGRESS)
        warn_legacy_leak(w, &p->msg);
    bool from_tls = c->kind == CONN_TLS_IN || c->kind == CONN_TLS_OUT;
    if (!p->msg.is_request) {
        if (from_tls) {
            response_from_peer(w, c, p);
        } else if (c->kind == CONN_MIRROR) {
            struct conn *t = conn_get(&w->conns, c->partner);
            if (!t) {
                drop(&w->counters.dropped_peer_gone, c, "the TLS connection closed");
                return;
            }
            if (!conn_send(w, t, p->buf, p->len)) {
                drop(&w->counters.dropped_buffer_full, c, "TLS connection cannot take more");
                return;
            }
            w->counters.responses_relayed++;
            metrics_relayed(&w->metrics, M_MSG_TO_PEER_RESPONSE, M_BYTES_TO_PEER, p->len);
            conn_throttle(w, c, t);
        } else {
            drop(&w->counters.dropped_response_on_egress, c,
                 "a response on egress: reusegw never sends requests there");
        }
        return;
    }
    unsigned max_forwards = 0;
    bool has_max_forwards = false;
    if (sip_max_forwards(&p->msg, &max_forwards, &has_max_forwards) == SIP_OK && has_max_forwards &&
        max_forwards == 0 && !is_method(&p->msg, "ACK")) {
        answer(w, c, p, 483, "Too Many Hops", NULL);
        return;
    }
    if (from_tls) {
        alias_consider(w, c, &p->via);
        struct conn *m = conn_mirror(w, c);
        if (!m) {
            if (!is_method(&p->msg, "ACK"))
                answer(w, c, p, 503, "Service Unavailable", "legacy proxy unreachable");
            return;
        }
        if (!conn_send(w, m, p->buf, p->len)) {
            drop(&w->counters.dropped_buffer_full, c, "mirror cannot take more");
            return;
        }
        w->counters.requests_relayed++;
        metrics_relayed(&w->metrics, M_MSG_TO_LEGACY_REQUEST, M_BYTES_TO_LEGACY, p->len);
        conn_throttle(w, c, m);
        return;
    }
    request_from_legacy(w, c, p);
}

/* index_behind_stand_in indexes the header lines of request |p|, whose
 * start line failed to parse (so none were indexed), behind a stand-in start
 * line in the worker's scratch buffer: the 400 must copy Via, From, To,
 * Call-ID and CSeq (RFC 3261 §8.2.6.2) or its sender cannot match it. */
static void index_behind_stand_in(struct worker *w, struct parsed *p)
{
    static const char stand_in[] = "OPTIONS sip:invalid SIP/2.0\r\n";
    const char *eol = memmem(p->buf, p->len, "\r\n", 2);
    if (!eol)
        return;
    size_t rest = p->len - (size_t)(eol + 2 - p->buf);
    size_t n = sizeof(stand_in) - 1;
    if (n + rest > w->scratch_size)
        return;
    memcpy(w->scratch, stand_in, n);
    memcpy(w->scratch + n, eol + 2, rest);
    sip_parse(w->scratch, n + rest, &p->msg, p->headers, MAX_HEADERS);
}

/* parse fills |p| for |msg|; on a syntax error it answers a request that
 * can be answered with 400 and the reason, and returns false. */
static bool parse(struct worker *w, struct conn *c, const char *msg, size_t len, struct parsed *p)
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
    metrics_inc(&w->metrics, metrics_parse_error_id(err));
    if (p->msg.is_request && !is_method(&p->msg, "ACK")) {
        if (p->msg.nheaders == 0)
            index_behind_stand_in(w, p);
        answer_error(w, c, p, err);
    } else {
        drop(&w->counters.dropped_malformed, c, sip_err_text(err));
    }
    return false;
}

void relay_message(struct worker *w, struct conn *c, const char *msg, size_t len)
{
    struct parsed p; /* bounded: MAX_HEADERS entries, on the stack */
    if (parse(w, c, msg, len, &p))
        relay_parsed(w, c, &p);
}

void relay_framing_error(struct worker *w, struct conn *c, const char *buf, size_t len,
                         enum sip_err err)
{
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
    answer_error(w, c, &p, err);
}

void relay_dial_failed(struct worker *w, struct conn *c, const char *why)
{
    char buf[8192];
    LOG_RATELIMITED(LOG_WARN, "connection failed; answering held requests with 503",
                    LF_STR("conn", conn_kind_name(c)), LF_STR("domain", c->domain),
                    LF_STR("reason", why));
    size_t n;
    while ((n = conn_held_next(w, c, w->scratch, w->scratch_size)) > 0) {
        struct parsed p;
        p.buf = w->scratch;
        p.len = n;
        if (sip_parse(w->scratch, n, &p.msg, p.headers, MAX_HEADERS) != SIP_OK ||
            !p.msg.is_request || sip_via_parse_first(&p.msg, &p.via, NULL, 0) != SIP_OK ||
            is_method(&p.msg, "ACK"))
            continue;
        size_t rn = build_answer(w, &p, 503, NULL, why, buf, sizeof(buf));
        if (rn == 0)
            continue;
        if (c->kind == CONN_MIRROR) {
            /* A peer's request the legacy proxy never got: answer the peer. */
            struct conn *t = conn_get(&w->conns, c->partner);
            if (t && conn_send(w, t, buf, rn))
                w->counters.answered_503++;
            continue;
        }
        /* The 503 carries the rewritten Via: route it like a peer's response
         * so the legacy proxy gets its own Via back. */
        struct parsed r;
        r.buf = buf;
        r.len = rn;
        if (sip_parse(buf, rn, &r.msg, r.headers, MAX_HEADERS) == SIP_OK &&
            sip_via_parse_first(&r.msg, &r.via, NULL, 0) == SIP_OK) {
            w->counters.answered_503++;
            response_from_peer(w, c, &r);
        }
    }
}
