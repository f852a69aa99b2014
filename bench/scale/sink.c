/* scale_sink: the legacy proxy's side of the scaling benchmark, plain SIP
 * over TCP on loopback.
 *
 *   serve: listens at -l (reusegw's legacy.forward_to; port 0 picks one) and
 *          answers every request with 200 OK, copying Via, From, To,
 *          Call-ID and CSeq (sip/response.h), until SIGTERM. Prints
 *          "ready listen=IP:PORT" once listening.
 *   drive: opens -n connections to -c (reusegw's legacy.listen) and keeps
 *          -W OPTIONS in flight on each (or paces to -r), addressed in turn
 *          to p0..p<N-1>.scale.test, which reusegw routes down the aliased
 *          connections of scale_load -m answer. Reports transactions/s and
 *          latency over the window.
 *          With -l instead of -c it drives the connections it accepts
 *          there: prints "ready listen=IP:PORT", waits for -n connections
 *          (a relay's onward connections, e.g. stunnel's one per TLS
 *          connection) and then keeps -W requests in flight on each, down
 *          the pipe whose far end opened it.
 *
 * Output: one key=value report line on stdout (phase.h). Exit 0 only when
 * no error was counted. */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "names.h"
#include "net.h"
#include "tool.h"

/* Connections one serving thread accepts at most. */
#define SINK_MAX_ACCEPTED 4096

static void usage(void)
{
    fprintf(stderr,
            "usage: scale_sink -m serve -l ADDR [options]\n"
            "       scale_sink -m drive -c ADDR -N DOMAINS [options]\n"
            "       scale_sink -m drive -l ADDR -N DOMAINS [options]\n"
            "  -l ADDR      serve: listen here; drive: accept the -n connections here\n"
            "  -c ADDR      drive: open the -n connections to here\n"
            "  -N DOMAINS   drive: send to p0..p<DOMAINS-1>.scale.test in turn\n" TOOL_USAGE);
    exit(2);
}

/* Listeners for every thread on one port (the first picks it when 0). */
static bool listen_all(struct net_addr *a, unsigned threads, int *fds)
{
    for (unsigned i = 0; i < threads; i++) {
        fds[i] = net_listen(a, threads > 1);
        if (fds[i] < 0 || (i == 0 && !net_local(fds[0], a)))
            return false;
    }
    return true;
}

/* Seconds drive -l waits for its connections. */
#define SINK_ACCEPT_WAIT_S 30

/* Accepts n connections on listener fd (non-blocking) within
 * SINK_ACCEPT_WAIT_S; they go blocking-free with TCP_NODELAY into
 * fds. False on timeout or error. */
static bool accept_n(int fd, unsigned n, int *fds)
{
    uint64_t deadline = phase_now_ns() + (uint64_t)SINK_ACCEPT_WAIT_S * 1000000000u;
    for (unsigned got = 0; got < n;) {
        int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0) {
            int one = 1;
            setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            fds[got++] = c;
            continue;
        }
        if ((errno != EAGAIN && errno != EWOULDBLOCK) || phase_now_ns() > deadline)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 100);
    }
    return true;
}

int main(int argc, char **argv)
{
    struct tool_opts o;
    tool_defaults(&o);
    const char *mode = NULL, *listen_at = NULL, *connect_to = NULL;
    long ndomains = 0;
    int c;
    while ((c = getopt(argc, argv, TOOL_OPTSTRING "m:l:c:N:")) != -1) {
        switch (c) {
        case 'm':
            mode = optarg;
            break;
        case 'l':
            listen_at = optarg;
            break;
        case 'c':
            connect_to = optarg;
            break;
        case 'N': {
            double v;
            if (!tool_number(optarg, 1, 100000, &v))
                usage();
            ndomains = (long)v;
            break;
        }
        default:
            if (!strchr(TOOL_OPTSTRING, c) || !tool_option(&o, c, optarg))
                usage();
        }
    }
    bool serve = mode && strcmp(mode, "serve") == 0;
    bool drive = mode && strcmp(mode, "drive") == 0;
    bool accepting = drive && listen_at; /* drive what connects to us */
    struct net_addr addr;
    if ((!serve && !drive) || (serve && (!listen_at || !net_parse(listen_at, &addr))) ||
        (drive &&
         (!connect_to == !listen_at || !net_parse(listen_at ? listen_at : connect_to, &addr) ||
          ndomains < 1 || ndomains > 100000)))
        usage();

    char **targets = NULL;
    if (drive) {
        targets = calloc((size_t)ndomains, sizeof(*targets));
        for (long i = 0; i < ndomains; i++) {
            targets[i] = malloc(32);
            names_peer_domain((unsigned)i, targets[i], 32);
        }
    }
    int fds[64];
    if (serve && !listen_all(&addr, o.threads, fds)) {
        perror("scale_sink: listen");
        return 1;
    }
    int *accepted = NULL;
    if (accepting) {
        int lfd = net_listen(&addr, false);
        char where[64];
        if (lfd < 0 || !net_local(lfd, &addr)) {
            perror("scale_sink: listen");
            return 1;
        }
        net_format(&addr, where, sizeof(where));
        printf("ready listen=%s\n", where);
        fflush(stdout);
        accepted = calloc(o.conns, sizeof(*accepted));
        if (!accepted || !accept_n(lfd, o.conns, accepted)) {
            fprintf(stderr, "scale_sink: %u connections did not arrive\n", o.conns);
            return 1;
        }
        close(lfd);
    }
    struct phase phase = {0};
    struct loop *loops = calloc(o.threads, sizeof(*loops));
    for (unsigned i = 0; i < o.threads; i++) {
        struct loop_spec spec = {.phase = &phase,
                                 .policy = drive ? SEND_LOAD : SEND_NONE,
                                 .targets = (const char *const *)targets,
                                 .ntargets = (unsigned)ndomains,
                                 .listen_fd = serve ? fds[i] : -1,
                                 .accept_form = {.transport = "TCP"}};
        tool_spec(&o, &spec);
        if (serve)
            spec.max_conns = SINK_MAX_ACCEPTED;
        if (!loop_init(&loops[i], &spec)) {
            fprintf(stderr, "scale_sink: out of memory\n");
            return 1;
        }
    }
    for (unsigned i = 0; drive && i < o.conns; i++) {
        int fd = accepted ? accepted[i] : net_connect(&addr, NULL, 10);
        struct net_addr local;
        if (fd < 0 || !net_local(fd, &local) || (!accepted && !net_nonblocking(fd))) {
            perror("scale_sink: connect");
            return 1;
        }
        struct peer_form form = {.transport = "TCP"};
        net_format(&local, form.sent_by, sizeof(form.sent_by));
        if (!loop_add(&loops[i % o.threads], fd, NULL, i, &form)) {
            fprintf(stderr, "scale_sink: out of memory\n");
            return 1;
        }
    }
    tool_block_signals();
    char ready[96], where[64];
    net_format(&addr, where, sizeof(where));
    snprintf(ready, sizeof(ready), "ready listen=%s", where);
    int status = tool_run(&phase, loops, o.threads, &o, drive, "scale_sink", mode, ready);
    free(loops);
    free(accepted);
    for (long i = 0; drive && i < ndomains; i++)
        free(targets[i]);
    free(targets);
    return status;
}
