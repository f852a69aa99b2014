/* peer_index: 64 shards, each a mutex over chained hash buckets of rows. */
#include "conn/peer_index.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conn/conn_key.h"
#include "tls/identities.h"

enum { SHARDS = 64, SHARD_BUCKETS = 64 };

struct peer_row {
    struct peer_row *next;
    struct conn_key key;
    struct conn_ref ref;
    uint8_t worker;
    uint8_t kind;
    uint8_t ours; /* our identity (struct conn) */
    bool open;
    struct tls_identities *ids;
    char domain[256];
};

struct shard {
    pthread_mutex_t lock;
    struct peer_row *buckets[SHARD_BUCKETS];
};

struct peer_index {
    struct shard shards[SHARDS];
    _Atomic uint32_t rows;
    uint32_t max_rows;
};

struct peer_index *peer_index_new(uint32_t max_rows)
{
    struct peer_index *pi = calloc(1, sizeof(*pi));
    if (!pi)
        return NULL;
    for (size_t i = 0; i < SHARDS; i++)
        pthread_mutex_init(&pi->shards[i].lock, NULL);
    pi->max_rows = max_rows;
    return pi;
}

static void row_free(struct peer_row *r)
{
    tls_identities_unref(r->ids);
    free(r);
}

void peer_index_free(struct peer_index *pi)
{
    if (!pi)
        return;
    for (size_t i = 0; i < SHARDS; i++) {
        for (size_t b = 0; b < SHARD_BUCKETS; b++)
            for (struct peer_row *r = pi->shards[i].buckets[b], *next; r; r = next) {
                next = r->next;
                row_free(r);
            }
        pthread_mutex_destroy(&pi->shards[i].lock);
    }
    free(pi);
}

/* locate picks the shard (low hash bits) and bucket (the next bits). */
static struct shard *locate(struct peer_index *pi, const struct conn_key *key,
                            struct peer_row ***bucket)
{
    uint32_t h = conn_key_hash(key);
    struct shard *s = &pi->shards[h % SHARDS];
    *bucket = &s->buckets[(h / SHARDS) % SHARD_BUCKETS];
    return s;
}

static bool same_conn(const struct peer_row *r, unsigned worker, struct conn_ref ref)
{
    return r->worker == worker && conn_ref_eq(r->ref, ref);
}

/* unlink_row takes the row of (|worker|, |ref|) out of |bucket|. */
static struct peer_row *unlink_row(struct peer_row **bucket, const struct conn_key *key,
                                   unsigned worker, struct conn_ref ref)
{
    for (struct peer_row **link = bucket; *link; link = &(*link)->next) {
        struct peer_row *r = *link;
        if (same_conn(r, worker, ref) && conn_key_eq(&r->key, key)) {
            *link = r->next;
            return r;
        }
    }
    return NULL;
}

bool peer_index_publish(struct peer_index *pi, const struct conn_key *key, unsigned worker,
                        struct conn_ref ref, enum conn_kind kind, const char *dial_domain,
                        struct tls_identities *ids, bool open, uint8_t ours)
{
    if (atomic_fetch_add(&pi->rows, 1) >= pi->max_rows) {
        atomic_fetch_sub(&pi->rows, 1);
        return false;
    }
    struct peer_row *r = calloc(1, sizeof(*r));
    if (!r) {
        atomic_fetch_sub(&pi->rows, 1);
        return false;
    }
    r->key = *key;
    r->ref = ref;
    r->worker = (uint8_t)worker;
    r->kind = (uint8_t)kind;
    r->open = open;
    r->ours = ours;
    r->ids = tls_identities_ref(ids);
    snprintf(r->domain, sizeof(r->domain), "%s", dial_domain ? dial_domain : "");
    struct peer_row **bucket;
    struct shard *s = locate(pi, key, &bucket);
    pthread_mutex_lock(&s->lock);
    r->next = *bucket;
    *bucket = r;
    pthread_mutex_unlock(&s->lock);
    return true;
}

