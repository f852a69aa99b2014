/* bench/sip_parse_osip.h: the libosip2 side of bench/sip_parse, in its own
 * translation unit because libosip2's headers define names (SIP_OK, ...)
 * that clash with sip/error.h. */
#ifndef REUSEGW_BENCH_SIP_PARSE_OSIP_H
#define REUSEGW_BENCH_SIP_PARSE_OSIP_H

#include <stddef.h>

/* Initialises libosip2's parser tables; call once. */
void osip_setup(void);

/* Parses one message completely with libosip2 and frees it: 0 on success. */
int osip_parse_once(const char *buf, size_t len);

#endif
