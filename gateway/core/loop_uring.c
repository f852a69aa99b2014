/* loop_uring: the io_uring backend of loop.h (liburing 2.3).
 *
 * One ring per loop with the strongest task-run mode the kernel accepts, one
 * provided-buffer ring (group 0) for every multishot receive, and one
 * submit-and-wait per turn. */
#include "core/loop_backend.h"

#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum { RECV_GROUP = 0 };

struct uring_loop {
    struct loop base;
    struct io_uring ring;
    loop_handler handler;
    void *ctx;
    struct io_uring_buf_ring *buf_ring;
    size_t buf_ring_bytes;
    uint8_t *buffers;
    unsigned buffer_count;
    unsigned buffer_size;
    const char *backend;
};

/* Task-run modes from best to plainest: DEFER_TASKRUN runs completions only
 * when we enter the kernel, which is what a single-threaded loop wants. */
static const struct {
    unsigned flags;
    const char *name;
} setups[] = {
    {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, "io_uring+defer_taskrun"},
    {IORING_SETUP_COOP_TASKRUN, "io_uring+coop_taskrun"},
    {0, "io_uring"},
};

static int setup_ring(struct uring_loop *loop, unsigned entries)
{
    int err = -EINVAL;
    for (size_t i = 0; i < sizeof(setups) / sizeof(setups[0]); i++) {
        struct io_uring_params params;
        memset(&params, 0, sizeof(params));
        params.flags = setups[i].flags | IORING_SETUP_SUBMIT_ALL;
        params.cq_entries = entries * 4;
        params.flags |= IORING_SETUP_CQSIZE;
        err = io_uring_queue_init_params(entries, &loop->ring, &params);
        if (err == 0) {
            loop->backend = setups[i].name;
            return 0;
        }
        if (err != -EINVAL)
            return err; /* ENOSYS/EPERM: io_uring itself is unavailable */
    }
    return err;
}

static void recycle_buffer(struct uring_loop *loop, unsigned bid)
{
    io_uring_buf_ring_add(loop->buf_ring, loop->buffers + (size_t)bid * loop->buffer_size,
                          loop->buffer_size, (unsigned short)bid,
                          io_uring_buf_ring_mask(loop->buffer_count), 0);
    io_uring_buf_ring_advance(loop->buf_ring, 1);
}

static int setup_buffers(struct uring_loop *loop, const struct loop_options *o)
{
    if (o->recv_buffer_count == 0 || (o->recv_buffer_count & (o->recv_buffer_count - 1)) ||
        o->recv_buffer_count > 32768)
        return -EINVAL;
    loop->buffer_count = o->recv_buffer_count;
    loop->buffer_size = o->recv_buffer_size;
    /* liburing 2.3 has no io_uring_setup_buf_ring: map the ring ourselves. */
    loop->buf_ring_bytes = sizeof(struct io_uring_buf) * loop->buffer_count;
    void *mem = mmap(NULL, loop->buf_ring_bytes, PROT_READ | PROT_WRITE,
                     MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED)
        return -errno;
    loop->buf_ring = mem;
    loop->buffers = malloc((size_t)loop->buffer_count * loop->buffer_size);
    if (!loop->buffers)
        return -ENOMEM;
    struct io_uring_buf_reg reg = {
        .ring_addr = (unsigned long)(uintptr_t)mem,
        .ring_entries = loop->buffer_count,
        .bgid = RECV_GROUP,
    };
    int err = io_uring_register_buf_ring(&loop->ring, &reg, 0);
    if (err)
        return err;
    io_uring_buf_ring_init(loop->buf_ring);
    for (unsigned i = 0; i < loop->buffer_count; i++)
        recycle_buffer(loop, i);
    return 0;
}

static const struct loop_ops uring_ops;

struct loop *loop_uring_new(const struct loop_options *options, loop_handler handler, void *ctx)
{
    struct uring_loop *loop = calloc(1, sizeof(*loop));
    if (!loop) {
        errno = ENOMEM;
        return NULL;
    }
    loop->base.ops = &uring_ops;
    loop->handler = handler;
    loop->ctx = ctx;
    int err = setup_ring(loop, options->entries);
    if (err) {
        free(loop);
        errno = -err;
        return NULL;
    }
    err = setup_buffers(loop, options);
    if (err) {
        loop_free(&loop->base);
        errno = -err;
        return NULL;
    }
    return &loop->base;
}

static void uring_free(struct loop *base)
{
    struct uring_loop *loop = (struct uring_loop *)base;
    io_uring_queue_exit(&loop->ring);
    if (loop->buf_ring)
        munmap(loop->buf_ring, loop->buf_ring_bytes);
    free(loop->buffers);
    free(loop);
}

static const char *uring_name(const struct loop *base)
{
    const struct uring_loop *loop = (const struct uring_loop *)base;
    return loop->backend;
}

/* get_sqe flushes the queue to the kernel once when it is full, so a burst
 * of work in one turn degrades to an extra submit instead of an error. */
