/* Conformance of loop.h: every test body runs against both backends (io_uring
 * and epoll) on real loopback sockets, pipes and the real kernel. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/loop.h"

enum {
    MAX_EVENTS = 4096,
    CHUNK = 4096, /* small receive buffers force many completions */
    DEADLINE_MS = 20000,
};

/* seen is one recorded completion; received bytes are copied to |data| of
 * the fixture because the loop lends them only during the callback. */
struct seen {
    uint64_t tag;
    int32_t res;
    bool more;
};

struct fixture {
    struct loop *loop;
    struct seen events[MAX_EVENTS];
    size_t n_events;
    uint8_t *data;
    size_t data_len, data_cap;
    int rearm_fd; /* recv to re-arm on -ENOBUFS, or -1 */
    uint64_t rearm_tag;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void record(void *ctx, const struct loop_event *ev)
{
    struct fixture *f = ctx;
    assert_int_not_equal(ev->tag, LOOP_TAG_NONE);
    assert_true(f->n_events < MAX_EVENTS);
    f->events[f->n_events++] = (struct seen){.tag = ev->tag, .res = ev->res, .more = ev->more};
    if (ev->res > 0 && ev->data) {
        assert_int_equal(ev->len, (size_t)ev->res);
        if (f->data_len + ev->len > f->data_cap) {
            f->data_cap = (f->data_len + ev->len) * 2;
            f->data = realloc(f->data, f->data_cap);
            assert_non_null(f->data);
        }
        memcpy(f->data + f->data_len, ev->data, ev->len);
        f->data_len += ev->len;
    }
    if (ev->res == -ENOBUFS && !ev->more && ev->tag == f->rearm_tag)
        assert_int_equal(loop_recv(f->loop, f->rearm_fd, f->rearm_tag), 0);
}

static int setup(void **state)
{
    const enum loop_backend *backend = *state;
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->rearm_fd = -1;
    struct loop_options o = {
        .backend = *backend,
        .entries = 256,
        .recv_buffer_count = 64,
        .recv_buffer_size = CHUNK,
    };
    f->loop = loop_new(&o, record, f);
    assert_non_null(f->loop);
    const char *name = loop_backend_name(f->loop);
    if (*backend == LOOP_BACKEND_EPOLL)
        assert_string_equal(name, "epoll");
    else
        assert_int_equal(strncmp(name, "io_uring", 8), 0); /* plus its task-run mode */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    loop_free(f->loop);
    free(f->data);
    free(f);
    return 0;
}

static size_t count(const struct fixture *f, uint64_t tag)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n_events; i++)
        n += f->events[i].tag == tag;
    return n;
}

static const struct seen *last(const struct fixture *f, uint64_t tag)
{
    for (size_t i = f->n_events; i-- > 0;)
        if (f->events[i].tag == tag)
            return &f->events[i];
    return NULL;
}

/* run_until turns the loop until |tag| has |want| completions, failing the
 * test after DEADLINE_MS: a readiness check, never a sleep. */
static void run_until(struct fixture *f, uint64_t tag, size_t want)
{
    int64_t deadline = now_ms() + DEADLINE_MS;
    while (count(f, tag) < want) {
        assert_true(now_ms() < deadline);
        int n = loop_run_once(f->loop, 100);
        assert_true(n >= 0 || n == -EINTR);
    }
}

/* run_until_end turns the loop until an event for |tag| has |more| false. */
static const struct seen *run_until_end(struct fixture *f, uint64_t tag)
{
    int64_t deadline = now_ms() + DEADLINE_MS;
    for (;;) {
        const struct seen *s = last(f, tag);
        if (s && !s->more)
            return s;
        assert_true(now_ms() < deadline);
        loop_run_once(f->loop, 100);
    }
}

static int listener(struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof(*addr)), 0);
    socklen_t len = sizeof(*addr);
    assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
    assert_int_equal(listen(fd, 64), 0);
    return fd;
}

static int dial_blocking(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (const struct sockaddr *)addr, sizeof(*addr)), 0);
    return fd;
}

/* tcp_pair connects a loopback pair outside the loop: |*server| non-blocking
 * (as the loop gets accepted sockets), |*client| blocking. */
static void tcp_pair(int *server, int *client)
{
    struct sockaddr_in addr;
    int l = listener(&addr);
    *client = dial_blocking(&addr);
    struct pollfd p = {.fd = l, .events = POLLIN};
    assert_int_equal(poll(&p, 1, DEADLINE_MS), 1);
    *server = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(*server >= 0);
    close(l);
}

static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (uint8_t)(seed >> 16);
    }
}

