#include "loop.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* Listening socket's epoll tag: connections are tagged with their pointer. */
static char listen_tag;

bool loop_init(struct loop *l, const struct loop_spec *spec)
{
    *l = (struct loop){.spec = *spec};
    l->conns = calloc(spec->max_conns ? spec->max_conns : 1, sizeof(*l->conns));
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    if (!l->conns || l->ep < 0)
        return false;
    if (spec->listen_fd >= 0) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &listen_tag};
        if (epoll_ctl(l->ep, EPOLL_CTL_ADD, spec->listen_fd, &ev) != 0)
            return false;
    }
    return true;
}

static void set_interest(struct loop *l, struct conn *c, int op)
{
    struct epoll_event ev = {.events = c->blocked ? EPOLLOUT : EPOLLIN, .data.ptr = c};
    epoll_ctl(l->ep, op, c->fd, &ev);
}

bool loop_add(struct loop *l, int fd, SSL *ssl, unsigned id, const struct peer_form *form)
{
    /* A server sees a new set of connections per run: reuse closed slots. */
    struct conn *c = NULL;
    for (unsigned i = 0; i < l->nconns && !c; i++)
        if (l->conns[i].dead)
            c = &l->conns[i];
    if (!c && l->nconns < l->spec.max_conns)
        c = &l->conns[l->nconns++];
    if (!c)
        return false;
    if (!conn_init(c, fd, ssl, id, l->spec.window, form, &l->meter)) {
        peer_free(&c->sip);
        *c = (struct conn){.dead = true};
        return false;
    }
    set_interest(l, c, EPOLL_CTL_ADD);
    return true;
}

/* Closes c; an error unless the other side closed it cleanly with nothing
 * in flight (a serving end sees that at the end of every run). */
static void drop(struct loop *l, struct conn *c, enum conn_io io)
{
    if (io != CONN_IO_CLOSED || !conn_idle(c))
        l->meter.err_conn++;
    l->meter.closed++;
    epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
    conn_close(c);
}

/* Applies a send or receive outcome to the epoll interest. */
static void settle_io(struct loop *l, struct conn *c, enum conn_io io, bool was_blocked)
{
    if (io == CONN_IO_FAILED || io == CONN_IO_CLOSED)
        drop(l, c, io);
    else if (c->blocked != was_blocked)
        set_interest(l, c, EPOLL_CTL_MOD);
}

static void accept_all(struct loop *l)
{
    for (;;) {
        int fd = accept4(l->spec.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (!loop_add(l, fd, NULL, l->next_id++, &l->spec.accept_form)) {
            l->meter.err_conn++;
            close(fd);
        }
    }
}

/* Connections that may send: the first spec.senders added. */
static unsigned senders(const struct loop *l)
{
    return l->nconns < l->spec.senders ? l->nconns : l->spec.senders;
}

/* Requests connection c may send now, given the policy. */
static bool wants_request(const struct loop *l, const struct conn *c, bool sending)
{
    if (c->dead || c->blocked || !peer_can_request(&c->sip))
        return false;
    if (l->spec.policy == SEND_ONCE)
        return !c->sent_once;
    return l->spec.policy == SEND_LOAD && sending;
}

static void queue_one(struct loop *l, struct conn *c, uint64_t now_ns)
{
    unsigned t = (unsigned)((c->sip.id + c->sip.window.next_seq) % l->spec.ntargets);
    peer_queue_request(&c->sip, l->spec.targets[t], now_ns);
    c->sent_once = true;
}

/* Queues new requests and sends them: every window full, or as many as the
 * rate allows, shared round-robin between the sending connections. */
static void refill(struct loop *l, uint64_t now_ns, bool sending)
{
    unsigned n = senders(l);
    if (l->spec.rate <= 0 || l->spec.policy != SEND_LOAD) {
        for (unsigned i = 0; i < n; i++) {
            struct conn *c = &l->conns[i];
            if (!wants_request(l, c, sending))
                continue;
            while (wants_request(l, c, sending))
                queue_one(l, c, now_ns);
            settle_io(l, c, conn_flush(c), false);
        }
        return;
    }
    double burst = l->spec.rate / 500 + 1; /* at most 2 ms of requests at once */
    l->tokens += (double)(now_ns - l->last_ns) * l->spec.rate / 1e9;
    if (l->tokens > burst)
        l->tokens = burst;
    l->last_ns = now_ns;
    for (unsigned tried = 0; l->tokens >= 1 && tried < n;) {
        struct conn *c = &l->conns[l->rr++ % n];
        if (wants_request(l, c, sending)) {
            queue_one(l, c, now_ns);
            settle_io(l, c, conn_flush(c), false);
            l->tokens -= 1;
            tried = 0;
        } else {
            tried++;
        }
    }
}

static unsigned in_flight(const struct loop *l)
{
    unsigned n = 0;
    for (unsigned i = 0; i < senders(l); i++)
        if (!l->conns[i].dead)
            n += l->conns[i].sip.window.outstanding;
    return n;
}

static void *run(void *arg)
{
    struct loop *l = arg;
    struct phase *ph = l->spec.phase;
    struct epoll_event evs[64];
    l->last_ns = phase_now_ns();
    while (!atomic_load_explicit(&ph->stop, memory_order_relaxed)) {
        bool sending = atomic_load_explicit(&ph->sending, memory_order_relaxed);
        l->meter.measuring = atomic_load_explicit(&ph->measuring, memory_order_relaxed);
        uint64_t now = phase_now_ns();
        refill(l, now, sending);
        bool more = l->spec.policy == SEND_LOAD && sending;
        if (l->spec.policy == SEND_ONCE)
            for (unsigned i = 0; i < senders(l); i++)
                more |= !l->conns[i].dead && !l->conns[i].sent_once;
        if (!l->settled && !more && in_flight(l) == 0) {
            l->settled = true;
            atomic_fetch_add(&ph->settled, 1);
        }
        int timeout = (l->spec.rate > 0 && sending) ? 1 : 50;
        int n = epoll_wait(l->ep, evs, 64, timeout);
        now = phase_now_ns();
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &listen_tag) {
                accept_all(l);
                continue;
            }
            struct conn *c = evs[i].data.ptr;
            if (c->dead)
                continue;
            if (c->blocked) {
                settle_io(l, c, conn_flush(c), true);
                if (c->dead || c->blocked)
                    continue;
            }
            /* Also after unblocking: TLS may hold records already read. */
            settle_io(l, c, conn_receive(c, now), false);
        }
    }
    return NULL;
}

bool loop_start(struct loop *l)
{
    return pthread_create(&l->tid, NULL, run, l) == 0;
}

void loop_finish(struct loop *l)
{
    pthread_join(l->tid, NULL);
    for (unsigned i = 0; i < l->nconns; i++)
        conn_close(&l->conns[i]);
    free(l->conns);
    close(l->ep);
    if (l->spec.listen_fd >= 0)
        close(l->spec.listen_fd);
}
