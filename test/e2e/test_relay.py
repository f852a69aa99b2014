"""The relay end to end: two reusegw processes (A = a.test, B = b.test) with
mutual TLS between them, each in front of a legacy proxy played by sipp (for
whole calls) or by harness.LegacyServer (where bytes are compared). Every
gateway is stopped with SIGTERM at teardown and must exit 0.

What crosses is asserted byte for byte where the gateway must not touch it:
only the topmost Via changes on the TLS hop (docs/design.md flow table), and the
legacy proxy gets its own Via back in every response."""
import socket
import ssl
import struct
import time

import pytest

import harness as h

def rewritten(msg, branch, gw):
    """msg as it must leave gw on the TLS hop: only the topmost Via changes
    (transport TLS, sent-by identity.sent_by, same branch, ;alias when gw
    opened the connection)."""
    old = f"Via: {h.LEGACY_VIA};branch={branch}".encode()
    new = f"Via: SIP/2.0/TLS {gw.config['identity']['sent_by']};branch={branch};alias".encode()
    assert msg.count(old) == 1
    return msg.replace(old, new)


# ---------------------------------------------------------------- sipp calls

def sipp_side(procs, name, scenario, calls, dest, remote=None, extra=()):
    """A sipp playing a legacy proxy on 127.0.0.1 (free port) for `calls`
    calls, [dest] = dest: a UAC dialling remote, or (remote None) a UAS,
    returned once it listens."""
    local = ("127.0.0.1", h.free_port())
    s = h.Sipp(procs, name, scenario, local, remote,
               extra=["-m", str(calls), "-key", "dest", dest, *extra])
    if remote is None:
        h.wait_listening(local, s.proc)
    return s, local


def test_options_from_a_to_b_with_sipp(procs, make_pair):
    """20 OPTIONS from the legacy proxy behind A reach the one behind B over
    one mutual-TLS connection, with A's client-role Via (R-5923-01: bare
    ;alias) and nothing else changed; the 200s come back (R-5923-05: later
    requests reuse the connection)."""
    uas, uas_ep = sipp_side(procs, "uas-b", "options_uas.xml", 20, "b.test")
    pair = make_pair(h.dead_endpoint(), uas_ep)
    uac, _ = sipp_side(procs, "uac-a", "options_uac.xml", 20, "b.test", pair.a.legacy_listen,
                       extra=["-r", "40"])
    assert uac.wait() == 0
    assert uac.stat("Successful call") == 20
    assert uas.wait() == 0
    received = uas.received()
    assert len(received) == 20
    sent_by = pair.a.config["identity"]["sent_by"]
    for m in received:
        assert m.startswith("OPTIONS sip:service@b.test SIP/2.0\n")
        vias = [ln for ln in m.splitlines() if ln.lower().startswith("via:")]
        assert len(vias) == 1
        assert vias[0].startswith(f"Via: SIP/2.0/TLS {sent_by};branch=z9hG4bK")
        assert vias[0].endswith(";alias")
    assert pair.tls_connections() == 1


def test_full_call_both_ways_with_sipp(procs, make_pair):
    """INVITE/180/200/ACK/BYE/200 from A's side to B's, then from B's side to
    A's: both sipp callers see a successful call."""
    uas_b, uas_b_ep = sipp_side(procs, "uas-b", "invite_uas.xml", 1, "b.test")
    uas_a, uas_a_ep = sipp_side(procs, "uas-a", "invite_uas.xml", 1, "a.test")
    pair = make_pair(uas_a_ep, uas_b_ep)
    uac_a, _ = sipp_side(procs, "uac-a", "invite_uac.xml", 1, "b.test", pair.a.legacy_listen)
    assert uac_a.wait() == 0
    assert uas_b.wait() == 0
    uac_b, _ = sipp_side(procs, "uac-b", "invite_uac.xml", 1, "a.test", pair.b.legacy_listen)
    assert uac_b.wait() == 0
    assert uas_a.wait() == 0
    for uas, domain in ((uas_b, "b.test"), (uas_a, "a.test")):
        first_lines = [m.splitlines()[0] for m in uas.received()]
        assert first_lines == [f"{method} sip:service@{domain} SIP/2.0"
                               for method in ("INVITE", "ACK", "BYE")]
    assert uac_a.stat("Successful call") == 1
    assert uac_b.stat("Successful call") == 1
    # R-5923-02/-14: the connection outlives both dialogs, and B's call
    # went down the connection A opened
    assert h.established(pair.a_ip, pair.b.tls) == 1
    assert h.established(pair.b_ip, pair.a.tls) == 0


