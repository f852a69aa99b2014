/* Unit tests of gateway/pending: the bounded client-transaction table keyed
 * by (branch, method class), RFC 3261 expiry on reliable transports (INVITE:
 * 64*T1 after a final response, 2xx included; non-INVITE: at its final
 * response; Timer C / F without one), R-5923-13 (CANCEL shares its INVITE's
 * branch yet is its own transaction); over UDP (legacy.transport udp) every
 * final response lingers 64*T1 (Timers J and H) and the kept last response
 * goes back to its pool with the entry; the per-connection lists the
 * relay walks when a connection dies (relay/ended.h); a hash that grows with
 * what it holds (linear hashing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "relay/pending.h"

struct fixture {
    struct timer_heap timers;
    struct pending_table table;
    struct metrics metrics; /* where expiries are counted */
};

static int setup(void **state)
{
    static struct fixture f;
    assert_true(timer_heap_init(&f.timers, 8));
    f.metrics = (struct metrics){0};
    assert_true(pending_table_init(&f.table, 4, &f.timers, &f.metrics));
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    pending_table_free(&f->table);
    timer_heap_free(&f->timers);
    return 0;
}

#define ADD(t, b, m, now) pending_add((t), (b), strlen(b), (m), "VIA", 3, (now))
#define FIND(t, b, m) pending_find((t), (b), strlen(b), (m))

static void keyed_by_branch_and_method(void **state)
{
    struct fixture *f = *state;
    struct pending *inv = ADD(&f->table, "z9hG4bK-1", PENDING_INVITE, 0);
    struct pending *can = ADD(&f->table, "z9hG4bK-1", PENDING_CANCEL, 0);
    assert_non_null(inv);
    assert_non_null(can);
    assert_ptr_not_equal(inv, can);
    assert_ptr_equal(FIND(&f->table, "z9hG4bK-1", PENDING_INVITE), inv);
    assert_ptr_equal(FIND(&f->table, "z9hG4bK-1", PENDING_CANCEL), can);
    assert_null(FIND(&f->table, "z9hG4bK-1", PENDING_OTHER));
    assert_null(FIND(&f->table, "Z9HG4BK-1", PENDING_INVITE)); /* case-sensitive */
    assert_memory_equal(inv->via, "VIA", 3);
    assert_int_equal(inv->via_len, 3);
    /* A retransmission finds the same entry. */
    assert_ptr_equal(ADD(&f->table, "z9hG4bK-1", PENDING_INVITE, 5), inv);
    assert_int_equal(f->table.used, 2);
    assert_int_equal(f->table.open, 2);
}

static void bounded_and_refuses_bad_keys(void **state)
{
    struct fixture *f = *state;
    char long_branch[PENDING_BRANCH_MAX + 2];
    memset(long_branch, 'x', sizeof(long_branch) - 1);
    long_branch[sizeof(long_branch) - 1] = 0;
    assert_null(ADD(&f->table, long_branch, PENDING_OTHER, 0));
    assert_null(ADD(&f->table, "", PENDING_OTHER, 0));
    char via[PENDING_VIA_MAX + 1] = {0};
    assert_null(pending_add(&f->table, "b", 1, PENDING_OTHER, via, sizeof(via), 0));
    for (int i = 0; i < 4; i++) {
        char b[8];
        snprintf(b, sizeof(b), "b%d", i);
        assert_non_null(ADD(&f->table, b, PENDING_OTHER, 0));
    }
    assert_null(ADD(&f->table, "b4", PENDING_OTHER, 0));
    pending_remove(&f->table, FIND(&f->table, "b2", PENDING_OTHER));
    assert_non_null(ADD(&f->table, "b4", PENDING_OTHER, 0)); /* slot reused */
    assert_non_null(FIND(&f->table, "b3", PENDING_OTHER));
    assert_null(FIND(&f->table, "b2", PENDING_OTHER));
}

