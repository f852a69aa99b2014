/* worker/ — the top layer (this header is its manual): one event-loop
 * thread's whole world, composed of the layers below it — its loop and
 * timers (core/), connection layer (conn/), relay (relay/), admin endpoint
 * (admin/) — plus its listeners, the completion dispatcher, the SIGTERM
 * drain, start-up of N workers (gateway.h) and reload (reload.h).
 *
 * Owns its loop, timers, registry and the layers embedded in it, and a
 * reference to the configuration snapshot and TLS context the layers
 * borrow. Borrows, with several workers, the worker_group. Never touches
 * another worker's state: workers meet only in the group's peer index and
 * hand-off channels. */
#ifndef REUSEGW_WORKER_H
#define REUSEGW_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/signalfd.h>

#include "admin/conn_board.h"
#include "config/config.h"
#include "conn/conn-t.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/sd_notify.h"
#include "core/timer.h"
#include "relay/relay-t.h"
#include "worker/watch.h"

struct admin_worker;
struct capture;
struct handoff_mesh;
struct peer_index;
struct cfg_snapshot;
struct tls_ctx;

/* tls.listen addresses, legacy.listen and one legacy_listen per identity */
#define WORKER_MAX_LISTENERS (17 + CFG_MAX_IDENTITIES)

/* listener is one bound, listening socket. */
struct listener {
    int fd;
    bool is_tls; /* tls.listen (peers) or legacy.listen (egress) */
    bool armed;
    struct timer retry; /* re-arms accept after fds or memory ran out */
    char name[300];     /* "host:port" for logs */
};

struct worker;

/* worker_group is what N > 1 workers share; owned by gateway.c, which
 * creates it before and frees it after every worker. One worker has none. */
struct worker_group {
    unsigned n;
    struct worker *workers;   /* [n]; worker 0 runs the admin endpoint */
    struct peer_index *index; /* every worker's indexed TLS connections */
    struct handoff_mesh *mesh;
};

#define WORKER_MAX 64 /* runtime.workers (and auto) is capped here */

struct worker {
    struct cfg_snapshot *cfg; /* referenced; the layers borrow it */
    struct tls_ctx *tls_ctx;  /* referenced; the connection layer borrows it */
    struct loop *loop;
    struct timer_heap timers;   /* its clock too: timers.now_ms */
    struct metrics metrics;     /* its event counts: /metrics and the exit line */
    struct conn_layer conn;     /* connections, pools, handshake limits */
    struct relay_layer relay;   /* pending transactions, DNS routing */
    struct admin_worker *admin; /* admin endpoint; NULL when not bound */
    struct capture *capture;    /* HEP sender (capture/capture.h); idle when off */
    struct listener listeners[WORKER_MAX_LISTENERS];
    size_t n_listeners;
    bool stopping;
    uint64_t drain_deadline_ms;
    int signal_fd;
    struct signalfd_siginfo signal_info;
    /* With several workers: its group and id, the buffer its wake-up
     * eventfd is read into, and the timer that refreshes its registry for
     * worker 0's scrapes. */
    struct worker_group *group;
    unsigned id;
    uint64_t wake_value;
    struct timer bridge;
    /* Its connections for /connections, published by the bridge timer
     * (worker 0: at each request) and read by worker 0. */
    struct conn_board board;
    /* Worker 0 under systemd: the notification channel (borrowed from
     * gateway_run; NULL on the others) and the timer that sends WATCHDOG=1
     * from this loop, so that a stuck loop stops it. */
    const struct sd_notify *notify;
    struct timer watchdog;
    /* tls.watch, on worker 0 (the one that reloads); off elsewhere. */
    struct cert_watch watch;
};

/* worker_share is this worker's part of a process-wide limit |value|:
 * ceil(value / workers); |value| itself with one worker. */
static inline uint32_t worker_share(const struct worker *w, uint32_t value)
{
    unsigned n = w->group ? w->group->n : 1;
    return (uint32_t)(((uint64_t)value + n - 1) / n);
}

/* worker_init prepares |w| for |cfg| and |tls_ctx| (references taken) and
 * creates its loop. Returns 0 or -errno (logged). Release with
 * worker_free. */
int worker_init(struct worker *w, struct cfg_snapshot *cfg, struct tls_ctx *tls_ctx);

/* worker_init_member is worker_init for worker |id| of |group| (borrowed
 * for the worker's life): its tables are sized by its share of the limits
 * and its index changes are mirrored into the group's peer index. */
int worker_init_member(struct worker *w, struct cfg_snapshot *cfg, struct tls_ctx *tls_ctx,
                       struct worker_group *group, unsigned id);

/* worker_free closes every socket and releases everything. */
void worker_free(struct worker *w);

/* worker_listen binds and listens on every tls.listen address and
 * legacy.listen (SO_REUSEADDR; in a group also SO_REUSEPORT, so every
 * worker has its own socket and the kernel spreads connections), and
 * worker 0 opens the admin endpoint. Returns 0, or -1 after logging which
 * address failed and why. */
int worker_listen(struct worker *w);

/* worker_run runs the loop until SIGTERM/SIGINT has drained. Signals must
 * be blocked in the calling thread; |signal_fd| is a signalfd for them, or
 * -1 in a group member that hears of them through its mailbox (worker 0
 * reads the signalfd and tells the others). Returns 0 on a clean stop, -1
 * on a loop failure (logged). */
int worker_run(struct worker *w, int signal_fd);

/* worker_install swaps |cfg| and |tls_ctx| in (references taken) for new
 * connections and requests: a reload, once vetted by reload.h. */
void worker_install(struct worker *w, struct cfg_snapshot *cfg, struct tls_ctx *tls_ctx);

#endif