def test_callee_bye_comes_back_on_the_connection_a_dialled(procs, make_pair, legacy):
    """R-5923-04: the callee behind B ends the call; its BYE (a backward
    request) goes down the TLS connection A opened, reaches the legacy proxy
    behind A, and A's 200 returns to the callee. No connection from B to A's
    listener is opened."""
    uas, uas_ep = sipp_side(procs, "uas-b", "call_uas_sends_bye.xml", 1, "a.test")
    legacy_a = legacy()
    pair = make_pair(legacy_a.ep, uas_ep)
    caller = h.tcp_connect(pair.a.legacy_listen)
    invite = h.request("INVITE", "sip:service@b.test", h.LEGACY_VIA)
    caller.send(invite)
    ok = caller.recv()
    assert ok.status == 200
    caller.send(h.request("ACK", "sip:service@b.test", h.LEGACY_VIA, call_id=ok.get("call-id")))
    conn, bye = legacy_a.next()
    assert bye.first_line == "BYE sip:uac@a.test SIP/2.0"
    assert bye.get("call-id") == ok.get("call-id")
    b_sent_by = pair.b.config["identity"]["sent_by"]
    assert bye.get("via").startswith(f"SIP/2.0/TLS {b_sent_by};branch=")
    assert uas.wait() == 0, "the callee never got the 200 to its BYE"
    assert h.established(pair.a_ip, pair.b.tls) == 1
    assert h.established(pair.b_ip, pair.a.tls) == 0
    caller.close()


def test_call_back_from_b_reuses_the_connection_a_opened(procs, make_pair):
    """R-5923-19/-20: A opened the TLS connection with ;alias and a verified
    certificate (a.test), so B's call towards a.test goes down that same
    connection instead of dialling A's listener."""
    uas_b, uas_b_ep = sipp_side(procs, "uas-b", "options_uas.xml", 1, "b.test")
    uas_a, uas_a_ep = sipp_side(procs, "uas-a", "options_uas.xml", 1, "a.test")
    pair = make_pair(uas_a_ep, uas_b_ep)
    uac_a, _ = sipp_side(procs, "uac-a", "options_uac.xml", 1, "b.test", pair.a.legacy_listen)
    assert uac_a.wait() == 0
    uac_b, _ = sipp_side(procs, "uac-b", "options_uac.xml", 1, "a.test", pair.b.legacy_listen)
    assert uac_b.wait() == 0
    assert uas_a.wait() == 0 and uas_b.wait() == 0
    assert h.established(pair.a_ip, pair.b.tls) == 1
    assert h.established(pair.b_ip, pair.a.tls) == 0, "B dialled A instead of reusing"


# ---------------------------------------------------------------- bytes

def test_64k_message_body_arrives_byte_exact(make_pair, legacy):
    """A MESSAGE with a 65536-byte body: B's legacy proxy gets exactly the
    bytes A's sent, but for the topmost Via; A's legacy proxy gets B's 200
    with its own Via restored, byte for byte."""
    legacy_b = legacy()
    pair = make_pair(h.dead_endpoint(), legacy_b.ep)
    body = bytes(range(256)) * 256
    msg = h.request("MESSAGE", "sip:svc@b.test", h.LEGACY_VIA, body=body,
                    headers=["Content-Type: application/octet-stream"])
    c = h.tcp_connect(pair.a.legacy_listen)
    c.send(msg)
    _, got = legacy_b.next()
    branch = h.branch_of(got)
    assert got.raw == rewritten(msg, branch, pair.a)
    assert len(got.body) == 65536
    answer = c.recv()
    assert answer.raw == h.response(h.SipMessage(msg))
    c.close()


