/* tls_peer: the tls/ engine on a real loopback socket, for interop tests
 * against openssl s_server/s_client and stunnel. Blocking I/O with poll and a
 * deadline; it moves a pattern of bytes each way and reports the result.
 *
 *   tls_peer client HOST PORT DOMAIN LEAF_PREFIX CA SEND EXPECT
 *   tls_peer server HOST LEAF_PREFIX CA SEND EXPECT   (prints "port N")
 *
 * LEAF_PREFIX names <prefix>.chain.pem and <prefix>.key. The peer sends SEND
 * pattern bytes, reads EXPECT bytes that must equal the pattern, prints one
 * "ok version=... identities=..." line, sends close_notify and exits 0. Any
 * failure prints "fail: <reason>" and exits non-zero. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tls/conn.h"

#define DEADLINE_MS 20000

static uint8_t pattern_byte(size_t i)
{
    return (uint8_t)(i * 31 + 7);
}

static void die(const char *what, const char *detail)
{
    printf("fail: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static void wait_fd(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    int r = poll(&p, 1, DEADLINE_MS);
    if (r <= 0)
        die("timeout waiting for the peer", NULL);
}

/* wire: the socket and the ciphertext received but not yet taken, the
 * buffers this peer lends to the engine. Ciphertext out goes straight to
 * the socket. */
struct wire {
    int fd;
    uint8_t in[32768];
    size_t in_len;
};

