/* Unit tests of gateway/handoff_ring, the single-producer/single-consumer
 * record ring between two workers: records come out whole and in order
 * across the wrap-around, a full ring refuses instead of overwriting, the
 * largest record fits an empty ring, and two real threads pass a million
 * records without losing or reordering one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "core/handoff_ring.h"

/* push writes a record of |len| bytes, each |fill|; false when refused. */
static bool push(struct handoff_ring *r, size_t len, uint8_t fill)
{
    uint8_t *p = handoff_ring_reserve(r, len);
    if (!p)
        return false;
    memset(p, fill, len);
    handoff_ring_commit(r, len);
    return true;
}

/* pop_expect reads the next record and checks its length and bytes. */
static void pop_expect(struct handoff_ring *r, size_t len, uint8_t fill)
{
    size_t got = 0;
    const uint8_t *p = handoff_ring_peek(r, &got);
    assert_non_null(p);
    assert_int_equal(got, len);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(p[i], fill);
    handoff_ring_release(r);
}

static void records_survive_wrap_around_in_order(void **state)
{
    struct handoff_ring r = {0};
    assert_true(handoff_ring_init(&r, 4096));
    assert_int_equal(r.capacity, 4096);
    /* Odd sizes walk the write position over every alignment and past
     * the end of the array many times. */
    uint8_t next_in = 0, next_out = 0;
    size_t lens[3] = {1000, 333, 1};
    for (int round = 0; round < 200; round++) {
        for (int k = 0; k < 3; k++)
            assert_true(push(&r, lens[k], next_in++));
        for (int k = 0; k < 3; k++)
            pop_expect(&r, lens[k], next_out++);
    }
    size_t n;
    assert_null(handoff_ring_peek(&r, &n));
    assert_true(r.head == r.tail);
    assert_true(r.tail > 10 * r.capacity); /* it did wrap */
    handoff_ring_free(&r);
}

static void full_ring_refuses_and_recovers(void **state)
{
    struct handoff_ring r = {0};
    assert_true(handoff_ring_init(&r, 4096));
    int pushed = 0;
    while (push(&r, 500, (uint8_t)pushed))
        pushed++;
    /* 8 header + 504 padded bytes each: 8 fit in 4096. */
    assert_int_equal(pushed, 8);
    assert_false(push(&r, 500, 0xff)); /* still full: nothing overwritten */
    pop_expect(&r, 500, 0);
    assert_true(push(&r, 500, 8)); /* room again after one release */
    for (int i = 1; i <= 8; i++)
        pop_expect(&r, 500, (uint8_t)i);
    size_t n;
    assert_null(handoff_ring_peek(&r, &n));
    handoff_ring_free(&r);
}

static void largest_record_fits_and_larger_is_refused(void **state)
{
    struct handoff_ring r = {0};
    assert_true(handoff_ring_init(&r, 8192));
    size_t max = handoff_ring_max_record(&r);
    assert_true(max >= 8192 / 2 - 16);
    assert_false(push(&r, max + 1, 1));
    /* Fits wherever the ring stands: at the start, and after a wrap. */
    assert_true(push(&r, max, 2));
    pop_expect(&r, max, 2);
    assert_true(push(&r, 3000, 3));
    pop_expect(&r, 3000, 3);
    assert_true(push(&r, max, 4));
    pop_expect(&r, max, 4);
    assert_true(push(&r, 0, 5)); /* an empty record is a record */
    pop_expect(&r, 0, 5);
    handoff_ring_free(&r);
}

enum { STRESS_RECORDS = 1000000 };

struct stress {
    struct handoff_ring ring;
    uint64_t refused; /* reserve found the ring full: the producer retried */
};

static void *producer(void *arg)
{
    struct stress *s = arg;
    for (uint64_t i = 0; i < STRESS_RECORDS; i++) {
        size_t len = sizeof(i) + (size_t)(i % 61); /* varied sizes: wraps at every offset */
        uint8_t *p;
        while ((p = handoff_ring_reserve(&s->ring, len)) == NULL) {
            s->refused++;
            sched_yield();
        }
        memcpy(p, &i, sizeof(i));
        memset(p + sizeof(i), (int)(i & 0xff), len - sizeof(i));
        handoff_ring_commit(&s->ring, len);
    }
    return NULL;
}

static void two_threads_pass_a_million_records_in_order(void **state)
{
    static struct stress s;
    assert_true(handoff_ring_init(&s.ring, 64 * 1024));
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, producer, &s), 0);
    uint64_t expect = 0, bad = 0;
    while (expect < STRESS_RECORDS) {
        size_t len;
        const uint8_t *p = handoff_ring_peek(&s.ring, &len);
        if (!p) {
            sched_yield();
            continue;
        }
        uint64_t seq;
        memcpy(&seq, p, sizeof(seq));
        bad += seq != expect || len != sizeof(seq) + (size_t)(expect % 61);
        for (size_t i = sizeof(seq); i < len; i++)
            bad += p[i] != (uint8_t)(expect & 0xff);
        handoff_ring_release(&s.ring);
        expect++;
    }
    pthread_join(t, NULL);
    assert_int_equal(bad, 0);
    size_t n;
    assert_null(handoff_ring_peek(&s.ring, &n));
    handoff_ring_free(&s.ring);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records_survive_wrap_around_in_order),
        cmocka_unit_test(full_ring_refuses_and_recovers),
        cmocka_unit_test(largest_record_fits_and_larger_is_refused),
        cmocka_unit_test(two_threads_pass_a_million_records_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
