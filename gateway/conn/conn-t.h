/* conn-t: the plain data of the connection layer — connection references,
 * connection objects, the table and its index, the handshake limits' state,
 * the reuse decision reasons the index answers with, the callback set the
 * layer above registers, and the layer's context (struct conn_layer).
 *
 * Owns nothing by itself; each struct says who owns its members. Holds no
 * logic beyond trivial inline accessors. */
#ifndef REUSEGW_CONN_T_H
#define REUSEGW_CONN_T_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/tag.h"
#include "core/timer.h"
#include "sip/error.h"
#include "sip/framing.h"

struct capture;
struct cfg_hostport;
struct cfg_snapshot;
struct loop;
struct metrics;
struct peer_index;
struct tls_conn;
struct tls_ctx;
struct tls_identities;
struct tls_session_cache;

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

/* tag_ref is the connection a completion tag of a connection's operation
 * (OP_RECV, OP_SEND, OP_CONNECT, OP_CLOSE) names. */
static inline struct conn_ref tag_ref(uint64_t tag)
{
    return (struct conn_ref){.slot = tag_slot(tag), .gen = tag_gen(tag)};
}

/* conn_kind follows docs/design.md: T (tls in/out), mirror(T), E. */
enum {
    CONN_SEALED_MAX = 4,  /* records one flush seals at most (conn->sealed) */
    CONN_DEFER_MAX = 256, /* connections one turn may defer flushing */
};

enum conn_kind {
    CONN_TLS_IN,  /* a peer connected to tls.listen */
    CONN_TLS_OUT, /* reusegw dialled a peer */
    CONN_MIRROR,  /* reusegw -> legacy.forward_to, one per TLS connection */
    CONN_EGRESS,  /* legacy proxy -> legacy.listen */
    CONN_UDP,     /* a datagram socket of the legacy side (conn/conn_udp.h):
                     mirror of every TLS connection and E at once */
};

enum conn_state {
    CONN_FREE,       /* slot unused */
    CONN_CONNECTING, /* TCP connect in flight */
    CONN_HANDSHAKE,  /* TLS handshake running */
    CONN_OPEN,       /* carrying SIP */
    CONN_CLOSING,    /* flushing its last bytes (close_notify), reads ignored */
    CONN_DEAD,       /* fd closed or closing; waiting for in-flight completions */
};

/* conn_end says why a connection stopped carrying (conn_events.ended). */
enum conn_end {
    CONN_END_LOCAL,       /* reusegw closed it: idle, reload, revocation, shutdown,
                             a framing or TLS error, buffers exhausted */
    CONN_END_PEER_CLOSED, /* the peer sent FIN or close_notify */
    CONN_END_PEER_RESET,  /* a reset, or a receive or send error */
    CONN_END_TIMEOUT,     /* a limit timer: the peer stopped reading, or finishing a message */
    CONN_ENDS
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
 * conn_layer's table; buffers come from its pools. */
struct conn {
    uint32_t gen;
    uint8_t kind;  /* enum conn_kind */
    uint8_t state; /* enum conn_state */
    /* Which identity of ours it carries (TLS) or its requests take (egress
     * on an identity's legacy_listen): an index of the worker's TLS
     * context, 0 the default; kept in step on reload. */
    uint8_t ours;
    bool recv_armed;
    bool send_inflight;
    bool op_inflight;  /* connect or close in flight */
    bool read_paused;  /* back-pressure: its recv was cancelled */
    bool peer_closed;  /* no new transactions: the peer sent EOF or close_notify,
                          or a reload removed our identity it carries */
    bool fail_pending; /* a dial failed: answer what is held, then fail over */
    /* PROXY protocol (conn/conn_proxy.h), inbound TLS only: |proxy_wait|
     * while a trusted balancer's header has not come (|peer| is still the
     * balancer; |in| keeps the part received), |proxy_sniff| until the
     * first bytes of an untrusted source showed they are not a header. */
    bool proxy_wait;
    bool proxy_sniff;
    int fd;

    struct conn_ref partner; /* TLS <-> its mirror */
    /* The other end. UDP: where conn_send sends, the source of the
     * datagram being handed up (the relay may point it at the RFC 3261
     * 18.2.2 reply address while it answers that datagram). */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    /* Our end of the socket, read on first need (capture); 0: not yet. */
    struct sockaddr_storage local;
    socklen_t local_len;

