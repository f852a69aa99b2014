/* loop_epoll: the epoll backend of loop.h, for hosts where io_uring is
 * refused (container seccomp profiles, kernel.io_uring_disabled).
 *
 * Emulates completions from level-triggered readiness: operations queue until
 * loop_run_once, which starts them in order, waits on epoll, then performs
 * one syscall per ready operation and delivers its result at once. Receives
 * land in one loop-owned buffer that is reused after each handler returns,
 * so -ENOBUFS never happens here. The submission queue is not bounded by
 * |entries|: operations come from a pool that grows in chunks up to 4M in
 * flight, then loop_* answers -EBUSY. */
#include "core/loop_backend.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

enum op_kind {
    OP_ACCEPT,  /* multishot */
    OP_RECV,    /* multishot */
    OP_POLL,    /* multishot */
    OP_READ,    /* waits for EPOLLIN */
    OP_SEND,    /* tried at once, then waits for EPOLLOUT */
    OP_CONNECT, /* started at once, then waits for EPOLLOUT */
    OP_CLOSE,   /* done at once */
    OP_CANCEL,
    OP_CANCEL_FD,
};

/* op is one queued or parked operation. A parked op sits on its descriptor's
 * list (fd_prev/fd_next) and in the tag hash (hash_next). */
struct op {
    enum op_kind kind;
    int fd;
    uint64_t tag;
    union {
        void *buf;                 /* read */
        const void *cbuf;          /* send */
        const struct sockaddr *sa; /* connect */
    } u;
    size_t len;
    unsigned events; /* poll */
    struct op *next; /* free list or submission queue */
    struct op *fd_prev, *fd_next;
    struct op *hash_next;
};

/* fd_slot is the parked operations of one descriptor and the interest set
 * registered with epoll for them. */
struct fd_slot {
    struct op *head, *tail;
    uint32_t interest;
    bool registered;
};

enum {
    OP_CHUNK = 1024,
    MAX_OP_CHUNKS = 4096, /* 4M operations in flight */
    MAX_FDS = 1 << 24,
    MAX_EVENTS = 256,
};

struct epoll_loop {
    struct loop base;
    int epfd;
    loop_handler handler;
    void *ctx;
    uint8_t *recv_buf;
    size_t recv_size;

    struct op *chunks[MAX_OP_CHUNKS]; /* ops never move, so lists hold pointers */
    size_t n_chunks;
    struct op *free_ops;
    struct op *queue_head, *queue_tail; /* submitted, started on the next turn */

    struct op **hash; /* by tag; as many buckets as ops can exist */
    size_t hash_mask;

    struct fd_slot *fds;
    size_t n_fds;
};

static struct epoll_loop *epoll_of(struct loop *base)
{
    return (struct epoll_loop *)base;
}

