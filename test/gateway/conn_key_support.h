/* conn_key_support: connection-index keys written as text, for the cmocka
 * tests of gateway/conn and what is built on it.
 *
 * Owns nothing. Borrows gateway/conn's key conversion. Never accepts a
 * malformed key quietly: the running cmocka test fails instead. */
#ifndef REUSEGW_TEST_CONN_KEY_SUPPORT_H
#define REUSEGW_TEST_CONN_KEY_SUPPORT_H

#include <stdint.h>

#include "conn/conn-t.h"

/* conn_key_of_ipv4 returns the index key of IPv4 literal |ip| and |port|
 * (host byte order), as conn_key_from_sockaddr makes it. */
struct conn_key conn_key_of_ipv4(const char *ip, uint16_t port);

#endif
