/* The RFC 3263 resolver against a real dnsmasq on a loopback address, driven
 * by a real gateway loop: NAPTR -> SRV -> A chains, SRV failover order,
 * weight distribution over 1,000 resolutions, AAAA, NXDOMAIN, the explicit
 * port, cancellation, and a dead server that times out instead of hanging
 * (R-5923-10: the SRV port is the target port; R-5923-28: SRV spreading is
 * preserved). */
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
#include "core/metrics.h"
#include "ops_loop.h"

static const char *const records[] = {
    /* NAPTR: a SIP+D2T record with a better order must be skipped for TLS;
     * of the two SIPS+D2T ones the lower order wins. */
    "--naptr-record=naptr.test,5,50,s,SIP+D2T,,_sip._tcp.plain.test",
    "--naptr-record=naptr.test,20,50,s,SIPS+D2T,,_sips._tcp.second.test",
    "--naptr-record=naptr.test,10,50,s,SIPS+D2T,,_sips._tcp.backend.test",
    "--srv-host=_sip._tcp.plain.test,plain.test,5060,0,0",
    "--srv-host=_sips._tcp.backend.test,b1.test,5071,10,100",
    "--srv-host=_sips._tcp.second.test,b2.test,5072,10,100",
    "--host-record=plain.test,127.0.0.20",
    "--host-record=b1.test,127.0.0.21",
    "--host-record=b2.test,127.0.0.22",
    /* Failover: three priorities, the middle one with two records. */
    "--srv-host=_sips._tcp.fo.test,p3.fo.test,5063,30,10",
    "--srv-host=_sips._tcp.fo.test,p1.fo.test,5061,10,10",
    "--srv-host=_sips._tcp.fo.test,p2a.fo.test,5062,20,10",
    "--srv-host=_sips._tcp.fo.test,p2b.fo.test,5062,20,10",
    "--host-record=p1.fo.test,127.0.0.31",
    "--host-record=p2a.fo.test,127.0.0.32",
    "--host-record=p2b.fo.test,127.0.0.33",
    "--host-record=p3.fo.test,127.0.0.34",
    "--host-record=fo.test,127.0.0.30",
    /* Weights 10/30/60 in one priority. */
    "--srv-host=_sips._tcp.w.test,w1.test,5061,10,10",
    "--srv-host=_sips._tcp.w.test,w2.test,5061,10,30",
    "--srv-host=_sips._tcp.w.test,w3.test,5061,10,60",
    "--host-record=w1.test,127.0.0.41",
    "--host-record=w2.test,127.0.0.42",
    "--host-record=w3.test,127.0.0.43",
    /* No NAPTR, no SRV: A and AAAA of the host on 5061. */
    "--host-record=dual.test,127.0.0.51,::1",
    "--host-record=v6only.test,::1",
    /* An SRV record whose target does not exist. */
    "--srv-host=_sips._tcp.badtarget.test,missing.test,5061,10,10",
    NULL,
};

struct fixture {
    struct ops_loop l;
    struct dnsmasq_server dns;
    struct metrics m;
};

static struct fixture fx;

