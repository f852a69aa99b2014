/* Connection life after the handshake: data, bounds, close_notify states
 * (RFC 5923 §8.3), resumption with the client session cache, and reload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <malloc.h>

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif
#ifdef HAVE_ASAN
#include <sanitizer/allocator_interface.h>
#endif

#include "tls/conn.h"
#include "tls/session_cache.h"
#include "tls_test_support.h"

struct pair {
    struct tls_ctx *cctx, *sctx;
    struct tls_conn *c, *s;
};

static struct pair connect_pair(bool max_tls12)
{
    struct pair p = {
        .cctx = pki_ctx_new("gw-a", true, false, max_tls12),
        .sctx = pki_ctx_new("gw-b", true, false, max_tls12),
    };
    p.c = tls_conn_new_client(p.cctx, "b.test", NULL, NULL, 0);
    p.s = tls_conn_new_server(p.sctx);
    assert_true(pump_handshake(p.c, p.s));
    return p;
}

static void pair_free(struct pair *p)
{
    wire_free(p->c);
    wire_free(p->s);
    tls_ctx_unref(p->cctx);
    tls_ctx_unref(p->sctx);
}

static void send_text(struct tls_conn *from, const char *text)
{
    assert_int_equal(wire_write(from, text, strlen(text)), TLS_PROGRESS_DONE);
}

static void expect_text(struct tls_conn *from, struct tls_conn *to, const char *text)
{
    char buf[256];
    size_t n;
    assert_int_equal(pump_read(from, to, buf, sizeof(buf), &n), TLS_PROGRESS_DONE);
    assert_int_equal(n, strlen(text));
    assert_memory_equal(buf, text, n);
}

/* Data both ways; once drained, neither side holds ciphertext. */
static void data_both_ways_and_idle_buffers_released(void **state)
{
    struct pair p = connect_pair(false);
    send_text(p.c, "OPTIONS sip:b.test SIP/2.0\r\n");
    expect_text(p.c, p.s, "OPTIONS sip:b.test SIP/2.0\r\n");
    send_text(p.s, "SIP/2.0 200 OK\r\n");
    expect_text(p.s, p.c, "SIP/2.0 200 OK\r\n");
    const uint8_t *data;
    assert_int_equal(wire_pending(p.c, &data), 0);
    assert_int_equal(wire_pending(p.s, &data), 0);
    char buf[16];
    size_t n;
    assert_int_equal(wire_read(p.s, NULL, buf, sizeof(buf), &n), TLS_PROGRESS_WANT_READ);
    assert_int_equal(n, 0);
    pair_free(&p);
}

/* Heap bytes in use, from whichever allocator this build runs on. */
static size_t heap_in_use(void)
{
#ifdef HAVE_ASAN
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
#endif
}

/* An idle established mutual-TLS connection costs at most 8 KiB of heap on
 * each side: no record or queue buffers are kept once drained. */
static void idle_connection_memory_is_bounded(void **state)
{
    enum { PAIRS = 200, BUDGET = 8192 };
    struct tls_ctx *cctx = pki_ctx_new("gw-a", true, false, false);
    struct tls_ctx *sctx = pki_ctx_new("gw-b", true, false, false);
    static struct tls_conn *c[PAIRS], *s[PAIRS];
    for (int round = 0; round < 2; round++) { /* round 0 warms one-time state */
        size_t before = heap_in_use();
        for (int i = 0; i < PAIRS; i++) {
            c[i] = tls_conn_new_client(cctx, "b.test", NULL, NULL, 0);
            s[i] = tls_conn_new_server(sctx);
            assert_true(pump_handshake(c[i], s[i]));
            char buf[16];
            size_t n;
            pump_read(s[i], c[i], buf, sizeof(buf), &n); /* take the ticket */
        }
        size_t all = heap_in_use();
        for (int i = 0; i < PAIRS; i++)
            wire_free(c[i]);
        size_t servers = heap_in_use();
        for (int i = 0; i < PAIRS; i++)
            wire_free(s[i]);
        if (round == 1) {
            size_t per_client = (all - servers) / PAIRS, per_server = (servers - before) / PAIRS;
            printf("idle bytes per connection: client %zu, server %zu\n", per_client, per_server);
            assert_true(per_client <= BUDGET);
            assert_true(per_server <= BUDGET);
        }
    }
    tls_ctx_unref(cctx);
    tls_ctx_unref(sctx);
}

