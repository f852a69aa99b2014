/* tls_handshake: handshake rate and idle memory of the tls/ engine, beside
 * BoringSSL's own cost measured in the same run (two bare SSL objects over a
 * BIO pair, same certificates, same mutual verification).
 *
 *   tls_handshake [-n HANDSHAKES] [-m IDLE_CONNECTIONS] [-r ROUNDS]
 *
 * Rates are handshakes per CPU-second of this single thread, both ends of
 * each handshake included (so per core, independent of other load). Each
 * case runs ROUNDS times, alternating engine and bare, and the best round
 * counts. "matched" is bare BoringSSL with the one engine setting that
 * changes the cost (the server keeps only a hash of client certificates), so
 * its ratio is the engine's own overhead. Memory is the glibc heap delta
 * (mallinfo2) over IDLE_CONNECTIONS established, drained connection pairs;
 * meaningless under ASan. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include "tls/conn.h"
#include "tls/session_cache.h"
#include "tls_test_support.h"

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* --- our engine -------------------------------------------------------------- */

struct engine {
    struct tls_ctx *client_ctx, *server_ctx;
    struct tls_session_cache *cache; /* resumed runs only */
};

static void engine_init(struct engine *e, bool tls12, bool resume)
{
    e->client_ctx = pki_ctx_new("gw-a", true, false, tls12);
    e->server_ctx = pki_ctx_new("gw-b", true, false, tls12);
    e->cache = resume ? tls_session_cache_new(16) : NULL;
}

static void engine_free(struct engine *e)
{
    tls_session_cache_free(e->cache);
    tls_ctx_unref(e->client_ctx);
    tls_ctx_unref(e->server_ctx);
}

/* engine_connect makes one established pair with the server's ticket
 * processed by the client, buffers drained. */
static void engine_connect(struct engine *e, struct tls_conn **c, struct tls_conn **s)
{
    static const char addr[] = "bench";
    *c = tls_conn_new_client(e->client_ctx, "b.test", e->cache, addr, sizeof(addr));
    *s = tls_conn_new_server(e->server_ctx);
    if (!pump_handshake(*c, *s)) {
        fprintf(stderr, "engine handshake failed: %s / %s\n", tls_conn_error_reason(*c),
                tls_conn_error_reason(*s));
        exit(1);
    }
    char buf[64];
    size_t n;
    pump_read(*s, *c, buf, sizeof(buf), &n);
}

static double engine_rate(bool tls12, bool resume, int handshakes)
{
    struct engine e;
    engine_init(&e, tls12, resume);
    struct tls_conn *c, *s;
    if (resume) { /* prime the cache */
        engine_connect(&e, &c, &s);
        wire_free(c);
        wire_free(s);
    }
    double start = cpu_seconds();
    for (int i = 0; i < handshakes; i++) {
        engine_connect(&e, &c, &s);
        if (tls_conn_resumed(c) != resume) {
            fprintf(stderr, "engine: resumed=%d, expected %d (handshake %d, cache %zu)\n",
                    tls_conn_resumed(c), resume, i, e.cache ? tls_session_cache_count(e.cache) : 0);
            exit(1);
        }
        wire_free(c);
        wire_free(s);
    }
    double rate = handshakes / (cpu_seconds() - start);
    engine_free(&e);
    return rate;
}

/* --- bare BoringSSL ---------------------------------------------------------- */

struct bare {
    SSL_CTX *client_ctx, *server_ctx;
    SSL_SESSION *session; /* latest client session (resumed runs) */
    bool resume;
};

static struct bare *bare_self;

static int bare_new_session(SSL *ssl, SSL_SESSION *session)
{
    if (!bare_self->resume)
        return 0;
    SSL_SESSION_free(bare_self->session);
    bare_self->session = session;
    return 1;
}

