/* relay_layer: the relay's set-up, re-configuration and teardown. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "conn/conn_layer.h"
#include "conn/conn_ours.h"
#include "core/addr.h"
#include "relay/answer.h"
#include "relay/dns_route.h"
#include "relay/ended.h"
#include "relay/pending.h"
#include "relay/relay.h"
#include "relay/relay_internal.h"

int relay_layer_init(struct relay_layer *rl, const struct relay_layer_borrowed *b)
{
    memset(rl, 0, sizeof(*rl));
    rl->conn = b->conn;
    rl->metrics = b->metrics;
    rl->timers = b->timers;
    rl->id = b->id;
    rl->index = b->index;
    rl->mesh = b->mesh;
    rl->wake_ctx = b->wake_ctx;
    rl->wake = b->wake;
    relay_layer_install(rl, b->cfg);
    uint32_t max_pending = conn_share(rl->conn, rl->cfg->limits.max_pending_transactions);
    if (!pending_table_init(&rl->pending, max_pending, rl->timers, rl->metrics))
        return -ENOMEM;
    rl->pending.keep = &rl->conn->out_pool;
    /* What entries keep for a dying connection (relay/ended.h): a head of
     * about one block each, and copies of requests still in flight. */
    if (!pending_table_track(&rl->pending, rl->conn->conns.capacity, 3 * max_pending) ||
        !pending_table_init(&rl->served, max_pending, rl->timers, rl->metrics) ||
        !pending_table_track(&rl->served, rl->conn->conns.capacity, 2 * max_pending) ||
        !(rl->reroute = malloc(rl->conn->scratch_size)))
        return -ENOMEM;
    conn_layer_set_events(rl->conn, &(struct conn_events){.ctx = rl,
                                                          .message = relay_message,
                                                          .framing_error = relay_framing_error,
                                                          .dial_failed = relay_dial_failed,
                                                          .ended = relay_conn_ended});
    rl->dns = dns_routes_new(rl->conn, rl->cfg);
    return rl->dns ? 0 : -EINVAL;
}

void relay_layer_install(struct relay_layer *rl, struct cfg_snapshot *cfg)
{
    rl->cfg = cfg;
    for (size_t i = 0; i <= cfg->n_identities; i++)
        rl->sent_by_len[i] =
            cfg_hostport_format(conn_ours_sent_by(cfg, i), rl->sent_by[i], sizeof(rl->sent_by[i]));
    const struct cfg_hostport *legacy[2] = {&cfg->legacy.forward_to, &cfg->legacy.listen};
    for (size_t i = 0; i < 2; i++)
        rl->legacy_name_lens[i] =
            cfg_hostport_format(legacy[i], rl->legacy_names[i], sizeof(rl->legacy_names[i]));
    if (!addr_from_hostport(&cfg->legacy.forward_to, &rl->udp_to, &rl->udp_to_len))
        rl->udp_to_len = 0;
}

void relay_layer_free(struct relay_layer *rl)
{
    dns_routes_free(rl->dns);
    if (rl->pending.entries)
        pending_table_free(&rl->pending);
    if (rl->served.entries)
        pending_table_free(&rl->served);
    free(rl->reroute);
    memset(rl, 0, sizeof(*rl));
}
