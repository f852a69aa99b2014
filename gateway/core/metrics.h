/* metrics: the counters and gauges of one worker as a plain array indexed by
 * enum metric_id, and their Prometheus text rendering summed over workers.
 *
 * Owns nothing but the array inside struct metrics (embedded by its worker).
 * Borrows the registries it renders. Never locks and never allocates: each
 * worker writes only its own registry (single writer, relaxed stores) and a
 * scrape reads all of them with relaxed loads. */
#ifndef REUSEGW_METRICS_H
#define REUSEGW_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sip/error.h"

/* Label dimensions shared by several families. */
enum {
    METRIC_CONN_KINDS = 5,
    METRIC_CONN_STATES = 5
};                                  /* enum conn_kind; states
                                      CONNECTING..DEAD */
enum { METRIC_BATCH_BUCKETS = 10 }; /* 1 2 4 ... 256 +Inf */
enum { METRIC_LIMITS = 10 };        /* enum limit (conn_limits.h) */
enum { METRIC_PROXY_REJECTS = 12 }; /* enum pp_error, then conn_proxy.h's own */
enum { METRIC_CONN_ENDS = 4 };      /* enum conn_end (conn/conn-t.h) */

/* metric_id names one time series. Groups of ids form one metric family;
 * the comment above each group gives the family and its label. Counters only
 * grow; the ids marked gauge go up and down (metrics_gauge_add). */
