/* bench/scale/names.h: the names both tools and run.sh agree on. Peer
 * connection i of scale_load proves domain p<i>.scale.test with client
 * certificate i / NAMES_PER_CERT (run.sh makes certificate g for domains
 * p<16g>..p<16g+15>) and sends Via sent-by p<i>.scale.test:<base port + i>,
 * so reusegw aliases it under that port; run.sh routes p<i>.scale.test to
 * <scale_load's address>:<base port + i>. */
#ifndef REUSEGW_BENCH_SCALE_NAMES_H
#define REUSEGW_BENCH_SCALE_NAMES_H

#include <stdio.h>

/* Domains per client certificate: reusegw keeps at most 16 identities of
 * a certificate (tls/identities.h TLS_IDENTITIES_MAX). */
#define NAMES_PER_CERT 16

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
