/* io_backend: runtime.io_backend policy. Every worker calls in with the same
 * setting, so the fallback warning is emitted by whichever asks first. */
#include "core/io_backend.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"

static _Atomic(const char *) in_use;
static atomic_bool fallback_logged;

static struct loop *create(enum loop_backend backend, const struct loop_options *options,
                           loop_handler handler, void *ctx)
{
    struct loop_options o = *options;
    o.backend = backend;
    struct loop *loop = loop_new(&o, handler, ctx);
    if (loop)
        atomic_store(&in_use, backend == LOOP_BACKEND_EPOLL ? "epoll" : "io_uring");
    return loop;
}

struct loop *io_backend_loop_new(enum cfg_io_backend want, const struct loop_options *options,
                                 loop_handler handler, void *ctx)
{
    struct loop *loop;
    int err;
    switch (want) {
    case CFG_IO_URING:
        loop = create(LOOP_BACKEND_IO_URING, options, handler, ctx);
        if (!loop) {
            err = errno;
            LOG_ERROR("runtime.io_backend is io_uring but io_uring is unavailable; "
                      "set io_backend: auto or epoll",
                      LF_STR("reason", strerror(err)));
            errno = err;
        }
        return loop;
    case CFG_IO_EPOLL:
        break;
    case CFG_IO_AUTO:
        loop = create(LOOP_BACKEND_IO_URING, options, handler, ctx);
        if (loop)
            return loop;
        err = errno;
        if (!atomic_exchange(&fallback_logged, true)) {
            char msg[160];
            snprintf(msg, sizeof(msg), "io_uring unavailable (%s), using epoll", strerror(err));
            LOG_WARN(msg, LF_STR("reason", strerror(err)));
        }
        break;
    }
    loop = create(LOOP_BACKEND_EPOLL, options, handler, ctx);
    if (!loop) {
        err = errno;
        LOG_ERROR("cannot create the epoll event loop", LF_STR("reason", strerror(err)));
        errno = err;
    }
    return loop;
}

const char *io_backend_in_use(void)
{
    return atomic_load(&in_use);
}
