/* conn: slot table with generation counts and a chained hash index keyed by
 * (family, address, port). */
#include "conn/conn.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conn/peer_index.h"
#include "tls/identities.h"

bool conn_table_init(struct conn_table *t, uint32_t capacity)
{
    memset(t, 0, sizeof(*t));
    uint32_t nb = 64;
    while (nb < capacity && nb < (1u << 20))
        nb <<= 1;
    t->slots = calloc(capacity ? capacity : 1, sizeof(*t->slots));
    t->buckets = calloc(nb, sizeof(*t->buckets));
    t->peer_buckets = calloc(nb, sizeof(*t->peer_buckets));
    if (!t->slots || !t->buckets || !t->peer_buckets) {
        conn_table_free(t);
        return false;
    }
    t->capacity = capacity;
    t->bucket_mask = nb - 1;
    return true;
}

void conn_table_free(struct conn_table *t)
{
    free(t->slots);
    free(t->buckets);
    free(t->peer_buckets);
    memset(t, 0, sizeof(*t));
}

struct conn *conn_alloc(struct conn_table *t, enum conn_kind kind)
{
    if (t->used >= t->capacity)
        return NULL;
    struct conn *c;
    if (t->free_head) {
        c = &t->slots[t->free_head - 1];
        t->free_head = c->key_next;
    } else {
        c = &t->slots[t->high++];
    }
    uint32_t gen = c->gen;
    memset(c, 0, sizeof(*c));
    c->gen = gen;
    c->kind = (uint8_t)kind;
    c->state = CONN_CONNECTING;
    c->fd = -1;
    t->used++;
    return c;
}

void conn_release(struct conn_table *t, struct conn *c)
{
    conn_index_remove(t, c);
    conn_peer_untrack(t, c);
    uint32_t slot = (uint32_t)(c - t->slots) + 1;
    c->gen++;
    c->state = CONN_FREE;
    c->key_next = t->free_head;
    t->free_head = slot;
    t->used--;
}

struct conn_ref conn_ref_of(const struct conn_table *t, const struct conn *c)
{
    return (struct conn_ref){.slot = (uint32_t)(c - t->slots) + 1, .gen = c->gen};
}

struct conn *conn_at(const struct conn_table *t, uint32_t slot)
{
    if (slot == 0 || slot > t->high)
        return NULL;
    return &t->slots[slot - 1];
}

struct conn *conn_get(const struct conn_table *t, struct conn_ref ref)
{
    struct conn *c = conn_at(t, ref.slot);
    if (!c || c->gen != ref.gen || c->state == CONN_FREE)
        return NULL;
    return c;
}

const char *conn_kind_name(const struct conn *c)
{
    static const char *const names[] = {"tls-in", "tls-out", "mirror", "egress", "udp"};
    return names[c->kind];
}

const struct sockaddr *conn_local(struct conn *c)
{
    if (c->local_len == 0) {
        socklen_t n = sizeof(c->local);
        if (getsockname(c->fd, (struct sockaddr *)&c->local, &n) != 0)
            return NULL;
        c->local_len = n;
    }
    return (const struct sockaddr *)&c->local;
}

void conn_index_remove(struct conn_table *t, struct conn *c)
{
    if (!c->key.family)
        return;
    if (t->shared)
        peer_index_remove(t->shared, &c->key, t->worker_id, conn_ref_of(t, c));
    uint32_t slot = (uint32_t)(c - t->slots) + 1;
    uint32_t *link = &t->buckets[conn_key_hash(&c->key) & t->bucket_mask];
    while (*link) {
        if (*link == slot) {
            *link = c->key_next;
            break;
        }
        link = &t->slots[*link - 1].key_next;
    }
    c->key_next = 0;
    c->key.family = 0;
}

void conn_index_set(struct conn_table *t, struct conn *c, const struct conn_key *key)
{
    conn_index_remove(t, c);
    c->key = *key;
    uint32_t *head = &t->buckets[conn_key_hash(key) & t->bucket_mask];
    c->key_next = *head;
    *head = (uint32_t)(c - t->slots) + 1;
    /* A full shared index only costs cross-worker reuse of |c|: other
     * workers dial instead. */
    if (t->shared)
        (void)peer_index_publish(t->shared, key, t->worker_id, conn_ref_of(t, c),
                                 (enum conn_kind)c->kind, c->domain, c->ids, c->state == CONN_OPEN,
                                 c->ours);
}