static void test_multishot_accept(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_in addr;
    int l = listener(&addr);
    assert_int_equal(loop_accept(f->loop, l, 1), 0);
    int clients[5];
    for (size_t i = 0; i < 5; i++)
        clients[i] = dial_blocking(&addr);
    run_until(f, 1, 5);
    for (size_t i = 0; i < f->n_events; i++) {
        assert_int_equal(f->events[i].tag, 1);
        assert_true(f->events[i].res >= 0);
        assert_true(f->events[i].more); /* one arming, five connections */
        int fl = fcntl(f->events[i].res, F_GETFL);
        assert_true(fl & O_NONBLOCK);
        assert_true(fcntl(f->events[i].res, F_GETFD) & FD_CLOEXEC);
        close(f->events[i].res);
    }
    assert_int_equal(loop_cancel(f->loop, 1), 0);
    const struct seen *end = run_until_end(f, 1);
    assert_int_equal(end->res, -ECANCELED);
    for (size_t i = 0; i < 5; i++)
        close(clients[i]);
    close(l);
}

static void test_multishot_recv_many_chunks_then_eof(void **state)
{
    struct fixture *f = *state;
    int server, client;
    tcp_pair(&server, &client);
    fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK);
    f->rearm_fd = server;
    f->rearm_tag = 7;
    assert_int_equal(loop_recv(f->loop, server, 7), 0);
    const size_t total = 2u << 20;
    uint8_t *sent = malloc(total);
    assert_non_null(sent);
    fill_pattern(sent, total, 42);
    size_t off = 0;
    int64_t deadline = now_ms() + DEADLINE_MS;
    while (off < total || f->data_len < total) {
        assert_true(now_ms() < deadline);
        if (off < total) {
            ssize_t n = write(client, sent + off, total - off);
            if (n > 0)
                off += (size_t)n;
            else
                assert_true(errno == EAGAIN);
        }
        loop_run_once(f->loop, 10);
    }
    assert_int_equal(f->data_len, total);
    assert_memory_equal(f->data, sent, total);
    size_t data_events = 0;
    for (size_t i = 0; i < f->n_events; i++) {
        if (f->events[i].res > 0) {
            data_events++;
            assert_true(f->events[i].res <= CHUNK);
            assert_true(f->events[i].more);
        } else {
            assert_int_equal(f->events[i].res, -ENOBUFS); /* then re-armed */
        }
    }
    assert_true(data_events >= total / CHUNK);
    shutdown(client, SHUT_WR);
    const struct seen *end = run_until_end(f, 7);
    assert_int_equal(end->res, 0);
    free(sent);
    close(client);
    close(server);
}

static void test_recv_eof_when_peer_closes(void **state)
{
    struct fixture *f = *state;
    int server, client;
    tcp_pair(&server, &client);
    assert_int_equal(loop_recv(f->loop, server, 3), 0);
    close(client);
    const struct seen *end = run_until_end(f, 3);
    assert_int_equal(end->res, 0);
    assert_int_equal(count(f, 3), 1);
    close(server);
}

static void test_large_send_completes_through_short_sends(void **state)
{
    struct fixture *f = *state;
    int server, client;
    tcp_pair(&server, &client);
    int small = 16384;
    setsockopt(server, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK);
    const size_t total = 8u << 20;
    uint8_t *sent = malloc(total);
    uint8_t *got = malloc(total);
    assert_non_null(sent);
    assert_non_null(got);
    fill_pattern(sent, total, 7);
    size_t acked = 0, received = 0, sends = 0;
    bool inflight = false;
    int64_t deadline = now_ms() + DEADLINE_MS;
    while (received < total) {
        assert_true(now_ms() < deadline);
        if (!inflight && acked < total) {
            assert_int_equal(loop_send(f->loop, server, sent + acked, total - acked, 100 + sends),
                             0);
            inflight = true;
        }
        loop_run_once(f->loop, 10);
        if (inflight && count(f, 100 + sends) == 1) {
            const struct seen *s = last(f, 100 + sends);
            assert_false(s->more);
            assert_true(s->res > 0);
            assert_true((size_t)s->res <= total - acked);
            acked += (size_t)s->res;
            sends++;
            inflight = false;
        }
        ssize_t n;
        while ((n = read(client, got + received, total - received)) > 0)
            received += (size_t)n;
    }
    assert_int_equal(acked, total);
    assert_memory_equal(got, sent, total);
    print_message("8 MiB sent in %zu completions\n", sends);
    free(sent);
    free(got);
    close(client);
    close(server);
}

