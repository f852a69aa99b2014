/* worker: set-up, listeners, the completion dispatcher and the run loop
 * with its SIGTERM drain. */
#include "worker/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "admin/admin_worker.h"
#include "admin/metrics_bridge.h"
#include "capture/capture.h"
#include "config/config.h"
#include "conn/conn.h"
#include "conn/conn_io.h"
#include "conn/conn_fds.h"
#include "conn/conn_layer.h"
#include "conn/conn_open.h"
#include "conn/conn_ours.h"
#include "conn/conn_udp.h"
#include "core/addr.h"
#include "core/io_backend.h"
#include "core/log.h"
#include "relay/dns_route.h"
#include "relay/handoff.h"
#include "relay/relay.h"
#include "tls/ctx.h"
#include "worker/reload.h"

enum {
    RECV_BUFFER_SIZE = 16 * 1024,
    RECV_BUFFER_COUNT = 1024,
    RING_ENTRIES = 1024,
    OPS_TIMERS = 65, /* DNS, admin connections, legacy probe, systemd watchdog */
};

/* handoff_wake says how an OP_HANDOFF completion came (its tag's slot). */
enum handoff_wake {
    WAKE_EVENTFD,     /* the read armed on the worker's eventfd */
    WAKE_MSG_RING,    /* another worker's IORING_OP_MSG_RING */
    WAKE_MSG_REFUSED, /* our MSG_RING to worker |gen| was refused */
};

static void dispatch(void *ctx, const struct loop_event *ev);
static void worker_wake(void *ctx, unsigned to);
static void watch_fired(void *ctx);

/* note_key_log sets the key log gauge (held by worker 0) from |w->cfg|. */
static void note_key_log(struct worker *w)
{
    metrics_set(&w->metrics, M_TLS_KEY_LOG_ENABLED, w->id == 0 && w->cfg->tls.key_log != NULL);
}

int worker_init(struct worker *w, struct cfg_snapshot *cfg, struct tls_ctx *tls_ctx)
{
    return worker_init_member(w, cfg, tls_ctx, NULL, 0);
}

int worker_init_member(struct worker *w, struct cfg_snapshot *cfg, struct tls_ctx *tls_ctx,
                       struct worker_group *group, unsigned id)
{
    memset(w, 0, sizeof(*w));
    w->signal_fd = -1;
    w->group = group;
    w->id = id;
    w->cfg = cfg_ref(cfg);
    w->tls_ctx = tls_ctx_ref(tls_ctx);
    const uint32_t max_conns = worker_share(w, cfg->limits.max_connections);
    const uint32_t max_pending = worker_share(w, cfg->limits.max_pending_transactions);
    metrics_set(&w->metrics, M_WORKERS, id == 0 ? (group ? group->n : 1) : 0);
    note_key_log(w);
    struct loop_options lo = {
        .entries = RING_ENTRIES,
        .recv_buffer_count = RECV_BUFFER_COUNT,
        .recv_buffer_size = RECV_BUFFER_SIZE,
    };
    w->loop = io_backend_loop_new(cfg->runtime.io_backend, &lo, dispatch, w);
    if (!w->loop)
        return -errno;
    cert_watch_init(&w->watch, w->loop, &w->timers, watch_fired, w);
    struct conn_layer_borrowed cb = {
        .loop = w->loop,
        .timers = &w->timers,
        .metrics = &w->metrics,
        .cfg = cfg,
        .tls_ctx = tls_ctx,
        .workers = group ? group->n : 1,
        .shared = group ? group->index : NULL,
        .worker_id = id,
    };
    struct relay_layer_borrowed rb = {
        .conn = &w->conn,
        .metrics = &w->metrics,
        .timers = &w->timers,
        .cfg = cfg,
        .id = id,
        .index = group ? group->index : NULL,
        .mesh = group ? group->mesh : NULL,
        .wake_ctx = w,
        .wake = group ? worker_wake : NULL,
    };
    if (!timer_heap_init(&w->timers, max_conns + max_pending + WORKER_MAX_LISTENERS + OPS_TIMERS) ||
        !conn_layer_init(&w->conn, &cb) || !conn_board_init(&w->board, id) ||
        !(w->capture = capture_new(w->loop, &w->timers, &w->metrics))) {
        LOG_ERROR("out of memory sizing the worker", LF_UINT("max_connections", max_conns),
                  LF_UINT("max_pending_transactions", max_pending));
        return -ENOMEM;
    }
    capture_install(w->capture, cfg);
    w->conn.capture = w->capture;
    int rc = relay_layer_init(&w->relay, &rb);
    if (rc == -ENOMEM)
        LOG_ERROR("out of memory sizing the worker", LF_UINT("max_connections", max_conns),
                  LF_UINT("max_pending_transactions", max_pending));
    return rc;
}

