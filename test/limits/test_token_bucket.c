/* The handshake token bucket (gateway/conn/conn_limits.h): burst equal to the
 * rate, smooth refill at millisecond resolution, capped, and a lowered rate
 * (reload) takes effect at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "conn/conn_limits.h"

static void burst_is_the_rate_then_refused(void **state)
{
    (void)state;
    struct token_bucket tb = {0};
    for (int i = 0; i < 5; i++)
        assert_true(token_bucket_take(&tb, 5, 1000));
    assert_false(token_bucket_take(&tb, 5, 1000));
    assert_false(token_bucket_take(&tb, 5, 1199)); /* 199 ms at 5/s: 0.995 token */
    assert_true(token_bucket_take(&tb, 5, 1200));  /* 200 ms: one token */
    assert_false(token_bucket_take(&tb, 5, 1200));
}

static void refill_is_capped_at_the_rate(void **state)
{
    (void)state;
    struct token_bucket tb = {0};
    assert_true(token_bucket_take(&tb, 3, 0));
    /* An hour idle refills three tokens, not 10,800. */
    for (int i = 0; i < 3; i++)
        assert_true(token_bucket_take(&tb, 3, 3600 * 1000));
    assert_false(token_bucket_take(&tb, 3, 3600 * 1000));
}

static void slow_rates_refill_smoothly(void **state)
{
    (void)state;
    struct token_bucket tb = {0};
    assert_true(token_bucket_take(&tb, 1, 0));
    for (uint64_t t = 100; t < 1000; t += 100)
        assert_false(token_bucket_take(&tb, 1, t)); /* partial refills add up */
    assert_true(token_bucket_take(&tb, 1, 1000));
}

static void lowered_rate_applies_at_once(void **state)
{
    (void)state;
    struct token_bucket tb = {0};
    assert_true(token_bucket_take(&tb, 1000, 0)); /* 999 left */
    assert_true(token_bucket_take(&tb, 2, 0));    /* clamped to 2, one taken */
    assert_true(token_bucket_take(&tb, 2, 0));
    assert_false(token_bucket_take(&tb, 2, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_is_the_rate_then_refused),
        cmocka_unit_test(refill_is_capped_at_the_rate),
        cmocka_unit_test(slow_rates_refill_smoothly),
        cmocka_unit_test(lowered_rate_applies_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
