/* reload: SIGHUP — a new configuration snapshot and TLS context swapped into
 * a running worker without dropping a connection.
 *
 * Borrows the worker; takes references to what it installs and drops the
 * worker's old ones (live connections keep theirs). Never changes what the
 * worker sized its tables and sockets by: a new snapshot that differs there
 * is refused with a log line saying a restart is needed. */
#ifndef REUSEGW_RELOAD_H
#define REUSEGW_RELOAD_H

#include "worker/worker.h"

struct cfg_snapshot;
struct tls_ctx;

/* reload_tls_ctx builds the TLS context |cfg| describes; NULL (logged with
 * the reason) when the certificate, key or CA cannot be used. The caller
 * owns the one reference. */
struct tls_ctx *reload_tls_ctx(const struct cfg_snapshot *cfg);

/* reload_worker re-reads the configuration file of |w|'s snapshot, for
 * SIGHUP or tls.watch (|trigger|, for the log and the other workers'
 * counts). On
 * success certificates, CA, routes and runtime limits take effect for new
 * connections and requests, in |w| at once and in every other worker of
 * its group at that worker's next turn (loaded and vetted once, handed
 * over through their mailboxes); on any error (logged) nothing changes.
 * Returns true when the new configuration was installed. */
bool reload_worker(struct worker *w, enum reload_trigger trigger);

/* reload_payload is a vetted configuration on its way to another worker:
 * one reference to each. */
struct reload_payload {
    struct cfg_snapshot *cfg;
    struct tls_ctx *tls_ctx;
    enum reload_trigger trigger;
};

/* reload_payload_free drops the references of |p| (a struct
 * reload_payload, or NULL) and frees it. Typed void for handoff.h. */
void reload_payload_free(void *p);

#endif
