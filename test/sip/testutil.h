/* test/sip/testutil.h: helpers shared by the sip/ unit tests: loading test
 * messages, replaying them through the framer at every split point, and
 * comparing parsed slices with literals. */
#ifndef REUSEGW_TEST_SIP_TESTUTIL_H
#define REUSEGW_TEST_SIP_TESTUTIL_H

#include <stddef.h>

#include "sip/framing.h"
#include "sip/str.h"

/* Reads TEST_DATA_DIR/<relpath> into a malloc'd buffer (caller frees);
 * fails the running test when the file cannot be read. */
char *tu_load(const char *relpath, size_t *len);

/* Frames buf[0..len) in one call and returns the outcome. */
struct sip_frame tu_frame_once(const char *buf, size_t len, size_t max);

/* Replays buf[0..len) through fresh framers: for every split k, the first k
 * bytes then all of them; then one byte at a time. Every early non-NEED_MORE
 * answer and every final answer must equal `want` (event, len, err), with
 * the Via and CSeq line offsets of the one-shot answer.
 * `what` names the message in failure output. */
void tu_replay(const char *what, const char *buf, size_t len, size_t max, struct sip_frame want);

/* assert_sip_str_equal fails the running cmocka test unless slice |s| is
 * present (non-NULL) and holds exactly string literal |lit|. */
#define assert_sip_str_equal(s, lit)                                                               \
    do {                                                                                           \
        struct sip_str s_ = (s);                                                                   \
        assert_non_null(s_.p);                                                                     \
        assert_int_equal(s_.len, sizeof(lit) - 1);                                                 \
        assert_memory_equal(s_.p, lit, sizeof(lit) - 1);                                           \
    } while (0)

#endif
