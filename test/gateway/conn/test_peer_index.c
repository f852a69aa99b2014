/* Unit tests of gateway/peer_index, the index that lets one worker route to
 * another worker's TLS connection: rows follow publish / open / remove, a
 * lookup applies conn_index_find's rule (open: the certificate proves the
 * domain, R-5923-11/-20/-27; dialling: the domain it is dialled for) and
 * never returns the asking worker's own rows, and a miss explains itself
 * like conn_index_miss. Real certificates from test/certs/gen.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "conn/conn.h"
#include "conn_key_support.h"
#include "conn/peer_index.h"
#include "pki_cert.h"
#include "tls/identities.h"
#include "tls_test_support.h"

static const struct conn_ref REF_A = {.slot = 3, .gen = 7};
static const struct conn_ref REF_B = {.slot = 4, .gen = 1};

static void open_row_matches_proven_identities_of_other_workers(void **state)
{
    struct peer_index *pi = peer_index_new(16);
    assert_non_null(pi);
    struct conn_key k = conn_key_of_ipv4("127.0.0.3", 5061);
    struct tls_identities *b = pki_identities_load("gw-b"); /* sip:b.test */
    assert_true(peer_index_publish(pi, &k, 1, REF_A, CONN_TLS_IN, "", b, true, 0));
    tls_identities_unref(b); /* the row holds its own reference */
    assert_int_equal(peer_index_rows(pi), 1);

    struct peer_hit hit;
    assert_true(peer_index_find(pi, &k, "B.test", 0, 0, &hit));
    assert_int_equal(hit.worker, 1);
    assert_int_equal(hit.kind, CONN_TLS_IN);
    assert_true(conn_ref_eq(hit.ref, REF_A));
    assert_true(conn_key_eq(&hit.key, &k));
    /* R-5923-27: the address alone is not enough. */
    assert_false(peer_index_find(pi, &k, "a.test", 0, 0, &hit));
    assert_int_equal(peer_index_miss(pi, &k, "", 0, 0), REUSE_IDENTITY_MISMATCH);
    /* Nor is the peer's identity: the row carries our identity 0, never a
     * request of our identity 1 (RFC 5923 9.3 on our side). */
    assert_false(peer_index_find(pi, &k, "b.test", 1, 0, &hit));
    assert_int_equal(peer_index_miss(pi, &k, "b.test", 1, 0), REUSE_IDENTITY_OURS_MISMATCH);
    /* Other port, same address: another key. */
    struct conn_key other = conn_key_of_ipv4("127.0.0.3", 5062);
    assert_false(peer_index_find(pi, &other, "b.test", 0, 0, &hit));
    assert_int_equal(peer_index_miss(pi, &other, "", 0, 0), REUSE_NO_ROW);
    /* The asking worker's own rows are its own index's business. */
    assert_false(peer_index_find(pi, &k, "b.test", 0, 1, &hit));
    assert_int_equal(peer_index_miss(pi, &k, "", 0, 1), REUSE_NO_ROW);
    peer_index_free(pi);
}

static void dialling_row_matches_its_domain_until_opened(void **state)
{
    struct peer_index *pi = peer_index_new(16);
    struct conn_key k = conn_key_of_ipv4("127.0.0.3", 5061);
    assert_true(peer_index_publish(pi, &k, 2, REF_B, CONN_TLS_OUT, "b.test", NULL, false, 0));
    struct peer_hit hit;
    assert_true(peer_index_find(pi, &k, "b.test", 0, 0, &hit));
    assert_int_equal(hit.kind, CONN_TLS_OUT);
    assert_false(peer_index_find(pi, &k, "b.virt.test", 0, 0, &hit));
    /* Open with what the certificate proved: now identities decide. */
    struct tls_identities *v = pki_identities_load("virtual"); /* a.virt.test, b.virt.test */
    peer_index_opened(pi, &k, 2, REF_B, v);
    tls_identities_unref(v);
    assert_false(peer_index_find(pi, &k, "b.test", 0, 0, &hit));
    assert_true(peer_index_find(pi, &k, "b.virt.test", 0, 0, &hit));
    /* opened for a ref that has no row changes nothing */
    peer_index_opened(pi, &k, 2, REF_A, NULL);
    assert_true(peer_index_find(pi, &k, "a.virt.test", 0, 0, &hit));
    /* An inbound row being dialled is impossible; a non-open inbound row
     * never matches by domain. */
    assert_true(peer_index_publish(pi, &k, 3, REF_A, CONN_TLS_IN, "x.test", NULL, false, 0));
    assert_false(peer_index_find(pi, &k, "x.test", 0, 0, &hit));
    peer_index_free(pi);
}