static SSL_CTX *bare_ctx(const char *leaf, bool tls12, bool matched)
{
    char cert[64], key[64];
    snprintf(cert, sizeof(cert), "%s.chain.pem", leaf);
    snprintf(key, sizeof(key), "%s.key", leaf);
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
    if (!SSL_CTX_use_certificate_chain_file(ctx, pki_path(cert)) ||
        !SSL_CTX_use_PrivateKey_file(ctx, pki_path(key), SSL_FILETYPE_PEM) ||
        !SSL_CTX_load_verify_locations(ctx, pki_path("ca.pem"), NULL)) {
        fprintf(stderr, "bare ctx %s failed\n", leaf);
        exit(1);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_session_id_context(ctx, (const uint8_t *)"bench", 5);
    SSL_CTX_set_num_tickets(ctx, 1);
    /* matched: the one engine setting that changes the cost, keeping only a
     * hash of the client certificate instead of carrying it in tickets. */
    SSL_CTX_set_retain_only_sha256_of_client_certs(ctx, matched);
    return ctx;
}

static void bare_init(struct bare *b, bool tls12, bool resume, bool matched)
{
    memset(b, 0, sizeof(*b));
    b->client_ctx = bare_ctx("gw-a", tls12, matched);
    b->server_ctx = bare_ctx("gw-b", tls12, matched);
    b->resume = resume;
    bare_self = b;
    SSL_CTX_set_session_cache_mode(b->client_ctx,
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(b->client_ctx, bare_new_session);
}

static void bare_free(struct bare *b)
{
    SSL_SESSION_free(b->session);
    SSL_CTX_free(b->client_ctx);
    SSL_CTX_free(b->server_ctx);
}

static void bare_connect(struct bare *b, SSL **c, SSL **s)
{
    *c = SSL_new(b->client_ctx);
    *s = SSL_new(b->server_ctx);
    BIO *cb, *sb;
    BIO_new_bio_pair(&cb, 0, &sb, 0);
    SSL_set_bio(*c, cb, cb);
    SSL_set_bio(*s, sb, sb);
    SSL_set_connect_state(*c);
    SSL_set_accept_state(*s);
    SSL_set_tlsext_host_name(*c, "b.test");
    SSL_set1_host(*c, "b.test");
    if (b->resume && b->session != NULL)
        SSL_set_session(*c, b->session);
    int rc = 0, rs = 0;
    for (int round = 0; round < 20 && (rc != 1 || rs != 1); round++) {
        rc = SSL_do_handshake(*c);
        rs = SSL_do_handshake(*s);
    }
    if (rc != 1 || rs != 1) {
        fprintf(stderr, "bare handshake failed\n");
        exit(1);
    }
    SSL_write(*s, NULL, 0); /* flush the TLS 1.3 ticket, as the engine does */
    char buf[64];
    SSL_read(*c, buf, sizeof(buf)); /* process the ticket */
}

static double bare_rate(bool tls12, bool resume, bool matched, int handshakes)
{
    struct bare b;
    bare_init(&b, tls12, resume, matched);
    SSL *c, *s;
    if (resume) {
        bare_connect(&b, &c, &s);
        SSL_free(c);
        SSL_free(s);
    }
    double start = cpu_seconds();
    for (int i = 0; i < handshakes; i++) {
        bare_connect(&b, &c, &s);
        if (SSL_session_reused(c) != resume) {
            fprintf(stderr, "bare: resumed=%d, expected %d\n", SSL_session_reused(c), resume);
            exit(1);
        }
        SSL_free(c);
        SSL_free(s);
    }
    double rate = handshakes / (cpu_seconds() - start);
    bare_free(&b);
    return rate;
}

/* --- idle memory ----------------------------------------------------------- */

struct memory {
    double client, server; /* bytes per idle connection */
};

static struct memory engine_memory(bool tls12, int count)
{
    struct engine e;
    engine_init(&e, tls12, false);
    struct tls_conn **c = calloc((size_t)count, sizeof(*c));
    struct tls_conn **s = calloc((size_t)count, sizeof(*s));
    struct tls_conn *warm_c, *warm_s; /* first-use allocations (BIO method...) */
    engine_connect(&e, &warm_c, &warm_s);
    size_t before = heap_in_use();
    for (int i = 0; i < count; i++)
        engine_connect(&e, &c[i], &s[i]);
    size_t all = heap_in_use();
    for (int i = 0; i < count; i++)
        wire_free(c[i]);
    size_t servers = heap_in_use();
    for (int i = 0; i < count; i++)
        wire_free(s[i]);
    wire_free(warm_c);
    wire_free(warm_s);
    free(c);
    free(s);
    engine_free(&e);
    return (struct memory){.client = (double)(all - servers) / count,
                           .server = (double)(servers - before) / count};
}

static struct memory bare_memory(bool tls12, int count)
{
    struct bare b;
    bare_init(&b, tls12, false, false);
    SSL **c = calloc((size_t)count, sizeof(*c));
    SSL **s = calloc((size_t)count, sizeof(*s));
    SSL *warm_c, *warm_s;
    bare_connect(&b, &warm_c, &warm_s);
    size_t before = heap_in_use();
    for (int i = 0; i < count; i++)
        bare_connect(&b, &c[i], &s[i]);
    size_t all = heap_in_use();
    for (int i = 0; i < count; i++)
        SSL_free(c[i]); /* the BIO pair is shared: freed with the second SSL */
    size_t servers = heap_in_use();
    for (int i = 0; i < count; i++)
        SSL_free(s[i]);
    SSL_free(warm_c);
    SSL_free(warm_s);
    free(c);
    free(s);
    bare_free(&b);
    return (struct memory){.client = (double)(all - servers) / count,
                           .server = (double)(servers - before) / count};
}

int main(int argc, char **argv)
{
    int handshakes = 2000, idle = 10000, rounds = 3, opt;
    while ((opt = getopt(argc, argv, "n:m:r:")) != -1) {
        if (opt == 'n')
            handshakes = atoi(optarg);
        else if (opt == 'm')
            idle = atoi(optarg);
        else if (opt == 'r')
            rounds = atoi(optarg);
        else {
            fprintf(stderr, "usage: tls_handshake [-n HANDSHAKES] [-m IDLE] [-r ROUNDS]\n");
            return 2;
        }
    }
    if (handshakes < 1 || idle < 1 || rounds < 1) {
        fprintf(stderr, "tls_handshake: counts must be positive\n");
        return 2;
    }
    pki_setup();
    printf("mutual TLS, ECDSA P-256, %d handshakes x %d rounds (best), per CPU-second\n",
           handshakes, rounds);
    printf("bare: BoringSSL defaults; matched: bare with the engine's\n"
           "SSL_CTX_set_retain_only_sha256_of_client_certs (no certificate in tickets)\n");
    printf("%-16s %10s %10s %7s %10s %7s\n", "case", "engine/s", "bare/s", "ratio", "matched/s",
           "ratio");
    for (int tls12 = 1; tls12 >= 0; tls12--) {
        for (int resume = 0; resume <= 1; resume++) {
            double best_engine = 0, best_bare = 0, best_matched = 0;
            for (int r = 0; r < rounds; r++) {
                double x = engine_rate(tls12, resume, handshakes);
                double y = bare_rate(tls12, resume, false, handshakes);
                double z = bare_rate(tls12, resume, true, handshakes);
                best_engine = x > best_engine ? x : best_engine;
                best_bare = y > best_bare ? y : best_bare;
                best_matched = z > best_matched ? z : best_matched;
            }
            char name[32];
            snprintf(name, sizeof(name), "%s %s", tls12 ? "TLS1.2" : "TLS1.3",
                     resume ? "resumed" : "full");
            printf("%-16s %10.0f %10.0f %6.1f%% %10.0f %6.1f%%\n", name, best_engine, best_bare,
                   100.0 * best_engine / best_bare, best_matched,
                   100.0 * best_engine / best_matched);
        }
    }
    printf("\nidle established connections: heap bytes per connection (%d pairs)\n", idle);
    printf("%-22s %12s %12s\n", "case", "client", "server");
    for (int tls12 = 1; tls12 >= 0; tls12--) {
        struct memory m = engine_memory(tls12, idle);
        struct memory b = bare_memory(tls12, idle);
        printf("%-22s %12.0f %12.0f\n", tls12 ? "engine TLS1.2" : "engine TLS1.3", m.client,
               m.server);
        printf("%-22s %12.0f %12.0f\n", tls12 ? "bare+BIO pair TLS1.2" : "bare+BIO pair TLS1.3",
               b.client, b.server);
    }
    pki_teardown();
    return 0;
}
