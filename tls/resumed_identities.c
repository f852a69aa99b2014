/* A fixed table under one mutex, touched once per server handshake. */
#include "tls/resumed_identities.h"

#include <pthread.h>
#include <string.h>

#include <openssl/sha.h>

struct slot {
    uint8_t cert_sha256[SHA256_DIGEST_LENGTH];
    struct tls_identities *ids; /* NULL: free */
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot table[TLS_RESUMED_IDENTITIES_SLOTS];
static size_t next_victim; /* slots fill in order, then are replaced round-robin */

static struct slot *find(const uint8_t digest[SHA256_DIGEST_LENGTH])
{
    for (size_t i = 0; i < TLS_RESUMED_IDENTITIES_SLOTS && table[i].ids != NULL; i++)
        if (memcmp(table[i].cert_sha256, digest, SHA256_DIGEST_LENGTH) == 0)
            return &table[i];
    return NULL;
}

void tls_resumed_identities_remember(const uint8_t *der, size_t len, struct tls_identities *ids)
{
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256(der, len, digest);
    pthread_mutex_lock(&table_lock);
    struct slot *slot = find(digest);
    if (slot == NULL) {
        slot = &table[next_victim];
        next_victim = (next_victim + 1) % TLS_RESUMED_IDENTITIES_SLOTS;
    }
    tls_identities_unref(slot->ids);
    memcpy(slot->cert_sha256, digest, sizeof(digest));
    slot->ids = tls_identities_ref(ids);
    pthread_mutex_unlock(&table_lock);
}

struct tls_identities *tls_resumed_identities_recall(const uint8_t cert_sha256[32])
{
    pthread_mutex_lock(&table_lock);
    struct slot *slot = find(cert_sha256);
    struct tls_identities *ids = slot != NULL ? tls_identities_ref(slot->ids) : NULL;
    pthread_mutex_unlock(&table_lock);
    return ids;
}
