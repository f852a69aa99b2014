/* dns_cache: chained hash over a fixed entry array, with an intrusive LRU
 * list threaded through the same entries. */
#include "dns/dns_cache.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static uint32_t hash_key(const char *host, uint16_t port)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = host; *p; p++) {
        char c = *p;
        h = (h ^ (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c)) * 16777619u;
    }
    h = (h ^ (port & 0xff)) * 16777619u;
    return (h ^ (port >> 8)) * 16777619u;
}

bool dns_cache_init(struct dns_cache *cache, uint32_t capacity)
{
    memset(cache, 0, sizeof(*cache));
    uint32_t n_buckets = 1;
    while (n_buckets < 2 * capacity)
        n_buckets <<= 1;
    cache->entries = calloc(capacity, sizeof(*cache->entries));
    cache->buckets = calloc(n_buckets, sizeof(*cache->buckets));
    if (capacity == 0 || !cache->entries || !cache->buckets) {
        dns_cache_free(cache);
        return false;
    }
    cache->capacity = capacity;
    cache->n_buckets = n_buckets;
    /* Unused entries are chained through hash_next as the free list. */
    for (uint32_t i = 0; i + 1 < capacity; i++)
        cache->entries[i].hash_next = i + 2;
    cache->free_head = 1;
    return true;
}

void dns_cache_free(struct dns_cache *cache)
{
    free(cache->entries);
    free(cache->buckets);
    memset(cache, 0, sizeof(*cache));
}

static struct dns_cache_entry *at(struct dns_cache *cache, uint32_t ref)
{
    return ref ? &cache->entries[ref - 1] : NULL;
}

static uint32_t ref_of(struct dns_cache *cache, const struct dns_cache_entry *e)
{
    return (uint32_t)(e - cache->entries) + 1;
}

static void lru_unlink(struct dns_cache *cache, struct dns_cache_entry *e)
{
    if (e->lru_prev)
        at(cache, e->lru_prev)->lru_next = e->lru_next;
    else
        cache->lru_head = e->lru_next;
    if (e->lru_next)
        at(cache, e->lru_next)->lru_prev = e->lru_prev;
    else
        cache->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = 0;
}

static void lru_push_front(struct dns_cache *cache, struct dns_cache_entry *e)
{
    uint32_t ref = ref_of(cache, e);
    e->lru_prev = 0;
    e->lru_next = cache->lru_head;
    if (cache->lru_head)
        at(cache, cache->lru_head)->lru_prev = ref;
    cache->lru_head = ref;
    if (!cache->lru_tail)
        cache->lru_tail = ref;
}

/* find returns the entry for the key and, through |link|, the slot that
 * points at it (bucket head or a predecessor's hash_next). */
static struct dns_cache_entry *find(struct dns_cache *cache, const char *host, uint16_t port,
                                    uint32_t **link)
{
    uint32_t *slot = &cache->buckets[hash_key(host, port) & (cache->n_buckets - 1)];
    while (*slot) {
        struct dns_cache_entry *e = at(cache, *slot);
        if (e->port == port && strcasecmp(e->host, host) == 0) {
            *link = slot;
            return e;
        }
        slot = &e->hash_next;
    }
    *link = slot;
    return NULL;
}

static void remove_entry(struct dns_cache *cache, struct dns_cache_entry *e)
{
    uint32_t *link;
    find(cache, e->host, e->port, &link);
    *link = e->hash_next;
    lru_unlink(cache, e);
    memset(e, 0, sizeof(*e));
    e->hash_next = cache->free_head;
    cache->free_head = ref_of(cache, e);
    cache->count--;
}

const struct dns_cache_entry *dns_cache_lookup(struct dns_cache *cache, const char *host,
                                               uint16_t port, uint64_t now_ms)
{
    uint32_t *link;
    struct dns_cache_entry *e = find(cache, host, port, &link);
    if (!e)
        return NULL;
    if (now_ms >= e->expires_ms) {
        remove_entry(cache, e);
        return NULL;
    }
    lru_unlink(cache, e);
    lru_push_front(cache, e);
    return e;
}

/* take_free returns an unused entry, evicting the least recently used one
 * when all are taken. */
static struct dns_cache_entry *take_free(struct dns_cache *cache)
{
    if (!cache->free_head)
        remove_entry(cache, at(cache, cache->lru_tail));
    struct dns_cache_entry *e = at(cache, cache->free_head);
    cache->free_head = e->hash_next;
    e->hash_next = 0;
    return e;
}

void dns_cache_store(struct dns_cache *cache, const char *host, uint16_t port, int status,
                     const struct dns_answer *answer, uint64_t expires_ms)
{
    uint32_t *link;
    struct dns_cache_entry *e = find(cache, host, port, &link);
    if (e)
        remove_entry(cache, e);
    e = take_free(cache);
    size_t len = strlen(host);
    for (size_t i = 0; i < len && i < DNS_HOST_MAX; i++) {
        char c = host[i];
        e->host[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    e->port = port;
    e->status = status;
    e->expires_ms = expires_ms;
    if (answer)
        e->answer = *answer;
    find(cache, e->host, port, &link); /* the empty slot at the chain's end */
    *link = ref_of(cache, e);
    lru_push_front(cache, e);
    cache->count++;
}
