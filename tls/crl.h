/* crl: certificate revocation lists (RFC 5280 §5) for the peer chains a
 * ctx verifies.
 *
 * Owns nothing beyond a call: tls_ctx_new loads the CRLs of
 * tls_ctx_options.crl_file into the ctx's trust store (tls_crl_load in
 * internal.h), and this header lets configuration checks read such a file
 * ahead. Never fetches a CRL over the network (no CRL distribution points):
 * the operator's tooling puts the file in place and reloads. */
#ifndef REUSEGW_TLS_CRL_H
#define REUSEGW_TLS_CRL_H

#include <stddef.h>

/* tls_crl_check_file reads |path| (borrowed) as tls_ctx_new would: 0 when it
 * holds at least one PEM CRL and nothing else it cannot parse; -1 after
 * writing into |problem| (|problem_len| bytes, NUL-terminated) why not. */
int tls_crl_check_file(const char *path, char *problem, size_t problem_len);

#endif
