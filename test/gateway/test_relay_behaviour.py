"""End-to-end behaviour of the relay beyond the happy path, with the same
two-gateway set-up as the smoke test: error answers (483, 400 with reason),
drops (responses on egress, unknown branches), CANCEL following its INVITE
(R-5923-13), identity-checked reuse (R-5923-11/-27), failover across
targets, idle timeout with re-dial, and the SIGTERM drain (R-5923-21)."""
import os
import queue
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from sipwire import (A_HOST, B_HOST, Client, Pair, free_port, free_port6,  # noqa: E402
                     gateway_config, generate_certs, request, respond, rss_kib, top_via)

BIN = os.environ.get("REUSEGW_BIN", "")
SRC = os.environ.get("REUSEGW_SOURCE_DIR", "")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("behaviour"))
    b_tls = free_port(B_HOST)
    p = Pair(BIN, SRC, work, a_routes=[("b.test", ["%s:%d" % (B_HOST, b_tls)]),
                                       ("c.test", ["%s:%d" % (B_HOST, b_tls)])],
             b_tls=b_tls)
    yield p
    assert p.stop() == (0, 0)


def expect_nothing(server, seconds=0.5):
    with pytest.raises(queue.Empty):
        server.next(timeout=seconds)


def roundtrip_options(pair, branch):
    pair.egress_a.send(request(b"OPTIONS", b"sip:b.test", branch, branch + b"@a", 1))
    conn_b, got = pair.legacy_b.next(timeout=15)
    conn_b.send(respond(got, 200, b"OK"))
    resp = pair.egress_a.recv()
    assert resp.startswith(b"SIP/2.0 200 OK\r\n")
    return conn_b


def test_max_forwards_zero_gets_483_and_is_not_relayed(pair):
    req = request(b"OPTIONS", b"sip:b.test", b"z9hG4bK-mf0", b"mf0@a", 1)
    pair.egress_a.send(req.replace(b"Max-Forwards: 70", b"Max-Forwards: 0"))
    resp = pair.egress_a.recv(timeout=5)
    assert resp.startswith(b"SIP/2.0 483 ")
    assert top_via(resp) == b"SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-mf0;rport"
    expect_nothing(pair.legacy_b)


def test_framing_error_answers_400_with_reason_then_closes(pair):
    c = Client.connect(A_HOST, pair.a_legacy)
    bad = request(b"OPTIONS", b"sip:b.test", b"z9hG4bK-nocl", b"nocl@a", 1)
    bad = bad.replace(b"Content-Length: 0\r\n", b"")
    c.send(bad)
    resp = c.recv(timeout=5)
    assert resp.startswith(b"SIP/2.0 400 Bad Request (")
    assert b"z9hG4bK-nocl" in top_via(resp)
    c.sock.settimeout(5)
    assert c.sock.recv(100) == b""  # closed after the answer
    c.close()
    expect_nothing(pair.legacy_b)


def test_response_from_legacy_on_egress_is_dropped(pair):
    stray = respond(request(b"OPTIONS", b"sip:b.test", b"z9hG4bK-stray", b"stray@a", 1), 200,
                    b"OK")
    pair.egress_a.send(stray)
    expect_nothing(pair.legacy_b)
    roundtrip_options(pair, b"z9hG4bK-after-stray")  # the connection still works


def test_response_with_unknown_branch_is_dropped(pair):
    conn_b = roundtrip_options(pair, b"z9hG4bK-known")
    ghost = request(b"OPTIONS", b"sip:b.test", b"z9hG4bK-ghost", b"ghost@a", 1)
    conn_b.send(respond(ghost.replace(b"SIP/2.0/TCP 127.0.0.1:5999",
                                      b"SIP/2.0/TLS a.test:%d" % pair.a_tls), 200, b"OK"))
    pair.egress_a.sock.settimeout(0.5)
    with pytest.raises(socket.timeout):
        pair.egress_a.recv(timeout=0.5)


