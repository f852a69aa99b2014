/* conn_ours: identity indexes of ours across snapshots. */
#include "conn/conn_ours.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "conn/conn.h"
#include "conn/conn_internal.h"
#include "conn/conn_io.h"
#include "core/log.h"
#include "core/timer.h"

const struct cfg_hostport *conn_ours_sent_by(const struct cfg_snapshot *cfg, size_t ours)
{
    if (ours == 0)
        return &cfg->identity.sent_by;
    return ours <= cfg->n_identities ? &cfg->identities[ours - 1].sent_by : NULL;
}

const char *conn_ours_name(const struct cfg_snapshot *cfg, size_t ours)
{
    const struct cfg_hostport *hp = conn_ours_sent_by(cfg, ours);
    return hp ? hp->host : "(removed)";
}

uint8_t conn_ours_by_listen(const struct cfg_snapshot *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_identities; i++) {
        char text[300];
        if (!cfg->identities[i].has_legacy_listen)
            continue;
        cfg_hostport_format(&cfg->identities[i].legacy_listen, text, sizeof(text));
        if (strcmp(text, name) == 0)
            return (uint8_t)(i + 1);
    }
    return 0;
}

/* index_in finds the identity of |next| with sent_by |hp|; -1: none. */
static int index_in(const struct cfg_snapshot *next, const struct cfg_hostport *hp)
{
    for (size_t i = 0; i < next->n_identities; i++) {
        const struct cfg_hostport *s = &next->identities[i].sent_by;
        if (s->port == hp->port && strcasecmp(s->host, hp->host) == 0)
            return (int)(i + 1);
    }
    return -1;
}

void conn_ours_remap(struct conn_layer *cl, const struct cfg_snapshot *old,
                     const struct cfg_snapshot *next)
{
    if (old->n_identities == 0)
        return; /* every connection is the default identity's, which stays */
    int map[CFG_MAX_IDENTITIES + 1];
    map[0] = 0;
    for (size_t i = 1; i <= old->n_identities; i++)
        map[i] = index_in(next, &old->identities[i - 1].sent_by);
    for (uint32_t slot = 1; slot <= cl->conns.high; slot++) {
        struct conn *c = conn_at(&cl->conns, slot);
        if (c->state == CONN_FREE || c->state == CONN_DEAD || c->ours == 0 || c->retired_ms ||
            c->ours > old->n_identities || map[c->ours] == c->ours)
            continue;
        if (map[c->ours] > 0) {
            c->ours = (uint8_t)map[c->ours];
            if (c->key.family) { /* the shared index learns the new index too */
                struct conn_key key = c->key;
                conn_index_set(&cl->conns, c, &key);
                if (c->state == CONN_OPEN)
                    conn_index_opened(&cl->conns, c);
            }
            continue;
        }
        LOG_INFO("identity removed by reload: draining its connection, then close_notify",
                 LF_STR("identity", old->identities[c->ours - 1].sent_by.host),
                 LF_STR("conn", conn_kind_name(c)), LF_STR("domain", c->domain));
        if (c->kind != CONN_TLS_IN && c->kind != CONN_TLS_OUT) {
            c->ours = 0; /* an egress connection: its requests take the default */
        } else if (c->state != CONN_OPEN) {
            conn_close(cl, c, CLOSE_ABORT, "identity removed by reload"); /* nothing in flight */
        } else {
            conn_index_remove(&cl->conns, c);
            c->peer_closed = true;
            c->retired_ms = cl->timers->now_ms;
            c->ours = CONN_OURS_REMOVED;
            conn_arm_timer(cl, c, 0); /* the timer decides when it closes */
        }
    }
}

bool conn_retired_due(const struct conn_layer *cl, const struct conn *c, uint64_t *next)
{
    uint64_t quiet = c->last_active_ms + CONN_RETIRED_QUIET_MS;
    uint64_t bound = c->retired_ms + cl->cfg->runtime.drain_timeout_ms;
    uint64_t due = quiet < bound ? quiet : bound;
    if (cl->timers->now_ms >= due)
        return true;
    if (due < *next)
        *next = due;
    return false;
}
