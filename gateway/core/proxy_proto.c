/* proxy_proto: the v1 line and the v2 binary header, read in place. */
#include "core/proxy_proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static const uint8_t v1_sig[6] = {'P', 'R', 'O', 'X', 'Y', ' '};
static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

enum { V2_FIXED = 16, V2_LOCAL = 0, V2_PROXY = 1, V2_INET = 1, V2_INET6 = 2, V2_STREAM = 1 };

/* begins_with: the first min(len, n) bytes of |buf| are those of |sig|. */
static bool begins_with(const uint8_t *buf, size_t len, const uint8_t *sig, size_t n)
{
    return memcmp(buf, sig, len < n ? len : n) == 0;
}

bool pp_looks_like_header(const uint8_t *buf, size_t len)
{
    return begins_with(buf, len, v1_sig, sizeof v1_sig) ||
           begins_with(buf, len, v2_sig, sizeof v2_sig);
}

static enum pp_status fail(enum pp_error *err, enum pp_error e)
{
    *err = e;
    return PP_ERROR;
}

/* span is one token of a v1 line. */
struct span {
    const uint8_t *p;
    size_t n;
};

static bool span_is(struct span s, const char *text)
{
    return s.n == strlen(text) && memcmp(s.p, text, s.n) == 0;
}

/* v1_addr reads an address of |family| (inet_pton's strict forms). */
static bool v1_addr(struct span s, int family, void *out)
{
    char text[INET6_ADDRSTRLEN];
    if (s.n >= sizeof text)
        return false;
    memcpy(text, s.p, s.n);
    text[s.n] = '\0';
    return inet_pton(family, text, out) == 1;
}

/* v1_port reads 1..5 decimal digits of at most 65535. */
static bool v1_port(struct span s, uint16_t *out)
{
    if (s.n == 0 || s.n > 5)
        return false;
    uint32_t v = 0;
    for (size_t i = 0; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(s.p[i] - '0');
    }
    if (v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

/* v1_fields splits |line| (without CRLF) into exactly |want| tokens
 * separated by one space each. */
static bool v1_fields(const uint8_t *line, size_t n, struct span *tok, size_t want)
{
    size_t count = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && line[i] != ' ')
            continue;
        if (i == start || count == want)
            return false;
        tok[count++] = (struct span){line + start, i - start};
        start = i + 1;
    }
    return count == want;
}

/* parse_v1: "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" or "PROXY UNKNOWN...\r\n"
 * (whatever follows UNKNOWN is ignored, as the specification says). */
static enum pp_status parse_v1(const uint8_t *buf, size_t len, struct pp_header *out,
                               enum pp_error *err)
{
    size_t eol = 0;
    for (size_t i = sizeof v1_sig;; i++) {
        if (i + 1 >= PP_V1_MAX) /* no room left for the CRLF within the bound */
            return fail(err, PP_ERR_V1_TOO_LONG);
        if (i >= len)
            return PP_NEED_MORE;
        if (buf[i] == '\r') {
            if (i + 1 >= len)
                return PP_NEED_MORE;
            if (buf[i + 1] != '\n')
                return fail(err, PP_ERR_V1_SYNTAX);
            eol = i;
            break;
        }
        if (buf[i] < 0x20 || buf[i] > 0x7e)
            return fail(err, PP_ERR_V1_SYNTAX);
    }
    const uint8_t *line = buf + sizeof v1_sig;
    size_t n = eol - sizeof v1_sig;
    memset(out, 0, sizeof *out);
    out->len = eol + 2;
    out->version = 1;
    static const char unknown[] = "UNKNOWN";
    if (n >= sizeof unknown - 1 && memcmp(line, unknown, sizeof unknown - 1) == 0 &&
        (n == sizeof unknown - 1 || line[sizeof unknown - 1] == ' ')) {
        out->local = true;
        return PP_DONE;
    }
    struct span tok[5];
    if (!v1_fields(line, n, tok, 5))
        return fail(err, PP_ERR_V1_SYNTAX);
    bool v6 = span_is(tok[0], "TCP6");
    if (!v6 && !span_is(tok[0], "TCP4"))
        return fail(err, PP_ERR_V1_SYNTAX);
    uint8_t src[16], dst[16];
    uint16_t sport, dport;
    int family = v6 ? AF_INET6 : AF_INET;
    if (!v1_addr(tok[1], family, src) || !v1_addr(tok[2], family, dst) ||
        !v1_port(tok[3], &sport) || !v1_port(tok[4], &dport))
        return fail(err, PP_ERR_V1_SYNTAX);
    if (v6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->src;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(sport);
        memcpy(&in6->sin6_addr, src, 16);
        out->src_len = sizeof *in6;
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&out->src;
        in->sin_family = AF_INET;
        in->sin_port = htons(sport);
        memcpy(&in->sin_addr, src, 4);
        out->src_len = sizeof *in;
    }
    return PP_DONE;
}

/* parse_v2: signature, version|command, family|transport, length (network
 * order), then the addresses and TLVs (skipped: reusegw needs none). */
static enum pp_status parse_v2(const uint8_t *buf, size_t len, struct pp_header *out,
                               enum pp_error *err)
{
    if (len < V2_FIXED)
        return PP_NEED_MORE;
    unsigned version = buf[12] >> 4, command = buf[12] & 0x0f;
    unsigned family = buf[13] >> 4, transport = buf[13] & 0x0f;
    size_t payload = (size_t)buf[14] << 8 | buf[15];
    if (version != 2)
        return fail(err, PP_ERR_V2_VERSION);
    if (command != V2_LOCAL && command != V2_PROXY)
        return fail(err, PP_ERR_V2_COMMAND);
    if (payload > PP_V2_MAX_PAYLOAD)
        return fail(err, PP_ERR_V2_TOO_LONG);
    /* LOCAL: the balancer speaks for itself; its address block, whatever
     * the family says, is discarded (the specification). */
    if (command == V2_PROXY) {
        if (transport != V2_STREAM || (family != V2_INET && family != V2_INET6))
            return fail(err, PP_ERR_V2_FAMILY);
        if (payload < (family == V2_INET ? 12u : 36u))
            return fail(err, PP_ERR_V2_SHORT);
    }
    if (len < V2_FIXED + payload)
        return PP_NEED_MORE;
    memset(out, 0, sizeof *out);
    out->len = V2_FIXED + payload;
    out->version = 2;
    const uint8_t *a = buf + V2_FIXED;
    if (command == V2_LOCAL) {
        out->local = true;
    } else if (family == V2_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&out->src;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, a, 4);
        memcpy(&in->sin_port, a + 8, 2); /* both in network order */
        out->src_len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->src;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, a, 16);
        memcpy(&in6->sin6_port, a + 32, 2);
        out->src_len = sizeof *in6;
    }
    return PP_DONE;
}

enum pp_status pp_parse(const uint8_t *buf, size_t len, struct pp_header *out, enum pp_error *err)
{
    if (len == 0)
        return PP_NEED_MORE;
    if (begins_with(buf, len, v1_sig, sizeof v1_sig))
        return len < sizeof v1_sig ? PP_NEED_MORE : parse_v1(buf, len, out, err);
    if (begins_with(buf, len, v2_sig, sizeof v2_sig))
        return parse_v2(buf, len, out, err);
    /* Both signatures begin with a byte no TLS record does: anything else
     * means the balancer sent no header at all. */
    return fail(err,
                buf[0] == v1_sig[0] || buf[0] == v2_sig[0] ? PP_ERR_SIGNATURE : PP_ERR_MISSING);
}
