/* Units of the RFC 3263 resolver: RFC 2782 SRV selection, the TTL cache and
 * its bound, and the shortcuts that skip DNS (IP literal, explicit port). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "dns/dns.h"
#include "dns/dns_answer.h"
#include "dns/dns_cache.h"
#include "core/metrics.h"
#include "ops_loop.h"

static struct dns_srv srv(uint16_t priority, uint16_t weight, uint16_t port)
{
    return (struct dns_srv){.priority = priority, .weight = weight, .port = port};
}

/* Across priorities the order is strictly ascending, whatever the weights. */
static void srv_priority_order(void **state)
{
    const struct dns_srv set[] = {srv(30, 5, 1), srv(10, 0, 2), srv(20, 100, 3), srv(10, 50, 4),
                                  srv(20, 1, 5)};
    uint64_t rng = 42;
    for (int round = 0; round < 200; round++) {
        uint8_t order[5];
        dns_srv_order(set, 5, &rng, order);
        uint8_t seen = 0;
        for (int i = 0; i < 5; i++) {
            seen |= (uint8_t)(1u << order[i]);
            if (i > 0)
                assert_true(set[order[i - 1]].priority <= set[order[i]].priority);
        }
        assert_int_equal(seen, 0x1f); /* a permutation */
        assert_int_equal(set[order[4]].priority, 30);
    }
}

/* Within one priority, record i comes first with chance w_i / (sum + 1),
 * the first record in the running sum also taking r = 0 (RFC 2782). */
static void srv_weight_distribution(void **state)
{
    const struct dns_srv set[] = {srv(10, 10, 1), srv(10, 30, 2), srv(10, 60, 3)};
    uint64_t rng = 7;
    unsigned first[3] = {0};
    for (int round = 0; round < 1000; round++) {
        uint8_t order[3];
        dns_srv_order(set, 3, &rng, order);
        first[order[0]]++;
    }
    /* Expected 109, 297, 594 of 1000; +-45 is about three standard
     * deviations of the largest. */
    assert_in_range(first[0], 109 - 45, 109 + 45);
    assert_in_range(first[1], 297 - 45, 297 + 45);
    assert_in_range(first[2], 594 - 45, 594 + 45);
}

/* Weight 0 beside weighted records: "a very small chance" (1 in sum + 1);
 * a priority of only weight-0 records is drawn uniformly. */
static void srv_zero_weights(void **state)
{
    const struct dns_srv mixed[] = {srv(10, 100, 1), srv(10, 0, 2)};
    uint64_t rng = 99;
    unsigned zero_first = 0;
    for (int round = 0; round < 1000; round++) {
        uint8_t order[2];
        dns_srv_order(mixed, 2, &rng, order);
        zero_first += order[0] == 1;
    }
    assert_in_range(zero_first, 1, 30); /* expected 10 */

    const struct dns_srv zeros[] = {srv(5, 0, 1), srv(5, 0, 2), srv(5, 0, 3)};
    unsigned first[3] = {0};
    for (int round = 0; round < 1000; round++) {
        uint8_t order[3];
        dns_srv_order(zeros, 3, &rng, order);
        first[order[0]]++;
    }
    for (int i = 0; i < 3; i++)
        assert_in_range(first[i], 333 - 60, 333 + 60);
}

/* Targets come out per SRV record in selection order with that record's
 * port, and never more than the cap. */
static void answer_flattening(void **state)
{
    struct dns_answer a = {.n_srv = 2, .n_addr = 3};
    a.srv[0] = (struct dns_srv){.priority = 20, .port = 5071, .first_addr = 0, .n_addr = 1};
    a.srv[1] = (struct dns_srv){.priority = 10, .port = 5062, .first_addr = 1, .n_addr = 2};
    a.addrs[0] = (struct dns_addr){.family = AF_INET, .bytes = {192, 0, 2, 1}};
    a.addrs[1] = (struct dns_addr){.family = AF_INET6, .bytes = {[15] = 1}};
    a.addrs[2] = (struct dns_addr){.family = AF_INET, .bytes = {192, 0, 2, 3}};
    uint64_t rng = 1;
    struct dns_target t[DNS_MAX_TARGETS];
    assert_int_equal(dns_answer_targets(&a, &rng, t, DNS_MAX_TARGETS), 3);
    assert_int_equal(t[0].port, 5062);
    assert_int_equal(t[0].addr.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&t[0].addr)->sin6_port), 5062);
    assert_int_equal(t[1].port, 5062);
    assert_int_equal(t[1].addr.ss_family, AF_INET);
    assert_int_equal(t[2].port, 5071);
    assert_int_equal(ntohl(((struct sockaddr_in *)&t[2].addr)->sin_addr.s_addr), 0xc0000201);
    assert_int_equal(dns_answer_targets(&a, &rng, t, 2), 2);
}

