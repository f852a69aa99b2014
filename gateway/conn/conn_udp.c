/* conn_udp: datagram sockets on the loop's readiness polls. A readiness
 * poll plus non-blocking recvfrom / sendto works the same on both
 * backends and gives each datagram's source address, which a stream
 * receive does not. */
#include "conn/conn_udp.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "conn/conn.h"
#include "conn/conn_internal.h"
#include "conn/conn_io.h"
#include "conn/conn_limits.h"
#include "conn/conn_log.h"
#include "core/log.h"
#include "core/metrics.h"
#include "sip/framing.h"

/* The datagram buffer takes the largest UDP payload and one byte more, so
 * that MSG_TRUNC tells a datagram cut short from one that fit. */
enum { DGRAM_BUFFER = 65536 };

struct conn *conn_udp_open(struct conn_layer *cl, const struct sockaddr *bind_sa, socklen_t len,
                           bool shared, const struct sockaddr *dest, socklen_t dest_len,
                           const char **why)
{
    if (!cl->dgram && !(cl->dgram = malloc(DGRAM_BUFFER))) {
        *why = "out of memory";
        return NULL;
    }
    int fd = socket(bind_sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = strerror(errno);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (shared)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind_sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, bind_sa, len) != 0) {
        *why = strerror(errno);
        close(fd);
        return NULL;
    }
    struct conn *c = conn_alloc(&cl->conns, CONN_UDP);
    if (!c) {
        *why = "connection limit reached";
        close(fd);
        return NULL;
    }
    c->fd = fd;
    c->state = CONN_OPEN;
    if (dest && dest_len <= sizeof(c->peer)) {
        memcpy(&c->peer, dest, dest_len);
        c->peer_len = dest_len;
    }
    socklen_t n = sizeof(c->local);
    if (getsockname(fd, (struct sockaddr *)&c->local, &n) == 0)
        c->local_len = n;
    c->last_active_ms = cl->timers->now_ms;
    conn_log_opened(cl, c);
    conn_arm_recv(cl, c);
    if (!c->recv_armed) {
        *why = "event loop queue full";
        conn_close(cl, c, CLOSE_ABORT, "cannot poll");
        return NULL;
    }
    return c;
}

struct conn *conn_udp_forward(struct conn_layer *cl)
{
    struct conn *c = conn_get(&cl->conns, cl->udp_forward);
    return c && c->state == CONN_OPEN ? c : NULL;
}

/* deliver hands up the one message of datagram |buf| (|len| bytes). */
static void deliver(struct conn_layer *cl, struct conn *c, const char *buf, size_t len)
{
    size_t max = cl->cfg->limits.max_message_bytes;
    while (len > 0) {
        struct sip_frame fr;
        switch (sip_frame_datagram(buf, len, max, &fr)) {
        case SIP_FRAME_PONG: /* CRLF keepalives and stray line ends */
            buf += fr.len;
            len -= fr.len;
            continue;
        case SIP_FRAME_MESSAGE:
            metrics_inc(cl->metrics, M_LEGACY_UDP_FROM);
            conn_capture(cl, c, true, (const struct sockaddr *)&c->peer, buf, fr.len);
            cl->up.message(cl->up.ctx, c, buf, fr.len, &fr);
            return;
        default:
            metrics_inc(cl->metrics,
                        fr.err == SIP_ERR_BODY_TRUNCATED ? M_UDP_DROP_BODY_TRUNCATED
                        : fr.err == SIP_ERR_MESSAGE_TOO_LARGE || fr.err == SIP_ERR_HEADERS_TOO_LARGE
                            ? M_UDP_DROP_TOO_LARGE
                            : M_UDP_DROP_UNFRAMEABLE);
            LOG_RATELIMITED(LOG_WARN, "not relaying a datagram that holds no framed SIP message",
                            LF_STR("conn", conn_kind_name(c)),
                            LF_STR("reason", sip_err_text(fr.err)));
            /* RFC 3261 18.3: a request gets its 400 (513 when too large)
             * where its headers allow one; the relay drops a response. */
            cl->up.framing_error(cl->up.ctx, c, buf, len, fr.err);
            return;
        }
    }
}

void conn_udp_on_ready(struct conn_layer *cl, struct conn *c, const struct loop_event *ev)
{
    if (!ev->more)
        c->recv_armed = false;
    /* Read until the socket is empty: the poll reports readiness once per
     * wake-up, and the socket's receive buffer bounds the loop. */
    while (ev->res >= 0 && c->state == CONN_OPEN && !c->read_paused) {
        socklen_t src_len = sizeof(c->peer);
        ssize_t n = recvfrom(c->fd, cl->dgram, DGRAM_BUFFER, MSG_DONTWAIT | MSG_TRUNC,
                             (struct sockaddr *)&c->peer, &src_len);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                LOG_RATELIMITED(LOG_WARN, "udp receive failed", LF_STR("reason", strerror(errno)));
            if (errno != EINTR)
                break;
            continue;
        }
        c->peer_len = src_len;
        c->last_active_ms = cl->timers->now_ms;
        c->bytes_in += (uint64_t)n;
        if ((size_t)n >= DGRAM_BUFFER) { /* cut short: more than a UDP payload */
            metrics_inc(cl->metrics, M_UDP_DROP_TOO_LARGE);
            continue;
        }
        deliver(cl, c, cl->dgram, (size_t)n);
    }
    if (!c->recv_armed)
        conn_arm_recv(cl, c);
    conn_maybe_release(cl, c);
}

bool conn_udp_send(struct conn_layer *cl, struct conn *c, const struct sockaddr *to,
                   socklen_t to_len, const void *data, size_t len)
{
    if (c->state != CONN_OPEN || to_len == 0)
        return false;
    if (len > CONN_UDP_MAX_PAYLOAD) {
        metrics_inc(cl->metrics, M_UDP_DROP_TOO_LARGE);
        return false;
    }
    if (sendto(c->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL, to, to_len) != (ssize_t)len) {
        metrics_inc(cl->metrics, M_UDP_DROP_SEND_FAILED);
        LOG_RATELIMITED(LOG_WARN, "udp send failed", LF_STR("reason", strerror(errno)));
        return false;
    }
    metrics_inc(cl->metrics, M_LEGACY_UDP_TO);
    c->bytes_out += len;
    conn_capture(cl, c, false, to, data, len);
    return true;
}
