/* metrics: the family table that names every metric_id range, and the
 * Prometheus text renderer. */
#include "core/metrics.h"

#include <stdbool.h>
#include <stdio.h>

#include "core/strbuf.h"

enum family_type { COUNTER, GAUGE, HISTOGRAM };

/* family describes ids [first, first + n1 * n2): label |label1| takes
 * |values1|[i / n2] and |label2| takes |values2|[i % n2]. */
struct family {
    const char *name;
    const char *help;
    enum family_type type;
    enum metric_id first;
    const char *label1;
    const char *const *values1;
    unsigned n1;
    const char *label2;
    const char *const *values2;
    unsigned n2;
};

#define VALUES(...)                                                                                \
    (const char *const[]){__VA_ARGS__}, sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *)
#define NO_LABEL NULL, NULL, 1

static const char *const conn_kinds[METRIC_CONN_KINDS] = {"tls_in", "tls_out", "mirror", "egress",
                                                          "udp"};
static const char *const conn_states[METRIC_CONN_STATES] = {"connecting", "handshake", "open",
                                                            "closing", "dead"};

const char *const metrics_limit_names[METRIC_LIMITS] = {
    "max_connections",
    "max_connections_per_peer",
    "max_concurrent_handshakes",
    "handshake_rate",
    "max_message_bytes",
    "max_pending_transactions",
    "max_buffered_bytes",
    "message_timeout",
    "send_timeout",
    "fds", /* the descriptor reserve (conn/conn_fds.h) */
};

const char *const metrics_proxy_reject_names[METRIC_PROXY_REJECTS] = {
    "missing",   "bad_signature", "v1_syntax", "v1_too_long", "v2_version", "v2_command",
    "v2_family", "v2_too_long",   "v2_short",  "untrusted",   "timeout",    "truncated",
};

