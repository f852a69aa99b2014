/* test/sip/testutil.h: helpers shared by the sip/ unit tests: loading test
 * messages and replaying them through the framer at every split point. */
#ifndef REUSEGW_TEST_SIP_TESTUTIL_H
#define REUSEGW_TEST_SIP_TESTUTIL_H

#include <stddef.h>

#include "sip/framing.h"

/* Reads TEST_DATA_DIR/<relpath> into a malloc'd buffer (caller frees);
 * fails the running test when the file cannot be read. */
char *tu_load(const char *relpath, size_t *len);

/* Frames buf[0..len) in one call and returns the outcome. */
struct sip_frame tu_frame_once(const char *buf, size_t len, size_t max);

/* Replays buf[0..len) through fresh framers: for every split k, the first k
 * bytes then all of them; then one byte at a time. Every early non-NEED_MORE
 * answer and every final answer must equal `want` (event, len, err).
 * `what` names the message in failure output. */
void tu_replay(const char *what, const char *buf, size_t len, size_t max, struct sip_frame want);

#endif
