/* udp_legacy: reusegw's own Via, the reply address, and the memory of the
 * legacy proxy's server transactions over UDP. */
#include "relay/udp_legacy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/addr.h"
#include "conn/conn.h"
#include "conn/conn_udp.h"
#include "core/log.h"
#include "relay/answer.h"
#include "relay/pending.h"
#include "relay/relay_internal.h"
#include "sip/edit.h"
#include "sip/header.h"

/* Our branch: the RFC 3261 magic cookie, a mark, then slot and generation
 * of the TLS connection (8 hex digits each) and a 64-bit hash of the
 * peer's branch (16): the response names its connection, and a response
 * for a reused slot or another transaction does not match. */
static const char MAGIC[] = "z9hG4bKrgw.";
enum { MAGIC_LEN = sizeof(MAGIC) - 1, BRANCH_LEN = MAGIC_LEN + 8 + 8 + 16 };

static uint64_t branch_hash(struct sip_str b)
{
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < b.len; i++)
        h = (h ^ (uint8_t)b.p[i]) * 1099511628211u;
    return h;
}

/* sent_by is this worker's forward socket as Via text, formatted once. */
static struct sip_str sent_by(struct relay_layer *rl, const struct conn *u)
{
    if (rl->udp_sent_by_len == 0) {
        addr_format(&u->local, rl->udp_sent_by, sizeof(rl->udp_sent_by));
        rl->udp_sent_by_len = strlen(rl->udp_sent_by);
    }
    return (struct sip_str){rl->udp_sent_by, rl->udp_sent_by_len};
}

void udp_request_to_legacy(struct relay_layer *rl, struct conn *t, struct conn *u,
                           const struct parsed *p)
{
    struct conn_ref ref = conn_ref_of(&rl->conn->conns, t);
    struct sip_str by = sent_by(rl, u);
    char via[160];
    int vl = snprintf(via, sizeof(via), "Via: SIP/2.0/UDP %.*s;branch=%s%08x%08x%016llx;rport\r\n",
                      (int)by.len, by.p, MAGIC, ref.slot, ref.gen,
                      (unsigned long long)branch_hash(p->via.branch));
    struct sip_edit ed;
    sip_edit_init(&ed, &p->msg);
    size_t n = vl > 0 && (size_t)vl < sizeof(via) &&
                       sip_edit_prepend_header(&ed, (struct sip_str){via, (size_t)vl}) == SIP_OK
                   ? relay_emit(rl, &ed)
                   : 0;
    bool ack = relay_is_method(&p->msg, "ACK");
    if (n > CONN_UDP_MAX_PAYLOAD || n == 0) {
        /* RFC 3261 18.1.1 would switch to TCP; this legacy side has none. */
        if (ack) {
            relay_drop(rl, M_DROP_UDP_TOO_LARGE, t, "ACK too large for a datagram");
            return;
        }
        metrics_inc(rl->metrics, M_UDP_513_SENT);
        answer_send(rl, t, p, 513, "Message Too Large",
                    "too large for one UDP datagram to the legacy proxy", M_ANSWER_BAD_REQUEST);
        return;
    }
    if (conn_udp_send(rl->conn, u, (const struct sockaddr *)&rl->udp_to, rl->udp_to_len,
                      rl->conn->scratch, n))
        metrics_relayed(rl->metrics, M_MSG_TO_LEGACY_REQUEST, M_BYTES_TO_LEGACY, n);
    else
        relay_drop(rl, M_DROP_BUFFER_FULL, t, "udp send to the legacy proxy failed");
}

/* hex_u64 reads |n| hex digits at |s|; false on any other byte. */
static bool hex_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        unsigned d = ch >= '0' && ch <= '9'   ? (unsigned)(ch - '0')
                     : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                                              : 16u;
        if (d == 16)
            return false;
        v = v << 4 | d;
    }
    *out = v;
    return true;
}

/* second_branch is the branch of the via-parm below the top one: the
 * peer's. Empty when there is none. */
static struct sip_str second_branch(const struct parsed *p, const struct sip_header **top_h,
                                    struct sip_str *top)
{
    const struct sip_header *h = sip_msg_header(&p->msg, SIP_HDR_VIA);
    struct sip_str rest = h->value, item;
    *top_h = h;
    if (!sip_list_next(&rest, top))
        return (struct sip_str){0};
    if (!sip_list_next(&rest, &item)) {
        const struct sip_header *next = sip_msg_next(&p->msg, h);
        if (!next)
            return (struct sip_str){0};
        rest = next->value;
        if (!sip_list_next(&rest, &item))
            return (struct sip_str){0};
    }
    struct sip_via v;
    return sip_via_parse(item, &v, NULL, 0) == SIP_OK ? v.branch : (struct sip_str){0};
}

