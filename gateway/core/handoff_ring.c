/* handoff_ring: records are [uint32 length][uint32 flags][payload] padded
 * to HANDOFF_RING_ALIGN. A record never wraps: when it does not fit before
 * the end of the array, a skip marker fills the rest and the record starts
 * at offset 0. */
#include "core/handoff_ring.h"

#include <stdlib.h>
#include <string.h>

enum { MIN_CAPACITY = 4096 };

/* record_header precedes every payload. */
struct record_header {
    uint32_t len;  /* payload bytes */
    uint32_t skip; /* 1: filler up to the end of the array, no payload */
};

static size_t padded(size_t n)
{
    return (n + HANDOFF_RING_ALIGN - 1) & ~(size_t)(HANDOFF_RING_ALIGN - 1);
}

bool handoff_ring_init(struct handoff_ring *r, size_t capacity)
{
    size_t cap = MIN_CAPACITY;
    while (cap < capacity && cap < ((size_t)1 << 40))
        cap <<= 1;
    r->bytes = aligned_alloc(64, cap);
    if (!r->bytes)
        return false;
    r->capacity = cap;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return true;
}

void handoff_ring_free(struct handoff_ring *r)
{
    free(r->bytes);
    r->bytes = NULL;
    r->capacity = 0;
}

size_t handoff_ring_max_record(const struct handoff_ring *r)
{
    /* A record placed after a skip marker must still leave room for the
     * header of the next record, so half the ring is the safe bound. */
    return r->capacity / 2 - sizeof(struct record_header);
}

void *handoff_ring_reserve(struct handoff_ring *r, size_t len)
{
    if (len > handoff_ring_max_record(r))
        return NULL;
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    size_t need = sizeof(struct record_header) + padded(len);
    size_t off = (size_t)(tail & (r->capacity - 1));
    size_t to_end = r->capacity - off;
    size_t total = need <= to_end ? need : to_end + need;
    if (r->capacity - (size_t)(tail - head) < total)
        return NULL;
    if (need > to_end) {
        struct record_header *skip = (struct record_header *)(r->bytes + off);
        skip->len = 0;
        skip->skip = 1;
        /* A skip is a record of its own: published now, it stays valid
         * even when this reservation is abandoned. */
        atomic_store_explicit(&r->tail, tail + to_end, memory_order_release);
        off = 0;
    }
    struct record_header *h = (struct record_header *)(r->bytes + off);
    h->skip = 0;
    return h + 1;
}

void handoff_ring_commit(struct handoff_ring *r, size_t len)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    struct record_header *h = (struct record_header *)(r->bytes + (tail & (r->capacity - 1)));
    h->len = (uint32_t)len;
    atomic_store_explicit(&r->tail, tail + sizeof(*h) + padded(len), memory_order_release);
}

const void *handoff_ring_peek(struct handoff_ring *r, size_t *len)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    for (;;) {
        uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head == tail)
            return NULL;
        size_t off = (size_t)(head & (r->capacity - 1));
        const struct record_header *h = (const struct record_header *)(r->bytes + off);
        if (!h->skip) {
            *len = h->len;
            return h + 1;
        }
        head += r->capacity - off;
        atomic_store_explicit(&r->head, head, memory_order_release);
    }
}

void handoff_ring_release(struct handoff_ring *r)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    const struct record_header *h =
        (const struct record_header *)(r->bytes + (head & (r->capacity - 1)));
    atomic_store_explicit(&r->head, head + sizeof(*h) + padded(h->len), memory_order_release);
}