static struct io_uring_sqe *get_sqe(struct uring_loop *loop)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);
    if (!sqe) {
        io_uring_submit(&loop->ring);
        sqe = io_uring_get_sqe(&loop->ring);
    }
    return sqe;
}

static int uring_accept(struct loop *base, int fd, uint64_t tag)
{
    struct uring_loop *loop = (struct uring_loop *)base;
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, tag);
    return 0;
}

static int uring_recv(struct loop *base, int fd, uint64_t tag)
{
    struct uring_loop *loop = (struct uring_loop *)base;
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = RECV_GROUP;
    io_uring_sqe_set_data64(sqe, tag);
    return 0;
}

static int uring_send(struct loop *base, int fd, const void *buf, size_t len, uint64_t tag)
{
    struct uring_loop *loop = (struct uring_loop *)base;
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_send(sqe, fd, buf, len, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, tag);
    return 0;
}

static int uring_connect(struct loop *base, int fd, const struct sockaddr *sa, socklen_t len,
                         uint64_t tag)
{
    struct uring_loop *loop = (struct uring_loop *)base;
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_connect(sqe, fd, sa, len);
    io_uring_sqe_set_data64(sqe, tag);
    return 0;
}

static int uring_read(struct loop *base, int fd, void *buf, size_t len, uint64_t tag)
{
    struct uring_loop *loop = (struct uring_loop *)base;
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_read(sqe, fd, buf, (unsigned)len, (__u64)-1);
    io_uring_sqe_set_data64(sqe, tag);
    return 0;
}

static int uring_poll(struct loop *base, int fd, unsigned events, uint64_t tag)
{
    struct uring_loop *loop = (struct uring_loop *)base;
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_poll_multishot(sqe, fd, events);
    io_uring_sqe_set_data64(sqe, tag);
    return 0;
}

static int uring_close(struct loop *base, int fd, uint64_t tag)
{
    struct uring_loop *loop = (struct uring_loop *)base;
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_close(sqe, fd);
    io_uring_sqe_set_data64(sqe, tag);
    return 0;
}

static int uring_cancel(struct loop *base, uint64_t tag)
{
    struct uring_loop *loop = (struct uring_loop *)base;
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_cancel64(sqe, tag, 0);
    io_uring_sqe_set_data64(sqe, LOOP_TAG_NONE);
    return 0;
}

static int uring_msg(struct loop *base, struct loop *target, uint64_t tag, uint64_t failed_tag)
{
    struct uring_loop *loop = (struct uring_loop *)base;
    struct uring_loop *to = (struct uring_loop *)target;
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_msg_ring(sqe, to->ring.ring_fd, 0, tag, 0);
    /* Only a refusal completes here: the wake-up must not be lost. */
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, failed_tag);
    return 0;
}

static void deliver(struct uring_loop *loop, const struct io_uring_cqe *cqe)
{
    uint64_t tag = io_uring_cqe_get_data64(cqe);
    if (tag == LOOP_TAG_NONE)
        return;
    struct loop_event ev = {
        .tag = tag,
        .res = cqe->res,
        .more = (cqe->flags & IORING_CQE_F_MORE) != 0,
    };
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (cqe->res > 0) {
            ev.data = loop->buffers + (size_t)bid * loop->buffer_size;
            ev.len = (size_t)cqe->res;
        }
        loop->handler(loop->ctx, &ev);
        recycle_buffer(loop, bid);
        return;
    }
    loop->handler(loop->ctx, &ev);
}

static int uring_run_once(struct loop *base, int64_t timeout_ms)
{
    struct uring_loop *loop = (struct uring_loop *)base;
    struct io_uring_cqe *cqe;
    struct __kernel_timespec ts;
    struct __kernel_timespec *tsp = NULL;
    if (timeout_ms >= 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (timeout_ms % 1000) * 1000000;
        tsp = &ts;
    }
    int err = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, tsp, NULL);
    if (err < 0 && err != -ETIME)
        return err;
    int delivered = 0;
    /* Handlers queue new work while we drain; it goes out on the next turn. */
    while (io_uring_peek_cqe(&loop->ring, &cqe) == 0) {
        struct io_uring_cqe copy = *cqe;
        io_uring_cqe_seen(&loop->ring, cqe);
        deliver(loop, &copy);
        delivered++;
    }
    return delivered;
}

static int uring_cancel_fd(struct loop *base, int fd)
{
    struct uring_loop *loop = (struct uring_loop *)base;
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, LOOP_TAG_NONE);
    return 0;
}

static const struct loop_ops uring_ops = {
    .free = uring_free,
    .name = uring_name,
    .accept = uring_accept,
    .recv = uring_recv,
    .send = uring_send,
    .connect = uring_connect,
    .read = uring_read,
    .poll = uring_poll,
    .close = uring_close,
    .cancel = uring_cancel,
    .cancel_fd = uring_cancel_fd,
    .msg = uring_msg,
    .run_once = uring_run_once,
};
