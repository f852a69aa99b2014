/* gateway: start-up and shutdown around one worker. */
#include "gateway.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "config/config.h"
#include "log.h"
#include "tls/ctx.h"
#include "reload.h"
#include "worker.h"

static void log_startup(const struct worker *w)
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
             LF_STR("legacy_listen", legacy), LF_STR("forward_to", forward), LF_UINT("workers", 1));
    /* One worker until cross-worker routing exists: N independent workers
     * would each miss the others' aliases and connections (RFC 5923 reuse). */
    if (w->cfg->runtime.workers != 1)
        LOG_WARN("runtime.workers other than 1 is not supported yet; running one worker",
                 LF_UINT("workers", w->cfg->runtime.workers));
}

/* warn_unbuilt says which configured features this build does not run
 * yet, so an operator never mistakes a silently ignored key for a working
 * one. */
static void warn_unbuilt(const struct cfg_snapshot *cfg)
{
    if (cfg->runtime.workers != 1)
        LOG_WARN("runtime.workers: only one worker is built yet; running one",
                 LF_UINT("configured", cfg->runtime.workers));
    if (cfg->runtime.io_backend == CFG_IO_EPOLL)
        LOG_WARN("runtime.io_backend: the epoll backend is not built yet; using io_uring");
    if (cfg->legacy.transparent)
        LOG_WARN("legacy.transparent: transparent mode is not built yet; ignored");
    if (cfg->dns.n_servers > 0)
        LOG_WARN("dns.servers: DNS resolution is not built yet; only static routes are used");
}

int gateway_run(struct cfg_snapshot *cfg)
{
    warn_unbuilt(cfg);
    struct tls_ctx *ctx = reload_tls_ctx(cfg);
    if (!ctx)
        return GATEWAY_EXIT_RUNTIME;
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

    struct worker *w = calloc(1, sizeof(*w));
    int status = GATEWAY_EXIT_RUNTIME;
    if (sfd >= 0 && w && worker_init(w, cfg, ctx) == 0 && worker_listen(w) == 0) {
        log_startup(w);
        if (worker_run(w, sfd) == 0) {
            const struct counters *n = &w->counters;
            LOG_INFO("reusegw stopped", LF_UINT("accepted", n->accepted),
                     LF_UINT("requests_relayed", n->requests_relayed),
                     LF_UINT("responses_relayed", n->responses_relayed),
                     LF_UINT("answered_503", n->answered_503),
                     LF_UINT("answered_400", n->answered_400),
                     LF_UINT("answered_483", n->answered_483),
                     LF_UINT("dropped_unknown_branch", n->dropped_unknown_branch),
                     LF_UINT("dropped_response_on_egress", n->dropped_response_on_egress),
                     LF_UINT("dropped_buffer_full", n->dropped_buffer_full),
                     LF_UINT("dropped_malformed", n->dropped_malformed),
                     LF_UINT("dropped_peer_gone", n->dropped_peer_gone),
                     LF_UINT("dropped_ack_unroutable", n->dropped_ack_unroutable),
                     LF_UINT("refused_pending_full", n->refused_pending_full),
                     LF_UINT("framing_errors", n->framing_errors),
                     LF_UINT("tls_handshake_failures", n->tls_handshake_failures),
                     LF_UINT("timeouts_handshake", n->timeouts_handshake),
                     LF_UINT("timeouts_idle", n->timeouts_idle),
                     LF_UINT("aliases_declined", n->aliases_declined),
                     LF_UINT("aliases_recorded", n->aliases_recorded),
                     LF_UINT("aliases_declined", n->aliases_declined),
                     LF_UINT("reuse_reused", n->reuse[REUSE_REUSED]),
                     LF_UINT("reuse_no_row", n->reuse[REUSE_NO_ROW]),
                     LF_UINT("reuse_identity_mismatch", n->reuse[REUSE_IDENTITY_MISMATCH]),
                     LF_UINT("reuse_certless", n->reuse[REUSE_CERTLESS]),
                     LF_UINT("reuse_aliasing_off", n->reuse[REUSE_ALIASING_OFF]),
                     LF_UINT("reuse_row_replaced", n->reuse[REUSE_ROW_REPLACED]),
                     LF_UINT("reuse_connection_gone", n->reuse[REUSE_CONNECTION_GONE]),
                     LF_UINT("legacy_address_leaks", n->legacy_address_leaks));
            status = GATEWAY_EXIT_OK;
        }
    }
    if (w)
        worker_free(w);
    free(w);
    if (sfd >= 0)
        close(sfd);
    tls_ctx_unref(ctx);
    return status;
}
