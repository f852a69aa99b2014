/* resumed_identities: the identities of client certificates seen in full
 * handshakes, recalled when a session resumes.
 *
 * Owns a process-wide bounded table keyed by the SHA-256 of the leaf
 * certificate, holding a reference to each identity set. Borrows the DER it
 * hashes. Never decides trust: a session resumes only under the session ID
 * context (trust anchors and policy) it was made with, and identities are a
 * pure function of the certificate bytes, so one table can serve every ctx,
 * before and after a reload. */
#ifndef REUSEGW_TLS_RESUMED_IDENTITIES_H
#define REUSEGW_TLS_RESUMED_IDENTITIES_H

#include <stddef.h>
#include <stdint.h>

#include "tls/identities.h"

/* The table holds this many certificates; the oldest entry is replaced. A
 * session whose entry was replaced resumes unauthenticated (no identities:
 * never aliased), never wrongly authenticated. */
#define TLS_RESUMED_IDENTITIES_SLOTS 4096

/* tls_resumed_identities_remember stores |ids| (takes a new reference) under
 * the SHA-256 of the leaf certificate |der| (|len| bytes, borrowed). */
void tls_resumed_identities_remember(const uint8_t *der, size_t len, struct tls_identities *ids);

/* tls_resumed_identities_recall returns a new reference to the identities
 * stored for |cert_sha256|, or NULL. */
struct tls_identities *tls_resumed_identities_recall(const uint8_t cert_sha256[32]);

#endif
