/* hep_collector: a HEPv3 collector for the e2e tests, standing in for
 * heplify-server (not packaged for Debian; sngrep, the real collector the
 * tests also use, listens over UDP only and keeps neither the capture id nor
 * the auth key). Every packet is read with hep_decode.h and printed as one
 * JSON line on stdout; a packet that does not decode prints {"error": ...}.
 *
 *   hep_collector udp|tcp IP PORT [--stop-after N]
 *
 * Prints "listening" on stderr once bound. --stop-after N (TCP): after N
 * packets it stops reading but keeps the connection open, so the sender's
 * stream backs up as with a stalled collector. Ends on SIGTERM. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hep_decode.h"

static void print_octets(const char *name, struct hep_octets o)
{
    printf(",\"%s\":\"", name);
    const unsigned char *p = o.p;
    for (size_t i = 0; i < o.len; i++) {
        if (p[i] == '"' || p[i] == '\\')
            printf("\\%c", p[i]);
        else if (p[i] < 0x20 || p[i] >= 0x7f)
            printf("\\u%04x", p[i]);
        else
            putchar(p[i]);
    }
    putchar('"');
}

static void print_packet(const uint8_t *buf, size_t len, size_t *used)
{
    struct hep_decoded d;
    const char *why = "";
    *used = hep_decode(buf, len, &d, &why);
    if (*used == 0) {
        if (strcmp(why, "incomplete") != 0) {
            printf("{\"error\":\"%s\"}\n", why);
            *used = len; /* a stream that does not decode is not resynchronised */
        }
        return;
    }
    char src[INET6_ADDRSTRLEN] = "", dst[INET6_ADDRSTRLEN] = "";
    int family = d.family == 10 ? AF_INET6 : AF_INET;
    inet_ntop(family, d.src_addr, src, sizeof(src));
    inet_ntop(family, d.dst_addr, dst, sizeof(dst));
    printf("{\"family\":%u,\"ip_proto\":%u,\"proto_type\":%u,\"src\":\"%s\",\"src_port\":%u,"
           "\"dst\":\"%s\",\"dst_port\":%u,\"ts_sec\":%u,\"ts_usec\":%u,\"capture_id\":%u,"
           "\"seen\":%u",
           d.family, d.ip_proto, d.proto_type, src, d.src_port, dst, d.dst_port, d.ts_sec,
           d.ts_usec, d.capture_id, d.seen);
    print_octets("auth_key", d.auth_key);
    print_octets("correlation_id", d.correlation_id);
    print_octets("node_name", d.node_name);
    print_octets("payload", d.payload);
    printf("}\n");
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: hep_collector udp|tcp IP PORT [--stop-after N]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    int tcp = strcmp(argv[1], "tcp") == 0;
    long stop_after = argc >= 6 && strcmp(argv[4], "--stop-after") == 0 ? atol(argv[5]) : -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
    inet_pton(AF_INET, argv[2], &sa.sin_addr);
    int fd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (tcp && stop_after >= 0) { /* small buffers: a stalled reader backs up fast */
        int small = 4096;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || (tcp && listen(fd, 8) != 0)) {
        perror("bind");
        return 1;
    }
    fprintf(stderr, "listening\n");
    static uint8_t buf[1 << 20];
    long packets = 0;
    for (;;) {
        int conn = tcp ? accept(fd, NULL, NULL) : fd;
        if (conn < 0)
            return 1;
        size_t have = 0;
        for (;;) {
            if (stop_after >= 0 && packets >= stop_after) {
                pause(); /* stalled: the connection stays open, unread */
                continue;
            }
            ssize_t n = recv(conn, buf + have, sizeof(buf) - have, 0);
            if (n <= 0)
                break;
            have = tcp ? have + (size_t)n : (size_t)n;
            size_t at = 0, used;
            while (at < have && (stop_after < 0 || packets < stop_after)) {
                print_packet(buf + at, have - at, &used);
                if (used == 0)
                    break;
                at += used;
                packets++;
            }
            if (!tcp) {
                have = 0;
                continue;
            }
            memmove(buf, buf + at, have - at);
            have -= at;
        }
        if (!tcp)
            return 1;
        close(conn);
    }
}
