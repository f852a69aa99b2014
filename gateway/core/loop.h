/* loop: the event-loop interface every I/O backend implements (io_uring, and
 * epoll where io_uring is refused), one instance per worker thread.
 *
 * Owns its ring (or epoll set) and the receive buffers it lends to handlers for the
 * duration of one callback. Borrows the file descriptors and send buffers it
 * is given until their completion is delivered. Never blocks except in
 * loop_run_once, never interprets the bytes it moves, and keeps no global
 * state, so N workers can each run their own loop. */
#ifndef REUSEGW_LOOP_H
#define REUSEGW_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct loop;

/* loop_event is one completion. |tag| is the caller's 64-bit cookie of the
 * operation; |res| is the syscall-style result (bytes, new fd, or -errno);
 * |more| says a multishot operation stays armed and will report again.
 * For receives, |data|/|len| point into a loop-owned buffer that is valid only
 * until the handler returns. */
struct loop_event {
    uint64_t tag;
    int32_t res;
    bool more;
    const uint8_t *data;
    size_t len;
};

/* loop_handler is called once per completion from loop_run_once. */
typedef void (*loop_handler)(void *ctx, const struct loop_event *ev);

/* LOOP_TAG_NONE marks operations whose completions nobody needs (cancels);
 * they are never delivered to the handler. Callers must not use it. */
#define LOOP_TAG_NONE UINT64_C(0)

/* loop_backend chooses the kernel interface a loop runs on. Both deliver the
 * same completions; epoll emulates them from readiness. */
enum loop_backend {
    LOOP_BACKEND_IO_URING,
    LOOP_BACKEND_EPOLL,
};

/* loop_options sizes a loop. |recv_buffer_count| must be a power of two. */
struct loop_options {
    enum loop_backend backend;
    unsigned entries;           /* submission queue size */
    unsigned recv_buffer_count; /* provided receive buffers */
    unsigned recv_buffer_size;  /* bytes per provided buffer */
};

/* loop_new creates a loop on |options->backend| that reports completions to
 * |handler| with |ctx|. Returns NULL with errno set when the kernel refuses
 * (e.g. io_uring blocked by seccomp); the caller logs it and may fall back to
 * another backend (io_backend.h does).
 * Release with loop_free. */
struct loop *loop_new(const struct loop_options *options, loop_handler handler, void *ctx);

/* loop_free tears the loop down; in-flight operations are abandoned. NULL is a
 * no-op. */
void loop_free(struct loop *loop);

/* loop_backend_name names the backend and the setup it got ("io_uring",
 * "io_uring+defer_taskrun", "epoll") for the startup log line. */
const char *loop_backend_name(const struct loop *loop);

/* The operations below queue work for the next loop_run_once and return 0,
 * or -errno when the queue is full. Each delivers exactly one completion with
 * |tag| unless it is multishot, which delivers until an event with |more|
 * false. */

/* loop_accept arms a multishot accept on listening socket |fd|; accepted
 * sockets arrive non-blocking and close-on-exec as |res|. */
int loop_accept(struct loop *loop, int fd, uint64_t tag);

/* loop_recv arms a multishot receive on |fd| into provided buffers. A final
 * event with res -ENOBUFS means buffers ran out: re-arm it. res 0 is EOF. */
int loop_recv(struct loop *loop, int fd, uint64_t tag);

/* loop_send sends up to |len| bytes of |buf| (borrowed until completion);
 * |res| may be short. */
int loop_send(struct loop *loop, int fd, const void *buf, size_t len, uint64_t tag);

/* loop_connect starts a connect on non-blocking |fd|; |sa| is borrowed until
 * the completion. */
int loop_connect(struct loop *loop, int fd, const struct sockaddr *sa, socklen_t len, uint64_t tag);

/* loop_read reads once from |fd| into |buf| (borrowed until completion);
 * for descriptors that are not sockets, such as a signalfd. */
int loop_read(struct loop *loop, int fd, void *buf, size_t len, uint64_t tag);

/* loop_poll arms a multishot readiness poll on |fd| for |events| (POLLIN,
 * POLLOUT): |res| carries the ready mask each time, until an event with
 * |more| false ends it (re-arm if still wanted). End it with loop_cancel on
 * |tag|. For sockets owned by a library (c-ares) that does its own I/O. */
int loop_poll(struct loop *loop, int fd, unsigned events, uint64_t tag);

/* loop_close closes |fd| through the loop. */
int loop_close(struct loop *loop, int fd, uint64_t tag);

/* loop_cancel asks the kernel to end the operation tagged |tag| (a multishot
 * receive, typically); that operation then completes with -ECANCELED or its
 * last data. */
int loop_cancel(struct loop *loop, uint64_t tag);

/* loop_cancel_fd ends every operation in flight on |fd|, so that closing it
 * leaves nothing holding the socket open. */
int loop_cancel_fd(struct loop *loop, int fd);

/* loop_msg posts a completion with |tag| and res 0 to |target|, the loop
 * of another thread, from the thread running |loop|: io_uring queues an
 * IORING_OP_MSG_RING that leaves with |loop|'s next turn (no system call of
 * its own). If the kernel refuses it later, |loop| delivers |failed_tag|
 * with res -errno; a successful post delivers nothing on |loop|.
 * -EOPNOTSUPP at once when the backends cannot (epoll, or two different
 * backends): the caller wakes |target| another way (an eventfd it reads). */
int loop_msg(struct loop *loop, struct loop *target, uint64_t tag, uint64_t failed_tag);

/* loop_run_once submits everything queued and waits up to |timeout_ms| (<0:
 * forever) for at least one completion, then delivers every completion that
 * is ready. Returns the number delivered or -errno (-EINTR on a signal). */
int loop_run_once(struct loop *loop, int64_t timeout_ms);

#endif
