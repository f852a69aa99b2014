/* buf: fixed-size blocks from a bounded pool, and byte queues built of them,
 * the only memory connections use for data in flight.
 *
 * A pool owns its free blocks; a queue owns the blocks it holds until it
 * consumes or clears them (they go back to the pool). Never grows past the
 * pool's block limit: callers see the failure and apply back-pressure. */
#ifndef REUSEGW_BUF_H
#define REUSEGW_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* buf_block is one pool block; |data[head, tail)| holds live bytes. */
struct buf_block {
    struct buf_block *next;
    uint32_t head;
    uint32_t tail;
    uint8_t data[];
};

/* buf_pool hands out blocks of |block_size| data bytes, at most |max_blocks|
 * at a time; freed blocks are kept for reuse, so steady state never mallocs. */
struct buf_pool {
    uint32_t block_size;
    uint32_t max_blocks;
    uint32_t in_use;
    uint32_t allocated;
    struct buf_block *free;
};

/* buf_pool_init prepares an empty pool (no allocation yet). */
void buf_pool_init(struct buf_pool *pool, uint32_t block_size, uint32_t max_blocks);

/* buf_pool_free releases the free list; every block must have been returned. */
void buf_pool_free(struct buf_pool *pool);

/* buf_pool_get returns an empty block (caller owns it) or NULL when the pool
 * is at its limit or memory is short. */
struct buf_block *buf_pool_get(struct buf_pool *pool);

/* buf_pool_put takes ownership of |block| back. NULL is a no-op. */
void buf_pool_put(struct buf_pool *pool, struct buf_block *block);

/* buf_queue is a FIFO of bytes. Zero-initialised is empty. |consumed|
 * counts the bytes ever consumed from its front (clearing is no consuming),
 * so |consumed| + |bytes| is the stream position of its end. */
struct buf_queue {
    struct buf_block *head;
    struct buf_block *tail;
    size_t bytes;
    uint64_t consumed;
};

/* buf_queue_append copies |len| bytes to the end. All or nothing: returns
 * false, leaving the queue unchanged, when the pool cannot supply blocks. */
bool buf_queue_append(struct buf_queue *q, struct buf_pool *pool, const void *data, size_t len);

/* buf_queue_peek returns the first contiguous run of bytes (borrowed; valid
 * until the queue changes) and its length; 0 when empty. */
size_t buf_queue_peek(const struct buf_queue *q, const uint8_t **data);

/* buf_queue_consume drops |n| bytes from the front (n <= bytes), returning
 * emptied blocks to |pool|. */
void buf_queue_consume(struct buf_queue *q, struct buf_pool *pool, size_t n);

/* buf_queue_clear returns every block to |pool|. */
void buf_queue_clear(struct buf_queue *q, struct buf_pool *pool);

#endif
