#include "sip/host.h"

#include <arpa/inet.h>
#include <string.h>

#include "sip/chars.h"

/* inet_pton wants a NUL-terminated string: copy into a bounded stack
 * buffer (an IPv6 literal is at most 45 bytes). */
static bool is_ipv6(const char *p, size_t len)
{
    char text[INET6_ADDRSTRLEN];
    unsigned char bin[16];
    if (len == 0 || len >= sizeof(text))
        return false;
    memcpy(text, p, len);
    text[len] = '\0';
    return inet_pton(AF_INET6, text, bin) == 1;
}

/* Dotted quad, each part 0..255 (RFC 3261 IPv4address). */
static bool is_ipv4(const char *p, size_t len)
{
    const char *end = p + len;
    for (int part = 0; part < 4; part++) {
        unsigned v = 0;
        const char *digits = p;
        while (p < end && (unsigned char)(*p - '0') < 10 && p - digits < 3)
            v = v * 10 + (unsigned)(*p++ - '0');
        if (p == digits || v > 255)
            return false;
        if (part < 3) {
            if (p == end || *p != '.')
                return false;
            p++;
        }
    }
    return p == end;
}

const char *sip_hostport_parse(const char *p, const char *end, struct sip_hostport *hp,
                               enum sip_err *err)
{
    const char *start = p;
    hp->has_port = false;
    hp->port = 0;
    if (p < end && *p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (close == NULL || !is_ipv6(p + 1, (size_t)(close - p - 1))) {
            *err = SIP_ERR_HOST;
            return NULL;
        }
        hp->kind = SIP_HOST_IPV6;
        p = close + 1;
    } else {
        bool numeric = true;
        while (p < end && sip_host_chars[(unsigned char)*p]) {
            numeric &= (unsigned char)(*p - '0') < 10 || *p == '.';
            p++;
        }
        if (p == start || *start == '.' || *start == '-') {
            *err = SIP_ERR_HOST;
            return NULL;
        }
        hp->kind = numeric && is_ipv4(start, (size_t)(p - start)) ? SIP_HOST_IPV4 : SIP_HOST_DNS;
    }
    hp->host = (struct sip_str){start, (size_t)(p - start)};
    if (p < end && *p == ':') {
        unsigned port = 0;
        const char *digits = ++p;
        while (p < end && (unsigned char)(*p - '0') < 10 && port <= 65535)
            port = port * 10 + (unsigned)(*p++ - '0');
        if (p == digits || port == 0 || port > 65535) {
            *err = SIP_ERR_PORT;
            return NULL;
        }
        hp->has_port = true;
        hp->port = (uint16_t)port;
    }
    return p;
}

struct sip_str sip_host_address(const struct sip_hostport *hp)
{
    if (hp->kind == SIP_HOST_IPV6)
        return (struct sip_str){hp->host.p + 1, hp->host.len - 2};
    return hp->host;
}
