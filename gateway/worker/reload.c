/* reload: load, vet, build, swap. */
#include "worker/reload.h"

#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "worker/config_load.h"
#include "worker/gateway.h"
#include "relay/handoff.h"
#include "core/log.h"
#include "tls/ctx.h"

struct tls_ctx *reload_tls_ctx(const struct cfg_snapshot *cfg)
{
    struct tls_identity_options ids[CFG_MAX_IDENTITIES];
    for (size_t i = 0; i < cfg->n_identities; i++)
        ids[i] = (struct tls_identity_options){
            .certificate_file = cfg->identities[i].certificate,
            .private_key_file = cfg->identities[i].private_key,
            .domains = (const char *const *)cfg->identities[i].domains,
            .n_domains = cfg->identities[i].n_domains,
        };
    struct tls_peer_options *peers = calloc(cfg->n_peers + 1, sizeof(*peers));
    if (!peers)
        return NULL;
    for (size_t i = 0; i < cfg->n_peers; i++) {
        const struct cfg_peer *p = &cfg->peers[i];
        peers[i] = (struct tls_peer_options){
            .domain = p->domain,
            .ca_file = p->ca,
            .sni = p->sni,
            .client_cert_required = p->client_certificate == CFG_CLIENT_CERT_REQUIRED,
            .allow_server_auth_only = p->allow_server_auth_only,
            .require_sip_eku = p->require_sip_eku,
        };
    }
    struct tls_ctx_options o = {
        .certificate_file = cfg->tls.certificate,
        .private_key_file = cfg->tls.private_key,
        .ca_file = cfg->tls.ca,
        .client_cert_required = cfg->tls.client_certificate == CFG_CLIENT_CERT_REQUIRED,
        .require_sip_eku = cfg->tls.require_sip_eku,
        .key_log_file = cfg->tls.key_log,
        .identities = ids,
        .n_identities = cfg->n_identities,
        .peers = peers,
        .n_peers = cfg->n_peers,
        .crl_file = cfg->tls.crl,
        .crl_strict = cfg->tls.crl_strict,
    };
    char err[512];
    struct tls_ctx *ctx = tls_ctx_new(&o, err, sizeof(err));
    free(peers);
    if (!ctx)
        LOG_ERROR("cannot build the TLS context", LF_STR("reason", err));
    else if (cfg->tls.key_log)
        /* Said at every start and reload, so that nobody leaves it on unknowingly. */
        LOG_WARN("tls.key_log is on: every TLS secret is written to a file; whoever reads it "
                 "can decrypt the captured traffic",
                 LF_STR("key_log", cfg->tls.key_log));
    return ctx;
}

static bool same_hostport(const struct cfg_hostport *a, const struct cfg_hostport *b)
{
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* restart_key names the first setting that the running worker was sized or
 * bound by and that |next| changes, or returns NULL. */
static const char *restart_key(const struct cfg_snapshot *cur, const struct cfg_snapshot *next)
{
    if (cur->tls.n_listen != next->tls.n_listen)
        return "tls.listen";
    for (size_t i = 0; i < cur->tls.n_listen; i++)
        if (!same_hostport(&cur->tls.listen[i], &next->tls.listen[i]))
            return "tls.listen";
    if (!same_hostport(&cur->legacy.listen, &next->legacy.listen))
        return "legacy.listen";
    /* Listeners are bound at start: an identity may come or go by reload,
     * but the set of legacy_listen addresses stays. */
    for (size_t i = 0; i < cur->n_identities + next->n_identities; i++) {
        const struct cfg_snapshot *a = i < cur->n_identities ? cur : next;
        const struct cfg_snapshot *b = a == cur ? next : cur;
        const struct cfg_identity *id = &a->identities[a == cur ? i : i - cur->n_identities];
        bool found = !id->has_legacy_listen;
        for (size_t j = 0; !found && j < b->n_identities; j++)
            found = b->identities[j].has_legacy_listen &&
                    same_hostport(&b->identities[j].legacy_listen, &id->legacy_listen);
        if (!found)
            return "identities[].legacy_listen";
    }
    if (cur->legacy.transport != next->legacy.transport)
        return "legacy.transport";
    if (cur->limits.max_connections != next->limits.max_connections)
        return "limits.max_connections";
    if (cur->limits.max_pending_transactions != next->limits.max_pending_transactions)
        return "limits.max_pending_transactions";
    if (cur->limits.max_message_bytes != next->limits.max_message_bytes)
        return "limits.max_message_bytes";
    if (!same_hostport(&cur->admin.listen, &next->admin.listen))
        return "admin.listen";
    if (cur->dns.n_servers != next->dns.n_servers)
        return "dns.servers";
    for (size_t i = 0; i < cur->dns.n_servers; i++)
        if (!same_hostport(&cur->dns.servers[i], &next->dns.servers[i]))
            return "dns.servers";
    return NULL;
}

bool reload_worker(struct worker *w, enum reload_trigger trigger)
{
    const char *by = trigger == RELOAD_WATCH ? "watch" : "signal";
    const char *path = w->cfg->path;
    struct cfg_errors errors = {0};
    struct cfg_snapshot *next = cfg_load_checked(path, &gateway_readers, &errors);
    if (!next) {
        for (size_t i = 0; i < errors.count; i++) {
            char line[1024];
            cfg_error_format(&errors.items[i], line, sizeof(line));
            LOG_ERROR("reload refused: configuration error", LF_STR("error", line),
                      LF_STR("trigger", by));
        }
        cfg_errors_clear(&errors);
        return false;
    }
    const char *key = restart_key(w->cfg, next);
    if (key) {
        LOG_ERROR("reload refused: this setting changes only with a restart", LF_STR("key", key),
                  LF_STR("config", path), LF_STR("trigger", by));
        cfg_unref(next);
        return false;
    }
    struct tls_ctx *ctx = reload_tls_ctx(next);
    if (!ctx) {
        LOG_ERROR("reload refused: keeping the running TLS configuration", LF_STR("config", path),
                  LF_STR("trigger", by));
        cfg_unref(next);
        return false;
    }
    worker_install(w, next, ctx);
    for (unsigned i = 0; w->group && i < w->group->n; i++) {
        if (i == w->id)
            continue;
        struct reload_payload *p = malloc(sizeof(*p));
        if (!p) {
            LOG_ERROR("out of memory: a worker keeps its old configuration", LF_UINT("worker", i));
            continue;
        }
        p->cfg = cfg_ref(next);
        p->tls_ctx = tls_ctx_ref(ctx);
        p->trigger = trigger;
        reload_payload_free(handoff_offer_reload(w->group->mesh, i, p));
    }
    cfg_unref(next);
    tls_ctx_unref(ctx);
    /* |path| belonged to the snapshot just released. */
    const struct tls_cert_info *cert = tls_ctx_certificate(w->tls_ctx, 0); /* the default */
    LOG_INFO("configuration reloaded", LF_STR("config", next->path),
             LF_UINT("routes", next->n_routes), LF_STR("trigger", by),
             LF_STR("certificate_serial", cert->serial));
    /* After the line above, so that it is written under the old level. */
    gateway_apply_log_config(next);
    return true;
}

void reload_payload_free(void *p)
{
    struct reload_payload *r = p;
    if (!r)
        return;
    cfg_unref(r->cfg);
    tls_ctx_unref(r->tls_ctx);
    free(r);
}