static const struct family families[] = {
    {"reusegw_connections_accepted_total", "Connections accepted on every listener.", COUNTER,
     M_ACCEPTED, NO_LABEL, NO_LABEL},
    {"reusegw_connections_rejected_total", "Sockets closed at once, by the limit they hit.",
     COUNTER, M_REJECTED_MAX_CONNECTIONS, "reason", VALUES("max_connections", "max_per_peer"),
     NO_LABEL},
    {"reusegw_connections", "Connections now, by kind and state.", GAUGE, M_CONNS_FIRST, "kind",
     conn_kinds, METRIC_CONN_KINDS, "state", conn_states, METRIC_CONN_STATES},
    {"reusegw_tls_handshakes_total", "TLS handshakes finished, by result.", COUNTER,
     M_HANDSHAKE_FULL, "result", VALUES("full", "resumed", "failed"), NO_LABEL},
    {"reusegw_tls_handshake_failures_total", "Failed TLS handshakes, by reason.", COUNTER,
     M_HSFAIL_TIMEOUT, "reason",
     VALUES("timeout", "error", "certificate_purpose", "revoked", "crl_expired"), NO_LABEL},
    {"reusegw_tls_sni_unknown_total",
     "Inbound TLS handshakes whose SNI named no identity of ours (served the default one).",
     COUNTER, M_TLS_SNI_UNKNOWN, NO_LABEL, NO_LABEL},
    {"reusegw_tls_peer_unverified_total",
     "Client certificates that did not verify, served unauthenticated by a peers[] policy with "
     "client_certificate optional.",
     COUNTER, M_TLS_PEER_UNVERIFIED, NO_LABEL, NO_LABEL},
    {"reusegw_crl_expired_used_total",
     "Peer chains accepted under a CRL past its nextUpdate (tls.crl_strict off).", COUNTER,
     M_CRL_EXPIRED_USED, NO_LABEL, NO_LABEL},
    {"reusegw_revoked_closes_total",
     "Connections closed because a reloaded CRL revokes their peer's certificate.", COUNTER,
     M_REVOKED_CLOSED, NO_LABEL, NO_LABEL},
    {"reusegw_alias_rows", "Rows in the RFC 5923 alias table.", GAUGE, M_ALIAS_ROWS, NO_LABEL,
     NO_LABEL},
    {"reusegw_alias_decisions_total", "Requests from TLS peers carrying ;alias, by outcome.",
     COUNTER, M_ALIAS_RECORDED, "result", VALUES("recorded", "declined"), NO_LABEL},
    {"reusegw_reuse_decisions_total",
     "Connection reuse decisions for requests towards peers, by reason.", COUNTER, M_REUSE_REUSED,
     "reason",
     VALUES("reused", "no_row", "identity_mismatch", "certless", "aliasing_off", "row_replaced",
            "connection_gone", "identity_ours_mismatch"),
     NO_LABEL},
    {"reusegw_messages_total", "SIP messages relayed, by direction and kind.", COUNTER,
     M_MSG_TO_LEGACY_REQUEST, "direction", VALUES("to_legacy", "to_peer"), "kind",
     VALUES("request", "response")},
    {"reusegw_bytes_total", "SIP bytes relayed (plaintext), by direction.", COUNTER,
     M_BYTES_TO_LEGACY, "direction", VALUES("to_legacy", "to_peer"), NO_LABEL},
    {"reusegw_parse_errors_total", "SIP messages that failed to parse, by reason.", COUNTER,
     M_PARSE_FRAMING, "reason",
     VALUES("framing", "too_large", "start_line", "header", "via", "uri", "missing_header",
            "control_character"),
     NO_LABEL},
    {"reusegw_local_answers_total", "Error responses reusegw wrote itself (503 apart), by reason.",
     COUNTER, M_ANSWER_BAD_REQUEST, "reason", VALUES("bad_request", "too_many_hops"), NO_LABEL},
    {"reusegw_503_sent_total", "503 responses sent to the legacy proxy, by reason.", COUNTER,
     M_503_DNS_FAILED, "reason",
     VALUES("dns_failed", "dns_timeout", "dns_queue_full", "pending_full", "other"), NO_LABEL},
    {"reusegw_dropped_messages_total", "SIP messages dropped without an answer, by reason.",
     COUNTER, M_DROP_UNKNOWN_BRANCH, "reason",
     VALUES("unknown_branch", "response_on_egress", "ack_unroutable", "buffer_full", "peer_gone",
            "malformed", "connection_gone_during_dns", "udp_not_our_via", "udp_too_large"),
     NO_LABEL},
    {"reusegw_keepalive_pongs_total", "RFC 5626 double-CRLF pings answered.", COUNTER,
     M_KEEPALIVE_PONGS, NO_LABEL, NO_LABEL},
    {"reusegw_queued_bytes",
     "Bytes queued on connections now, by queue: for the socket (TLS: records and plaintext "
     "not yet sealed), held until the connection opens, received while back-pressure pauses "
     "reading.",
     GAUGE, M_QUEUED_OUT, "queue", VALUES("out", "hold", "stash"), NO_LABEL},
    {"reusegw_legacy_address_leaks_total",
     "Record-Route or Contact naming an internal legacy address, relayed to a peer.", COUNTER,
     M_LEGACY_ADDRESS_LEAKS, NO_LABEL, NO_LABEL},
    {"reusegw_timeouts_total", "Timeouts that ended a connection or transaction, by kind.", COUNTER,
     M_TIMEOUT_IDLE, "kind", VALUES("idle", "handshake", "transaction"), NO_LABEL},
    {"reusegw_dns_queries_total", "DNS lookups sent, by type.", COUNTER, M_DNS_QUERY_NAPTR, "type",
     VALUES("naptr", "srv", "address"), NO_LABEL},
    {"reusegw_dns_failures_total", "RFC 3263 resolutions that gave no target, by reason.", COUNTER,
     M_DNS_FAIL_NXDOMAIN, "reason", VALUES("nxdomain", "nodata", "timeout", "server", "other"),
     NO_LABEL},
    {"reusegw_dns_cache_lookups_total", "DNS cache lookups, by result.", COUNTER, M_DNS_CACHE_HIT,
     "result", VALUES("hit", "miss"), NO_LABEL},
    {"reusegw_reloads_total", "Configuration reloads, by trigger (SIGHUP, tls.watch) and result.",
     COUNTER, M_RELOAD_SIGNAL_OK, "trigger", VALUES("signal", "watch"), "result",
     VALUES("ok", "failed")},
    {"reusegw_limit_hits_total", "Times a configured limit refused or ended something, by limit.",
     COUNTER, M_LIMIT_FIRST, "limit", metrics_limit_names, METRIC_LIMITS, NO_LABEL},
    {"reusegw_workers", "Event-loop worker threads.", GAUGE, M_WORKERS, NO_LABEL, NO_LABEL},
    {"reusegw_handoffs_total", "Messages handed to the worker owning their connection, by kind.",
     COUNTER, M_HANDOFF_REQUEST, "kind", VALUES("request", "response"), NO_LABEL},
    {"reusegw_handoff_refused_total",
     "Messages refused because the channel to another worker was full.", COUNTER, M_HANDOFF_REFUSED,
     NO_LABEL, NO_LABEL},
    {"reusegw_loop_iterations_total", "Event-loop turns.", COUNTER, M_LOOP_ITERATIONS, NO_LABEL,
     NO_LABEL},
    {"reusegw_tls_key_log_enabled",
     "1 while tls.key_log writes every TLS secret to a file (anyone reading it can decrypt).",
     GAUGE, M_TLS_KEY_LOG_ENABLED, NO_LABEL, NO_LABEL},
    {"reusegw_capture_packets_total", "HEP packets sent to the capture collector.", COUNTER,
     M_CAPTURE_SENT, NO_LABEL, NO_LABEL},
    {"reusegw_capture_dropped_total", "SIP messages not captured, by reason.", COUNTER,
     M_CAPTURE_DROP_QUEUE_FULL, "reason",
     VALUES("queue_full", "collector_slow", "collector_down", "too_large"), NO_LABEL},
    {"reusegw_proxy_protocol_headers_total",
     "PROXY protocol headers from trusted balancers that named the client, by version.", COUNTER,
     M_PROXY_V1, "version", VALUES("1", "2"), NO_LABEL},
    {"reusegw_proxy_protocol_local_total",
     "PROXY protocol LOCAL headers (balancer health checks), closed quietly.", COUNTER,
     M_PROXY_LOCAL, NO_LABEL, NO_LABEL},
    {"reusegw_proxy_protocol_rejected_total",
     "Connections closed for their PROXY protocol header or its absence, by reason.", COUNTER,
     M_PROXY_REJECT_FIRST, "reason", metrics_proxy_reject_names, METRIC_PROXY_REJECTS, NO_LABEL},
    {"reusegw_legacy_messages_total",
     "SIP messages on the legacy side, by legacy transport and direction.", COUNTER,
     M_LEGACY_TCP_TO, "transport", VALUES("tcp", "udp"), "direction",
     VALUES("to_legacy", "from_legacy")},
    {"reusegw_udp_dropped_total", "Legacy-side datagrams not relayed, by reason.", COUNTER,
     M_UDP_DROP_BODY_TRUNCATED, "reason",
     VALUES("body_truncated", "too_large", "unframeable", "send_failed"), NO_LABEL},
    {"reusegw_udp_retransmissions_absorbed_total",
     "Legacy-proxy request retransmissions over UDP that did not cross TLS again.", COUNTER,
     M_UDP_RETRANS_ABSORBED, NO_LABEL, NO_LABEL},
    {"reusegw_udp_513_sent_total",
     "Peers' requests answered 513: too large for one datagram to the legacy proxy.", COUNTER,
     M_UDP_513_SENT, NO_LABEL, NO_LABEL},
    {"reusegw_transactions_answered_on_close_total",
     "Transactions answered by reusegw because their connection died, by cause.", COUNTER,
     M_ANSWERED_ON_CLOSE_FIRST, "cause", VALUES("local", "peer_closed", "peer_reset", "timeout"),
     NO_LABEL},
    {"reusegw_transactions_rerouted_total",
     "Requests that never left a dying connection, routed again.", COUNTER, M_REROUTED, NO_LABEL,
     NO_LABEL},
};

