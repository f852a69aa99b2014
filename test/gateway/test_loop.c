/* Unit tests of gateway/loop_uring on a real io_uring and real loopback
 * sockets: multishot accept, connect, multishot receive through the
 * provided-buffer ring (including running out of buffers and re-arming on
 * ENOBUFS), short-send-safe send, cancel and close. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/loop.h"

enum { TAG_ACCEPT = 1, TAG_CONNECT, TAG_RECV, TAG_SEND, TAG_CLOSE, TAG_CLIENT_RECV };

struct events {
    int accepted_fd;
    int connect_res;
    bool connected;
    uint8_t received[8192];
    size_t received_len;
    bool recv_armed;
    int recv_end; /* res of the last final recv event */
    int enobufs;
    int send_res;
    int close_res;
    bool closed;
};

static void on_event(void *ctx, const struct loop_event *ev)
{
    struct events *e = ctx;
    switch (ev->tag) {
    case TAG_ACCEPT:
        if (ev->res >= 0) {
            e->accepted_fd = ev->res;
            assert_true(ev->more); /* multishot stays armed */
        } else {
            assert_int_equal(ev->res, -ECANCELED); /* loop_cancel_fd at the end */
        }
        break;
    case TAG_CONNECT:
        e->connect_res = ev->res;
        e->connected = true;
        break;
    case TAG_RECV:
        if (ev->res > 0) {
            assert_int_equal(ev->len, (size_t)ev->res);
            assert_true(e->received_len + ev->len <= sizeof(e->received));
            memcpy(e->received + e->received_len, ev->data, ev->len);
            e->received_len += ev->len;
        }
        if (!ev->more) {
            e->recv_armed = false;
            e->recv_end = ev->res;
            if (ev->res == -ENOBUFS)
                e->enobufs++;
        }
        break;
    case TAG_SEND:
        e->send_res = ev->res;
        break;
    case TAG_CLOSE:
        e->close_res = ev->res;
        e->closed = true;
        break;
    default:
        fail_msg("unexpected tag %llu", (unsigned long long)ev->tag);
    }
}

static int listener(struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    *addr = (struct sockaddr_in){.sin_family = AF_INET};
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof(*addr)), 0);
    socklen_t len = sizeof(*addr);
    getsockname(fd, (struct sockaddr *)addr, &len);
    assert_int_equal(listen(fd, 8), 0);
    return fd;
}

static void run_until(struct loop *loop, bool *flag)
{
    for (int i = 0; i < 200 && !*flag; i++)
        assert_true(loop_run_once(loop, 50) >= 0);
    assert_true(*flag);
}

static void accept_connect_recv_send_close(void **state)
{
    struct events e = {.accepted_fd = -1};
    struct loop_options o = {.entries = 64, .recv_buffer_count = 4, .recv_buffer_size = 64};
    struct loop *loop = loop_new(&o, on_event, &e);
    assert_non_null(loop);
    assert_non_null(strstr(loop_backend_name(loop), "io_uring"));

    struct sockaddr_in addr;
    int lfd = listener(&addr);
    assert_int_equal(loop_accept(loop, lfd, TAG_ACCEPT), 0);
    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_int_equal(loop_connect(loop, cfd, (struct sockaddr *)&addr, sizeof(addr), TAG_CONNECT),
                     0);
    run_until(loop, &e.connected);
    assert_int_equal(e.connect_res, 0);
    for (int i = 0; i < 200 && e.accepted_fd < 0; i++)
        loop_run_once(loop, 50);
    assert_true(e.accepted_fd >= 0);

    /* 4 buffers of 64 bytes cannot hold 3000 bytes sent at once: the
     * multishot receive ends with ENOBUFS and is re-armed until all of it
     * arrived, in order. */
    uint8_t sent[3000];
    for (size_t i = 0; i < sizeof(sent); i++)
        sent[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(loop_recv(loop, e.accepted_fd, TAG_RECV), 0);
    e.recv_armed = true;
    assert_int_equal(send(cfd, sent, sizeof(sent), 0), (ssize_t)sizeof(sent));
    for (int i = 0; i < 400 && e.received_len < sizeof(sent); i++) {
        if (!e.recv_armed) {
            assert_int_equal(e.recv_end, -ENOBUFS);
            assert_int_equal(loop_recv(loop, e.accepted_fd, TAG_RECV), 0);
            e.recv_armed = true;
        }
        loop_run_once(loop, 50);
    }
    assert_int_equal(e.received_len, sizeof(sent));
    assert_memory_equal(e.received, sent, sizeof(sent));
    print_message("ENOBUFS re-arms: %d\n", e.enobufs);

    /* Send back; the completion reports the bytes taken. */
    e.send_res = -1;
    assert_int_equal(loop_send(loop, e.accepted_fd, "pong", 4, TAG_SEND), 0);
    for (int i = 0; i < 200 && e.send_res < 0; i++)
        loop_run_once(loop, 50);
    assert_int_equal(e.send_res, 4);
    char back[8] = {0};
    for (int i = 0; i < 200 && recv(cfd, back, sizeof(back), 0) < 0; i++)
        usleep(10000);
    assert_string_equal(back, "pong");

    /* Cancel ends the multishot receive. */
    if (!e.recv_armed) {
        assert_int_equal(loop_recv(loop, e.accepted_fd, TAG_RECV), 0);
        e.recv_armed = true;
        loop_run_once(loop, 0);
    }
    assert_int_equal(loop_cancel(loop, TAG_RECV), 0);
    for (int i = 0; i < 200 && e.recv_armed; i++)
        loop_run_once(loop, 50);
    assert_false(e.recv_armed);
    assert_int_equal(e.recv_end, -ECANCELED);

    /* Peer close is EOF (res 0) on a fresh receive. */
    assert_int_equal(loop_recv(loop, e.accepted_fd, TAG_RECV), 0);
    e.recv_armed = true;
    close(cfd);
    for (int i = 0; i < 200 && e.recv_armed; i++)
        loop_run_once(loop, 50);
    assert_int_equal(e.recv_end, 0);

    assert_int_equal(loop_close(loop, e.accepted_fd, TAG_CLOSE), 0);
    run_until(loop, &e.closed);
    assert_int_equal(e.close_res, 0);
    loop_cancel_fd(loop, lfd);
    loop_run_once(loop, 0);
    close(lfd);
    loop_free(loop);
}

static void run_once_honours_its_timeout(void **state)
{
    struct events e = {0};
    struct loop_options o = {.entries = 8, .recv_buffer_count = 2, .recv_buffer_size = 64};
    struct loop *loop = loop_new(&o, on_event, &e);
    assert_non_null(loop);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(loop_run_once(loop, 100), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    assert_true(ms >= 90);
    loop_free(loop);
}

static void bad_buffer_count_is_refused(void **state)
{
    struct events e = {0};
    struct loop_options o = {.entries = 8, .recv_buffer_count = 3, .recv_buffer_size = 64};
    assert_null(loop_new(&o, on_event, &e));
    assert_int_equal(errno, EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accept_connect_recv_send_close),
        cmocka_unit_test(run_once_honours_its_timeout),
        cmocka_unit_test(bad_buffer_count_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