static void final_response_lingers_64_t1(void **state)
{
    struct fixture *f = *state;
    struct pending *p = ADD(&f->table, "inv", PENDING_INVITE, 1000);
    pending_on_response(&f->table, p, 180, 2000);
    pending_on_response(&f->table, p, 200, 3000); /* INVITE 2xx included */
    assert_int_equal(f->table.open, 0);
    timer_run(&f->timers, 3000 + PENDING_LINGER_MS - 1);
    assert_non_null(FIND(&f->table, "inv", PENDING_INVITE)); /* 2xx retransmissions */
    timer_run(&f->timers, 3000 + PENDING_LINGER_MS);
    assert_null(FIND(&f->table, "inv", PENDING_INVITE));
    assert_int_equal(f->table.used, 0);
    assert_int_equal(f->metrics.v[M_TIMEOUT_TRANSACTION], 1);
}

static void invite_non_2xx_lingers_only_briefly(void **state)
{
    struct fixture *f = *state;
    struct pending *p = ADD(&f->table, "inv", PENDING_INVITE, 1000);
    pending_on_response(&f->table, p, 486, 2000);
    assert_int_equal(f->table.open, 0);
    timer_run(&f->timers, 2000 + PENDING_NON2XX_LINGER_MS - 1);
    assert_non_null(FIND(&f->table, "inv", PENDING_INVITE)); /* its ACK, a late duplicate */
    pending_on_response(&f->table, p, 486, 3000);            /* a duplicate does not extend */
    timer_run(&f->timers, 2000 + PENDING_NON2XX_LINGER_MS);
    assert_null(FIND(&f->table, "inv", PENDING_INVITE));
    assert_true(PENDING_NON2XX_LINGER_MS < PENDING_LINGER_MS / 4);
    assert_int_equal(f->table.used, 0);
}

static void invite_2xx_after_non_2xx_keeps_the_long_linger(void **state)
{
    struct fixture *f = *state;
    struct pending *p = ADD(&f->table, "inv", PENDING_INVITE, 0);
    pending_on_response(&f->table, p, 200, 1000);
    pending_on_response(&f->table, p, 486, 2000); /* a stray non-2xx cannot shorten it */
    timer_run(&f->timers, 1000 + PENDING_LINGER_MS - 1);
    assert_non_null(FIND(&f->table, "inv", PENDING_INVITE));
    timer_run(&f->timers, 1000 + PENDING_LINGER_MS);
    assert_null(FIND(&f->table, "inv", PENDING_INVITE));
}

static void udp_server_transactions_linger_64_t1(void **state)
{
    struct fixture *f = *state;
    struct buf_pool pool;
    buf_pool_init(&pool, 64, 4);
    f->table.keep = &pool;
    struct pending *opt = ADD(&f->table, "opt", PENDING_OTHER, 0);
    struct pending *inv = ADD(&f->table, "inv", PENDING_INVITE, 0);
    opt->unreliable = inv->unreliable = true;
    assert_true(buf_queue_append(&opt->last, &pool, "SIP/2.0 200 OK", 14));
    assert_true(buf_queue_append(&inv->last, &pool, "SIP/2.0 486 Busy", 16));
    pending_on_response(&f->table, opt, 200, 1000); /* Timer J, not removed */
    pending_on_response(&f->table, inv, 486, 1000); /* Timer H, not T4 */
    assert_int_equal(f->table.open, 0);
    timer_run(&f->timers, 1000 + PENDING_UDP_LINGER_MS - 1);
    assert_non_null(FIND(&f->table, "opt", PENDING_OTHER));
    assert_non_null(FIND(&f->table, "inv", PENDING_INVITE));
    assert_int_equal(pool.in_use, 2);
    timer_run(&f->timers, 1000 + PENDING_UDP_LINGER_MS);
    assert_int_equal(f->table.used, 0);
    assert_int_equal(pool.in_use, 0); /* the kept responses went back */
    f->table.keep = NULL;
    buf_pool_free(&pool);
}