static size_t hash_tag(const struct epoll_loop *loop, uint64_t tag)
{
    return (size_t)((tag * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & loop->hash_mask;
}

/* grow_ops adds one chunk of operations and doubles the tag hash when it
 * would have fewer buckets than operations: allocation happens only when the
 * number in flight reaches a new high. */
static bool grow_ops(struct epoll_loop *loop)
{
    if (loop->n_chunks == MAX_OP_CHUNKS)
        return false;
    struct op *chunk = calloc(OP_CHUNK, sizeof(*chunk));
    if (!chunk)
        return false;
    size_t total = (loop->n_chunks + 1) * OP_CHUNK;
    if (total > loop->hash_mask + 1) {
        size_t buckets = (loop->hash_mask + 1) * 2;
        while (buckets < total)
            buckets *= 2;
        struct op **hash = calloc(buckets, sizeof(*hash));
        if (!hash) {
            free(chunk);
            return false;
        }
        size_t old_buckets = loop->hash_mask + 1;
        loop->hash_mask = buckets - 1;
        for (size_t b = 0; b < old_buckets; b++) {
            for (struct op *o = loop->hash[b], *next; o; o = next) {
                next = o->hash_next;
                size_t h = hash_tag(loop, o->tag);
                o->hash_next = hash[h];
                hash[h] = o;
            }
        }
        free(loop->hash);
        loop->hash = hash;
    }
    loop->chunks[loop->n_chunks++] = chunk;
    for (size_t i = OP_CHUNK; i-- > 0;) {
        chunk[i].next = loop->free_ops;
        loop->free_ops = &chunk[i];
    }
    return true;
}

static struct op *op_get(struct epoll_loop *loop)
{
    if (!loop->free_ops && !grow_ops(loop))
        return NULL;
    struct op *o = loop->free_ops;
    loop->free_ops = o->next;
    memset(o, 0, sizeof(*o));
    return o;
}

static void op_put(struct epoll_loop *loop, struct op *o)
{
    o->next = loop->free_ops;
    loop->free_ops = o;
}

/* submit queues |o| for the next turn, like an SQE waiting for submission. */
static int submit(struct epoll_loop *loop, enum op_kind kind, int fd, uint64_t tag, struct op **out)
{
    struct op *o = op_get(loop);
    if (!o)
        return -EBUSY;
    o->kind = kind;
    o->fd = fd;
    o->tag = tag;
    if (loop->queue_tail)
        loop->queue_tail->next = o;
    else
        loop->queue_head = o;
    loop->queue_tail = o;
    if (out)
        *out = o;
    return 0;
}

static struct fd_slot *slot_of(struct epoll_loop *loop, int fd)
{
    if (fd < 0 || (size_t)fd >= MAX_FDS)
        return NULL;
    if ((size_t)fd >= loop->n_fds) {
        size_t n = loop->n_fds ? loop->n_fds : 64;
        while (n <= (size_t)fd)
            n *= 2;
        struct fd_slot *fds = realloc(loop->fds, n * sizeof(*fds));
        if (!fds)
            return NULL;
        memset(fds + loop->n_fds, 0, (n - loop->n_fds) * sizeof(*fds));
        loop->fds = fds;
        loop->n_fds = n;
    }
    return &loop->fds[fd];
}

static uint32_t wants(const struct op *o)
{
    switch (o->kind) {
    case OP_SEND:
    case OP_CONNECT:
        return EPOLLOUT;
    case OP_POLL:
        return o->events;
    default:
        return EPOLLIN;
    }
}

/* update_interest tells epoll what the parked operations of |fd| wait for;
 * a descriptor with nothing parked leaves the epoll set. */
static int update_interest(struct epoll_loop *loop, int fd, struct fd_slot *s)
{
    uint32_t interest = 0;
    for (const struct op *o = s->head; o; o = o->fd_next)
        interest |= wants(o);
    if (s->registered && interest == s->interest)
        return 0;
    struct epoll_event ev = {.events = interest, .data.fd = fd};
    int rc;
    if (!interest) {
        rc = s->registered ? epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL) : 0;
        s->registered = false;
    } else if (s->registered) {
        rc = epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev);
        if (rc != 0 && errno == ENOENT) /* closed behind our back and reused */
            rc = epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
    } else {
        rc = epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev);
        if (rc != 0 && errno == EEXIST)
            rc = epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev);
    }
    if (rc != 0 && interest)
        return -errno;
    s->interest = interest;
    s->registered = interest != 0;
    return 0;
}

static void unpark(struct epoll_loop *loop, struct op *o)
{
    struct fd_slot *s = &loop->fds[o->fd];
    if (o->fd_prev)
        o->fd_prev->fd_next = o->fd_next;
    else
        s->head = o->fd_next;
    if (o->fd_next)
        o->fd_next->fd_prev = o->fd_prev;
    else
        s->tail = o->fd_prev;
    struct op **link = &loop->hash[hash_tag(loop, o->tag)];
    while (*link != o)
        link = &(*link)->hash_next;
    *link = o->hash_next;
}

