/* Unit tests of the reuse-decision bookkeeping: why the connection index
 * found nothing for a request (no_row, identity_mismatch, connection_gone;
 * R-5923-11/-20/-23/-27) on real certificates from test/certs/gen.sh, and
 * that every decision lands in exactly its own registry series. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "conn/conn.h"
#include "conn_key_support.h"
#include "core/log.h"
#include "core/metrics.h"
#include "pki_cert.h"
#include "relay/reuse_decision.h"
#include "tls/identities.h"
#include "tls_test_support.h"

/* The miss reason follows what is indexed at the address, whatever the
 * domain asked: nothing, a usable connection proving other domains, or only
 * connections whose peer closed. */
static void miss_reason_explains_an_index_miss(void **state)
{
    struct conn_table t;
    assert_true(conn_table_init(&t, 8));
    struct conn_key k = conn_key_of_ipv4("127.0.0.3", 5061);
    assert_int_equal(conn_index_miss(&t, &k, "", 0), REUSE_NO_ROW);

    struct conn *v = conn_alloc(&t, CONN_TLS_IN);
    v->state = CONN_OPEN;
    v->ids = pki_identities_load("virtual"); /* sip:a.virt.test, sip:b.virt.test */
    conn_index_set(&t, v, &k);
    assert_null(conn_index_find(&t, &k, "c.virt.test", 0));
    assert_int_equal(conn_index_miss(&t, &k, "", 0), REUSE_IDENTITY_MISMATCH);
    /* Another port of the same address is another key (R-5923-11 (a)). */
    struct conn_key k2 = conn_key_of_ipv4("127.0.0.3", 5062);
    assert_int_equal(conn_index_miss(&t, &k2, "", 0), REUSE_NO_ROW);

    v->peer_closed = true; /* close_notify or EOF received (R-5923-23) */
    assert_null(conn_index_find(&t, &k, "a.virt.test", 0));
    assert_int_equal(conn_index_miss(&t, &k, "", 0), REUSE_CONNECTION_GONE);

    /* A usable connection beside a closed one: the address is served. */
    struct conn *d = conn_alloc(&t, CONN_TLS_OUT);
    snprintf(d->domain, sizeof(d->domain), "b.test");
    conn_index_set(&t, d, &k);
    assert_int_equal(conn_index_miss(&t, &k, "", 0), REUSE_IDENTITY_MISMATCH);

    /* RFC 5923 9.3 on our side (R-5923-27): a connection that proves the
     * domain but carries another identity of ours is never reused for this
     * one, and the miss says so. */
    d->state = CONN_OPEN;
    d->ids = pki_identities_load("gw-b"); /* sip:b.test */
    d->ours = 1;
    assert_null(conn_index_find(&t, &k, "b.test", 0));
    assert_ptr_equal(conn_index_find(&t, &k, "b.test", 1), d);
    assert_int_equal(conn_index_miss(&t, &k, "b.test", 0), REUSE_IDENTITY_OURS_MISMATCH);
    assert_int_equal(conn_index_miss(&t, &k, "c.test", 0), REUSE_IDENTITY_MISMATCH);
    tls_identities_unref(d->ids);

    conn_release(&t, d);
    conn_release(&t, v);
    assert_int_equal(conn_index_miss(&t, &k, "", 0), REUSE_NO_ROW);
    tls_identities_unref(v->ids);
    conn_table_free(&t);
}

static void each_decision_counts_once_under_its_own_name(void **state)
{
    static struct metrics m; /* the registry reuse_decided counts in */
    static const char *const names[REUSE_REASONS] = {
        "reused",       "no_row",       "identity_mismatch", "certless",
        "aliasing_off", "row_replaced", "connection_gone",   "identity_ours_mismatch",
    };
    struct conn_key k = conn_key_of_ipv4("127.0.0.3", 5061);
    for (int r = 0; r < REUSE_REASONS; r++) {
        assert_string_equal(reuse_reason_name((enum reuse_reason)r), names[r]);
        for (int n = 0; n <= r; n++)
            reuse_decided(&m, (enum reuse_reason)r, "b.test", n % 2 ? &k : NULL);
    }
    /* The registry is the one store: /metrics shows each reason's count
     * under its own label, straight from the series reuse_decided bumped. */
    static char text[METRICS_RENDER_MAX];
    const struct metrics *regs[] = {&m};
    struct metrics_info info = {.io_backend = "epoll"};
    assert_true(metrics_render(regs, 1, &info, text, sizeof(text)) < sizeof(text));
    for (int r = 0; r < REUSE_REASONS; r++) {
        char line[128];
        snprintf(line, sizeof(line), "\nreusegw_reuse_decisions_total{reason=\"%s\"} %d\n",
                 names[r], r + 1);
        assert_non_null(strstr(text, line));
    }
}

int main(void)
{
    log_configure(LOG_DEBUG, LOG_FORMAT_LOGFMT); /* the debug line is formatted too */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(miss_reason_explains_an_index_miss),
        cmocka_unit_test(each_decision_counts_once_under_its_own_name),
    };
    return cmocka_run_group_tests(tests, pki_group_setup, pki_group_teardown);
}
