/* Loading PEM CRLs into a trust store. */
#include "tls/crl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tls/internal.h"

size_t tls_crl_load(X509_STORE *store, const char *path, const uint8_t *pem, size_t len,
                    int64_t *next_update, char *err, size_t err_len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    size_t n = 0;
    *next_update = 0;
    X509_CRL *crl;
    while (bio != NULL && (crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL)) != NULL) {
        const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
        int64_t t = next != NULL ? tls_time_unix(next) : 0;
        if (t != 0 && (*next_update == 0 || t < *next_update))
            *next_update = t;
        if (store == NULL || X509_STORE_add_crl(store, crl))
            n++;
        X509_CRL_free(crl);
    }
    /* The loop ends on "no start line" at the end of the text; anything
     * else is a CRL that did not parse. */
    uint32_t last = ERR_peek_last_error();
    bool clean = ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE;
    const char *reason = ERR_reason_error_string(last);
    ERR_clear_error();
    BIO_free(bio);
    if (n == 0 || !clean) {
        snprintf(err, err_len, "crl_file %s: %s (%s)", path,
                 n == 0 ? "no PEM CRL" : "a CRL does not parse", reason ? reason : "unknown");
        *next_update = 0;
        return 0;
    }
    if (store != NULL)
        X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    return n;
}

int tls_crl_check_file(const char *path, char *problem, size_t problem_len)
{
    size_t len;
    uint8_t *pem = tls_read_file("crl_file", path, &len, problem, problem_len);
    int64_t next_update;
    size_t n =
        pem != NULL ? tls_crl_load(NULL, path, pem, len, &next_update, problem, problem_len) : 0;
    free(pem);
    return n > 0 ? 0 : -1;
}