static void deliver(struct epoll_loop *loop, uint64_t tag, int32_t res, bool more,
                    const uint8_t *data, int *delivered)
{
    if (tag == LOOP_TAG_NONE)
        return;
    struct loop_event ev = {
        .tag = tag,
        .res = res,
        .more = more,
        .data = data,
        .len = data ? (size_t)res : 0,
    };
    loop->handler(loop->ctx, &ev);
    (*delivered)++;
}

/* finish ends |o| with |res|: its last completion. */
static void finish(struct epoll_loop *loop, struct op *o, int32_t res, int *delivered)
{
    uint64_t tag = o->tag;
    op_put(loop, o);
    deliver(loop, tag, res, false, NULL, delivered);
}

/* finish_parked ends a parked |o| and drops its share of the interest set. */
static void finish_parked(struct epoll_loop *loop, struct op *o, int32_t res, int *delivered)
{
    int fd = o->fd;
    unpark(loop, o);
    update_interest(loop, fd, &loop->fds[fd]);
    finish(loop, o, res, delivered);
}

static void park(struct epoll_loop *loop, struct op *o, int *delivered)
{
    struct fd_slot *s = slot_of(loop, o->fd);
    if (!s) {
        finish(loop, o, o->fd < 0 ? -EBADF : -ENOMEM, delivered);
        return;
    }
    o->fd_next = NULL;
    o->fd_prev = s->tail;
    if (s->tail)
        s->tail->fd_next = o;
    else
        s->head = o;
    s->tail = o;
    size_t h = hash_tag(loop, o->tag);
    o->hash_next = loop->hash[h];
    loop->hash[h] = o;
    int err = update_interest(loop, o->fd, s);
    if (err == -EPERM && o->kind == OP_READ) {
        /* epoll refuses regular files, which are always ready: read now. */
        ssize_t n = read(o->fd, o->u.buf, o->len);
        finish_parked(loop, o, n >= 0 ? (int32_t)n : -errno, delivered);
    } else if (err) {
        finish_parked(loop, o, err, delivered);
    }
}

/* cancel_all ends every operation parked on |fd| with -ECANCELED. */
static void cancel_all(struct epoll_loop *loop, int fd, int *delivered)
{
    if (fd < 0 || (size_t)fd >= loop->n_fds)
        return;
    struct fd_slot *s = &loop->fds[fd];
    while (s->head)
        finish_parked(loop, s->head, -ECANCELED, delivered);
}

static struct op *find_tag(struct epoll_loop *loop, uint64_t tag)
{
    for (struct op *o = loop->hash[hash_tag(loop, tag)]; o; o = o->hash_next)
        if (o->tag == tag)
            return o;
    return NULL;
}

static void start_send(struct epoll_loop *loop, struct op *o, int *delivered)
{
    ssize_t n = send(o->fd, o->u.cbuf, o->len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0)
        finish(loop, o, (int32_t)(n > INT32_MAX ? INT32_MAX : n), delivered);
    else if (errno == EAGAIN || errno == EWOULDBLOCK)
        park(loop, o, delivered);
    else
        finish(loop, o, -errno, delivered);
}

static void start_connect(struct epoll_loop *loop, struct op *o, int *delivered)
{
    if (connect(o->fd, o->u.sa, (socklen_t)o->len) == 0)
        finish(loop, o, 0, delivered);
    else if (errno == EINPROGRESS)
        park(loop, o, delivered);
    else
        finish(loop, o, -errno, delivered);
}

static void start_close(struct epoll_loop *loop, struct op *o, int *delivered)
{
    /* The kernel would keep a file open for io_uring operations; here the
     * descriptor goes away, so whatever still waits on it ends now. */
    cancel_all(loop, o->fd, delivered);
    finish(loop, o, close(o->fd) == 0 ? 0 : -errno, delivered);
}

