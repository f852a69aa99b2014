/* call_id: the Call-ID of a raw SIP message, for the HEP correlation chunk.
 *
 * Owns nothing: returns a slice of the caller's bytes. Never allocates and
 * never parses more than the header lines up to the Call-ID (or the empty
 * line): capture must cost the relay little, and the relay has already
 * judged the message. */
#ifndef REUSEGW_CAPTURE_CALL_ID_H
#define REUSEGW_CAPTURE_CALL_ID_H

#include <stddef.h>

#include "capture/hep.h"

/* capture_call_id returns the value of the first Call-ID (or compact `i`)
 * header of |msg| (|len| bytes), without surrounding whitespace; empty when
 * there is none before the end of the header section. A folded value is
 * cut at its first line end. */
struct hep_octets capture_call_id(const char *msg, size_t len);

#endif
