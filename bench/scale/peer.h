/* bench/scale/peer.h: the SIP side of one bench connection: formats
 * pipelined OPTIONS requests, frames the bytes received, answers each
 * request with 200 OK and matches each response to the request it answers.
 * Owns its receive and send buffers and its window (allocated once by
 * peer_init); borrows the meter it counts into; never touches a socket or
 * TLS: the caller moves bytes in and out. */
#ifndef REUSEGW_BENCH_SCALE_PEER_H
#define REUSEGW_BENCH_SCALE_PEER_H

#include <stddef.h>
#include <stdint.h>

#include "meter.h"
#include "sip/framing.h"
#include "window.h"

/* Receive buffer size; also the largest message accepted. */
#define PEER_IN_CAP 65536
/* Room kept free in the send buffer for one more response or request. */
#define PEER_MSG_ROOM 2048

/* How this connection's requests identify their sender. */
struct peer_form {
    const char *transport; /* Via transport: "TLS" or "TCP" */
    char sent_by[96];      /* Via sent-by, host:port */
    bool alias;            /* append ;alias to the Via (RFC 5923) */
};

/* One connection's SIP state. Requests carry the branch
 * z9hG4bK-<id>-<seq>: a response is ours only with our id and a sequence
 * number in flight. */
struct peer {
    unsigned id;
    struct peer_form form;
    struct sip_framer framer;
    char *in;
    size_t in_len;
    char *out;
    size_t out_len, out_cap;
    struct window window;
    struct meter *meter; /* borrowed */
};

/* What peer_consume stopped on. */
enum peer_status {
    PEER_DRAINED,  /* every complete message was handled */
    PEER_OUT_FULL, /* the send buffer is full: send, then call again */
    PEER_BROKEN,   /* unframeable or unparsable bytes: close the connection */
};

/* Sets up a peer with a window of `window` requests (>= 1) and buffers
 * sized for it; form copied, meter borrowed. False when out of memory. */
bool peer_init(struct peer *p, unsigned id, unsigned window, const struct peer_form *form,
               struct meter *meter);

/* Frees the buffers and the window. */
void peer_free(struct peer *p);

/* Where the caller appends received bytes, and how many fit. */
static inline char *peer_in_tail(struct peer *p)
{
    return p->in + p->in_len;
}
static inline size_t peer_in_room(const struct peer *p)
{
    return PEER_IN_CAP - p->in_len;
}

/* Handles the complete messages received so far (now_ns: their arrival
 * time); requests are answered into the send buffer. */
enum peer_status peer_consume(struct peer *p, uint64_t now_ns);

/* True when a request can be queued: window room and send buffer room. */
bool peer_can_request(const struct peer *p);

/* Queues an OPTIONS request for sip:<target> (borrowed) sent at now_ns.
 * Only after peer_can_request returned true. */
void peer_queue_request(struct peer *p, const char *target, uint64_t now_ns);

/* Drops the first n bytes of the send buffer, which the caller has sent. */
void peer_sent(struct peer *p, size_t n);

/* Counts the requests still in flight as lost (the run is over). */
void peer_count_lost(struct peer *p);

#endif
