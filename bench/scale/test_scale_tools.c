/* The bench tools' own logic, without sockets: the latency histogram, the
 * in-flight window, and a peer's requests answered by another peer and
 * matched back (the path every scale_load / scale_sink transaction takes),
 * including the answers that must count as errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hist.h"
#include "peer.h"
#include "sip/response.h"
#include "window.h"

static void test_hist_quantiles_within_resolution(void **state)
{
    static struct hist h;
    memset(&h, 0, sizeof(h));
    assert_int_equal(hist_quantile(&h, 0.5), 0);
    for (uint64_t us = 1; us <= 1000; us++)
        hist_record(&h, us * 1000);
    assert_int_equal(h.count, 1000);
    double p50 = (double)hist_quantile(&h, 0.50), p99 = (double)hist_quantile(&h, 0.99);
    assert_true(p50 > 500e3 * 0.98 && p50 < 500e3 * 1.02);
    assert_true(p99 > 990e3 * 0.98 && p99 < 990e3 * 1.02);
    assert_true(hist_quantile(&h, 0) <= 1000 * 1.02);
    /* Small values are exact; huge ones clamp into the last bucket. */
    memset(&h, 0, sizeof(h));
    hist_record(&h, 37);
    assert_int_equal(hist_quantile(&h, 1), 37);
    hist_record(&h, UINT64_MAX);
    assert_true(hist_quantile(&h, 1) >= ((uint64_t)1 << (HIST_MAX_BITS - 1)));
}

static void test_window_matches_each_sequence_once(void **state)
{
    struct window w;
    uint64_t lat;
    assert_true(window_init(&w, 2));
    assert_int_equal(window_open(&w, 100), 0);
    assert_int_equal(window_open(&w, 150), 1);
    assert_false(window_has_room(&w));
    assert_true(window_close(&w, 1, 400, &lat)); /* out of order is fine */
    assert_int_equal(lat, 250);
    assert_false(window_close(&w, 1, 500, &lat)); /* a duplicate is not */
    assert_false(window_close(&w, 7, 500, &lat)); /* nor a number never sent */
    /* Sequence 2 would reuse the slot of 0, which is still in flight. */
    assert_false(window_has_room(&w));
    assert_true(window_close(&w, 0, 600, &lat));
    assert_int_equal(lat, 500);
    assert_true(window_has_room(&w));
    assert_int_equal(w.outstanding, 0);
    window_free(&w);
}

/* True when the send buffer holds `text` (it is not NUL-terminated). */
static bool sends(const struct peer *p, const char *text)
{
    return memmem(p->out, p->out_len, text, strlen(text)) != NULL;
}

/* Moves everything a sent to b's receive buffer. */
static void deliver(struct peer *from, struct peer *to)
{
    assert_true(from->out_len <= peer_in_room(to));
    memcpy(peer_in_tail(to), from->out, from->out_len);
    to->in_len += from->out_len;
    peer_sent(from, from->out_len);
}

static const struct peer_form tls_form = {
    .transport = "TLS", .sent_by = "p3.scale.test:20003", .alias = true};
static const struct peer_form tcp_form = {.transport = "TCP", .sent_by = "127.0.0.1:5999"};

static void test_requests_answered_and_matched(void **state)
{
    static struct meter mc, ms;
    memset(&mc, 0, sizeof(mc));
    memset(&ms, 0, sizeof(ms));
    mc.measuring = true;
    struct peer client, server;
    assert_true(peer_init(&client, 3, 4, &tls_form, &mc));
    assert_true(peer_init(&server, 0, 1, &tcp_form, &ms));
    for (int i = 0; i < 4; i++) {
        assert_true(peer_can_request(&client));
        peer_queue_request(&client, "legacy.scale.test", 1000);
    }
    assert_false(peer_can_request(&client)); /* window of 4 is full */
    assert_true(
        sends(&client, "Via: SIP/2.0/TLS p3.scale.test:20003;branch=z9hG4bK-3-0;alias\r\n"));

    deliver(&client, &server);
    assert_int_equal(peer_consume(&server, 2000), PEER_DRAINED);
    assert_int_equal(ms.answered, 4);
    assert_int_equal(server.in_len, 0);
    assert_true(sends(&server, "SIP/2.0 200 OK\r\n"));

    deliver(&server, &client);
    assert_int_equal(peer_consume(&client, 6000), PEER_DRAINED);
    assert_int_equal(mc.sent, 4);
    assert_int_equal(mc.completed, 4);
    assert_int_equal(mc.tx, 4);
    assert_int_equal(mc.latency.count, 4);
    uint64_t p50 = hist_quantile(&mc.latency, 0.5); /* 5 us, to the bucket */
    assert_true(p50 >= 4900 && p50 <= 5100);
    assert_int_equal(meter_errors(&mc), 0);
    assert_int_equal(client.window.outstanding, 0);
    peer_free(&client);
    peer_free(&server);
}

/* Feeds one response to `req` (with this status) into p. */
static void answer_with(struct peer *p, const char *req, unsigned status)
{
    struct sip_header hdrs[32];
    struct sip_msg msg;
    size_t len;
    struct sip_response_spec spec = {.status = status, .to_tag = "t"};
    assert_int_equal(sip_parse(req, strlen(req), &msg, hdrs, 32), SIP_OK);
    assert_int_equal(sip_build_response(&msg, &spec, peer_in_tail(p), peer_in_room(p), &len),
                     SIP_OK);
    p->in_len += len;
}

static void test_wrong_answers_count_as_errors(void **state)
{
    static struct meter m;
    memset(&m, 0, sizeof(m));
    struct peer p;
    assert_true(peer_init(&p, 5, 2, &tcp_form, &m));
    peer_queue_request(&p, "p0.scale.test", 0);
    char req[2048];
    memcpy(req, p.out, p.out_len);
    req[p.out_len] = '\0';
    peer_sent(&p, p.out_len);

    answer_with(&p, req, 503);
    assert_int_equal(peer_consume(&p, 10), PEER_DRAINED);
    assert_int_equal(m.err_status, 1);
    assert_int_equal(m.completed, 0);
    assert_int_equal(p.window.outstanding, 0); /* answered, if badly */

    answer_with(&p, req, 200); /* the same branch again: nothing in flight */
    assert_int_equal(peer_consume(&p, 20), PEER_DRAINED);
    assert_int_equal(m.err_match, 1);

    static const char other[] = "OPTIONS sip:x SIP/2.0\r\n"
                                "Via: SIP/2.0/TCP h;branch=z9hG4bK-6-0\r\n"
                                "Max-Forwards: 70\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:x>\r\n"
                                "Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    answer_with(&p, other, 200); /* another connection's branch */
    assert_int_equal(peer_consume(&p, 30), PEER_DRAINED);
    assert_int_equal(m.err_match, 2);

    static const char junk[] = "NOT SIP AT ALL\r\nno-content-length\r\n\r\n";
    memcpy(peer_in_tail(&p), junk, sizeof(junk) - 1);
    p.in_len += sizeof(junk) - 1;
    assert_int_equal(peer_consume(&p, 40), PEER_BROKEN);
    assert_int_equal(m.err_parse, 1);
    assert_int_equal(meter_errors(&m), 4);
    peer_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_quantiles_within_resolution),
        cmocka_unit_test(test_window_matches_each_sequence_once),
        cmocka_unit_test(test_requests_answered_and_matched),
        cmocka_unit_test(test_wrong_answers_count_as_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
