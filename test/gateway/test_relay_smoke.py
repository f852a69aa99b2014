"""End-to-end smoke test of the relay: two reusegw processes, A on 127.0.0.2
and B on 127.0.0.3, with static routes to each other and mutually
authenticated TLS between them (gw-a / gw-b from test/certs/gen.sh). Python
stand-ins play the two legacy proxies. Checks the docs/design.md flow table:
client-role Via rewrite with ;alias on the TLS hop (R-5923-01 bare flag),
exact restore in responses, bodies untouched, requests both ways, and an
immediate 503 for an unroutable domain."""
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from sipwire import A_HOST, B_HOST, Client, Pair, body, request, respond, top_via  # noqa: E402


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    p = Pair(os.environ["REUSEGW_BIN"], os.environ["REUSEGW_SOURCE_DIR"],
             str(tmp_path_factory.mktemp("relay")))
    yield p
    assert p.stop() == (0, 0), "SIGTERM must drain and exit 0"


def test_options_rewritten_on_tls_hop_and_restored(pair):
    branch = b"z9hG4bK-opt-1"
    sent = request(b"OPTIONS", b"sip:b.test", branch, b"opt-1@a", 1)
    pair.egress_a.send(sent)
    conn_b, got = pair.legacy_b.next(timeout=15)
    # On B's legacy side, the top Via is A's client-role rewrite, the rest
    # of the message is what legacy A wrote.
    assert top_via(got) == b"SIP/2.0/TLS a.test:%d;branch=%s;rport;alias" % (pair.a_tls, branch)
    assert got.replace(top_via(got), b"") == sent.replace(top_via(sent), b"")
    conn_b.send(respond(got, 200, b"OK"))
    resp = pair.egress_a.recv(timeout=10)
    assert resp.startswith(b"SIP/2.0 200 OK\r\n")
    # Restored exactly: legacy A sees its own Via, never the TLS one.
    assert top_via(resp) == b"SIP/2.0/TCP 127.0.0.1:5999;branch=%s;rport" % branch
    assert b"alias" not in resp


def test_invite_dialog_bodies_untouched(pair):
    sdp = (b"v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
           b"t=0 0\r\nm=audio 49170 RTP/AVP 0\r\n")
    invite = request(b"INVITE", b"sip:bob@b.test", b"z9hG4bK-inv-1", b"call-1@a", 1, sdp,
                     b"Content-Type: application/sdp\r\n")
    pair.egress_a.send(invite)
    conn_b, got = pair.legacy_b.next(timeout=15)
    assert got.startswith(b"INVITE sip:bob@b.test SIP/2.0\r\n")
    assert body(got) == sdp
    assert top_via(got).endswith(b";branch=z9hG4bK-inv-1;rport;alias")
    answer_sdp = sdp.replace(b"alice", b"bob")
    conn_b.send(respond(got, 180, b"Ringing"))
    conn_b.send(respond(got, 200, b"OK", b"Content-Type: application/sdp\r\n", answer_sdp))
    ringing = pair.egress_a.recv()
    ok = pair.egress_a.recv()
    assert ringing.startswith(b"SIP/2.0 180 Ringing\r\n")
    assert ok.startswith(b"SIP/2.0 200 OK\r\n")
    assert body(ok) == answer_sdp
    assert top_via(ok) == b"SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-inv-1;rport"

    ack = request(b"ACK", b"sip:bob@b.test", b"z9hG4bK-ack-1", b"call-1@a", 1)
    pair.egress_a.send(ack)
    _, got_ack = pair.legacy_b.next(timeout=10)
    assert got_ack.startswith(b"ACK sip:bob@b.test SIP/2.0\r\n")
    assert b"branch=z9hG4bK-ack-1" in top_via(got_ack)

    bye = request(b"BYE", b"sip:bob@b.test", b"z9hG4bK-bye-1", b"call-1@a", 2)
    pair.egress_a.send(bye)
    conn_b, got_bye = pair.legacy_b.next(timeout=10)
    assert got_bye.startswith(b"BYE sip:bob@b.test SIP/2.0\r\n")
    conn_b.send(respond(got_bye, 200, b"OK"))
    bye_ok = pair.egress_a.recv()
    assert bye_ok.startswith(b"SIP/2.0 200 OK\r\n")
    assert b"CSeq: 2 BYE" in bye_ok
    assert top_via(bye_ok) == b"SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-bye-1;rport"


