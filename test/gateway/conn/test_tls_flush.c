/* Unit tests of the TLS send path of gateway/conn (conn_io.c conn_send and
 * conn_flush, tlsio.c tlsio_seal): what an established TLS connection is
 * given while its send is in flight leaves, when that send completes, in
 * one TLS record per 16 KiB of plaintext rather than one per message; a
 * message may span two records; the queued plaintext counts against
 * limits.max_buffered_bytes (back-pressure pauses the sender mid-burst and
 * wakes it once drained); a graceful close seals it before close_notify.
 * A message's conn_out_mark maps to the end of the record that carries its
 * last byte: queued or sealed but not yet taken by the kernel, it has not
 * left (conn_out_left). A pong queued as plaintext is still the one pending
 * pong that answers every ping (RFC 5626 coalescing).
 *
 * Real pieces throughout: a connection layer on a real loop (both
 * backends), one end of a socketpair as the connection's socket, and a
 * server engine whose handshake with a client engine ran in memory
 * (test/certs/gen.sh certificates). The client engine decrypts what arrives
 * at the other end; the record headers are counted on the wire. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sys/socket.h>

#include "config/config.h"
#include "conn/conn.h"
#include "conn/conn_internal.h"
#include "conn/conn_io.h"
#include "conn/conn_layer.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/timer.h"
#include "tls_test_support.h"

enum {
    MSG_BYTES = 300,
    MAX_BUFFERED = 65536,
    RECORD_MAX = 16384,
    TLS13_OVERHEAD = 17, /* inner content type + AEAD tag */
    WIRE_CAP = 1 << 20,
};

struct env {
    enum loop_backend backend;
    struct cfg_snapshot *cfg;
    struct tls_ctx *sctx, *cctx;
    struct loop *loop;
    struct timer_heap timers;
    struct metrics metrics;
    struct conn_layer cl;
    struct tls_conn *client; /* the peer's engine, reading at fds[1] */
    struct conn *t;          /* the established TLS connection at fds[0] */
    int fds[2];
    uint8_t wire[WIRE_CAP]; /* ciphertext read at fds[1] */
    size_t wire_len;
};

static void on_event(void *ctx, const struct loop_event *ev)
{
    conn_on_event(ctx, ev);
}

static struct cfg_snapshot *load_cfg(void)
{
    const char *path = pki_path("flush.yaml");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "identity: {sent_by: \"b.test:5061\"}\n"
            "tls: {listen: [\"127.0.0.3:5061\"], certificate: \"%s\",\n"
            "      private_key: \"%s\", ca: \"%s\"}\n"
            "legacy: {forward_to: \"127.0.0.1:9\", listen: \"127.0.0.3:9\"}\n"
            "limits: {max_connections: 16, max_message_bytes: 4096,\n"
            "         max_buffered_bytes: %d}\n"
            "log: {level: error}\n",
            pki_path("gw-b.chain.pem"), pki_path("gw-b.key"), pki_path("ca.pem"), MAX_BUFFERED);
    fclose(f);
    struct cfg_errors errors = {0};
    struct cfg_snapshot *cfg = cfg_load(path, &errors);
    for (size_t i = 0; i < errors.count; i++)
        print_error("%s: %s\n", errors.items[i].key, errors.items[i].message);
    assert_non_null(cfg);
    cfg_errors_clear(&errors);
    return cfg;
}

static int setup(void **state, enum loop_backend backend)
{
    struct env *e = test_calloc(1, sizeof(*e));
    e->backend = backend;
    e->cfg = load_cfg();
    e->sctx = pki_ctx_new("gw-b", true, false, false);
    e->cctx = pki_ctx_new("gw-a", true, false, false);
    struct loop_options opts = {
        .backend = backend, .entries = 64, .recv_buffer_count = 8, .recv_buffer_size = 4096};
    e->loop = loop_new(&opts, on_event, &e->cl);
    assert_non_null(e->loop);
    assert_true(timer_heap_init(&e->timers, 64));
    struct conn_layer_borrowed b = {.loop = e->loop,
                                    .timers = &e->timers,
                                    .metrics = &e->metrics,
                                    .cfg = e->cfg,
                                    .tls_ctx = e->sctx,
                                    .workers = 1};
    assert_true(conn_layer_init(&e->cl, &b));

    e->client = tls_conn_new_client(e->cctx, "b.test", NULL, NULL, 0);
    struct tls_conn *server = tls_conn_new_server(e->sctx);
    assert_true(pump_handshake(e->client, server));
    char buf[64];
    size_t n;
    /* The client takes the session tickets; no application data yet. */
    assert_int_equal(wire_read(e->client, server, buf, sizeof(buf), &n), TLS_PROGRESS_WANT_READ);
    const uint8_t *left;
    assert_int_equal(wire_pending(server, &left), 0);

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, e->fds), 0);
    e->t = conn_alloc(&e->cl.conns, CONN_TLS_IN);
    assert_non_null(e->t);
    e->t->state = CONN_OPEN;
    e->t->fd = e->fds[0];
    e->t->tls = server;
    e->t->recv_armed = true; /* nothing is read on it here */
    *state = e;
    return 0;
}