static void test_connect_success_and_refused(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_in ok_addr;
    int l = listener(&ok_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_int_equal(loop_connect(f->loop, fd, (struct sockaddr *)&ok_addr, sizeof(ok_addr), 11),
                     0);
    run_until(f, 11, 1);
    assert_int_equal(last(f, 11)->res, 0);
    assert_false(last(f, 11)->more);
    close(fd);

    /* A port bound without listen refuses: the RST arrives as ECONNREFUSED. */
    int bound = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in refuse = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(bound, (struct sockaddr *)&refuse, sizeof(refuse)), 0);
    socklen_t len = sizeof(refuse);
    getsockname(bound, (struct sockaddr *)&refuse, &len);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_int_equal(loop_connect(f->loop, fd, (struct sockaddr *)&refuse, sizeof(refuse), 12), 0);
    run_until(f, 12, 1);
    assert_int_equal(last(f, 12)->res, -ECONNREFUSED);
    close(fd);
    close(bound);
    close(l);
}

static void test_cancel_by_tag_and_by_fd(void **state)
{
    struct fixture *f = *state;
    int server, client;
    tcp_pair(&server, &client);
    assert_int_equal(loop_recv(f->loop, server, 21), 0);
    loop_run_once(f->loop, 0); /* armed and idle */
    assert_int_equal(loop_cancel(f->loop, 21), 0);
    assert_int_equal(run_until_end(f, 21)->res, -ECANCELED);
    assert_int_equal(count(f, 21), 1);

    /* Everything on one descriptor at once: a receive and a readiness poll. */
    assert_int_equal(loop_recv(f->loop, server, 22), 0);
    assert_int_equal(loop_poll(f->loop, server, POLLIN, 23), 0);
    loop_run_once(f->loop, 0);
    assert_int_equal(loop_cancel_fd(f->loop, server), 0);
    assert_int_equal(run_until_end(f, 22)->res, -ECANCELED);
    assert_int_equal(run_until_end(f, 23)->res, -ECANCELED);
    /* Cancelled means gone: data arriving now completes nothing. */
    size_t before = f->n_events;
    assert_int_equal(write(client, "x", 1), 1);
    loop_run_once(f->loop, 50);
    assert_int_equal(f->n_events, before);
    close(client);
    close(server);
}

static void test_poll_reports_readiness_until_cancelled(void **state)
{
    struct fixture *f = *state;
    int server, client;
    tcp_pair(&server, &client);
    assert_int_equal(loop_poll(f->loop, server, POLLIN, 31), 0);
    assert_int_equal(write(client, "ping", 4), 4);
    run_until(f, 31, 1);
    assert_true(last(f, 31)->res & POLLIN);
    assert_true(last(f, 31)->more);
    char buf[8];
    assert_int_equal(read(server, buf, sizeof(buf)), 4); /* the library does its own I/O */
    assert_int_equal(write(client, "pong", 4), 4);
    run_until(f, 31, 2);
    assert_true(last(f, 31)->res & POLLIN);
    assert_int_equal(loop_cancel(f->loop, 31), 0);
    assert_int_equal(run_until_end(f, 31)->res, -ECANCELED);
    close(client);
    close(server);
}

static void test_read_from_pipe(void **state)
{
    struct fixture *f = *state;
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
    char buf[16] = {0};
    assert_int_equal(loop_read(f->loop, p[0], buf, sizeof(buf), 41), 0);
    loop_run_once(f->loop, 0);
    assert_int_equal(count(f, 41), 0); /* nothing to read yet: it waits */
    assert_int_equal(write(p[1], "signal", 6), 6);
    run_until(f, 41, 1);
    assert_int_equal(last(f, 41)->res, 6);
    assert_false(last(f, 41)->more);
    assert_memory_equal(buf, "signal", 6);
    close(p[0]);
    close(p[1]);
}

static void test_read_from_regular_file(void **state)
{
    struct fixture *f = *state;
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    assert_int_equal(fwrite("config", 1, 6, tmp), 6);
    fflush(tmp);
    int fd = fileno(tmp);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    char buf[16] = {0};
    assert_int_equal(loop_read(f->loop, fd, buf, sizeof(buf), 42), 0);
    run_until(f, 42, 1); /* epoll cannot watch files: still one completion */
    assert_int_equal(last(f, 42)->res, 6);
    assert_memory_equal(buf, "config", 6);
    fclose(tmp);
}

static void test_close_through_the_loop(void **state)
{
    struct fixture *f = *state;
    int server, client;
    tcp_pair(&server, &client);
    assert_int_equal(loop_recv(f->loop, server, 51), 0);
    loop_run_once(f->loop, 0);
    /* The gateway's order: cancel what is in flight, then close. */
    assert_int_equal(loop_cancel_fd(f->loop, server), 0);
    assert_int_equal(loop_close(f->loop, server, 52), 0);
    run_until(f, 52, 1);
    assert_int_equal(last(f, 52)->res, 0);
    assert_int_equal(run_until_end(f, 51)->res, -ECANCELED);
    assert_int_equal(fcntl(server, F_GETFD), -1);
    assert_int_equal(errno, EBADF);
    char c;
    assert_int_equal(read(client, &c, 1), 0); /* the peer sees the close */
    close(client);

    assert_int_equal(loop_close(f->loop, server, 53), 0); /* already closed */
    run_until(f, 53, 1);
    assert_int_equal(last(f, 53)->res, -EBADF);
}

