/* scalar: value parsers of the configuration file. See scalar.h. */
#include "config/scalar.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PROBLEM(...) (snprintf(problem, CFG_PROBLEM_MAX, __VA_ARGS__), false)

/* quoted() serves problem texts, each of which quotes at most one value. */
static _Thread_local char quote_last[64];

static const char *quoted(const char *text)
{
    cfg_quote(text, quote_last, sizeof quote_last);
    return quote_last;
}

void cfg_quote(const char *text, char *buf, size_t size)
{
    if (strchr(text, '\n') || strchr(text, '\r')) {
        snprintf(buf, size, "<multi-line text>");
        return;
    }
    if (strstr(text, "-----BEGIN")) {
        snprintf(buf, size, "<PEM data>");
        return;
    }
    size_t n = 0;
    const size_t keep = size > 8 ? size - 8 : 0; /* room for '"', "...", NUL */
    if (n < keep)
        buf[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        char piece[5];
        if (*p == '"' || *p == '\\')
            snprintf(piece, sizeof piece, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            snprintf(piece, sizeof piece, "\\x%02x", *p);
        else
            snprintf(piece, sizeof piece, "%c", *p);
        size_t len = strlen(piece);
        if (n + len > keep) {
            memcpy(buf + n, "...", 3);
            n += 3;
            break;
        }
        memcpy(buf + n, piece, len);
        n += len;
    }
    if (size > 0) {
        if (n + 1 < size)
            buf[n++] = '"';
        buf[n < size ? n : size - 1] = '\0';
    }
}

bool cfg_parse_duration(const char *text, uint64_t *ms, char problem[CFG_PROBLEM_MAX])
{
    static const struct {
        const char *name;
        uint64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 60 * 60 * 1000}};

    const char *p = text;
    uint64_t value = 0;
    while (isdigit((unsigned char)*p)) {
        if (value > (UINT64_MAX - 9) / 10)
            return PROBLEM("duration %s is too large", quoted(text));
        value = value * 10 + (uint64_t)(*p - '0');
        p++;
    }
    if (p == text)
        return PROBLEM("expected a duration such as 10s or 250ms, got %s", quoted(text));
    if (*p == '\0')
        return PROBLEM("duration %s needs a unit: ms, s, m or h", quoted(text));
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(p, units[i].name) == 0) {
            if (value > UINT64_MAX / units[i].ms)
                return PROBLEM("duration %s is too large", quoted(text));
            *ms = value * units[i].ms;
            return true;
        }
    }
    return PROBLEM("unknown unit in duration %s; use ms, s, m or h", quoted(text));
}

bool cfg_is_hostname(const char *name)
{
    size_t total = strlen(name), label = 0;
    if (total == 0 || total > 253)
        return false;
    for (const char *p = name;; p++) {
        if (*p == '.' || *p == '\0') {
            if (label == 0 || label > 63 || p[-1] == '-')
                return false;
            if (*p == '\0')
                return true;
            label = 0;
            continue;
        }
        if (!isalnum((unsigned char)*p) && !(*p == '-' && label > 0))
            return false;
        label++;
    }
}

static bool parse_port(const char *text, const char *whole, uint16_t *port,
                       char problem[CFG_PROBLEM_MAX])
{
    if (*text == '\0')
        return PROBLEM("missing port after \":\" in %s", quoted(whole));
    uint32_t value = 0;
    for (const char *p = text; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return PROBLEM("port in %s is not a number", quoted(whole));
        if (value <= 65535)
            value = value * 10 + (uint32_t)(*p - '0');
    }
    if (value == 0 || value > 65535)
        return PROBLEM("port %.10s is out of range 1..65535 in %s", text, quoted(whole));
    *port = (uint16_t)value;
    return true;
}

static bool check_host(const char *host, const char *whole, char problem[CFG_PROBLEM_MAX])
{
    if (*host == '\0')
        return PROBLEM("missing host in %s", quoted(whole));
    if (strspn(host, "0123456789.") == strlen(host)) {
        struct in_addr v4;
        if (inet_pton(AF_INET, host, &v4) != 1)
            return PROBLEM("%s is not an IPv4 address", quoted(host));
        return true;
    }
    if (!cfg_is_hostname(host))
        return PROBLEM("invalid host name in %s", quoted(whole));
    return true;
}

bool cfg_parse_hostport(const char *text, uint16_t default_port, struct cfg_hostport *out,
                        char problem[CFG_PROBLEM_MAX])
{
    memset(out, 0, sizeof *out);
    const char *expected = default_port ? "host[:port]" : "host:port";
    if (*text == '\0')
        return PROBLEM("expected %s, got \"\"", expected);

    const char *host = text, *rest;
    size_t host_len;
    if (*text == '[') {
        const char *close = strchr(text, ']');
        if (!close)
            return PROBLEM("missing \"]\" in %s", quoted(text));
        host = text + 1;
        host_len = (size_t)(close - host);
        rest = close + 1;
        if (*rest != '\0' && *rest != ':')
            return PROBLEM("expected \":port\" after \"]\" in %s", quoted(text));
        out->is_ipv6_literal = true;
    } else {
        rest = strchr(text, ':');
        if (rest && strchr(rest + 1, ':'))
            return PROBLEM("IPv6 addresses need brackets, as in [::1]:5061; got %s", quoted(text));
        if (!rest)
            rest = text + strlen(text);
        host_len = (size_t)(rest - text);
        if (strchr(text, ']'))
            return PROBLEM("unexpected \"]\" in %s", quoted(text));
    }
    if (host_len >= sizeof out->host)
        return PROBLEM("host name in %s is longer than 255 bytes", quoted(text));
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';

    if (out->is_ipv6_literal) {
        struct in6_addr v6;
        if (inet_pton(AF_INET6, out->host, &v6) != 1)
            return PROBLEM("%s in brackets is not an IPv6 address", quoted(out->host));
    } else if (!check_host(out->host, text, problem)) {
        return false;
    }

    if (*rest == '\0') {
        if (!default_port)
            return PROBLEM("expected host:port, got %s", quoted(text));
        out->port = default_port;
        return true;
    }
    return parse_port(rest + 1, text, &out->port, problem);
}

