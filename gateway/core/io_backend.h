/* io_backend: turns runtime.io_backend into a running event loop, falling
 * back from io_uring to epoll under `auto`.
 *
 * Owns the process-wide record of the backend in use (the startup log line
 * and the reusegw_io_backend metric read it). Borrows the loop options. Never
 * falls back when the operator named a backend: that choice fails loudly. */
#ifndef REUSEGW_IO_BACKEND_H
#define REUSEGW_IO_BACKEND_H

#include "config/config.h"
#include "core/loop.h"

/* io_backend_loop_new creates a loop as loop_new does, on the backend
 * |want| selects: io_uring or epoll exactly, or for auto io_uring when the
 * kernel lets us set up a ring, else epoll with one warning saying why
 * (logged once per process, however many workers ask). |options->backend| is
 * ignored. Returns NULL with errno set, after logging the reason. Release with
 * loop_free. */
struct loop *io_backend_loop_new(enum cfg_io_backend want, const struct loop_options *options,
                                 loop_handler handler, void *ctx);

/* io_backend_in_use names the backend of the loops created so far ("io_uring"
 * or "epoll"), or NULL before the first: the label value of the
 * reusegw_io_backend metric. Safe from any thread. */
const char *io_backend_in_use(void);

#endif
