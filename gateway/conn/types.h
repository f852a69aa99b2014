/* types: the plain data of a worker — connection references, connection
 * objects and reuse decision reasons — shared by the gateway's logic files.
 *
 * Owns nothing by itself; each struct says who owns its members. Holds no
 * logic beyond trivial inline accessors. */
#ifndef REUSEGW_TYPES_H
#define REUSEGW_TYPES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "sip/framing.h"
#include "core/timer.h"

struct cfg_hostport;
struct cfg_snapshot;
struct tls_conn;
struct tls_identities;

/* conn_ref names a connection without pointing at it: |slot| is its index
 * + 1 (0 means "none") and |gen| the generation it had when the reference
 * was taken. A closed and reused slot has a new generation, so stale refs
 * resolve to NULL instead of to a stranger's socket. */
struct conn_ref {
    uint32_t slot;
    uint32_t gen;
};

static inline bool conn_ref_eq(struct conn_ref a, struct conn_ref b)
{
    return a.slot == b.slot && a.gen == b.gen;
}

/* worker_op is the kind of loop operation a completion tag belongs to. A tag
 * packs op (8 bits), slot (24 bits) and generation (32 bits), so a late
 * completion for a recycled slot is recognised by its generation. */
enum worker_op {
    OP_ACCEPT = 1, /* slot = listener index + 1 */
    OP_RECV,
    OP_SEND,
    OP_CONNECT,
    OP_CLOSE,
    OP_SIGNAL,
    OP_DNS,     /* c-ares socket polls (dns.h) */
    OP_ADMIN,   /* admin endpoint (admin.h) */
    OP_PROBE,   /* legacy reachability probe (admin_probe.h) */
    OP_HANDOFF, /* hand-off wake-ups (handoff.h); slot = enum handoff_wake */
};

/* handoff_wake says how an OP_HANDOFF completion came. */
enum handoff_wake {
    WAKE_EVENTFD,     /* the read armed on the worker's eventfd */
    WAKE_MSG_RING,    /* another worker's IORING_OP_MSG_RING */
    WAKE_MSG_REFUSED, /* our MSG_RING to worker |gen| was refused */
};

static inline uint64_t tag_make(enum worker_op op, uint32_t slot, uint32_t gen)
{
    return (uint64_t)op << 56 | (uint64_t)(slot & 0xffffffu) << 32 | gen;
}

static inline enum worker_op tag_op(uint64_t tag)
{
    return (enum worker_op)(tag >> 56);
}

static inline struct conn_ref tag_ref(uint64_t tag)
{
    return (struct conn_ref){.slot = (uint32_t)(tag >> 32) & 0xffffffu, .gen = (uint32_t)tag};
}

/* conn_kind follows DESIGN.md: T (tls in/out), mirror(T), E. */
enum conn_kind {
    CONN_TLS_IN,  /* a peer connected to tls.listen */
    CONN_TLS_OUT, /* reusegw dialled a peer */
    CONN_MIRROR,  /* reusegw -> legacy.forward_to, one per TLS connection */
    CONN_EGRESS,  /* legacy proxy -> legacy.listen */
};

enum conn_state {
    CONN_FREE,       /* slot unused */
    CONN_CONNECTING, /* TCP connect in flight */
    CONN_HANDSHAKE,  /* TLS handshake running */
    CONN_OPEN,       /* carrying SIP */
    CONN_CLOSING,    /* flushing its last bytes (close_notify), reads ignored */
    CONN_DEAD,       /* fd closed or closing; waiting for in-flight completions */
};

/* conn_key is the (address, port) a TLS connection is found by when routing:
 * the dialled target for outbound connections, the alias key for inbound
 * ones. Transport is always TLS. */
struct conn_key {
    uint8_t family; /* AF_INET or AF_INET6; 0: not indexed */
    uint16_t port;  /* host byte order */
    uint8_t addr[16];
};

/* conn is one socket and everything reusegw knows about it. Owned by the
 * worker's conn_table; buffers come from the worker's pools. */
