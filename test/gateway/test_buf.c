/* Unit tests of gateway/buf: queues keep byte order across blocks, the pool
 * bound is enforced all-or-nothing, and every block goes back to the pool
 * (the accounting that back-pressure relies on). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"

static void queue_keeps_order_across_blocks(void **state)
{
    struct buf_pool pool;
    buf_pool_init(&pool, 8, 16);
    struct buf_queue q = {0};
    const char *text = "the quick brown fox jumps over the lazy dog";
    size_t len = strlen(text);
    assert_true(buf_queue_append(&q, &pool, text, 10));
    assert_true(buf_queue_append(&q, &pool, text + 10, len - 10));
    assert_int_equal(q.bytes, len);
    assert_int_equal(pool.in_use, (len + 7) / 8);
    char out[64];
    size_t got = 0;
    while (q.bytes) {
        const uint8_t *p;
        size_t n = buf_queue_peek(&q, &p);
        assert_true(n > 0 && n <= 8);
        size_t take = n > 3 ? 3 : n; /* short "sends" */
        memcpy(out + got, p, take);
        got += take;
        buf_queue_consume(&q, &pool, take);
    }
    assert_int_equal(got, len);
    assert_memory_equal(out, text, len);
    assert_int_equal(pool.in_use, 0);
    assert_null(q.head);
    buf_pool_free(&pool);
}

static void pool_limit_is_all_or_nothing(void **state)
{
    struct buf_pool pool;
    buf_pool_init(&pool, 4, 3);
    struct buf_queue q = {0};
    assert_true(buf_queue_append(&q, &pool, "abcdef", 6));   /* 2 blocks */
    assert_false(buf_queue_append(&q, &pool, "0123456", 7)); /* needs 2 more */
    assert_int_equal(q.bytes, 6);
    assert_int_equal(pool.in_use, 2);
    assert_true(buf_queue_append(&q, &pool, "gh", 2)); /* fits the tail block */
    assert_true(buf_queue_append(&q, &pool, "ijkl", 4));
    assert_int_equal(pool.in_use, 3);
    assert_null(buf_pool_get(&pool));
    buf_queue_clear(&q, &pool);
    assert_int_equal(pool.in_use, 0);
    assert_int_equal(q.bytes, 0);
    buf_pool_free(&pool);
}

static void blocks_are_recycled_not_reallocated(void **state)
{
    struct buf_pool pool;
    buf_pool_init(&pool, 16, 4);
    for (int round = 0; round < 100; round++) {
        struct buf_queue q = {0};
        assert_true(buf_queue_append(&q, &pool, "0123456789abcdef0123", 20));
        buf_queue_consume(&q, &pool, 20);
    }
    assert_int_equal(pool.allocated, 2);
    buf_pool_free(&pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(queue_keeps_order_across_blocks),
        cmocka_unit_test(pool_limit_is_all_or_nothing),
        cmocka_unit_test(blocks_are_recycled_not_reallocated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