def test_backward_request_on_mirror_goes_down_the_same_tls_connection(pair):
    # Legacy B sends a request on the connection B opened to it (its mirror);
    # B relays it on the TLS connection A opened, without ;alias (B did not
    # open it), and legacy A receives it on A's mirror.
    pair.egress_a.send(request(b"OPTIONS", b"sip:b.test", b"z9hG4bK-opt-2", b"opt-2@a", 1))
    conn_b, got = pair.legacy_b.next(timeout=15)
    conn_b.send(respond(got, 200, b"OK"))
    pair.egress_a.recv()
    back = (b"OPTIONS sip:a.test SIP/2.0\r\n"
            b"Via: SIP/2.0/TCP 127.0.0.1:6999;branch=z9hG4bK-back-1\r\n"
            b"Max-Forwards: 70\r\nFrom: <sip:b.test>;tag=b1\r\nTo: <sip:a.test>\r\n"
            b"Call-ID: back-1@b\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    conn_b.send(back)
    conn_a, got_a = pair.legacy_a.next(timeout=10)
    assert top_via(got_a) == b"SIP/2.0/TLS b.test:%d;branch=z9hG4bK-back-1" % pair.b_tls
    conn_a.send(respond(got_a, 200, b"OK"))
    _, resp = pair.legacy_b.next(timeout=10)
    assert resp.startswith(b"SIP/2.0 200 OK\r\n")
    assert top_via(resp) == b"SIP/2.0/TCP 127.0.0.1:6999;branch=z9hG4bK-back-1"


def test_unroutable_domain_gets_503_within_a_second(pair):
    start = time.monotonic()
    pair.egress_a.send(request(b"OPTIONS", b"sip:nowhere.test", b"z9hG4bK-nr-1", b"nr-1@a", 1))
    resp = pair.egress_a.recv(timeout=5)
    assert time.monotonic() - start < 1.0
    assert resp.startswith(b"SIP/2.0 503 ")
    assert b"Warning: 399 a.test:" in resp
    assert top_via(resp) == b"SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-nr-1;rport"


def test_ip_literal_target_gets_503_with_reason(pair):
    pair.egress_a.send(request(b"OPTIONS", b"sip:%s:%d" % (B_HOST.encode(), pair.b_tls),
                               b"z9hG4bK-ip-1", b"ip-1@a", 1))
    resp = pair.egress_a.recv(timeout=5)
    assert resp.startswith(b"SIP/2.0 503 ")
    assert b"RFC 5922" in resp


def test_keepalive_ping_gets_pong(pair):
    c = Client.connect(A_HOST, pair.a_legacy)
    c.send(b"\r\n\r\n")
    c.sock.settimeout(5)
    assert c.sock.recv(16) == b"\r\n"
    c.close()


def test_backward_request_reuses_the_aliased_connection(pair):
    # Server role (R-5923-19/-20): A's requests carry ;alias and A's client
    # certificate proves a.test, so B keys A's connection by (127.0.0.2,
    # A's Via port). Legacy B's request for a.test, sent through B's egress,
    # goes down that connection instead of a new one.
    pair.egress_a.send(request(b"OPTIONS", b"sip:b.test", b"z9hG4bK-al-1", b"al-1@a", 1))
    conn_b, got = pair.legacy_b.next(timeout=15)
    conn_b.send(respond(got, 200, b"OK"))
    pair.egress_a.recv()
    egress_b = Client.connect(B_HOST, pair.b_legacy)
    back = request(b"OPTIONS", b"sip:a.test", b"z9hG4bK-al-back", b"al-back@b", 1,
                   via_host=b"127.0.0.1:6998")
    egress_b.send(back)
    conn_a, got_a = pair.legacy_a.next(timeout=10)
    # No ;alias: B did not open this connection.
    assert top_via(got_a) == b"SIP/2.0/TLS b.test:%d;branch=z9hG4bK-al-back;rport" % pair.b_tls
    conn_a.send(respond(got_a, 200, b"OK"))
    resp = egress_b.recv(timeout=10)
    assert top_via(resp) == b"SIP/2.0/TCP 127.0.0.1:6998;branch=z9hG4bK-al-back;rport"
    egress_b.close()
    log_b = pair.b.read_log()
    assert "alias recorded" in log_b
    assert "conn=tls-out" not in log_b  # B never dialled A