static int setup(void **state)
{
    if (!dnsmasq_start(&fx.dns, 300, records)) {
        fprintf(stderr, "cannot start dnsmasq\n");
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    dnsmasq_stop(&fx.dns);
    return 0;
}

/* Each test gets a fresh resolver (empty cache) on the shared dnsmasq. */
static int resolver_up(void **state)
{
    ops_loop_init(&fx.l);
    memset(&fx.m, 0, sizeof(fx.m));
    struct cfg_hostport server = {.port = fx.dns.port};
    snprintf(server.host, sizeof(server.host), "%s", fx.dns.addr);
    struct dns_options o = {.servers = &server,
                            .n_servers = 1,
                            .tag_op = OPS_TAG_DNS,
                            .timeout_ms = 2000,
                            .tries = 3,
                            .seed = 12345};
    fx.l.dns = dns_resolver_new(fx.l.loop, &fx.l.timers, &fx.m, &o);
    return fx.l.dns ? 0 : -1;
}

static int resolver_down(void **state)
{
    dns_resolver_free(fx.l.dns);
    ops_loop_free(&fx.l);
    return 0;
}

struct answer {
    bool done;
    unsigned calls;
    struct dns_result res;
};

static void on_result(void *ctx, const struct dns_result *res)
{
    struct answer *a = ctx;
    a->calls++;
    a->done = true;
    a->res = *res;
}

/* resolve_on runs one resolution to its end through loop |l|. */
static void resolve_on(struct ops_loop *l, const char *host, uint16_t port, struct answer *a)
{
    memset(a, 0, sizeof(*a));
    struct dns_handle h;
    if (dns_resolve(l->dns, host, port, on_result, a, &a->res, &h) == DNS_DONE) {
        a->done = true;
        return;
    }
    assert_true(ops_loop_run(l, &a->done, 20000));
    assert_int_equal(a->calls, 1);
}

/* resolve runs one resolution on the shared fixture's resolver. */
static void resolve(const char *host, uint16_t port, struct answer *a)
{
    resolve_on(&fx.l, host, port, a);
}

static void assert_target(const struct dns_target *t, const char *addr, uint16_t port)
{
    char text[INET6_ADDRSTRLEN];
    if (t->addr.ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&t->addr)->sin_addr, text, sizeof(text));
    else
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&t->addr)->sin6_addr, text,
                  sizeof(text));
    assert_string_equal(text, addr);
    assert_int_equal(t->port, port);
}

static void naptr_srv_a_chain(void **state)
{
    struct answer a;
    resolve("naptr.test", 0, &a);
    assert_int_equal(a.res.status, DNS_OK);
    assert_string_equal(a.res.domain, "naptr.test");
    assert_int_equal(a.res.n_targets, 1);
    assert_target(&a.res.targets[0], "127.0.0.21", 5071);
    assert_int_equal(fx.m.v[M_DNS_QUERY_NAPTR], 1);
    assert_int_equal(fx.m.v[M_DNS_QUERY_SRV], 1);
    assert_int_equal(fx.m.v[M_DNS_QUERY_ADDRESS], 1);
    /* Second time from the cache, no query. */
    resolve("NAPTR.test", 0, &a);
    assert_true(a.res.from_cache);
    assert_target(&a.res.targets[0], "127.0.0.21", 5071);
    assert_int_equal(fx.m.v[M_DNS_QUERY_NAPTR], 1);
    assert_int_equal(fx.m.v[M_DNS_CACHE_HIT], 1);
}

static void srv_failover_order(void **state)
{
    for (int round = 0; round < 20; round++) {
        struct answer a;
        resolve("fo.test", 0, &a);
        assert_int_equal(a.res.status, DNS_OK);
        assert_int_equal(a.res.n_targets, 4);
        assert_target(&a.res.targets[0], "127.0.0.31", 5061);
        assert_int_equal(a.res.targets[1].port, 5062);
        assert_int_equal(a.res.targets[2].port, 5062);
        assert_target(&a.res.targets[3], "127.0.0.34", 5063);
    }
    /* NAPTR was absent: the chain went NAPTR, SRV, then one lookup per
     * target, once; the other rounds came from the cache. */
    assert_int_equal(fx.m.v[M_DNS_QUERY_SRV], 1);
    assert_int_equal(fx.m.v[M_DNS_QUERY_ADDRESS], 4);
}

static void weight_distribution(void **state)
{
    unsigned first[3] = {0};
    for (int round = 0; round < 1000; round++) {
        struct answer a;
        resolve("w.test", 0, &a);
        assert_int_equal(a.res.status, DNS_OK);
        assert_int_equal(a.res.n_targets, 3);
        const struct sockaddr_in *in = (const struct sockaddr_in *)&a.res.targets[0].addr;
        unsigned last = ntohl(in->sin_addr.s_addr) & 0xff;
        assert_in_range(last, 41, 43);
        first[last - 41]++;
    }
    /* Expected 109 / 297 / 594 (w / (sum + 1), r = 0 to the first). */
    assert_in_range(first[0], 109 - 45, 109 + 45);
    assert_in_range(first[1], 297 - 45, 297 + 45);
    assert_in_range(first[2], 594 - 45, 594 + 45);
}