/* Upper bounds of the batch-size buckets but the last (+Inf). */
static const uint64_t batch_bounds[METRIC_BATCH_BUCKETS - 1] = {1, 2, 4, 8, 16, 32, 64, 128, 256};

enum metric_id metrics_conn_id(unsigned kind, unsigned state)
{
    return (enum metric_id)(M_CONNS_FIRST + kind * METRIC_CONN_STATES + state);
}

enum metric_id metrics_parse_error_id(enum sip_err err)
{
    switch (err) {
    case SIP_ERR_HEADERS_TOO_LARGE:
    case SIP_ERR_MESSAGE_TOO_LARGE:
    case SIP_ERR_TOO_MANY_HEADERS:
    case SIP_ERR_TOO_MANY_PARAMS:
        return M_PARSE_TOO_LARGE;
    case SIP_ERR_CL_MISSING:
    case SIP_ERR_CL_INVALID:
    case SIP_ERR_CL_DUPLICATE:
    case SIP_ERR_CL_CONFLICT:
    case SIP_ERR_BODY_TRUNCATED:
    case SIP_ERR_BARE_CR:
        return M_PARSE_FRAMING;
    case SIP_ERR_START_LINE:
    case SIP_ERR_METHOD:
    case SIP_ERR_REQUEST_URI:
    case SIP_ERR_VERSION:
    case SIP_ERR_STATUS:
        return M_PARSE_START_LINE;
    case SIP_ERR_VIA:
        return M_PARSE_VIA;
    case SIP_ERR_URI:
    case SIP_ERR_URI_SCHEME:
    case SIP_ERR_NAME_ADDR:
    case SIP_ERR_HOST:
    case SIP_ERR_PORT:
        return M_PARSE_URI;
    case SIP_ERR_MISSING_VIA:
    case SIP_ERR_MISSING_FROM:
    case SIP_ERR_MISSING_TO:
        return M_PARSE_MISSING_HEADER;
    case SIP_ERR_CONTROL_CHAR:
        return M_PARSE_CONTROL_CHAR;
    default:
        return M_PARSE_HEADER;
    }
}