static struct dns_answer one_addr(uint8_t last)
{
    struct dns_answer a = {.n_srv = 1, .n_addr = 1};
    a.srv[0] = (struct dns_srv){.port = 5061, .n_addr = 1};
    a.addrs[0] = (struct dns_addr){.family = AF_INET, .bytes = {192, 0, 2, last}};
    return a;
}

/* Entries live until their expiry, keys are (case-insensitive host, port),
 * and negative entries are kept like positive ones. */
static void cache_expiry(void **state)
{
    struct dns_cache c;
    assert_true(dns_cache_init(&c, 8));
    struct dns_answer a = one_addr(7);
    dns_cache_store(&c, "Peer.Example.COM", 0, DNS_OK, &a, 1000);
    dns_cache_store(&c, "gone.example.com", 0, DNS_ERR_NXDOMAIN, NULL, 500);
    const struct dns_cache_entry *e = dns_cache_lookup(&c, "peer.example.com", 0, 999);
    assert_non_null(e);
    assert_int_equal(e->status, DNS_OK);
    assert_int_equal(e->answer.addrs[0].bytes[3], 7);
    assert_null(dns_cache_lookup(&c, "peer.example.com", 5061, 999)); /* other port */
    e = dns_cache_lookup(&c, "GONE.example.com", 0, 499);
    assert_non_null(e);
    assert_int_equal(e->status, DNS_ERR_NXDOMAIN);
    assert_null(dns_cache_lookup(&c, "gone.example.com", 0, 500));
    assert_null(dns_cache_lookup(&c, "peer.example.com", 0, 1000));
    assert_int_equal(c.count, 0); /* expired entries were removed */
    dns_cache_free(&c);
}

/* The cache never holds more than its capacity; the least recently used
 * entry goes first, and a lookup counts as a use. */
static void cache_bound_lru(void **state)
{
    struct dns_cache c;
    assert_true(dns_cache_init(&c, 3));
    char host[32];
    for (uint8_t i = 0; i < 3; i++) {
        struct dns_answer a = one_addr(i);
        snprintf(host, sizeof(host), "h%u.example", i);
        dns_cache_store(&c, host, 0, DNS_OK, &a, 10000);
    }
    assert_non_null(dns_cache_lookup(&c, "h0.example", 0, 1)); /* h1 is now the oldest */
    struct dns_answer a = one_addr(9);
    dns_cache_store(&c, "h3.example", 0, DNS_OK, &a, 10000);
    assert_int_equal(c.count, 3);
    assert_null(dns_cache_lookup(&c, "h1.example", 0, 1));
    assert_non_null(dns_cache_lookup(&c, "h0.example", 0, 1));
    assert_non_null(dns_cache_lookup(&c, "h2.example", 0, 1));
    assert_non_null(dns_cache_lookup(&c, "h3.example", 0, 1));
    /* Replacing a key keeps one entry for it. */
    a = one_addr(10);
    dns_cache_store(&c, "H3.example", 0, DNS_OK, &a, 10000);
    assert_int_equal(c.count, 3);
    assert_int_equal(dns_cache_lookup(&c, "h3.example", 0, 1)->answer.addrs[0].bytes[3], 10);
    for (int i = 0; i < 1000; i++) { /* churn: still bounded and consistent */
        snprintf(host, sizeof(host), "churn%d.example", i);
        dns_cache_store(&c, host, (uint16_t)i, DNS_OK, &a, 10000);
        assert_int_equal(c.count, 3);
    }
    assert_non_null(dns_cache_lookup(&c, "churn999.example", 999, 1));
    assert_null(dns_cache_lookup(&c, "churn996.example", 996, 1));
    dns_cache_free(&c);
}

/* A UDP socket that never answers: the DNS server of the shortcut tests,
 * which must never reach it (or, for explicit ports, only for A/AAAA). */
