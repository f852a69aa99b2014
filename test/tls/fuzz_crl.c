/* fuzz_crl: the tls.crl loader (tls_crl_load) on arbitrary bytes as the
 * file's PEM text. A refusal always says why, and leaves no next update;
 * an accepted file had at least one CRL added. (A next update may be
 * before 1970: negative.) */
#include <stdint.h>
#include <stdlib.h>

#include <openssl/x509.h>

#include "tls/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    X509_STORE *store = X509_STORE_new();
    if (store == NULL)
        return 0;
    char err[256] = "";
    int64_t next_update = -1;
    size_t n = tls_crl_load(store, "fuzz.pem", data, size, &next_update, err, sizeof(err));
    if (n == 0 && (err[0] == '\0' || next_update != 0))
        abort();
    X509_STORE_free(store);
    return 0;
}
