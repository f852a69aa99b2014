/* Certificate loading on cmocka assertions, apart from tls_test_support.c so
 * that the benchmark, which links that library, needs no cmocka. */
#include "pki_cert.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "tls_test_support.h"

X509 *pki_x509_load(const char *leaf)
{
    char name[128];
    snprintf(name, sizeof(name), "%s.pem", leaf);
    FILE *f = fopen(pki_path(name), "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

struct tls_identities *pki_identities_load(const char *leaf)
{
    X509 *x = pki_x509_load(leaf);
    struct tls_identities *ids = tls_identities_from_x509(x);
    X509_free(x);
    assert_non_null(ids);
    return ids;
}
