/* The descriptor reserve and the spare descriptor (gateway/conn/conn_fds.h)
 * under a real RLIMIT_NOFILE of 64: the floors an accepted and a dialled
 * socket are judged by, and the shedding of a listen backlog once accept
 * fails with EMFILE — every waiting peer sees its connection end (EOF),
 * each is counted, and the spare is held again afterwards. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn/conn_fds.h"
#include "conn/conn_limits.h"
#include "core/metrics.h"

enum { LIMIT = 64, WAITING = 3 };

static struct conn_layer cl;
static struct metrics m;

static uint64_t hits(void)
{
    return m.v[M_LIMIT_FIRST + LIMIT_FDS];
}

static int setup(void **state)
{
    (void)state;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = LIMIT;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    cl.metrics = &m;
    conn_fds_init(&cl.fds);
    return cl.fds.spare >= 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    conn_fds_free(&cl.fds);
    return 0;
}

static void floors_keep_a_reserve(void **state)
{
    (void)state;
    /* 64 descriptors: 1/4 kept back (16), dials may use the first half. */
    assert_int_equal(cl.fds.limit, LIMIT);
    uint64_t before = hits();
    assert_true(conn_fds_admit(&cl, 47, false));
    assert_false(conn_fds_admit(&cl, 48, false));
    assert_true(conn_fds_admit(&cl, 48, true));
    assert_true(conn_fds_admit(&cl, 55, true));
    assert_false(conn_fds_admit(&cl, 56, true));
    assert_int_equal(hits() - before, 2);
}

static int listener(struct sockaddr_in *at)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    socklen_t len = sizeof(*at);
    *at = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(l, (struct sockaddr *)at, len), 0);
    assert_int_equal(listen(l, 16), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)at, &len), 0);
    return l;
}

static void emfile_sheds_the_backlog(void **state)
{
    (void)state;
    struct sockaddr_in at;
    int l = listener(&at);
    int peers[WAITING];
    for (int i = 0; i < WAITING; i++) {
        peers[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(connect(peers[i], (struct sockaddr *)&at, sizeof(at)), 0);
    }
    /* Every descriptor taken: accept fails as reusegw's would. */
    int filler[LIMIT];
    int n = 0;
    while (n < LIMIT && (filler[n] = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        n++;
    assert_true(accept4(l, NULL, NULL, SOCK_NONBLOCK) < 0 && conn_fds_out(errno));

    uint64_t before = hits();
    assert_int_equal(conn_fds_shed(&cl, l), WAITING);
    assert_int_equal(hits() - before, WAITING);
    assert_true(cl.fds.spare >= 0); /* held again */
    /* An empty backlog sheds nothing: the caller rests its listener. */
    assert_int_equal(conn_fds_shed(&cl, l), 0);
    assert_true(cl.fds.spare >= 0);

    for (int i = 0; i < n; i++)
        close(filler[i]);
    for (int i = 0; i < WAITING; i++) {
        char byte;
        ssize_t got = recv(peers[i], &byte, 1, 0);
        assert_true(got == 0 || (got < 0 && errno == ECONNRESET));
        close(peers[i]);
    }
    close(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(floors_keep_a_reserve),
        cmocka_unit_test(emfile_sheds_the_backlog),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
