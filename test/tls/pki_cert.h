/* pki_cert: certificates of the generated test PKI (tls_test_support's
 * pki_setup) read from disk for cmocka tests.
 *
 * Owns nothing between calls: each result belongs to the caller. Borrows the
 * PKI directory. Never returns NULL: a missing or unreadable certificate
 * fails the running cmocka test. */
#ifndef REUSEGW_TEST_PKI_CERT_H
#define REUSEGW_TEST_PKI_CERT_H

#include <openssl/x509.h>

#include "tls/identities.h"

/* pki_x509_load reads "<pki dir>/<leaf>.pem". The caller owns the result
 * and releases it with X509_free. */
X509 *pki_x509_load(const char *leaf);

/* pki_identities_load extracts the RFC 5922 identities of <leaf>.pem. The
 * caller owns the reference and drops it with tls_identities_unref. */
struct tls_identities *pki_identities_load(const char *leaf);

#endif
