/* session_cache: client-side TLS sessions kept per (peer address, domain) so
 * that re-dials resume instead of running a full handshake.
 *
 * Owns the cached sessions and the identity sets proven when each was made.
 * Borrows nothing beyond a call. Never shared between threads (one per
 * event-loop worker) and never grows past its capacity: the least recently
 * stored entry is replaced. */
#ifndef REUSEGW_TLS_SESSION_CACHE_H
#define REUSEGW_TLS_SESSION_CACHE_H

#include <stddef.h>

/* The longest peer address key (a struct sockaddr_in6 is 28 bytes). */
#define TLS_SESSION_KEY_MAX_ADDR 32

struct tls_session_cache;

/* tls_session_cache_new makes an empty cache of |capacity| (>= 1) entries.
 * Returns NULL on allocation failure. Free with tls_session_cache_free. */
struct tls_session_cache *tls_session_cache_new(size_t capacity);

/* tls_session_cache_free frees the cache and every session in it. Connections
 * created with it must be freed first. NULL is ignored. */
void tls_session_cache_free(struct tls_session_cache *cache);

/* tls_session_cache_count returns how many entries hold a session. */
size_t tls_session_cache_count(const struct tls_session_cache *cache);

#endif