static int silent_server(struct cfg_hostport *hp)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(in);
    assert_int_equal(bind(fd, (struct sockaddr *)&in, len), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&in, &len), 0);
    memset(hp, 0, sizeof(*hp));
    strcpy(hp->host, "127.0.0.1");
    hp->port = ntohs(in.sin_port);
    return fd;
}

static unsigned callbacks;
static void count_callback(void *ctx, const struct dns_result *res)
{
    callbacks++;
}

/* IP literals answer at once without a query: on the given port, else
 * 5061; bad names are refused at once. */
static void literal_shortcut(void **state)
{
    struct ops_loop l;
    ops_loop_init(&l);
    struct cfg_hostport server;
    int fd = silent_server(&server);
    struct metrics m = {0};
    struct dns_options o = {.servers = &server, .n_servers = 1, .tag_op = OPS_TAG_DNS};
    l.dns = dns_resolver_new(l.loop, &l.timers, &m, &o);
    assert_non_null(l.dns);
    struct dns_result res;
    struct dns_handle h;
    assert_int_equal(dns_resolve(l.dns, "192.0.2.9", 0, count_callback, NULL, &res, &h), DNS_DONE);
    assert_int_equal(res.status, DNS_OK);
    assert_int_equal(res.n_targets, 1);
    assert_int_equal(res.targets[0].port, 5061);
    assert_string_equal(res.domain, "192.0.2.9");
    assert_int_equal(dns_resolve(l.dns, "2001:db8::5", 5071, count_callback, NULL, &res, &h),
                     DNS_DONE);
    assert_int_equal(res.targets[0].addr.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&res.targets[0].addr)->sin6_port), 5071);
    assert_int_equal(dns_resolve(l.dns, "bad host!", 0, count_callback, NULL, &res, &h), DNS_DONE);
    assert_int_equal(res.status, DNS_ERR_BAD_NAME);
    assert_int_equal(dns_resolve(l.dns, "", 0, count_callback, NULL, &res, &h), DNS_DONE);
    assert_int_equal(res.status, DNS_ERR_BAD_NAME);
    for (int id = M_DNS_QUERY_NAPTR; id <= M_DNS_QUERY_ADDRESS; id++)
        assert_int_equal(m.v[id], 0);
    assert_int_equal(dns_pending(l.dns), 0);
    dns_resolver_free(l.dns);
    close(fd);
    ops_loop_free(&l);
}

/* An explicit port skips NAPTR and SRV: the one lookup is A/AAAA. Cancelled,
 * the resolution never calls back, even when its queries time out later. */
static void explicit_port_and_cancel(void **state)
{
    struct ops_loop l;
    ops_loop_init(&l);
    struct cfg_hostport server;
    int fd = silent_server(&server);
    struct metrics m = {0};
    struct dns_options o = {
        .servers = &server, .n_servers = 1, .tag_op = OPS_TAG_DNS, .timeout_ms = 100, .tries = 1};
    l.dns = dns_resolver_new(l.loop, &l.timers, &m, &o);
    struct dns_result res;
    struct dns_handle h;
    callbacks = 0;
    assert_int_equal(dns_resolve(l.dns, "peer.example.test", 5070, count_callback, NULL, &res, &h),
                     DNS_PENDING);
    assert_int_equal(m.v[M_DNS_QUERY_NAPTR], 0);
    assert_int_equal(m.v[M_DNS_QUERY_SRV], 0);
    assert_int_equal(m.v[M_DNS_QUERY_ADDRESS], 1);
    dns_cancel(l.dns, h);
    dns_cancel(l.dns, h); /* twice is harmless */
    assert_true(ops_loop_run_while_pending(&l, 10000));
    assert_int_equal(callbacks, 0);
    assert_int_equal(m.v[M_DNS_FAIL_TIMEOUT], 1);
    dns_cancel(l.dns, h); /* stale: the slot may be reused */
    dns_resolver_free(l.dns);
    close(fd);
    ops_loop_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(srv_priority_order), cmocka_unit_test(srv_weight_distribution),
        cmocka_unit_test(srv_zero_weights),   cmocka_unit_test(answer_flattening),
        cmocka_unit_test(cache_expiry),       cmocka_unit_test(cache_bound_lru),
        cmocka_unit_test(literal_shortcut),   cmocka_unit_test(explicit_port_and_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
