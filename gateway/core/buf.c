/* buf: block pool with a free list, and block-chained byte queues. */
#include "core/buf.h"

#include <stdlib.h>
#include <string.h>

void buf_pool_init(struct buf_pool *pool, uint32_t block_size, uint32_t max_blocks)
{
    memset(pool, 0, sizeof(*pool));
    pool->block_size = block_size;
    pool->max_blocks = max_blocks;
}

void buf_pool_free(struct buf_pool *pool)
{
    while (pool->free) {
        struct buf_block *b = pool->free;
        pool->free = b->next;
        free(b);
    }
    pool->allocated = pool->in_use;
}

struct buf_block *buf_pool_get(struct buf_pool *pool)
{
    if (pool->in_use >= pool->max_blocks)
        return NULL;
    struct buf_block *b = pool->free;
    if (b) {
        pool->free = b->next;
    } else {
        b = malloc(sizeof(*b) + pool->block_size);
        if (!b)
            return NULL;
        pool->allocated++;
    }
    b->next = NULL;
    b->head = b->tail = 0;
    pool->in_use++;
    return b;
}

void buf_pool_put(struct buf_pool *pool, struct buf_block *block)
{
    if (!block)
        return;
    block->next = pool->free;
    pool->free = block;
    pool->in_use--;
}

bool buf_queue_append(struct buf_queue *q, struct buf_pool *pool, const void *data, size_t len)
{
    const uint8_t *src = data;
    size_t room = q->tail ? pool->block_size - q->tail->tail : 0;
    if (len > room) {
        size_t need = (len - room + pool->block_size - 1) / pool->block_size;
        if (pool->in_use + need > pool->max_blocks)
            return false;
    }
    size_t left = len;
    while (left > 0) {
        if (!q->tail || q->tail->tail == pool->block_size) {
            struct buf_block *b = buf_pool_get(pool);
            if (!b)
                return false; /* malloc failure only: bytes so far stay queued */
            if (q->tail)
                q->tail->next = b;
            else
                q->head = b;
            q->tail = b;
        }
        size_t n = pool->block_size - q->tail->tail;
        if (n > left)
            n = left;
        memcpy(q->tail->data + q->tail->tail, src, n);
        q->tail->tail += (uint32_t)n;
        src += n;
        left -= n;
        q->bytes += n;
    }
    return true;
}

size_t buf_queue_peek(const struct buf_queue *q, const uint8_t **data)
{
    if (!q->head) {
        *data = NULL;
        return 0;
    }
    *data = q->head->data + q->head->head;
    return q->head->tail - q->head->head;
}

void buf_queue_consume(struct buf_queue *q, struct buf_pool *pool, size_t n)
{
    q->bytes -= n;
    q->consumed += n;
    while (n > 0 && q->head) {
        struct buf_block *b = q->head;
        size_t avail = b->tail - b->head;
        size_t take = n < avail ? n : avail;
        b->head += (uint32_t)take;
        n -= take;
        if (b->head == b->tail) {
            q->head = b->next;
            if (!q->head)
                q->tail = NULL;
            buf_pool_put(pool, b);
        }
    }
}

void buf_queue_clear(struct buf_queue *q, struct buf_pool *pool)
{
    while (q->head) {
        struct buf_block *b = q->head;
        q->head = b->next;
        buf_pool_put(pool, b);
    }
    q->tail = NULL;
    q->bytes = 0;
}
