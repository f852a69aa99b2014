/* Unit tests of config/scalar.c: every value rule on its own. */
#include "config/scalar.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

static void duration_accepts_every_unit(void **state)
{
    char problem[CFG_PROBLEM_MAX];
    uint64_t ms = 0;
    assert_true(cfg_parse_duration("250ms", &ms, problem));
    assert_int_equal(ms, 250);
    assert_true(cfg_parse_duration("10s", &ms, problem));
    assert_int_equal(ms, 10000);
    assert_true(cfg_parse_duration("10m", &ms, problem));
    assert_int_equal(ms, 600000);
    assert_true(cfg_parse_duration("2h", &ms, problem));
    assert_int_equal(ms, 7200000);
    assert_true(cfg_parse_duration("0s", &ms, problem));
    assert_int_equal(ms, 0);
}

static void duration_refuses_bad_forms(void **state)
{
    static const struct {
        const char *text, *problem;
    } cases[] = {
        {"10", "duration \"10\" needs a unit: ms, s, m or h"},
        {"-1s", "expected a duration such as 10s or 250ms, got \"-1s\""},
        {"5x", "unknown unit in duration \"5x\"; use ms, s, m or h"},
        {"", "expected a duration such as 10s or 250ms, got \"\""},
        {"1.5s", "unknown unit in duration \"1.5s\"; use ms, s, m or h"},
        {"10 s", "unknown unit in duration \"10 s\"; use ms, s, m or h"},
        {"s", "expected a duration such as 10s or 250ms, got \"s\""},
        {"99999999999999999999ms", "duration \"99999999999999999999ms\" is too large"},
        {"9999999999999999h", "duration \"9999999999999999h\" is too large"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char problem[CFG_PROBLEM_MAX];
        uint64_t ms = 7;
        assert_false(cfg_parse_duration(cases[i].text, &ms, problem));
        assert_string_equal(problem, cases[i].problem);
        assert_int_equal(ms, 7);
    }
}

static void hostport_parses_names_v4_and_bracketed_v6(void **state)
{
    char problem[CFG_PROBLEM_MAX];
    struct cfg_hostport hp;
    assert_true(cfg_parse_hostport("proxy.example.com:5061", 0, &hp, problem));
    assert_string_equal(hp.host, "proxy.example.com");
    assert_int_equal(hp.port, 5061);
    assert_false(hp.is_ipv6_literal);

    assert_true(cfg_parse_hostport("[::1]:65535", 0, &hp, problem));
    assert_string_equal(hp.host, "::1");
    assert_int_equal(hp.port, 65535);
    assert_true(hp.is_ipv6_literal);

    assert_true(cfg_parse_hostport("10.0.0.1:1", 0, &hp, problem));
    assert_string_equal(hp.host, "10.0.0.1");
    assert_int_equal(hp.port, 1);
}

static void hostport_default_port_applies_only_when_allowed(void **state)
{
    char problem[CFG_PROBLEM_MAX];
    struct cfg_hostport hp;
    assert_true(cfg_parse_hostport("proxy.example.com", 5061, &hp, problem));
    assert_int_equal(hp.port, 5061);
    assert_true(cfg_parse_hostport("[2001:db8::1]", 53, &hp, problem));
    assert_string_equal(hp.host, "2001:db8::1");
    assert_int_equal(hp.port, 53);
    assert_true(cfg_parse_hostport("[2001:db8::1]:5353", 53, &hp, problem));
    assert_int_equal(hp.port, 5353);

    assert_false(cfg_parse_hostport("proxy.example.com", 0, &hp, problem));
    assert_string_equal(problem, "expected host:port, got \"proxy.example.com\"");
}

static void hostport_refuses_bad_forms(void **state)
{
    static const struct {
        const char *text, *problem;
    } cases[] = {
        {"x", "expected host:port, got \"x\""},
        {"", "expected host:port, got \"\""},
        {"a.test:0", "port 0 is out of range 1..65535 in \"a.test:0\""},
        {"a.test:65536", "port 65536 is out of range 1..65535 in \"a.test:65536\""},
        {"a.test:99999999999",
         "port 9999999999 is out of range 1..65535 in \"a.test:99999999999\""},
        {"a.test:", "missing port after \":\" in \"a.test:\""},
        {"a.test:http", "port in \"a.test:http\" is not a number"},
        {":5061", "missing host in \":5061\""},
        {"::1:5061", "IPv6 addresses need brackets, as in [::1]:5061; got \"::1:5061\""},
        {"[::1:5061", "missing \"]\" in \"[::1:5061\""},
        {"[::1]5061", "expected \":port\" after \"]\" in \"[::1]5061\""},
        {"[10.0.0.1]:5061", "\"10.0.0.1\" in brackets is not an IPv6 address"},
        {"::1]:5061", "IPv6 addresses need brackets, as in [::1]:5061; got \"::1]:5061\""},
        {"a]:5061", "unexpected \"]\" in \"a]:5061\""},
        {"300.1.1.1:5061", "\"300.1.1.1\" is not an IPv4 address"},
        {"bad_name:5061", "invalid host name in \"bad_name:5061\""},
        {"-a.test:5061", "invalid host name in \"-a.test:5061\""},
        {"a..test:5061", "invalid host name in \"a..test:5061\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char problem[CFG_PROBLEM_MAX];
        struct cfg_hostport hp;
        assert_false(cfg_parse_hostport(cases[i].text, 0, &hp, problem));
        assert_string_equal(problem, cases[i].problem);
    }
}

static void hostport_format_brackets_v6(void **state)
{
    char buf[300];
    struct cfg_hostport v6 = {.host = "::1", .port = 5061, .is_ipv6_literal = true};
    struct cfg_hostport v4 = {.host = "127.0.0.1", .port = 5060};
    assert_int_equal(cfg_hostport_format(&v6, buf, sizeof buf), strlen("[::1]:5061"));
    assert_string_equal(buf, "[::1]:5061");
    cfg_hostport_format(&v4, buf, sizeof buf);
    assert_string_equal(buf, "127.0.0.1:5060");
    assert_int_equal(cfg_hostport_format(&v4, buf, 4), strlen("127.0.0.1:5060"));
    assert_string_equal(buf, "127");
}

static void hostport_equal_compares_addresses(void **state)
{
    struct cfg_hostport a = {.host = "::1", .port = 1, .is_ipv6_literal = true};
    struct cfg_hostport b = {.host = "0:0:0:0:0:0:0:1", .port = 1, .is_ipv6_literal = true};
    struct cfg_hostport c = {.host = "Proxy.Test", .port = 1};
    struct cfg_hostport d = {.host = "proxy.test", .port = 1};
    struct cfg_hostport e = {.host = "proxy.test", .port = 2};
    assert_true(cfg_hostport_equal(&a, &b));
    assert_true(cfg_hostport_equal(&c, &d));
    assert_false(cfg_hostport_equal(&d, &e));
    assert_false(cfg_hostport_equal(&a, &d));
}

static void hostport_overlaps_only_against_a_wildcard(void **state)
{
    struct cfg_hostport any4 = {.host = "0.0.0.0", .port = 5061};
    struct cfg_hostport lo4 = {.host = "127.0.0.1", .port = 5061};
    struct cfg_hostport lo4_other_port = {.host = "127.0.0.1", .port = 5062};
    struct cfg_hostport other4 = {.host = "127.0.0.2", .port = 5061};
    struct cfg_hostport any6 = {.host = "::", .port = 5061, .is_ipv6_literal = true};
    struct cfg_hostport lo6 = {.host = "::1", .port = 5061, .is_ipv6_literal = true};
    struct cfg_hostport name = {.host = "localhost", .port = 5061};
    assert_true(cfg_hostport_overlaps(&any4, &lo4));
    assert_true(cfg_hostport_overlaps(&lo6, &any6));
    assert_false(cfg_hostport_overlaps(&any4, &any6)); /* IPV6_V6ONLY keeps them apart */
    assert_false(cfg_hostport_overlaps(&any4, &lo4_other_port));
    assert_false(cfg_hostport_overlaps(&lo4, &other4));
    assert_false(cfg_hostport_overlaps(&any4, &any4)); /* equal, not overlapping */
    assert_false(cfg_hostport_overlaps(&any4, &name));
}

static void bool_is_true_or_false_only(void **state)
{
    char problem[CFG_PROBLEM_MAX];
    bool b = false;
    assert_true(cfg_parse_bool("true", &b, problem));
    assert_true(b);
    assert_true(cfg_parse_bool("false", &b, problem));
    assert_false(b);
    const char *refused[] = {"yes", "no", "on", "off", "True", "1", "y"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        assert_false(cfg_parse_bool(refused[i], &b, problem));
    assert_string_equal(problem, "expected true or false, got \"y\"");
}

static void uint_checks_digits_and_range(void **state)
{
    char problem[CFG_PROBLEM_MAX];
    uint64_t v;
    assert_true(cfg_parse_uint("256", 1, 256, &v, problem));
    assert_int_equal(v, 256);
    assert_false(cfg_parse_uint("257", 1, 256, &v, problem));
    assert_string_equal(problem, "257 is out of range 1..256");
    assert_false(cfg_parse_uint("0", 1, 256, &v, problem));
    assert_false(cfg_parse_uint("-1", 1, 256, &v, problem));
    assert_string_equal(problem, "expected an integer in 1..256, got \"-1\"");
    assert_false(cfg_parse_uint("0x10", 1, 256, &v, problem));
    assert_false(cfg_parse_uint("", 1, 256, &v, problem));
    assert_false(cfg_parse_uint("123456789012345678901234567890", 1, 256, &v, problem));
    assert_string_equal(problem, "123456789012345678901234... is out of range 1..256");
}

static void cidr_reads_ranges_and_single_addresses(void **state)
{
    char problem[CFG_PROBLEM_MAX];
    struct cfg_cidr r;
    assert_true(cfg_parse_cidr("10.0.0.0/8", &r, problem));
    assert_int_equal(r.family, AF_INET);
    assert_int_equal(r.prefix, 8);
    assert_memory_equal(r.addr, "\x0a\0\0\0", 4);
    assert_true(cfg_parse_cidr("192.0.2.7", &r, problem));
    assert_int_equal(r.prefix, 32);
    assert_true(cfg_parse_cidr("0.0.0.0/0", &r, problem));
    assert_int_equal(r.prefix, 0);
    assert_true(cfg_parse_cidr("2001:db8::/32", &r, problem));
    assert_int_equal(r.family, AF_INET6);
    assert_int_equal(r.prefix, 32);
    assert_true(cfg_parse_cidr("::1", &r, problem));
    assert_int_equal(r.prefix, 128);
    assert_true(cfg_parse_cidr("10.128.0.0/9", &r, problem));

    assert_false(cfg_parse_cidr("10.0.0.1/8", &r, problem));
    assert_string_equal(problem, "\"10.0.0.1/8\" has bits set past its prefix; the network is "
                                 "10.0.0.0/8");
    assert_false(cfg_parse_cidr("2001:db8::1/64", &r, problem));
    assert_string_equal(problem, "\"2001:db8::1/64\" has bits set past its prefix; the network "
                                 "is 2001:db8::/64");
    assert_false(cfg_parse_cidr("10.0.0.0/33", &r, problem));
    assert_string_equal(problem, "prefix length in \"10.0.0.0/33\" must be 0..32");
    assert_false(cfg_parse_cidr("::/129", &r, problem));
    assert_false(cfg_parse_cidr("10.0.0.0/", &r, problem));
    assert_false(cfg_parse_cidr("10.0.0.0/-1", &r, problem));
    assert_false(cfg_parse_cidr("[::1]/128", &r, problem));
    assert_false(cfg_parse_cidr("lb.example.com", &r, problem));
    assert_string_equal(problem, "expected an IP address or a range such as 10.0.0.0/8 or "
                                 "2001:db8::/32, got \"lb.example.com\"");
    assert_false(cfg_parse_cidr("", &r, problem));
}

static void enum_lists_the_choices(void **state)
{
    static const char *const names[] = {"auto", "io_uring", "epoll", NULL};
    char problem[CFG_PROBLEM_MAX];
    int v = -1;
    assert_true(cfg_parse_enum("epoll", names, &v, problem));
    assert_int_equal(v, 2);
    assert_false(cfg_parse_enum("Epoll", names, &v, problem));
    assert_string_equal(problem, "expected one of auto, io_uring, epoll; got \"Epoll\"");
}

static void quote_escapes_cuts_and_hides_secrets(void **state)
{
    char buf[64];
    cfg_quote("a\"b\\c\x01", buf, sizeof buf);
    assert_string_equal(buf, "\"a\\\"b\\\\c\\x01\"");
    cfg_quote("-----BEGIN PRIVATE KEY----- MIGHAgEAMBMGByqGSM49", buf, sizeof buf);
    assert_string_equal(buf, "<PEM data>");
    cfg_quote("line one\nline two", buf, sizeof buf);
    assert_string_equal(buf, "<multi-line text>");
    char longtext[200];
    memset(longtext, 'x', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = '\0';
    cfg_quote(longtext, buf, sizeof buf);
    assert_true(strlen(buf) < sizeof buf);
    assert_memory_equal(buf + strlen(buf) - 4, "...\"", 4);
}

static void hostname_rules(void **state)
{
    assert_true(cfg_is_hostname("a.test"));
    assert_true(cfg_is_hostname("x-1.example.com"));
    assert_false(cfg_is_hostname(""));
    assert_false(cfg_is_hostname("a-.test"));
    assert_false(cfg_is_hostname("a.test."));
    assert_false(cfg_is_hostname("*.test"));
    char label[70];
    memset(label, 'a', 64);
    label[64] = '\0';
    assert_false(cfg_is_hostname(label));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(duration_accepts_every_unit),
        cmocka_unit_test(duration_refuses_bad_forms),
        cmocka_unit_test(hostport_parses_names_v4_and_bracketed_v6),
        cmocka_unit_test(hostport_default_port_applies_only_when_allowed),
        cmocka_unit_test(hostport_refuses_bad_forms),
        cmocka_unit_test(hostport_format_brackets_v6),
        cmocka_unit_test(hostport_equal_compares_addresses),
        cmocka_unit_test(hostport_overlaps_only_against_a_wildcard),
        cmocka_unit_test(bool_is_true_or_false_only),
        cmocka_unit_test(uint_checks_digits_and_range),
        cmocka_unit_test(cidr_reads_ranges_and_single_addresses),
        cmocka_unit_test(enum_lists_the_choices),
        cmocka_unit_test(quote_escapes_cuts_and_hides_secrets),
        cmocka_unit_test(hostname_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
