/* admin: the operator's HTTP endpoint on admin.listen — /metrics, /healthz,
 * /ready, /aliases, /certificates and /connections — served on a worker's
 * loop, one request per connection.
 *
 * Owns its listening socket and its few connections (bounded, each with a
 * deadline). Borrows the loop and timer heap of its worker, and asks the
 * gateway for every answer through admin_hooks. Never blocks, never reads a
 * request body, and never keeps a connection after its response. */
#ifndef REUSEGW_ADMIN_H
#define REUSEGW_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin/admin_http.h"
#include "core/loop.h"
#include "core/timer.h"

struct cfg_hostport;
struct admin_server;

enum {
    ADMIN_MAX_CONNS = 16,        /* concurrent admin connections */
    ADMIN_TIMEOUT_MS = 10000,    /* to send a request and take the answer */
    ADMIN_BODY_MAX = 1024 * 1024 /* largest body a hook may produce */
};

/* admin_readiness is what /ready checks; every field must be in its ready
 * state for a 200. */
struct admin_readiness {
    bool listeners_bound;
    bool certificate_loaded;
    bool legacy_reachable;
    bool draining;
};

/* admin_hooks are the gateway's answers. Each writer fills |buf| (|cap|
 * bytes) and returns the length it needed, like snprintf; a result >= |cap|
 * becomes a 500. */
struct admin_hooks {
    void *ctx;
    void (*readiness)(void *ctx, struct admin_readiness *out);
    size_t (*metrics)(void *ctx, char *buf, size_t cap);
    /* aliases writes the alias table as a JSON array; NULL answers "[]"
     * (no alias table yet). */
    size_t (*aliases)(void *ctx, char *buf, size_t cap);
    /* certificates writes /certificates, a JSON object; NULL answers "{}". */
    size_t (*certificates)(void *ctx, char *buf, size_t cap);
    /* connections writes /connections for |page| (a query that parsed:
     * admin.c answers a bad one with a JSON 400 itself), a JSON object;
     * NULL answers an empty listing. */
    size_t (*connections)(void *ctx, const struct admin_page *page, char *buf, size_t cap);
};

/* admin_new listens on |listen| (port 0 picks a free one, see admin_port)
 * and serves through |loop| with tags whose top byte is |tag_op| (route
 * those completions to admin_on_event). |hooks| is copied. Returns NULL
 * after logging why. Release with admin_free. */
struct admin_server *admin_new(struct loop *loop, struct timer_heap *timers,
                               const struct cfg_hostport *listen, uint8_t tag_op,
                               const struct admin_hooks *hooks);

/* admin_free closes the listener and every connection at once. NULL is a
 * no-op. */
void admin_free(struct admin_server *a);

/* admin_port is the bound port (host byte order). */
uint16_t admin_port(const struct admin_server *a);

/* admin_on_event handles a loop completion whose tag carries tag_op. */
void admin_on_event(struct admin_server *a, const struct loop_event *ev);

#endif
