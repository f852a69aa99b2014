/* admin_worker: admin hooks over the view a worker hands its endpoint. */
#include "admin/admin_worker.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/admin.h"
#include "admin/admin_probe.h"
#include "admin/conn_board.h"
#include "config/config.h"
#include "core/addr.h"
#include "core/log.h"
#include "core/metrics.h"
#include "admin/metrics_bridge.h"
#include "conn/peer_index.h"
#include "core/strbuf.h"
#include "core/timer.h"
#include "conn/conn_ours.h"
#include "tls/ctx.h"
#include "tls/ctx.h"
#include "tls/identities.h"
#include "conn/conn.h"

enum { PROBE_INTERVAL_MS = 5000 };

struct admin_worker {
    struct admin_view view;
    struct admin_server *server;
    struct admin_probe probe;
    char backend[32];
    /* The worker's snapshot since start or the last reload (borrowed: the
     * worker holds it until it calls admin_worker_reloaded again), which
     * names our identities in /aliases. */
    const struct cfg_snapshot *cfg;
};

static void readiness(void *ctx, struct admin_readiness *out)
{
    struct admin_worker *aw = ctx;
    aw->view.state(aw->view.ctx, out);
    out->legacy_reachable = aw->probe.reachable;
}

static size_t render_metrics(void *ctx, char *buf, size_t cap)
{
    struct admin_worker *aw = ctx;
    /* The others refresh theirs on a timer. */
    metrics_bridge_absorb(aw->view.conns, aw->view.metrics);
    const struct metrics *regs[ADMIN_MAX_REGISTRIES];
    size_t n = aw->view.registries(aw->view.ctx, regs, ADMIN_MAX_REGISTRIES);
    struct admin_identity ids[ADMIN_MAX_IDENTITIES];
    struct metrics_cert certs[ADMIN_MAX_IDENTITIES];
    size_t n_ids = aw->view.identities(aw->view.ctx, ids, ADMIN_MAX_IDENTITIES);
    for (size_t i = 0; i < n_ids; i++)
        certs[i] = (struct metrics_cert){
            .identity = ids[i].name,
            .not_after = tls_ctx_certificate(ids[i].ctx, ids[i].index)->not_after};
    struct metrics_info info = {
        .io_backend = aw->backend,
        .certs = certs,
        .n_certs = n_ids,
        /* Every identity shares the trust anchors and CRLs of tls. */
        .crl_next_update = n_ids ? tls_ctx_trust(ids[0].ctx)->crl_next_update : 0,
        .now = time(NULL),
    };
    return metrics_render(regs, n, &info, buf, cap);
}

/* put_time writes Unix seconds |t| as a JSON RFC 3339 string (UTC), or
 * null for 0 (unknown). */
static void put_time(struct strbuf *j, int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    char text[32];
    if (t == 0 || !gmtime_r(&tt, &tm) || !strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm))
        strbuf_printf(j, "null");
    else
        strbuf_printf(j, "\"%s\"", text);
}

/* put_identity writes one identity's certificate as a JSON object. */
static void put_identity(struct strbuf *j, const struct admin_identity *id, bool first)
{
    const struct tls_cert_info *c = tls_ctx_certificate(id->ctx, id->index);
    strbuf_printf(j, "%s\n  {\"identity\": ", first ? "" : ",");
    strbuf_json_cstr(j, id->name);
    strbuf_printf(j, ", \"subject\": ");
    strbuf_json_cstr(j, c->subject);
    strbuf_printf(j, ", \"identities\": [");
    for (size_t k = 0; k < tls_identities_count(c->identities); k++) {
        strbuf_printf(j, "%s", k ? ", " : "");
        strbuf_json_cstr(j, tls_identities_get(c->identities, k));
    }
    strbuf_printf(j, "], \"serial\": ");
    strbuf_json_cstr(j, c->serial);
    strbuf_printf(j, ", \"not_before\": ");
    put_time(j, c->not_before);
    strbuf_printf(j, ", \"not_after\": ");
    put_time(j, c->not_after);
    strbuf_printf(j, ", \"file\": ");
    strbuf_json_cstr(j, c->file);
    strbuf_printf(j, ", \"loaded_at\": ");
    put_time(j, c->loaded_at);
    strbuf_printf(j, "}");
}

/* render_certificates writes /certificates: what every identity presents,
 * then the trust anchors and CRLs they share. */
static size_t render_certificates(void *ctx, char *buf, size_t cap)
{
    struct admin_worker *aw = ctx;
    struct strbuf j = {.buf = buf, .cap = cap};
    if (cap)
        buf[0] = '\0';
    struct admin_identity ids[ADMIN_MAX_IDENTITIES];
    size_t n = aw->view.identities(aw->view.ctx, ids, ADMIN_MAX_IDENTITIES);
    strbuf_printf(&j, "{\"certificates\": [");
    for (size_t i = 0; i < n; i++)
        put_identity(&j, &ids[i], i == 0);
    strbuf_printf(&j, "%s]", n ? "\n" : "");
    const struct tls_trust_info *t = n ? tls_ctx_trust(ids[0].ctx) : NULL;
    if (t) {
        strbuf_printf(&j, ",\n \"ca\": {\"file\": ");
        strbuf_json_cstr(&j, t->ca_file);
        strbuf_printf(&j, ", \"count\": %zu}", t->ca_count);
        strbuf_printf(&j, ",\n \"crl\": ");
        if (t->crl_file) {
            strbuf_printf(&j, "{\"file\": ");
            strbuf_json_cstr(&j, t->crl_file);
            strbuf_printf(&j, ", \"count\": %zu, \"next_update\": ", t->crl_count);
            put_time(&j, t->crl_next_update);
            strbuf_printf(&j, "}");
        } else {
            strbuf_printf(&j, "null");
        }
    }
    strbuf_printf(&j, "}\n");
    return j.len;
}

