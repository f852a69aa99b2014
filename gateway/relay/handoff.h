/* handoff: the channels between N workers — one handoff_ring per ordered
 * pair of workers for SIP messages, and per worker an inbox with its
 * wake-up eventfd and control mailbox (stop, new configuration).
 *
 * Owns the rings, the eventfds and whatever control payload is waiting in
 * a mailbox. Borrows nothing. Never interprets a record: handoff_msg is the
 * header the relay writes and reads. Never wakes a consumer that is already
 * due to wake; how a wake-up travels (IORING_OP_MSG_RING or the eventfd) is
 * the worker's choice (worker_wake). */
#ifndef REUSEGW_HANDOFF_H
#define REUSEGW_HANDOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/pending.h"
#include "conn/types.h"

struct handoff_mesh;

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

/* handoff_mesh_new creates the channels of |n| workers (2..255), each ring
 * |ring_bytes| big (see handoff_ring_init). NULL when out of memory or
 * eventfds. Release with handoff_mesh_free once no worker runs. */
struct handoff_mesh *handoff_mesh_new(unsigned n, size_t ring_bytes);

/* handoff_mesh_free closes and releases everything; |free_control| is
 * called on a reload payload still waiting in a mailbox. */
void handoff_mesh_free(struct handoff_mesh *m, void (*free_control)(void *payload));

/* handoff_eventfd is worker |to|'s wake-up eventfd: it arms a read on it
 * and calls handoff_woken when that read completes. */
int handoff_eventfd(const struct handoff_mesh *m, unsigned to);

/* handoff_claim_wake is true when the caller must wake |to| (and is now
 * the one to do it); false when a wake-up is already on its way. */
bool handoff_claim_wake(struct handoff_mesh *m, unsigned to);

/* handoff_wake_eventfd wakes |to| through its eventfd (after a claim). */
void handoff_wake_eventfd(struct handoff_mesh *m, unsigned to);

/* handoff_post (producer |from|) copies |msg| (its |len| set) and the
 * |msg|->len bytes of |bytes| into the ring to |to|; the caller then wakes
 * |to| (worker_wake). False when the ring is full: nothing was queued. */
bool handoff_post(struct handoff_mesh *m, unsigned from, unsigned to, const struct handoff_msg *msg,
                  const void *bytes);

/* handoff_woken (consumer |to|) re-opens |to| to wake-ups. Call it before
 * draining, so that a record posted during the drain wakes |to| again. */
void handoff_woken(struct handoff_mesh *m, unsigned to);

/* handoff_next (consumer |to|) returns the oldest record from |from| and
 * its bytes in |bytes|, or NULL. The record stays valid until
 * handoff_done(|m|, |from|, |to|). */
const struct handoff_msg *handoff_next(struct handoff_mesh *m, unsigned from, unsigned to,
                                       const char **bytes);

/* handoff_done (consumer |to|) frees the record handoff_next returned. */
void handoff_done(struct handoff_mesh *m, unsigned from, unsigned to);

/* handoff_request_stop asks worker |to| to drain and stop, and wakes it
 * (through the eventfd: control is rare and may come from any thread). */
void handoff_request_stop(struct handoff_mesh *m, unsigned to);

/* handoff_offer_reload leaves |payload| (takes ownership) in |to|'s
 * mailbox and wakes it; a payload |to| had not taken yet is returned to
 * the caller to release (NULL when none). */
void *handoff_offer_reload(struct handoff_mesh *m, unsigned to, void *payload);

/* handoff_take_control (consumer |to|) empties its mailbox: whether a stop
 * was asked, and the reload payload (ownership passes) or NULL. */
void *handoff_take_control(struct handoff_mesh *m, unsigned to, bool *stop);

#endif
