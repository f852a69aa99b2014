/* respond: the SIP responses reusegw originates itself (400, 483, 503),
 * built from the request they answer (RFC 3261 §8.2.6: Via, From, To with a
 * tag, Call-ID and CSeq copied).
 *
 * Borrows the parsed request; writes into the caller's buffer only. Never
 * decides when to answer: relay.c does. */
#ifndef REUSEGW_RESPOND_H
#define REUSEGW_RESPOND_H

#include <stddef.h>

#include "sip/message.h"

/* respond_build writes "SIP/2.0 |status| |reason|" for |req| into |out|
 * (|cap| bytes) with a Warning header "399 |agent| "|why|"" when |why| is
 * not NULL, and returns its length, or 0 when it does not fit or |req| lacks
 * a header a response needs. */
size_t respond_build(const struct sip_msg *req, unsigned status, const char *reason,
                     const char *agent, const char *why, char *out, size_t cap);

#endif