static int setup_uring(void **state)
{
    return setup(state, LOOP_BACKEND_IO_URING);
}

static int setup_epoll(void **state)
{
    return setup(state, LOOP_BACKEND_EPOLL);
}

static int teardown(void **state)
{
    struct env *e = *state;
    conn_layer_drop_all(&e->cl);
    conn_layer_free(&e->cl);
    loop_free(e->loop);
    timer_heap_free(&e->timers);
    close(e->fds[1]);
    wire_free(e->client);
    tls_ctx_unref(e->sctx);
    tls_ctx_unref(e->cctx);
    cfg_unref(e->cfg);
    test_free(e);
    return 0;
}

/* turn is one turn of a worker's loop: what the last one queued is
 * flushed, then the loop waits for completions. */
static void turn(struct env *e)
{
    conn_flush_deferred(&e->cl);
    assert_true(loop_run_once(e->loop, 100) >= 0);
}

/* send_alone queues one message and flushes it, as the end of a turn would
 * with nothing else queued. */
static void send_alone(struct env *e, const char *msg)
{
    assert_true(conn_send(&e->cl, e->t, msg, MSG_BYTES));
    conn_flush_deferred(&e->cl);
}

/* drain turns the loop, reading fds[1], until |t| has nothing queued or in
 * flight (or it closed); bounded. */
static void drain(struct env *e)
{
    for (int n = 0; n < 1000; n++) {
        ssize_t r;
        while ((r = read(e->fds[1], e->wire + e->wire_len, WIRE_CAP - e->wire_len)) > 0)
            e->wire_len += (size_t)r;
        if (!conn_is_live(e->t) || (!e->t->send_inflight && conn_backlog(e->t) == 0))
            return;
        turn(e);
    }
    fail_msg("the connection did not drain");
}

/* record_lengths lists the lengths of the application-data records on the
 * wire (TLS 1.3: every record after the handshake is type 23). */
static size_t record_lengths(const struct env *e, size_t *lens, size_t cap)
{
    size_t n = 0;
    for (size_t off = 0; off + 5 <= e->wire_len;) {
        assert_int_equal(e->wire[off], 23);
        size_t len = (size_t)e->wire[off + 3] << 8 | e->wire[off + 4];
        assert_true(n < cap);
        lens[n++] = len;
        off += 5 + len;
        assert_true(off <= e->wire_len);
    }
    return n;
}

/* plaintext decrypts everything on the wire with the client engine. */
static size_t plaintext(struct env *e, char *out, size_t cap, enum tls_progress *last)
{
    struct tls_io io = wire_lend(e->client, e->wire, e->wire_len);
    size_t total = 0, n = 0;
    while ((*last = tls_conn_read(e->client, &io, out + total, cap - total, &n)) ==
               TLS_PROGRESS_DONE &&
           n > 0)
        total += n;
    return total;
}

/* message fills |buf| with message |i|: MSG_BYTES, told apart by |i|. */
static void message(char *buf, unsigned i)
{
    memset(buf, 'a' + (char)(i % 26), MSG_BYTES);
    snprintf(buf, MSG_BYTES, "OPTIONS sip:%u@b.test SIP/2.0\r\n", i);
}

