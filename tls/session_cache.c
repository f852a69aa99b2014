/* A fixed array searched linearly: a gateway dials a few hundred peers. */
#include "tls/internal.h"

#include <stdlib.h>
#include <string.h>

struct session_entry {
    struct tls_session_key key;
    uint64_t generation;
    uint64_t stored_at;   /* cache tick, for least-recently-stored replacement */
    SSL_SESSION *session; /* NULL: free entry */
    struct tls_identities *ids;
};

struct tls_session_cache {
    size_t capacity;
    uint64_t tick;
    struct session_entry entries[];
};

struct tls_session_cache *tls_session_cache_new(size_t capacity)
{
    if (capacity == 0)
        return NULL;
    struct tls_session_cache *cache =
        calloc(1, sizeof(*cache) + capacity * sizeof(struct session_entry));
    if (cache != NULL)
        cache->capacity = capacity;
    return cache;
}

static void entry_clear(struct session_entry *e)
{
    SSL_SESSION_free(e->session);
    tls_identities_unref(e->ids);
    e->session = NULL;
    e->ids = NULL;
}

void tls_session_cache_free(struct tls_session_cache *cache)
{
    if (cache == NULL)
        return;
    for (size_t i = 0; i < cache->capacity; i++)
        entry_clear(&cache->entries[i]);
    free(cache);
}

size_t tls_session_cache_count(const struct tls_session_cache *cache)
{
    size_t n = 0;
    for (size_t i = 0; i < cache->capacity; i++)
        n += cache->entries[i].session != NULL;
    return n;
}

static bool key_equal(const struct tls_session_key *a, const struct tls_session_key *b)
{
    return a->identity == b->identity && a->addr_len == b->addr_len &&
           a->domain_len == b->domain_len && memcmp(a->addr, b->addr, a->addr_len) == 0 &&
           memcmp(a->domain, b->domain, a->domain_len) == 0;
}

static struct session_entry *find(struct tls_session_cache *cache,
                                  const struct tls_session_key *key)
{
    for (size_t i = 0; i < cache->capacity; i++) {
        struct session_entry *e = &cache->entries[i];
        if (e->session != NULL && key_equal(&e->key, key))
            return e;
    }
    return NULL;
}

SSL_SESSION *tls_session_cache_take(struct tls_session_cache *cache,
                                    const struct tls_session_key *key, uint64_t generation,
                                    struct tls_identities **ids)
{
    *ids = NULL;
    struct session_entry *e = find(cache, key);
    if (e == NULL)
        return NULL;
    if (e->generation != generation) {
        /* Made under a ctx since replaced: our certificate or trust changed. */
        entry_clear(e);
        return NULL;
    }
    SSL_SESSION *session = e->session;
    *ids = tls_identities_ref(e->ids);
    if (SSL_SESSION_should_be_single_use(session)) {
        /* TLS 1.3 tickets are used once; the new connection stores its own. */
        e->session = NULL;
        tls_identities_unref(e->ids);
        e->ids = NULL;
    } else {
        SSL_SESSION_up_ref(session);
    }
    return session;
}

void tls_session_cache_put(struct tls_session_cache *cache, const struct tls_session_key *key,
                           uint64_t generation, SSL_SESSION *session, struct tls_identities *ids)
{
    struct session_entry *e = find(cache, key);
    for (size_t i = 0; e == NULL && i < cache->capacity; i++)
        if (cache->entries[i].session == NULL)
            e = &cache->entries[i];
    if (e == NULL) {
        e = &cache->entries[0];
        for (size_t i = 1; i < cache->capacity; i++)
            if (cache->entries[i].stored_at < e->stored_at)
                e = &cache->entries[i];
    }
    entry_clear(e);
    e->key = *key;
    e->generation = generation;
    e->stored_at = ++cache->tick;
    e->session = session;
    e->ids = tls_identities_ref(ids);
}
