/* config_load: the gateway's way to load a configuration, at start-up,
 * for --check-config and on reload: config/'s loader with tls/ reading
 * what each certificate proves, so that an identity whose certificate does
 * not prove it is refused with the file, line and column of the key, and
 * so is a tls.crl file that holds no usable CRL.
 *
 * Owns nothing. Borrows the path for the call. Never builds a TLS context:
 * it only reads the leaf certificates' names. */
#ifndef REUSEGW_WORKER_CONFIG_LOAD_H
#define REUSEGW_WORKER_CONFIG_LOAD_H

#include "config/config.h"

/* gateway_cert_names is the cfg_cert_names_fn of the gateway (see
 * config.h): the RFC 5922 identities of the first certificate in a PEM
 * file, as tls/ extracts them for peers. */
int gateway_cert_names(const char *certificate_file, char names[CFG_CERT_NAMES_MAX][CFG_NAME_MAX],
                       char *problem, size_t problem_len);

/* gateway_readers are the cfg_readers of the gateway: gateway_cert_names
 * and tls/'s CRL reader (tls_crl_check_file). */
extern const struct cfg_readers gateway_readers;

#endif
