/* dns_cache: RFC 3263 answers by (host, port), kept for their TTL in a fixed
 * number of entries with least-recently-used eviction, plus negative entries
 * for names that do not exist.
 *
 * Owns its entry array and hash buckets (allocated once in dns_cache_init).
 * Borrows nothing. Never reads the clock: callers pass "now" in
 * milliseconds of CLOCK_MONOTONIC. */
#ifndef REUSEGW_DNS_CACHE_H
#define REUSEGW_DNS_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "dns/dns_answer.h"

enum { DNS_HOST_MAX = 253 }; /* longest DNS name in text form */

/* dns_cache_entry is one cached answer; internal links are the cache's. */
struct dns_cache_entry {
    char host[DNS_HOST_MAX + 1]; /* lower case */
    uint16_t port;               /* the URI's explicit port, 0 when none */
    int status;                  /* enum dns_status: DNS_OK or a negative one */
    uint64_t expires_ms;
    struct dns_answer answer;               /* meaningful when status is DNS_OK */
    uint32_t lru_prev, lru_next, hash_next; /* index + 1; 0: none */
};

/* dns_cache holds at most |capacity| entries. */
struct dns_cache {
    struct dns_cache_entry *entries;
    uint32_t *buckets; /* head index + 1 */
    uint32_t capacity;
    uint32_t n_buckets; /* power of two */
    uint32_t count;
    uint32_t lru_head, lru_tail; /* most / least recently used, index + 1 */
    uint32_t free_head;          /* unused entries, index + 1 */
};

/* dns_cache_init allocates room for |capacity| (>= 1) entries; false when
 * out of memory. Release with dns_cache_free. */
bool dns_cache_init(struct dns_cache *cache, uint32_t capacity);

/* dns_cache_free releases the arrays. */
void dns_cache_free(struct dns_cache *cache);

/* dns_cache_lookup returns the live entry for (|host|, |port|) and marks it
 * recently used, or NULL. An expired entry is removed on the way. |host| is
 * compared case-insensitively. The entry is valid until the next store. */
const struct dns_cache_entry *dns_cache_lookup(struct dns_cache *cache, const char *host,
                                               uint16_t port, uint64_t now_ms);

/* dns_cache_store records |status| (and |answer| when DNS_OK; NULL
 * otherwise) for (|host|, |port|) until |expires_ms|, replacing an older
 * entry for the same key, else taking a free entry, else evicting the least
 * recently used one. |host| must be at most DNS_HOST_MAX bytes. */
void dns_cache_store(struct dns_cache *cache, const char *host, uint16_t port, int status,
                     const struct dns_answer *answer, uint64_t expires_ms);

#endif
