/* RFC 5922 §7.1 extraction, §7.2 matching, RFC 5924 EKU classification. */
#include "tls/identities.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/mem.h>
#include <openssl/obj.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct tls_identities {
    atomic_uint refs;
    /* The peer chain that proved the names (pooled buffers, shared with
     * every connection of the same certificate), for re-checking it under
     * a reloaded CRL; NULL for our own certificates. */
    STACK_OF(CRYPTO_BUFFER) * chain;
    uint8_t count;
    uint16_t offset[TLS_IDENTITIES_MAX]; /* into names[], each NUL-terminated */
    char names[];
};

/* builder collects names on the stack so the set is one exact allocation. */
struct builder {
    size_t count;
    size_t used;
    uint16_t offset[TLS_IDENTITIES_MAX];
    char names[TLS_IDENTITIES_MAX * (TLS_IDENTITY_MAX_LEN + 1)];
};

static bool builder_has(const struct builder *b, const char *name, size_t len)
{
    for (size_t i = 0; i < b->count; i++) {
        const char *have = b->names + b->offset[i];
        if (strlen(have) == len && strncasecmp(have, name, len) == 0)
            return true;
    }
    return false;
}

static void builder_add(struct builder *b, const char *name, size_t len)
{
    if (b->count == TLS_IDENTITIES_MAX || len == 0 || len > TLS_IDENTITY_MAX_LEN ||
        builder_has(b, name, len))
        return;
    b->offset[b->count++] = (uint16_t)b->used;
    memcpy(b->names + b->used, name, len);
    b->names[b->used + len] = '\0';
    b->used += len + 1;
}

static struct tls_identities *builder_finish(const struct builder *b)
{
    struct tls_identities *set = malloc(sizeof(*set) + b->used);
    if (set == NULL)
        return NULL;
    atomic_init(&set->refs, 1);
    set->chain = NULL;
    set->count = (uint8_t)b->count;
    memcpy(set->offset, b->offset, sizeof(set->offset));
    memcpy(set->names, b->names, b->used);
    return set;
}

/* A host name in preferred name syntax (RFC 1035 §2.3.1 as relaxed by
 * RFC 1123): LDH labels of 1..63 bytes, no leading/trailing hyphen. */
static bool is_dns_name(const char *s, size_t len)
{
    if (len == 0 || len > TLS_IDENTITY_MAX_LEN)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool ldh =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        if (!ldh || (label == 0 && c == '-') || ++label > 63)
            return false;
    }
    return label > 0 && s[len - 1] != '-';
}

/* dNSName SANs are compared literally (a wildcard is just text), so only
 * require visible ASCII: an embedded NUL or space can never match a URI host. */
static bool is_visible_ascii(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return len > 0;
}

/* sip_uri_host finds the host of a "sip:" URI without userinfo. Returns false
 * for other schemes (sips: included), userinfo, or a host that is not a DNS
 * name. */
static bool sip_uri_host(const char *uri, size_t len, const char **host, size_t *host_len)
{
    if (len < 4 || strncasecmp(uri, "sip:", 4) != 0 || memchr(uri, '@', len) != NULL)
        return false;
    const char *h = uri + 4;
    size_t n = 0;
    while (4 + n < len && h[n] != ':' && h[n] != ';' && h[n] != '?')
        n++;
    if (!is_dns_name(h, n))
        return false;
    *host = h;
    *host_len = n;
    return true;
}

static void add_sip_uris(struct builder *b, const GENERAL_NAMES *sans)
{
    for (size_t i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type != GEN_URI)
            continue;
        const char *host;
        size_t host_len;
        const ASN1_STRING *s = gn->d.uniformResourceIdentifier;
        if (sip_uri_host((const char *)ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s),
                         &host, &host_len))
            builder_add(b, host, host_len);
    }
}

static void add_dns_names(struct builder *b, const GENERAL_NAMES *sans)
{
    for (size_t i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        if (gn->type != GEN_DNS)
            continue;
        const char *name = (const char *)ASN1_STRING_get0_data(gn->d.dNSName);
        size_t len = (size_t)ASN1_STRING_length(gn->d.dNSName);
        if (is_visible_ascii(name, len))
            builder_add(b, name, len);
    }
}

/* The most specific (last) CN, if it is a DNS name. */
static void add_common_name(struct builder *b, X509 *cert)
{
    X509_NAME *subject = X509_get_subject_name(cert);
    int idx = -1, last = -1;
    while ((idx = X509_NAME_get_index_by_NID(subject, NID_commonName, idx)) >= 0)
        last = idx;
    if (last < 0)
        return;
    unsigned char *utf8 = NULL;
    int len =
        ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, last)));
    if (len > 0 && is_dns_name((const char *)utf8, (size_t)len))
        builder_add(b, (const char *)utf8, (size_t)len);
    OPENSSL_free(utf8);
}

struct tls_identities *tls_identities_from_x509(X509 *cert)
{
    struct builder storage, *b = &storage;
    b->count = 0;
    b->used = 0;
    int critical = -1;
    GENERAL_NAMES *sans = X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, NULL);
    if (sans != NULL) {
        add_sip_uris(b, sans);
        if (b->count == 0)
            add_dns_names(b, sans);
        GENERAL_NAMES_free(sans);
    } else if (critical == -1) {
        /* -1: no SAN extension at all. -2 (duplicated) or a parse failure
         * still means a SAN exists, so the CN must not be used. */
        add_common_name(b, cert);
    }
    return builder_finish(b);
}

