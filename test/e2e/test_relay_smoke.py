"""End-to-end smoke test of the relay: two reusegw processes, A on NET.2
and B on NET.3 (reusegw_test.Pair), with static routes to each other and
mutually authenticated TLS between them (gw-a / gw-b from test/certs/gen.sh).
Python stand-ins play the two legacy proxies. Checks the flow table of
docs/design.md: client-role Via rewrite with ;alias on the TLS hop
(R-5923-01 bare flag), exact restore in responses, bodies untouched,
requests both ways, and an immediate 503 for an unroutable domain."""
import time

import pytest

import reusegw_test as h


@pytest.fixture(scope="module")
def pair(module_stage):
    return module_stage.relay()


def test_options_rewritten_on_tls_hop_and_restored(pair):
    branch = "z9hG4bK-opt-1"
    sent = h.legacy_request("OPTIONS", "sip:b.test", branch, "opt-1@a", 1)
    pair.egress_a.send(sent)
    conn_b, got = pair.legacy_b.next(timeout=15)
    # On B's legacy side, the top Via is A's client-role rewrite, the rest
    # of the message is what legacy A wrote.
    top = got.get("via")
    assert top == f"SIP/2.0/TLS a.test:{pair.a.tls[1]};branch={branch};rport;alias"
    assert got.raw.replace(top.encode(), b"") == \
        sent.replace(h.SipMessage(sent).get("via").encode(), b"")
    conn_b.send(h.response(got))
    resp = pair.egress_a.recv(timeout=10)
    assert resp.first_line == "SIP/2.0 200 OK"
    # Restored exactly: legacy A sees its own Via, never the TLS one.
    assert resp.get("via") == f"{h.LEGACY_VIA};branch={branch};rport"
    assert b"alias" not in resp.raw


def test_invite_dialog_bodies_untouched(pair):
    sdp = (b"v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
           b"t=0 0\r\nm=audio 49170 RTP/AVP 0\r\n")
    sdp_type = ["Content-Type: application/sdp"]
    invite = h.legacy_request("INVITE", "sip:bob@b.test", "z9hG4bK-inv-1", "call-1@a", 1, body=sdp,
                         headers=sdp_type)
    pair.egress_a.send(invite)
    conn_b, got = pair.legacy_b.next(timeout=15)
    assert got.first_line == "INVITE sip:bob@b.test SIP/2.0"
    assert got.body == sdp
    assert got.get("via").endswith(";branch=z9hG4bK-inv-1;rport;alias")
    answer_sdp = sdp.replace(b"alice", b"bob")
    conn_b.send(h.response(got, 180, "Ringing"))
    conn_b.send(h.response(got, 200, "OK", sdp_type, answer_sdp))
    ringing = pair.egress_a.recv()
    ok = pair.egress_a.recv()
    assert ringing.first_line == "SIP/2.0 180 Ringing"
    assert ok.first_line == "SIP/2.0 200 OK"
    assert ok.body == answer_sdp
    assert ok.get("via") == f"{h.LEGACY_VIA};branch=z9hG4bK-inv-1;rport"

    ack = h.legacy_request("ACK", "sip:bob@b.test", "z9hG4bK-ack-1", "call-1@a", 1)
    pair.egress_a.send(ack)
    _, got_ack = pair.legacy_b.next(timeout=10)
    assert got_ack.first_line == "ACK sip:bob@b.test SIP/2.0"
    assert "branch=z9hG4bK-ack-1" in got_ack.get("via")

    bye = h.legacy_request("BYE", "sip:bob@b.test", "z9hG4bK-bye-1", "call-1@a", 2)
    pair.egress_a.send(bye)
    conn_b, got_bye = pair.legacy_b.next(timeout=10)
    assert got_bye.first_line == "BYE sip:bob@b.test SIP/2.0"
    conn_b.send(h.response(got_bye))
    bye_ok = pair.egress_a.recv()
    assert bye_ok.first_line == "SIP/2.0 200 OK"
    assert b"CSeq: 2 BYE" in bye_ok.raw
    assert bye_ok.get("via") == f"{h.LEGACY_VIA};branch=z9hG4bK-bye-1;rport"