void conn_index_opened(struct conn_table *t, struct conn *c)
{
    if (t->shared && c->key.family)
        peer_index_opened(t->shared, &c->key, t->worker_id, conn_ref_of(t, c), c->ids);
}

/* carries is conn_index_find's rule on usable |c|, our identity aside. */
static bool carries(const struct conn *c, const char *domain)
{
    if (c->state == CONN_OPEN)
        return tls_identities_contains(c->ids, domain, strlen(domain));
    return (c->state == CONN_CONNECTING || c->state == CONN_HANDSHAKE) && c->kind == CONN_TLS_OUT &&
           strcasecmp(c->domain, domain) == 0;
}

struct conn *conn_index_find(const struct conn_table *t, const struct conn_key *key,
                             const char *domain, uint8_t ours)
{
    uint32_t slot = t->buckets[conn_key_hash(key) & t->bucket_mask];
    while (slot) {
        struct conn *c = &t->slots[slot - 1];
        slot = c->key_next;
        if (conn_key_eq(&c->key, key) && !c->peer_closed && c->ours == ours && carries(c, domain))
            return c;
    }
    return NULL;
}

struct conn *conn_index_find_inbound(const struct conn_table *t, const struct conn_key *key)
{
    uint32_t slot = t->buckets[conn_key_hash(key) & t->bucket_mask];
    while (slot) {
        struct conn *c = &t->slots[slot - 1];
        slot = c->key_next;
        if (c->kind == CONN_TLS_IN && conn_key_eq(&c->key, key))
            return c;
    }
    return NULL;
}

/* ip_key reduces |sa| to its address (port 0) so every port of a peer
 * lands in one bucket. */
static bool ip_key(struct conn_key *key, const struct sockaddr *sa)
{
    if (!conn_key_from_sockaddr(key, sa, 0))
        return false;
    key->port = 0;
    return true;
}

void conn_peer_track(struct conn_table *t, struct conn *c)
{
    struct conn_key key;
    if (c->peer_tracked || !ip_key(&key, (const struct sockaddr *)&c->peer))
        return;
    uint32_t *head = &t->peer_buckets[conn_key_hash(&key) & t->bucket_mask];
    c->peer_next = *head;
    *head = (uint32_t)(c - t->slots) + 1;
    c->peer_tracked = true;
}

void conn_peer_untrack(struct conn_table *t, struct conn *c)
{
    struct conn_key key;
    if (!c->peer_tracked || !ip_key(&key, (const struct sockaddr *)&c->peer))
        return;
    uint32_t slot = (uint32_t)(c - t->slots) + 1;
    uint32_t *link = &t->peer_buckets[conn_key_hash(&key) & t->bucket_mask];
    while (*link) {
        if (*link == slot) {
            *link = c->peer_next;
            break;
        }
        link = &t->slots[*link - 1].peer_next;
    }
    c->peer_next = 0;
    c->peer_tracked = false;
}

uint32_t conn_peer_count(const struct conn_table *t, const struct sockaddr *sa)
{
    struct conn_key key;
    if (!ip_key(&key, sa))
        return 0;
    uint32_t n = 0;
    for (uint32_t slot = t->peer_buckets[conn_key_hash(&key) & t->bucket_mask]; slot;) {
        const struct conn *c = &t->slots[slot - 1];
        struct conn_key other;
        ip_key(&other, (const struct sockaddr *)&c->peer);
        n += conn_key_eq(&other, &key);
        slot = c->peer_next;
    }
    return n;
}

enum reuse_reason conn_index_miss(const struct conn_table *t, const struct conn_key *key,
                                  const char *domain, uint8_t ours)
{
    enum reuse_reason why = REUSE_NO_ROW;
    uint32_t slot = t->buckets[conn_key_hash(key) & t->bucket_mask];
    while (slot) {
        const struct conn *c = &t->slots[slot - 1];
        slot = c->key_next;
        if (!conn_key_eq(&c->key, key))
            continue;
        bool usable = !c->peer_closed && (c->state == CONN_OPEN || c->state == CONN_CONNECTING ||
                                          c->state == CONN_HANDSHAKE);
        if (usable && c->ours != ours && carries(c, domain))
            return REUSE_IDENTITY_OURS_MISMATCH;
        if (usable)
            why = REUSE_IDENTITY_MISMATCH;
        else if (why == REUSE_NO_ROW)
            why = REUSE_CONNECTION_GONE;
    }
    return why;
}
