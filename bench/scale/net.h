/* bench/scale/net.h: the few socket calls the bench tools share: address
 * parsing, a listener, a blocking connect with a timeout. Borrows the
 * caller's strings; returns sockets the caller then owns; never resolves
 * names (numeric addresses only: the bench runs on loopback). */
#ifndef REUSEGW_BENCH_SCALE_NET_H
#define REUSEGW_BENCH_SCALE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* A numeric socket address. */
struct net_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/* Parses "a.b.c.d:port" or "[v6]:port" (port 0 allowed); false on error. */
bool net_parse(const char *text, struct net_addr *a);

/* Parses a bare numeric IP (port 0); false on error. */
bool net_parse_ip(const char *text, struct net_addr *a);

/* Formats a as "ip:port" ("[v6]:port") into buf. */
void net_format(const struct net_addr *a, char *buf, size_t cap);

/* A non-blocking listening TCP socket on a (SO_REUSEADDR, and SO_REUSEPORT
 * when reuseport, so that threads can share one port); -1 on error. */
int net_listen(const struct net_addr *a, bool reuseport);

/* The socket's local address. */
bool net_local(int fd, struct net_addr *a);

/* A TCP connection to `to`, from `from` when not NULL (port 0), connected
 * and blocking with send and receive timeouts of timeout_s (for a TLS
 * handshake that follows); TCP_NODELAY on. -1 on error. */
int net_connect(const struct net_addr *to, const struct net_addr *from, int timeout_s);

/* Makes fd non-blocking and clears the timeouts; false on error. */
bool net_nonblocking(int fd);

#endif