static bool send_all(void *arg, const void *data, size_t len)
{
    struct wire *w = arg;
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = send(w->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("send", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static struct tls_io lend(struct wire *w)
{
    return (struct tls_io){.in = w->in, .in_len = w->in_len, .out = send_all, .out_arg = w};
}

/* taken keeps what the engine left of |io| for the next call. */
static void taken(struct wire *w, const struct tls_io *io)
{
    memmove(w->in, io->in, io->in_len);
    w->in_len = io->in_len;
}

/* receive adds one recv() worth of ciphertext; false on EOF. */
static bool receive(struct wire *w)
{
    if (w->in_len == sizeof(w->in))
        die("input bound reached", NULL);
    wait_fd(w->fd, POLLIN);
    ssize_t n = recv(w->fd, w->in + w->in_len, sizeof(w->in) - w->in_len, 0);
    if (n < 0)
        die("recv", strerror(errno));
    if (n == 0)
        return false;
    w->in_len += (size_t)n;
    return true;
}

static enum tls_progress read_some(struct wire *w, struct tls_conn *conn, uint8_t *buf, size_t cap,
                                   size_t *n)
{
    struct tls_io io = lend(w);
    enum tls_progress p = tls_conn_read(conn, &io, buf, cap, n);
    taken(w, &io);
    return p;
}

static void run(int fd, struct tls_conn *conn, size_t send_len, size_t expect_len)
{
    static struct wire w;
    w.fd = fd;
    for (;;) {
        struct tls_io io = lend(&w);
        enum tls_progress p = tls_conn_handshake(conn, &io);
        taken(&w, &io);
        if (p == TLS_PROGRESS_DONE)
            break;
        if (p == TLS_PROGRESS_FAILED)
            die("handshake", tls_conn_error_reason(conn));
        if (!receive(&w))
            die("peer closed during handshake", NULL);
    }
    uint8_t *out = malloc(send_len + 1);
    for (size_t i = 0; i < send_len; i++)
        out[i] = pattern_byte(i);
    struct tls_io io = lend(&w);
    if (tls_conn_write(conn, &io, out, send_len) == TLS_PROGRESS_FAILED)
        die("write", tls_conn_error_reason(conn));
    free(out);
    size_t got = 0;
    while (got < expect_len) {
        uint8_t buf[4096];
        size_t n;
        enum tls_progress p = read_some(&w, conn, buf, sizeof(buf), &n);
        if (p == TLS_PROGRESS_FAILED)
            die("read", tls_conn_error_reason(conn));
        if (p == TLS_PROGRESS_CLOSED)
            die("peer closed early", NULL);
        for (size_t i = 0; i < n; i++, got++)
            if (got >= expect_len || buf[i] != pattern_byte(got))
                die("received bytes differ from the pattern", NULL);
        if (p == TLS_PROGRESS_WANT_READ && !receive(&w))
            die("peer closed the socket early", NULL);
    }
    printf("ok version=%s resumed=%d identities=", tls_conn_version(conn), tls_conn_resumed(conn));
    struct tls_identities *ids = tls_conn_identities(conn);
    for (size_t i = 0; i < tls_identities_count(ids); i++)
        printf("%s%s", i ? "," : "", tls_identities_get(ids, i));
    printf("\n");
    fflush(stdout);
    io = lend(&w);
    tls_conn_close_notify(conn, &io);
    shutdown(fd, SHUT_WR);
    /* Wait for the peer's close_notify or EOF: closing with unread bytes
     * would reset the connection and could destroy data the peer has not
     * read yet. */
    for (;;) {
        uint8_t buf[4096];
        size_t n;
        enum tls_progress p = read_some(&w, conn, buf, sizeof(buf), &n);
        if (p == TLS_PROGRESS_CLOSED || p == TLS_PROGRESS_FAILED || !receive(&w))
            break;
    }
}

static struct tls_ctx *make_ctx(const char *prefix, const char *ca)
{
    char cert[4096], key[4096], err[512];
    if (snprintf(cert, sizeof(cert), "%s.chain.pem", prefix) >= (int)sizeof(cert) ||
        snprintf(key, sizeof(key), "%s.key", prefix) >= (int)sizeof(key))
        die("path too long", prefix);
    struct tls_ctx_options opts = {
        .certificate_file = cert,
        .private_key_file = key,
        .ca_file = ca,
        .client_cert_required = true,
    };
    struct tls_ctx *ctx = tls_ctx_new(&opts, err, sizeof(err));
    if (ctx == NULL)
        die("tls_ctx_new", err);
    return ctx;
}

static struct sockaddr_in address(const char *host, int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        die("bad IPv4 address", host);
    return sa;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 9 && strcmp(argv[1], "client") == 0) {
        struct tls_ctx *ctx = make_ctx(argv[5], argv[6]);
        struct sockaddr_in sa = address(argv[2], atoi(argv[3]));
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
            die("connect", strerror(errno));
        struct tls_conn *conn = tls_conn_new_client(ctx, argv[4], NULL, NULL, 0);
        run(fd, conn, strtoul(argv[7], NULL, 10), strtoul(argv[8], NULL, 10));
        tls_conn_free(conn);
        tls_ctx_unref(ctx);
        close(fd);
        return 0;
    }
    if (argc == 7 && strcmp(argv[1], "server") == 0) {
        struct tls_ctx *ctx = make_ctx(argv[3], argv[4]);
        struct sockaddr_in sa = address(argv[2], 0);
        socklen_t len = sizeof(sa);
        int lfd = socket(AF_INET, SOCK_STREAM, 0);
        if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 4) != 0 ||
            getsockname(lfd, (struct sockaddr *)&sa, &len) != 0)
            die("listen", strerror(errno));
        printf("port %d\n", ntohs(sa.sin_port));
        wait_fd(lfd, POLLIN);
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            die("accept", strerror(errno));
        struct tls_conn *conn = tls_conn_new_server(ctx);
        run(fd, conn, strtoul(argv[5], NULL, 10), strtoul(argv[6], NULL, 10));
        tls_conn_free(conn);
        tls_ctx_unref(ctx);
        close(fd);
        close(lfd);
        return 0;
    }
    fprintf(stderr, "usage: tls_peer client HOST PORT DOMAIN LEAF_PREFIX CA SEND EXPECT\n"
                    "       tls_peer server HOST LEAF_PREFIX CA SEND EXPECT\n");
    return 2;
}