def test_cancel_and_non2xx_ack_follow_the_invite(pair):
    branch = b"z9hG4bK-inv-cancel"
    invite = request(b"INVITE", b"sip:bob@b.test", branch, b"cancel@a", 1)
    pair.egress_a.send(invite)
    conn_b, got = pair.legacy_b.next(timeout=15)
    conn_b.send(respond(got, 180, b"Ringing"))
    assert pair.egress_a.recv().startswith(b"SIP/2.0 180 Ringing")
    pair.egress_a.send(request(b"CANCEL", b"sip:bob@b.test", branch, b"cancel@a", 1))
    conn_c, got_cancel = pair.legacy_b.next(timeout=10)
    assert conn_c is conn_b  # same TLS connection, same mirror
    assert got_cancel.startswith(b"CANCEL ")
    assert top_via(got_cancel) == top_via(got)
    conn_b.send(respond(got_cancel, 200, b"OK"))
    conn_b.send(respond(got, 487, b"Request Terminated"))
    r1, r2 = pair.egress_a.recv(), pair.egress_a.recv()
    by_status = {r.split(b" ")[1]: r for r in (r1, r2)}
    assert b"CSeq: 1 CANCEL" in by_status[b"200"]
    assert b"CSeq: 1 INVITE" in by_status[b"487"]
    for r in (r1, r2):
        assert top_via(r) == b"SIP/2.0/TCP 127.0.0.1:5999;branch=%s;rport" % branch
    pair.egress_a.send(request(b"ACK", b"sip:bob@b.test", branch, b"cancel@a", 1))
    conn_a, ack = pair.legacy_b.next(timeout=10)
    assert conn_a is conn_b and ack.startswith(b"ACK ")


def test_domain_not_proved_by_the_certificate_is_never_sent(pair):
    # R-5923-27 / -11: c.test routes to B's address, where a b.test
    # connection exists; B's certificate does not prove c.test, so A must not
    # reuse that connection, and a fresh dial fails RFC 5922 7.3.
    roundtrip_options(pair, b"z9hG4bK-warm")
    pair.egress_a.send(request(b"OPTIONS", b"sip:c.test", b"z9hG4bK-ctest", b"ctest@a", 1))
    resp = pair.egress_a.recv(timeout=10)
    assert resp.startswith(b"SIP/2.0 503 ")
    assert b"Warning: 399 a.test:" in resp
    assert top_via(resp) == b"SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-ctest;rport"
    expect_nothing(pair.legacy_b)


def test_failover_to_the_next_target(tmp_path):
    dead = free_port(B_HOST)  # nothing listens there: connection refused
    b_tls = free_port(B_HOST)
    p = Pair(BIN, SRC, str(tmp_path),
             a_routes=[("b.test", ["%s:%d" % (B_HOST, dead), "%s:%d" % (B_HOST, b_tls)])],
             b_tls=b_tls)
    try:
        roundtrip_options(p, b"z9hG4bK-failover")
    finally:
        assert p.stop() == (0, 0)


def test_idle_timeout_closes_and_next_request_redials(tmp_path):
    p = Pair(BIN, SRC, str(tmp_path), a_extra="reuse:\n  idle_timeout: 1s\n")
    try:
        roundtrip_options(p, b"z9hG4bK-idle-1")
        deadline = time.monotonic() + 10
        while "idle timeout" not in p.a.read_log() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "idle timeout" in p.a.read_log()
        roundtrip_options(p, b"z9hG4bK-idle-2")
        established = [line for line in p.a.read_log().splitlines()
                       if "tls established" in line]
        assert len(established) == 2
        # The re-dial resumes the session the first dial stored (the
        # worker's session cache, keyed by address and domain).
        assert "resumed=no" in established[0] and "resumed=yes" in established[1]
    finally:
        assert p.stop() == (0, 0)


def test_sigterm_drains_open_transaction_then_exits_0(tmp_path):
    p = Pair(BIN, SRC, str(tmp_path))
    try:
        p.egress_a.send(request(b"INVITE", b"sip:bob@b.test", b"z9hG4bK-drain", b"drain@a", 1))
        conn_b, got = p.legacy_b.next(timeout=15)
        p.a.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)  # let A enter the drain; the answer must still pass
        assert p.a.proc.poll() is None
        with pytest.raises(OSError):
            socket.create_connection((A_HOST, p.a_legacy), timeout=1).close()
        conn_b.send(respond(got, 486, b"Busy Here"))
        resp = p.egress_a.recv(timeout=10)
        assert resp.startswith(b"SIP/2.0 486 Busy Here")
        assert p.a.proc.wait(timeout=10) == 0
    finally:
        assert p.stop() == (0, 0)


