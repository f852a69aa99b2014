/* capture: one worker's HEP sender. See capture.h.
 *
 * Two arenas of CAPTURE_QUEUE_BYTES: messages are encoded into |queue|;
 * capture_flush swaps it with |batch| once the batch before has left, and
 * sends the batch (UDP: one datagram per packet, MMSG_BATCH of them per
 * sendmmsg, all of the batch within the flush; TCP: the bytes as one
 * stream through the loop, short sends resumed). A HEP packet
 * carries its own length, so the arenas need no framing of their own. */
#include "capture/capture.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture/call_id.h"
#include "core/addr.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/tag.h"
#include "core/timer.h"

enum {
    /* UDP datagrams per sendmmsg: one system call moves this many, where a
     * send per datagram cost the relay half its throughput (bench/relay). */
    MMSG_BATCH = 64,
    BACKOFF_MIN_MS = 100, /* TCP reconnect: first wait, doubled up to the max */
    BACKOFF_MAX_MS = 5000,
};

/* What the slot of an OP_CAPTURE tag says; its generation is the socket's. */
enum capture_op { CAP_SEND = 1, CAP_CONNECT, CAP_RECV };

enum link_state {
    LINK_OFF,        /* capture off, or no socket */
    LINK_CONNECTING, /* TCP connect in flight: the queue waits */
    LINK_UP,         /* sending */
    LINK_DOWN,       /* TCP: waiting out the backoff; messages are dropped */
};

struct arena {
    uint8_t *bytes;
    size_t used;
    size_t packets;
};

struct capture {
    struct capture_public pub; /* first: capture_wants reads it */
    struct loop *loop;
    struct timer_heap *timers;
    struct metrics *metrics;
    const struct cfg_snapshot *cfg;
    bool tcp;
    struct sockaddr_storage collector;
    socklen_t collector_len;
    int fd;
    uint32_t gen; /* of |fd|: completions of an older socket are recognised */
    enum link_state state;
    struct timer retry;
    uint64_t backoff_ms;
    struct arena queue, batch;
    size_t sent;        /* batch bytes handed to the socket so far */
    unsigned in_flight; /* sends not yet completed, of any generation */
    bool batch_busy;    /* |batch| is still being sent */
    /* UDP: the vectors of one sendmmsg, filled from |batch| in place. */
    struct mmsghdr mmsg[MMSG_BATCH];
    struct iovec iov[MMSG_BATCH];
};

static uint64_t tag_for(const struct capture *cap, enum capture_op op)
{
    return tag_make(OP_CAPTURE, op, cap->gen);
}

static void drop(struct capture *cap, enum metric_id reason, uint64_t n)
{
    metrics_add(cap->metrics, reason, n);
}

static size_t packet_len(const uint8_t *p)
{
    return (size_t)(p[4] << 8 | p[5]);
}

/* packets_from counts the packets of |batch| from byte |at| on. */
static size_t packets_from(const struct arena *batch, size_t at)
{
    size_t n = 0, off = 0;
    for (; off < batch->used; off += packet_len(batch->bytes + off))
        if (off >= at)
            n++;
    return n;
}

static void batch_done(struct capture *cap)
{
    cap->batch.used = cap->batch.packets = 0;
    cap->sent = 0;
    cap->batch_busy = false;
}

static void close_link(struct capture *cap)
{
    if (cap->fd >= 0) {
        loop_cancel_fd(cap->loop, cap->fd);
        close(cap->fd);
    }
    cap->fd = -1;
    cap->gen++;
    cap->state = LINK_OFF;
    timer_disarm(cap->timers, &cap->retry);
}

static void open_link(struct capture *cap);

static void on_retry(void *ctx, struct timer *timer)
{
    open_link(ctx);
}

/* link_failed drops what the broken stream still had to send and waits out
 * the backoff before dialling again. */
static void link_failed(struct capture *cap, const char *why, int err)
{
    if (cap->batch_busy)
        drop(cap, M_CAPTURE_DROP_COLLECTOR_DOWN, packets_from(&cap->batch, cap->sent));
    if (cap->in_flight == 0)
        batch_done(cap);
    else
        cap->batch.used = cap->sent; /* nothing more of it is sent */
    close_link(cap);
    cap->state = LINK_DOWN;
    LOG_RATELIMITED(LOG_WARN, "capture collector unreachable; dropping captured messages",
                    LF_STR("why", why), LF_STR("reason", strerror(err)),
                    LF_UINT("retry_ms", cap->backoff_ms));
    cap->retry.fire = on_retry;
    cap->retry.ctx = cap;
    timer_arm(cap->timers, &cap->retry, cap->timers->now_ms + cap->backoff_ms);
    cap->backoff_ms = cap->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : cap->backoff_ms * 2;
}

