/* bench/scale/names.h: the names both tools and run.sh agree on. Peer
 * connection i of scale_load proves domain p<i>.scale.test (its certificate
 * lists them all) and sends Via sent-by p<i>.scale.test:<base port + i>, so
 * reusegw aliases it under that port; run.sh routes p<i>.scale.test to
 * <scale_load's address>:<base port + i>. */
#ifndef REUSEGW_BENCH_SCALE_NAMES_H
#define REUSEGW_BENCH_SCALE_NAMES_H

#include <stdio.h>

/* Via sent-by port of peer connection 0 (scale_load -P). */
#define NAMES_BASE_PORT 20000

/* Target of the requests scale_load sends towards the legacy side. */
#define NAMES_LEGACY_TARGET "legacy.scale.test"

/* Writes the domain of peer connection i into buf. */
static inline void names_peer_domain(unsigned i, char *buf, size_t cap)
{
    snprintf(buf, cap, "p%u.scale.test", i);
}

#endif