void udp_response_from_legacy(struct relay_layer *rl, struct conn *u, const struct parsed *p)
{
    struct sip_str b = p->via.branch;
    uint64_t slot, gen, hash;
    if (b.len != BRANCH_LEN || memcmp(b.p, MAGIC, MAGIC_LEN) != 0 ||
        !hex_u64(b.p + MAGIC_LEN, 8, &slot) || !hex_u64(b.p + MAGIC_LEN + 8, 8, &gen) ||
        !hex_u64(b.p + MAGIC_LEN + 16, 16, &hash)) {
        relay_drop(rl, M_DROP_UDP_NOT_OURS, u, "a response whose top Via is not reusegw's");
        LOG_RATELIMITED(LOG_WARN, "dropping a udp response whose top Via is not reusegw's");
        return;
    }
    const struct sip_header *top_h;
    struct sip_str top;
    struct sip_str peer_branch = second_branch(p, &top_h, &top);
    struct conn *t =
        conn_get(&rl->conn->conns, (struct conn_ref){.slot = (uint32_t)slot, .gen = (uint32_t)gen});
    if (!t || (t->kind != CONN_TLS_IN && t->kind != CONN_TLS_OUT) ||
        branch_hash(peer_branch) != hash) {
        relay_drop(rl, M_DROP_UDP_NOT_OURS, u, "the TLS connection of this response is gone");
        LOG_RATELIMITED(LOG_INFO, "dropping a udp response: its TLS connection is gone");
        return;
    }
    struct sip_edit ed;
    sip_edit_init(&ed, &p->msg);
    size_t n = sip_edit_drop_value(&ed, top_h, top) == SIP_OK &&
                       (p->msg.has_content_length ||
                        sip_edit_content_length(&ed, p->msg.body.len) == SIP_OK)
                   ? relay_emit(rl, &ed)
                   : 0;
    if (n == 0 ||
        !relay_send(rl, u, t, rl->conn->scratch, n, M_MSG_TO_PEER_RESPONSE, M_BYTES_TO_PEER))
        relay_drop(rl, M_DROP_BUFFER_FULL, u, "TLS connection cannot take more");
}

void udp_track(struct pending *e, const struct conn *u)
{
    e->unreliable = true;
    size_t n = u->peer_len < sizeof(e->reply) ? u->peer_len : sizeof(e->reply);
    memcpy(&e->reply, &u->peer, n);
}

static socklen_t reply_len(const struct pending *e)
{
    return e->reply.v4.sin_family == AF_INET6 ? sizeof(e->reply.v6) : sizeof(e->reply.v4);
}

/* keep makes |msg| the last response of |e|; without room it keeps none
 * (a retransmission is then absorbed unanswered). */
static void keep(struct relay_layer *rl, struct pending *e, const char *msg, size_t len)
{
    buf_queue_clear(&e->last, &rl->conn->out_pool);
    buf_queue_append(&e->last, &rl->conn->out_pool, msg, len);
}

bool udp_response_to_legacy(struct relay_layer *rl, struct conn *u, struct pending *e,
                            const char *msg, size_t len)
{
    if (len > CONN_UDP_MAX_PAYLOAD) {
        relay_drop(rl, M_DROP_UDP_TOO_LARGE, u, "response too large for one datagram");
        return true; /* counted here */
    }
    if (!conn_udp_send(rl->conn, u, (const struct sockaddr *)&e->reply, reply_len(e), msg, len))
        return false;
    metrics_relayed(rl->metrics, M_MSG_TO_LEGACY_RESPONSE, M_BYTES_TO_LEGACY, len);
    keep(rl, e, msg, len);
    return true;
}

/* resend sends the last response of |e| again. */
static void resend(struct relay_layer *rl, struct conn *u, struct pending *e)
{
    size_t n = 0; /* the queue's blocks, copied out into one datagram */
    for (const struct buf_block *b = e->last.head; b; b = b->next) {
        size_t take = b->tail - b->head;
        if (n + take > rl->conn->scratch_size)
            return;
        memcpy(rl->conn->scratch + n, b->data + b->head, take);
        n += take;
    }
    if (n > 0 && conn_udp_send(rl->conn, u, (const struct sockaddr *)&e->reply, reply_len(e),
                               rl->conn->scratch, n))
        metrics_relayed(rl->metrics, M_MSG_TO_LEGACY_RESPONSE, M_BYTES_TO_LEGACY, n);
}

void udp_reply_to(struct conn *u, const struct sip_via *via)
{
    /* RFC 3261 18.2.2 with RFC 3581: the source address (what `received`
     * would say), and the source port when the Via asks with `rport`,
     * else its sent-by port. */
    if (via->has_rport)
        return;
    uint16_t port = htons(sip_via_port(via));
    if (u->peer.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&u->peer)->sin6_port = port;
    else
        ((struct sockaddr_in *)&u->peer)->sin_port = port;
}

bool udp_request_absorbed(struct relay_layer *rl, struct conn *u, const struct parsed *p)
{
    bool ack = relay_is_method(&p->msg, "ACK");
    enum pending_method pm =
        ack ? PENDING_INVITE : pending_method_of(p->msg.method.p, p->msg.method.len);
    struct pending *e = pending_find(&rl->pending, p->via.branch.p, p->via.branch.len, pm);
    if (!e || !e->unreliable)
        return false;
    if (ack) {
        /* The ACK of a non-2xx shares the INVITE's branch; each resent
         * final response draws one more from the proxy. */
        if (!e->final_seen)
            return false;
        if (!e->acked) {
            e->acked = true;
            return false;
        }
        metrics_inc(rl->metrics, M_UDP_RETRANS_ABSORBED);
        return true;
    }
    metrics_inc(rl->metrics, M_UDP_RETRANS_ABSORBED);
    LOG_RATELIMITED(LOG_DEBUG, "absorbed a udp retransmission",
                    LF_STR("method", pm == PENDING_INVITE ? "INVITE" : "other"));
    if (e->last.bytes)
        resend(rl, u, e);
    return true;
}

void udp_request_routed(struct relay_layer *rl, struct conn *u, const struct parsed *p)
{
    if (!relay_is_method(&p->msg, "INVITE"))
        return;
    struct pending *e =
        pending_find(&rl->pending, p->via.branch.p, p->via.branch.len, PENDING_INVITE);
    if (!e || !e->unreliable || e->last.bytes || e->final_seen)
        return;
    size_t n =
        answer_build(rl, p, 100, "Trying", NULL, false, rl->conn->scratch, rl->conn->scratch_size);
    if (n > 0 && conn_udp_send(rl->conn, u, (const struct sockaddr *)&e->reply, reply_len(e),
                               rl->conn->scratch, n))
        keep(rl, e, rl->conn->scratch, n);
}
