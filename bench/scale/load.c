/* scale_load: TLS peers of reusegw for the scaling benchmark. Opens -n
 * mutually authenticated TLS connections to reusegw's tls.listen, from the
 * source addresses given (-b, once or more: connection i binds source
 * i % count, so that more connections than one address has ephemeral ports
 * reach one listener); connection i proves p<i>.scale.test with client
 * certificate i / 16 (-C/-K given once per 16 connections, names.h) and
 * sends Via sent-by p<i>.scale.test:<port+i> with ;alias. -I adds idle
 * connections after those: handshaken with the certificates in turn, they
 * send nothing, answer what comes, and count in closed= when the other side
 * closes one (the soak holds them). Connections are spread over -t epoll
 * threads; each thread handshakes its own share before the run, in
 * parallel, and the time that took goes to stderr ("established"); with
 * -g it then waits for SIGUSR1 (at most 10 minutes) before the run, so that
 * several scale_load processes can start their windows together.
 *
 *   forward: keeps -W OPTIONS in flight per connection (or paces to -r) and
 *            reports transactions/s and latency over the window.
 *   answer:  sends one OPTIONS per connection (so reusegw aliases it),
 *            prints "ready", then answers every request reusegw sends down
 *            those connections with 200 until SIGTERM.
 *
 * Output: one key=value report line on stdout (phase.h). Exit 0 only when
 * no error was counted. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "names.h"
#include "net.h"
#include "tool.h"

static void usage(void)
{
    fputs("usage: scale_load -c TLS_ADDR -b SOURCE_IP [-b ...] -A CA -C CHAIN -K KEY [-C -K ...]\n"
          "  -b SOURCE_IP source address, up to 64: connection i binds the (i % count)th\n"
          "  -C/-K        client certificate chain and key, once per 16 connections\n"
          "  -I IDLE      idle connections besides -n: they send nothing (default 0)\n"
          "  -m MODE      forward (default) or answer\n"
          "  -H NAME      reusegw's certificate name, for SNI and checking (a.test)\n"
          "  -P PORT      Via sent-by port of connection 0 (20000)\n"
          "  -g           once established, wait for SIGUSR1 before the run\n" TOOL_USAGE,
          stderr);
    exit(2);
}

static SSL_CTX *client_ctx(const char *chain, const char *key, const char *ca)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_use_certificate_chain_file(ctx, chain) ||
        !SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) ||
        !SSL_CTX_load_verify_locations(ctx, ca, NULL)) {
        ERR_print_errors_fp(stderr);
        exit(1);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
}

/* One handshaken, non-blocking TLS connection; exits on failure (the run
 * is void without all its connections). */
static SSL *connect_tls(SSL_CTX *ctx, const struct net_addr *to, const struct net_addr *from,
                        const char *server_name, int *fd_out)
{
    int fd = net_connect(to, from, 10);
    if (fd < 0) {
        perror("scale_load: connect");
        exit(1);
    }
    SSL *ssl = SSL_new(ctx);
    /* BoringSSL frees the record buffers whenever they are empty
     * (SSL_MODE_RELEASE_BUFFERS is a no-op there); shedding the handshake
     * configuration afterwards keeps an idle connection small too. */
    if (ssl)
        SSL_set_shed_handshake_config(ssl, 1);
    if (!ssl || !SSL_set_tlsext_host_name(ssl, server_name) ||
        !X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), server_name, strlen(server_name)) ||
        !SSL_set_fd(ssl, fd) || SSL_connect(ssl) != 1 || !net_nonblocking(fd)) {
        fprintf(stderr, "scale_load: TLS handshake failed\n");
        ERR_print_errors_fp(stderr);
        exit(1);
    }
    *fd_out = fd;
    return ssl;
}

/* What one connecting thread needs: it handshakes connections
 * i = first, first + step, ... < total into its own loop (before the loops
 * start, so nothing else touches that loop). */
struct connector {
    pthread_t tid;
    struct loop *loop;
    unsigned first, step, active, total;
    SSL_CTX **ctxs;
    unsigned nctxs;
    const struct net_addr *to, *from;
    unsigned nfrom;
    const char *server_name;
    long base_port;
};

