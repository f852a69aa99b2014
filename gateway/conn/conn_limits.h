/* conn_limits: the abuse limits that are not a table size — inbound handshakes
 * (how many at once, how many a second), slow senders (message_timeout) and
 * slow readers (send_timeout) — and the one counter family every limit hit
 * lands in, reusegw_limit_hits_total{limit}.
 *
 * Owns the handshake token bucket and the in-handshake count (struct
 * limits_state, embedded in the conn_layer). Borrows the layer, its
 * configuration snapshot and the connections it judges. Never closes a
 * connection itself: it says which limit a connection broke and the caller
 * closes it. */
#ifndef REUSEGW_CONN_LIMITS_H
#define REUSEGW_CONN_LIMITS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conn/conn-t.h"
#include "core/metrics.h"

struct conn;
struct conn_layer;
struct metrics;
struct token_bucket;

/* limit names one configured limit; the order is the export order of
 * reusegw_limit_hits_total (M_LIMIT_FIRST + limit). */
enum limit {
    LIMIT_MAX_CONNECTIONS,
    LIMIT_MAX_CONNECTIONS_PER_PEER,
    LIMIT_MAX_CONCURRENT_HANDSHAKES,
    LIMIT_HANDSHAKE_RATE,
    LIMIT_MAX_MESSAGE_BYTES,
    LIMIT_MAX_PENDING_TRANSACTIONS,
    LIMIT_MAX_BUFFERED_BYTES,
    LIMIT_MESSAGE_TIMEOUT,
    LIMIT_SEND_TIMEOUT,
    LIMIT_FDS, /* not a key: the descriptor reserve under RLIMIT_NOFILE (conn_fds.h) */
    LIMITS_COUNT
};

/* token_bucket_take refills |tb| for the time since its last use at |rate|
 * tokens a second (capacity |rate|) and takes one token; false when none
 * is left. */
bool token_bucket_take(struct token_bucket *tb, uint32_t rate, uint64_t now_ms);

/* limits_hit counts one hit of |l| in |m|. Callers log it themselves,
 * rate-limited, with what they know about the hit. */
static inline void limits_hit(struct metrics *m, enum limit l)
{
    metrics_inc(m, (enum metric_id)(M_LIMIT_FIRST + l));
}

/* limits_admit_handshake decides whether an inbound TLS connection from
 * |peer| may start its handshake now (limits.max_concurrent_handshakes and
 * limits.handshake_rate). On true, the caller owns one in-handshake unit
 * that limits_handshake_over gives back. On false the hit is counted and
 * logged (rate-limited) and the caller closes the socket. */
bool limits_admit_handshake(struct conn_layer *cl, const struct sockaddr_storage *peer);

/* limits_handshake_started marks |c| as holding the unit admitted above. */
void limits_handshake_started(struct conn_layer *cl, struct conn *c);

/* limits_handshake_over gives back |c|'s in-handshake unit, if it holds
 * one: its handshake finished, failed or the connection closed. Safe to
 * call more than once. */
void limits_handshake_over(struct conn_layer *cl, struct conn *c);

/* limits_note_received records that an open connection received bytes: a
 * message is now (or still) in progress on it. */
void limits_note_received(struct conn_layer *cl, struct conn *c);

/* limits_note_framed records that a whole message (or a keepalive) was
 * framed on |c|; |tail_left| says whether the bytes after it already begin
 * the next one. */
void limits_note_framed(struct conn_layer *cl, struct conn *c, bool tail_left);

/* limits_note_send_started records that |c| handed a send to the loop:
 * the previous one completed, or the queue was empty until now. */
void limits_note_send_started(struct conn_layer *cl, struct conn *c);

/* limits_broken returns the limit (LIMIT_MESSAGE_TIMEOUT or
 * LIMIT_SEND_TIMEOUT) open connection |c| has broken now (cl->timers->now_ms), counted
 * and logged, or LIMITS_COUNT when none. */
enum limit limits_broken(struct conn_layer *cl, struct conn *c);

/* limits_deadline is the earliest moment |c| may break a timeout limit,
 * or UINT64_MAX when nothing on it is waiting. */
uint64_t limits_deadline(struct conn_layer *cl, struct conn *c);

/* limit_name is the configuration key of |l| without "limits." (the label
 * value of reusegw_limit_hits_total), "fds" for LIMIT_FDS. */
const char *limit_name(enum limit l);

#endif
