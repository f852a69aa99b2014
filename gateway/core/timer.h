/* timer: a bounded binary min-heap of deadlines, the one source of timeouts
 * for a worker (connection idle/handshake timers, transaction expiry).
 *
 * Owns only the heap array. Borrows every timer, which lives inside the
 * object it times (intrusive), so arming never allocates. Reads the clock
 * only in timer_now_ms: every other call takes "now" (milliseconds of
 * CLOCK_MONOTONIC) from the caller, once per loop turn, and the loop's
 * runner leaves that reading in the heap (|now_ms|) as the one clock every
 * layer of its thread reads. */
#ifndef REUSEGW_TIMER_H
#define REUSEGW_TIMER_H

#include <stdbool.h>
#include <stdint.h>

/* timer is embedded in its owner; |fire| is called once with |ctx| when it
 * expires. Zero-initialised means disarmed. */
struct timer {
    uint64_t deadline_ms;
    uint32_t slot; /* heap position + 1; 0 when disarmed */
    void (*fire)(void *ctx, struct timer *timer);
    void *ctx;
};

/* timer_heap holds at most |capacity| armed timers. |now_ms| is the time
 * of the current loop turn, set by the thread running the loop before it
 * dispatches; every layer sharing the heap reads "now" there. */
struct timer_heap {
    struct timer **items;
    uint32_t count;
    uint32_t capacity;
    uint64_t now_ms;
};

/* timer_heap_init allocates room for |capacity| timers; returns false when
 * out of memory. Release with timer_heap_free. */
bool timer_heap_init(struct timer_heap *heap, uint32_t capacity);

/* timer_heap_free releases the array; the timers themselves are borrowed. */
void timer_heap_free(struct timer_heap *heap);

/* timer_arm (re)schedules |timer| for |deadline_ms|. Returns false when the
 * heap is full and the timer was not armed already. */
bool timer_arm(struct timer_heap *heap, struct timer *timer, uint64_t deadline_ms);

/* timer_disarm cancels |timer| if armed. */
void timer_disarm(struct timer_heap *heap, struct timer *timer);

/* timer_armed tells whether |timer| is scheduled. */
static inline bool timer_armed(const struct timer *timer)
{
    return timer->slot != 0;
}

/* timer_next_ms returns how long to sleep until the earliest deadline (0 when
 * one is due), or -1 when nothing is armed. */
int64_t timer_next_ms(const struct timer_heap *heap, uint64_t now_ms);

/* timer_run disarms and fires, in deadline order, every timer due at
 * |now_ms|; a fire callback may re-arm or disarm any timer. Returns the
 * number fired. */
unsigned timer_run(struct timer_heap *heap, uint64_t now_ms);

/* timer_now_ms reads CLOCK_MONOTONIC in milliseconds. */
uint64_t timer_now_ms(void);

#endif
