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
#include <openssl/pool.h>

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

/* tls_identities_from_names makes a set of the |n| names |names| (borrowed)
 * as written, without checking them: the domains an operator lists for an
 * identity of ours. Returns a new set, or NULL on allocation failure. */
struct tls_identities *tls_identities_from_names(const char *const *names, size_t n);

/* tls_identities_ref takes one more reference to |set| and returns it; NULL
 * (an unauthenticated peer) gives NULL, so callers can keep the result of
 * tls_conn_identities without a check. */
struct tls_identities *tls_identities_ref(struct tls_identities *set);

/* tls_identities_unref drops one reference; the last one frees the set.
 * NULL is ignored. */
void tls_identities_unref(struct tls_identities *set);

/* tls_identities_keep_chain makes |set| (new, not yet shared) hold
 * references to the peer certificates of |chain| (leaf first, borrowed)
 * that proved it, so that a reloaded CRL can be checked against a
 * connection that is already up. False on allocation failure. */
bool tls_identities_keep_chain(struct tls_identities *set, const STACK_OF(CRYPTO_BUFFER) * chain);

/* tls_identities_chain returns the chain tls_identities_keep_chain kept
 * (borrowed from |set|), or NULL. */
const STACK_OF(CRYPTO_BUFFER) * tls_identities_chain(const struct tls_identities *set);

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

/* tls_eku_flags say what a leaf's Extended Key Usage extension lists
 * (RFC 5280 4.2.1.12); tls_eku_classify sets them. */
enum tls_eku_flags {
    TLS_EKU_PRESENT = 1 << 0,     /* the extension exists (even unparseable) */
    TLS_EKU_SIP_DOMAIN = 1 << 1,  /* id-kp-sipDomain (RFC 5924) */
    TLS_EKU_ANY = 1 << 2,         /* anyExtendedKeyUsage */
    TLS_EKU_SERVER_AUTH = 1 << 3, /* id-kp-serverAuth */
    TLS_EKU_CLIENT_AUTH = 1 << 4, /* id-kp-clientAuth */
};

/* tls_eku_classify reads the EKU extension of |cert| (borrowed) and returns
 * an OR of enum tls_eku_flags; 0 when there is no extension. */
unsigned tls_eku_classify(X509 *cert);

/* tls_peer_role is the TLS role of the peer whose certificate is checked,
 * which names the purpose the certificate must be fit for. */
enum tls_peer_role {
    TLS_PEER_CLIENT, /* a client dialled us: id-kp-clientAuth */
    TLS_PEER_SERVER, /* we dialled a server: id-kp-serverAuth */
};

/* tls_eku_refusal applies the certificate-purpose policy to |eku| (flags of
 * tls_eku_classify) for a peer in |role| and returns NULL when the leaf is
 * fit, else a static reason for the log. No extension, or id-kp-sipDomain,
 * always passes (RFC 5924 §4: the extension restricts, its absence does not).
 * Otherwise, with |require_sip_eku| the leaf is refused; without it the
 * extension must list the role's purpose. anyExtendedKeyUsage alone never
 * counts as that purpose: RFC 5280 4.2.1.12 lets an application that needs
 * a particular purpose refuse it, and a CA that means TLS use lists the
 * purpose beside it. */
const char *tls_eku_refusal(unsigned eku, enum tls_peer_role role, bool require_sip_eku);

#endif
