/* bench/scale/window.h: the requests one connection has in flight, by
 * sequence number, with their send times. Owns its slot array (allocated
 * once by window_init); borrows nothing; never grows, so the number of
 * outstanding requests per connection is bounded by its capacity. */
#ifndef REUSEGW_BENCH_SCALE_WINDOW_H
#define REUSEGW_BENCH_SCALE_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

/* One request in flight: seq_plus1 is 0 when the slot is free. */
struct window_slot {
    uint64_t seq_plus1;
    uint64_t sent_ns;
};

/* Slots indexed by seq % cap: sequence numbers are handed out in order and a
 * slot is reused only once its request completed. */
struct window {
    struct window_slot *slots;
    unsigned cap;
    unsigned outstanding;
    uint64_t next_seq;
};

/* Allocates cap (>= 1) slots; false when out of memory. */
bool window_init(struct window *w, unsigned cap);

/* Frees the slots. */
void window_free(struct window *w);

/* True when another request may be sent: the next sequence number's slot is
 * free (a slow answer to an old request holds its slot). */
bool window_has_room(const struct window *w);

/* Takes the next sequence number for a request sent at now_ns. Only after
 * window_has_room returned true. */
uint64_t window_open(struct window *w, uint64_t now_ns);

/* Completes seq at now_ns: true with *latency_ns when seq is in flight,
 * false for an unknown, finished or duplicate sequence number. */
bool window_close(struct window *w, uint64_t seq, uint64_t now_ns, uint64_t *latency_ns);

#endif