void worker_free(struct worker *w)
{
    conn_layer_drop_all(&w->conn);
    for (size_t i = 0; i < w->n_listeners; i++)
        if (w->listeners[i].fd >= 0) {
            shutdown(w->listeners[i].fd, SHUT_RDWR); /* see start_drain */
            close(w->listeners[i].fd);
        }
    /* Before the loop: both cancel what they have in flight on it. */
    admin_worker_free(w->admin);
    relay_layer_free(&w->relay);
    capture_free(w->capture);
    loop_free(w->loop);
    cert_watch_close(&w->watch); /* its read ended with the loop */
    timer_heap_free(&w->timers);
    conn_layer_free(&w->conn);
    conn_board_free(&w->board);
    tls_ctx_unref(w->tls_ctx);
    cfg_unref(w->cfg);
    memset(w, 0, sizeof(*w));
}

/* bind_retrying binds |fd|, retrying EADDRINUSE for up to two seconds: a
 * previous instance's listener can outlive its process briefly, because the
 * kernel tears an io_uring (and the accept armed on it) down asynchronously.
 * Start-up only, before the loop runs, so sleeping here blocks nothing. */
static int bind_retrying(int fd, const struct sockaddr *sa, socklen_t len, const char *name)
{
    enum { BIND_RETRY_MS = 50, BIND_RETRIES = 40 };
    for (int attempt = 0;; attempt++) {
        if (bind(fd, sa, len) == 0)
            return 0;
        if (errno != EADDRINUSE || attempt == BIND_RETRIES)
            return -1;
        if (attempt == 0)
            LOG_INFO("listen address in use, retrying for 2 s", LF_STR("address", name));
        nanosleep(&(struct timespec){.tv_nsec = BIND_RETRY_MS * 1000000L}, NULL);
    }
}

/* listen_socket makes a listening socket of |family|, sharing its address
 * with the other workers' when |shared|. -1 with errno on failure. */
static int listen_socket(int family, bool shared)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (shared)
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        if (family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    }
    return fd;
}

