#include "testutil.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

char *tu_load(const char *relpath, size_t *len)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", TEST_DATA_DIR, relpath);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        fail_msg("cannot open %s", path);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

struct sip_frame tu_frame_once(const char *buf, size_t len, size_t max)
{
    struct sip_framer f;
    struct sip_frame out;
    sip_framer_init(&f);
    sip_framer_feed(&f, buf, len, max, &out);
    return out;
}

/* want: event, len and err as the caller expects them; once: the one-shot
 * answer, whose Via and CSeq offsets every split must reproduce. */
static void same(const char *what, size_t split, struct sip_frame got, struct sip_frame want,
                 struct sip_frame once)
{
    if (got.event != want.event || got.len != want.len || got.err != want.err)
        fail_msg("%s split %zu: got event %d len %zu err %s, want event %d len %zu err %s", what,
                 split, got.event, got.len, sip_err_text(got.err), want.event, want.len,
                 sip_err_text(want.err));
    if (got.via_line != once.via_line || got.cseq_line != once.cseq_line ||
        got.addr_line != once.addr_line)
        fail_msg("%s split %zu: Via/CSeq/address lines at %zu/%zu/%zu, in one piece at %zu/%zu/%zu",
                 what, split, got.via_line, got.cseq_line, got.addr_line, once.via_line,
                 once.cseq_line, once.addr_line);
}

void tu_replay(const char *what, const char *buf, size_t len, size_t max, struct sip_frame want)
{
    struct sip_framer f;
    struct sip_frame out, once = tu_frame_once(buf, len, max);
    for (size_t k = 1; k < len; k++) {
        sip_framer_init(&f);
        if (sip_framer_feed(&f, buf, k, max, &out) != SIP_FRAME_NEED_MORE) {
            same(what, k, out, want, once);
            continue;
        }
        sip_framer_feed(&f, buf, len, max, &out);
        same(what, k, out, want, once);
    }
    sip_framer_init(&f);
    for (size_t k = 1; k <= len; k++) {
        if (sip_framer_feed(&f, buf, k, max, &out) != SIP_FRAME_NEED_MORE || k == len) {
            same(what, k, out, want, once);
            return;
        }
    }
}
