/* loop_backend: what an event-loop backend provides to loop.c, the thin
 * dispatcher behind loop.h.
 *
 * Owns nothing: each backend embeds struct loop first in its own state and
 * fills one static loop_ops table. Borrows nothing. Never seen outside the
 * loop_*.c files. */
#ifndef REUSEGW_LOOP_BACKEND_H
#define REUSEGW_LOOP_BACKEND_H

#include "core/loop.h"

/* loop_ops is one backend's implementation of every loop.h operation, with
 * the same contract as the public function of the same name. */
struct loop_ops {
    void (*free)(struct loop *loop);
    const char *(*name)(const struct loop *loop);
    int (*accept)(struct loop *loop, int fd, uint64_t tag);
    int (*recv)(struct loop *loop, int fd, uint64_t tag);
    int (*send)(struct loop *loop, int fd, const void *buf, size_t len, uint64_t tag);
    int (*connect)(struct loop *loop, int fd, const struct sockaddr *sa, socklen_t len,
                   uint64_t tag);
    int (*read)(struct loop *loop, int fd, void *buf, size_t len, uint64_t tag);
    int (*poll)(struct loop *loop, int fd, unsigned events, uint64_t tag);
    int (*close)(struct loop *loop, int fd, uint64_t tag);
    int (*cancel)(struct loop *loop, uint64_t tag);
    int (*cancel_fd)(struct loop *loop, int fd);
    /* NULL when the backend cannot post to another loop */
    int (*msg)(struct loop *loop, struct loop *target, uint64_t tag, uint64_t failed_tag);
    int (*run_once)(struct loop *loop, int64_t timeout_ms);
};

/* struct loop is the first member of every backend's state. */
struct loop {
    const struct loop_ops *ops;
};

/* loop_uring_new and loop_epoll_new are loop_new for one backend: NULL with
 * errno set when the kernel refuses. */
struct loop *loop_uring_new(const struct loop_options *options, loop_handler handler, void *ctx);
struct loop *loop_epoll_new(const struct loop_options *options, loop_handler handler, void *ctx);

#endif
