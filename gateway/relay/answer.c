/* answer: the responses reusegw originates. */
#include "relay/answer.h"

#include <stdio.h>
#include <string.h>

#include "conn/conn.h"
#include "conn/conn_io.h"
#include "core/log.h"
#include "relay/pending.h"
#include "relay/relay_internal.h"
#include "relay/udp_legacy.h"
#include "sip/check.h"
#include "sip/response.h"

size_t answer_build(struct relay_layer *rl, const struct parsed *p, unsigned status,
                    const char *reason, const char *why, bool cause, char *out, size_t cap)
{
    const char *agent = rl->sent_by[0];
    char warning[1200]; /* a Warning line of at most 512 bytes, and a Reason of its text */
    if (why) {
        /* Warning text is a quoted-string: leave out what would end it. */
        size_t n = (size_t)snprintf(warning, sizeof(warning), "Warning: 399 %s \"", agent);
        size_t text = n;
        for (const char *q = why; *q && n < 508; q++)
            if (*q != '"' && *q != '\\' && *q != '\r' && *q != '\n')
                warning[n++] = *q;
        size_t text_len = n - text;
        memcpy(warning + n, "\"\r\n", 4);
        n += 3;
        if (cause) {
            n += (size_t)snprintf(warning + n, sizeof(warning) - n, "Reason: SIP;cause=%u;text=\"",
                                  status);
            memmove(warning + n, warning + text, text_len);
            memcpy(warning + n + text_len, "\"\r\n", 4);
        }
    }
    struct sip_response_spec spec = {
        .status = status,
        .reason = reason,
        .extra = why ? warning : NULL,
    };
    size_t n = 0;
    enum sip_err err = sip_build_response(&p->msg, &spec, out, cap, &n);
    if (err == SIP_ERR_NO_SPACE) {
        /* Hundreds of Via lines (a request refused for its size or header
         * count): the topmost is what the sender matches. */
        spec.top_via_only = true;
        err = sip_build_response(&p->msg, &spec, out, cap, &n);
    }
    return err == SIP_OK ? n : 0;
}

void answer_send(struct relay_layer *rl, struct conn *c, const struct parsed *p, unsigned status,
                 const char *reason, const char *why, enum metric_id series)
{
    char out[8192];
    size_t n = answer_build(rl, p, status, reason, why, false, out, sizeof(out));
    if (n == 0) {
        relay_drop(rl, M_DROP_MALFORMED, c, "reusegw's own answer does not fit");
        return;
    }
    if (!conn_send(rl->conn, c, out, n)) {
        relay_drop(rl, M_DROP_BUFFER_FULL, c, "cannot queue reusegw's own answer");
        return;
    }
    /* Our own answers count like relayed bytes: a sender that does not read
     * them stops being read. */
    conn_throttle(rl->conn, c, c);
    metrics_inc(rl->metrics, series);
}

void answer_error(struct relay_layer *rl, struct conn *c, const struct parsed *p, enum sip_err err)
{
    struct sip_via via;
    /* A datagram's answer goes where its top Via says (RFC 3261 18.2.2),
     * as every other answer to the legacy proxy does; one whose Via does
     * not parse goes back to the source address and port. */
    if (c->kind == CONN_UDP && sip_via_parse_first(&p->msg, &via, NULL, 0) == SIP_OK)
        udp_reply_to(c, &via);
    unsigned status = sip_err_status(err);
    char reason[96];
    snprintf(reason, sizeof(reason), "%s (%s)", sip_status_phrase(status), sip_err_text(err));
    answer_send(rl, c, p, status, reason, NULL, M_ANSWER_BAD_REQUEST); /* 400, or 505/513 */
}

bool answer_hops_exhausted(struct relay_layer *rl, struct conn *c, const struct parsed *p)
{
    unsigned max_forwards = 0;
    bool has_max_forwards = false;
    if (sip_max_forwards(&p->msg, &max_forwards, &has_max_forwards) != SIP_OK ||
        !has_max_forwards || max_forwards != 0 || relay_is_method(&p->msg, "ACK"))
        return false;
    answer_send(rl, c, p, 483, "Too Many Hops", NULL, M_ANSWER_TOO_MANY_HOPS);
    return true;
}

void answer_unsent(struct relay_layer *rl, struct conn *from, const struct parsed *p,
                   struct pending *e, size_t n, const char *ack_why, const char *busy_why)
{
    if (!e) {
        relay_drop(rl, M_DROP_BUFFER_FULL, from, ack_why);
        return;
    }
    pending_remove(&rl->pending, e); /* never sent: nothing will answer it */
    if (n == 0)
        answer_send(rl, from, p, 400, NULL, "message too large after Via rewrite",
                    M_ANSWER_BAD_REQUEST);
    else
        answer_send(rl, from, p, 503, NULL, busy_why, M_503_OTHER);
}

void relay_framing_error(void *ctx, struct conn *c, const char *buf, size_t len, enum sip_err err)
{
    struct relay_layer *rl = ctx;
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    struct parsed p;
    /* The framing rule that failed (Content-Length) may fail the parse too;
     * what matters is that the headers a response copies were indexed. A
     * header section cut off at the size limit, or one with more lines than
     * the index holds, is answered from what it holds (parsed_basis). */
    if (!end || parsed_view(&p, buf, (size_t)(end + 4 - buf)) == SIP_ERR_TOO_MANY_HEADERS)
        parsed_basis(rl, &p, buf, len);
    if (!p.msg.is_request || relay_is_method(&p.msg, "ACK"))
        return;
    answer_error(rl, c, &p, err);
}

/* answer_held answers one held request |p| of failed dial |c| with a 503
 * naming |why|. */
static void answer_held(struct relay_layer *rl, struct conn *c, const struct parsed *p,
                        const char *why)
{
    char buf[8192];
    size_t rn = answer_build(rl, p, 503, NULL, why, false, buf, sizeof(buf));
    if (rn == 0)
        return;
    if (c->kind == CONN_MIRROR) {
        /* A peer's request the legacy proxy never got: answer the peer. */
        struct conn *t = conn_get(&rl->conn->conns, c->partner);
        if (t && conn_send(rl->conn, t, buf, rn)) {
            conn_throttle(rl->conn, t, t);
            metrics_inc(rl->metrics, M_503_OTHER);
        }
        return;
    }
    /* The 503 carries the rewritten Via: route it like a peer's response so
     * the legacy proxy gets its own Via back. */
    struct parsed r;
    if (parsed_view(&r, buf, rn) == SIP_OK) {
        metrics_inc(rl->metrics, M_503_OTHER);
        relay_response_parsed_on(rl, c, &r);
    }
}

void relay_dial_failed(void *ctx, struct conn *c, const char *why)
{
    struct relay_layer *rl = ctx;
    LOG_RATELIMITED(LOG_WARN, "connection failed; answering held requests with 503",
                    LF_STR("conn", conn_kind_name(c)), LF_STR("domain", c->domain),
                    LF_STR("reason", why));
    size_t n;
    while ((n = conn_held_next(rl->conn, c, rl->conn->scratch, rl->conn->scratch_size)) > 0) {
        struct parsed p;
        if (parsed_answerable(rl, &p, rl->conn->scratch, n))
            answer_held(rl, c, &p, why);
    }
}