enum metric_id {
    /* reusegw_connections_accepted_total */
    M_ACCEPTED,
    /* reusegw_connections_rejected_total{reason} */
    M_REJECTED_MAX_CONNECTIONS,
    M_REJECTED_MAX_PER_PEER,
    /* gauge reusegw_connections{kind,state}: see metrics_conn_id */
    M_CONNS_FIRST,
    M_CONNS_LAST = M_CONNS_FIRST + METRIC_CONN_KINDS * METRIC_CONN_STATES - 1,
    /* reusegw_tls_handshakes_total{result} */
    M_HANDSHAKE_FULL,
    M_HANDSHAKE_RESUMED,
    M_HANDSHAKE_FAILED,
    /* reusegw_tls_handshake_failures_total{reason}: they add up to FAILED */
    M_HSFAIL_TIMEOUT,      /* connect or handshake deadline */
    M_HSFAIL_ERROR,        /* TLS alert, bad certificate or identity */
    M_HSFAIL_CERT_PURPOSE, /* the peer's EKU does not fit its role */
    M_HSFAIL_REVOKED,      /* a certificate of the peer chain is on a CRL */
    M_HSFAIL_CRL_EXPIRED,  /* tls.crl_strict and the chain's CRL is past nextUpdate */
    /* reusegw_tls_sni_unknown_total: SNI named no identity of ours */
    M_TLS_SNI_UNKNOWN,
    /* reusegw_tls_peer_unverified_total: a peer policy with
     * client_certificate optional served a certificate that did not verify */
    M_TLS_PEER_UNVERIFIED,
    /* reusegw_crl_expired_used_total: chains accepted under a CRL past its
     * nextUpdate (tls.crl_strict off) */
    M_CRL_EXPIRED_USED,
    /* reusegw_revoked_closes_total: connections closed because a reloaded
     * CRL revokes their peer */
    M_REVOKED_CLOSED,
    /* gauge reusegw_alias_rows */
    M_ALIAS_ROWS,
    /* reusegw_alias_decisions_total{result}: ;alias seen on inbound TLS */
    M_ALIAS_RECORDED,
    M_ALIAS_DECLINED,
    /* reusegw_reuse_decisions_total{reason}: how a request towards a peer
     * found its connection */
    M_REUSE_REUSED,
    M_REUSE_NO_ROW,
    M_REUSE_IDENTITY_MISMATCH,
    M_REUSE_CERTLESS,
    M_REUSE_ALIASING_OFF,
    M_REUSE_ROW_REPLACED,
    M_REUSE_CONNECTION_GONE,
    M_REUSE_IDENTITY_OURS_MISMATCH,
    /* reusegw_messages_total{direction,kind} */
    M_MSG_TO_LEGACY_REQUEST,
    M_MSG_TO_LEGACY_RESPONSE,
    M_MSG_TO_PEER_REQUEST,
    M_MSG_TO_PEER_RESPONSE,
    /* reusegw_bytes_total{direction}: SIP plaintext relayed */
    M_BYTES_TO_LEGACY,
    M_BYTES_TO_PEER,
    /* reusegw_parse_errors_total{reason}: see metrics_parse_error_id */
    M_PARSE_FRAMING,
    M_PARSE_TOO_LARGE,
    M_PARSE_START_LINE,
    M_PARSE_HEADER,
    M_PARSE_VIA,
    M_PARSE_URI,
    M_PARSE_MISSING_HEADER,
    M_PARSE_CONTROL_CHAR,
    /* reusegw_local_answers_total{reason}: error responses reusegw wrote
     * itself, 503s apart */
    M_ANSWER_BAD_REQUEST,   /* 400, 505, 513 */
    M_ANSWER_TOO_MANY_HOPS, /* 483 */
    /* reusegw_503_sent_total{reason} */
    M_503_DNS_FAILED,
    M_503_DNS_TIMEOUT,
    M_503_DNS_QUEUE_FULL,
    M_503_PENDING_FULL, /* limits.max_pending_transactions reached */
    M_503_OTHER,        /* dial or handshake failure, congestion, peer gone... */
    /* reusegw_dropped_messages_total{reason} */
    M_DROP_UNKNOWN_BRANCH,
    M_DROP_RESPONSE_ON_EGRESS,
    M_DROP_ACK_UNROUTABLE,
    M_DROP_BUFFER_FULL,
    M_DROP_PEER_GONE,           /* its destination connection closed */
    M_DROP_MALFORMED,           /* unparseable and not answerable */
    M_DROP_DNS_CONNECTION_GONE, /* its legacy connection closed during DNS */
    M_DROP_UDP_NOT_OURS,        /* a UDP response whose top Via is not reusegw's, or
                                   whose TLS connection is gone */
    M_DROP_UDP_TOO_LARGE,       /* a response larger than one datagram to the legacy proxy */
    /* reusegw_keepalive_pongs_total */
    M_KEEPALIVE_PONGS,
    /* gauge reusegw_queued_bytes{queue}: bytes every connection queues,
     * counted afresh (admin/metrics_bridge.c): for its socket (TLS:
     * records, and plaintext not yet sealed into one), held until
     * it opens, received while back-pressure pauses its reading */
    M_QUEUED_OUT,
    M_QUEUED_HOLD,
    M_QUEUED_STASH,
    /* reusegw_legacy_address_leaks_total: Record-Route/Contact naming the
     * internal legacy addresses, relayed to a peer */
    M_LEGACY_ADDRESS_LEAKS,
    /* reusegw_timeouts_total{kind} */
    M_TIMEOUT_IDLE,
    M_TIMEOUT_HANDSHAKE,
    M_TIMEOUT_TRANSACTION,
    /* reusegw_dns_queries_total{type} */
    M_DNS_QUERY_NAPTR,
    M_DNS_QUERY_SRV,
    M_DNS_QUERY_ADDRESS, /* one A+AAAA lookup of a host */
    /* reusegw_dns_failures_total{reason}: resolutions that gave no target */
    M_DNS_FAIL_NXDOMAIN,
    M_DNS_FAIL_NODATA,
    M_DNS_FAIL_TIMEOUT,
    M_DNS_FAIL_SERVER,
    M_DNS_FAIL_OTHER,
    /* reusegw_dns_cache_lookups_total{result} */
    M_DNS_CACHE_HIT,
    M_DNS_CACHE_MISS,
    /* reusegw_reloads_total{trigger,result}: see metrics_reload_id */
    M_RELOAD_SIGNAL_OK,
    M_RELOAD_SIGNAL_FAILED,
    M_RELOAD_WATCH_OK,
    M_RELOAD_WATCH_FAILED,
    /* reusegw_limit_hits_total{limit}: one series per enum limit, in its
     * order (conn_limits.h) */
    M_LIMIT_FIRST,
    M_LIMIT_LAST = M_LIMIT_FIRST + METRIC_LIMITS - 1,
    /* gauge reusegw_workers: event-loop threads (worker 0 holds it) */
    M_WORKERS,
    /* reusegw_handoffs_total{kind}: messages passed to another worker */
    M_HANDOFF_REQUEST,
    M_HANDOFF_RESPONSE,
    /* reusegw_handoff_refused_total: the channel to that worker was full */
    M_HANDOFF_REFUSED,
    /* reusegw_loop_iterations_total */
    M_LOOP_ITERATIONS,
    /* gauge reusegw_tls_key_log_enabled: 1 while tls.key_log writes the
     * TLS secrets to a file (worker 0 holds it) */
    M_TLS_KEY_LOG_ENABLED,
    /* reusegw_capture_packets_total: HEP packets handed to the collector */
    M_CAPTURE_SENT,
    /* reusegw_capture_dropped_total{reason}: SIP messages not captured */
    M_CAPTURE_DROP_QUEUE_FULL,     /* the worker's capture queue was full */
    M_CAPTURE_DROP_COLLECTOR_SLOW, /* the socket would block (TCP: the stream backlog) */
    M_CAPTURE_DROP_COLLECTOR_DOWN, /* not connected, refused, or the send failed */
    M_CAPTURE_DROP_TOO_LARGE,      /* larger than one HEP packet */
    /* reusegw_proxy_protocol_headers_total{version}: PROXY headers that
     * named a client, which became the connection's peer */
    M_PROXY_V1,
    M_PROXY_V2,
    /* reusegw_proxy_protocol_local_total: v2 LOCAL (v1 UNKNOWN) health
     * checks, closed quietly */
    M_PROXY_LOCAL,
    /* reusegw_proxy_protocol_rejected_total{reason}: connections closed
     * for their PROXY header (or its absence), in the order of
     * metrics_proxy_reject_names */
    M_PROXY_REJECT_FIRST,
    M_PROXY_REJECT_LAST = M_PROXY_REJECT_FIRST + METRIC_PROXY_REJECTS - 1,
    /* reusegw_legacy_messages_total{transport,direction}: SIP messages on
     * the legacy side, per legacy transport, each way */
    M_LEGACY_TCP_TO,
    M_LEGACY_TCP_FROM,
    M_LEGACY_UDP_TO,
    M_LEGACY_UDP_FROM,
    /* reusegw_udp_dropped_total{reason}: datagrams of the legacy side not
     * relayed (conn/conn_udp.h) */
    M_UDP_DROP_BODY_TRUNCATED, /* Content-Length larger than the datagram */
    M_UDP_DROP_TOO_LARGE,      /* over limits.max_message_bytes or a datagram */
    M_UDP_DROP_UNFRAMEABLE,    /* no header section, bad Content-Length */
    M_UDP_DROP_SEND_FAILED,    /* the kernel refused the send */
    /* reusegw_udp_retransmissions_absorbed_total: legacy-proxy request
     * retransmissions that did not cross TLS again */
    M_UDP_RETRANS_ABSORBED,
    /* reusegw_udp_513_sent_total: peers' requests too large for one
     * datagram to the legacy proxy, answered 513 */
    M_UDP_513_SENT,
    /* reusegw_transactions_answered_on_close_total{cause}: transactions
     * reusegw answered itself because the connection their request went
     * on died, by enum conn_end (conn/conn-t.h) */
    M_ANSWERED_ON_CLOSE_FIRST,
    M_ANSWERED_ON_CLOSE_LAST = M_ANSWERED_ON_CLOSE_FIRST + METRIC_CONN_ENDS - 1,
    /* reusegw_transactions_rerouted_total: requests that never left a dying
     * connection, routed again */
    M_REROUTED,
    /* histogram reusegw_loop_batch_size: completions per loop turn; buckets
     * are stored per bucket (not cumulative), the sum beside them */
    M_BATCH_BUCKET_FIRST,
    M_BATCH_BUCKET_LAST = M_BATCH_BUCKET_FIRST + METRIC_BATCH_BUCKETS - 1,
    M_BATCH_SUM,
    /* Not exported, read by the exit line only: receive streams that could
     * not be framed (each closed its connection). */
    M_FRAMING_ERRORS,
    M__COUNT
};