/* refuse_after: a tls_io out that takes |*room| bytes and then no more. */
static bool refuse_after(void *arg, const void *data, size_t len)
{
    size_t *room = arg;
    if (len > *room)
        return false;
    *room -= len;
    return true;
}

/* A large transfer moves intact in records of at most 16 KiB, the reader
 * taking its input in slices that split records; the engine holds nothing
 * between calls but the record it has begun. An out that refuses fails the
 * connection with a reason, never silently. */
static void bulk_transfer_through_lent_buffers(void **state)
{
    struct pair p = connect_pair(false);
    enum { TOTAL = 1024 * 1024, SLICE = 1000 };
    uint8_t *src = malloc(TOTAL), *dst = malloc(TOTAL);
    for (size_t i = 0; i < TOTAL; i++)
        src[i] = (uint8_t)(i * 7 + (i >> 9));
    assert_int_equal(wire_write(p.c, src, TOTAL), TLS_PROGRESS_DONE);
    const uint8_t *data;
    size_t len = wire_pending(p.c, &data);
    assert_true(len > TOTAL && len < TOTAL + TOTAL / 16384 * 64 + 64);
    size_t got = 0;
    for (size_t off = 0; off < len; off += SLICE) {
        struct tls_io io = wire_lend(p.s, data + off, len - off < SLICE ? len - off : SLICE);
        size_t n;
        while (tls_conn_read(p.s, &io, dst + got, TOTAL - got, &n) == TLS_PROGRESS_DONE)
            got += n;
        assert_int_equal(io.in_len, 0); /* a partial record is BoringSSL's to keep */
    }
    wire_take(p.c, len);
    assert_int_equal(got, TOTAL);
    assert_memory_equal(src, dst, TOTAL);

    size_t room = 100;
    struct tls_io tight = {.out = refuse_after, .out_arg = &room};
    assert_int_equal(tls_conn_write(p.s, &tight, src, 4096), TLS_PROGRESS_FAILED);
    assert_int_equal(tls_conn_error(p.s), TLS_ERROR_RESOURCES);
    assert_string_equal(tls_conn_error_reason(p.s), "no room for outgoing ciphertext");
    free(src);
    free(dst);
    pair_free(&p);
}

/* R-5923-22: after we send close_notify, the peer's application data is
 * dropped, never delivered, until its close_notify arrives. */
static void close_sent_drops_incoming_data(void **state)
{
    struct pair p = connect_pair(false);
    wire_close_notify(p.s);
    assert_int_equal(tls_conn_state(p.s), TLS_STATE_CLOSE_SENT);
    size_t n;
    assert_int_equal(wire_write(p.s, "x", 1), TLS_PROGRESS_CLOSED);
    /* The client has not read the alert yet and sends a request. */
    send_text(p.c, "INVITE sip:b.test SIP/2.0\r\n");
    char buf[256];
    assert_int_equal(pump_read(p.c, p.s, buf, sizeof(buf), &n), TLS_PROGRESS_WANT_READ);
    assert_int_equal(n, 0);
    assert_int_equal(tls_conn_state(p.s), TLS_STATE_CLOSE_SENT);
    /* The client now sees our close_notify, then answers with its own. */
    assert_int_equal(pump_read(p.s, p.c, buf, sizeof(buf), &n), TLS_PROGRESS_CLOSED);
    assert_int_equal(tls_conn_state(p.c), TLS_STATE_CLOSE_RECEIVED);
    wire_close_notify(p.c);
    assert_int_equal(tls_conn_state(p.c), TLS_STATE_CLOSED);
    assert_int_equal(pump_read(p.c, p.s, buf, sizeof(buf), &n), TLS_PROGRESS_CLOSED);
    assert_int_equal(tls_conn_state(p.s), TLS_STATE_CLOSED);
    /* Bytes after both close_notify alerts are never read. */
    struct tls_io io = wire_lend(p.s, "junk", 4);
    assert_int_equal(tls_conn_read(p.s, &io, buf, sizeof(buf), &n), TLS_PROGRESS_CLOSED);
    assert_int_equal(io.in_len, 4);
    pair_free(&p);
}

