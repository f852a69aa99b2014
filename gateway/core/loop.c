/* loop: loop.h dispatched to the backend chosen in loop_new. One indirect
 * call per operation is the whole cost of having two backends. */
#include "core/loop.h"

#include <errno.h>

#include "core/loop_backend.h"

struct loop *loop_new(const struct loop_options *options, loop_handler handler, void *ctx)
{
    switch (options->backend) {
    case LOOP_BACKEND_IO_URING:
        return loop_uring_new(options, handler, ctx);
    case LOOP_BACKEND_EPOLL:
        return loop_epoll_new(options, handler, ctx);
    }
    errno = EINVAL;
    return NULL;
}

void loop_free(struct loop *loop)
{
    if (loop)
        loop->ops->free(loop);
}

const char *loop_backend_name(const struct loop *loop)
{
    return loop->ops->name(loop);
}

int loop_accept(struct loop *loop, int fd, uint64_t tag)
{
    return loop->ops->accept(loop, fd, tag);
}

int loop_recv(struct loop *loop, int fd, uint64_t tag)
{
    return loop->ops->recv(loop, fd, tag);
}

int loop_send(struct loop *loop, int fd, const void *buf, size_t len, uint64_t tag)
{
    return loop->ops->send(loop, fd, buf, len, tag);
}

int loop_connect(struct loop *loop, int fd, const struct sockaddr *sa, socklen_t len, uint64_t tag)
{
    return loop->ops->connect(loop, fd, sa, len, tag);
}

int loop_read(struct loop *loop, int fd, void *buf, size_t len, uint64_t tag)
{
    return loop->ops->read(loop, fd, buf, len, tag);
}

int loop_poll(struct loop *loop, int fd, unsigned events, uint64_t tag)
{
    return loop->ops->poll(loop, fd, events, tag);
}

int loop_close(struct loop *loop, int fd, uint64_t tag)
{
    return loop->ops->close(loop, fd, tag);
}

int loop_cancel(struct loop *loop, uint64_t tag)
{
    return loop->ops->cancel(loop, tag);
}

int loop_cancel_fd(struct loop *loop, int fd)
{
    return loop->ops->cancel_fd(loop, fd);
}

int loop_msg(struct loop *loop, struct loop *target, uint64_t tag, uint64_t failed_tag)
{
    if (!loop->ops->msg || target->ops != loop->ops)
        return -EOPNOTSUPP;
    return loop->ops->msg(loop, target, tag, failed_tag);
}

int loop_run_once(struct loop *loop, int64_t timeout_ms)
{
    return loop->ops->run_once(loop, timeout_ms);
}