/* metrics is one worker's registry; zero-initialised is empty. */
struct metrics {
    uint64_t v[M__COUNT];
};

/* metrics_add adds |n| to counter |id|. Only the owning worker writes; the
 * relaxed store keeps a concurrent scrape free of torn reads without a
 * locked instruction. */
static inline void metrics_add(struct metrics *m, enum metric_id id, uint64_t n)
{
    __atomic_store_n(&m->v[id], __atomic_load_n(&m->v[id], __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* metrics_set stores |v| in |id|: for gauges counted afresh at scrape time
 * (see metrics_bridge.h). */
static inline void metrics_set(struct metrics *m, enum metric_id id, uint64_t v)
{
    __atomic_store_n(&m->v[id], v, __ATOMIC_RELAXED);
}

/* metrics_inc adds one to counter |id|. */
static inline void metrics_inc(struct metrics *m, enum metric_id id)
{
    metrics_add(m, id, 1);
}

/* metrics_relayed counts one relayed message of |len| bytes in series |msg|
 * and |bytes|. */
static inline void metrics_relayed(struct metrics *m, enum metric_id msg, enum metric_id bytes,
                                   size_t len)
{
    metrics_inc(m, msg);
    metrics_add(m, bytes, len);
}

/* metrics_handshake_failed counts one failed TLS handshake (or the connect
 * before it) under failure reason |reason| (M_HSFAIL_*) and in the failed
 * handshakes, which the reasons add up to. */
static inline void metrics_handshake_failed(struct metrics *m, enum metric_id reason)
{
    metrics_inc(m, reason);
    metrics_inc(m, M_HANDSHAKE_FAILED);
}

/* reload_trigger is what started a reload: SIGHUP or tls.watch. */
enum reload_trigger { RELOAD_SIGNAL, RELOAD_WATCH };

/* metrics_reload_id is the series of a reload started by |trigger| that
 * succeeded (|ok|) or was refused. */
static inline enum metric_id metrics_reload_id(enum reload_trigger trigger, bool ok)
{
    return (enum metric_id)(M_RELOAD_SIGNAL_OK + 2 * (unsigned)trigger + !ok);
}

/* metrics_gauge_add moves gauge |id| by |delta| (negative to lower it); a
 * worker's gauge may go below zero as long as the sum over workers does not
 * (a connection accepted on one worker and closed on another). */
static inline void metrics_gauge_add(struct metrics *m, enum metric_id id, int64_t delta)
{
    metrics_add(m, id, (uint64_t)delta);
}

/* metrics_limit_names are the label values of reusegw_limit_hits_total:
 * the configuration keys of the limits, without "limits.". */
extern const char *const metrics_limit_names[METRIC_LIMITS];

/* metrics_proxy_reject_names are the label values of
 * reusegw_proxy_protocol_rejected_total: enum pp_error's reasons, then
 * "untrusted", "timeout" and "truncated" (conn/conn_proxy.h). */
extern const char *const metrics_proxy_reject_names[METRIC_PROXY_REJECTS];

/* metrics_conn_id is the gauge of connections of |kind| (enum conn_kind) in
 * state index |state| (enum conn_state minus CONN_CONNECTING: 0 connecting,
 * 1 handshake, 2 open, 3 closing, 4 dead). */
enum metric_id metrics_conn_id(unsigned kind, unsigned state);

/* metrics_parse_error_id maps a SIP parse error to its reason series. */
enum metric_id metrics_parse_error_id(enum sip_err err);

/* metrics_observe_batch records one loop turn that delivered |completions|:
 * one iteration, one histogram observation. */
void metrics_observe_batch(struct metrics *m, uint64_t completions);

/* metrics_cert is one certificate of ours a scrape reports. */
struct metrics_cert {
    const char *identity; /* the label: the identity's sent_by host; borrowed */
    int64_t not_after;    /* Unix seconds; 0: unknown (no series) */
};

/* METRICS_MAX_CERTS bounds the certificates one scrape reports. */
#define METRICS_MAX_CERTS 65

/* metrics_info is what a scrape knows beyond the registries: the process'
 * event-loop backend, the expiry of every loaded certificate (one per
 * identity) and the next update of the CRLs. */
struct metrics_info {
    const char *io_backend;           /* "io_uring", "epoll", ...; borrowed */
    const struct metrics_cert *certs; /* [n_certs], borrowed */
    size_t n_certs;
    int64_t crl_next_update; /* Unix seconds; 0: no CRL (no series) */
    int64_t now;             /* Unix seconds at the scrape */
};

/* METRICS_RENDER_MAX bounds the text metrics_render produces. */
#define METRICS_RENDER_MAX (64 * 1024)

/* metrics_render writes the Prometheus text exposition (version 0.0.4) of
 * the sum of |regs|[0..|n|) plus |info| into |buf| (|cap| bytes,
 * NUL-terminated when |cap| > 0). Returns the length of the whole text; a
 * result >= |cap| means it was cut short. The registries are borrowed and
 * read while their workers keep writing. */
size_t metrics_render(const struct metrics *const *regs, size_t n, const struct metrics_info *info,
                      char *buf, size_t cap);

#endif