static void *connect_share(void *arg)
{
    const struct connector *k = arg;
    for (unsigned i = k->first; i < k->total; i += k->step) {
        struct peer_form form = {.transport = "TLS", .alias = true};
        char domain[64];
        names_peer_domain(i, domain, sizeof(domain));
        snprintf(form.sent_by, sizeof(form.sent_by), "%s:%ld", domain,
                 k->base_port + (long)(i < k->active ? i : 0));
        /* Active connection i proves p<i> (certificate i / 16); idle ones
         * take the certificates in turn. */
        SSL_CTX *ctx = k->ctxs[i < k->active ? i / NAMES_PER_CERT : i % k->nctxs];
        int fd;
        SSL *ssl = connect_tls(ctx, k->to, &k->from[i % k->nfrom], k->server_name, &fd);
        if (i == 0) /* what the relay chose: the bench compares relays on it */
            fprintf(stderr, "scale_load: %s %s\n", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
        if (!loop_add(k->loop, fd, ssl, i, &form)) {
            fprintf(stderr, "scale_load: out of memory\n");
            exit(1);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct tool_opts o;
    tool_defaults(&o);
    const char *addr = NULL, *ca = NULL;
    const char *chains[64], *keys[64], *sources[64];
    unsigned nchains = 0, nkeys = 0, nsources = 0, idle = 0;
    const char *mode = "forward", *server_name = "a.test";
    long base_port = NAMES_BASE_PORT;
    bool go_signal = false;
    int c;
    while ((c = getopt(argc, argv, TOOL_OPTSTRING "m:c:b:C:K:A:H:P:I:g")) != -1) {
        switch (c) {
        case 'g':
            go_signal = true;
            break;
        case 'm':
            mode = optarg;
            break;
        case 'c':
            addr = optarg;
            break;
        case 'b':
            if (nsources == 64)
                usage();
            sources[nsources++] = optarg;
            break;
        case 'C':
            if (nchains == 64)
                usage();
            chains[nchains++] = optarg;
            break;
        case 'K':
            if (nkeys == 64)
                usage();
            keys[nkeys++] = optarg;
            break;
        case 'A':
            ca = optarg;
            break;
        case 'H':
            server_name = optarg;
            break;
        case 'P':
        case 'I': {
            double v;
            if (!tool_number(optarg, c == 'P', c == 'P' ? 65535 : 10000000, &v))
                usage();
            if (c == 'P')
                base_port = (long)v;
            else
                idle = (unsigned)v;
            break;
        }
        default:
            if (!strchr(TOOL_OPTSTRING, c) || !tool_option(&o, c, optarg))
                usage();
        }
    }
    bool forward = strcmp(mode, "forward") == 0;
    struct net_addr to, from[64];
    bool sources_ok = nsources > 0;
    for (unsigned i = 0; i < nsources; i++)
        sources_ok &= net_parse_ip(sources[i], &from[i]);
    if (!addr || !sources_ok || !ca || nchains == 0 || nchains != nkeys ||
        nchains * NAMES_PER_CERT < o.conns || (!forward && strcmp(mode, "answer") != 0) ||
        !net_parse(addr, &to) || base_port < 1 || base_port + o.conns > 65536)
        usage();

    SSL_CTX *ctxs[64];
    for (unsigned i = 0; i < nchains; i++)
        ctxs[i] = client_ctx(chains[i], keys[i], ca);
    static const char *const targets[] = {NAMES_LEGACY_TARGET};
    struct phase phase = {0};
    struct loop *loops = calloc(o.threads, sizeof(*loops));
    struct connector *connectors = calloc(o.threads, sizeof(*connectors));
    unsigned total = o.conns + idle;
    for (unsigned i = 0; loops && connectors && i < o.threads; i++) {
        struct loop_spec spec = {.phase = &phase,
                                 .policy = forward ? SEND_LOAD : SEND_ONCE,
                                 .targets = targets,
                                 .ntargets = 1,
                                 .listen_fd = -1};
        tool_spec(&o, &spec);
        /* Thread i holds connections i, i + threads, ...: its active ones
         * first, then its idle ones. */
        spec.max_conns = (total + o.threads - 1) / o.threads;
        spec.senders = (o.conns + o.threads - 1 - i) / o.threads;
        if (!loop_init(&loops[i], &spec)) {
            fprintf(stderr, "scale_load: out of memory\n");
            return 1;
        }
        connectors[i] = (struct connector){.loop = &loops[i],
                                           .first = i,
                                           .step = o.threads,
                                           .active = o.conns,
                                           .total = total,
                                           .ctxs = ctxs,
                                           .nctxs = nchains,
                                           .to = &to,
                                           .from = from,
                                           .nfrom = nsources,
                                           .server_name = server_name,
                                           .base_port = base_port};
    }
    if (!loops || !connectors) {
        fprintf(stderr, "scale_load: out of memory\n");
        return 1;
    }
    /* Blocked before any thread starts, so that only sigtimedwait takes it. */
    sigset_t go;
    sigemptyset(&go);
    sigaddset(&go, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &go, NULL);
    uint64_t t0 = phase_now_ns();
    for (unsigned i = 0; i < o.threads; i++)
        if (pthread_create(&connectors[i].tid, NULL, connect_share, &connectors[i]) != 0) {
            fprintf(stderr, "scale_load: cannot start connecting thread %u\n", i);
            return 1;
        }
    for (unsigned i = 0; i < o.threads; i++)
        pthread_join(connectors[i].tid, NULL);
    double took_s = (double)(phase_now_ns() - t0) / 1e9;
    fprintf(stderr,
            "scale_load: established %u connections (%u active, %u idle) in %.3f s: %.0f "
            "handshakes/s\n",
            total, o.conns, idle, took_s, total / (took_s > 0 ? took_s : 1e-9));
    free(connectors);
    struct timespec go_wait = {.tv_sec = 600};
    if (go_signal && sigtimedwait(&go, NULL, &go_wait) != SIGUSR1) {
        fprintf(stderr, "scale_load: no SIGUSR1 within 10 minutes\n");
        return 1;
    }
    tool_block_signals();
    char ready[64];
    snprintf(ready, sizeof(ready), "ready conns=%u", total);
    int status = tool_run(&phase, loops, o.threads, &o, forward, "scale_load", mode, ready);
    free(loops);
    for (unsigned i = 0; i < nchains; i++)
        SSL_CTX_free(ctxs[i]);
    return status;
}
