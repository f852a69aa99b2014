/* fuzz_identity: RFC 5922 identity extraction and EKU classification on
 * arbitrary DER. Every extracted name must be bounded and match itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "tls/identities.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tls_identities *ids = tls_identities_from_der(data, size);
    if (ids == NULL)
        return 0;
    size_t n = tls_identities_count(ids);
    if (n > TLS_IDENTITIES_MAX)
        abort();
    for (size_t i = 0; i < n; i++) {
        const char *name = tls_identities_get(ids, i);
        size_t len = strlen(name);
        if (len == 0 || len > TLS_IDENTITY_MAX_LEN || !tls_identities_contains(ids, name, len))
            abort();
    }
    const uint8_t *p = data;
    X509 *x = d2i_X509(NULL, &p, (long)size);
    if (x != NULL) {
        unsigned eku = tls_eku_classify(x);
        /* strictness only removes: what strict accepts, lax accepts */
        if (tls_eku_refusal(eku, TLS_PEER_CLIENT, true) == NULL &&
            tls_eku_refusal(eku, TLS_PEER_CLIENT, false) != NULL)
            abort();
        X509_free(x);
    }
    tls_identities_unref(ids);
    return 0;
}
