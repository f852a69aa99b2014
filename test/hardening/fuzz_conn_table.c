/* libFuzzer target: the connection table and its alias/routing index
 * (gateway/conn/conn.c) driven by a random sequence of operations — allocate,
 * release, index (outbound dial key or server-role alias that replaces an
 * older row), change state/identities, look up, track per-peer counts —
 * checked after every step against a plain model of what the table must
 * hold. Invariants: a released connection's ref never resolves again, even
 * when its slot is reused (docs/design.md "never a bare file descriptor");
 * lookups return only connections the RFC 5923 reuse rule allows
 * (R-5923-11/-20/-27); at most one inbound alias row per key; counts match.
 *
 * Identity sets come from real tls/ code on certificates built in memory at
 * start-up (sip-URI SANs), not from stubs. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/asn1.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "conn/conn.h"
#include "fuzz_check.h"
#include "tls/identities.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { CAPACITY = 8, N_KEYS = 6, N_IPS = 3, N_DOMAINS = 4, N_IDS = 3, MAX_STALE = 64 };

static const char *const domains[N_DOMAINS] = {"a.test", "b.test", "A.TEST", "c.test"};

/* ids_sets[i] proves the names of sans[i] (NULL: no certificate). */
static const char *const sans[N_IDS][2] = {
    {"sip:a.test", NULL}, {"sip:b.test", "sip:c.test"}, {NULL, NULL}};
static struct tls_identities *id_sets[N_IDS];

/* model is what the table must hold for one live connection. */
struct model {
    bool live;
    struct conn *c;
    struct conn_ref ref;
    int key; /* index into keys or -1 */
    int ip;  /* peer address index */
    bool tracked;
};

struct reader {
    const uint8_t *p;
    size_t left;
};

static unsigned next(struct reader *r, unsigned n)
{
    if (r->left == 0)
        return 0;
    r->left--;
    return *r->p++ % n;
}

static struct sockaddr_storage ip_of(int ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (ip == 2) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        inet_pton(AF_INET6, "::1", &in6->sin6_addr);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        inet_pton(AF_INET, ip == 0 ? "127.0.0.2" : "127.0.0.3", &in->sin_addr);
    }
    return ss;
}

/* Keys: the three addresses at ports 5061 and 5071. */
static struct conn_key key_of(int k)
{
    struct sockaddr_storage ss = ip_of(k % N_IPS, 0);
    struct conn_key key;
    FUZZ_CHECK(conn_key_from_sockaddr(&key, (struct sockaddr *)&ss, k < N_IPS ? 5061 : 5071));
    return key;
}

static struct tls_identities *make_ids(const char *const names[2])
{
    if (!names[0])
        return NULL;
    X509 *x = X509_new();
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    for (int i = 0; i < 2 && names[i]; i++) {
        GENERAL_NAME *gn = GENERAL_NAME_new();
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        ASN1_STRING_set(s, names[i], -1);
        GENERAL_NAME_set0_value(gn, GEN_URI, s);
        sk_GENERAL_NAME_push(gens, gn);
    }
    FUZZ_CHECK(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0) == 1);
    GENERAL_NAMES_free(gens);
    struct tls_identities *ids = tls_identities_from_x509(x);
    X509_free(x);
    FUZZ_CHECK(ids != NULL && tls_identities_count(ids) > 0);
    return ids;
}

/* may_carry is the reuse rule conn_index_find must follow, written out
 * independently of it. */
static bool may_carry(const struct conn *c, const char *domain)
{
    if (c->peer_closed)
        return false;
    if (c->state == CONN_OPEN)
        return tls_identities_contains(c->ids, domain, strlen(domain));
    if (c->state == CONN_CONNECTING || c->state == CONN_HANDSHAKE)
        return c->kind == CONN_TLS_OUT && strcasecmp(c->domain, domain) == 0;
    return false;
}

static struct model *pick(struct model *m, struct reader *r)
{
    struct model *e = &m[next(r, CAPACITY)];
    return e->live ? e : NULL;
}