/* R-5923-23: after the peer's close_notify the state says so (the gateway
 * starts no new transactions); pending answers may still be sent. */
static void close_received_allows_final_answers(void **state)
{
    for (int tls12 = 0; tls12 <= 1; tls12++) {
        struct pair p = connect_pair(tls12);
        send_text(p.c, "BYE sip:b.test SIP/2.0\r\n");
        wire_close_notify(p.c);
        assert_int_equal(tls_conn_state(p.c), TLS_STATE_CLOSE_SENT);
        expect_text(p.c, p.s, "BYE sip:b.test SIP/2.0\r\n");
        char buf[64];
        size_t n;
        assert_int_equal(pump_read(p.c, p.s, buf, sizeof(buf), &n), TLS_PROGRESS_CLOSED);
        assert_int_equal(tls_conn_state(p.s), TLS_STATE_CLOSE_RECEIVED);
        assert_int_equal(wire_read(p.s, NULL, buf, sizeof(buf), &n), TLS_PROGRESS_CLOSED);
        send_text(p.s, "SIP/2.0 200 OK\r\n");
        wire_close_notify(p.s);
        assert_int_equal(tls_conn_state(p.s), TLS_STATE_CLOSED);
        /* The client, having closed, drops the answer (R-5923-22) and then
         * sees the server's close_notify. */
        assert_int_equal(pump_read(p.s, p.c, buf, sizeof(buf), &n), TLS_PROGRESS_CLOSED);
        assert_int_equal(n, 0);
        assert_int_equal(tls_conn_state(p.c), TLS_STATE_CLOSED);
        pair_free(&p);
    }
}

/* Re-dials resume through the session cache in both versions, and both
 * sides keep the identities proven by the full handshake. */
static void resumption_keeps_identities(void **state)
{
    for (int tls12 = 0; tls12 <= 1; tls12++) {
        struct tls_ctx *cctx = pki_ctx_new("gw-a", true, false, tls12);
        struct tls_ctx *sctx = pki_ctx_new("virtual", true, false, tls12);
        struct tls_session_cache *cache = tls_session_cache_new(4);
        const char addr[] = "192.0.2.7:5061";
        for (int dial = 0; dial < 3; dial++) {
            struct tls_conn *c =
                tls_conn_new_client(cctx, "a.virt.test", cache, addr, sizeof(addr));
            struct tls_conn *s = tls_conn_new_server(sctx);
            assert_true(pump_handshake(c, s));
            /* TLS 1.3 tickets follow the handshake even from a server that
             * never writes: the client takes them in its next read. */
            char buf[16];
            size_t n;
            assert_int_equal(pump_read(s, c, buf, sizeof(buf), &n), TLS_PROGRESS_WANT_READ);
            if (tls_conn_resumed(c) != (dial > 0))
                fail_msg("tls12=%d dial %d: resumed=%d", tls12, dial, tls_conn_resumed(c));
            assert_int_equal(tls_conn_resumed(s), dial > 0);
            assert_true(tls_identities_contains(tls_conn_identities(c), "b.virt.test", 11));
            assert_true(tls_identities_contains(tls_conn_identities(s), "a.test", 6));
            assert_int_equal(tls_session_cache_count(cache), 1);
            wire_free(c);
            wire_free(s);
        }
        /* Another domain at the same address never takes this session. */
        struct tls_conn *c = tls_conn_new_client(cctx, "b.virt.test", cache, addr, sizeof(addr));
        struct tls_conn *s = tls_conn_new_server(sctx);
        assert_true(pump_handshake(c, s));
        assert_false(tls_conn_resumed(c));
        wire_free(c);
        wire_free(s);
        /* A reloaded client ctx (new certificate or trust) never resumes a
         * session made under the old one, and drops it. */
        struct tls_ctx *reloaded = pki_ctx_new("gw-a", true, false, tls12);
        c = tls_conn_new_client(reloaded, "a.virt.test", cache, addr, sizeof(addr));
        s = tls_conn_new_server(sctx);
        assert_true(pump_handshake(c, s));
        assert_false(tls_conn_resumed(c));
        wire_free(c);
        wire_free(s);
        tls_ctx_unref(reloaded);
        tls_session_cache_free(cache);
        tls_ctx_unref(cctx);
        tls_ctx_unref(sctx);
    }
}

