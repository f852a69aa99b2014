/* handoff: rings per ordered pair, an eventfd and a mailbox per worker. */
#include "relay/handoff.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/handoff_ring.h"

struct inbox {
    int efd;
    _Atomic bool wake_pending; /* an eventfd write is on its way or unread */
    _Atomic bool stop;
    _Atomic(void *) reload;
};

struct handoff_mesh {
    unsigned n;
    struct handoff_ring *rings; /* [from * n + to] */
    struct inbox *inboxes;
};

struct handoff_mesh *handoff_mesh_new(unsigned n, size_t ring_bytes)
{
    struct handoff_mesh *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->n = n;
    m->rings = calloc((size_t)n * n, sizeof(*m->rings));
    m->inboxes = calloc(n, sizeof(*m->inboxes));
    if (!m->rings || !m->inboxes)
        goto fail;
    for (unsigned i = 0; i < n; i++)
        m->inboxes[i].efd = -1;
    for (unsigned i = 0; i < n; i++) {
        m->inboxes[i].efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (m->inboxes[i].efd < 0)
            goto fail;
        for (unsigned j = 0; j < n; j++)
            if (i != j && !handoff_ring_init(&m->rings[i * n + j], ring_bytes))
                goto fail;
    }
    return m;
fail:
    handoff_mesh_free(m, NULL);
    return NULL;
}

void handoff_mesh_free(struct handoff_mesh *m, void (*free_control)(void *payload))
{
    if (!m)
        return;
    for (unsigned i = 0; m->inboxes && i < m->n; i++) {
        if (m->inboxes[i].efd >= 0)
            close(m->inboxes[i].efd);
        void *payload = atomic_exchange(&m->inboxes[i].reload, NULL);
        if (payload && free_control)
            free_control(payload);
    }
    for (size_t i = 0; m->rings && i < (size_t)m->n * m->n; i++)
        handoff_ring_free(&m->rings[i]);
    free(m->rings);
    free(m->inboxes);
    free(m);
}

int handoff_eventfd(const struct handoff_mesh *m, unsigned to)
{
    return m->inboxes[to].efd;
}

bool handoff_claim_wake(struct handoff_mesh *m, unsigned to)
{
    return !atomic_exchange(&m->inboxes[to].wake_pending, true);
}

void handoff_wake_eventfd(struct handoff_mesh *m, unsigned to)
{
    ssize_t n = write(m->inboxes[to].efd, &(uint64_t){1}, sizeof(uint64_t));
    (void)n; /* EAGAIN only at a counter of 2^64-2: it is readable anyway */
}

static void wake(struct handoff_mesh *m, unsigned to)
{
    if (handoff_claim_wake(m, to))
        handoff_wake_eventfd(m, to);
}

bool handoff_post(struct handoff_mesh *m, unsigned from, unsigned to, const struct handoff_msg *msg,
                  const void *bytes)
{
    struct handoff_ring *r = &m->rings[from * m->n + to];
    size_t total = sizeof(*msg) + msg->len;
    uint8_t *p = handoff_ring_reserve(r, total);
    if (!p)
        return false;
    memcpy(p, msg, sizeof(*msg));
    memcpy(p + sizeof(*msg), bytes, msg->len);
    handoff_ring_commit(r, total);
    return true;
}

void handoff_woken(struct handoff_mesh *m, unsigned to)
{
    atomic_store(&m->inboxes[to].wake_pending, false);
}

const struct handoff_msg *handoff_next(struct handoff_mesh *m, unsigned from, unsigned to,
                                       const char **bytes)
{
    size_t len;
    const uint8_t *p = handoff_ring_peek(&m->rings[from * m->n + to], &len);
    if (!p)
        return NULL;
    *bytes = (const char *)p + sizeof(struct handoff_msg);
    return (const struct handoff_msg *)p;
}

void handoff_done(struct handoff_mesh *m, unsigned from, unsigned to)
{
    handoff_ring_release(&m->rings[from * m->n + to]);
}

void handoff_request_stop(struct handoff_mesh *m, unsigned to)
{
    atomic_store(&m->inboxes[to].stop, true);
    wake(m, to);
}

void *handoff_offer_reload(struct handoff_mesh *m, unsigned to, void *payload)
{
    void *old = atomic_exchange(&m->inboxes[to].reload, payload);
    wake(m, to);
    return old;
}

void *handoff_take_control(struct handoff_mesh *m, unsigned to, bool *stop)
{
    *stop = atomic_exchange(&m->inboxes[to].stop, false);
    return atomic_exchange(&m->inboxes[to].reload, NULL);
}
