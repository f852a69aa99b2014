/* route_index: the static routes by domain, for routing's per-request
 * lookup (config.h: cfg_index_routes, cfg_route_find). Linear probing in a
 * table at most half full, so a probe sequence always ends at an empty
 * slot; domains are unique (the loader refuses duplicates), so the first
 * match is the only one. */
#include "config/config.h"

#include "config/errors.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

/* domain_hash mixes |name| eight bytes at a time, each byte with bit 5 set:
 * that maps both cases of a letter to one value, so names that differ only
 * in case hash alike (other bytes that collide with each other only share
 * a probe sequence). */
static size_t domain_hash(const char *name, size_t len)
{
    const uint64_t k = 0x9e3779b97f4a7c15u;
    uint64_t h = (uint64_t)len * k;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = 0;
        memcpy(&w, name + i, len - i < 8 ? len - i : 8);
        h = ((h ^ (w | 0x2020202020202020u)) * k);
        h ^= h >> 29;
    }
    return (size_t)((h * k) >> 32);
}

/* is_domain is true when NUL-terminated |domain| is |name| (|len| bytes),
 * ignoring ASCII case. */
static bool is_domain(const char *domain, const char *name, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (domain[i] == 0 || lower((unsigned char)domain[i]) != lower((unsigned char)name[i]))
            return false;
    return domain[len] == 0;
}

void cfg_unindex_routes(struct cfg_snapshot *snap)
{
    free(snap->route_slots);
    snap->route_slots = NULL;
    snap->route_slot_mask = 0;
}

void cfg_index_routes(struct cfg_snapshot *snap)
{
    cfg_unindex_routes(snap);
    if (snap->n_routes == 0)
        return;
    size_t slots = 4;
    while (slots < 2 * snap->n_routes)
        slots <<= 1;
    snap->route_slots = cfg_xcalloc(slots, sizeof(*snap->route_slots));
    snap->route_slot_mask = slots - 1;
    for (size_t i = 0; i < snap->n_routes; i++) {
        const char *domain = snap->routes[i].domain;
        if (!domain)
            continue;
        size_t s = domain_hash(domain, strlen(domain)) & snap->route_slot_mask;
        while (snap->route_slots[s])
            s = (s + 1) & snap->route_slot_mask;
        snap->route_slots[s] = (uint32_t)(i + 1);
    }
}

const struct cfg_route *cfg_route_find(const struct cfg_snapshot *snap, const char *host,
                                       size_t len)
{
    assert(snap->route_slots || snap->n_routes == 0); /* cfg_index_routes forgotten */
    if (!snap->route_slots)
        return NULL;
    for (size_t s = domain_hash(host, len) & snap->route_slot_mask; snap->route_slots[s];
         s = (s + 1) & snap->route_slot_mask) {
        const struct cfg_route *r = &snap->routes[snap->route_slots[s] - 1];
        if (is_domain(r->domain, host, len))
            return r;
    }
    return NULL;
}
