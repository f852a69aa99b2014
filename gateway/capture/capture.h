/* capture/ — HEPv3 copies of the SIP messages reusegw relays, for a
 * collector (Homer's heplify-server, sngrep -L). This header is the
 * folder's manual and the sender's interface:
 *   hep.h      the HEPv3 encoder (a pure function)
 *   call_id.h  the Call-ID of a raw message, for the correlation chunk
 *   capture.h  one worker's sender: a bounded queue and its own socket
 *
 * Sits above core/ and below conn/: the connection layer hands every SIP
 * message it frames or sends on a chosen leg to capture_message, which
 * encodes it at once into the worker's bounded queue and returns. The
 * queue leaves after the loop turn (capture_flush), on a non-blocking
 * socket: over UDP in batches of datagrams per sendmmsg within the flush,
 * over TCP as a stream whose completions come back tagged OP_CAPTURE (as do
 * its connect and the read that sees the collector close). Nothing waits for the
 * collector: when it is slow, down or the queue is full, the message is
 * dropped and counted in reusegw_capture_dropped_total{reason}. Over TCP a
 * broken stream is reconnected with backoff.
 *
 * Owns its socket, queue and timer. Borrows the worker's loop, timer heap
 * and registry for its life, and the configuration snapshot between
 * capture_install calls. Never names a connection, the relay or the worker. */
#ifndef REUSEGW_CAPTURE_H
#define REUSEGW_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "capture/hep.h"
#include "config/config.h"

struct capture;
struct loop;
struct loop_event;
struct metrics;
struct timer_heap;

/* CAPTURE_QUEUE_BYTES bounds the encoded packets one worker queues while
 * the previous batch is still on its way (and the batch itself again). */
#define CAPTURE_QUEUE_BYTES (512 * 1024)

/* capture_new makes a sender that captures nothing until capture_install
 * gives it a snapshot with capture.hep. Borrows |loop|, |timers| and
 * |metrics| for its life. NULL when out of memory. */
struct capture *capture_new(struct loop *loop, struct timer_heap *timers, struct metrics *metrics);

/* capture_install applies |cfg| (borrowed until the next call): a new
 * collector address or transport, or capture switched off, closes the
 * socket (what is queued stays for the new one); capture id, password,
 * node name and legs apply to the next message. */
void capture_install(struct capture *cap, const struct cfg_snapshot *cfg);

/* capture_wants is true when messages of |leg| (enum cfg_capture_leg) are
 * captured: callers skip the work of addressing a message otherwise. */
static inline bool capture_wants(const struct capture *cap, unsigned leg);

/* capture_message copies |msg| (|len| bytes, borrowed) as one HEP packet
 * from |src| to |dst| (AF_INET or AF_INET6, the same family) with
 * protocol |ip_proto| into the queue, or drops and counts it. Never
 * blocks, never does I/O. */
void capture_message(struct capture *cap, enum hep_ip_proto ip_proto, const struct sockaddr *src,
                     const struct sockaddr *dst, const char *msg, size_t len);

/* capture_flush starts sending what was queued, when nothing is in flight:
 * call it once per loop turn. */
void capture_flush(struct capture *cap);

/* capture_on_event handles a completion tagged OP_CAPTURE. */
void capture_on_event(struct capture *cap, const struct loop_event *ev);

/* capture_free closes the socket and frees |cap|; call it before the loop
 * is freed. NULL is ignored. */
void capture_free(struct capture *cap);

/* The part of struct capture capture_wants reads. */
struct capture_public {
    unsigned legs; /* enum cfg_capture_leg bits; 0 while capture is off */
};

static inline bool capture_wants(const struct capture *cap, unsigned leg)
{
    return cap && (((const struct capture_public *)(const void *)cap)->legs & leg);
}

#endif