static void start(struct epoll_loop *loop, struct op *o, int *delivered)
{
    switch (o->kind) {
    case OP_SEND:
        start_send(loop, o, delivered);
        break;
    case OP_CONNECT:
        start_connect(loop, o, delivered);
        break;
    case OP_CLOSE:
        start_close(loop, o, delivered);
        break;
    case OP_CANCEL: {
        struct op *target = find_tag(loop, o->tag);
        op_put(loop, o);
        if (target)
            finish_parked(loop, target, -ECANCELED, delivered);
        break;
    }
    case OP_CANCEL_FD:
        cancel_all(loop, o->fd, delivered);
        op_put(loop, o);
        break;
    default:
        park(loop, o, delivered);
        break;
    }
}

static bool transient(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/* perform tries |o| once because its descriptor reported |ready|. */
static void perform(struct epoll_loop *loop, struct op *o, uint32_t ready, int *delivered)
{
    const uint32_t failed = EPOLLERR | EPOLLHUP;
    if (!(ready & (wants(o) | failed)))
        return;
    ssize_t n;
    switch (o->kind) {
    case OP_ACCEPT:
        n = accept4(o->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (n >= 0)
            deliver(loop, o->tag, (int32_t)n, true, NULL, delivered);
        else if (!transient(errno) && errno != ECONNABORTED)
            finish_parked(loop, o, -errno, delivered);
        break;
    case OP_RECV:
        n = recv(o->fd, loop->recv_buf, loop->recv_size, MSG_DONTWAIT);
        if (n > 0)
            deliver(loop, o->tag, (int32_t)n, true, loop->recv_buf, delivered);
        else if (n == 0)
            finish_parked(loop, o, 0, delivered);
        else if (!transient(errno))
            finish_parked(loop, o, -errno, delivered);
        break;
    case OP_POLL:
        deliver(loop, o->tag, (int32_t)(ready & (o->events | failed)), true, NULL, delivered);
        break;
    case OP_READ:
        n = read(o->fd, o->u.buf, o->len);
        if (n >= 0 || !transient(errno))
            finish_parked(loop, o, n >= 0 ? (int32_t)n : -errno, delivered);
        break;
    case OP_SEND:
        n = send(o->fd, o->u.cbuf, o->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0 || !transient(errno))
            finish_parked(loop, o, n >= 0 ? (int32_t)(n > INT32_MAX ? INT32_MAX : n) : -errno,
                          delivered);
        break;
    case OP_CONNECT: {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(o->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        finish_parked(loop, o, -err, delivered);
        break;
    }
    default:
        break;
    }
}

static void epoll_free(struct loop *base)
{
    struct epoll_loop *loop = epoll_of(base);
    if (loop->epfd >= 0)
        close(loop->epfd);
    for (size_t i = 0; i < loop->n_chunks; i++)
        free(loop->chunks[i]);
    free(loop->hash);
    free(loop->fds);
    free(loop->recv_buf);
    free(loop);
}

static const char *epoll_name(const struct loop *base)
{
    (void)base;
    return "epoll";
}

static int epoll_accept(struct loop *base, int fd, uint64_t tag)
{
    return submit(epoll_of(base), OP_ACCEPT, fd, tag, NULL);
}

static int epoll_recv(struct loop *base, int fd, uint64_t tag)
{
    return submit(epoll_of(base), OP_RECV, fd, tag, NULL);
}

static int epoll_send(struct loop *base, int fd, const void *buf, size_t len, uint64_t tag)
{
    struct op *o;
    int err = submit(epoll_of(base), OP_SEND, fd, tag, &o);
    if (err == 0) {
        o->u.cbuf = buf;
        o->len = len;
    }
    return err;
}

static int epoll_connect(struct loop *base, int fd, const struct sockaddr *sa, socklen_t len,
                         uint64_t tag)
{
    struct op *o;
    int err = submit(epoll_of(base), OP_CONNECT, fd, tag, &o);
    if (err == 0) {
        o->u.sa = sa;
        o->len = len;
    }
    return err;
}

static int epoll_read(struct loop *base, int fd, void *buf, size_t len, uint64_t tag)
{
    struct op *o;
    int err = submit(epoll_of(base), OP_READ, fd, tag, &o);
    if (err == 0) {
        o->u.buf = buf;
        o->len = len;
    }
    return err;
}

static int epoll_poll(struct loop *base, int fd, unsigned events, uint64_t tag)
{
    struct op *o;
    int err = submit(epoll_of(base), OP_POLL, fd, tag, &o);
    if (err == 0)
        o->events = events & (EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP);
    return err;
}

static int epoll_close(struct loop *base, int fd, uint64_t tag)
{
    return submit(epoll_of(base), OP_CLOSE, fd, tag, NULL);
}

static int epoll_cancel(struct loop *base, uint64_t tag)
{
    return submit(epoll_of(base), OP_CANCEL, -1, tag, NULL);
}

static int epoll_cancel_fd(struct loop *base, int fd)
{
    return submit(epoll_of(base), OP_CANCEL_FD, fd, LOOP_TAG_NONE, NULL);
}

static int epoll_run_once(struct loop *base, int64_t timeout_ms)
{
    struct epoll_loop *loop = epoll_of(base);
    int delivered = 0;
    /* Start only what was queued before this turn: handlers queue more while
     * we deliver, and that waits for the next turn as it would on io_uring. */
    struct op *o = loop->queue_head;
    loop->queue_head = loop->queue_tail = NULL;
    while (o) {
        struct op *next = o->next;
        start(loop, o, &delivered);
        o = next;
    }

    int wait = delivered || loop->queue_head ? 0
               : timeout_ms < 0              ? -1
               : timeout_ms > INT_MAX        ? INT_MAX
                                             : (int)timeout_ms;
    struct epoll_event events[MAX_EVENTS];
    int n = epoll_wait(loop->epfd, events, MAX_EVENTS, wait);
    if (n < 0)
        return delivered ? delivered : -errno;
    for (int i = 0; i < n; i++) {
        int fd = events[i].data.fd;
        /* One attempt per parked operation: level triggering reports the
         * rest next turn, so one busy socket cannot starve the others. An
         * operation added by a handler is queued, never on this list. */
        for (struct op *p = loop->fds[fd].head, *next; p; p = next) {
            next = p->fd_next;
            perform(loop, p, events[i].events, &delivered);
        }
    }
    return delivered;
}

static const struct loop_ops epoll_ops = {
    .free = epoll_free,
    .name = epoll_name,
    .accept = epoll_accept,
    .recv = epoll_recv,
    .send = epoll_send,
    .connect = epoll_connect,
    .read = epoll_read,
    .poll = epoll_poll,
    .close = epoll_close,
    .cancel = epoll_cancel,
    .cancel_fd = epoll_cancel_fd,
    .run_once = epoll_run_once,
};

struct loop *loop_epoll_new(const struct loop_options *options, loop_handler handler, void *ctx)
{
    if (options->recv_buffer_size == 0) {
        errno = EINVAL;
        return NULL;
    }
    struct epoll_loop *loop = calloc(1, sizeof(*loop));
    if (!loop) {
        errno = ENOMEM;
        return NULL;
    }
    loop->base.ops = &epoll_ops;
    loop->handler = handler;
    loop->ctx = ctx;
    loop->hash_mask = OP_CHUNK - 1;
    loop->hash = calloc(OP_CHUNK, sizeof(*loop->hash));
    loop->recv_size = options->recv_buffer_size;
    loop->recv_buf = malloc(loop->recv_size);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    int err = loop->epfd < 0 ? errno : 0;
    if (!err && (!loop->hash || !loop->recv_buf || !grow_ops(loop)))
        err = ENOMEM;
    if (err) {
        epoll_free(&loop->base);
        errno = err;
        return NULL;
    }
    return &loop->base;
}
