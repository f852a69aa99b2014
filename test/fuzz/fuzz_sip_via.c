/* libFuzzer target: Via parsing, on the raw input as one via-parm and on
 * every Via value of the input parsed as a message. Invariant: every slice
 * returned lies inside the via-parm. */
#include <stdint.h>

#include "fuzz_check.h"
#include <stdlib.h>

#include "sip/via.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(struct sip_str outer, struct sip_str s)
{
    FUZZ_CHECK(s.p == NULL || (s.p >= outer.p && s.p + s.len <= outer.p + outer.len));
}

static void check_via(struct sip_str parm)
{
    struct sip_via v;
    struct sip_param params[16];
    if (sip_via_parse(parm, &v, params, 16) != SIP_OK)
        return;
    struct sip_str parts[] = {v.name,   v.version,  v.transport, v.sent_by, v.hp.host, v.params,
                              v.branch, v.received, v.maddr,     v.ttl,     v.rport};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        inside(parm, parts[i]);
    for (size_t i = 0; i < v.nparams; i++) {
        inside(parm, params[i].name);
        inside(parm, params[i].value);
    }
    FUZZ_CHECK(v.transport.len > 0 && v.sent_by.len > 0 && sip_via_port(&v) > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sip_str raw = {(const char *)data, size};
    check_via(raw);
    struct sip_header hdrs[64];
    struct sip_msg msg;
    if (sip_parse(raw.p, raw.len, &msg, hdrs, 64) != SIP_OK)
        return 0;
    for (const struct sip_header *h = sip_msg_header(&msg, SIP_HDR_VIA); h;
         h = sip_msg_next(&msg, h)) {
        struct sip_str rest = h->value, item;
        while (sip_list_next(&rest, &item)) {
            inside(h->value, item);
            check_via(item);
        }
    }
    return 0;
}
