/* metrics_bridge: connection table gauges and the io backend. */
#include "admin/metrics_bridge.h"

#include <stdio.h>
#include <string.h>

#include "core/loop.h"
#include "core/metrics.h"
#include "conn/conn.h"

void metrics_bridge_absorb(const struct conn_table *table, struct metrics *m)
{
    /* Connections by kind and state, alias rows (inbound TLS connections
     * indexed under an alias key) and queued bytes, counted afresh. */
    uint64_t conns[METRIC_CONN_KINDS * METRIC_CONN_STATES] = {0};
    uint64_t rows = 0, out = 0, hold = 0, stash = 0;
    for (uint32_t i = 1; i <= table->high; i++) {
        const struct conn *cn = conn_at(table, i);
        if (cn->state == CONN_FREE || cn->kind >= METRIC_CONN_KINDS)
            continue;
        conns[cn->kind * METRIC_CONN_STATES + (unsigned)(cn->state - CONN_CONNECTING)]++;
        rows += cn->kind == CONN_TLS_IN && cn->key.family != 0 && cn->state == CONN_OPEN;
        out += cn->out.bytes + cn->plain.bytes; /* TLS: ciphertext, and plaintext to seal */
        hold += cn->hold.bytes;
        stash += cn->stash.bytes;
    }
    for (unsigned k = 0; k < METRIC_CONN_KINDS; k++)
        for (unsigned s = 0; s < METRIC_CONN_STATES; s++)
            metrics_set(m, metrics_conn_id(k, s), conns[k * METRIC_CONN_STATES + s]);
    metrics_set(m, M_ALIAS_ROWS, rows);
    metrics_set(m, M_QUEUED_OUT, out);
    metrics_set(m, M_QUEUED_HOLD, hold);
    metrics_set(m, M_QUEUED_STASH, stash);
}

const char *metrics_bridge_backend(const struct loop *loop, char *buf, size_t cap)
{
    const char *name = loop_backend_name(loop);
    size_t n = strcspn(name, "+"); /* "io_uring+defer_taskrun" is io_uring */
    snprintf(buf, cap, "%.*s", (int)n, name);
    return buf;
}