/* alias_list is the /aliases JSON array being written. */
struct alias_list {
    struct strbuf j;
    bool first;
    const struct cfg_snapshot *cfg; /* names conn.ours */
};

/* put_alias writes one alias row: an inbound TLS connection |slot| of
 * |worker| indexed under |key| with the identities its certificate
 * proved. */
static void put_alias(struct alias_list *l, const struct conn_key *key, unsigned worker,
                      uint32_t slot, const struct tls_identities *ids, const char *ours)
{
    char addr[ADDR_TEXT_MAX];
    addr_ip_format(key->family, key->addr, addr, sizeof(addr));
    strbuf_printf(&l->j,
                  "%s\n {\"transport\": \"tls\", \"address\": \"%s\", \"port\": %u, "
                  "\"worker\": %u, \"connection\": %u, \"identities\": [",
                  l->first ? "" : ",", addr, key->port, worker, slot);
    for (size_t k = 0; k < tls_identities_count(ids); k++) {
        strbuf_printf(&l->j, "%s", k ? ", " : "");
        strbuf_json_cstr(&l->j, tls_identities_get(ids, k));
    }
    strbuf_printf(&l->j, "], \"ours\": ");
    strbuf_json_cstr(&l->j, ours);
    strbuf_printf(&l->j, "}");
    l->first = false;
}

static void put_alias_row(void *ctx, const struct peer_row_view *row)
{
    struct alias_list *l = ctx;
    if (row->kind == CONN_TLS_IN && row->open)
        put_alias(l, row->key, row->worker, row->ref.slot, row->ids,
                  conn_ours_name(l->cfg, row->ours));
}

/* render_aliases lists the alias rows of every worker: its own table with
 * one worker, the shared peer index with several. */
static size_t render_aliases(void *ctx, char *buf, size_t cap)
{
    struct admin_worker *aw = ctx;
    const struct conn_table *conns = aw->view.conns;
    struct alias_list l = {.j = {.buf = buf, .cap = cap}, .first = true, .cfg = aw->cfg};
    if (cap)
        buf[0] = '\0';
    strbuf_printf(&l.j, "[");
    if (aw->view.index) {
        peer_index_each(aw->view.index, put_alias_row, &l);
    } else {
        for (uint32_t i = 1; i <= conns->high; i++) {
            const struct conn *c = conn_at(conns, i);
            if (c->state == CONN_OPEN && c->kind == CONN_TLS_IN && c->key.family != 0)
                put_alias(&l, &c->key, 0, i, c->ids, conn_ours_name(aw->cfg, c->ours));
        }
    }
    strbuf_printf(&l.j, "%s]\n", l.first ? "" : "\n");
    return l.j.len;
}

/* render_connections writes /connections from every worker's board. */
static size_t render_connections(void *ctx, const struct admin_page *page, char *buf, size_t cap)
{
    struct admin_worker *aw = ctx;
    struct conn_board *boards[ADMIN_MAX_REGISTRIES];
    size_t n = aw->view.boards(aw->view.ctx, boards, ADMIN_MAX_REGISTRIES);
    return conn_board_render(boards, n, page, aw->cfg, timer_now_ms(), buf, cap);
}

struct admin_worker *admin_worker_new(const struct admin_view *view)
{
    struct admin_worker *aw = calloc(1, sizeof(*aw));
    if (!aw)
        return NULL;
    aw->view = *view;
    const struct cfg_snapshot *cfg = view->cfg;
    aw->cfg = cfg;
    aw->probe.fd = -1; /* nothing to close until the probe starts */
    metrics_bridge_backend(view->loop, aw->backend, sizeof(aw->backend));
    struct admin_hooks hooks = {.ctx = aw,
                                .readiness = readiness,
                                .metrics = render_metrics,
                                .aliases = render_aliases,
                                .certificates = render_certificates,
                                .connections = render_connections};
    aw->server = admin_new(view->loop, view->timers, &cfg->admin.listen, OP_ADMIN, &hooks);
    if (!aw->server || !admin_probe_start(&aw->probe, view->loop, view->timers,
                                          &cfg->legacy.forward_to, OP_PROBE, PROBE_INTERVAL_MS)) {
        LOG_ERROR("running without the admin endpoint (/metrics, /healthz, /ready)");
        admin_worker_free(aw);
        return NULL;
    }
    char name[300];
    cfg_hostport_format(&cfg->admin.listen, name, sizeof(name));
    LOG_INFO("admin endpoint listening", LF_STR("address", name),
             LF_UINT("port", admin_port(aw->server)));
    return aw;
}

void admin_worker_free(struct admin_worker *aw)
{
    if (!aw)
        return;
    admin_probe_stop(&aw->probe);
    admin_free(aw->server);
    free(aw);
}

void admin_worker_reloaded(struct admin_worker *aw, const struct cfg_snapshot *cfg)
{
    aw->cfg = cfg;
}

void admin_worker_on_event(struct admin_worker *aw, const struct loop_event *ev)
{
    if (tag_op(ev->tag) == OP_PROBE)
        admin_probe_on_event(&aw->probe, ev);
    else
        admin_on_event(aw->server, ev);
}
