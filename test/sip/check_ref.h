/* test/sip/check_ref.h: the control-octet rule of sip_check_chars_in
 * (sip/check.h) written the plain way, one octet after the other, for the
 * differential checks of the block scans in sip/check.c (test_check.c and
 * fuzz_sip_frame). Header-only: the fuzz target links no test library. */
#ifndef REUSEGW_TEST_SIP_CHECK_REF_H
#define REUSEGW_TEST_SIP_CHECK_REF_H

#include <stdbool.h>
#include <stddef.h>

#include "sip/error.h"

/* SIP_OK when buf[0..len) holds no control octet but HTAB, LF, a CR
 * followed by LF, and one escaped by a backslash that is neither NUL nor a
 * bare CR; else SIP_ERR_CONTROL_CHAR. */
static inline enum sip_err check_chars_ref(const char *buf, size_t len)
{
    bool escaped = false; /* buf[i - 1] is a backslash not itself escaped */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c == '\r' && !(i + 1 < len && buf[i + 1] == '\n'))
            return SIP_ERR_CONTROL_CHAR;
        if (c == '\0')
            return SIP_ERR_CONTROL_CHAR;
        if ((c < 0x20 || c == 0x7f) && c != '\t' && c != '\n' && c != '\r' && !escaped)
            return SIP_ERR_CONTROL_CHAR;
        escaped = c == '\\' && !escaped;
    }
    return SIP_OK;
}

#endif
