/* Unit tests of gateway/timer: the heap fires in deadline order, re-arming
 * moves a timer, disarming removes it, and the capacity bound holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/timer.h"

struct log {
    int order[16];
    int n;
};

struct tagged {
    struct timer timer;
    int id;
    struct log *log;
};

static void record(void *ctx, struct timer *t)
{
    struct tagged *x = ctx;
    (void)t;
    x->log->order[x->log->n++] = x->id;
}

static void init(struct tagged *x, int id, struct log *log)
{
    *x = (struct tagged){.id = id, .log = log};
    x->timer.fire = record;
    x->timer.ctx = x;
}

static void fires_in_deadline_order(void **state)
{
    struct timer_heap h;
    assert_true(timer_heap_init(&h, 8));
    struct log log = {0};
    struct tagged t[6];
    const uint64_t deadlines[6] = {50, 10, 40, 30, 20, 60};
    for (int i = 0; i < 6; i++) {
        init(&t[i], i, &log);
        assert_true(timer_arm(&h, &t[i].timer, deadlines[i]));
    }
    assert_int_equal(timer_next_ms(&h, 0), 10);
    assert_int_equal(timer_run(&h, 45), 4);
    int want[] = {1, 4, 3, 2};
    assert_memory_equal(log.order, want, sizeof(want));
    assert_int_equal(timer_next_ms(&h, 45), 5);
    assert_false(timer_armed(&t[1].timer));
    assert_true(timer_armed(&t[0].timer));
    timer_heap_free(&h);
}

static void rearm_and_disarm(void **state)
{
    struct timer_heap h;
    assert_true(timer_heap_init(&h, 4));
    struct log log = {0};
    struct tagged a, b, c;
    init(&a, 1, &log);
    init(&b, 2, &log);
    init(&c, 3, &log);
    timer_arm(&h, &a.timer, 100);
    timer_arm(&h, &b.timer, 200);
    timer_arm(&h, &c.timer, 300);
    timer_arm(&h, &c.timer, 50);  /* earlier */
    timer_arm(&h, &a.timer, 400); /* later */
    timer_disarm(&h, &b.timer);
    timer_disarm(&h, &b.timer); /* twice is harmless */
    assert_int_equal(h.count, 2);
    assert_int_equal(timer_run(&h, 1000), 2);
    int want[] = {3, 1};
    assert_memory_equal(log.order, want, sizeof(want));
    assert_int_equal(timer_next_ms(&h, 1000), -1);
    timer_heap_free(&h);
}

static void capacity_is_a_bound(void **state)
{
    struct timer_heap h;
    assert_true(timer_heap_init(&h, 2));
    struct log log = {0};
    struct tagged t[3];
    for (int i = 0; i < 3; i++)
        init(&t[i], i, &log);
    assert_true(timer_arm(&h, &t[0].timer, 1));
    assert_true(timer_arm(&h, &t[1].timer, 2));
    assert_false(timer_arm(&h, &t[2].timer, 3));
    assert_false(timer_armed(&t[2].timer));
    assert_true(timer_arm(&h, &t[1].timer, 5)); /* re-arming needs no room */
    timer_heap_free(&h);
}

static void many_random_timers_stay_ordered(void **state)
{
    enum { N = 1000 };
    static struct tagged t[N];
    static struct log log;
    struct timer_heap h;
    assert_true(timer_heap_init(&h, N));
    uint32_t x = 12345;
    for (int i = 0; i < N; i++) {
        init(&t[i], i, &log);
        x = x * 1103515245u + 12345u;
        timer_arm(&h, &t[i].timer, x % 10000);
    }
    for (int i = 0; i < N; i += 3)
        timer_disarm(&h, &t[i].timer);
    uint64_t last = 0;
    while (h.count) {
        uint64_t d = h.items[0]->deadline_ms;
        assert_true(d >= last);
        last = d;
        log.n = 0;
        timer_run(&h, d);
    }
    timer_heap_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fires_in_deadline_order),
        cmocka_unit_test(rearm_and_disarm),
        cmocka_unit_test(capacity_is_a_bound),
        cmocka_unit_test(many_random_timers_stay_ordered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