static void a_and_aaaa(void **state)
{
    struct answer a;
    resolve("dual.test", 0, &a);
    assert_int_equal(a.res.status, DNS_OK);
    assert_int_equal(a.res.n_targets, 2);
    bool v4 = false, v6 = false;
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(a.res.targets[i].port, 5061);
        v4 |= a.res.targets[i].addr.ss_family == AF_INET;
        v6 |= a.res.targets[i].addr.ss_family == AF_INET6;
    }
    assert_true(v4 && v6);
    resolve("v6only.test", 0, &a);
    assert_int_equal(a.res.status, DNS_OK);
    assert_int_equal(a.res.n_targets, 1);
    assert_target(&a.res.targets[0], "::1", 5061);
}

static void explicit_port_skips_srv(void **state)
{
    struct answer a;
    resolve("fo.test", 5099, &a);
    assert_int_equal(a.res.status, DNS_OK);
    assert_int_equal(a.res.n_targets, 1);
    assert_target(&a.res.targets[0], "127.0.0.30", 5099);
    assert_int_equal(fx.m.v[M_DNS_QUERY_NAPTR], 0);
    assert_int_equal(fx.m.v[M_DNS_QUERY_SRV], 0);
}

static void nxdomain_is_cached(void **state)
{
    struct answer a;
    resolve("nowhere.test", 0, &a);
    assert_int_equal(a.res.status, DNS_ERR_NXDOMAIN);
    assert_int_equal(a.res.n_targets, 0);
    assert_int_equal(fx.m.v[M_DNS_FAIL_NXDOMAIN], 1);
    resolve("nowhere.test", 0, &a);
    assert_int_equal(a.res.status, DNS_ERR_NXDOMAIN);
    assert_true(a.res.from_cache);
    assert_int_equal(fx.m.v[M_DNS_QUERY_NAPTR], 1);
    /* With an explicit port the host lookup itself says NXDOMAIN. */
    resolve("nowhere.test", 5070, &a);
    assert_int_equal(a.res.status, DNS_ERR_NXDOMAIN);
    assert_false(a.res.from_cache);
    /* The domain exists, its only SRV target does not: no SIPS target. */
    resolve("badtarget.test", 0, &a);
    assert_int_equal(a.res.status, DNS_ERR_NODATA);
    assert_int_equal(fx.m.v[M_DNS_FAIL_NODATA], 1);
}

static void cancel_never_calls_back(void **state)
{
    struct answer a = {0};
    struct dns_handle h;
    assert_int_equal(dns_resolve(fx.l.dns, "naptr.test", 0, on_result, &a, &a.res, &h),
                     DNS_PENDING);
    dns_cancel(fx.l.dns, h);
    assert_true(ops_loop_run_while_pending(&fx.l, 20000));
    assert_int_equal(a.calls, 0);
    /* The abandoned resolution still filled the cache. */
    resolve("naptr.test", 0, &a);
    assert_true(a.res.from_cache);
    assert_target(&a.res.targets[0], "127.0.0.21", 5071);
}

/* A server that never answers: the resolution fails with a timeout within
 * timeout x tries (doubling per try in c-ares), never hangs. */
