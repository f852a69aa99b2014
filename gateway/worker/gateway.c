/* gateway: start-up and shutdown around N workers — worker 0 on the
 * calling thread (it reads the signals), the others on their own threads. */
#include "worker/gateway.h"

#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "config/config.h"
#include "conn/conn_limits.h"
#include "relay/handoff.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/sd_notify.h"
#include "conn/peer_index.h"
#include "worker/reload.h"
#include "tls/ctx.h"
#include "worker/worker.h"

/* Hand-off ring per ordered pair of workers: 4 MiB each for a few workers,
 * less for many, never under what two of the largest messages need. */
enum { RING_BYTES_MAX = 4 << 20, RING_BUDGET = 256 << 20 };

static void log_startup(const struct worker *w, unsigned n)
{
    char addrs[WORKER_MAX_LISTENERS * 300] = "";
    size_t off = 0;
    for (size_t i = 0; i < w->n_listeners && off < sizeof(addrs); i++)
        if (w->listeners[i].is_tls)
            off += (size_t)snprintf(addrs + off, sizeof(addrs) - off, "%s%s", off ? "," : "",
                                    w->listeners[i].name);
    char legacy[300];
    cfg_hostport_format(&w->cfg->legacy.listen, legacy, sizeof(legacy));
    char forward[300];
    cfg_hostport_format(&w->cfg->legacy.forward_to, forward, sizeof(forward));
    LOG_INFO("reusegw started", LF_STR("version", REUSEGW_VERSION),
             LF_STR("io_backend", loop_backend_name(w->loop)), LF_STR("tls_listen", addrs),
             LF_STR("legacy_listen", legacy), LF_STR("forward_to", forward), LF_UINT("workers", n));
}

/* worker_count resolves runtime.workers: 0 is auto, one per online core;
 * both are capped at WORKER_MAX. */
static unsigned worker_count(const struct cfg_snapshot *cfg)
{
    long n = cfg->runtime.workers;
    if (n == 0)
        n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > WORKER_MAX) {
        LOG_WARN("runtime.workers capped", LF_INT("asked", n), LF_UINT("running", WORKER_MAX));
        n = WORKER_MAX;
    }
    return (unsigned)n;
}

void gateway_apply_log_config(const struct cfg_snapshot *cfg)
{
    _Static_assert((int)CFG_LOG_ERROR == (int)LOG_ERROR && (int)CFG_LOG_DEBUG == (int)LOG_DEBUG,
                   "config and log levels line up");
    _Static_assert((int)CFG_LOG_JSON == (int)LOG_FORMAT_JSON, "config and log formats line up");
    log_configure((enum log_level)cfg->log.level, (enum log_format)cfg->log.format);
}

/* metrics_sum adds every series of |b| to |a|: the exit line sums the
 * workers' registries, read after their threads stopped writing. */
static void metrics_sum(struct metrics *a, const struct metrics *b)
{
    for (size_t i = 0; i < M__COUNT; i++)
        a->v[i] += b->v[i];
}

static uint64_t series_sum(const struct metrics *m, enum metric_id first, enum metric_id last)
{
    uint64_t total = 0;
    for (unsigned id = first; id <= last; id++)
        total += m->v[id];
    return total;
}

/* log_stopped writes the exit line from the registry |m|; its totals that
 * are not one series add up the series that split them by reason or
 * direction. */
