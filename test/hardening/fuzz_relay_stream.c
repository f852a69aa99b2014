/* libFuzzer target: arbitrary bytes through a connection's receive path —
 * framing, parsing and the relay decision of gateway/conn/conn_io.c and relay/relay.c —
 * without sockets. Each input is a series of (connection, chunk) records
 * delivered as receive completions to one of four connections of a real
 * worker: an inbound TLS connection T from a verified peer (gw-a), its
 * legacy mirror M, an outbound TLS connection O still being dialled to
 * a.test, and an egress connection E from the legacy proxy. Connections
 * have no fd, so whatever the relay sends stays in their queues, where the
 * invariants are checked:
 *   - M's queue holds whole messages only, and every request in it came
 *     from T's stream unchanged (never a part of one the stream could not
 *     frame): each occurs verbatim in T's input;
 *   - queues stay within limits.max_buffered_bytes (plus one message): a
 *     sender is paused, and what it sends meanwhile waits in its stash;
 *   - the worker's tables stay consistent (live connections = table use).
 * The TLS context and certificates are real (test/certs/gen.sh, run once at
 * start-up into a temporary directory); the io_uring loop is real but never
 * run. The worker is built once per process (its ring, tables and resolver
 * cost far more than an input) and reset after each input: every
 * connection closed and released, every pending transaction removed, the
 * resolver made anew, and the reset checked (no connection, entry or timer
 * left), so that inputs stay independent. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/pem.h>

#include "config/config.h"
#include "conn/conn.h"
#include "conn/conn_internal.h"
#include "conn/conn_io.h"
#include "fuzz_check.h"
#include "core/log.h"
#include "relay/dns_route.h"
#include "relay/pending.h"
#include "worker/reload.h"
#include "tls/ctx.h"
#include "tls/identities.h"
#include "worker/worker.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_BUFFERED = 65536, MAX_MESSAGE = 4096, MAX_INPUT = 1 << 16 };

static struct cfg_snapshot *cfg;
static struct tls_ctx *tls;
static struct tls_identities *gw_a_ids;
static struct worker *wk;    /* the one worker, reset after each input */
static uint32_t idle_timers; /* its own timers, armed before any input */

static void must(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_relay_stream: %s\n", what);
        exit(1);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[] = "/tmp/fuzz_relay_stream.XXXXXX";
    must(mkdtemp(dir) != NULL, "mkdtemp");
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "bash '%s/gen.sh' '%s' >/dev/null 2>&1", TEST_CERTS_DIR, dir);
    must(system(cmd) == 0, "test/certs/gen.sh failed");
    char path[300];
    snprintf(path, sizeof(path), "%s/gw.yaml", dir);
    FILE *f = fopen(path, "w");
    must(f != NULL, "config file");
    fprintf(f,
            "identity: {sent_by: \"b.test:5061\"}\n"
            "tls: {listen: [\"127.0.0.3:5061\"], certificate: \"%s/gw-b.chain.pem\",\n"
            "      private_key: \"%s/gw-b.key\", ca: \"%s/ca.pem\"}\n"
            "legacy: {forward_to: \"127.0.0.1:9\", listen: \"127.0.0.3:9\"}\n"
            "routes: [{domain: a.test, targets: [\"127.0.0.2:5061\"]}]\n"
            "limits: {max_connections: 16, max_pending_transactions: 64,\n"
            "         max_message_bytes: %d, max_buffered_bytes: %d}\n"
            "log: {level: error}\n",
            dir, dir, dir, MAX_MESSAGE, MAX_BUFFERED);
    fclose(f);
    struct cfg_errors errors = {0};
    cfg = cfg_load(path, &errors);
    must(cfg != NULL, "config does not load");
    cfg_errors_clear(&errors);
    log_configure(LOG_ERROR, LOG_FORMAT_LOGFMT);
    tls = reload_tls_ctx(cfg);
    must(tls != NULL, "TLS context");
    snprintf(path, sizeof(path), "%s/gw-a.pem", dir);
    f = fopen(path, "r");
    must(f != NULL, "gw-a.pem");
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    gw_a_ids = tls_identities_from_x509(x);
    X509_free(x);
    must(gw_a_ids != NULL, "gw-a identities");
    wk = calloc(1, sizeof(*wk));
    must(wk && worker_init(wk, cfg, tls) == 0, "worker");
    idle_timers = wk->timers.count;
    return 0;
}

/* reset returns the worker to its state before the first input. The loop
 * never runs, so no operation is in flight and the armed receive is only a
 * flag: cleared (and a socket the relay dialled closed here), each
 * connection closes and is released at once; two passes, because closing a
 * TLS connection starts its mirror's graceful close. A new resolver drops
 * any lookup the input started. */
static void reset(void)
{
    struct conn_table *t = &wk->conn.conns;
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t s = 1; s <= t->high; s++) {
            struct conn *c = conn_at(t, s);
            if (c->state == CONN_FREE)
                continue;
            c->recv_armed = c->send_inflight = c->op_inflight = false;
            if (c->fd >= 0)
                close(c->fd);
            c->fd = -1;
            conn_finish_close(&wk->conn, c);
            conn_maybe_release(&wk->conn, c);
        }
    struct pending_table *p = &wk->relay.pending;
    for (uint32_t i = 0; i < p->high; i++)
        if (p->entries[i].in_use)
            pending_remove(p, &p->entries[i]);
    dns_routes_free(wk->relay.dns);
    wk->relay.dns = dns_routes_new(&wk->conn, cfg);
    FUZZ_CHECK(wk->relay.dns != NULL);
    FUZZ_CHECK(t->used == 0 && p->used == 0 && wk->timers.count == idle_timers);
}