void metrics_observe_batch(struct metrics *m, uint64_t completions)
{
    unsigned b = 0;
    while (b < METRIC_BATCH_BUCKETS - 1 && completions > batch_bounds[b])
        b++;
    metrics_inc(m, M_LOOP_ITERATIONS);
    metrics_inc(m, (enum metric_id)(M_BATCH_BUCKET_FIRST + b));
    metrics_add(m, M_BATCH_SUM, completions);
}

static uint64_t sum(const struct metrics *const *regs, size_t n, unsigned id)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += __atomic_load_n(&regs[i]->v[id], __ATOMIC_RELAXED);
    return total;
}

static void header(struct strbuf *o, const char *name, const char *help, const char *type)
{
    strbuf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_family(struct strbuf *o, const struct family *f,
                          const struct metrics *const *regs, size_t n)
{
    header(o, f->name, f->help, f->type == GAUGE ? "gauge" : "counter");
    for (unsigned i = 0; i < f->n1 * f->n2; i++) {
        uint64_t v = sum(regs, n, f->first + i);
        strbuf_printf(o, "%s", f->name);
        if (f->label1) {
            strbuf_printf(o, "{%s=\"%s\"", f->label1, f->values1[i / f->n2]);
            if (f->label2)
                strbuf_printf(o, ",%s=\"%s\"", f->label2, f->values2[i % f->n2]);
            strbuf_printf(o, "}");
        }
        if (f->type == GAUGE)
            strbuf_printf(o, " %lld\n", (long long)(int64_t)v);
        else
            strbuf_printf(o, " %llu\n", (unsigned long long)v);
    }
}

static void render_batch_histogram(struct strbuf *o, const struct metrics *const *regs, size_t n)
{
    static const char name[] = "reusegw_loop_batch_size";
    header(o, name, "Completions handled per event-loop turn.", "histogram");
    uint64_t cumulative = 0;
    for (unsigned b = 0; b < METRIC_BATCH_BUCKETS; b++) {
        cumulative += sum(regs, n, M_BATCH_BUCKET_FIRST + b);
        if (b < METRIC_BATCH_BUCKETS - 1)
            strbuf_printf(o, "%s_bucket{le=\"%llu\"} %llu\n", name,
                          (unsigned long long)batch_bounds[b], (unsigned long long)cumulative);
        else
            strbuf_printf(o, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cumulative);
    }
    strbuf_printf(o, "%s_sum %llu\n%s_count %llu\n", name,
                  (unsigned long long)sum(regs, n, M_BATCH_SUM), name,
                  (unsigned long long)cumulative);
}

size_t metrics_render(const struct metrics *const *regs, size_t n, const struct metrics_info *info,
                      char *buf, size_t cap)
{
    struct strbuf o = {.buf = buf, .cap = cap};
    if (cap)
        buf[0] = '\0';
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
        render_family(&o, &families[i], regs, n);
    render_batch_histogram(&o, regs, n);
    header(&o, "reusegw_io_backend", "The event-loop backend in use (always 1).", "gauge");
    strbuf_printf(&o, "reusegw_io_backend{backend=\"%s\"} 1\n", info->io_backend);
    bool headed = false;
    for (size_t i = 0; i < info->n_certs; i++) {
        if (!info->certs[i].not_after)
            continue;
        if (!headed)
            header(&o, "reusegw_certificate_expiry_seconds",
                   "Seconds until a loaded certificate expires (negative: expired), by identity.",
                   "gauge");
        headed = true;
        strbuf_printf(&o, "reusegw_certificate_expiry_seconds{identity=\"%s\"} %lld\n",
                      info->certs[i].identity, (long long)(info->certs[i].not_after - info->now));
    }
    if (info->crl_next_update) {
        header(&o, "reusegw_crl_next_update_timestamp_seconds",
               "Earliest nextUpdate of the loaded CRLs (tls.crl), Unix seconds.", "gauge");
        strbuf_printf(&o, "reusegw_crl_next_update_timestamp_seconds %lld\n",
                      (long long)info->crl_next_update);
    }
    return o.len;
}