def test_pipelined_requests_keep_order_and_bytes(make_pair, legacy):
    """20 requests written in one send: all arrive, in order, byte-exact but
    for the Via; 20 responses come back in order with Vias restored."""
    legacy_b = legacy()
    pair = make_pair(h.dead_endpoint(), legacy_b.ep)
    msgs = [h.request("OPTIONS", f"sip:svc{i}@b.test", h.LEGACY_VIA) for i in range(20)]
    c = h.tcp_connect(pair.a.legacy_listen)
    c.send(b"".join(msgs))
    for m in msgs:
        _, got = legacy_b.next()
        assert got.raw == rewritten(m, h.branch_of(got), pair.a)
    for m in msgs:
        assert c.recv().raw == h.response(h.SipMessage(m))
    assert pair.tls_connections() == 1
    c.close()


def test_peer_sending_one_byte_at_a_time(make_pair, legacy, pki):
    """A TLS peer (gw-a's certificate) writes a request one byte per TLS
    record: B reassembles it and its legacy proxy gets it unchanged (server
    role: nothing changes), the 200 comes back on the same connection."""
    legacy_b = legacy()
    pair = make_pair(h.dead_endpoint(), legacy_b.ep)
    peer = h.tls_connect(pair.b.tls, h.tls_context(pki, "gw-a"), "b.test")
    msg = h.request("OPTIONS", "sip:svc@b.test", "SIP/2.0/TLS a.test:5061",
                    body=b"hello", headers=["Content-Type: text/plain"])
    peer.send(msg, chunk=1)
    _, got = legacy_b.next()
    assert got.raw == msg
    assert peer.recv().raw == h.response(h.SipMessage(msg))
    peer.close()


def test_peer_resetting_mid_message_is_forgotten(make_pair, legacy, pki):
    """A peer sends half a request and resets the connection: nothing reaches
    the legacy proxy, the connection is gone at B, and the next peer is
    served normally."""
    legacy_b = legacy()
    pair = make_pair(h.dead_endpoint(), legacy_b.ep)
    ctx = h.tls_context(pki, "gw-a")
    half = h.request("OPTIONS", "sip:svc@b.test", "SIP/2.0/TLS a.test:5061")[:120]
    peer = h.tls_connect(pair.b.tls, ctx, "b.test")
    peer.send(half)
    local = peer.sock.getsockname()
    assert h.wait_until(lambda: h.unread_bytes(pair.b.tls, local) == 0), \
        "B never read the half message"
    peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.sock.close()
    assert h.wait_until(lambda: h.established(pair.b.tls, local) == 0)
    fresh = h.tls_connect(pair.b.tls, ctx, "b.test")
    msg = h.request("OPTIONS", "sip:svc@b.test", "SIP/2.0/TLS a.test:5061")
    fresh.send(msg)
    _, got = legacy_b.next()
    assert got.raw == msg, "the reset peer's half message leaked to the legacy proxy"
    assert fresh.recv().status == 200
    assert pair.b.proc.alive()
    fresh.close()


# ---------------------------------------------------------------- failures