bool cfg_parse_cidr(const char *text, struct cfg_cidr *out, char problem[CFG_PROBLEM_MAX])
{
    memset(out, 0, sizeof *out);
    char addr[INET6_ADDRSTRLEN];
    const char *slash = strchr(text, '/');
    size_t n = slash ? (size_t)(slash - text) : strlen(text);
    if (n >= sizeof addr)
        return PROBLEM("expected an IP address or a range such as 10.0.0.0/8, got %s",
                       quoted(text));
    memcpy(addr, text, n);
    addr[n] = '\0';
    if (inet_pton(AF_INET, addr, out->addr) == 1)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, addr, out->addr) == 1)
        out->family = AF_INET6;
    else
        return PROBLEM("expected an IP address or a range such as 10.0.0.0/8 or 2001:db8::/32, "
                       "got %s",
                       quoted(text));
    unsigned bits = out->family == AF_INET ? 32 : 128;
    uint64_t prefix = bits;
    if (slash) {
        char ignored[CFG_PROBLEM_MAX];
        if (!cfg_parse_uint(slash + 1, 0, bits, &prefix, ignored))
            return PROBLEM("prefix length in %s must be 0..%u", quoted(text), bits);
    }
    out->prefix = (uint8_t)prefix;
    bool host_bits = false;
    for (unsigned i = out->prefix; i < bits; i++) {
        uint8_t mask = (uint8_t)(0x80u >> (i % 8));
        host_bits |= (out->addr[i / 8] & mask) != 0;
        out->addr[i / 8] &= (uint8_t)~mask;
    }
    if (host_bits) {
        char network[INET6_ADDRSTRLEN];
        inet_ntop(out->family, out->addr, network, sizeof network);
        return PROBLEM("%s has bits set past its prefix; the network is %s/%u", quoted(text),
                       network, out->prefix);
    }
    return true;
}

bool cfg_parse_bool(const char *text, bool *out, char problem[CFG_PROBLEM_MAX])
{
    if (strcmp(text, "true") == 0 || strcmp(text, "false") == 0) {
        *out = text[0] == 't';
        return true;
    }
    return PROBLEM("expected true or false, got %s", quoted(text));
}

bool cfg_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out,
                    char problem[CFG_PROBLEM_MAX])
{
    uint64_t value = 0;
    bool too_large = false;
    if (*text == '\0' || strspn(text, "0123456789") != strlen(text))
        return PROBLEM("expected an integer in %llu..%llu, got %s", (unsigned long long)min,
                       (unsigned long long)max, quoted(text));
    for (const char *p = text; *p; p++) {
        if (value > (UINT64_MAX - 9) / 10)
            too_large = true;
        else
            value = value * 10 + (uint64_t)(*p - '0');
    }
    if (too_large || value < min || value > max)
        return PROBLEM("%.24s%s is out of range %llu..%llu", text, strlen(text) > 24 ? "..." : "",
                       (unsigned long long)min, (unsigned long long)max);
    *out = value;
    return true;
}

bool cfg_parse_enum(const char *text, const char *const *names, int *out,
                    char problem[CFG_PROBLEM_MAX])
{
    char list[128] = "";
    for (int i = 0; names[i]; i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = i;
            return true;
        }
        size_t used = strlen(list);
        snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
    }
    return PROBLEM("expected one of %s; got %s", list, quoted(text));
}

static bool parse_ip(const char *host, unsigned char addr[16], int *family)
{
    if (inet_pton(AF_INET, host, addr) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, host, addr) == 1) {
        *family = AF_INET6;
        return true;
    }
    return false;
}

bool cfg_hostport_equal(const struct cfg_hostport *a, const struct cfg_hostport *b)
{
    if (a->port != b->port)
        return false;
    unsigned char addr_a[16] = {0}, addr_b[16] = {0};
    int family_a, family_b;
    if (parse_ip(a->host, addr_a, &family_a) && parse_ip(b->host, addr_b, &family_b))
        return family_a == family_b && memcmp(addr_a, addr_b, sizeof addr_a) == 0;
    return strcasecmp(a->host, b->host) == 0;
}

bool cfg_hostport_overlaps(const struct cfg_hostport *a, const struct cfg_hostport *b)
{
    static const unsigned char any[16];
    unsigned char addr_a[16] = {0}, addr_b[16] = {0};
    int family_a, family_b;
    if (a->port != b->port || !parse_ip(a->host, addr_a, &family_a) ||
        !parse_ip(b->host, addr_b, &family_b) || family_a != family_b)
        return false;
    bool any_a = memcmp(addr_a, any, sizeof any) == 0, any_b = memcmp(addr_b, any, sizeof any) == 0;
    return any_a != any_b;
}

size_t cfg_hostport_format(const struct cfg_hostport *hp, char *buf, size_t size)
{
    int n = snprintf(buf, size, hp->is_ipv6_literal ? "[%s]:%u" : "%s:%u", hp->host,
                     (unsigned)hp->port);
    return n < 0 ? 0 : (size_t)n;
}