static void check_all(struct conn_table *t, struct model *m, struct conn_ref *stale, size_t n_stale)
{
    uint32_t live = 0;
    for (int i = 0; i < CAPACITY; i++) {
        if (!m[i].live)
            continue;
        live++;
        FUZZ_CHECK(conn_get(t, m[i].ref) == m[i].c);
        FUZZ_CHECK((m[i].key >= 0) == (m[i].c->key.family != 0));
    }
    FUZZ_CHECK(t->used == live);
    for (size_t i = 0; i < n_stale; i++)
        FUZZ_CHECK(conn_get(t, stale[i]) == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!id_sets[0])
        for (int i = 0; i < N_IDS; i++)
            id_sets[i] = make_ids(sans[i]);

    struct reader r = {data, size};
    struct conn_table t;
    FUZZ_CHECK(conn_table_init(&t, CAPACITY));
    struct model m[CAPACITY];
    memset(m, 0, sizeof(m));
    struct conn_ref stale[MAX_STALE];
    size_t n_stale = 0;

    while (r.left > 0) {
        struct model *e;
        switch (next(&r, 9)) {
        case 0: { /* allocate */
            int free_i = -1;
            for (int i = 0; i < CAPACITY && free_i < 0; i++)
                if (!m[i].live)
                    free_i = i;
            struct conn *c = conn_alloc(&t, (enum conn_kind)next(&r, 4));
            if (free_i < 0) {
                FUZZ_CHECK(c == NULL);
                break;
            }
            FUZZ_CHECK(c != NULL && c->state == CONN_CONNECTING && c->fd == -1 && !c->key.family);
            for (int i = 0; i < CAPACITY; i++)
                FUZZ_CHECK(!m[i].live || m[i].c != c);
            int ip = (int)next(&r, N_IPS);
            struct sockaddr_storage ss = ip_of(ip, (uint16_t)(40000 + next(&r, 200)));
            memcpy(&c->peer, &ss, sizeof(ss));
            snprintf(c->domain, sizeof(c->domain), "%s", domains[next(&r, N_DOMAINS)]);
            m[free_i] = (struct model){true, c, conn_ref_of(&t, c), -1, ip, false};
            break;
        }
        case 1: /* release: the ref goes stale */
            if (!(e = pick(m, &r)))
                break;
            conn_release(&t, e->c);
            if (n_stale < MAX_STALE)
                stale[n_stale++] = e->ref;
            e->live = false;
            break;
        case 2: { /* outbound dial key */
            if (!(e = pick(m, &r)))
                break;
            int k = (int)next(&r, N_KEYS);
            struct conn_key key = key_of(k);
            conn_index_set(&t, e->c, &key);
            e->key = k;
            break;
        }
        case 3: { /* server-role alias: replaces older inbound rows */
            if (!(e = pick(m, &r)) || e->c->kind != CONN_TLS_IN)
                break;
            int k = (int)next(&r, N_KEYS);
            struct conn_key key = key_of(k);
            struct conn *old;
            while ((old = conn_index_find_inbound(&t, &key)) != NULL) {
                conn_index_remove(&t, old);
                for (int i = 0; i < CAPACITY; i++)
                    if (m[i].live && m[i].c == old)
                        m[i].key = -1;
            }
            conn_index_set(&t, e->c, &key);
            e->key = k;
            FUZZ_CHECK(conn_index_find_inbound(&t, &key) == e->c);
            break;
        }
        case 4: /* unindex */
            if (!(e = pick(m, &r)))
                break;
            conn_index_remove(&t, e->c);
            e->key = -1;
            break;
        case 5: /* handshake progress, identities, close_notify */
            if (!(e = pick(m, &r)))
                break;
            e->c->state = (uint8_t)(CONN_CONNECTING + next(&r, 5));
            e->c->ids = id_sets[next(&r, N_IDS)];
            e->c->peer_closed = next(&r, 4) == 0;
            break;
        case 6: { /* routing lookup */
            int k = (int)next(&r, N_KEYS);
            const char *domain = domains[next(&r, N_DOMAINS)];
            struct conn_key key = key_of(k);
            struct conn *found = conn_index_find(&t, &key, domain, 0);
            bool any = false;
            for (int i = 0; i < CAPACITY; i++) {
                bool ok = m[i].live && m[i].key == k && may_carry(m[i].c, domain);
                any |= ok;
                if (found == m[i].c && m[i].live)
                    FUZZ_CHECK(ok);
            }
            FUZZ_CHECK((found != NULL) == any);
            /* Inbound rows: one per key at most, TLS_IN only. */
            struct conn *in = conn_index_find_inbound(&t, &key);
            int n_in = 0;
            for (int i = 0; i < CAPACITY; i++)
                n_in += m[i].live && m[i].key == k && m[i].c->kind == CONN_TLS_IN;
            FUZZ_CHECK((in != NULL) == (n_in > 0));
            FUZZ_CHECK(in == NULL || in->kind == CONN_TLS_IN);
            break;
        }
        case 7: /* per-peer accounting */
            if (!(e = pick(m, &r)))
                break;
            if (next(&r, 2)) {
                conn_peer_track(&t, e->c);
                e->tracked = true;
            } else {
                conn_peer_untrack(&t, e->c);
                e->tracked = false;
            }
            break;
        case 8: { /* per-peer count */
            int ip = (int)next(&r, N_IPS);
            struct sockaddr_storage ss = ip_of(ip, 1);
            uint32_t want = 0;
            for (int i = 0; i < CAPACITY; i++)
                want += m[i].live && m[i].tracked && m[i].ip == ip;
            FUZZ_CHECK(conn_peer_count(&t, (struct sockaddr *)&ss) == want);
            break;
        }
        }
        check_all(&t, m, stale, n_stale);
    }
    for (int i = 0; i < CAPACITY; i++)
        if (m[i].live)
            conn_release(&t, m[i].c);
    FUZZ_CHECK(t.used == 0);
    conn_table_free(&t);
    return 0;
}
