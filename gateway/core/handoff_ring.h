/* handoff_ring: a bounded single-producer / single-consumer ring of
 * variable-length records, the byte pipe between one ordered pair of
 * workers.
 *
 * Owns its byte array (allocated once at init). Borrows nothing. Never
 * locks and never allocates after init: the producer advances |tail|, the
 * consumer |head|, each published with a release store and read with an
 * acquire load, so exactly two threads may use one ring. */
#ifndef REUSEGW_HANDOFF_RING_H
#define REUSEGW_HANDOFF_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* handoff_ring is one ring; zero-initialised is "not created". Head and
 * tail are byte counts since creation (they never wrap in 2^64 bytes), on
 * separate cache lines so the two threads do not share one. */
struct handoff_ring {
    uint8_t *bytes;
    size_t capacity;                    /* a power of two */
    _Alignas(64) _Atomic uint64_t head; /* consumer: next byte to read */
    _Alignas(64) _Atomic uint64_t tail; /* producer: next byte to write */
};

/* HANDOFF_RING_ALIGN: every record starts on this boundary, so callers may
 * place structs at the start of a record. */
#define HANDOFF_RING_ALIGN 8u

/* handoff_ring_init allocates |capacity| bytes (rounded up to a power of
 * two, at least 4 KiB). False when out of memory. Release with
 * handoff_ring_free. */
bool handoff_ring_init(struct handoff_ring *r, size_t capacity);

/* handoff_ring_free releases the bytes; neither thread may use |r| after. */
void handoff_ring_free(struct handoff_ring *r);

/* handoff_ring_max_record is the largest record |r| can ever take. */
size_t handoff_ring_max_record(const struct handoff_ring *r);

/* handoff_ring_reserve (producer) returns |len| contiguous writable bytes
 * for the next record, or NULL when the ring has no room now (or |len|
 * exceeds handoff_ring_max_record). Nothing is visible to the consumer
 * until handoff_ring_commit; a reserve without commit is abandoned by the
 * next reserve. */
void *handoff_ring_reserve(struct handoff_ring *r, size_t len);

/* handoff_ring_commit (producer) publishes the record last reserved with
 * |len| bytes. */
void handoff_ring_commit(struct handoff_ring *r, size_t len);

/* handoff_ring_peek (consumer) returns the oldest unread record and its
 * length in |len|, or NULL when the ring is empty. The bytes stay valid
 * until handoff_ring_release. */
const void *handoff_ring_peek(struct handoff_ring *r, size_t *len);

/* handoff_ring_release (consumer) frees the record handoff_ring_peek
 * returned. */
void handoff_ring_release(struct handoff_ring *r);

#endif