struct conn {
    uint32_t gen;
    uint8_t kind;  /* enum conn_kind */
    uint8_t state; /* enum conn_state */
    bool recv_armed;
    bool send_inflight;
    bool op_inflight;  /* connect or close in flight */
    bool read_paused;  /* back-pressure: its recv was cancelled */
    bool peer_closed;  /* peer sent EOF or close_notify: no new transactions */
    bool fail_pending; /* a dial failed: answer what is held, then fail over */
    int fd;

    struct conn_ref partner; /* TLS <-> its mirror */
    struct sockaddr_storage peer;
    socklen_t peer_len;

    struct buf_block *in;     /* plaintext waiting for framing, or NULL */
    struct sip_framer framer; /* resumable scan state over |in| */
    struct buf_queue out;     /* bytes for the socket (TLS: ciphertext) */
    struct buf_queue hold;    /* length-prefixed plaintext messages held until
                                 the handshake finishes */
    struct tls_conn *tls;     /* TLS engine state, NULL on plain connections */

    struct timer timer; /* connect/handshake/idle deadline */
    uint64_t last_active_ms;

    /* Routing (TLS): the key it is indexed by, the domain it was dialled for,
     * and once verified the identities the peer's certificate proves. */
    struct conn_key key;
    uint32_t key_next;  /* next slot+1 in the same index bucket */
    uint32_t peer_next; /* next slot+1 in the same per-peer-IP bucket */
    bool peer_tracked;  /* counted against limits.max_connections_per_peer */
    char domain[256];
    struct tls_identities *ids;
    struct cfg_snapshot *route_cfg;     /* reference keeping |targets| alive */
    const struct cfg_hostport *targets; /* static-route targets in route_cfg */
    uint16_t n_targets;
    uint16_t target_index; /* which of them this connection dials */
    /* Egress in legacy.transparent mode: where the legacy proxy was going
     * before the kernel redirected it (family 0: not redirected). */
    struct conn_key original_dst;

    /* Back-pressure: connections whose reading waits for this one to drain. */
    uint32_t waiters;     /* head slot+1 of the waiting list */
    uint32_t waiter_next; /* next slot+1 while this one waits */
    struct conn_ref blocked_on;
    /* Limits and the connection log (conn_limits.h, conn_log.h). */
    bool handshake_counted;    /* holds one of limits.max_concurrent_handshakes */
    uint64_t opened_ms;        /* accepted or dialled at */
    uint64_t partial_since_ms; /* 0, or when its unfinished message began */
    uint64_t send_progress_ms; /* when its send in flight was handed over */
    const char *close_why;     /* static text; NULL while it is not closing */
};

/* reuse_reason says why one RFC 5923 reuse decision went the way it did.
 * Routing a request towards a peer: REUSED (an indexed connection proves
 * the domain), NO_ROW (nothing indexed at the resolved address: dial),
 * IDENTITY_MISMATCH (a connection is there but its certificate does not
 * prove the domain: dial, R-5923-11/-20/-27), CONNECTION_GONE (the
 * connection the request was bound to, or the only one at the address, can
 * take no new transaction: dial or 503, R-5923-12/-13/-16/-23). An inbound
 * `;alias`: CERTLESS (no verified certificate identity, R-5923-25),
 * ALIASING_OFF (reuse.accept_alias is false, R-5923-15), ROW_REPLACED (a
 * newer connection took the alias of an older one). The order is the export
 * order of reusegw_reuse_decisions_total. */
enum reuse_reason {
    REUSE_REUSED,
    REUSE_NO_ROW,
    REUSE_IDENTITY_MISMATCH,
    REUSE_CERTLESS,
    REUSE_ALIASING_OFF,
    REUSE_ROW_REPLACED,
    REUSE_CONNECTION_GONE,
    REUSE_REASONS
};

/* reuse_reason_name is the label value of |r| ("reused", "no_row"...). */
static inline const char *reuse_reason_name(enum reuse_reason r)
{
    static const char *const names[REUSE_REASONS] = {
        "reused",       "no_row",       "identity_mismatch", "certless",
        "aliasing_off", "row_replaced", "connection_gone",
    };
    return names[r];
}

#endif