static void non_invite_ends_with_its_final_response(void **state)
{
    struct fixture *f = *state;
    struct pending *p = ADD(&f->table, "opt", PENDING_OTHER, 0);
    struct pending *c = ADD(&f->table, "inv", PENDING_CANCEL, 0);
    pending_on_response(&f->table, p, 100, 10);
    assert_non_null(FIND(&f->table, "opt", PENDING_OTHER)); /* provisional: still open */
    pending_on_response(&f->table, p, 404, 20);
    pending_on_response(&f->table, c, 200, 20);
    assert_null(FIND(&f->table, "opt", PENDING_OTHER)); /* Timer K = 0 on TCP/TLS */
    assert_null(FIND(&f->table, "inv", PENDING_CANCEL));
    assert_int_equal(f->table.used, 0);
    assert_int_equal(f->table.open, 0);
    assert_int_equal(f->timers.count, 0);
}

static void unanswered_transactions_are_bounded(void **state)
{
    struct fixture *f = *state;
    ADD(&f->table, "opt", PENDING_OTHER, 0);
    struct pending *inv = ADD(&f->table, "inv", PENDING_INVITE, 0);
    timer_run(&f->timers, PENDING_NON_INVITE_MS);
    assert_null(FIND(&f->table, "opt", PENDING_OTHER)); /* Timer F */
    assert_non_null(FIND(&f->table, "inv", PENDING_INVITE));
    /* A provisional restarts Timer C. */
    pending_on_response(&f->table, inv, 183, 100000);
    timer_run(&f->timers, PENDING_INVITE_MS + 1000);
    assert_non_null(FIND(&f->table, "inv", PENDING_INVITE));
    timer_run(&f->timers, 100000 + PENDING_INVITE_MS);
    assert_null(FIND(&f->table, "inv", PENDING_INVITE));
    assert_int_equal(f->table.open, 0);
}

/* Each connection slot lists its entries in the order they were linked;
 * moving, unlinking and removing keep every list whole, and a removed
 * entry gives what it kept back to the pool. */
static void connection_lists_keep_order_and_return_kept_blocks(void **state)
{
    struct fixture *f = *state;
    assert_true(pending_table_track(&f->table, 4, 8));
    struct pending *a = ADD(&f->table, "a", PENDING_OTHER, 0);
    struct pending *b = ADD(&f->table, "b", PENDING_OTHER, 0);
    struct pending *c = ADD(&f->table, "c", PENDING_INVITE, 0);
    pending_link(&f->table, a, 1);
    pending_link(&f->table, b, 1);
    pending_link(&f->table, c, 1);
    assert_ptr_equal(pending_first_on(&f->table, 1), a);
    assert_ptr_equal(pending_next_on(&f->table, a), b);
    assert_ptr_equal(pending_next_on(&f->table, b), c);
    assert_null(pending_next_on(&f->table, c));
    /* Off the middle, then to another slot's end: the rest stays linked. */
    pending_link(&f->table, b, 2);
    assert_ptr_equal(pending_next_on(&f->table, a), c);
    assert_ptr_equal(pending_first_on(&f->table, 2), b);
    /* The tail moved away: appending still lands at the end. */
    pending_link(&f->table, c, 0);
    pending_link(&f->table, c, 1);
    assert_ptr_equal(pending_next_on(&f->table, a), c);
    assert_true(buf_queue_append(&a->kept, &f->table.kept_pool, "head", 4));
    assert_int_equal(f->table.kept_pool.in_use, 1);
    pending_remove(&f->table, a);
    assert_int_equal(f->table.kept_pool.in_use, 0);
    assert_ptr_equal(pending_first_on(&f->table, 1), c);
    pending_remove(&f->table, c);
    assert_null(pending_first_on(&f->table, 1));
    assert_null(pending_first_on(&f->table, 5)); /* past the slots: no list */
}

/* Timer F entries share one heap timer and expire in arrival order: the
 * oldest removed early does not expire the others early, a retransmission
 * starts its Timer F again, an INVITE keeps its own timer, and the shared
 * timer is gone once nothing waits. */