/* tenant_ctx is |leaf|'s ctx with tenant-|t| as identity 1 (issue 16). */
static struct tls_ctx *tenant_ctx(const char *leaf, char t)
{
    char cert[64], key[64], cert_path[4096], key_path[4096];
    snprintf(cert, sizeof(cert), "tenant-%c.chain.pem", t);
    snprintf(key, sizeof(key), "tenant-%c.key", t);
    snprintf(cert_path, sizeof(cert_path), "%s", pki_path(cert));
    snprintf(key_path, sizeof(key_path), "%s", pki_path(key));
    const struct tls_identity_options id = {.certificate_file = cert_path,
                                            .private_key_file = key_path};
    return pki_ctx_with(leaf, (struct tls_ctx_options){.client_cert_required = true,
                                                       .identities = &id,
                                                       .n_identities = 1});
}

/* RFC 5923 9.3 on our side (R-5923-27): a client connection presents the
 * certificate of the identity it is made as, and a session it made never
 * resumes for another identity (a resumed handshake sends no certificate:
 * the peer would take it for the first tenant). Inbound, SNI picks the
 * identity whose certificate is served. */
static void identities_present_their_own_certificate_and_sessions(void **state)
{
    struct tls_ctx *cctx = tenant_ctx("gw-a", 'x');
    struct tls_ctx *sctx = tenant_ctx("gw-b", 'y');
    assert_int_equal(tls_ctx_identity_count(cctx), 2);
    assert_int_equal(tls_ctx_identity_for(cctx, "X.Tenant.Test", 13), 1);
    assert_int_equal(tls_ctx_identity_for(cctx, "a.test", 6), 0);
    assert_int_equal(tls_ctx_identity_for(cctx, "b.test", 6), -1);
    struct tls_session_cache *cache = tls_session_cache_new(4);
    const char addr[] = "192.0.2.7:5061";
    const struct {
        size_t identity;
        const char *proves;
        bool resumed;
    } dials[] = {{1, "x.tenant.test", false}, {1, "x.tenant.test", true}, {0, "a.test", false}};
    for (size_t i = 0; i < sizeof(dials) / sizeof(dials[0]); i++) {
        struct tls_conn *c =
            tls_conn_new_client_as(cctx, dials[i].identity, "b.test", cache, addr, sizeof(addr));
        struct tls_conn *s = tls_conn_new_server(sctx);
        assert_true(pump_handshake(c, s));
        char buf[16];
        size_t n;
        assert_int_equal(pump_read(s, c, buf, sizeof(buf), &n), TLS_PROGRESS_WANT_READ);
        assert_int_equal(tls_conn_resumed(c), dials[i].resumed);
        assert_int_equal(tls_conn_identity(c), dials[i].identity);
        assert_true(tls_identities_contains(tls_conn_identities(s), dials[i].proves,
                                            strlen(dials[i].proves)));
        assert_int_equal(tls_conn_identity(s), 0); /* SNI b.test: the default */
        wire_free(c);
        wire_free(s);
    }
    /* SNI y.tenant.test gets identity 1's certificate, which the client
     * checks proves the name. */
    struct tls_conn *c = tls_conn_new_client(cctx, "y.tenant.test", NULL, NULL, 0);
    struct tls_conn *s = tls_conn_new_server(sctx);
    assert_true(pump_handshake(c, s));
    assert_int_equal(tls_conn_identity(s), 1);
    assert_false(tls_conn_sni_unknown(s));
    wire_free(c);
    wire_free(s);
    assert_null(tls_conn_new_client_as(cctx, 2, "b.test", NULL, NULL, 0));
    tls_session_cache_free(cache);
    tls_ctx_unref(cctx);
    tls_ctx_unref(sctx);
}

static struct tls_ctx *ticket_ctx(const char *leaf, const char *ticket_key, char *err, size_t len)
{
    char cert[64], key[64];
    snprintf(cert, sizeof(cert), "%s.chain.pem", leaf);
    snprintf(key, sizeof(key), "%s.key", leaf);
    struct tls_ctx_options opts = {
        .certificate_file = pki_path(cert),
        .private_key_file = pki_path(key),
        .ca_file = pki_path("ca.pem"),
        .client_cert_required = true,
        .ticket_key_file = pki_path(ticket_key),
    };
    return tls_ctx_new(&opts, err, len);
}

