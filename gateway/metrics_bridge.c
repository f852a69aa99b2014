/* metrics_bridge: counters and connection table to registry series. */
#include "metrics_bridge.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "loop.h"
#include "metrics.h"
#include "worker.h"

static uint64_t minus(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

void metrics_bridge_absorb(struct worker *w)
{
    struct metrics *m = &w->metrics;
    const struct counters *c = &w->counters;
    metrics_set(m, M_ACCEPTED, c->accepted);
    metrics_set(m, M_REJECTED_MAX_CONNECTIONS, c->rejected_max_connections);
    metrics_set(m, M_REJECTED_MAX_PER_PEER, c->rejected_per_peer);
    metrics_set(m, M_HSFAIL_TIMEOUT, c->timeouts_handshake);
    metrics_set(m, M_HSFAIL_ERROR, c->tls_handshake_failures);
    metrics_set(m, M_HANDSHAKE_FAILED, c->timeouts_handshake + c->tls_handshake_failures);
    metrics_set(m, M_ALIAS_RECORDED, c->aliases_recorded);
    metrics_set(m, M_ALIAS_DECLINED, c->aliases_declined);
    /* enum reuse_reason and the M_REUSE_* ids list the reasons in one order. */
    _Static_assert(M_REUSE_CONNECTION_GONE - M_REUSE_REUSED + 1 == REUSE_REASONS,
                   "reuse reasons and their metric ids must match");
    for (unsigned r = 0; r < REUSE_REASONS; r++)
        metrics_set(m, M_REUSE_REUSED + r, c->reuse[r]);
    metrics_set(m, M_ANSWER_BAD_REQUEST, c->answered_400);
    metrics_set(m, M_ANSWER_TOO_MANY_HOPS, c->answered_483);
    metrics_set(m, M_503_PENDING_FULL, c->refused_pending_full);
    /* The limits whose hits were counted before the limit family existed;
     * limits.c counts the others in the registry directly. */
    metrics_set(m, M_LIMIT_FIRST + LIMIT_MAX_CONNECTIONS, c->rejected_max_connections);
    metrics_set(m, M_LIMIT_FIRST + LIMIT_MAX_CONNECTIONS_PER_PEER, c->rejected_per_peer);
    metrics_set(m, M_LIMIT_FIRST + LIMIT_MAX_PENDING_TRANSACTIONS, c->refused_pending_full);
    uint64_t classified = m->v[M_503_DNS_FAILED] + m->v[M_503_DNS_TIMEOUT] +
                          m->v[M_503_DNS_QUEUE_FULL] + c->refused_pending_full;
    metrics_set(m, M_503_OTHER, minus(c->answered_503, classified));
    metrics_set(m, M_DROP_UNKNOWN_BRANCH, c->dropped_unknown_branch);
    metrics_set(m, M_DROP_RESPONSE_ON_EGRESS, c->dropped_response_on_egress);
    metrics_set(m, M_DROP_ACK_UNROUTABLE, c->dropped_ack_unroutable);
    metrics_set(m, M_DROP_BUFFER_FULL, c->dropped_buffer_full);
    metrics_set(m, M_DROP_PEER_GONE, c->dropped_peer_gone);
    metrics_set(m, M_DROP_MALFORMED, c->dropped_malformed);
    metrics_set(m, M_KEEPALIVE_PONGS, c->keepalive_pongs);
    metrics_set(m, M_LEGACY_ADDRESS_LEAKS, c->legacy_address_leaks);
    metrics_set(m, M_TIMEOUT_IDLE, c->timeouts_idle);
    metrics_set(m, M_TIMEOUT_HANDSHAKE, c->timeouts_handshake);
    metrics_set(m, M_TIMEOUT_TRANSACTION, w->pending.expired);

    /* Connections by kind and state, and alias rows (inbound TLS
     * connections indexed under an alias key), counted afresh. */
    uint64_t conns[METRIC_CONN_KINDS * METRIC_CONN_STATES] = {0};
    uint64_t rows = 0;
    for (uint32_t i = 1; i <= w->conns.high; i++) {
        const struct conn *cn = conn_at(&w->conns, i);
        if (cn->state == CONN_FREE || cn->kind >= METRIC_CONN_KINDS)
            continue;
        conns[cn->kind * METRIC_CONN_STATES + (unsigned)(cn->state - CONN_CONNECTING)]++;
        rows += cn->kind == CONN_TLS_IN && cn->key.family != 0 && cn->state == CONN_OPEN;
    }
    for (unsigned k = 0; k < METRIC_CONN_KINDS; k++)
        for (unsigned s = 0; s < METRIC_CONN_STATES; s++)
            metrics_set(m, metrics_conn_id(k, s), conns[k * METRIC_CONN_STATES + s]);
    metrics_set(m, M_ALIAS_ROWS, rows);
}

const char *metrics_bridge_backend(const struct loop *loop, char *buf, size_t cap)
{
    const char *name = loop_backend_name(loop);
    size_t n = strcspn(name, "+"); /* "io_uring+defer_taskrun" is io_uring */
    snprintf(buf, cap, "%.*s", (int)n, name);
    return buf;
}

int64_t metrics_cert_not_after(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    X509 *cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    if (!cert)
        return 0;
    /* This BoringSSL has no ASN1_TIME_to_posix: measure from now instead. */
    int days = 0, seconds = 0;
    int64_t t = 0;
    if (ASN1_TIME_diff(&days, &seconds, NULL, X509_get0_notAfter(cert)))
        t = (int64_t)time(NULL) + (int64_t)days * 86400 + seconds;
    X509_free(cert);
    return t;
}
