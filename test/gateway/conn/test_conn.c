/* Unit tests of gateway/conn: generation-checked references (a recycled
 * slot never answers to an old ref, docs/design.md "never a bare fd") and the
 * routing index: a connection carries a request for a domain only when its
 * verified identities contain that domain (R-5923-11, -20, -27), on real
 * certificates from test/certs/gen.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "conn/conn.h"
#include "conn/conn_key.h"
#include "conn_key_support.h"
#include "pki_cert.h"
#include "tls/identities.h"
#include "tls_test_support.h"

static void stale_refs_resolve_to_null(void **state)
{
    struct conn_table t;
    assert_true(conn_table_init(&t, 2));
    struct conn *a = conn_alloc(&t, CONN_EGRESS);
    struct conn *b = conn_alloc(&t, CONN_EGRESS);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(conn_alloc(&t, CONN_EGRESS)); /* limits.max_connections */
    struct conn_ref ra = conn_ref_of(&t, a);
    assert_ptr_equal(conn_get(&t, ra), a);
    conn_release(&t, a);
    assert_null(conn_get(&t, ra));
    struct conn *c = conn_alloc(&t, CONN_MIRROR); /* reuses a's slot */
    assert_ptr_equal(c, a);
    assert_null(conn_get(&t, ra)); /* the old ref stays stale */
    assert_ptr_equal(conn_get(&t, conn_ref_of(&t, c)), c);
    assert_null(conn_get(&t, (struct conn_ref){0}));
    conn_table_free(&t);
}

static void index_matches_identities_not_just_address(void **state)
{
    struct conn_table t;
    assert_true(conn_table_init(&t, 8));
    struct conn_key k = conn_key_of_ipv4("127.0.0.3", 5061);
    struct conn *b = conn_alloc(&t, CONN_TLS_OUT);
    b->state = CONN_OPEN;
    b->ids = pki_identities_load("gw-b"); /* sip:b.test */
    conn_index_set(&t, b, &k);
    struct conn *v = conn_alloc(&t, CONN_TLS_OUT);
    v->state = CONN_OPEN;
    v->ids = pki_identities_load("virtual"); /* sip:a.virt.test, sip:b.virt.test */
    conn_index_set(&t, v, &k);

    assert_ptr_equal(conn_index_find(&t, &k, "b.test", 0), b);
    assert_ptr_equal(conn_index_find(&t, &k, "B.TEST", 0), b); /* case-insensitive */
    assert_ptr_equal(conn_index_find(&t, &k, "a.virt.test", 0), v);
    assert_ptr_equal(conn_index_find(&t, &k, "b.virt.test", 0), v);
    /* R-5923-27: same address, domain nobody proved: no reuse. */
    assert_null(conn_index_find(&t, &k, "c.test", 0));
    assert_null(conn_index_find(&t, &k, "test", 0)); /* no suffix match */
    /* Other port, same identities: no reuse (R-5923-11 (a)). */
    struct conn_key k2 = conn_key_of_ipv4("127.0.0.3", 5062);
    assert_null(conn_index_find(&t, &k2, "b.test", 0));

    /* A peer that sent close_notify takes no new transactions (R-5923-23). */
    b->peer_closed = true;
    assert_null(conn_index_find(&t, &k, "b.test", 0));
    b->peer_closed = false;
    /* Released connections leave the index. */
    conn_release(&t, b);
    assert_null(conn_index_find(&t, &k, "b.test", 0));
    assert_ptr_equal(conn_index_find(&t, &k, "b.virt.test", 0), v);
    tls_identities_unref(b->ids);
    tls_identities_unref(v->ids);
    conn_table_free(&t);
}

static void dialling_connection_matches_only_its_domain(void **state)
{
    struct conn_table t;
    assert_true(conn_table_init(&t, 4));
    struct conn_key k = conn_key_of_ipv4("127.0.0.3", 5061);
    struct conn *c = conn_alloc(&t, CONN_TLS_OUT);
    snprintf(c->domain, sizeof(c->domain), "b.test");
    conn_index_set(&t, c, &k);
    assert_ptr_equal(conn_index_find(&t, &k, "b.test", 0), c); /* join the dial */
    assert_null(conn_index_find(&t, &k, "b.virt.test", 0));
    c->state = CONN_HANDSHAKE;
    assert_ptr_equal(conn_index_find(&t, &k, "b.test", 0), c);
    c->state = CONN_CLOSING;
    assert_null(conn_index_find(&t, &k, "b.test", 0));
    /* An open connection with no proven identity (certless client) never
     * matches anything. */
    c->state = CONN_OPEN;
    assert_null(conn_index_find(&t, &k, "b.test", 0));
    conn_table_free(&t);
}

static void per_peer_counts_every_port_of_one_address(void **state)
{
    struct conn_table t;
    assert_true(conn_table_init(&t, 8));
    struct conn *c[4];
    const char *ips[4] = {"10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.1"};
    for (int i = 0; i < 4; i++) {
        c[i] = conn_alloc(&t, CONN_TLS_IN);
        struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(40000 + i))};
        inet_pton(AF_INET, ips[i], &in.sin_addr);
        memcpy(&c[i]->peer, &in, sizeof(in));
        conn_peer_track(&t, c[i]);
    }
    struct sockaddr_in probe = {.sin_family = AF_INET, .sin_port = htons(1)};
    inet_pton(AF_INET, "10.0.0.1", &probe.sin_addr);
    assert_int_equal(conn_peer_count(&t, (struct sockaddr *)&probe), 3);
    conn_release(&t, c[1]);
    assert_int_equal(conn_peer_count(&t, (struct sockaddr *)&probe), 2);
    conn_peer_untrack(&t, c[0]);
    conn_peer_untrack(&t, c[0]); /* twice is harmless */
    assert_int_equal(conn_peer_count(&t, (struct sockaddr *)&probe), 1);
    inet_pton(AF_INET, "10.0.0.2", &probe.sin_addr);
    assert_int_equal(conn_peer_count(&t, (struct sockaddr *)&probe), 1);
    inet_pton(AF_INET, "10.0.0.3", &probe.sin_addr);
    assert_int_equal(conn_peer_count(&t, (struct sockaddr *)&probe), 0);
    conn_table_free(&t);
}

static void keys_format_as_address_and_port(void **state)
{
    (void)state;
    char text[64];
    struct conn_key k = conn_key_of_ipv4("127.0.0.3", 5061);
    assert_true(conn_key_format(&k, text, sizeof(text)));
    assert_string_equal(text, "127.0.0.3:5061");
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons(5062)};
    inet_pton(AF_INET6, "::1", &v6.sin6_addr);
    assert_true(conn_key_from_sockaddr(&k, (struct sockaddr *)&v6, 0));
    assert_true(conn_key_format(&k, text, sizeof(text)));
    assert_string_equal(text, "[::1]:5062");
    assert_false(conn_key_format(&k, text, 6)); /* too small: nothing half written */
    assert_string_equal(text, "");
    struct conn_key none = {0};
    assert_false(conn_key_format(&none, text, sizeof(text)));
    assert_string_equal(text, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stale_refs_resolve_to_null),
        cmocka_unit_test(index_matches_identities_not_just_address),
        cmocka_unit_test(dialling_connection_matches_only_its_domain),
        cmocka_unit_test(per_peer_counts_every_port_of_one_address),
        cmocka_unit_test(keys_format_as_address_and_port),
    };
    return cmocka_run_group_tests(tests, pki_group_setup, pki_group_teardown);
}