static void timer_f_expires_in_arrival_order(void **state)
{
    struct fixture *f = *state;
    struct pending *a = ADD(&f->table, "a", PENDING_OTHER, 0);
    ADD(&f->table, "b", PENDING_OTHER, 100);
    ADD(&f->table, "c", PENDING_CANCEL, 200);
    ADD(&f->table, "i", PENDING_INVITE, 300);
    assert_int_equal(f->timers.count, 2); /* Timer F's list, the INVITE */
    pending_remove(&f->table, a);
    ADD(&f->table, "b", PENDING_OTHER, 1000); /* retransmitted: Timer F anew */
    assert_int_equal(f->table.open, 3);
    timer_run(&f->timers, PENDING_NON_INVITE_MS + 150);
    assert_non_null(FIND(&f->table, "b", PENDING_OTHER));
    assert_non_null(FIND(&f->table, "c", PENDING_CANCEL));
    timer_run(&f->timers, PENDING_NON_INVITE_MS + 200);
    assert_null(FIND(&f->table, "c", PENDING_CANCEL));
    assert_non_null(FIND(&f->table, "b", PENDING_OTHER));
    assert_int_equal(f->metrics.v[M_TIMEOUT_TRANSACTION], 1);
    timer_run(&f->timers, PENDING_NON_INVITE_MS + 1000);
    assert_null(FIND(&f->table, "b", PENDING_OTHER));
    assert_int_equal(f->metrics.v[M_TIMEOUT_TRANSACTION], 2);
    assert_int_equal(f->timers.count, 1); /* only the INVITE's */
    assert_non_null(FIND(&f->table, "i", PENDING_INVITE));
    assert_int_equal(f->table.open, 1);
}

/* The hash grows by linear hashing with what it holds: buckets in use
 * never exceed max(64, entries) and never the table's bound, and every key
 * is found, and gone when removed, across every split (gated on neither). */
static void buckets_grow_with_the_entries(void **state)
{
    (void)state;
    enum { N = 5000 };
    struct timer_heap timers;
    struct metrics metrics = {0};
    struct pending_table t;
    assert_true(timer_heap_init(&timers, N));
    assert_true(pending_table_init(&t, N, &timers, &metrics));
    assert_int_equal(t.bucket_max, 8192);
    char b[32];
    for (int i = 0; i < N; i++) {
        snprintf(b, sizeof(b), "z9hG4bK-%d", i);
        assert_non_null(ADD(&t, b, i % 3 ? PENDING_OTHER : PENDING_INVITE, 0));
        uint32_t in_use = t.bucket_mask + 1 + t.split;
        assert_true(in_use <= (t.used > 64 ? t.used : 64));
        assert_true(in_use <= t.bucket_max);
    }
    assert_int_equal(t.bucket_mask + 1 + t.split, N);
    assert_null(ADD(&t, "one-too-many", PENDING_OTHER, 0));
    for (int i = 0; i < N; i += 2) {
        snprintf(b, sizeof(b), "z9hG4bK-%d", i);
        struct pending *p = FIND(&t, b, i % 3 ? PENDING_OTHER : PENDING_INVITE);
        assert_non_null(p);
        assert_memory_equal(p->branch, b, strlen(b));
        assert_null(FIND(&t, b, i % 3 ? PENDING_INVITE : PENDING_OTHER));
        pending_remove(&t, p);
    }
    for (int i = 0; i < N; i++) {
        snprintf(b, sizeof(b), "z9hG4bK-%d", i);
        struct pending *p = FIND(&t, b, i % 3 ? PENDING_OTHER : PENDING_INVITE);
        if (i % 2)
            assert_non_null(p);
        else
            assert_null(p);
    }
    assert_int_equal(t.used, N / 2);
    pending_table_free(&t);
    timer_heap_free(&timers);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(keyed_by_branch_and_method, setup, teardown),
        cmocka_unit_test_setup_teardown(bounded_and_refuses_bad_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(final_response_lingers_64_t1, setup, teardown),
        cmocka_unit_test_setup_teardown(invite_non_2xx_lingers_only_briefly, setup, teardown),
        cmocka_unit_test_setup_teardown(invite_2xx_after_non_2xx_keeps_the_long_linger, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(udp_server_transactions_linger_64_t1, setup, teardown),
        cmocka_unit_test_setup_teardown(non_invite_ends_with_its_final_response, setup, teardown),
        cmocka_unit_test_setup_teardown(unanswered_transactions_are_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(connection_lists_keep_order_and_return_kept_blocks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(timer_f_expires_in_arrival_order, setup, teardown),
        cmocka_unit_test(buckets_grow_with_the_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