def test_alias_declined_when_accept_alias_is_off(tmp_path):
    # R-5923-15: B handles A's aliased requests normally but keeps no row,
    # so its backward request dials A afresh.
    p = Pair(BIN, SRC, str(tmp_path), b_extra="reuse:\n  accept_alias: false\n")
    try:
        roundtrip_options(p, b"z9hG4bK-noalias")
        egress_b = Client.connect(B_HOST, p.b_legacy)
        egress_b.send(request(b"OPTIONS", b"sip:a.test", b"z9hG4bK-nb", b"nb@b", 1))
        conn_a, got_a = p.legacy_a.next(timeout=10)
        conn_a.send(respond(got_a, 200, b"OK"))
        assert egress_b.recv(timeout=10).startswith(b"SIP/2.0 200 OK")
        # B opened its own connection, so its Via asks A for reuse.
        assert top_via(got_a).endswith(b";alias")
        assert "alias recorded" not in p.b.read_log()
        assert "conn=tls-out" in p.b.read_log()
        egress_b.close()
    finally:
        assert p.stop() == (0, 0)


def test_contact_naming_a_legacy_address_is_relayed_with_a_warning(pair):
    contact = b"Contact: <sip:alice@127.0.0.1:%d;transport=tcp>\r\n" % pair.legacy_a.port
    pair.egress_a.send(request(b"OPTIONS", b"sip:b.test", b"z9hG4bK-leak", b"leak@a", 1,
                               extra=contact))
    conn_b, got = pair.legacy_b.next(timeout=15)
    assert contact in got  # relayed untouched
    conn_b.send(respond(got, 200, b"OK"))
    pair.egress_a.recv()
    assert "advertises an internal address" in pair.a.read_log()


def test_slow_legacy_proxy_backpressures_instead_of_buffering(tmp_path):
    # Legacy B stops reading. B's mirror queue passes max_buffered_bytes, B
    # stops reading the TLS connection, A's queue towards B fills, A stops
    # reading legacy A: the flood waits in socket buffers, not in reusegw.
    limits = "limits:\n  max_buffered_bytes: 65536\nruntime:\n  drain_timeout: 1s\n"
    p = Pair(BIN, SRC, str(tmp_path), a_extra=limits, b_extra=limits)
    try:
        roundtrip_options(p, b"z9hG4bK-bp-warm")
        p.legacy_b.reading.clear()
        rss_before = (rss_kib(p.a.proc.pid), rss_kib(p.b.proc.pid))
        payload = bytes(range(256)) * 64  # 16 KiB per message
        count = 3000  # ~48 MiB in all
        extra = b"Content-Type: application/octet-stream\r\n"

        def flood():
            for i in range(count):
                p.egress_a.send(request(b"MESSAGE", b"sip:b.test", b"z9hG4bK-bp-%d" % i,
                                        b"bp@a", i + 1, payload, extra))

        sender = threading.Thread(target=flood, daemon=True)
        sender.start()
        sender.join(timeout=5)
        assert sender.is_alive(), "the sender should be blocked by back-pressure"
        growth = (rss_kib(p.a.proc.pid) - rss_before[0], rss_kib(p.b.proc.pid) - rss_before[1])
        print("RSS growth while blocked (KiB), A and B:", growth)
        # Both gateways paused their sources (a sanitizer build's RSS says
        # nothing about queues, so the log is the witness).
        assert 'pausing reads" conn=tls-in' in p.b.read_log()
        assert 'pausing reads" conn=egress' in p.a.read_log()
        p.legacy_b.reading.set()
        for i in range(count):
            _, got = p.legacy_b.next(timeout=30)
            assert b"CSeq: %d MESSAGE" % (i + 1) in got  # in order, none lost
            assert got.endswith(payload)
        sender.join(timeout=30)
        assert not sender.is_alive()
    finally:
        p.legacy_b.reading.set()
        assert p.stop() == (0, 0)


def test_legacy_proxy_down_gets_503_within_a_second(tmp_path):
    # B's legacy proxy does not listen: B cannot open the mirror, so it
    # answers A's request 503 itself, and A restores legacy A's Via.
    p = Pair(BIN, SRC, str(tmp_path), b_forward_port=free_port("127.0.0.1"))
    try:
        for i in range(2):  # the first also opens A-B; the second is timed alone
            start = time.monotonic()
            branch = b"z9hG4bK-down-%d" % i
            p.egress_a.send(request(b"OPTIONS", b"sip:b.test", branch, branch, 1))
            resp = p.egress_a.recv(timeout=10)
            elapsed = time.monotonic() - start
            assert resp.startswith(b"SIP/2.0 503 ")
            assert b"Warning: 399 b.test:" in resp
            assert top_via(resp) == b"SIP/2.0/TCP 127.0.0.1:5999;branch=%s;rport" % branch
        assert elapsed < 1.0
    finally:
        assert p.stop() == (0, 0)