static void burst_leaves_in_records_of_16k(void **state)
{
    struct env *e = *state;
    enum { BURST = 100 };
    static char sent[(BURST + 1) * MSG_BYTES], got[(BURST + 1) * MSG_BYTES + 1];
    message(sent, 0);
    send_alone(e, sent);
    /* Nothing was in flight: sealed and sending at once, alone. */
    assert_true(e->t->send_inflight);
    assert_int_equal(e->t->plain.bytes, 0);
    assert_int_equal(e->t->out.bytes, 5 + MSG_BYTES + TLS13_OVERHEAD);
    for (unsigned i = 1; i <= BURST; i++) {
        message(sent + i * MSG_BYTES, i);
        assert_true(conn_send(&e->cl, e->t, sent + i * MSG_BYTES, MSG_BYTES));
    }
    /* Behind the send in flight: plaintext, counted as queued. */
    assert_int_equal(e->t->plain.bytes, BURST * MSG_BYTES);
    assert_int_equal(e->t->out.bytes, 5 + MSG_BYTES + TLS13_OVERHEAD);
    assert_int_equal(conn_backlog(e->t), e->t->out.bytes + BURST * MSG_BYTES);
    drain(e);

    size_t lens[8];
    size_t n = record_lengths(e, lens, 8);
    /* 1 + 30000 bytes: the first alone, then 16384 + 13616, message 54
     * spanning the two. */
    assert_int_equal(n, 3);
    assert_int_equal(lens[0], MSG_BYTES + TLS13_OVERHEAD);
    assert_int_equal(lens[1], RECORD_MAX + TLS13_OVERHEAD);
    assert_int_equal(lens[2], BURST * MSG_BYTES - RECORD_MAX + TLS13_OVERHEAD);
    enum tls_progress last;
    assert_int_equal(plaintext(e, got, sizeof(got), &last), sizeof(sent));
    assert_memory_equal(got, sent, sizeof(sent));
    assert_int_equal(last, TLS_PROGRESS_WANT_READ);
}

static void backpressure_pauses_mid_burst(void **state)
{
    struct env *e = *state;
    enum { BURST = 2 * MAX_BUFFERED / MSG_BYTES };
    static char sent[BURST * MSG_BYTES], got[BURST * MSG_BYTES + 1];
    /* The sender: a plain connection without a socket, so that only the
     * pause flag tells (its receive is never armed). */
    struct conn *src = conn_alloc(&e->cl.conns, CONN_MIRROR);
    assert_non_null(src);
    src->state = CONN_OPEN;
    unsigned paused_at = 0;
    for (unsigned i = 0; i < BURST; i++) {
        message(sent + i * MSG_BYTES, i);
        assert_true(conn_send(&e->cl, e->t, sent + i * MSG_BYTES, MSG_BYTES));
        conn_throttle(&e->cl, src, e->t);
        if (src->read_paused && paused_at == 0)
            paused_at = i;
    }
    /* Paused as soon as the queued plaintext passed the limit, though the
     * out queue held one record. */
    assert_int_equal(paused_at, MAX_BUFFERED / MSG_BYTES);
    assert_true(e->t->out.bytes < 1024);
    drain(e);
    assert_false(src->read_paused); /* woken once drained below half */
    enum tls_progress last;
    assert_int_equal(plaintext(e, got, sizeof(got), &last), sizeof(sent));
    assert_memory_equal(got, sent, sizeof(sent));
    size_t lens[32];
    size_t n = record_lengths(e, lens, 32);
    assert_true(n <= 2 + sizeof(sent) / RECORD_MAX);
}

static void close_notify_follows_queued_plaintext(void **state)
{
    struct env *e = *state;
    enum { BURST = 10 };
    static char sent[BURST * MSG_BYTES], got[BURST * MSG_BYTES + 1];
    message(sent, 0);
    send_alone(e, sent);
    for (unsigned i = 1; i < BURST; i++) {
        message(sent + i * MSG_BYTES, i);
        assert_true(conn_send(&e->cl, e->t, sent + i * MSG_BYTES, MSG_BYTES));
    }
    assert_int_equal(e->t->plain.bytes, (BURST - 1) * MSG_BYTES);
    conn_close(&e->cl, e->t, CLOSE_GRACEFUL, "test");
    assert_int_equal(e->t->plain.bytes, 0);
    /* Closing: nothing more is taken. */
    assert_false(conn_send(&e->cl, e->t, sent, MSG_BYTES));
    drain(e);
    enum tls_progress last;
    assert_int_equal(plaintext(e, got, sizeof(got), &last), sizeof(sent));
    assert_memory_equal(got, sent, sizeof(sent));
    assert_int_equal(last, TLS_PROGRESS_CLOSED);
}

/* ping hands |t| one RFC 5626 double-CRLF ping, encrypted by the peer. */
static void ping(struct env *e)
{
    assert_int_equal(wire_write(e->client, "\r\n\r\n", 4), TLS_PROGRESS_DONE);
    const uint8_t *rec;
    size_t n = wire_pending(e->client, &rec);
    assert_true(n > 0);
    conn_ingest(&e->cl, e->t, rec, n);
    wire_take(e->client, n);
}