struct tls_identities *tls_identities_from_der(const uint8_t *der, size_t len)
{
    const uint8_t *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)len);
    if (cert == NULL)
        return NULL;
    struct tls_identities *set = tls_identities_from_x509(cert);
    X509_free(cert);
    return set;
}

struct tls_identities *tls_identities_from_pem_file(const char *path, char *err, size_t err_len)
{
    BIO *bio = BIO_new_file(path, "r");
    if (bio == NULL) {
        snprintf(err, err_len, "cannot read %s", path);
        return NULL;
    }
    X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (cert == NULL) {
        uint32_t code = ERR_get_error();
        ERR_clear_error();
        snprintf(err, err_len, "%s holds no PEM certificate (%s)", path,
                 code ? ERR_reason_error_string(code) : "no data");
        return NULL;
    }
    struct tls_identities *set = tls_identities_from_x509(cert);
    X509_free(cert);
    if (set == NULL)
        snprintf(err, err_len, "out of memory");
    return set;
}

struct tls_identities *tls_identities_from_names(const char *const *names, size_t n)
{
    struct builder b = {0};
    for (size_t i = 0; i < n; i++)
        builder_add(&b, names[i], strlen(names[i]));
    return builder_finish(&b);
}

struct tls_identities *tls_identities_ref(struct tls_identities *set)
{
    if (set != NULL)
        atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    return set;
}

void tls_identities_unref(struct tls_identities *set)
{
    if (set == NULL || atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) != 1)
        return;
    sk_CRYPTO_BUFFER_pop_free(set->chain, CRYPTO_BUFFER_free);
    free(set);
}

static CRYPTO_BUFFER *buffer_up_ref(CRYPTO_BUFFER *b)
{
    CRYPTO_BUFFER_up_ref(b);
    return b;
}

bool tls_identities_keep_chain(struct tls_identities *set, const STACK_OF(CRYPTO_BUFFER) * chain)
{
    set->chain = sk_CRYPTO_BUFFER_deep_copy(chain, buffer_up_ref, CRYPTO_BUFFER_free);
    return set->chain != NULL;
}

const STACK_OF(CRYPTO_BUFFER) * tls_identities_chain(const struct tls_identities *set)
{
    return set != NULL ? set->chain : NULL;
}

size_t tls_identities_count(const struct tls_identities *set)
{
    return set == NULL ? 0 : set->count;
}

const char *tls_identities_get(const struct tls_identities *set, size_t i)
{
    return set->names + set->offset[i];
}

bool tls_identities_contains(const struct tls_identities *set, const char *host, size_t len)
{
    for (size_t i = 0; i < tls_identities_count(set); i++) {
        const char *name = tls_identities_get(set, i);
        if (strlen(name) == len && strncasecmp(name, host, len) == 0)
            return true;
    }
    return false;
}

/* id-kp-sipDomain, RFC 5924 §4: 1.3.6.1.5.5.7.3.20 */
static const uint8_t sip_domain_oid[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x14};

unsigned tls_eku_classify(X509 *cert)
{
    int critical = -1;
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(cert, NID_ext_key_usage, &critical, NULL);
    if (eku == NULL)
        return critical == -1 ? 0 : TLS_EKU_PRESENT;
    unsigned flags = TLS_EKU_PRESENT;
    for (size_t i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
        const ASN1_OBJECT *oid = sk_ASN1_OBJECT_value(eku, i);
        switch (OBJ_obj2nid(oid)) {
        case NID_anyExtendedKeyUsage:
            flags |= TLS_EKU_ANY;
            break;
        case NID_server_auth:
            flags |= TLS_EKU_SERVER_AUTH;
            break;
        case NID_client_auth:
            flags |= TLS_EKU_CLIENT_AUTH;
            break;
        default:
            if (OBJ_length(oid) == sizeof(sip_domain_oid) &&
                memcmp(OBJ_get0_data(oid), sip_domain_oid, sizeof(sip_domain_oid)) == 0)
                flags |= TLS_EKU_SIP_DOMAIN;
        }
    }
    EXTENDED_KEY_USAGE_free(eku);
    return flags;
}

const char *tls_eku_refusal(unsigned eku, enum tls_peer_role role, bool require_sip_eku)
{
    if (!(eku & TLS_EKU_PRESENT) || (eku & TLS_EKU_SIP_DOMAIN))
        return NULL;
    if (require_sip_eku)
        return "certificate purpose: EKU lacks id-kp-sipDomain (RFC 5924, tls.require_sip_eku)";
    unsigned purpose = role == TLS_PEER_CLIENT ? TLS_EKU_CLIENT_AUTH : TLS_EKU_SERVER_AUTH;
    if (eku & purpose)
        return NULL;
    if (role == TLS_PEER_CLIENT)
        return eku & TLS_EKU_ANY ? "certificate purpose: EKU is anyExtendedKeyUsage without "
                                   "clientAuth or id-kp-sipDomain"
                                 : "certificate purpose: EKU lists neither clientAuth nor "
                                   "id-kp-sipDomain";
    return eku & TLS_EKU_ANY
               ? "certificate purpose: EKU is anyExtendedKeyUsage without serverAuth or "
                 "id-kp-sipDomain"
               : "certificate purpose: EKU lists neither serverAuth nor id-kp-sipDomain";
}
