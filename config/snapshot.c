/* snapshot: defaults, reference counting and freeing. See snapshot.h. */
#include "config/snapshot.h"

#include "config/errors.h"

#include <stdlib.h>
#include <string.h>

struct cfg_snapshot *cfg_snapshot_new(void)
{
    struct cfg_snapshot *s = cfg_xcalloc(1, sizeof *s);
    atomic_init(&s->refcount, 1);
    s->identity.sent_by.port = 5061;
    s->tls.client_certificate = CFG_CLIENT_CERT_REQUIRED;
    s->tls.handshake_timeout_ms = 10 * 1000;
    s->tls.require_sip_eku = false;
    s->tls.proxy_protocol.timeout_ms = 5 * 1000;
    s->legacy.transparent = false;
    s->legacy.transport = CFG_LEGACY_TCP;
    s->reuse.accept_alias = true;
    s->reuse.request_alias = true;
    s->reuse.require_sent_by_identity = false;
    s->reuse.idle_timeout_ms = 10 * 60 * 1000;
    s->limits.max_connections = 100000;
    s->limits.max_message_bytes = 65535;
    s->limits.max_connections_per_peer = 1000;
    s->limits.max_pending_transactions = 65536;
    s->limits.max_buffered_bytes = 1024 * 1024;
    s->limits.max_concurrent_handshakes = 1024;
    s->limits.handshake_rate = 2000;
    s->limits.message_timeout_ms = 30 * 1000;
    s->limits.send_timeout_ms = 60 * 1000;
    strcpy(s->admin.listen.host, "127.0.0.1");
    s->admin.listen.port = 9091;
    s->runtime.workers = 1;
    s->runtime.io_backend = CFG_IO_AUTO;
    s->runtime.drain_timeout_ms = 20 * 1000;
    s->capture.hep.transport = CFG_CAPTURE_UDP;
    s->capture.hep.capture_id = 2001;
    s->capture.hep.node_name = cfg_xstrdup("reusegw");
    s->capture.hep.legs = CFG_CAPTURE_LEG_TLS | CFG_CAPTURE_LEG_LEGACY;
    s->log.level = CFG_LOG_INFO;
    s->log.format = CFG_LOG_LOGFMT;
    return s;
}

struct cfg_snapshot *cfg_ref(struct cfg_snapshot *snap)
{
    atomic_fetch_add_explicit(&snap->refcount, 1, memory_order_relaxed);
    return snap;
}

void cfg_unref(struct cfg_snapshot *snap)
{
    if (!snap || atomic_fetch_sub_explicit(&snap->refcount, 1, memory_order_acq_rel) != 1)
        return;
    free(snap->path);
    free(snap->tls.listen);
    free(snap->tls.certificate);
    free(snap->tls.private_key);
    free(snap->tls.ca);
    free(snap->tls.key_log);
    free(snap->tls.proxy_protocol.trusted);
    free(snap->tls.crl);
    free(snap->capture.hep.password);
    free(snap->capture.hep.node_name);
    for (size_t i = 0; i < snap->n_routes; i++) {
        free(snap->routes[i].domain);
        free(snap->routes[i].targets);
    }
    free(snap->routes);
    cfg_unindex_routes(snap);
    for (size_t i = 0; i < snap->n_identities; i++) {
        struct cfg_identity *id = &snap->identities[i];
        free(id->certificate);
        free(id->private_key);
        for (size_t j = 0; j < id->n_domains; j++)
            free(id->domains[j]);
        free(id->domains);
    }
    free(snap->identities);
    for (size_t i = 0; i < snap->n_peers; i++) {
        free(snap->peers[i].domain);
        free(snap->peers[i].ca);
        free(snap->peers[i].sni);
    }
    free(snap->peers);
    free(snap->dns.servers);
    free(snap);
}
