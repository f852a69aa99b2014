/* call_id: a line scan for the Call-ID header. See call_id.h. */
#include "capture/call_id.h"

#include <string.h>

#include "sip/header.h"

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

struct hep_octets capture_call_id(const char *msg, size_t len)
{
    const char *end = msg + len;
    const char *line = memchr(msg, '\n', len); /* skip the start line */
    while (line && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        const char *stop = eol ? eol : end;
        if (stop > line && stop[-1] == '\r')
            stop--;
        if (stop == line) /* the empty line: the headers are over */
            break;
        const char *colon = memchr(line, ':', (size_t)(stop - line));
        if (colon && !is_space(line[0])) {
            const char *name_end = colon;
            while (name_end > line && is_space(name_end[-1]))
                name_end--;
            if (sip_hdr_lookup(line, (size_t)(name_end - line)) == SIP_HDR_CALL_ID) {
                const char *v = colon + 1;
                while (v < stop && is_space(*v))
                    v++;
                /* A bare CR is no line end SIP knows, but the value stops
                 * there: the correlation chunk is one line. */
                for (const char *q = v; q < stop; q++) {
                    if (*q == '\r') {
                        stop = q;
                        break;
                    }
                }
                while (stop > v && is_space(stop[-1]))
                    stop--;
                return (struct hep_octets){v, (size_t)(stop - v)};
            }
        }
        line = eol;
    }
    return (struct hep_octets){msg, 0};
}
