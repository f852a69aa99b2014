/* timer: binary min-heap keyed by deadline; positions are stored in the
 * timers so disarm and re-arm are O(log n) without searching. */
#include "core/timer.h"

#include <stdlib.h>
#include <time.h>

static void place(struct timer_heap *heap, uint32_t pos, struct timer *t)
{
    heap->items[pos] = t;
    t->slot = pos + 1;
}

static void sift_up(struct timer_heap *heap, uint32_t pos)
{
    struct timer *t = heap->items[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (heap->items[parent]->deadline_ms <= t->deadline_ms)
            break;
        place(heap, pos, heap->items[parent]);
        pos = parent;
    }
    place(heap, pos, t);
}

static void sift_down(struct timer_heap *heap, uint32_t pos)
{
    struct timer *t = heap->items[pos];
    for (;;) {
        uint32_t child = 2 * pos + 1;
        if (child >= heap->count)
            break;
        if (child + 1 < heap->count &&
            heap->items[child + 1]->deadline_ms < heap->items[child]->deadline_ms)
            child++;
        if (heap->items[child]->deadline_ms >= t->deadline_ms)
            break;
        place(heap, pos, heap->items[child]);
        pos = child;
    }
    place(heap, pos, t);
}

bool timer_heap_init(struct timer_heap *heap, uint32_t capacity)
{
    heap->items = calloc(capacity ? capacity : 1, sizeof(*heap->items));
    heap->count = 0;
    heap->capacity = capacity;
    heap->now_ms = timer_now_ms();
    return heap->items != NULL;
}

void timer_heap_free(struct timer_heap *heap)
{
    free(heap->items);
    heap->items = NULL;
    heap->count = heap->capacity = 0;
}

bool timer_arm(struct timer_heap *heap, struct timer *timer, uint64_t deadline_ms)
{
    if (timer->slot) {
        uint64_t old = timer->deadline_ms;
        timer->deadline_ms = deadline_ms;
        if (deadline_ms < old)
            sift_up(heap, timer->slot - 1);
        else
            sift_down(heap, timer->slot - 1);
        return true;
    }
    if (heap->count == heap->capacity)
        return false;
    timer->deadline_ms = deadline_ms;
    heap->items[heap->count] = timer;
    timer->slot = heap->count + 1;
    heap->count++;
    sift_up(heap, heap->count - 1);
    return true;
}

void timer_disarm(struct timer_heap *heap, struct timer *timer)
{
    if (!timer->slot)
        return;
    uint32_t pos = timer->slot - 1;
    timer->slot = 0;
    heap->count--;
    if (pos == heap->count)
        return;
    struct timer *last = heap->items[heap->count];
    place(heap, pos, last);
    if (pos > 0 && heap->items[(pos - 1) / 2]->deadline_ms > last->deadline_ms)
        sift_up(heap, pos);
    else
        sift_down(heap, pos);
}

int64_t timer_next_ms(const struct timer_heap *heap, uint64_t now_ms)
{
    if (heap->count == 0)
        return -1;
    uint64_t first = heap->items[0]->deadline_ms;
    return first <= now_ms ? 0 : (int64_t)(first - now_ms);
}

unsigned timer_run(struct timer_heap *heap, uint64_t now_ms)
{
    unsigned fired = 0;
    while (heap->count > 0 && heap->items[0]->deadline_ms <= now_ms) {
        struct timer *t = heap->items[0];
        timer_disarm(heap, t);
        t->fire(t->ctx, t);
        fired++;
    }
    return fired;
}

uint64_t timer_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