def test_bind_failure_exits_3_with_a_clear_line(tmp_path):
    source = SRC
    certs = str(tmp_path / "certs")
    generate_certs(source, certs)
    busy = socket.socket()
    busy.bind((A_HOST, 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        cfg = tmp_path / "a.yaml"
        cfg.write_text(gateway_config("a", A_HOST, port, free_port(A_HOST),
                                      free_port("127.0.0.1"), certs, []))
        run = subprocess.run([BIN, "-c", str(cfg)], capture_output=True, timeout=30)
        assert run.returncode == 3
        err = run.stderr.decode()
        assert "cannot listen" in err and "%s:%d" % (A_HOST, port) in err
        assert "tls.listen" in err and "Address already in use" in err
    finally:
        busy.close()


def test_ipv6_listeners_and_targets(tmp_path):
    # B also listens on [::1]; A routes b.test there and leaves from its own
    # [::1] listen address (the source binding docs/design.md asks for).
    a6, b6 = free_port6(), free_port6()
    p = Pair(BIN, SRC, str(tmp_path), a_routes=[("b.test", ["[::1]:%d" % b6])],
             a_tls_extra=', "[::1]:%d"' % a6, b_tls_extra=', "[::1]:%d"' % b6)
    try:
        roundtrip_options(p, b"z9hG4bK-v6")
        assert "tls_listen=127.0.0.3:%d,[::1]:%d" % (p.b_tls, b6) in p.b.read_log()
        out = subprocess.run(["ss", "-Htn", "state", "established", "dst", "[::1]:%d" % b6],
                             capture_output=True, text=True).stdout
        assert "[::1]:" in out  # A's connection to B runs over IPv6 loopback
    finally:
        assert p.stop() == (0, 0)


def test_connections_per_peer_are_limited(tmp_path):
    p = Pair(BIN, SRC, str(tmp_path), b_extra="limits:\n  max_connections_per_peer: 1\n")
    try:
        roundtrip_options(p, b"z9hG4bK-pp")  # A (127.0.0.2) holds its one connection
        extra = socket.socket()
        extra.bind((A_HOST, 0))
        extra.settimeout(5)
        extra.connect((B_HOST, p.b_tls))
        assert extra.recv(100) == b""  # refused at once, long before any timeout
        extra.close()
        assert "max_connections_per_peer reached" in p.b.read_log()
        other = socket.create_connection((B_HOST, p.b_tls), timeout=5)  # from 127.0.0.1
        other.settimeout(0.5)
        with pytest.raises(socket.timeout):
            other.recv(100)  # accepted: B waits for its ClientHello
        other.close()
        roundtrip_options(p, b"z9hG4bK-pp-2")
    finally:
        assert p.stop() == (0, 0)


def wait_log(gw, text, count=1, timeout=10):
    deadline = time.monotonic() + timeout
    while gw.read_log().count(text) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gw.read_log().count(text) >= count, text


def test_sighup_reloads_routes_and_refuses_bad_configs(tmp_path):
    p = Pair(BIN, SRC, str(tmp_path), a_routes=[("x.test", ["192.0.2.1:5061"])])
    try:
        p.egress_a.send(request(b"OPTIONS", b"sip:b.test", b"z9hG4bK-r0", b"r0@a", 1))
        assert p.egress_a.recv().startswith(b"SIP/2.0 503 ")
        with open(p.a.config) as f:
            good = f.read()
        # A broken file is refused; the running configuration stays.
        with open(p.a.config, "w") as f:
            f.write(good.replace("routes:", "routes: [oops"))
        p.a.proc.send_signal(signal.SIGHUP)
        wait_log(p.a, "reload refused: configuration error")
        # Changing a listen address needs a restart.
        with open(p.a.config, "w") as f:
            f.write(good.replace("listen: %s:%d" % (A_HOST, p.a_legacy),
                                 "listen: %s:%d" % (A_HOST, free_port(A_HOST))))
        p.a.proc.send_signal(signal.SIGHUP)
        wait_log(p.a, 'reload refused: this setting changes only with a restart" '
                      'key=legacy.listen')
        p.egress_a.send(request(b"OPTIONS", b"sip:b.test", b"z9hG4bK-r1", b"r1@a", 1))
        assert p.egress_a.recv().startswith(b"SIP/2.0 503 ")
        # A new route takes effect without dropping the legacy connection.
        with open(p.a.config, "w") as f:
            f.write(good.replace('- domain: x.test\n    targets: ["192.0.2.1:5061"]',
                                 '- domain: b.test\n    targets: ["%s:%d"]' % (B_HOST, p.b_tls)))
        p.a.proc.send_signal(signal.SIGHUP)
        wait_log(p.a, "configuration reloaded")
        roundtrip_options(p, b"z9hG4bK-r2")
        # log.level reloads too: from debug to warn, a call leaves no debug line.
        with open(p.a.config) as f:
            current = f.read()
        with open(p.a.config, "w") as f:
            f.write(current.replace("level: debug", "level: warn"))
        p.a.proc.send_signal(signal.SIGHUP)
        wait_log(p.a, "configuration reloaded", count=2)
        before = len(p.a.read_log())
        roundtrip_options(p, b"z9hG4bK-r3")
        assert "level=debug" not in p.a.read_log()[before:]
    finally:
        assert p.stop() == (0, 0)


def test_route_naming_reusegw_is_popped_and_the_next_one_routes(pair):
    route = b"Route: <sip:a.test:%d;lr>, <sip:b.test;lr>\r\n" % pair.a_tls
    pair.egress_a.send(request(b"OPTIONS", b"sip:bob@elsewhere.test", b"z9hG4bK-route",
                               b"route@a", 1, extra=route))
    conn_b, got = pair.legacy_b.next(timeout=15)
    assert b"Route: <sip:b.test;lr>\r\n" in got  # only reusegw's own entry went
    assert got.startswith(b"OPTIONS sip:bob@elsewhere.test SIP/2.0\r\n")
    conn_b.send(respond(got, 200, b"OK"))
    assert pair.egress_a.recv().startswith(b"SIP/2.0 200 OK")


def test_silent_tls_client_is_closed_after_the_handshake_timeout(tmp_path):
    p = Pair(BIN, SRC, str(tmp_path), b_handshake_timeout="1s")
    try:
        s = socket.create_connection((B_HOST, p.b_tls), timeout=10)
        start = time.monotonic()
        assert s.recv(100) == b""  # B gave up on the handshake and closed
        elapsed = time.monotonic() - start
        assert 0.8 < elapsed < 5, elapsed
        s.close()
    finally:
        assert p.stop() == (0, 0)


def test_certless_client_with_alias_is_served_but_never_aliased(tmp_path):
    # R-5923-25 / -15: with client_certificate optional, a peer without a
    # certificate is relayed normally; its ;alias creates no row, so B's
    # backward request for the sent-by domain is not sent down its connection.
    import ssl
    p = Pair(BIN, SRC, str(tmp_path), b_client_certificate="optional")
    try:
        ctx = ssl.create_default_context(cafile=os.path.join(p.certs, "ca.pem"))
        raw = socket.create_connection((B_HOST, p.b_tls), timeout=10)
        tls = ctx.wrap_socket(raw, server_hostname="b.test")
        client = Client(tls)
        req = (b"OPTIONS sip:b.test SIP/2.0\r\n"
               b"Via: SIP/2.0/TLS a.test:%d;branch=z9hG4bK-certless;alias\r\n" % p.a_tls +
               b"Max-Forwards: 70\r\nFrom: <sip:x@a.test>;tag=1\r\nTo: <sip:b.test>\r\n"
               b"Call-ID: certless\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
        client.send(req)
        conn_b, got = p.legacy_b.next(timeout=10)
        assert got == req  # T -> mirror: nothing changes
        conn_b.send(respond(got, 200, b"OK"))
        assert client.recv(timeout=10).startswith(b"SIP/2.0 200 OK")
        assert "alias recorded" not in p.b.read_log()
        egress_b = Client.connect(B_HOST, p.b_legacy)
        egress_b.send(request(b"OPTIONS", b"sip:a.test", b"z9hG4bK-cl-back", b"clb@b", 1))
        conn_a, back = p.legacy_a.next(timeout=10)  # B dialled A itself
        conn_a.send(respond(back, 200, b"OK"))
        assert egress_b.recv(timeout=10).startswith(b"SIP/2.0 200 OK")
        with pytest.raises(socket.timeout):
            client.recv(timeout=0.5)  # nothing went down the certless connection
        egress_b.close()
        client.close()
    finally:
        assert p.stop() == (0, 0)


def test_mirror_closed_by_the_legacy_proxy_is_reopened(pair):
    conn_b = roundtrip_options(pair, b"z9hG4bK-mirror-1")
    before = pair.b.read_log().count('conn=mirror why="peer closed"')
    conn_b.close()  # legacy B hangs up on B's mirror
    wait_log(pair.b, 'conn=mirror why="peer closed"', before + 1)
    conn_b2 = roundtrip_options(pair, b"z9hG4bK-mirror-2")
    assert conn_b2 is not conn_b  # a new mirror connection, same TLS connection


@pytest.mark.parametrize("sent_by,aliased", [("a.test", True), ("not-in-cert.test", False)])
def test_require_sent_by_identity(tmp_path, sent_by, aliased):
    # reuse.require_sent_by_identity: B records A's alias only when the Via
    # sent-by host is one of the identities A's certificate proves (a.test).
    p = Pair(BIN, SRC, str(tmp_path), a_sent_by_host=sent_by,
             b_extra="reuse:\n  require_sent_by_identity: true\n")
    try:
        roundtrip_options(p, b"z9hG4bK-sbi")
        assert ("alias recorded" in p.b.read_log()) == aliased
        assert ("alias declined" in p.b.read_log()) == (not aliased)
    finally:
        assert p.stop() == (0, 0)


def test_message_over_max_message_bytes_is_refused_and_the_connection_closed(tmp_path):
    p = Pair(BIN, SRC, str(tmp_path), a_extra="limits:\n  max_message_bytes: 4096\n")
    try:
        big = request(b"MESSAGE", b"sip:b.test", b"z9hG4bK-big", b"big@a", 1, b"x" * 8000,
                      b"Content-Type: text/plain\r\n")
        p.egress_a.send(big)
        resp = p.egress_a.recv(timeout=5)
        assert resp.startswith(b"SIP/2.0 513 ")
        assert b"z9hG4bK-big" in top_via(resp)
        p.egress_a.sock.settimeout(5)
        try:  # closed; the unread rest of the message may turn the FIN into a RST
            assert p.egress_a.sock.recv(100) == b""
        except ConnectionResetError:
            pass
        expect_nothing(p.legacy_b)
    finally:
        assert p.stop() == (0, 0)


def test_sighup_under_load_loses_no_transaction_and_keeps_a_good_certificate(tmp_path):
    """Reloads while transactions flow: none fails. A reload whose new
    certificate is broken is refused, and A keeps serving the old one to new
    handshakes."""
    p = Pair(BIN, SRC, str(tmp_path))
    stop = threading.Event()

    def legacy_b_answers():
        while not stop.is_set():
            try:
                conn, got = p.legacy_b.next(timeout=0.2)
            except queue.Empty:
                continue
            conn.send(respond(got, 200, b"OK"))

    answerer = threading.Thread(target=legacy_b_answers, daemon=True)
    answerer.start()
    try:
        with open(p.a.config) as f:
            good = f.read()
        broken = tmp_path / "broken.pem"
        broken.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n"
                          "-----END CERTIFICATE-----\n")
        steps = {50: good, 100: good.replace("%s/gw-a.pem" % p.certs, str(broken)), 150: good}
        for i in range(200):
            if i in steps:
                with open(p.a.config, "w") as f:
                    f.write(steps[i])
                p.a.proc.send_signal(signal.SIGHUP)
            branch = b"z9hG4bK-load-%d" % i
            p.egress_a.send(request(b"OPTIONS", b"sip:b.test", branch, branch + b"@a", 1))
            resp = p.egress_a.recv(timeout=15)
            assert resp.startswith(b"SIP/2.0 200 OK\r\n"), (i, resp[:80])
            if i == 120:
                # The broken reload is refused; a new handshake still gets
                # A's running certificate.
                wait_log(p.a, "reload refused")
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.load_verify_locations(os.path.join(p.certs, "ca.pem"))
                ctx.load_cert_chain(os.path.join(p.certs, "gw-b.chain.pem"),
                                    os.path.join(p.certs, "gw-b.key"))
                with socket.create_connection((A_HOST, p.a_tls), timeout=10) as s:
                    with ctx.wrap_socket(s, server_hostname="a.test") as t:
                        assert ("DNS", "a.test") in t.getpeercert()["subjectAltName"]
        wait_log(p.a, "configuration reloaded", count=2)
    finally:
        stop.set()
        answerer.join(timeout=5)
        assert p.stop() == (0, 0)
