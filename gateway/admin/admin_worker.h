/* admin/ — the admin layer (this header is its manual): the admin endpoint
 * of one worker — its HTTP server on admin.listen (admin.h, parsed by
 * admin_http.h), the legacy-proxy probe behind /ready (admin_probe.h), and
 * the bodies of /metrics (the registries, with the gauges metrics_bridge.h
 * refreshes at each scrape), /aliases (the alias rows as JSON),
 * /certificates (what each identity presents, the CA and the CRLs, JSON)
 * and /connections (every worker's connection board, conn_board.h, JSON).
 *
 * Owns the admin server and probe. Borrows what struct admin_view shows it
 * (its thread only): it reads the layers below through their APIs and asks
 * the worker, through the view's callbacks, only what the worker alone
 * knows. Never stops the gateway: an admin.listen that cannot be bound is
 * logged and the relay runs without the endpoint. */
#ifndef REUSEGW_ADMIN_WORKER_H
#define REUSEGW_ADMIN_WORKER_H

#include <stddef.h>

#include "admin/admin.h"
#include "core/loop.h"

struct admin_worker;
struct cfg_snapshot;
struct conn_board;
struct tls_ctx;
struct conn_table;
struct metrics;
struct peer_index;
struct timer_heap;

/* ADMIN_MAX_REGISTRIES is how many workers' registries one scrape sums. */
#define ADMIN_MAX_REGISTRIES 64

/* admin_identity is one identity of ours and the TLS context that serves
 * it, for /certificates and the certificate expiry series. */
struct admin_identity {
    /* Its sent_by host: unique, since the certificate proves it and each
     * domain has one identity. */
    char name[256];
    const struct tls_ctx *ctx; /* borrowed for the scrape */
    size_t index;              /* its identity in |ctx| (tls_ctx_certificate) */
};

/* ADMIN_MAX_IDENTITIES bounds the identities one answer lists: the default
 * one and CFG_MAX_IDENTITIES more. */
#define ADMIN_MAX_IDENTITIES 65

/* admin_view is what a worker shows its admin endpoint, borrowed for the
 * endpoint's life. */
struct admin_view {
    struct loop *loop;
    struct timer_heap *timers;
    const struct cfg_snapshot *cfg; /* at start: admin.listen, the probe target, the cert */
    const struct conn_table *conns; /* this worker's connections (gauges; /aliases alone) */
    struct metrics *metrics;        /* this worker's registry, refreshed at each scrape */
    struct peer_index *index;       /* every worker's rows for /aliases; NULL with one */
    void *ctx;
    /* registries fills |out| (room for |max|) with every worker's
     * registry and returns how many. */
    size_t (*registries)(void *ctx, const struct metrics **out, size_t max);
    /* state fills what only the worker knows of /ready: listeners bound,
     * certificate loaded, draining (the probe answers legacy_reachable). */
    void (*state)(void *ctx, struct admin_readiness *out);
    /* identities fills |out| (room for |max|) with every identity of ours
     * and the TLS context now installed for it, and returns how many. */
    size_t (*identities)(void *ctx, struct admin_identity *out, size_t max);
    /* boards publishes this worker's connection board (the others publish
     * theirs on their own timers), fills |out| (room for |max|) with every
     * worker's board in worker order and returns how many. */
    size_t (*boards)(void *ctx, struct conn_board **out, size_t max);
};

/* admin_worker_new starts the endpoint and the probe for |view| (copied;
 * what it points at is borrowed; the worker's listeners are bound).
 * Returns NULL (logged) when it cannot; the caller carries on without it.
 * Release with admin_worker_free. */
struct admin_worker *admin_worker_new(const struct admin_view *view);

/* admin_worker_free closes the endpoint. NULL is a no-op. */
void admin_worker_free(struct admin_worker *aw);

/* admin_worker_reloaded re-reads what a reload may change in |cfg|: the
 * names of our identities /aliases shows (|cfg| is borrowed until the next
 * call: the worker's own snapshot, as view->cfg is until the first). The
 * certificates come live from view->identities. */
void admin_worker_reloaded(struct admin_worker *aw, const struct cfg_snapshot *cfg);

/* admin_worker_on_event handles an OP_ADMIN or OP_PROBE completion. */
void admin_worker_on_event(struct admin_worker *aw, const struct loop_event *ev);

#endif