static int listen_on(struct worker *w, const struct cfg_hostport *hp, bool is_tls)
{
    char name[300];
    cfg_hostport_format(hp, name, sizeof(name));
    struct sockaddr_storage ss;
    socklen_t len;
    if (!addr_from_hostport(hp, &ss, &len)) {
        LOG_ERROR("listen address is not an IP address", LF_STR("address", name));
        return -1;
    }
    if (w->n_listeners == WORKER_MAX_LISTENERS) {
        LOG_ERROR("too many listen addresses", LF_UINT("max", WORKER_MAX_LISTENERS));
        return -1;
    }
    /* SO_REUSEPORT would also let a group share the address with another
     * process of the same user, such as a previous instance still dying:
     * worker 0 first proves it free with a socket of its own, waiting as
     * bind_retrying does. */
    int probe = w->group && w->id == 0 ? listen_socket(ss.ss_family, false) : -1;
    bool free_now = !w->group || w->id != 0 ||
                    (probe >= 0 && bind_retrying(probe, (struct sockaddr *)&ss, len, name) == 0);
    if (probe >= 0)
        close(probe);
    int fd = free_now ? listen_socket(ss.ss_family, w->group != NULL) : -1;
    if (fd < 0 || bind_retrying(fd, (struct sockaddr *)&ss, len, name) != 0 ||
        listen(fd, 1024) != 0) {
        LOG_ERROR("cannot listen", LF_STR("address", name),
                  LF_STR("listener", is_tls ? "tls.listen" : "legacy.listen"),
                  LF_STR("reason", strerror(errno)));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct listener *l = &w->listeners[w->n_listeners++];
    l->fd = fd;
    l->is_tls = is_tls;
    snprintf(l->name, sizeof(l->name), "%s", name);
    return 0;
}

static void arm_listener(struct worker *w, size_t i)
{
    struct listener *l = &w->listeners[i];
    if (!l->armed && l->fd >= 0 &&
        loop_accept(w->loop, l->fd, tag_make(OP_ACCEPT, (uint32_t)i + 1, 0)) == 0)
        l->armed = true;
}

_Static_assert(WORKER_MAX <= ADMIN_MAX_REGISTRIES, "a scrape must cover every worker");

/* admin_registries lists every worker's registry for a /metrics scrape. */
static size_t admin_registries(void *ctx, const struct metrics **out, size_t max)
{
    const struct worker *w = ctx;
    size_t n = w->group ? w->group->n : 1;
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = w->group ? &w->group->workers[i].metrics : &w->metrics;
    return n < max ? n : max;
}

/* admin_identities lists the identities served and their TLS contexts:
 * the default identity (identity.sent_by, tls.certificate), then every one
 * of identities[], in the ctx's order. */
static size_t admin_identities(void *ctx, struct admin_identity *out, size_t max)
{
    const struct worker *w = ctx;
    size_t n = w->tls_ctx ? tls_ctx_identity_count(w->tls_ctx) : 0;
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++) {
        snprintf(out[i].name, sizeof(out[i].name), "%s", conn_ours_name(w->cfg, i));
        out[i].ctx = w->tls_ctx;
        out[i].index = i;
    }
    return n;
}

/* admin_boards publishes this worker's connection board and lists every
 * worker's for /connections. */
static size_t admin_boards(void *ctx, struct conn_board **out, size_t max)
{
    struct worker *w = ctx;
    conn_board_publish(&w->board, &w->conn.conns, w->timers.now_ms);
    size_t n = w->group ? w->group->n : 1;
    for (size_t i = 0; i < n && i < max; i++)
        out[i] = w->group ? &w->group->workers[i].board : &w->board;
    return n < max ? n : max;
}

/* admin_state answers the parts of /ready only the worker knows. */
static void admin_state(void *ctx, struct admin_readiness *out)
{
    const struct worker *w = ctx;
    size_t extra = 0;
    for (size_t i = 0; i < w->cfg->n_identities; i++)
        extra += w->cfg->identities[i].has_legacy_listen;
    out->listeners_bound = w->n_listeners == w->cfg->tls.n_listen + 1 + extra;
    out->certificate_loaded = w->tls_ctx != NULL;
    out->draining = w->stopping;
}

/* listen_udp opens the legacy side's datagram sockets (legacy.transport
 * udp, conn/conn_udp.h): legacy.listen itself, shared by the workers, and
 * this worker's forward socket on the same address with a port of its
 * own, from which requests leave for legacy.forward_to. */
