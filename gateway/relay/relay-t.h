/* relay-t: the plain data of the relay layer — pending client transactions,
 * the hand-off record header between workers, the parsed view of a message,
 * where a routed request goes, and the layer's context (struct
 * relay_layer).
 *
 * Owns nothing by itself; each struct says who owns its members. Holds no
 * logic. */
#ifndef REUSEGW_RELAY_T_H
#define REUSEGW_RELAY_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "config/config.h"
#include "conn/conn-t.h"
#include "conn/peer_index.h"
#include "core/buf.h"
#include "core/timer.h"
#include "sip/message.h"
#include "sip/via.h"

struct cfg_snapshot;
struct conn_layer;
struct dns_routes;
struct handoff_mesh;
struct metrics;
struct peer_index;

/* The longest answer basis (parsed_basis), so that its answer (with the
 * status line, a Warning and a To tag) fits answer_send's 8 KiB. */
#define RELAY_BASIS_MAX 6144
#define PENDING_BRANCH_MAX 128 /* longer branches are refused (answered 400 upstream) */
#define PENDING_VIA_MAX 512    /* longest original via-parm kept for restore */
#define PENDING_KEPT_BLOCK 256 /* bytes of one block of pending_table.kept_pool */

/* RFC 3261 timers, milliseconds. */
#define PENDING_T1_MS 500u
#define PENDING_LINGER_MS (64u * PENDING_T1_MS)     /* after an INVITE's 2xx */
#define PENDING_NON2XX_LINGER_MS 5000u              /* T4: after an INVITE's non-2xx */
#define PENDING_NON_INVITE_MS (64u * PENDING_T1_MS) /* Timer F: no final answer */
#define PENDING_INVITE_MS (180u * 1000u)            /* Timer C (§16.6 step 11) */
/* Server transactions over UDP (legacy.transport udp): what absorbs the
 * legacy proxy's retransmissions lingers after the final response, 64*T1
 * both for a non-INVITE (Timer J) and an INVITE (Timer H, then I). */
#define PENDING_UDP_LINGER_MS (64u * PENDING_T1_MS)

/* A CANCEL shares its INVITE's branch, so the method class is part of the
 * key; ACK never gets an entry (it has no response). */
enum pending_method { PENDING_INVITE, PENDING_CANCEL, PENDING_OTHER };

/* pending is one client transaction. Its key comes first (one cache line
 * for a lookup that matched its hash, pending_table.chain); the arrays read
 * only by length or as strings come last, and a new entry zeroes what is
 * before them. */
struct pending {
    uint8_t method; /* enum pending_method */
    uint8_t branch_len;
    bool in_use;
    bool final_seen;
    char branch[PENDING_BRANCH_MAX];
    struct conn_ref legacy; /* where responses go (E or mirror) */
    struct conn_ref tls;    /* where the request went */
    /* The workers owning |legacy| and |tls| (worker/worker.h): with several
     * workers either may be another's. An entry whose |legacy_worker| is
     * not its table's worker only forwards responses there (relay/handoff.h). */
    uint8_t legacy_worker;
    uint8_t tls_worker;
    uint8_t tls_kind;       /* enum conn_kind of |tls| */
    uint8_t ours;           /* the identity of ours it went out as (conn.ours) */
    struct conn_key target; /* the resolved address it went to */
    struct timer timer;
    /* The request came over UDP: |reply| is where its responses go (RFC
     * 3261 18.2.2 and RFC 3581, relay/udp_legacy.h), |last| the last
     * response sent there, for the proxy's retransmissions. */
    bool unreliable;
    bool acked; /* INVITE over UDP: the ACK of its non-2xx final crossed once */
    union {
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } reply;
    struct buf_queue last;
    /* While its request rides this worker's connection |tls|: the links of
     * that connection's list (entry index+1; relay/ended.h), where the
     * request ends in the connection's out stream (conn_out_mark), and
     * what answers or re-routes it when the connection dies: |kept| holds
     * the request itself (|copy_len| bytes, until it is known to have
     * left) then its compact head (request line, Via, From, To, Call-ID,
     * CSeq), in the table's |kept_pool|. */
    uint32_t on_prev;
    uint32_t on_next;
    uint32_t on_slot; /* the connection's slot+1; 0: on no list */
    uint32_t copy_len;
    uint64_t mark;
    struct buf_queue kept;
    uint8_t ended; /* enum conn_end + 1 when reusegw answered it for a dead connection */
    /* Timer F, the same span for every non-INVITE, expires in arrival
     * order: such an entry is on its table's |fifo| (links index+1), its
     * deadline in |timer|.deadline_ms, |timer| itself unarmed. */
    bool in_fifo;
    uint32_t fifo_prev;
    uint32_t fifo_next;
    uint16_t via_len;
    char domain[256]; /* the domain it was routed for ("" for a handed request) */
    char via[PENDING_VIA_MAX];
};