static struct conn *make_conn(struct worker *w, enum conn_kind kind, enum conn_state state,
                              const char *ip, uint16_t port)
{
    struct conn *c = conn_alloc(&w->conn.conns, kind);
    FUZZ_CHECK(c != NULL);
    c->state = (uint8_t)state;
    c->recv_armed = true; /* a multishot receive that never ends */
    struct sockaddr_in *in = (struct sockaddr_in *)&c->peer;
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    inet_pton(AF_INET, ip, &in->sin_addr);
    c->peer_len = sizeof(*in);
    return c;
}

/* queued copies the bytes of |q| (all of them) into |out|; returns the count. */
static size_t queued(const struct buf_queue *q, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (const struct buf_block *b = q->head; b && n < cap; b = b->next) {
        size_t len = b->tail - b->head;
        if (len > cap - n)
            len = cap - n;
        memcpy(out + n, b->data + b->head, len);
        n += len;
    }
    return n;
}

/* check_mirror: M's out queue is a sequence of whole messages, each of them
 * found verbatim in T's input stream. */
static void check_mirror(const struct conn *m, const uint8_t *t_in, size_t t_len)
{
    static uint8_t out[4 * MAX_BUFFERED];
    size_t n = queued(&m->out, out, sizeof(out));
    FUZZ_CHECK(n == m->out.bytes);
    /* Past the limit by what crossed it from each sender: a request of T
     * and an answer of reusegw's own to M. */
    FUZZ_CHECK(n <= MAX_BUFFERED + 2 * wk->conn.scratch_size);
    struct sip_framer fr;
    sip_framer_init(&fr);
    size_t off = 0;
    while (off < n) {
        if (n - off >= 2 && out[off] == '\r' && out[off + 1] == '\n') {
            off += 2; /* a pong answering the legacy side's keepalive ping */
            continue;
        }
        struct sip_frame f;
        enum sip_frame_event k =
            sip_framer_feed(&fr, (const char *)out + off, n - off, MAX_MESSAGE, &f);
        FUZZ_CHECK(k == SIP_FRAME_MESSAGE);
        /* Responses on M are the gateway's answers to the legacy proxy
         * (400, 503) or a peer's, restored; requests can only be T's. */
        bool response = f.len >= 4 && memcmp(out + off, "SIP/", 4) == 0;
        FUZZ_CHECK(response || memmem(t_in, t_len, out + off, f.len) != NULL);
        off += f.len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t t_in[MAX_INPUT];
    size_t t_len = 0;
    struct worker *w = wk;
    w->timers.now_ms = 1000;

    struct conn *t = make_conn(w, CONN_TLS_IN, CONN_OPEN, "127.0.0.2", 40000);
    t->ids = tls_identities_ref(gw_a_ids);
    struct conn *m = make_conn(w, CONN_MIRROR, CONN_OPEN, "127.0.0.1", 9);
    t->partner = conn_ref_of(&w->conn.conns, m);
    m->partner = conn_ref_of(&w->conn.conns, t);
    struct conn *o = make_conn(w, CONN_TLS_OUT, CONN_CONNECTING, "127.0.0.2", 5061);
    snprintf(o->domain, sizeof(o->domain), "a.test");
    struct conn_key key;
    conn_key_from_sockaddr(&key, (const struct sockaddr *)&o->peer, 0);
    conn_index_set(&w->conn.conns, o, &key);
    struct conn *e = make_conn(w, CONN_EGRESS, CONN_OPEN, "127.0.0.1", 41000);
    struct conn *conns[4] = {t, m, o, e};
    struct conn_ref refs[4];
    for (int i = 0; i < 4; i++)
        refs[i] = conn_ref_of(&w->conn.conns, conns[i]);

    /* Records: one byte picks the connection (low 2 bits) and the chunk
     * length (high 6 bits, x16, 0 = rest of input). */
    while (size > 0) {
        unsigned which = data[0] & 3, len = (unsigned)(data[0] >> 2) * 16u;
        data++;
        size--;
        size_t n = len == 0 || len > size ? size : len;
        struct conn *c = conn_get(&w->conn.conns, refs[which]);
        if (c && n > 0) {
            if (which == 0 && t_len + n <= sizeof(t_in)) {
                memcpy(t_in + t_len, data, n);
                t_len += n;
            }
            struct loop_event ev = {
                .tag = tag_make(OP_RECV, refs[which].slot, refs[which].gen),
                .res = (int32_t)n,
                .more = true,
                .data = data,
                .len = n,
            };
            conn_on_event(&w->conn, &ev);
        }
        data += n;
        size -= n;
        struct conn *mc = conn_get(&w->conn.conns, refs[1]);
        if (mc && t_len < sizeof(t_in))
            check_mirror(mc, t_in, t_len);
        /* A held queue pauses its sender after the message that crossed
         * the limit (at most one scratch, with its length prefix). */
        for (int i = 0; i < 4; i++) {
            struct conn *x = conn_get(&w->conn.conns, refs[i]);
            FUZZ_CHECK(!x || x->hold.bytes <= MAX_BUFFERED + 4 + w->conn.scratch_size);
        }
    }
    uint32_t live = 0;
    for (uint32_t s = 1; s <= w->conn.conns.high; s++)
        live += conn_at(&w->conn.conns, s)->state != CONN_FREE;
    FUZZ_CHECK(live == w->conn.conns.used);
    reset();
    return 0;
}
