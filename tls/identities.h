/* identities: RFC 5922 §7.1 identity sets and the RFC 5924 EKU policy.
 *
 * Owns struct tls_identities: a small immutable, refcounted set of host names
 * a certificate proves. Borrows the certificates it reads (X509 or DER) for the
 * duration of a call only. Never verifies a chain, never resolves a name and
 * never expands a wildcard. */
#ifndef REUSEGW_TLS_IDENTITIES_H
#define REUSEGW_TLS_IDENTITIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/base.h>

/* A set holds at most this many names; further names in a certificate are
 * ignored (a SIP peer certificate lists a handful of domains). */
#define TLS_IDENTITIES_MAX 16
/* The longest name kept (RFC 1035 presentation form without the root dot). */
#define TLS_IDENTITY_MAX_LEN 253

/* tls_identities is the set of domains one certificate proves. */
struct tls_identities;

/* tls_identities_from_x509 extracts the identities of |cert| (borrowed) per
 * RFC 5922 §7.1: the host of every sip: URI SAN without userinfo (sips: and
 * any URI containing '@' are ignored); else, only when no acceptable sip URI
 * SAN exists, every dNSName SAN taken literally; else, only when the
 * certificate has no subjectAltName extension at all, the CN if it is a valid
 * DNS name. iPAddress SANs never count. Returns a new set with one reference
 * (release with tls_identities_unref), an empty set when the certificate
 * proves nothing, or NULL only on allocation failure. */
struct tls_identities *tls_identities_from_x509(X509 *cert);

/* tls_identities_from_der parses one DER certificate of |len| bytes (borrowed)
 * and extracts its identities like tls_identities_from_x509. Returns NULL when
 * the bytes are not a certificate or on allocation failure. */
struct tls_identities *tls_identities_from_der(const uint8_t *der, size_t len);

/* tls_identities_from_pem_file reads the first certificate of the PEM file
 * |path| (borrowed) and extracts its identities like
 * tls_identities_from_x509: what a certificate of ours proves, for start-up
 * checks. Returns a new set, or NULL after writing into |err| (|err_len|
 * bytes, NUL-terminated) why the file holds no certificate. */
struct tls_identities *tls_identities_from_pem_file(const char *path, char *err, size_t err_len);

/* tls_identities_ref takes one more reference to |set| and returns it; NULL
 * (an unauthenticated peer) gives NULL, so callers can keep the result of
 * tls_conn_identities without a check. */
struct tls_identities *tls_identities_ref(struct tls_identities *set);

/* tls_identities_unref drops one reference; the last one frees the set.
 * NULL is ignored. */
void tls_identities_unref(struct tls_identities *set);

/* tls_identities_count returns how many names |set| holds (0 for NULL). */
size_t tls_identities_count(const struct tls_identities *set);

/* tls_identities_get returns name |i| (< count) as a NUL-terminated string
 * owned by |set|. */
const char *tls_identities_get(const struct tls_identities *set, size_t i);

/* tls_identities_contains reports whether |host| (|len| bytes, borrowed, need
 * not be NUL-terminated) equals one name of |set| per RFC 5922 §7.2: whole
 * string, ASCII case-insensitive, no wildcard or suffix match. A NULL set
 * contains nothing. */
bool tls_identities_contains(const struct tls_identities *set, const char *host, size_t len);

/* tls_eku_verdict is the RFC 5924 classification of a leaf's Extended Key
 * Usage extension. */
enum tls_eku_verdict {
    TLS_EKU_NONE,       /* no EKU extension: acceptable */
    TLS_EKU_SIP_DOMAIN, /* lists id-kp-sipDomain: acceptable */
    TLS_EKU_ANY_ONLY,   /* anyExtendedKeyUsage without id-kp-sipDomain */
    TLS_EKU_OTHER,      /* EKU present with neither: not a SIP certificate */
};

/* tls_eku_classify reads the EKU extension of |cert| (borrowed). */
enum tls_eku_verdict tls_eku_classify(X509 *cert);

/* tls_eku_acceptable applies the policy: NONE and SIP_DOMAIN always pass;
 * ANY_ONLY and OTHER pass unless |require_sip_eku| (serverAuth+clientAuth
 * certificates are what private CAs issue, so strictness is an option). */
bool tls_eku_acceptable(enum tls_eku_verdict verdict, bool require_sip_eku);

#endif