static void out_mark_is_the_end_of_its_record(void **state)
{
    struct env *e = *state;
    enum { BURST = 100 };
    static char sent[(BURST + 1) * MSG_BYTES], got[(BURST + 1) * MSG_BYTES + 1];
    /* A send buffer smaller than one record: the kernel takes the burst's
     * first record piecewise, while the peer does not read. */
    int sndbuf = 4096;
    assert_int_equal(setsockopt(e->fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
    uint64_t marks[BURST + 1];
    for (unsigned i = 0; i <= BURST; i++) {
        message(sent + i * MSG_BYTES, i);
        if (i == 0)
            send_alone(e, sent);
        else
            assert_true(conn_send(&e->cl, e->t, sent + i * MSG_BYTES, MSG_BYTES));
        marks[i] = conn_out_mark(e->t);
        assert_true(i == 0 || marks[i] == marks[i - 1] + MSG_BYTES);
    }
    /* Message 0 is sealed and in flight, the rest plaintext: none left. */
    for (unsigned i = 0; i <= BURST; i++)
        assert_false(conn_out_left(e->t, marks[i]));
    for (int n = 0; n < 100 && !conn_out_left(e->t, marks[0]); n++)
        turn(e);
    assert_true(conn_out_left(e->t, marks[0]));
    /* The burst is sealed now, but its first record is not all written. */
    assert_int_equal(e->t->plain.bytes, 0);
    assert_int_equal(e->t->n_sealed, 2);
    assert_true(e->t->out.consumed < e->t->sealed[0].out_end);
    for (unsigned i = 1; i <= BURST; i++)
        assert_false(conn_out_left(e->t, marks[i]));
    drain(e);
    for (unsigned i = 0; i <= BURST; i++)
        assert_true(conn_out_left(e->t, marks[i]));
    enum tls_progress last;
    assert_int_equal(plaintext(e, got, sizeof(got), &last), sizeof(sent));
    assert_memory_equal(got, sent, sizeof(sent));
}

static void pong_in_plaintext_answers_every_ping(void **state)
{
    struct env *e = *state;
    static char sent[MSG_BYTES], got[MSG_BYTES + 16];
    message(sent, 0);
    send_alone(e, sent); /* in flight */
    ping(e);
    /* The pong waits as plaintext behind the send: pending, not left. */
    assert_int_equal(e->t->plain.bytes, 2);
    assert_true(e->t->pong_mark > 0);
    assert_false(conn_out_left(e->t, e->t->pong_mark));
    ping(e);
    ping(e);
    assert_int_equal(e->t->plain.bytes, 2); /* one pending pong answers them all */
    drain(e);
    assert_true(conn_out_left(e->t, e->t->pong_mark));
    ping(e); /* once it left, the next ping gets a pong of its own */
    drain(e);
    enum tls_progress last;
    assert_int_equal(plaintext(e, got, sizeof(got), &last), MSG_BYTES + 4);
    assert_memory_equal(got, sent, MSG_BYTES);
    assert_memory_equal(got + MSG_BYTES, "\r\n\r\n", 4);
    assert_int_equal(e->metrics.v[M_KEEPALIVE_PONGS], 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(burst_leaves_in_records_of_16k, setup_uring, teardown),
        cmocka_unit_test_setup_teardown(burst_leaves_in_records_of_16k, setup_epoll, teardown),
        cmocka_unit_test_setup_teardown(backpressure_pauses_mid_burst, setup_uring, teardown),
        cmocka_unit_test_setup_teardown(backpressure_pauses_mid_burst, setup_epoll, teardown),
        cmocka_unit_test_setup_teardown(close_notify_follows_queued_plaintext, setup_uring,
                                        teardown),
        cmocka_unit_test_setup_teardown(close_notify_follows_queued_plaintext, setup_epoll,
                                        teardown),
        cmocka_unit_test_setup_teardown(out_mark_is_the_end_of_its_record, setup_uring, teardown),
        cmocka_unit_test_setup_teardown(out_mark_is_the_end_of_its_record, setup_epoll, teardown),
        cmocka_unit_test_setup_teardown(pong_in_plaintext_answers_every_ping, setup_uring,
                                        teardown),
        cmocka_unit_test_setup_teardown(pong_in_plaintext_answers_every_ping, setup_epoll,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, pki_group_setup, pki_group_teardown);
}