def test_backward_request_on_mirror_goes_down_the_same_tls_connection(pair):
    # Legacy B sends a request on the connection B opened to it (its mirror);
    # B relays it on the TLS connection A opened, without ;alias (B did not
    # open it), and legacy A receives it on A's mirror.
    pair.egress_a.send(h.legacy_request("OPTIONS", "sip:b.test", "z9hG4bK-opt-2", "opt-2@a", 1))
    conn_b, got = pair.legacy_b.next(timeout=15)
    conn_b.send(h.response(got))
    pair.egress_a.recv()
    back = (b"OPTIONS sip:a.test SIP/2.0\r\n"
            b"Via: SIP/2.0/TCP 127.0.0.1:6999;branch=z9hG4bK-back-1\r\n"
            b"Max-Forwards: 70\r\nFrom: <sip:b.test>;tag=b1\r\nTo: <sip:a.test>\r\n"
            b"Call-ID: back-1@b\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    conn_b.send(back)
    conn_a, got_a = pair.legacy_a.next(timeout=10)
    assert got_a.get("via") == f"SIP/2.0/TLS b.test:{pair.b.tls[1]};branch=z9hG4bK-back-1"
    conn_a.send(h.response(got_a))
    _, resp = pair.legacy_b.next(timeout=10)
    assert resp.first_line == "SIP/2.0 200 OK"
    assert resp.get("via") == "SIP/2.0/TCP 127.0.0.1:6999;branch=z9hG4bK-back-1"


def test_unroutable_domain_gets_503_within_a_second(pair):
    start = time.monotonic()
    pair.egress_a.send(h.legacy_request("OPTIONS", "sip:nowhere.test", "z9hG4bK-nr-1", "nr-1@a", 1))
    resp = pair.egress_a.recv(timeout=5)
    assert time.monotonic() - start < 1.0
    assert resp.status == 503
    assert b"Warning: 399 a.test:" in resp.raw
    assert resp.get("via") == f"{h.LEGACY_VIA};branch=z9hG4bK-nr-1;rport"


def test_ip_literal_target_gets_503_with_reason(pair):
    pair.egress_a.send(h.legacy_request("OPTIONS", f"sip:{h.hostport(pair.b.tls)}", "z9hG4bK-ip-1",
                                   "ip-1@a", 1))
    resp = pair.egress_a.recv(timeout=5)
    assert resp.status == 503
    assert b"RFC 5922" in resp.raw


def test_keepalive_ping_gets_pong(pair):
    c = h.tcp_connect(pair.a.legacy_listen)
    c.send(b"\r\n\r\n")
    c.sock.settimeout(5)
    assert c.sock.recv(16) == b"\r\n"
    c.close()


def test_backward_request_reuses_the_aliased_connection(pair):
    # Server role (R-5923-19/-20): A's requests carry ;alias and A's client
    # certificate proves a.test, so B keys A's connection by (A's address,
    # A's Via port). Legacy B's request for a.test, sent through B's egress,
    # goes down that connection instead of a new one.
    pair.egress_a.send(h.legacy_request("OPTIONS", "sip:b.test", "z9hG4bK-al-1", "al-1@a", 1))
    conn_b, got = pair.legacy_b.next(timeout=15)
    conn_b.send(h.response(got))
    pair.egress_a.recv()
    egress_b = h.tcp_connect(pair.b.legacy_listen)
    back = h.request("OPTIONS", "sip:a.test", "SIP/2.0/TCP 127.0.0.1:6998",
                     branch="z9hG4bK-al-back", call_id="al-back@b", via_params=";rport")
    egress_b.send(back)
    conn_a, got_a = pair.legacy_a.next(timeout=10)
    # No ;alias: B did not open this connection.
    assert got_a.get("via") == f"SIP/2.0/TLS b.test:{pair.b.tls[1]};branch=z9hG4bK-al-back;rport"
    conn_a.send(h.response(got_a))
    resp = egress_b.recv(timeout=10)
    assert resp.get("via") == "SIP/2.0/TCP 127.0.0.1:6998;branch=z9hG4bK-al-back;rport"
    egress_b.close()
    log_b = pair.b.log()
    assert "alias recorded" in log_b
    assert "conn=tls-out" not in log_b  # B never dialled A
