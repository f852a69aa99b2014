/* sd_notify: $NOTIFY_SOCKET, $WATCHDOG_USEC and the datagrams. */
#include "core/sd_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* env_uint reads a decimal environment variable; false when unset or not
 * a plain number. */
static bool env_uint(const char *name, unsigned long long *out)
{
    const char *text = getenv(name);
    if (!text || !*text)
        return false;
    char *end;
    errno = 0;
    *out = strtoull(text, &end, 10);
    return errno == 0 && *end == '\0' && text[0] != '-';
}

bool sd_notify_open(struct sd_notify *n, const char **why)
{
    memset(n, 0, sizeof *n);
    n->fd = -1;
    const char *name = getenv("NOTIFY_SOCKET");
    if (!name || !*name)
        return true;
    size_t len = strlen(name);
    if ((name[0] != '/' && name[0] != '@') || len >= sizeof n->addr.sun_path) {
        *why = "NOTIFY_SOCKET is neither an absolute path nor @name, or too long";
        return false;
    }
    n->addr.sun_family = AF_UNIX;
    memcpy(n->addr.sun_path, name, len);
    if (name[0] == '@')
        n->addr.sun_path[0] = '\0'; /* abstract: the length, not a NUL, ends it */
    n->addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '/'));
    n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (n->fd < 0) {
        *why = "cannot create the notification socket";
        return false;
    }
    unsigned long long usec, pid;
    if (env_uint("WATCHDOG_USEC", &usec) && usec > 0 &&
        (!env_uint("WATCHDOG_PID", &pid) || pid == (unsigned long long)getpid()))
        n->watchdog_usec = usec;
    return true;
}

void sd_notify_send(const struct sd_notify *n, const char *state)
{
    if (n->fd < 0)
        return;
    /* MSG_NOSIGNAL for form's sake: datagram sockets raise no SIGPIPE. */
    (void)sendto(n->fd, state, strlen(state), MSG_NOSIGNAL, (const struct sockaddr *)&n->addr,
                 n->addr_len);
}

void sd_notify_reloading(const struct sd_notify *n)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char state[64];
    snprintf(state, sizeof state, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
    sd_notify_send(n, state);
}

uint64_t sd_notify_watchdog_ms(const struct sd_notify *n)
{
    if (n->fd < 0 || n->watchdog_usec == 0)
        return 0;
    uint64_t half = n->watchdog_usec / 2000;
    return half ? half : 1;
}

void sd_notify_close(struct sd_notify *n)
{
    if (n->fd >= 0)
        close(n->fd);
    n->fd = -1;
}