/* pending_chain is an entry's link in its hash chain, apart from the entry
 * so that walking a chain reads 8 bytes per entry, not the entry. */
struct pending_chain {
    uint32_t next; /* index+1 of the next entry in its bucket / free list */
    uint32_t hash; /* of (branch, method) */
};

struct pending_table {
    struct pending *entries;
    uint32_t capacity;
    uint32_t used;
    uint32_t open; /* entries still waiting for a final response */
    uint32_t high;
    uint32_t free_head;
    /* Linear hashing (pending.c): |buckets| has room for |bucket_max|
     * heads, of which the first |bucket_mask| + 1 + |split| are in use; the
     * table grows one bucket per insert while it holds more entries than
     * buckets in use, so the heads in use stay as few as the entries (cache
     * resident), not as many as |capacity| could need. */
    uint32_t *buckets;
    struct pending_chain *chain; /* one per entry */
    uint32_t bucket_mask;
    uint32_t split;
    uint32_t bucket_max;
    struct timer_heap *timers;
    /* The entries waiting for Timer F, oldest first (index+1), and the one
     * heap timer that expires them, armed no later than the oldest's
     * deadline: two heap operations per transaction saved, each touching
     * log2(entries) other entries. */
    uint32_t fifo_head;
    uint32_t fifo_tail;
    struct timer fifo_timer;
    struct metrics *metrics; /* its timer's removals: M_TIMEOUT_TRANSACTION */
    struct buf_pool *keep;   /* borrowed: where |last| responses come from; NULL: none */
    /* Owned: the head entry (index+1) of each connection slot's list, and
     * the blocks entries keep their requests in (pending.kept). */
    uint32_t *on_conn;
    uint32_t conn_slots;
    struct buf_pool kept_pool;
};

/* handoff_kind is what a record carries. */
enum handoff_kind {
    HANDOFF_REQUEST = 1, /* a request to send on the consumer's TLS connection */
    HANDOFF_RESPONSE,    /* a response for the consumer's legacy connection */
    HANDOFF_UNALIAS,     /* a newer alias elsewhere replaced the alias of |tls| */
    HANDOFF_REROUTE,     /* a REQUEST back: its connection closed before it got there */
};

/* handoff_msg heads every record; |len| message bytes follow it. */
struct handoff_msg {
    uint8_t kind;   /* enum handoff_kind */
    uint8_t from;   /* producing worker */
    uint8_t method; /* REQUEST, REROUTE: enum pending_method of the request */
    bool is_ack;    /* REQUEST: an ACK (no transaction, no answer) */
    bool open;      /* RESPONSE: |tls| was open when the response arrived */
    uint8_t tls_kind;
    uint8_t branch_len;
    uint32_t len;
    struct conn_ref tls;    /* T on the worker that owns it */
    struct conn_ref legacy; /* E or mirror on the worker that owns it */
    struct conn_key target; /* RESPONSE, UNALIAS: the key T is indexed by */
    char branch[PENDING_BRANCH_MAX];
    /* REQUEST: the domain it was routed for; its owner records the reuse
     * decision once it knows the connection can take the request. */
    char domain[256];
};