static void log_stopped(const struct metrics *m)
{
    const uint64_t *v = m->v;
    LOG_INFO("reusegw stopped", LF_UINT("accepted", v[M_ACCEPTED]),
             LF_UINT("requests_relayed", v[M_MSG_TO_LEGACY_REQUEST] + v[M_MSG_TO_PEER_REQUEST]),
             LF_UINT("responses_relayed", v[M_MSG_TO_LEGACY_RESPONSE] + v[M_MSG_TO_PEER_RESPONSE]),
             LF_UINT("answered_503", series_sum(m, M_503_DNS_FAILED, M_503_OTHER)),
             LF_UINT("answered_400", v[M_ANSWER_BAD_REQUEST]),
             LF_UINT("answered_483", v[M_ANSWER_TOO_MANY_HOPS]),
             LF_UINT("dropped_unknown_branch", v[M_DROP_UNKNOWN_BRANCH]),
             LF_UINT("dropped_response_on_egress", v[M_DROP_RESPONSE_ON_EGRESS]),
             LF_UINT("dropped_buffer_full", v[M_DROP_BUFFER_FULL]),
             LF_UINT("dropped_malformed", v[M_DROP_MALFORMED]),
             LF_UINT("dropped_peer_gone", v[M_DROP_PEER_GONE]),
             LF_UINT("dropped_ack_unroutable", v[M_DROP_ACK_UNROUTABLE]),
             LF_UINT("refused_pending_full", v[M_LIMIT_FIRST + LIMIT_MAX_PENDING_TRANSACTIONS]),
             LF_UINT("framing_errors", v[M_FRAMING_ERRORS]),
             LF_UINT("tls_handshake_failures", v[M_HANDSHAKE_FAILED] - v[M_HSFAIL_TIMEOUT]),
             LF_UINT("timeouts_handshake", v[M_TIMEOUT_HANDSHAKE]),
             LF_UINT("timeouts_idle", v[M_TIMEOUT_IDLE]),
             LF_UINT("aliases_recorded", v[M_ALIAS_RECORDED]),
             LF_UINT("aliases_declined", v[M_ALIAS_DECLINED]),
             LF_UINT("reuse_reused", v[M_REUSE_REUSED]), LF_UINT("reuse_no_row", v[M_REUSE_NO_ROW]),
             LF_UINT("reuse_identity_mismatch", v[M_REUSE_IDENTITY_MISMATCH]),
             LF_UINT("reuse_certless", v[M_REUSE_CERTLESS]),
             LF_UINT("reuse_aliasing_off", v[M_REUSE_ALIASING_OFF]),
             LF_UINT("reuse_row_replaced", v[M_REUSE_ROW_REPLACED]),
             LF_UINT("reuse_connection_gone", v[M_REUSE_CONNECTION_GONE]),
             LF_UINT("legacy_address_leaks", v[M_LEGACY_ADDRESS_LEAKS]));
}

/* member is one worker of a group and its thread. A worker is set up,
 * run and freed on its own thread: an io_uring set up with SINGLE_ISSUER
 * refuses submissions from any other. It is freed only once every worker
 * has stopped running, because until then another may still post a
 * MSG_RING to its ring. */
struct member {
    struct worker *w;
    struct worker_group *group;
    struct cfg_snapshot *cfg;
    struct tls_ctx *tls_ctx;
    unsigned id;
    pthread_t thread;
    bool started;
    sem_t ready;            /* posted once set-up finished, |set_up| says how */
    sem_t stopped;          /* posted once its loop has returned */
    sem_t release;          /* posted by the main thread: free the worker now */
    int set_up;             /* 0, or -1 when set-up failed; read after |ready| */
    int status;             /* 0, or -1 when set-up or the loop failed; read after join */
    struct metrics metrics; /* its registry at exit */
};

/* member_setup prepares worker |m->id| and binds its listeners. */
static int member_setup(struct member *m)
{
    struct worker_group *g = m->group;
    if (worker_init_member(m->w, m->cfg, m->tls_ctx, g->n > 1 ? g : NULL, m->id) != 0 ||
        worker_listen(m->w) != 0)
        return -1;
    return 0;
}

static void member_finish(struct member *m, int status)
{
    m->status = status;
    m->metrics = m->w->metrics;
    worker_free(m->w);
}

static void *member_main(void *arg)
{
    struct member *m = arg;
    int status = member_setup(m);
    m->set_up = status;
    sem_post(&m->ready);
    if (status == 0) {
        status = worker_run(m->w, -1);
        sem_post(&m->stopped);
        while (sem_wait(&m->release) != 0)
            ; /* EINTR */
    }
    member_finish(m, status);
    return NULL;
}

static size_t ring_bytes(const struct cfg_snapshot *cfg, unsigned n)
{
    size_t bytes = RING_BUDGET / ((size_t)n * n);
    if (bytes > RING_BYTES_MAX)
        bytes = RING_BYTES_MAX;
    size_t floor = 4 * ((size_t)cfg->limits.max_message_bytes + sizeof(struct handoff_msg) + 64);
    return bytes < floor ? floor : bytes;
}

/* start_members starts workers 1..n-1 one by one, each on its thread;
 * false as soon as one fails to set up. */