static void dead_server_times_out(void **state)
{
    struct ops_loop l;
    ops_loop_init(&l);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in in = {.sin_family = AF_INET};
    inet_pton(AF_INET, fx.dns.addr, &in.sin_addr);
    socklen_t len = sizeof(in);
    assert_int_equal(bind(fd, (struct sockaddr *)&in, len), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&in, &len), 0);
    struct cfg_hostport server = {.port = ntohs(in.sin_port)};
    snprintf(server.host, sizeof(server.host), "%s", fx.dns.addr);
    struct metrics m = {0};
    struct dns_options o = {
        .servers = &server, .n_servers = 1, .tag_op = OPS_TAG_DNS, .timeout_ms = 200, .tries = 2};
    l.dns = dns_resolver_new(l.loop, &l.timers, &m, &o);
    struct answer a = {0};
    struct dns_handle h;
    uint64_t start = timer_now_ms();
    assert_int_equal(dns_resolve(l.dns, "naptr.test", 0, on_result, &a, &a.res, &h), DNS_PENDING);
    assert_true(ops_loop_run(&l, &a.done, 20000));
    uint64_t took = timer_now_ms() - start;
    assert_int_equal(a.res.status, DNS_ERR_TIMEOUT);
    assert_int_equal(a.res.n_targets, 0);
    assert_true(took >= 200 && took < 5000);
    assert_int_equal(m.v[M_DNS_FAIL_TIMEOUT], 1);
    /* A timeout is not cached: the next try asks again. */
    memset(&a, 0, sizeof(a));
    assert_int_equal(dns_resolve(l.dns, "naptr.test", 0, on_result, &a, &a.res, &h), DNS_PENDING);
    dns_cancel(l.dns, h);
    dns_resolver_free(l.dns); /* with a query in flight: no callback, no leak */
    assert_int_equal(a.calls, 0);
    close(fd);
    ops_loop_free(&l);
}

/* The cache keeps an answer for its TTL, not longer: a second dnsmasq
 * answers with a TTL of one second. */
static void ttl_is_respected(void **state)
{
    static const char *const records_brief[] = {"--host-record=brief.test,127.0.0.61", NULL};
    struct dnsmasq_server brief;
    assert_true(dnsmasq_start(&brief, 1, records_brief));
    struct ops_loop l;
    ops_loop_init(&l);
    struct cfg_hostport server = {.port = brief.port};
    snprintf(server.host, sizeof(server.host), "%s", brief.addr);
    struct metrics m = {0};
    struct dns_options o = {.servers = &server, .n_servers = 1, .tag_op = OPS_TAG_DNS};
    l.dns = dns_resolver_new(l.loop, &l.timers, &m, &o);
    struct answer a;
    resolve_on(&l, "brief.test", 5061, &a);
    assert_int_equal(a.res.status, DNS_OK);
    assert_false(a.res.from_cache);
    resolve_on(&l, "brief.test", 5061, &a);
    assert_true(a.res.from_cache);
    /* Let the one-second TTL pass (time itself is what is tested here). */
    uint64_t until = timer_now_ms() + 1100;
    while (timer_now_ms() < until)
        usleep(50 * 1000);
    resolve_on(&l, "brief.test", 5061, &a);
    assert_int_equal(a.res.status, DNS_OK);
    assert_false(a.res.from_cache);
    assert_int_equal(m.v[M_DNS_QUERY_ADDRESS], 2);
    dns_resolver_free(l.dns);
    ops_loop_free(&l);
    dnsmasq_stop(&brief);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(naptr_srv_a_chain, resolver_up, resolver_down),
        cmocka_unit_test_setup_teardown(srv_failover_order, resolver_up, resolver_down),
        cmocka_unit_test_setup_teardown(weight_distribution, resolver_up, resolver_down),
        cmocka_unit_test_setup_teardown(a_and_aaaa, resolver_up, resolver_down),
        cmocka_unit_test_setup_teardown(explicit_port_skips_srv, resolver_up, resolver_down),
        cmocka_unit_test_setup_teardown(nxdomain_is_cached, resolver_up, resolver_down),
        cmocka_unit_test_setup_teardown(cancel_never_calls_back, resolver_up, resolver_down),
        cmocka_unit_test(dead_server_times_out),
        cmocka_unit_test(ttl_is_respected),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