enum { RELAY_MAX_HEADERS = 256, RELAY_ESTABLISHED_WAYS = 256 };

/* parsed is the view of one message every flow works on: its bytes
 * (borrowed), the parse indexing them and its top Via. Built in one place,
 * relay/parsed.c; bounded, so it lives on the stack. */
struct parsed {
    const char *buf;
    size_t len;
    struct sip_msg msg;
    struct sip_via via;
    struct sip_header headers[RELAY_MAX_HEADERS];
};

/* dest is where a routed request goes: a connection of this worker, or
 * (with several workers) one another worker owns, as the peer index
 * described it. */
struct dest {
    struct conn *local;
    struct peer_hit remote; /* when |local| is NULL */
    uint8_t ours;           /* the identity of ours the request takes (conn.ours) */
};

/* relay_layer is one worker's relay: its pending transactions, DNS
 * routing and the cached text forms of its addresses, and what it borrows
 * to move messages between connections. Embedded in the worker; set up by
 * relay_layer_init (relay/relay.h). */
struct relay_layer {
    struct pending_table pending;
    /* The peers' requests on their way to the legacy proxy over a mirror,
     * until its final response (relay/ended.h): only |tls| (the peer's
     * connection), its mirror's list and the kept head are used. */
    struct pending_table served;
    struct dns_routes *dns; /* resolver and requests waiting on it */
    /* Text forms of configured addresses, formatted once per snapshot so
     * the per-message path never formats: the sent_by of every identity
     * of ours (index conn.ours: identity.sent_by, then identities[]), then
     * legacy.forward_to and legacy.listen. */
    char sent_by[CFG_MAX_IDENTITIES + 1][300];
    size_t sent_by_len[CFG_MAX_IDENTITIES + 1];
    char legacy_names[2][300];
    size_t legacy_name_lens[2];
    /* legacy.transport udp: legacy.forward_to as a socket address, and the
     * sent-by of reusegw's own Via (this worker's forward socket), made on
     * first use. */
    struct sockaddr_storage udp_to;
    socklen_t udp_to_len;
    char udp_sent_by[64];
    size_t udp_sent_by_len;
    /* A request routed again (it came back from another worker, or never
     * left a dying connection), restored to the legacy proxy's bytes
     * (conn->scratch_size); |local_only| while it is routed again, so that
     * it goes no further than this worker. */
    char *reroute;
    bool local_only;
    /* Borrowed: the connection layer (and the scratch buffer it lends for
     * rewrites), the worker's registry, timers and current snapshot. */
    struct conn_layer *conn;
    struct metrics *metrics;
    struct timer_heap *timers;
    struct cfg_snapshot *cfg;
    /* With several workers (|mesh| NULL with one): this worker's id, the
     * shared peer index, the hand-off channels, and how to wake worker |to|
     * after posting to it. */
    unsigned id;
    struct peer_index *index;
    struct handoff_mesh *mesh;
    void *wake_ctx;
    void (*wake)(void *wake_ctx, unsigned to);
    /* Connections handed requests found established, and the loop time
     * the kernel was asked (relay/handed.c still_established): one entry
     * per slot modulo RELAY_ESTABLISHED_WAYS, so that a batch spread over
     * many connections asks once per connection, not once per request. */
    struct relay_established {
        struct conn_ref ref;
        uint64_t ms;
    } established[RELAY_ESTABLISHED_WAYS];
    /* What an answer copies from a request whose header section cannot be
     * indexed whole (parsed_basis): apart from the scratch buffer, which
     * may hold that very request. */
    char basis[RELAY_BASIS_MAX];
};

#endif