static void write_file(const char *name, const void *data, size_t len)
{
    FILE *f = fopen(pki_path(name), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Tickets from a key file: a second ctx (a reload, or another process) with
 * the same key resumes the first one's sessions, and the resumed server side
 * still knows the client's identities. A key file of the wrong size is
 * refused with a reason. */
static void ticket_key_file_shared_across_ctxs(void **state)
{
    uint8_t key[48];
    for (size_t i = 0; i < sizeof(key); i++)
        key[i] = (uint8_t)(i * 13 + 1);
    write_file("ticket.key", key, sizeof(key));
    write_file("short.key", key, 47);
    char err[512];
    assert_null(ticket_ctx("gw-b", "short.key", err, sizeof(err)));
    assert_non_null(strstr(err, "short.key: must hold exactly 48 bytes, has 47"));
    assert_null(ticket_ctx("gw-b", "absent.key", err, sizeof(err)));
    assert_non_null(strstr(err, "ticket_key_file"));

    struct tls_ctx *first = ticket_ctx("gw-b", "ticket.key", err, sizeof(err));
    struct tls_ctx *second = ticket_ctx("gw-b", "ticket.key", err, sizeof(err));
    assert_non_null(first);
    assert_non_null(second);
    struct tls_ctx *cctx = pki_ctx_new("gw-a", true, false, false);
    struct tls_session_cache *cache = tls_session_cache_new(2);
    struct tls_ctx *servers[] = {first, second};
    for (int i = 0; i < 2; i++) {
        struct tls_conn *c = tls_conn_new_client(cctx, "b.test", cache, "k", 1);
        struct tls_conn *s = tls_conn_new_server(servers[i]);
        assert_true(pump_handshake(c, s));
        char buf[16];
        size_t n;
        pump_read(s, c, buf, sizeof(buf), &n);
        assert_int_equal(tls_conn_resumed(s), i == 1);
        assert_true(tls_identities_contains(tls_conn_identities(s), "a.test", 6));
        wire_free(c);
        wire_free(s);
    }
    tls_session_cache_free(cache);
    tls_ctx_unref(cctx);
    tls_ctx_unref(first);
    tls_ctx_unref(second);
}

/* The cache is bounded: more peers than entries replace the oldest. */
static void session_cache_is_bounded(void **state)
{
    struct tls_ctx *cctx = pki_ctx_new("gw-a", true, false, true);
    struct tls_ctx *sctx = pki_ctx_new("gw-b", true, false, true);
    struct tls_session_cache *cache = tls_session_cache_new(2);
    for (int port = 0; port < 5; port++) {
        struct tls_conn *c = tls_conn_new_client(cctx, "b.test", cache, &port, sizeof(port));
        struct tls_conn *s = tls_conn_new_server(sctx);
        assert_true(pump_handshake(c, s));
        wire_free(c);
        wire_free(s);
        assert_int_equal(tls_session_cache_count(cache), port < 2 ? port + 1 : 2);
    }
    tls_session_cache_free(cache);
    tls_ctx_unref(cctx);
    tls_ctx_unref(sctx);
}

static struct tls_ctx *try_ctx(const char *cert, const char *key, char *err, size_t len)
{
    struct tls_ctx_options opts = {
        .certificate_file = pki_path(cert),
        .private_key_file = pki_path(key),
        .ca_file = pki_path("ca.pem"),
        .client_cert_required = true,
    };
    return tls_ctx_new(&opts, err, len);
}

/* Reload: a broken new certificate/key is refused with a reason naming the
 * file, the caller keeps the old ctx, and live connections keep theirs. */
static void reload_with_broken_key_keeps_old_ctx(void **state)
{
    char err[512];
    struct tls_ctx *live = try_ctx("gw-b.chain.pem", "gw-b.key", err, sizeof(err));
    assert_non_null(live);
    struct tls_ctx *cctx = pki_ctx_new("gw-a", true, false, false);
    struct tls_conn *c = tls_conn_new_client(cctx, "b.test", NULL, NULL, 0);
    struct tls_conn *s = tls_conn_new_server(live);
    assert_true(pump_handshake(c, s));

    /* Mismatched key, missing key, a key file holding a certificate. */
    assert_null(try_ctx("gw-b.chain.pem", "gw-a.key", err, sizeof(err)));
    assert_non_null(strstr(err, pki_path("gw-a.key")));
    assert_non_null(strstr(err, "CERTIFICATE_AND_PRIVATE_KEY_MISMATCH"));
    assert_null(try_ctx("gw-b.chain.pem", "missing.key", err, sizeof(err)));
    assert_non_null(strstr(err, "missing.key: No such file or directory"));
    assert_null(try_ctx("gw-b.chain.pem", "gw-b.pem", err, sizeof(err)));
    assert_non_null(strstr(err, "no usable PEM private key"));
    assert_null(try_ctx("gw-b.key", "gw-b.key", err, sizeof(err)));
    assert_non_null(strstr(err, "certificate_file"));

    /* The old ctx still serves new connections, and a good reload works. */
    struct tls_conn *c2 = tls_conn_new_client(cctx, "b.test", NULL, NULL, 0);
    struct tls_conn *s2 = tls_conn_new_server(live);
    assert_true(pump_handshake(c2, s2));
    wire_free(c2);
    wire_free(s2);
    struct tls_ctx *reloaded = try_ctx("sipuri.chain.pem", "sipuri.key", err, sizeof(err));
    assert_non_null(reloaded);
    tls_ctx_unref(live); /* the gateway swaps; the live conn keeps its ref */
    send_text(c, "still here");
    expect_text(c, s, "still here");
    struct tls_conn *c3 = tls_conn_new_client(cctx, "sipuri.test", NULL, NULL, 0);
    struct tls_conn *s3 = tls_conn_new_server(reloaded);
    assert_true(pump_handshake(c3, s3));
    wire_free(c3);
    wire_free(s3);

    wire_free(c);
    wire_free(s);
    tls_ctx_unref(reloaded);
    tls_ctx_unref(cctx);
}

/* RSA and ECDSA keys both load and handshake. */
static void rsa_and_ec_keys(void **state)
{
    const char *leaves[] = {"rsa", "gw-b"};
    const char *domains[] = {"rsa.test", "b.test"};
    for (int i = 0; i < 2; i++) {
        struct tls_ctx *cctx = pki_ctx_new(leaves[1 - i], true, false, false);
        struct tls_ctx *sctx = pki_ctx_new(leaves[i], true, false, false);
        struct tls_conn *c = tls_conn_new_client(cctx, domains[i], NULL, NULL, 0);
        struct tls_conn *s = tls_conn_new_server(sctx);
        assert_true(pump_handshake(c, s));
        assert_true(tls_identities_contains(tls_conn_identities(s), domains[1 - i],
                                            strlen(domains[1 - i])));
        wire_free(c);
        wire_free(s);
        tls_ctx_unref(cctx);
        tls_ctx_unref(sctx);
    }
}

/* Bad arguments get a clear NULL, not a crash. */
static void client_rejects_bad_arguments(void **state)
{
    struct tls_ctx *cctx = pki_ctx_new("gw-a", true, false, false);
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_null(tls_conn_new_client(cctx, "", NULL, NULL, 0));
    assert_null(tls_conn_new_client(cctx, longname, NULL, NULL, 0));
    uint8_t addr[TLS_SESSION_KEY_MAX_ADDR + 1] = {0};
    assert_null(tls_conn_new_client(cctx, "b.test", NULL, addr, sizeof(addr)));
    assert_null(tls_session_cache_new(0));
    tls_ctx_unref(cctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(data_both_ways_and_idle_buffers_released),
        cmocka_unit_test(idle_connection_memory_is_bounded),
        cmocka_unit_test(bulk_transfer_through_lent_buffers),
        cmocka_unit_test(close_sent_drops_incoming_data),
        cmocka_unit_test(close_received_allows_final_answers),
        cmocka_unit_test(resumption_keeps_identities),
        cmocka_unit_test(identities_present_their_own_certificate_and_sessions),
        cmocka_unit_test(ticket_key_file_shared_across_ctxs),
        cmocka_unit_test(session_cache_is_bounded),
        cmocka_unit_test(reload_with_broken_key_keeps_old_ctx),
        cmocka_unit_test(rsa_and_ec_keys),
        cmocka_unit_test(client_rejects_bad_arguments),
    };
    return cmocka_run_group_tests(tests, pki_group_setup, pki_group_teardown);
}
