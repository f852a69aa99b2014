/* ops_loop: the test loop driver and the dnsmasq launcher. */
#include "ops_loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void dispatch(void *ctx, const struct loop_event *ev)
{
    struct ops_loop *l = ctx;
    uint8_t op = (uint8_t)(ev->tag >> 56);
    if (op == OPS_TAG_DNS && l->dns)
        dns_on_event(l->dns, ev);
    else if (op == OPS_TAG_ADMIN && l->admin)
        admin_on_event(l->admin, ev);
    else if (op == OPS_TAG_STOP)
        l->stopped = true;
}

void ops_loop_init(struct ops_loop *l)
{
    memset(l, 0, sizeof(*l));
    struct loop_options o = {.entries = 256, .recv_buffer_count = 64, .recv_buffer_size = 4096};
    l->loop = loop_new(&o, dispatch, l);
    assert_non_null(l->loop);
    assert_true(timer_heap_init(&l->timers, 256));
}

void ops_loop_free(struct ops_loop *l)
{
    loop_free(l->loop);
    timer_heap_free(&l->timers);
}

static void turn(struct ops_loop *l, uint64_t deadline)
{
    uint64_t now = timer_now_ms();
    timer_run(&l->timers, now);
    int64_t wait = timer_next_ms(&l->timers, now);
    int64_t left = now < deadline ? (int64_t)(deadline - now) : 0;
    if (wait < 0 || wait > left)
        wait = left;
    if (wait > 100)
        wait = 100;
    int n = loop_run_once(l->loop, wait);
    assert_true(n >= 0 || n == -EINTR);
}

bool ops_loop_run(struct ops_loop *l, const bool *done, uint64_t timeout_ms)
{
    uint64_t deadline = timer_now_ms() + timeout_ms;
    while (!*done && timer_now_ms() < deadline)
        turn(l, deadline);
    return *done;
}

bool ops_loop_run_while_pending(struct ops_loop *l, uint64_t timeout_ms)
{
    uint64_t deadline = timer_now_ms() + timeout_ms;
    while (dns_pending(l->dns) && timer_now_ms() < deadline)
        turn(l, deadline);
    return dns_pending(l->dns) == 0;
}

/* free_udp_port asks the kernel for a port free on |addr|. */
static uint16_t free_udp_port(const char *addr)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in in = {.sin_family = AF_INET};
    inet_pton(AF_INET, addr, &in.sin_addr);
    socklen_t len = sizeof(in);
    if (fd < 0 || bind(fd, (struct sockaddr *)&in, len) != 0 ||
        getsockname(fd, (struct sockaddr *)&in, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    close(fd);
    return ntohs(in.sin_port);
}

/* answers sends one A query for ready.test and waits briefly for a reply. */
static bool answers(const struct dnsmasq_server *s)
{
    static const uint8_t query[] = {0x12, 0x34, 0x01, 0x00, 0, 1,   0,   0,   0,   0, 0, 0, 5, 'r',
                                    'e',  'a',  'd',  'y',  4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(s->port)};
    inet_pton(AF_INET, s->addr, &in.sin_addr);
    bool ok = false;
    if (fd >= 0 && sendto(fd, query, sizeof(query), 0, (struct sockaddr *)&in, sizeof(in)) > 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        uint8_t buf[512];
        ok = poll(&p, 1, 200) == 1 && recv(fd, buf, sizeof(buf), 0) > 0;
    }
    if (fd >= 0)
        close(fd);
    return ok;
}

bool dnsmasq_start(struct dnsmasq_server *s, unsigned ttl, const char *const *records)
{
    pid_t me = getpid();
    snprintf(s->addr, sizeof(s->addr), "127.53.%d.%d", (int)(me / 250 % 250) + 1,
             (int)(me % 250) + 1);
    s->port = free_udp_port(s->addr);
    if (!s->port)
        return false;
    char port[32], listen[64], local_ttl[32];
    snprintf(port, sizeof(port), "--port=%u", s->port);
    snprintf(local_ttl, sizeof(local_ttl), "--local-ttl=%u", ttl);
    snprintf(listen, sizeof(listen), "--listen-address=%s", s->addr);
    const char *argv[64] = {
        "dnsmasq",     "--no-daemon", "--conf-file=/dev/null", "--no-resolv",    "--no-hosts",
        "--pid-file=", local_ttl,     "--bind-interfaces",     "--local=/test/", port,
        listen};
    size_t n = 11;
    for (size_t i = 0; records[i] && n < 63; i++)
        argv[n++] = records[i];
    argv[n] = NULL;
    s->pid = fork();
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0 && !getenv("OPS_TEST_VERBOSE")) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        }
        execvp("dnsmasq", (char *const *)argv);
        _exit(127);
    }
    if (s->pid < 0)
        return false;
    for (int i = 0; i < 100; i++) { /* up to ~20 s on a loaded machine */
        if (answers(s))
            return true;
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return false;
        }
    }
    dnsmasq_stop(s);
    return false;
}

void dnsmasq_stop(struct dnsmasq_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
    s->pid = 0;
}
