/* libFuzzer target: URI and name-addr parsing, on the raw input and on the
 * Request-URI and address headers of the input parsed as a message.
 * Invariants: every slice returned lies inside what was parsed; the
 * word-at-a-time sip_check_chars agrees with the rule read octet by octet
 * (the oracle below, sip/check.h's wording). */
#include <stdint.h>

#include "fuzz_check.h"
#include <stdlib.h>
#include <string.h>

#include "sip/check.h"
#include "sip/uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(struct sip_str outer, struct sip_str s)
{
    FUZZ_CHECK(s.p == NULL || (s.p >= outer.p && s.p + s.len <= outer.p + outer.len));
}

static void check_uri(struct sip_str text)
{
    struct sip_uri u;
    enum sip_err err = sip_uri_parse(text.p, text.len, &u);
    if (err != SIP_OK && err != SIP_ERR_URI_SCHEME)
        return;
    struct sip_str parts[] = {u.scheme_str, u.user,      u.password, u.hp.host,   u.params,
                              u.headers,    u.transport, u.maddr,    u.user_param};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        inside(text, parts[i]);
}

static void check_name_addr(struct sip_str text)
{
    struct sip_name_addr na;
    if (sip_name_addr_parse(text, &na) != SIP_OK)
        return;
    inside(text, na.display);
    inside(text, na.uri);
    inside(text, na.params);
    struct sip_param tag;
    if (sip_param_find(na.params, "tag", &tag))
        inside(na.params, tag.value);
    check_uri(na.uri);
}

static enum sip_err check_chars_octetwise(const struct sip_msg *msg)
{
    const unsigned char *p = (const unsigned char *)msg->buf;
    bool escaped = false;
    for (size_t i = 0; i < msg->header_len; i++) {
        unsigned char c = p[i];
        bool control = c < 0x20 || c == 0x7f;
        bool line_end = c == '\n' || (c == '\r' && i + 1 < msg->header_len && p[i + 1] == '\n');
        if (control && c != '\t' && !line_end && (c == '\0' || c == '\r' || !escaped))
            return SIP_ERR_CONTROL_CHAR;
        escaped = c == '\\' && !escaped;
    }
    return SIP_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sip_str raw = {(const char *)data, size};
    check_uri(raw);
    check_name_addr(raw);
    struct sip_header hdrs[64];
    struct sip_msg msg;
    if (sip_parse(raw.p, raw.len, &msg, hdrs, 64) != SIP_OK)
        return 0;
    FUZZ_CHECK(sip_check_chars(&msg) == check_chars_octetwise(&msg));
    /* a message the check passes has no NUL before its body */
    if (sip_check_chars(&msg) == SIP_OK && memchr(raw.p, '\0', msg.header_len) != NULL)
        abort();
    if (msg.is_request) {
        struct sip_uri u;
        sip_check_request_uri(&msg, &u);
        check_uri(msg.uri);
    }
    for (size_t i = 0; i < msg.nheaders; i++) {
        const struct sip_header *h = &msg.headers[i];
        struct sip_str rest = h->value, item;
        switch (h->id) {
        case SIP_HDR_FROM:
        case SIP_HDR_TO:
            check_name_addr(h->value);
            break;
        case SIP_HDR_CONTACT:
        case SIP_HDR_ROUTE:
        case SIP_HDR_RECORD_ROUTE:
            while (sip_list_next(&rest, &item))
                check_name_addr(item);
            break;
        default:
            break;
        }
    }
    return 0;
}