static bool start_members(struct member *members, unsigned n)
{
    for (unsigned i = 1; i < n; i++) {
        struct member *m = &members[i];
        sem_init(&m->ready, 0, 0);
        sem_init(&m->stopped, 0, 0);
        sem_init(&m->release, 0, 0);
        m->started = pthread_create(&m->thread, NULL, member_main, m) == 0;
        if (!m->started) {
            LOG_ERROR("cannot start a worker thread", LF_UINT("worker", i));
            return false;
        }
        while (sem_wait(&m->ready) != 0)
            ; /* EINTR */
        if (m->set_up != 0)
            return false;
    }
    return true;
}

/* run_workers sets up |n| workers (a group when n > 1), tells systemd
 * through |notify| once all of them listen, runs them until they have
 * drained, and returns the exit status. */
static int run_workers(struct cfg_snapshot *cfg, struct tls_ctx *ctx, unsigned n, int sfd,
                       const struct sd_notify *notify)
{
    struct worker_group group = {.n = n};
    struct member members[WORKER_MAX] = {0};
    group.workers = calloc(n, sizeof(*group.workers));
    bool ok = group.workers != NULL;
    if (ok && n > 1) {
        group.index = peer_index_new(cfg->limits.max_connections + n);
        group.mesh = handoff_mesh_new(n, ring_bytes(cfg, n));
        ok = group.index && group.mesh;
        if (!ok)
            LOG_ERROR("out of memory creating the worker group", LF_UINT("workers", n));
    }
    for (unsigned i = 0; ok && i < n; i++)
        members[i] = (struct member){
            .w = &group.workers[i], .group = &group, .cfg = cfg, .tls_ctx = ctx, .id = i};
    bool first_tried = ok; /* worker 0 is freed whenever its set-up began */
    ok = ok && member_setup(&members[0]) == 0 && start_members(members, n);
    if (ok) {
        log_startup(&group.workers[0], n);
        /* Every worker has bound every listener (member_setup). */
        group.workers[0].notify = notify;
        sd_notify_send(notify, "READY=1\nSTATUS=serving");
    }
    int first = ok ? worker_run(&group.workers[0], sfd) : -1;
    /* Worker 0 failed or never ran: nobody else would stop the others. */
    for (unsigned i = 1; first != 0 && i < n; i++)
        if (members[i].started)
            handoff_request_stop(group.mesh, i);
    bool clean = ok && first == 0;
    for (unsigned i = 1; i < n; i++)
        if (members[i].started && members[i].set_up == 0)
            while (sem_wait(&members[i].stopped) != 0)
                ; /* EINTR */
    if (first_tried)
        member_finish(&members[0], first);
    struct metrics sum = {0};
    for (unsigned i = 0; i < n && group.workers; i++) {
        if (i > 0 && members[i].started) {
            if (members[i].set_up == 0)
                sem_post(&members[i].release);
            pthread_join(members[i].thread, NULL);
            sem_destroy(&members[i].ready);
            sem_destroy(&members[i].stopped);
            sem_destroy(&members[i].release);
        }
        clean = clean && members[i].status == 0;
        metrics_sum(&sum, &members[i].metrics);
    }
    if (clean)
        log_stopped(&sum);
    free(group.workers);
    handoff_mesh_free(group.mesh, reload_payload_free);
    peer_index_free(group.index);
    return clean ? GATEWAY_EXIT_OK : GATEWAY_EXIT_RUNTIME;
}

int gateway_run(struct cfg_snapshot *cfg)
{
    struct tls_ctx *ctx = reload_tls_ctx(cfg);
    if (!ctx)
        return GATEWAY_EXIT_RUNTIME;
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    /* Blocked before any worker thread starts, so every thread inherits
     * the mask and only worker 0's signalfd hears them. */
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    struct sd_notify notify;
    const char *why = NULL;
    if (!sd_notify_open(&notify, &why))
        LOG_WARN("not notifying systemd", LF_STR("reason", why)); /* serving matters more */
    int status =
        sfd >= 0 ? run_workers(cfg, ctx, worker_count(cfg), sfd, &notify) : GATEWAY_EXIT_RUNTIME;
    sd_notify_close(&notify);
    if (sfd >= 0)
        close(sfd);
    tls_ctx_unref(ctx);
    return status;
}