static int listen_udp(struct worker *w)
{
    struct sockaddr_storage at, to;
    socklen_t at_len, to_len;
    char name[300];
    cfg_hostport_format(&w->cfg->legacy.listen, name, sizeof(name));
    if (!addr_from_hostport(&w->cfg->legacy.listen, &at, &at_len) ||
        !addr_from_hostport(&w->cfg->legacy.forward_to, &to, &to_len)) {
        LOG_ERROR("legacy.transport udp needs IP addresses", LF_STR("address", name));
        return -1;
    }
    const char *why = NULL;
    struct conn *l =
        conn_udp_open(&w->conn, (struct sockaddr *)&at, at_len, w->group != NULL, NULL, 0, &why);
    if (l) {
        w->conn.udp_listen = conn_ref_of(&w->conn.conns, l);
        if (at.ss_family == AF_INET)
            ((struct sockaddr_in *)&at)->sin_port = 0;
        else
            ((struct sockaddr_in6 *)&at)->sin6_port = 0;
        struct conn *f = conn_udp_open(&w->conn, (struct sockaddr *)&at, at_len, false,
                                       (struct sockaddr *)&to, to_len, &why);
        if (f) {
            w->conn.udp_forward = conn_ref_of(&w->conn.conns, f);
            return 0;
        }
    }
    LOG_ERROR("cannot bind udp", LF_STR("address", name), LF_STR("listener", "legacy.listen"),
              LF_STR("reason", why));
    return -1;
}

int worker_listen(struct worker *w)
{
    for (size_t i = 0; i < w->cfg->tls.n_listen; i++)
        if (listen_on(w, &w->cfg->tls.listen[i], true) != 0)
            return -1;
    if (listen_on(w, &w->cfg->legacy.listen, false) != 0)
        return -1;
    for (size_t i = 0; i < w->cfg->n_identities; i++) /* egress bound to an identity */
        if (w->cfg->identities[i].has_legacy_listen &&
            listen_on(w, &w->cfg->identities[i].legacy_listen, false) != 0)
            return -1;
    if (w->cfg->legacy.transport == CFG_LEGACY_UDP && listen_udp(w) != 0)
        return -1;
    for (size_t i = 0; i < w->n_listeners; i++)
        arm_listener(w, i);
    if (w->id == 0) /* one admin endpoint; its /metrics and /aliases cover the group */
        w->admin = admin_worker_new(&(struct admin_view){
            .loop = w->loop,
            .timers = &w->timers,
            .cfg = w->cfg,
            .conns = &w->conn.conns,
            .metrics = &w->metrics,
            .index = w->group ? w->group->index : NULL,
            .ctx = w,
            .registries = admin_registries,
            .state = admin_state,
            .identities = admin_identities,
            .boards = admin_boards,
        }); /* optional: NULL keeps the relay running */
    return 0;
}

/* How long a listener rests after accept ran out of fds or memory. */
enum { ACCEPT_RETRY_MS = 100 };

static void retry_accept(void *ctx, struct timer *timer)
{
    struct worker *w = ctx;
    struct listener *l = (struct listener *)((char *)timer - offsetof(struct listener, retry));
    if (!w->stopping)
        arm_listener(w, (size_t)(l - w->listeners));
}

/* out_of_resources is true for accept errors that leave the connection in
 * the backlog: accepting again at once fails again, so the loop would spin. */
