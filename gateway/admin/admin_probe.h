/* admin_probe: is the legacy proxy reachable? A TCP connect to
 * legacy.forward_to every few seconds, through the loop, for /ready.
 *
 * Owns its one probe socket and its timer. Borrows the loop and timer heap
 * of its worker. Never sends a byte: a completed connect is the answer, and
 * the socket is closed at once. */
#ifndef REUSEGW_ADMIN_PROBE_H
#define REUSEGW_ADMIN_PROBE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/loop.h"
#include "core/timer.h"

struct cfg_hostport;

/* admin_probe is embedded by its owner; zero-initialise, then
 * admin_probe_start. */
struct admin_probe {
    struct loop *loop;
    struct timer_heap *timers;
    struct timer timer;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    int fd; /* the connect in flight, or -1 */
    uint32_t gen;
    uint8_t tag_op;
    uint32_t interval_ms;
    bool reachable; /* the last probe connected (false until one did) */
};

/* admin_probe_start probes |target| (an IP literal; borrowed during the
 * call) now and then every |interval_ms|; a connect still pending at the
 * next turn counts as unreachable and is cancelled. Completions carry
 * |tag_op| in their top byte: route them to admin_probe_on_event. Returns
 * false (logged) when |target| is not an IP address. */
bool admin_probe_start(struct admin_probe *p, struct loop *loop, struct timer_heap *timers,
                       const struct cfg_hostport *target, uint8_t tag_op, uint32_t interval_ms);

/* admin_probe_on_event handles the completion of a probe connect. */
void admin_probe_on_event(struct admin_probe *p, const struct loop_event *ev);

/* admin_probe_stop cancels the timer and closes a probe socket. */
void admin_probe_stop(struct admin_probe *p);

#endif
