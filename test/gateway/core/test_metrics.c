/* The metrics registry: every id belongs to exactly one rendered series,
 * workers are summed, gauges may be negative per worker, the histogram is
 * cumulative, and rendering is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"

static char text[METRICS_RENDER_MAX];

static size_t render(const struct metrics *const *regs, size_t n)
{
    struct metrics_info info = {.io_backend = "io_uring"};
    size_t len = metrics_render(regs, n, &info, text, sizeof(text));
    assert_true(len < sizeof(text));
    return len;
}

static unsigned occurrences(const char *needle)
{
    unsigned n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* A distinct value in every plain series shows up exactly once: the family
 * table covers every id, without overlap. */
static void every_id_rendered_once(void **state)
{
    static struct metrics m;
    for (unsigned id = 0; id < M_BATCH_BUCKET_FIRST; id++)
        m.v[id] = 7000000 + id;
    const struct metrics *regs[] = {&m};
    render(regs, 1);
    for (unsigned id = 0; id < M_BATCH_BUCKET_FIRST; id++) {
        char needle[32];
        snprintf(needle, sizeof(needle), " %u\n", 7000000 + id);
        if (occurrences(needle) != 1)
            fail_msg("metric id %u rendered %u times", id, occurrences(needle));
    }
}

static void workers_are_summed(void **state)
{
    static struct metrics a, b;
    metrics_add(&a, M_REUSE_REUSED, 5);
    metrics_add(&b, M_REUSE_REUSED, 7);
    metrics_gauge_add(&a, metrics_conn_id(1, 2), 2);  /* tls_out open */
    metrics_gauge_add(&b, metrics_conn_id(1, 2), -3); /* closed on the other */
    const struct metrics *regs[] = {&a, &b};
    render(regs, 2);
    assert_non_null(strstr(text, "reusegw_reuse_decisions_total{reason=\"reused\"} 12\n"));
    assert_non_null(strstr(text, "reusegw_connections{kind=\"tls_out\",state=\"open\"} -1\n"));
    assert_non_null(strstr(text, "# TYPE reusegw_connections gauge\n"));
    assert_non_null(strstr(text, "# TYPE reusegw_reuse_decisions_total counter\n"));
    assert_non_null(strstr(text, "reusegw_io_backend{backend=\"io_uring\"} 1\n"));
    assert_null(strstr(text, "reusegw_certificate_expiry_seconds")); /* none loaded */
}

static void batch_histogram_is_cumulative(void **state)
{
    static struct metrics m;
    metrics_observe_batch(&m, 0);
    metrics_observe_batch(&m, 2);
    metrics_observe_batch(&m, 3);
    metrics_observe_batch(&m, 1000);
    const struct metrics *regs[] = {&m};
    render(regs, 1);
    assert_non_null(strstr(text, "reusegw_loop_batch_size_bucket{le=\"1\"} 1\n"));
    assert_non_null(strstr(text, "reusegw_loop_batch_size_bucket{le=\"2\"} 2\n"));
    assert_non_null(strstr(text, "reusegw_loop_batch_size_bucket{le=\"4\"} 3\n"));
    assert_non_null(strstr(text, "reusegw_loop_batch_size_bucket{le=\"256\"} 3\n"));
    assert_non_null(strstr(text, "reusegw_loop_batch_size_bucket{le=\"+Inf\"} 4\n"));
    assert_non_null(strstr(text, "reusegw_loop_batch_size_sum 1005\n"));
    assert_non_null(strstr(text, "reusegw_loop_batch_size_count 4\n"));
    assert_non_null(strstr(text, "reusegw_loop_iterations_total 4\n"));
}

static void parse_errors_map_to_reasons(void **state)
{
    assert_int_equal(metrics_parse_error_id(SIP_ERR_CL_MISSING), M_PARSE_FRAMING);
    assert_int_equal(metrics_parse_error_id(SIP_ERR_MESSAGE_TOO_LARGE), M_PARSE_TOO_LARGE);
    assert_int_equal(metrics_parse_error_id(SIP_ERR_VERSION), M_PARSE_START_LINE);
    assert_int_equal(metrics_parse_error_id(SIP_ERR_VIA), M_PARSE_VIA);
    assert_int_equal(metrics_parse_error_id(SIP_ERR_HOST), M_PARSE_URI);
    assert_int_equal(metrics_parse_error_id(SIP_ERR_MISSING_FROM), M_PARSE_MISSING_HEADER);
    assert_int_equal(metrics_parse_error_id(SIP_ERR_HEADER_SYNTAX), M_PARSE_HEADER);
}

/* A short buffer is never overrun and the result says how much was needed. */
static void render_is_bounded(void **state)
{
    static struct metrics m;
    const struct metrics *regs[] = {&m};
    const struct metrics_cert certs[] = {{.identity = "a.test", .not_after = 1000},
                                         {.identity = "b.test", .not_after = 0},
                                         {.identity = "c.test", .not_after = 300}};
    struct metrics_info info = {
        .io_backend = "epoll", .certs = certs, .n_certs = 3, .crl_next_update = 5000, .now = 400};
    size_t full = metrics_render(regs, 1, &info, text, sizeof(text));
    /* One series per identity whose expiry is known, under one header. */
    assert_non_null(strstr(text, "reusegw_certificate_expiry_seconds{identity=\"a.test\"} 600\n"
                                 "reusegw_certificate_expiry_seconds{identity=\"c.test\"} -100\n"));
    assert_null(strstr(text, "b.test"));
    assert_non_null(strstr(text, "reusegw_crl_next_update_timestamp_seconds 5000\n"));
    char *small = malloc(100);
    memset(small, 'x', 100);
    assert_int_equal(metrics_render(regs, 1, &info, small, 64), full);
    assert_int_equal(small[63], '\0');
    assert_int_equal(small[64], 'x');
    assert_memory_equal(small, text, 63);
    free(small);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_id_rendered_once),
        cmocka_unit_test(workers_are_summed),
        cmocka_unit_test(batch_histogram_is_cumulative),
        cmocka_unit_test(parse_errors_map_to_reasons),
        cmocka_unit_test(render_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