void peer_index_opened(struct peer_index *pi, const struct conn_key *key, unsigned worker,
                       struct conn_ref ref, struct tls_identities *ids)
{
    struct peer_row **bucket;
    struct shard *s = locate(pi, key, &bucket);
    struct tls_identities *old = NULL;
    pthread_mutex_lock(&s->lock);
    for (struct peer_row *r = *bucket; r; r = r->next)
        if (same_conn(r, worker, ref) && conn_key_eq(&r->key, key)) {
            old = r->ids;
            r->ids = tls_identities_ref(ids);
            r->open = true;
            break;
        }
    pthread_mutex_unlock(&s->lock);
    tls_identities_unref(old);
}

void peer_index_remove(struct peer_index *pi, const struct conn_key *key, unsigned worker,
                       struct conn_ref ref)
{
    struct peer_row **bucket;
    struct shard *s = locate(pi, key, &bucket);
    pthread_mutex_lock(&s->lock);
    struct peer_row *r = unlink_row(bucket, key, worker, ref);
    pthread_mutex_unlock(&s->lock);
    if (r) {
        atomic_fetch_sub(&pi->rows, 1);
        row_free(r);
    }
}

/* matches is conn_index_find's rule on a row. */
static bool matches(const struct peer_row *r, const char *domain)
{
    if (r->open)
        return tls_identities_contains(r->ids, domain, strlen(domain));
    return r->kind == CONN_TLS_OUT && strcasecmp(r->domain, domain) == 0;
}

bool peer_index_find(struct peer_index *pi, const struct conn_key *key, const char *domain,
                     uint8_t ours, unsigned skip_worker, struct peer_hit *hit)
{
    struct peer_row **bucket;
    struct shard *s = locate(pi, key, &bucket);
    bool found = false;
    pthread_mutex_lock(&s->lock);
    for (struct peer_row *r = *bucket; r && !found; r = r->next) {
        if (r->worker == skip_worker || !conn_key_eq(&r->key, key) || r->ours != ours ||
            !matches(r, domain))
            continue;
        *hit =
            (struct peer_hit){.worker = r->worker, .kind = r->kind, .ref = r->ref, .key = r->key};
        found = true;
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

enum reuse_reason peer_index_miss(struct peer_index *pi, const struct conn_key *key,
                                  const char *domain, uint8_t ours, unsigned skip_worker)
{
    struct peer_row **bucket;
    struct shard *s = locate(pi, key, &bucket);
    enum reuse_reason why = REUSE_NO_ROW;
    pthread_mutex_lock(&s->lock);
    for (struct peer_row *r = *bucket; r; r = r->next)
        if (r->worker != skip_worker && conn_key_eq(&r->key, key) &&
            why != REUSE_IDENTITY_OURS_MISMATCH)
            why = r->ours != ours && matches(r, domain) ? REUSE_IDENTITY_OURS_MISMATCH
                                                        : REUSE_IDENTITY_MISMATCH;
    pthread_mutex_unlock(&s->lock);
    return why;
}

size_t peer_index_inbound(struct peer_index *pi, const struct conn_key *key, unsigned skip_worker,
                          struct peer_hit *hits, size_t max)
{
    struct peer_row **bucket;
    struct shard *s = locate(pi, key, &bucket);
    size_t n = 0;
    pthread_mutex_lock(&s->lock);
    for (struct peer_row *r = *bucket; r && n < max; r = r->next)
        if (r->worker != skip_worker && r->kind == CONN_TLS_IN && conn_key_eq(&r->key, key))
            hits[n++] = (struct peer_hit){
                .worker = r->worker, .kind = r->kind, .ref = r->ref, .key = r->key};
    pthread_mutex_unlock(&s->lock);
    return n;
}

void peer_index_each(struct peer_index *pi, void (*fn)(void *ctx, const struct peer_row_view *row),
                     void *ctx)
{
    for (size_t i = 0; i < SHARDS; i++) {
        struct shard *s = &pi->shards[i];
        pthread_mutex_lock(&s->lock);
        for (size_t b = 0; b < SHARD_BUCKETS; b++)
            for (const struct peer_row *r = s->buckets[b]; r; r = r->next) {
                struct peer_row_view v = {.key = &r->key,
                                          .worker = r->worker,
                                          .kind = (enum conn_kind)r->kind,
                                          .open = r->open,
                                          .ref = r->ref,
                                          .ids = r->ids,
                                          .ours = r->ours};
                fn(ctx, &v);
            }
        pthread_mutex_unlock(&s->lock);
    }
}

uint32_t peer_index_rows(struct peer_index *pi)
{
    return atomic_load(&pi->rows);
}