static void open_link(struct capture *cap)
{
    close_link(cap);
    int type = cap->tcp ? SOCK_STREAM : SOCK_DGRAM;
    cap->fd = socket(cap->collector.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (cap->fd < 0) {
        link_failed(cap, "socket", errno);
        return;
    }
    /* The kernel's buffer is bounded too: a collector that stops reading
     * holds at most this much of reusegw's memory in the socket. */
    int sndbuf = CAPTURE_QUEUE_BYTES / 2;
    setsockopt(cap->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    if (!cap->tcp) {
        /* A connected UDP socket: ICMP refusals come back as ECONNREFUSED. */
        if (connect(cap->fd, (struct sockaddr *)&cap->collector, cap->collector_len) != 0) {
            link_failed(cap, "connect", errno);
            return;
        }
        cap->state = LINK_UP;
        return;
    }
    if (loop_connect(cap->loop, cap->fd, (struct sockaddr *)&cap->collector, cap->collector_len,
                     tag_for(cap, CAP_CONNECT)) != 0) {
        link_failed(cap, "connect", EAGAIN);
        return;
    }
    cap->state = LINK_CONNECTING;
}

struct capture *capture_new(struct loop *loop, struct timer_heap *timers, struct metrics *metrics)
{
    struct capture *cap = calloc(1, sizeof(*cap));
    if (!cap)
        return NULL;
    cap->loop = loop;
    cap->timers = timers;
    cap->metrics = metrics;
    cap->fd = -1;
    return cap;
}

static bool same_collector(const struct capture *cap, const struct sockaddr_storage *ss,
                           socklen_t len, bool tcp)
{
    return cap->state != LINK_OFF && cap->tcp == tcp && cap->collector_len == len &&
           memcmp(&cap->collector, ss, len) == 0;
}

void capture_install(struct capture *cap, const struct cfg_snapshot *cfg)
{
    cap->cfg = cfg;
    const typeof(cfg->capture.hep) *hep = &cfg->capture.hep;
    struct sockaddr_storage ss;
    socklen_t len = 0;
    if (!hep->enabled || !addr_from_hostport(&hep->address, &ss, &len)) {
        close_link(cap);
        cap->pub.legs = 0;
        return;
    }
    if (!cap->queue.bytes) {
        cap->queue.bytes = malloc(CAPTURE_QUEUE_BYTES);
        cap->batch.bytes = malloc(CAPTURE_QUEUE_BYTES);
        if (!cap->queue.bytes || !cap->batch.bytes) {
            LOG_ERROR("out of memory for the capture queue; capture stays off");
            free(cap->queue.bytes);
            free(cap->batch.bytes);
            cap->queue.bytes = cap->batch.bytes = NULL;
            return;
        }
    }
    cap->pub.legs = hep->legs;
    bool tcp = hep->transport == CFG_CAPTURE_TCP;
    if (same_collector(cap, &ss, len, tcp))
        return;
    cap->tcp = tcp;
    memcpy(&cap->collector, &ss, len);
    cap->collector_len = len;
    cap->backoff_ms = BACKOFF_MIN_MS;
    open_link(cap);
}

static void endpoint(const struct sockaddr *sa, struct hep_endpoint *e)
{
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(e->addr, &in6->sin6_addr, 16);
        e->port = ntohs(in6->sin6_port);
    } else {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        memcpy(e->addr, &in->sin_addr, 4);
        e->port = ntohs(in->sin_port);
    }
}

static struct hep_octets text(const char *s)
{
    return (struct hep_octets){s, s ? strlen(s) : 0};
}

void capture_message(struct capture *cap, enum hep_ip_proto ip_proto, const struct sockaddr *src,
                     const struct sockaddr *dst, const char *msg, size_t len)
{
    if (cap->state == LINK_DOWN) {
        drop(cap, M_CAPTURE_DROP_COLLECTOR_DOWN, 1);
        return;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const typeof(cap->cfg->capture.hep) *hep = &cap->cfg->capture.hep;
    struct hep_packet p = {
        .family = src->sa_family,
        .ip_proto = ip_proto,
        .ts_sec = (uint32_t)now.tv_sec,
        .ts_usec = (uint32_t)(now.tv_nsec / 1000),
        .capture_id = hep->capture_id,
        .auth_key = text(hep->password),
        .node_name = text(hep->node_name),
        .correlation_id = capture_call_id(msg, len),
        .payload = {msg, len},
    };
    endpoint(src, &p.src);
    endpoint(dst, &p.dst);
    struct arena *q = &cap->queue;
    size_t n;
    enum hep_err err = hep_encode(&p, q->bytes + q->used, CAPTURE_QUEUE_BYTES - q->used, &n);
    if (err == HEP_ERR_NO_ROOM) {
        /* The batch before has not left: the collector does not keep up. */
        drop(cap, cap->batch_busy ? M_CAPTURE_DROP_COLLECTOR_SLOW : M_CAPTURE_DROP_QUEUE_FULL, 1);
        return;
    }
    if (err != HEP_OK) {
        drop(cap, M_CAPTURE_DROP_TOO_LARGE, 1);
        return;
    }
    q->used += n;
    q->packets++;
}

/* send_udp sends the whole batch now, MMSG_BATCH datagrams per sendmmsg on
 * the non-blocking connected socket: a datagram never waits, so the flush
 * at the end of the loop turn empties the batch, and nothing is in flight
 * afterwards. A full socket buffer drops the rest of the batch (the
 * collector does not keep up); any other error, such as the refusal an
 * ICMP brought back, drops the one datagram it was reported on. */
static void send_udp(struct capture *cap)
{
    while (cap->sent < cap->batch.used) {
        unsigned n = 0;
        for (size_t off = cap->sent; n < MMSG_BATCH && off < cap->batch.used; n++) {
            size_t len = packet_len(cap->batch.bytes + off);
            cap->iov[n] = (struct iovec){cap->batch.bytes + off, len};
            cap->mmsg[n] = (struct mmsghdr){.msg_hdr = {.msg_iov = &cap->iov[n], .msg_iovlen = 1}};
            off += len;
        }
        int r = sendmmsg(cap->fd, cap->mmsg, n, MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
            drop(cap, M_CAPTURE_DROP_COLLECTOR_SLOW, packets_from(&cap->batch, cap->sent));
            cap->sent = cap->batch.used;
            return;
        }
        if (r < 0)
            drop(cap, M_CAPTURE_DROP_COLLECTOR_DOWN, 1);
        for (int i = 0; i < (r < 0 ? 1 : r); i++)
            cap->sent += cap->iov[i].iov_len;
    }
}

static void send_tcp(struct capture *cap)
{
    if (cap->in_flight || cap->sent == cap->batch.used)
        return;
    if (loop_send(cap->loop, cap->fd, cap->batch.bytes + cap->sent, cap->batch.used - cap->sent,
                  tag_for(cap, CAP_SEND)) == 0)
        cap->in_flight++;
}

static void send_more(struct capture *cap)
{
    if (cap->tcp)
        send_tcp(cap);
    else
        send_udp(cap);
    if (cap->in_flight == 0 && cap->sent == cap->batch.used)
        batch_done(cap);
}

void capture_flush(struct capture *cap)
{
    if (!cap || cap->batch_busy || cap->queue.used == 0 || cap->state != LINK_UP)
        return;
    struct arena t = cap->batch;
    cap->batch = cap->queue;
    cap->queue = t;
    cap->queue.used = cap->queue.packets = 0;
    cap->sent = 0;
    cap->batch_busy = true;
    metrics_add(cap->metrics, M_CAPTURE_SENT, cap->batch.packets);
    send_more(cap);
}

static void on_send(struct capture *cap, const struct loop_event *ev, bool current)
{
    cap->in_flight--;
    if (!current) { /* its socket is gone; the batch was written off */
        if (cap->in_flight == 0)
            batch_done(cap);
        return;
    }
    /* Only TCP sends go through the loop. */
    if (ev->res <= 0) {
        link_failed(cap, "send", ev->res < 0 ? -ev->res : EPIPE);
        return;
    }
    cap->sent += (size_t)ev->res;
    send_more(cap);
}

void capture_on_event(struct capture *cap, const struct loop_event *ev)
{
    bool current = tag_gen(ev->tag) == cap->gen;
    switch ((enum capture_op)tag_slot(ev->tag)) {
    case CAP_SEND:
        on_send(cap, ev, current);
        break;
    case CAP_CONNECT:
        if (!current)
            break;
        if (ev->res < 0) {
            link_failed(cap, "connect", -ev->res);
            break;
        }
        cap->state = LINK_UP;
        cap->backoff_ms = BACKOFF_MIN_MS;
        /* The collector never speaks: a read sees its close or reset. */
        loop_recv(cap->loop, cap->fd, tag_for(cap, CAP_RECV));
        capture_flush(cap);
        break;
    case CAP_RECV:
        if (current && (ev->res == 0 || (ev->res < 0 && ev->res != -ENOBUFS)))
            link_failed(cap, "the collector closed the stream", ev->res < 0 ? -ev->res : EPIPE);
        else if (current && !ev->more)
            loop_recv(cap->loop, cap->fd, tag_for(cap, CAP_RECV));
        break;
    }
}

void capture_free(struct capture *cap)
{
    if (!cap)
        return;
    close_link(cap);
    free(cap->queue.bytes);
    free(cap->batch.bytes);
    free(cap);
}