def test_legacy_proxy_down_gets_503_within_a_second(make_pair):
    """B's legacy proxy is not listening: the request A's legacy proxy sent
    is answered 503 (with a Warning saying why) in under a second."""
    pair = make_pair(h.dead_endpoint(), h.dead_endpoint())
    c = h.tcp_connect(pair.a.legacy_listen)
    # first open the A-B connection, so the second is timed on the relay only
    c.send(h.request("OPTIONS", "sip:svc@b.test", h.LEGACY_VIA))
    assert c.recv().status == 503
    t0 = time.monotonic()
    msg = h.request("OPTIONS", "sip:svc@b.test", h.LEGACY_VIA)
    c.send(msg)
    answer = c.recv()
    elapsed = time.monotonic() - t0
    assert answer.status == 503
    assert elapsed < 1.0, f"503 took {elapsed:.3f} s"
    assert answer.get("warning"), "the 503 does not say why"
    assert answer.all("via") == [f"{h.LEGACY_VIA};branch={h.branch_of(h.SipMessage(msg))}"]
    c.close()


def test_unreachable_route_gets_503(make_pair):
    """A route whose only target refuses connections: A answers its legacy
    proxy 503 at once with a Warning, restoring its Via."""
    dead = h.dead_endpoint("127.0.0.1")

    def edit(_, cfg):
        cfg["routes"].append({"domain": "c.test", "targets": [h.hostport(dead)]})

    pair = make_pair(h.dead_endpoint(), h.dead_endpoint(), edit)
    c = h.tcp_connect(pair.a.legacy_listen)
    msg = h.request("OPTIONS", "sip:svc@c.test", h.LEGACY_VIA)
    t0 = time.monotonic()
    c.send(msg)
    answer = c.recv()
    assert answer.status == 503
    assert time.monotonic() - t0 < 5.0
    assert answer.get("warning")
    assert answer.get("call-id") == h.SipMessage(msg).get("call-id")
    c.close()


@pytest.mark.parametrize("leaf", ["untrusted", "expired"])
def test_bad_client_certificate_is_refused_with_a_reason_in_the_log(make_pair, legacy, pki,
                                                                    leaf):
    """R-5923-24/-18: B requests a client certificate and refuses a
    handshake with one that does not verify; nothing reaches its legacy
    proxy and its log names the failure."""
    legacy_b = legacy()
    pair = make_pair(h.dead_endpoint(), legacy_b.ep)
    msg = h.request("OPTIONS", "sip:svc@b.test", "SIP/2.0/TLS a.test:5061")
    with pytest.raises((ssl.SSLError, OSError, AssertionError)):
        peer = h.tls_connect(pair.b.tls, h.tls_context(pki, leaf), "b.test")
        # TLS 1.3: the client finishes before the server checks its
        # certificate; the refusal shows on the first read
        peer.send(msg)
        peer.recv(timeout=5)
    assert legacy_b.received.empty()
    assert h.wait_until(lambda: "tls handshake failed" in pair.b.log(), timeout=5), \
        "B's log does not report the refused handshake"
    line = next(ln for ln in pair.b.log().splitlines() if "tls handshake failed" in ln)
    assert "reason=" in line


def test_no_client_certificate_is_refused_when_required(make_pair, legacy, pki):
    """R-5923-24: client_certificate: required, a peer without one gets no
    service."""
    legacy_b = legacy()
    pair = make_pair(h.dead_endpoint(), legacy_b.ep)
    msg = h.request("OPTIONS", "sip:svc@b.test", "SIP/2.0/TLS a.test:5061")
    answer, _ = h.s_client(pair.b.tls, pki, None, "b.test", msg, timeout=5)
    assert answer is None
    assert legacy_b.received.empty()


def test_s_client_raw_sip_over_tls_gets_the_answer(make_pair, legacy, pki):
    """openssl s_client with gw-a's certificate types a raw OPTIONS into B:
    the legacy proxy behind B gets it unchanged and s_client reads the 200
    with its own Via."""
    legacy_b = legacy()
    pair = make_pair(h.dead_endpoint(), legacy_b.ep)
    msg = h.request("OPTIONS", "sip:svc@b.test", "SIP/2.0/TLS a.test:5061")
    answer, err = h.s_client(pair.b.tls, pki, "gw-a", "b.test", msg)
    assert answer is not None, err
    assert answer.raw == h.response(h.SipMessage(msg))
    _, got = legacy_b.next()
    assert got.raw == msg
