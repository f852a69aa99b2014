#include "peer.h"

#include <stdlib.h>
#include <string.h>

#include "sip/message.h"
#include "sip/response.h"
#include "sip/via.h"

/* Headers a bench message may have; ours have 8. */
#define PEER_MAX_HEADERS 32

#define BRANCH_PREFIX "z9hG4bK-"

bool peer_init(struct peer *p, unsigned id, unsigned window, const struct peer_form *form,
               struct meter *meter)
{
    *p = (struct peer){.id = id, .form = *form, .meter = meter};
    sip_framer_init(&p->framer);
    /* A window of requests, or the answers to a full receive buffer. */
    p->out_cap = (size_t)window * PEER_MSG_ROOM + PEER_IN_CAP + PEER_MSG_ROOM;
    p->in = malloc(PEER_IN_CAP);
    p->out = malloc(p->out_cap);
    if (!p->in || !p->out || !window_init(&p->window, window)) {
        peer_free(p);
        return false;
    }
    return true;
}

void peer_free(struct peer *p)
{
    free(p->in);
    free(p->out);
    window_free(&p->window);
    p->in = p->out = NULL;
}

static char *put(char *d, const char *s)
{
    size_t n = strlen(s);
    memcpy(d, s, n);
    return d + n;
}

static char *put_u64(char *d, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *d++ = tmp[--n];
    return d;
}

bool peer_can_request(const struct peer *p)
{
    return window_has_room(&p->window) && p->out_cap - p->out_len >= PEER_MSG_ROOM;
}

void peer_queue_request(struct peer *p, const char *target, uint64_t now_ns)
{
    uint64_t seq = window_open(&p->window, now_ns);
    p->meter->sent++;
    char *d = p->out + p->out_len;
    d = put(d, "OPTIONS sip:");
    d = put(d, target);
    d = put(d, " SIP/2.0\r\nVia: SIP/2.0/");
    d = put(d, p->form.transport);
    *d++ = ' ';
    d = put(d, p->form.sent_by);
    d = put(d, ";branch=" BRANCH_PREFIX);
    d = put_u64(d, p->id);
    *d++ = '-';
    d = put_u64(d, seq);
    if (p->form.alias)
        d = put(d, ";alias");
    d = put(d, "\r\nMax-Forwards: 70\r\nFrom: <sip:bench@scale.test>;tag=");
    d = put_u64(d, p->id);
    d = put(d, "\r\nTo: <sip:");
    d = put(d, target);
    d = put(d, ">\r\nCall-ID: ");
    d = put_u64(d, p->id);
    *d++ = '-';
    d = put_u64(d, seq);
    d = put(d, "@scale.test\r\nCSeq: ");
    d = put_u64(d, seq % 2147483647u + 1); /* RFC 3261: below 2^31 */
    d = put(d, " OPTIONS\r\nContent-Length: 0\r\n\r\n");
    p->out_len = (size_t)(d - p->out);
}

void peer_sent(struct peer *p, size_t n)
{
    memmove(p->out, p->out + n, p->out_len - n);
    p->out_len -= n;
}

void peer_count_lost(struct peer *p)
{
    p->meter->lost += p->window.outstanding;
}

/* Reads a decimal number of at most 19 digits from [*s, end). */
static bool take_u64(const char **s, const char *end, uint64_t *v)
{
    const char *p = *s;
    uint64_t x = 0;
    while (p < end && *p >= '0' && *p <= '9' && p - *s < 19)
        x = x * 10 + (uint64_t)(*p++ - '0');
    if (p == *s)
        return false;
    *s = p;
    *v = x;
    return true;
}

/* The sequence number of a branch this peer wrote, or false. */
static bool our_seq(const struct peer *p, struct sip_str branch, uint64_t *seq)
{
    const size_t plen = sizeof(BRANCH_PREFIX) - 1;
    const char *s = branch.p, *end = branch.p + branch.len;
    uint64_t id;
    if (branch.len <= plen || memcmp(s, BRANCH_PREFIX, plen) != 0)
        return false;
    s += plen;
    if (!take_u64(&s, end, &id) || id != p->id || s == end || *s++ != '-')
        return false;
    return take_u64(&s, end, seq) && s == end;
}

static void on_response(struct peer *p, const struct sip_msg *msg, uint64_t now_ns)
{
    struct meter *m = p->meter;
    if (msg->status < 200)
        return; /* provisional: the final answer follows */
    struct sip_via via;
    uint64_t seq, latency;
    if (sip_via_parse_first(msg, &via, NULL, 0) != SIP_OK || !our_seq(p, via.branch, &seq) ||
        !window_close(&p->window, seq, now_ns, &latency)) {
        m->err_match++;
        return;
    }
    if (msg->status != 200) {
        m->err_status++;
        return;
    }
    m->completed++;
    if (m->measuring) {
        m->tx++;
        hist_record(&m->latency, latency);
    }
}

/* Answers a request with 200 OK; false when the send buffer is full. */
static bool on_request(struct peer *p, const struct sip_msg *msg)
{
    static const struct sip_response_spec ok = {.status = 200, .to_tag = "scale"};
    size_t len;
    enum sip_err err =
        sip_build_response(msg, &ok, p->out + p->out_len, p->out_cap - p->out_len, &len);
    if (err == SIP_ERR_NO_SPACE)
        return false;
    if (err != SIP_OK) {
        p->meter->err_parse++;
        return true;
    }
    p->out_len += len;
    p->meter->answered++;
    return true;
}

enum peer_status peer_consume(struct peer *p, uint64_t now_ns)
{
    enum peer_status status = PEER_DRAINED;
    size_t done = 0;
    while (done < p->in_len) {
        struct sip_frame fr;
        const char *at = p->in + done;
        size_t avail = p->in_len - done;
        enum sip_frame_event ev = sip_framer_feed(&p->framer, at, avail, PEER_IN_CAP, &fr);
        if (ev == SIP_FRAME_NEED_MORE)
            break;
        if (ev == SIP_FRAME_ERROR) {
            p->meter->err_parse++;
            return PEER_BROKEN;
        }
        if (ev == SIP_FRAME_PING) {
            if (p->out_cap - p->out_len < 2) {
                status = PEER_OUT_FULL;
                break;
            }
            memcpy(p->out + p->out_len, "\r\n", 2);
            p->out_len += 2;
        } else if (ev == SIP_FRAME_MESSAGE) {
            struct sip_header headers[PEER_MAX_HEADERS];
            struct sip_msg msg;
            if (sip_parse(at, fr.len, &msg, headers, PEER_MAX_HEADERS) != SIP_OK) {
                p->meter->err_parse++;
                return PEER_BROKEN;
            }
            if (!msg.is_request) {
                on_response(p, &msg, now_ns);
            } else if (!on_request(p, &msg)) {
                /* The framer reset itself: this message is framed again
                 * from the start on the next call. */
                status = PEER_OUT_FULL;
                break;
            }
        }
        done += fr.len;
    }
    memmove(p->in, p->in + done, p->in_len - done);
    p->in_len -= done;
    return status;
}
