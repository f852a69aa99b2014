/* admin_probe: periodic non-blocking connects to the legacy proxy. */
#include "admin/admin_probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "core/log.h"

static uint64_t probe_tag(const struct admin_probe *p)
{
    return (uint64_t)p->tag_op << 56 | p->gen;
}

static void on_timer(void *ctx, struct timer *timer)
{
    struct admin_probe *p = ctx;
    timer_arm(p->timers, &p->timer, timer_now_ms() + p->interval_ms);
    if (p->fd >= 0) {
        /* Still connecting after a whole interval: a silent drop. */
        p->reachable = false;
        loop_cancel(p->loop, probe_tag(p));
        return;
    }
    p->fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) {
        p->reachable = false;
        return;
    }
    p->gen++;
    if (loop_connect(p->loop, p->fd, (struct sockaddr *)&p->addr, p->addr_len, probe_tag(p)) != 0) {
        close(p->fd);
        p->fd = -1;
    }
}

void admin_probe_on_event(struct admin_probe *p, const struct loop_event *ev)
{
    if ((uint32_t)ev->tag != p->gen || p->fd < 0)
        return;
    bool was = p->reachable;
    p->reachable = ev->res == 0;
    if (was != p->reachable)
        LOG_INFO(p->reachable ? "legacy proxy reachable" : "legacy proxy unreachable",
                 LF_STR("reason", ev->res == 0 ? "connected" : strerror(-ev->res)));
    close(p->fd);
    p->fd = -1;
}

bool admin_probe_start(struct admin_probe *p, struct loop *loop, struct timer_heap *timers,
                       const struct cfg_hostport *target, uint8_t tag_op, uint32_t interval_ms)
{
    memset(p, 0, sizeof(*p));
    p->loop = loop;
    p->timers = timers;
    p->tag_op = tag_op;
    p->interval_ms = interval_ms;
    p->fd = -1;
    struct sockaddr_in *in = (struct sockaddr_in *)&p->addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&p->addr;
    if (inet_pton(AF_INET, target->host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(target->port);
        p->addr_len = sizeof(*in);
    } else if (inet_pton(AF_INET6, target->host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(target->port);
        p->addr_len = sizeof(*in6);
    } else {
        LOG_ERROR("legacy.forward_to is not an IP address", LF_STR("address", target->host));
        return false;
    }
    p->timer.fire = on_timer;
    p->timer.ctx = p;
    timer_arm(timers, &p->timer, timer_now_ms());
    return true;
}

void admin_probe_stop(struct admin_probe *p)
{
    if (p->timers)
        timer_disarm(p->timers, &p->timer);
    if (p->fd >= 0) {
        loop_cancel(p->loop, probe_tag(p));
        close(p->fd);
        p->fd = -1;
    }
}