static void remove_drops_only_that_connections_row(void **state)
{
    struct peer_index *pi = peer_index_new(16);
    struct conn_key k = conn_key_of_ipv4("127.0.0.3", 5061);
    struct tls_identities *b = pki_identities_load("gw-b");
    assert_true(peer_index_publish(pi, &k, 1, REF_A, CONN_TLS_IN, "", b, true, 0));
    assert_true(peer_index_publish(pi, &k, 2, REF_A, CONN_TLS_IN, "", b, true, 0));
    tls_identities_unref(b);
    struct peer_hit hits[4];
    assert_int_equal(peer_index_inbound(pi, &k, 0, hits, 4), 2);
    assert_int_equal(peer_index_inbound(pi, &k, 2, hits, 4), 1);
    assert_int_equal(hits[0].worker, 1);
    /* Same slot and generation on another worker is another connection. */
    peer_index_remove(pi, &k, 2, REF_A);
    assert_int_equal(peer_index_rows(pi), 1);
    struct peer_hit hit;
    assert_true(peer_index_find(pi, &k, "b.test", 0, 0, &hit));
    assert_int_equal(hit.worker, 1);
    /* A stale generation removes nothing. */
    peer_index_remove(pi, &k, 1, (struct conn_ref){.slot = REF_A.slot, .gen = REF_A.gen + 1});
    assert_int_equal(peer_index_rows(pi), 1);
    peer_index_remove(pi, &k, 1, REF_A);
    assert_int_equal(peer_index_rows(pi), 0);
    assert_false(peer_index_find(pi, &k, "b.test", 0, 0, &hit));
    assert_int_equal(peer_index_miss(pi, &k, "", 0, 0), REUSE_NO_ROW);
    peer_index_free(pi);
}

static void newest_row_wins_and_the_index_is_bounded(void **state)
{
    struct peer_index *pi = peer_index_new(2);
    struct conn_key k = conn_key_of_ipv4("127.0.0.3", 5061);
    struct tls_identities *b = pki_identities_load("gw-b");
    assert_true(peer_index_publish(pi, &k, 1, REF_A, CONN_TLS_IN, "", b, true, 0));
    assert_true(peer_index_publish(pi, &k, 2, REF_B, CONN_TLS_IN, "", b, true, 0));
    /* A newer alias for the key is found first (docs/design.md server role). */
    struct peer_hit hit;
    assert_true(peer_index_find(pi, &k, "b.test", 0, 0, &hit));
    assert_int_equal(hit.worker, 2);
    /* Full: refused, nothing changed. */
    assert_false(peer_index_publish(pi, &k, 3, REF_A, CONN_TLS_IN, "", b, true, 0));
    assert_int_equal(peer_index_rows(pi), 2);
    peer_index_remove(pi, &k, 2, REF_B);
    assert_true(peer_index_publish(pi, &k, 3, REF_A, CONN_TLS_IN, "", b, true, 0));
    tls_identities_unref(b);
    peer_index_free(pi); /* frees rows and their identity references */
}

/* The per-worker index mirrors itself into the shared one: every change
 * conn.c makes is seen there. */
static void conn_table_keeps_the_shared_index_in_step(void **state)
{
    struct peer_index *pi = peer_index_new(16);
    struct conn_table t;
    assert_true(conn_table_init(&t, 4));
    t.shared = pi;
    t.worker_id = 1;
    struct conn_key k = conn_key_of_ipv4("127.0.0.3", 5061);
    struct conn *c = conn_alloc(&t, CONN_TLS_OUT);
    c->state = CONN_HANDSHAKE;
    snprintf(c->domain, sizeof(c->domain), "b.test");
    conn_index_set(&t, c, &k);
    struct peer_hit hit;
    assert_true(peer_index_find(pi, &k, "b.test", 0, 0, &hit));
    assert_true(conn_ref_eq(hit.ref, conn_ref_of(&t, c)));
    c->state = CONN_OPEN;
    c->ids = pki_identities_load("virtual");
    conn_index_opened(&t, c);
    assert_false(peer_index_find(pi, &k, "b.test", 0, 0, &hit));
    assert_true(peer_index_find(pi, &k, "a.virt.test", 0, 0, &hit));
    conn_index_remove(&t, c);
    assert_int_equal(peer_index_rows(pi), 0);
    conn_index_set(&t, c, &k);
    assert_int_equal(peer_index_rows(pi), 1);
    tls_identities_unref(c->ids);
    conn_release(&t, c); /* releasing unindexes */
    assert_int_equal(peer_index_rows(pi), 0);
    conn_table_free(&t);
    peer_index_free(pi);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(open_row_matches_proven_identities_of_other_workers),
        cmocka_unit_test(dialling_row_matches_its_domain_until_opened),
        cmocka_unit_test(remove_drops_only_that_connections_row),
        cmocka_unit_test(newest_row_wins_and_the_index_is_bounded),
        cmocka_unit_test(conn_table_keeps_the_shared_index_in_step),
    };
    return cmocka_run_group_tests(tests, pki_group_setup, pki_group_teardown);
}