static bool out_of_resources(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static void on_accept(struct worker *w, const struct loop_event *ev)
{
    uint32_t i = tag_ref(ev->tag).slot - 1;
    struct listener *l = &w->listeners[i];
    if (!ev->more)
        l->armed = false;
    if (ev->res >= 0) {
        if (w->stopping)
            close(ev->res);
        else
            conn_accepted(&w->conn, ev->res, l->is_tls,
                          l->is_tls ? 0 : conn_ours_by_listen(w->cfg, l->name));
    } else if (ev->res != -ECANCELED) {
        /* Out of descriptors: the spare sheds the backlog (conn_fds.h, which
         * logs it); accept again at once when anything was waiting, else
         * rest below (io_uring fails accept at once while none is free). */
        bool no_fds = conn_fds_out(-ev->res) && !l->armed;
        if (no_fds && conn_fds_shed(&w->conn, l->fd) > 0) {
            arm_listener(w, i);
            return;
        }
        if (!no_fds)
            LOG_RATELIMITED(LOG_WARN, "accept failed", LF_STR("listener", l->name),
                            LF_STR("reason", strerror(-ev->res)));
        l->retry.fire = retry_accept;
        l->retry.ctx = w;
        if (!l->armed && out_of_resources(-ev->res) &&
            timer_arm(&w->timers, &l->retry, w->timers.now_ms + ACCEPT_RETRY_MS))
            return;
    }
    if (!w->stopping)
        arm_listener(w, i);
}

static void arm_signal(struct worker *w)
{
    loop_read(w->loop, w->signal_fd, &w->signal_info, sizeof(w->signal_info),
              tag_make(OP_SIGNAL, 0, 0));
}

/* notify tells systemd |state| when this worker holds the channel. */
static void notify(const struct worker *w, const char *state)
{
    if (w->notify)
        sd_notify_send(w->notify, state);
}

static void start_drain(struct worker *w, const char *signame)
{
    if (w->stopping)
        return;
    w->stopping = true;
    notify(w, "STOPPING=1\nSTATUS=draining");
    /* now_ms is as old as the last wake-up, which an idle loop makes seconds old. */
    w->timers.now_ms = timer_now_ms();
    w->drain_deadline_ms = w->timers.now_ms + w->cfg->runtime.drain_timeout_ms;
    LOG_INFO("stopping: no new connections, draining transactions", LF_STR("signal", signame),
             LF_UINT("pending", w->relay.pending.open),
             LF_UINT("drain_timeout_ms", w->cfg->runtime.drain_timeout_ms));
    for (size_t i = 0; i < w->n_listeners; i++) {
        struct listener *l = &w->listeners[i];
        if (l->fd < 0)
            continue;
        /* shutdown() stops a listening socket at once; the accept armed on
         * the ring keeps the file alive until the kernel tears the ring
         * down, and until then a restarted gateway could neither bind the
         * address nor stop that old socket from taking its connections. */
        shutdown(l->fd, SHUT_RDWR);
        loop_cancel_fd(w->loop, l->fd);
        loop_close(w->loop, l->fd, LOOP_TAG_NONE);
        l->fd = -1;
    }
}

/* worker_reload runs the one reload path, for SIGHUP and tls.watch alike,
 * counts it, and watches what the configuration now names (a failed
 * reload too: a symlink's target may have moved all the same). */
static void worker_reload(struct worker *w, enum reload_trigger trigger)
{
    /* systemd holds the unit in "reloading" between the two; a refused
     * reload keeps serving the old configuration. */
    if (w->notify)
        sd_notify_reloading(w->notify);
    bool ok = reload_worker(w, trigger);
    metrics_inc(&w->metrics, metrics_reload_id(trigger, ok));
    if (ok && w->admin)
        admin_worker_reloaded(w->admin, w->cfg);
    notify(w, ok ? "READY=1\nSTATUS=serving, configuration reloaded"
                 : "READY=1\nSTATUS=serving, reload refused (see the log)");
    cert_watch_install(&w->watch, w->cfg);
}

static void watch_fired(void *ctx)
{
    struct worker *w = ctx;
    if (!w->stopping)
        worker_reload(w, RELOAD_WATCH);
}

static void on_signal(struct worker *w, const struct loop_event *ev)
{
    if (ev->res == (int)sizeof(struct signalfd_siginfo)) {
        const struct signalfd_siginfo *si = &w->signal_info;
        if (si->ssi_signo == SIGTERM || si->ssi_signo == SIGINT) {
            for (unsigned i = 0; w->group && i < w->group->n; i++)
                if (i != w->id)
                    handoff_request_stop(w->group->mesh, i);
            start_drain(w, si->ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
        } else if (si->ssi_signo == SIGHUP) {
            worker_reload(w, RELOAD_SIGNAL);
        }
    }
    arm_signal(w);
}

static void arm_wake(struct worker *w)
{
    loop_read(w->loop, handoff_eventfd(w->group->mesh, w->id), &w->wake_value,
              sizeof(w->wake_value), tag_make(OP_HANDOFF, WAKE_EVENTFD, 0));
}

/* worker_wake wakes worker |to| of |w|'s group after |w| posted to it (the
 * relay's wake callback): IORING_OP_MSG_RING from |w|'s ring to |to|'s,
 * leaving with |w|'s next turn; the eventfd where the backend cannot
 * (epoll) or the kernel refused. Nothing when |to| is already due to wake. */
static void worker_wake(void *ctx, unsigned to)
{
    struct worker *w = ctx;
    struct handoff_mesh *m = w->group->mesh;
    if (!handoff_claim_wake(m, to))
        return;
    if (loop_msg(w->loop, w->group->workers[to].loop, tag_make(OP_HANDOFF, WAKE_MSG_RING, 0),
                 tag_make(OP_HANDOFF, WAKE_MSG_REFUSED, to)) != 0)
        handoff_wake_eventfd(m, to);
}

void worker_install(struct worker *w, struct cfg_snapshot *cfg, struct tls_ctx *tls_ctx)
{
    /* Connections keep the ctx they were made with and the snapshot their
     * routes point into (they hold references); new ones use these. */
    struct cfg_snapshot *old_cfg = w->cfg;
    struct tls_ctx *old_ctx = w->tls_ctx;
    w->cfg = cfg_ref(cfg);
    w->tls_ctx = tls_ctx_ref(tls_ctx);
    conn_layer_install(&w->conn, w->cfg, w->tls_ctx);
    relay_layer_install(&w->relay, w->cfg);
    capture_install(w->capture, w->cfg);
    cfg_unref(old_cfg);
    tls_ctx_unref(old_ctx);
    note_key_log(w);
}

/* HANDOFF_BATCH bounds the records taken from one worker per wake-up, so
 * that a busy sender cannot starve this worker's own connections. */
enum { HANDOFF_BATCH = 256 };

/* on_handoff runs when another worker woke this one: control first (a new
 * configuration applies to the messages drained after it), then every
 * inbound channel until empty. */
static void on_handoff(struct worker *w, const struct loop_event *ev)
{
    struct handoff_mesh *m = w->group->mesh;
    enum handoff_wake how = (enum handoff_wake)tag_ref(ev->tag).slot;
    if (how == WAKE_MSG_REFUSED) { /* the wake-up is still ours to deliver */
        handoff_wake_eventfd(m, tag_ref(ev->tag).gen);
        return;
    }
    handoff_woken(m, w->id);
    bool stop = false;
    struct reload_payload *reload = handoff_take_control(m, w->id, &stop);
    if (reload) {
        worker_install(w, reload->cfg, reload->tls_ctx);
        metrics_inc(&w->metrics, metrics_reload_id(reload->trigger, true));
        reload_payload_free(reload);
    }
    if (stop)
        start_drain(w, "SIGTERM");
    bool more = false;
    for (unsigned from = 0; from < w->group->n; from++) {
        const struct handoff_msg *msg;
        const char *bytes;
        unsigned taken = 0;
        while (from != w->id && (msg = handoff_next(m, from, w->id, &bytes)) != NULL) {
            relay_handoff(&w->relay, msg, bytes);
            handoff_done(m, from, w->id);
            if (++taken == HANDOFF_BATCH) { /* the rest after this worker's own events */
                more = true;
                break;
            }
        }
    }
    if (more && handoff_claim_wake(m, w->id))
        handoff_wake_eventfd(m, w->id);
    if (how == WAKE_EVENTFD)
        arm_wake(w);
}

/* BRIDGE_MS: how stale another worker's share of a /metrics scrape or of
 * /connections may be. */
enum { BRIDGE_MS = 100 };

static void bridge(void *ctx, struct timer *timer)
{
    struct worker *w = ctx;
    metrics_bridge_absorb(&w->conn.conns, &w->metrics);
    conn_board_publish(&w->board, &w->conn.conns, w->timers.now_ms);
    timer_arm(&w->timers, timer, w->timers.now_ms + BRIDGE_MS);
}

static void dispatch(void *ctx, const struct loop_event *ev)
{
    struct worker *w = ctx;
    /* worker_run read the clock before the loop slept: without a fresh
     * reading, deadlines and durations started here would date from before
     * the wait. CLOCK_MONOTONIC is a vDSO read, not a system call. */
    w->timers.now_ms = timer_now_ms();
    switch (tag_op(ev->tag)) {
    case OP_ACCEPT:
        on_accept(w, ev);
        break;
    case OP_SIGNAL:
        on_signal(w, ev);
        break;
    case OP_HANDOFF:
        on_handoff(w, ev);
        break;
    case OP_DNS:
        dns_routes_on_event(w->relay.dns, ev);
        break;
    case OP_CAPTURE:
        capture_on_event(w->capture, ev);
        break;
    case OP_WATCH:
        cert_watch_on_event(&w->watch, ev);
        break;
    case OP_ADMIN:
    case OP_PROBE:
        if (w->admin)
            admin_worker_on_event(w->admin, ev);
        break;
    default:
        conn_on_event(&w->conn, ev);
        break;
    }
}

/* close_all ends every connection: TLS ones with close_notify (R-5923-21:
 * the drain has finished or abandoned their transactions). */
static void close_all(struct worker *w)
{
    for (uint32_t i = 1; i <= w->conn.conns.high; i++) {
        struct conn *c = conn_at(&w->conn.conns, i);
        if (c->state != CONN_FREE && c->state != CONN_DEAD && c->state != CONN_CLOSING)
            conn_close(&w->conn, c, CLOSE_GRACEFUL, "shutdown");
    }
}

static void watchdog(void *ctx, struct timer *timer)
{
    struct worker *w = ctx;
    sd_notify_send(w->notify, "WATCHDOG=1");
    timer_arm(&w->timers, timer, w->timers.now_ms + sd_notify_watchdog_ms(w->notify));
}

int worker_run(struct worker *w, int signal_fd)
{
    w->signal_fd = signal_fd;
    if (w->notify && sd_notify_watchdog_ms(w->notify)) {
        w->watchdog.fire = watchdog;
        w->watchdog.ctx = w;
        timer_arm(&w->timers, &w->watchdog, timer_now_ms() + sd_notify_watchdog_ms(w->notify));
    }
    if (signal_fd >= 0) { /* the worker that reloads */
        arm_signal(w);
        cert_watch_install(&w->watch, w->cfg);
    }
    if (w->group) {
        arm_wake(w);
        if (w->id != 0) { /* worker 0 refreshes its own registry at each scrape */
            w->bridge.fire = bridge;
            w->bridge.ctx = w;
            timer_arm(&w->timers, &w->bridge, w->timers.now_ms + BRIDGE_MS);
        }
    }
    bool closing_all = false;
    for (;;) {
        w->timers.now_ms = timer_now_ms();
        timer_run(&w->timers, w->timers.now_ms);
        if (w->stopping) {
            if (!closing_all &&
                (w->relay.pending.open == 0 || w->timers.now_ms >= w->drain_deadline_ms)) {
                if (w->relay.pending.open)
                    LOG_WARN("drain timeout: abandoning transactions",
                             LF_UINT("pending", w->relay.pending.open));
                close_all(w);
                closing_all = true;
            }
            if (closing_all && w->conn.conns.used == 0)
                return 0;
        }
        int64_t wait = timer_next_ms(&w->timers, w->timers.now_ms);
        if (w->stopping && (wait < 0 || wait > 100))
            wait = 100; /* re-check the drain condition */
        /* What this turn queued leaves in one send per connection, and
         * captured messages after the turn that relayed them. */
        conn_flush_deferred(&w->conn);
        capture_flush(w->capture);
        int n = loop_run_once(w->loop, wait);
        if (n >= 0)
            metrics_observe_batch(&w->metrics, (uint64_t)n);
        if (n < 0 && n != -EINTR) {
            LOG_ERROR("event loop failed", LF_STR("reason", strerror(-n)));
            return -1;
        }
    }
}