static void test_run_once_timeouts(void **state)
{
    struct fixture *f = *state;
    int64_t t0 = now_ms();
    assert_int_equal(loop_run_once(f->loop, 0), 0);
    assert_true(now_ms() - t0 < 1000);
    t0 = now_ms();
    assert_int_equal(loop_run_once(f->loop, 120), 0);
    int64_t waited = now_ms() - t0;
    assert_true(waited >= 100);
    assert_true(waited < 5000);
    /* A completion ends the wait early. */
    int server, client;
    tcp_pair(&server, &client);
    assert_int_equal(write(client, "x", 1), 1);
    assert_int_equal(loop_recv(f->loop, server, 61), 0);
    t0 = now_ms();
    run_until(f, 61, 1);
    assert_true(now_ms() - t0 < 5000);
    assert_int_equal(last(f, 61)->res, 1);
    close(client);
    close(server);
}

/* other_thread runs a second loop on its own thread (an io_uring set up for
 * a single issuer takes submissions from that thread only), as another
 * worker does, until it has seen |want|. */
struct other_thread {
    enum loop_backend backend;
    struct fixture f;
    sem_t ready;
    uint64_t want;
};

static void *other_main(void *arg)
{
    struct other_thread *o = arg;
    struct loop_options opts = {
        .backend = o->backend, .entries = 64, .recv_buffer_count = 8, .recv_buffer_size = CHUNK};
    o->f.rearm_fd = -1;
    o->f.loop = loop_new(&opts, record, &o->f);
    sem_post(&o->ready);
    if (!o->f.loop)
        return NULL;
    int64_t deadline = now_ms() + DEADLINE_MS;
    while (count(&o->f, o->want) == 0 && now_ms() < deadline)
        loop_run_once(o->f.loop, 100);
    return NULL;
}

static void test_msg_reaches_another_threads_loop(void **state)
{
    struct fixture *f = *state;
    static struct other_thread o;
    memset(&o, 0, sizeof(o));
    if (strcmp(loop_backend_name(f->loop), "epoll") == 0) {
        /* epoll has no way in: the caller falls back to an eventfd. */
        struct loop_options opts = {.backend = LOOP_BACKEND_EPOLL,
                                    .entries = 64,
                                    .recv_buffer_count = 8,
                                    .recv_buffer_size = CHUNK};
        struct loop *target = loop_new(&opts, record, &o.f);
        assert_non_null(target);
        assert_int_equal(loop_msg(f->loop, target, 71, 72), -EOPNOTSUPP);
        loop_free(target);
        return;
    }
    o.backend = LOOP_BACKEND_IO_URING;
    o.want = 71;
    sem_init(&o.ready, 0, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_main, &o), 0);
    sem_wait(&o.ready);
    assert_non_null(o.f.loop);
    assert_int_equal(loop_msg(f->loop, o.f.loop, 71, 72), 0);
    /* The message leaves with the sender's next turn. */
    assert_true(loop_run_once(f->loop, 0) >= 0);
    pthread_join(t, NULL);
    assert_int_equal(count(&o.f, 71), 1);
    assert_int_equal(last(&o.f, 71)->res, 0);
    assert_int_equal(count(f, 72), 0); /* success completes nothing here */
    loop_free(o.f.loop);
    free(o.f.data);
    sem_destroy(&o.ready);
}

static const enum loop_backend uring = LOOP_BACKEND_IO_URING;
static const enum loop_backend epoll_backend = LOOP_BACKEND_EPOLL;

/* The group state is the backend; each test's setup builds a loop on it. */
static int use_uring(void **state)
{
    *state = (void *)&uring;
    return 0;
}

static int use_epoll(void **state)
{
    *state = (void *)&epoll_backend;
    return 0;
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_multishot_accept),
        TEST(test_multishot_recv_many_chunks_then_eof),
        TEST(test_recv_eof_when_peer_closes),
        TEST(test_large_send_completes_through_short_sends),
        TEST(test_connect_success_and_refused),
        TEST(test_cancel_by_tag_and_by_fd),
        TEST(test_poll_reports_readiness_until_cancelled),
        TEST(test_read_from_pipe),
        TEST(test_read_from_regular_file),
        TEST(test_close_through_the_loop),
        TEST(test_run_once_timeouts),
        TEST(test_msg_reaches_another_threads_loop),
    };
    int failed = cmocka_run_group_tests_name("loop_io_uring", tests, use_uring, NULL);
    failed += cmocka_run_group_tests_name("loop_epoll", tests, use_epoll, NULL);
    return failed;
}