    struct buf_block *in;     /* plaintext waiting for framing, or NULL */
    struct sip_framer framer; /* resumable scan state over |in| */
    struct buf_queue out;     /* bytes for the socket (TLS: ciphertext) */
    struct buf_queue plain;   /* TLS: plaintext messages not yet encrypted;
                                 sealed at flush, one record per pool block */
    /* TLS: the records sealed from |plain| that may still be in |out|,
     * oldest first: where each ends in the plaintext stream (|plain|'s
     * consumed count) and in |out|'s; the plaintext before |plain_gone|
     * was in records the kernel took whole (conn_out_left). */
    struct conn_sealed {
        uint64_t plain_end, out_end;
    } sealed[CONN_SEALED_MAX];
    uint8_t n_sealed;
    uint64_t plain_gone;
    bool flush_deferred;   /* in conn_layer's |deferred| */
    struct buf_queue hold; /* length-prefixed plaintext messages held until
                              the handshake finishes */
    /* Back-pressure (conn_io.c): received bytes not yet taken (TLS:
     * ciphertext) while reading waits — what the loop had received before
     * the cancel of the read took effect; |resuming| once the wait ended,
     * until the timer has framed what waited; |pong_mark|: 0, or the
     * conn_out_mark of the last pong, pending until conn_out_left says it
     * left (one pending pong answers every ping). */
    struct buf_queue stash;
    bool resuming;
    uint64_t pong_mark;
    struct tls_conn *tls; /* TLS engine state, NULL on plain connections */

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
    /* Limits and the connection log (conn/conn_limits.h, conn/conn_log.h). */
    bool handshake_counted;    /* holds one of limits.max_concurrent_handshakes */
    uint64_t opened_ms;        /* accepted or dialled at */
    uint64_t partial_since_ms; /* 0, or when its unfinished message began */
    uint64_t send_progress_ms; /* when its send in flight was handed over */
    const char *close_why;     /* static text; NULL while it is not closing */
    uint8_t end;               /* enum conn_end, once it is closing */
    /* conn_out_mark (conn_io.h): where its held messages began in |out|
     * once it opened and released them, and the connection a failed dial
     * handed them to. */
    bool held_released;
    uint64_t held_start;
    struct conn_ref failed_over_to;
    /* CLOSE_LINGER (conn_io.h): reads are discarded while closing (1);
     * once the last byte is sent the write side is shut (2) and reading
     * goes on until the peer's EOF or a bound. |lingered|: bytes discarded. */
    uint8_t linger;
    uint32_t lingered;
    uint64_t retired_ms; /* 0, or when a reload removed its identity (conn_ours.h) */
    /* What /connections shows (admin/conn_board.h): SIP messages framed in
     * and queued out (keepalives aside), and bytes through its socket
     * (TLS: ciphertext; UDP: datagram payloads, all peers together). */
    uint64_t msgs_in, msgs_out;
    uint64_t bytes_in, bytes_out;
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
 * newer connection took the alias of an older one).
 * IDENTITY_OURS_MISMATCH: a connection there proves the domain but was
 * opened or accepted as another identity of ours, which it never carries
 * (RFC 5923 §9.3 applied to our side, R-5923-27: dial). The order is the export
 * order of reusegw_reuse_decisions_total. */
enum reuse_reason {
    REUSE_REUSED,
    REUSE_NO_ROW,
    REUSE_IDENTITY_MISMATCH,
    REUSE_CERTLESS,
    REUSE_ALIASING_OFF,
    REUSE_ROW_REPLACED,
    REUSE_CONNECTION_GONE,
    REUSE_IDENTITY_OURS_MISMATCH,
    REUSE_REASONS
};

/* reuse_reason_name is the label value of |r| ("reused", "no_row"...). */
static inline const char *reuse_reason_name(enum reuse_reason r)
{
    static const char *const names[REUSE_REASONS] = {
        "reused",       "no_row",       "identity_mismatch", "certless",
        "aliasing_off", "row_replaced", "connection_gone",   "identity_ours_mismatch",
    };
    return names[r];
}

/* conn_table holds up to |capacity| connections; slots are handed out from a
 * high-water mark and recycled through a free list, so untouched capacity
 * costs no memory pages (conn/conn.h). */
struct conn_table {
    struct conn *slots;
    uint32_t capacity;
    uint32_t used;          /* live connections */
    uint32_t high;          /* slots ever handed out */
    uint32_t free_head;     /* slot+1 of the first recycled slot */
    uint32_t *buckets;      /* index heads (slot+1) */
    uint32_t *peer_buckets; /* per-peer-IP heads (slot+1) */
    uint32_t bucket_mask;
    /* With several workers: the shared index every change of this table's
     * index is mirrored into (borrowed), and this worker's id there. */
    struct peer_index *shared;
    uint8_t worker_id;
};

/* token_bucket admits events at a rate with a burst equal to that rate. It
 * counts thousandths of a token so that rates below 1000/s refill smoothly
 * at millisecond resolution. Zero-initialised is full at first use. */
struct token_bucket {
    uint64_t milli; /* tokens left, in thousandths */
    uint64_t at_ms; /* when |milli| was last refilled */
    bool started;
};

/* limits_state is one worker's share of the handshake limits. */
struct limits_state {
    uint32_t handshaking; /* inbound TLS connections still in their handshake */
    struct token_bucket handshakes;
};

/* conn_fds is the descriptor reserve (conn/conn_fds.h): a new socket
 * numbered at or above |accept_floor| (accepted) or |dial_floor| (dialled)
 * is refused; |spare| is held open to give up when accept runs out. */
struct conn_fds {
    int spare; /* -1: none */
    int accept_floor;
    int dial_floor;
    int limit; /* RLIMIT_NOFILE's soft limit when the layer started */
};

/* conn_events is the one door from the connection layer up: the layer above
 * registers it (conn_layer_set_events) and the connection layer calls it,
 * never naming what is behind it. Each callback borrows what it is handed
 * for the call; it may close |c|. */
struct conn_events {
    void *ctx;
    /* message: one complete SIP message |msg| (|len| bytes) framed on |c|,
     * with the frame the framer returned for it (its header length, Via
     * and CSeq lines: what sip_peek reads), or replayed into it with |fr|
     * NULL (conn_deliver: a DNS answer came). */
    void (*message)(void *ctx, struct conn *c, const char *msg, size_t len,
                    const struct sip_frame *fr);
    /* framing_error: |c|'s stream cannot be framed for |err|; |buf| holds
     * its |len| unframed bytes (what can be answered is). |c| is closed
     * after the call, unless it is a UDP socket: then |buf| is the one
     * datagram that could not be framed, and |c| stays open. */
    void (*framing_error)(void *ctx, struct conn *c, const char *buf, size_t len, enum sip_err err);
    /* dial_failed: |c|, an outbound TLS connection with no failover target
     * left or a mirror, will not open; what it holds (conn_held_next) is
     * still there to answer with |why|. |c| is closed after the call. */
    void (*dial_failed)(void *ctx, struct conn *c, const char *why);
    /* ended: |c| stopped carrying for |cause|, called twice: when it starts
     * closing (nothing it receives is handed up any more) and when it is
     * dead (state CONN_DEAD), just before its out queue is dropped. A
     * message sent on it has reached the kernel when conn_out_left says so;
     * at the second call, one that has not never will. */
    void (*ended)(void *ctx, struct conn *c, enum conn_end cause);
};

/* conn_layer is one worker's connection layer: its table, pools and
 * handshake limits, and what it borrows to run them. Embedded in the
 * worker; set up and torn down by conn/conn_layer.h. */
struct conn_layer {
    struct conn_table conns;
    struct buf_pool out_pool; /* out and hold queues */
    struct buf_pool in_pool;  /* one framing block per busy connection */
    struct limits_state limits;
    struct conn_fds fds;
    struct tls_session_cache *tls_sessions; /* client sessions, so re-dials resume */
    /* Room for one message (limits.max_message_bytes plus slack for a
     * rewritten Via): a held message while it is released, and lent to the
     * layer above for the message it rewrites. */
    char *scratch;
    size_t scratch_size;
    /* Borrowed: the worker's loop, timers (and their clock, timers->now_ms)
     * and registry; its current configuration snapshot and TLS context,
     * swapped by conn_layer_install; how many workers share the
     * process-wide limits. */
    struct loop *loop;
    struct timer_heap *timers;
    struct metrics *metrics;
    struct cfg_snapshot *cfg;
    struct tls_ctx *tls_ctx;
    unsigned workers;
    struct capture *capture; /* the worker's HEP sender; NULL: none */
    /* legacy.transport udp: the datagram buffer (conn/conn_udp.c) and the
     * worker's forward and listen sockets. */
    char *dgram;
    struct conn_ref udp_forward;
    struct conn_ref udp_listen;
    struct conn_events up; /* registered by the layer above */
    /* What conn_send queues is flushed before the next loop turn
     * (conn_flush_deferred): the messages framed from one turn's receives
     * leave in one send per connection, not the first alone. */
    uint32_t n_deferred;
    struct conn_ref deferred[CONN_DEFER_MAX];
};

#endif
