/* handoff: the channels between N workers — one handoff_ring per ordered
 * pair of workers for SIP messages, and per worker an inbox with its
 * wake-up eventfd and control mailbox (stop, new configuration).
 *
 * Owns the rings, the eventfds and whatever control payload is waiting in
 * a mailbox. Borrows nothing. Never interprets a record: handoff_msg is the
 * header the relay writes and reads. Never wakes a consumer that is already
 * due to wake; how a wake-up travels (IORING_OP_MSG_RING or the eventfd) is
 * the worker's choice (its wake callback, struct relay_layer). */
#ifndef REUSEGW_HANDOFF_H
#define REUSEGW_HANDOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relay/relay-t.h"

struct handoff_mesh;

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
 * |to| (relay_layer.wake). False when the ring is full: nothing was queued. */
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
