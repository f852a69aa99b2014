/* config_load: cfg_load_checked's certificate reader. See config_load.h. */
#include "worker/config_load.h"

#include "tls/crl.h"
#include "tls/identities.h"

#include <stdio.h>

int gateway_cert_names(const char *certificate_file, char names[CFG_CERT_NAMES_MAX][CFG_NAME_MAX],
                       char *problem, size_t problem_len)
{
    struct tls_identities *ids =
        tls_identities_from_pem_file(certificate_file, problem, problem_len);
    if (!ids)
        return -1;
    size_t n = tls_identities_count(ids);
    if (n > CFG_CERT_NAMES_MAX)
        n = CFG_CERT_NAMES_MAX;
    for (size_t i = 0; i < n; i++)
        snprintf(names[i], CFG_NAME_MAX, "%s", tls_identities_get(ids, i));
    tls_identities_unref(ids);
    return (int)n;
}

const struct cfg_readers gateway_readers = {
    .cert_names = gateway_cert_names,
    .crl = tls_crl_check_file,
};
