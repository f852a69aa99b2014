/* sd_notify: the systemd service notification protocol (sd_notify(3)),
 * spoken directly: one AF_UNIX SOCK_DGRAM datagram of "KEY=VALUE" lines to
 * the socket named by $NOTIFY_SOCKET (a path, or "@name" for Linux's
 * abstract namespace), and the watchdog interval systemd asks for in
 * $WATCHDOG_USEC (for this process when $WATCHDOG_PID is unset or ours).
 *
 * Not libsystemd: the protocol is a documented, stable interface of a few
 * lines, and linking libsystemd would add a shared library (and its
 * dependencies) to a container image that never runs systemd, for this one
 * call. Without $NOTIFY_SOCKET every call is a no-op.
 *
 * Owns its socket (struct sd_notify, embedded by the caller). Borrows the
 * environment only while opening. Never blocks: a full socket drops the
 * message, as sd_notify does. */
#ifndef REUSEGW_SD_NOTIFY_H
#define REUSEGW_SD_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

/* sd_notify is the channel to the service manager; fd -1 when there is
 * none (not started by systemd, or Type= other than notify). */
struct sd_notify {
    int fd;
    struct sockaddr_un addr;
    socklen_t addr_len;
    uint64_t watchdog_usec; /* 0: no watchdog */
};

/* sd_notify_open reads $NOTIFY_SOCKET and $WATCHDOG_USEC into |n|. False
 * (and |n| closed) when $NOTIFY_SOCKET is set but unusable (not an
 * absolute path or "@name", too long, or no socket); |why| then says why. */
bool sd_notify_open(struct sd_notify *n, const char **why);

/* sd_notify_send sends |state| ("READY=1", "STOPPING=1", ...; several lines
 * joined with '\n'); a no-op without a channel. */
void sd_notify_send(const struct sd_notify *n, const char *state);

/* sd_notify_reloading sends RELOADING=1 with MONOTONIC_USEC, the
 * CLOCK_MONOTONIC time of the reload's start that systemd (253 and later)
 * wants with it; READY=1 ends the reload. */
void sd_notify_reloading(const struct sd_notify *n);

/* sd_notify_watchdog_ms is how often to send WATCHDOG=1: half of
 * $WATCHDOG_USEC (at least 1 ms), or 0 when systemd asked for none. */
uint64_t sd_notify_watchdog_ms(const struct sd_notify *n);

/* sd_notify_close closes the socket; safe on a closed one. */
void sd_notify_close(struct sd_notify *n);

#endif
