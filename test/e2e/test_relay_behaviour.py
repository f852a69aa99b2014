"""End-to-end behaviour of the relay beyond the happy path, with the same
two-gateway set-up as the smoke test (Stage.relay): error answers (483, 400
with reason), drops (responses on egress, unknown branches), CANCEL
following its INVITE (R-5923-13), identity-checked reuse (R-5923-11/-27),
failover across targets, idle timeout with re-dial, and the SIGTERM drain
(R-5923-21)."""
import copy
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

import reusegw_test as h


def b_route(cfg):
    """The b.test route of a gateway's config dict."""
    return next(r for r in cfg["routes"] if r["domain"] == "b.test")


@pytest.fixture(scope="module")
def pair(module_stage):
    def edit(name, cfg):
        if name == "a":  # c.test routes to B's address too
            cfg["routes"].append({"domain": "c.test", "targets": list(b_route(cfg)["targets"])})

    return module_stage.relay(edit)


def expected_via(branch):
    """Legacy A's own Via, as every response must bring it back."""
    return f"{h.LEGACY_VIA};branch={branch};rport"


def roundtrip_options(pair, branch):
    pair.egress_a.send(h.legacy_request("OPTIONS", "sip:b.test", branch))
    conn_b, got = pair.legacy_b.next(timeout=15)
    conn_b.send(h.response(got))
    resp = pair.egress_a.recv()
    assert resp.first_line == "SIP/2.0 200 OK"
    return conn_b


def test_max_forwards_zero_gets_483_and_is_not_relayed(pair):
    req = h.legacy_request("OPTIONS", "sip:b.test", "z9hG4bK-mf0")
    pair.egress_a.send(req.replace(b"Max-Forwards: 70", b"Max-Forwards: 0"))
    resp = pair.egress_a.recv(timeout=5)
    assert resp.status == 483
    assert resp.get("via") == expected_via("z9hG4bK-mf0")
    pair.legacy_b.expect_nothing()


def test_framing_error_answers_400_with_reason_then_closes(pair):
    c = h.tcp_connect(pair.a.legacy_listen)
    bad = h.legacy_request("OPTIONS", "sip:b.test", "z9hG4bK-nocl")
    bad = bad.replace(b"Content-Length: 0\r\n", b"")
    c.send(bad)
    resp = c.recv(timeout=5)
    assert resp.first_line.startswith("SIP/2.0 400 Bad Request (")
    assert "z9hG4bK-nocl" in resp.get("via")
    c.sock.settimeout(5)
    assert c.sock.recv(100) == b""  # closed after the answer
    c.close()
    pair.legacy_b.expect_nothing()


def test_response_from_legacy_on_egress_is_dropped(pair):
    stray = h.response(h.SipMessage(h.legacy_request("OPTIONS", "sip:b.test", "z9hG4bK-stray")))
    pair.egress_a.send(stray)
    pair.legacy_b.expect_nothing()
    roundtrip_options(pair, "z9hG4bK-after-stray")  # the connection still works


def test_response_with_unknown_branch_is_dropped(pair):
    conn_b = roundtrip_options(pair, "z9hG4bK-known")
    ghost = h.legacy_request("OPTIONS", "sip:b.test", "z9hG4bK-ghost")
    ghost = ghost.replace(h.LEGACY_VIA.encode(), f"SIP/2.0/TLS a.test:{pair.a.tls[1]}".encode())
    conn_b.send(h.response(h.SipMessage(ghost)))
    with pytest.raises(h.RecvTimeout):
        pair.egress_a.recv(timeout=0.5)


def test_peer_response_is_relayed_on_its_start_line_top_via_and_cseq(pair):
    """A peer's response is peeked, not parsed (relay/parsed.c parsed_peeked):
    its row reads the status, the top Via and the CSeq, and checks the
    control octets; the rest is the legacy proxy's to judge. A 200 without a
    To header (A would once drop it as malformed) comes back with the legacy
    proxy's Via restored."""
    branch = "z9hG4bK-peeked"
    pair.egress_a.send(h.legacy_request("OPTIONS", "sip:b.test", branch))
    conn_b, got = pair.legacy_b.next(timeout=15)
    ok = h.response(got)
    conn_b.send(re.sub(rb"\r\nTo: [^\r]*", b"", ok))
    resp = pair.egress_a.recv(timeout=5)
    assert resp.status == 200
    assert resp.get("to") is None
    assert resp.get("via") == expected_via(branch)

    roundtrip_options(pair, "z9hG4bK-after-peeked")  # nothing else was disturbed


def test_cancel_and_non2xx_ack_follow_the_invite(pair):
    branch = "z9hG4bK-inv-cancel"
    invite = h.legacy_request("INVITE", "sip:bob@b.test", branch)
    pair.egress_a.send(invite)
    conn_b, got = pair.legacy_b.next(timeout=15)
    conn_b.send(h.response(got, 180, "Ringing"))
    assert pair.egress_a.recv().first_line == "SIP/2.0 180 Ringing"
    pair.egress_a.send(h.legacy_request("CANCEL", "sip:bob@b.test", branch))
    conn_c, got_cancel = pair.legacy_b.next(timeout=10)
    assert conn_c is conn_b  # same TLS connection, same mirror
    assert got_cancel.method == "CANCEL"
    assert got_cancel.get("via") == got.get("via")
    conn_b.send(h.response(got_cancel))
    conn_b.send(h.response(got, 487, "Request Terminated"))
    r1, r2 = pair.egress_a.recv(), pair.egress_a.recv()
    by_status = {r.status: r for r in (r1, r2)}
    assert b"CSeq: 1 CANCEL" in by_status[200].raw
    assert b"CSeq: 1 INVITE" in by_status[487].raw
    for r in (r1, r2):
        assert r.get("via") == expected_via(branch)
    pair.egress_a.send(h.legacy_request("ACK", "sip:bob@b.test", branch))
    conn_a, ack = pair.legacy_b.next(timeout=10)
    assert conn_a is conn_b and ack.method == "ACK"


def test_domain_not_proved_by_the_certificate_is_never_sent(pair):
    # R-5923-27 / -11: c.test routes to B's address, where a b.test
    # connection exists; B's certificate does not prove c.test, so A must not
    # reuse that connection, and a fresh dial fails RFC 5922 7.3.
    roundtrip_options(pair, "z9hG4bK-warm")
    pair.egress_a.send(h.legacy_request("OPTIONS", "sip:c.test", "z9hG4bK-ctest"))
    resp = pair.egress_a.recv(timeout=10)
    assert resp.status == 503
    assert b"Warning: 399 a.test:" in resp.raw
    assert resp.get("via") == expected_via("z9hG4bK-ctest")
    pair.legacy_b.expect_nothing()


def test_failover_to_the_next_target(stage):
    def edit(name, cfg):
        if name == "a":  # first a port on B's address where nothing listens
            route = b_route(cfg)
            b_ip = route["targets"][0].rsplit(":", 1)[0]
            route["targets"].insert(0, h.hostport(h.dead_endpoint(b_ip)))

    roundtrip_options(stage.relay(edit), "z9hG4bK-failover")


def test_idle_timeout_closes_and_next_request_redials(stage):
    def edit(name, cfg):
        if name == "a":
            cfg["reuse"]["idle_timeout"] = "1s"

    p = stage.relay(edit)
    roundtrip_options(p, "z9hG4bK-idle-1")
    p.a.wait_log("idle timeout", timeout=10)
    roundtrip_options(p, "z9hG4bK-idle-2")
    established = [line for line in p.a.log().splitlines() if "tls established" in line]
    assert len(established) == 2
    # The re-dial resumes the session the first dial stored (the worker's
    # session cache, keyed by address and domain).
    assert "resumed=no" in established[0] and "resumed=yes" in established[1]


def test_sigterm_drains_open_transaction_then_exits_0(stage):
    p = stage.relay()
    p.egress_a.send(h.legacy_request("INVITE", "sip:bob@b.test", "z9hG4bK-drain"))
    conn_b, got = p.legacy_b.next(timeout=15)
    p.a.send_signal(signal.SIGTERM)
    time.sleep(0.3)  # let A enter the drain; the answer must still pass
    assert p.a.proc.alive()
    with pytest.raises(OSError):
        socket.create_connection(p.a.legacy_listen, timeout=1).close()
    conn_b.send(h.response(got, 486, "Busy Here"))
    resp = p.egress_a.recv(timeout=10)
    assert resp.first_line == "SIP/2.0 486 Busy Here"
    assert p.a.proc.wait(timeout=10) == 0


def test_alias_declined_when_accept_alias_is_off(stage):
    # R-5923-15: B handles A's aliased requests normally but keeps no row,
    # so its backward request dials A afresh.
    def edit(name, cfg):
        if name == "b":
            cfg["reuse"]["accept_alias"] = False

    p = stage.relay(edit)
    roundtrip_options(p, "z9hG4bK-noalias")
    egress_b = stage.connect(p.b.legacy_listen)
    egress_b.send(h.legacy_request("OPTIONS", "sip:a.test", "z9hG4bK-nb"))
    conn_a, got_a = p.legacy_a.next(timeout=10)
    conn_a.send(h.response(got_a))
    assert egress_b.recv(timeout=10).first_line == "SIP/2.0 200 OK"
    # B opened its own connection, so its Via asks A for reuse.
    assert got_a.get("via").endswith(";alias")
    assert "alias recorded" not in p.b.log()
    assert "conn=tls-out" in p.b.log()


def test_contact_naming_a_legacy_address_is_relayed_with_a_warning(pair):
    contact = f"Contact: <sip:alice@127.0.0.1:{pair.legacy_a.ep[1]};transport=tcp>"
    pair.egress_a.send(h.legacy_request("OPTIONS", "sip:b.test", "z9hG4bK-leak",
                                        headers=[contact]))
    conn_b, got = pair.legacy_b.next(timeout=15)
    assert contact.encode() + b"\r\n" in got.raw  # relayed untouched
    # The response, from B's mirror, names legacy B: it leaves the peeked
    # path (parsed_response_peeked) for the full one, which warns too.
    host, port = pair.legacy_b.ep
    contact_b = f"Contact: <sip:bob@{host}:{port};transport=tcp>"
    conn_b.send(h.response(got, headers=[contact_b]))
    assert contact_b.encode() + b"\r\n" in pair.egress_a.recv().raw
    assert "advertises an internal address" in pair.a.log()
    assert "advertises an internal address" in pair.b.log()


def test_slow_legacy_proxy_backpressures_instead_of_buffering(stage):
    # Legacy B stops reading. B's mirror queue passes max_buffered_bytes, B
    # stops reading the TLS connection, A's queue towards B fills, A stops
    # reading legacy A: the flood waits in socket buffers, not in reusegw.
    def edit(name, cfg):
        cfg["limits"]["max_buffered_bytes"] = 65536
        cfg["runtime"]["drain_timeout"] = "1s"

    p = stage.relay(edit)
    roundtrip_options(p, "z9hG4bK-bp-warm")
    p.legacy_b.reading.clear()
    rss_before = (h.rss_kib(p.a.proc.pid), h.rss_kib(p.b.proc.pid))
    payload = bytes(range(256)) * 64  # 16 KiB per message
    count = 3000  # ~48 MiB in all
    octets = ["Content-Type: application/octet-stream"]

    def flood():
        for i in range(count):
            p.egress_a.send(h.legacy_request("MESSAGE", "sip:b.test", f"z9hG4bK-bp-{i}",
                                             call_id="bp@a", cseq=i + 1, body=payload,
                                             headers=octets))

    sender = threading.Thread(target=flood, daemon=True)
    sender.start()
    try:
        sender.join(timeout=5)
        assert sender.is_alive(), "the sender should be blocked by back-pressure"
        growth = (h.rss_kib(p.a.proc.pid) - rss_before[0], h.rss_kib(p.b.proc.pid) - rss_before[1])
        print("RSS growth while blocked (KiB), A and B:", growth)
        # Both gateways paused their sources (a sanitizer build's RSS says
        # nothing about queues, so the log is the witness).
        assert 'pausing reads" conn=tls-in' in p.b.log()
        assert 'pausing reads" conn=egress' in p.a.log()
        p.legacy_b.reading.set()
        for i in range(count):
            _, got = p.legacy_b.next(timeout=30)
            assert f"CSeq: {i + 1} MESSAGE".encode() in got.raw  # in order, none lost
            assert got.raw.endswith(payload)
        sender.join(timeout=30)
        assert not sender.is_alive()
    finally:
        p.legacy_b.reading.set()


def test_legacy_proxy_down_gets_503_within_a_second(stage):
    # B's legacy proxy does not listen: B cannot open the mirror, so it
    # answers A's request 503 itself, and A restores legacy A's Via.
    p = stage.relay(forward_b=h.dead_endpoint())
    for i in range(2):  # the first also opens A-B; the second is timed alone
        start = time.monotonic()
        branch = f"z9hG4bK-down-{i}"
        p.egress_a.send(h.legacy_request("OPTIONS", "sip:b.test", branch))
        resp = p.egress_a.recv(timeout=10)
        elapsed = time.monotonic() - start
        assert resp.status == 503
        assert b"Warning: 399 b.test:" in resp.raw
        assert resp.get("via") == expected_via(branch)
    assert elapsed < 1.0


def test_bind_failure_exits_3_with_a_clear_line(stage, reusegw_bin, pki):
    ip = f"{h.unique_net()}.2"
    busy = socket.socket()
    busy.bind((ip, 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        cfg = stage.procs.log_dir / "a.yaml"
        cfg.write_text(h.to_yaml(h.gateway_config(
            pki, "gw-a", f"a.test:{port}", (ip, port), h.dead_endpoint(),
            (ip, h.free_port(ip)), {}, ("127.0.0.1", h.free_port()))) + "\n")
        run = subprocess.run([reusegw_bin, "-c", str(cfg)], capture_output=True, timeout=30)
        assert run.returncode == 3
        err = run.stderr.decode()
        assert "cannot listen" in err and f"{ip}:{port}" in err
        assert "tls.listen" in err and "Address already in use" in err
    finally:
        busy.close()


def test_ipv6_listeners_and_targets(stage):
    # B also listens on [::1]; A routes b.test there and leaves from its own
    # [::1] listen address (the source binding docs/design.md asks for).
    a6, b6 = h.free_port("::1"), h.free_port("::1")

    def edit(name, cfg):
        cfg["tls"]["listen"].append(f"[::1]:{a6 if name == 'a' else b6}")
        if name == "a":
            b_route(cfg)["targets"] = [f"[::1]:{b6}"]

    p = stage.relay(edit)
    roundtrip_options(p, "z9hG4bK-v6")
    assert f"tls_listen={h.hostport(p.b.tls)},[::1]:{b6}" in p.b.log()
    out = subprocess.run(["ss", "-Htn", "state", "established", "dst", f"[::1]:{b6}"],
                         capture_output=True, text=True).stdout
    assert "[::1]:" in out  # A's connection to B runs over IPv6 loopback


def test_connections_per_peer_are_limited(stage):
    def edit(name, cfg):
        if name == "b":
            cfg["limits"]["max_connections_per_peer"] = 1

    p = stage.relay(edit)
    roundtrip_options(p, "z9hG4bK-pp")  # A's address holds its one connection
    extra = socket.socket()
    extra.bind((p.a_ip, 0))
    extra.settimeout(5)
    extra.connect(p.b.tls)
    assert extra.recv(100) == b""  # refused at once, long before any timeout
    extra.close()
    assert "max_connections_per_peer reached" in p.b.log()
    other = socket.create_connection(p.b.tls, timeout=5)  # from 127.0.0.1
    other.settimeout(0.5)
    with pytest.raises(socket.timeout):
        other.recv(100)  # accepted: B waits for its ClientHello
    other.close()
    roundtrip_options(p, "z9hG4bK-pp-2")


def test_sighup_reloads_routes_and_refuses_bad_configs(stage):
    def edit(name, cfg):
        if name == "a":
            cfg["routes"] = [{"domain": "x.test", "targets": ["192.0.2.1:5061"]}]

    p = stage.relay(edit)
    cfg = p.a.config
    p.egress_a.send(h.legacy_request("OPTIONS", "sip:b.test", "z9hG4bK-r0"))
    assert p.egress_a.recv().status == 503
    # A broken file is refused; the running configuration stays.
    good = p.a.config_path.read_text()
    p.a.config_path.write_text(good.replace("routes:", "routes: [oops"))
    p.a.send_signal(signal.SIGHUP)
    p.a.wait_log(re.escape("reload refused: configuration error"))
    # Changing a listen address needs a restart.
    listen = cfg["legacy"]["listen"]
    cfg["legacy"]["listen"] = h.hostport((p.a_ip, h.free_port(p.a_ip)))
    p.a.reload()
    p.a.wait_log(re.escape('reload refused: this setting changes only with a restart" '
                           'key=legacy.listen'))
    cfg["legacy"]["listen"] = listen
    p.egress_a.send(h.legacy_request("OPTIONS", "sip:b.test", "z9hG4bK-r1"))
    assert p.egress_a.recv().status == 503
    # A new route takes effect without dropping the legacy connection.
    cfg["routes"] = [{"domain": "b.test", "targets": [h.hostport(p.b.tls)]}]
    p.a.reload()
    p.a.wait_log("configuration reloaded")
    roundtrip_options(p, "z9hG4bK-r2")
    # log.level reloads too: from debug to warn, a call leaves no debug line.
    cfg["log"]["level"] = "warn"
    p.a.reload()
    p.a.wait_log("configuration reloaded", count=2)
    before = len(p.a.log())
    roundtrip_options(p, "z9hG4bK-r3")
    assert "level=debug" not in p.a.log()[before:]


def test_route_naming_reusegw_is_popped_and_the_next_one_routes(pair):
    route = f"Route: <sip:a.test:{pair.a.tls[1]};lr>, <sip:b.test;lr>"
    pair.egress_a.send(h.legacy_request("OPTIONS", "sip:bob@elsewhere.test", "z9hG4bK-route",
                                        headers=[route]))
    conn_b, got = pair.legacy_b.next(timeout=15)
    assert b"Route: <sip:b.test;lr>\r\n" in got.raw  # only reusegw's own entry went
    assert got.first_line == "OPTIONS sip:bob@elsewhere.test SIP/2.0"
    conn_b.send(h.response(got))
    assert pair.egress_a.recv().first_line == "SIP/2.0 200 OK"


def test_silent_tls_client_is_closed_after_the_handshake_timeout(stage):
    def edit(name, cfg):
        if name == "b":
            cfg["tls"]["handshake_timeout"] = "1s"

    p = stage.relay(edit)
    s = socket.create_connection(p.b.tls, timeout=10)
    start = time.monotonic()
    assert s.recv(100) == b""  # B gave up on the handshake and closed
    elapsed = time.monotonic() - start
    assert 0.8 < elapsed < 5, elapsed
    s.close()


def test_certless_client_with_alias_is_served_but_never_aliased(stage, pki):
    # R-5923-25 / -15: with client_certificate optional, a peer without a
    # certificate is relayed normally; its ;alias creates no row, so B's
    # backward request for the sent-by domain is not sent down its connection.
    def edit(name, cfg):
        if name == "b":
            cfg["tls"]["client_certificate"] = "optional"

    p = stage.relay(edit)
    client = h.tls_connect(p.b.tls, h.tls_context(pki), "b.test")
    req = (b"OPTIONS sip:b.test SIP/2.0\r\n"
           b"Via: SIP/2.0/TLS a.test:%d;branch=z9hG4bK-certless;alias\r\n" % p.a.tls[1] +
           b"Max-Forwards: 70\r\nFrom: <sip:x@a.test>;tag=1\r\nTo: <sip:b.test>\r\n"
           b"Call-ID: certless\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
    client.send(req)
    conn_b, got = p.legacy_b.next(timeout=10)
    assert got.raw == req  # T -> mirror: nothing changes
    conn_b.send(h.response(got))
    assert client.recv(timeout=10).first_line == "SIP/2.0 200 OK"
    assert "alias recorded" not in p.b.log()
    egress_b = stage.connect(p.b.legacy_listen)
    egress_b.send(h.legacy_request("OPTIONS", "sip:a.test", "z9hG4bK-cl-back"))
    conn_a, back = p.legacy_a.next(timeout=10)  # B dialled A itself
    conn_a.send(h.response(back))
    assert egress_b.recv(timeout=10).first_line == "SIP/2.0 200 OK"
    with pytest.raises(h.RecvTimeout):
        client.recv(timeout=0.5)  # nothing went down the certless connection
    client.close()


def test_mirror_closed_by_the_legacy_proxy_is_reopened(pair):
    conn_b = roundtrip_options(pair, "z9hG4bK-mirror-1")
    line = re.escape('conn=mirror why="peer closed"')
    before = len([ln for ln in pair.b.log().splitlines() if re.search(line, ln)])
    conn_b.close()  # legacy B hangs up on B's mirror
    pair.b.wait_log(line, count=before + 1)
    conn_b2 = roundtrip_options(pair, "z9hG4bK-mirror-2")
    assert conn_b2 is not conn_b  # a new mirror connection, same TLS connection


@pytest.mark.parametrize("sent_by,aliased", [("a.test", True), ("not-in-cert.test", False)])
def test_require_sent_by_identity(stage, sent_by, aliased):
    # reuse.require_sent_by_identity: B records A's alias only when the Via
    # sent-by host is one of the identities A's certificate proves (a.test).
    def edit(name, cfg):
        if name == "a":
            port = cfg["identity"]["sent_by"].rsplit(":", 1)[1]
            cfg["identity"]["sent_by"] = f"{sent_by}:{port}"
        else:
            cfg["reuse"]["require_sent_by_identity"] = True

    p = stage.relay(edit)
    roundtrip_options(p, "z9hG4bK-sbi")
    assert ("alias recorded" in p.b.log()) == aliased
    assert ("alias declined" in p.b.log()) == (not aliased)


def test_message_over_max_message_bytes_is_refused_and_the_connection_closed(stage):
    def edit(name, cfg):
        if name == "a":
            cfg["limits"]["max_message_bytes"] = 4096

    p = stage.relay(edit)
    big = h.legacy_request("MESSAGE", "sip:b.test", "z9hG4bK-big", body=b"x" * 8000,
                           headers=["Content-Type: text/plain"])
    p.egress_a.send(big)
    resp = p.egress_a.recv(timeout=5)
    assert resp.status == 513
    assert "z9hG4bK-big" in resp.get("via")
    p.egress_a.sock.settimeout(5)
    # Closed lingering: the unread rest of the message is read and
    # discarded, so the FIN arrives, not a RST (conn_io.h, CLOSE_LINGER).
    assert p.egress_a.sock.recv(100) == b""
    p.legacy_b.expect_nothing()


def test_sighup_under_load_loses_no_transaction_and_keeps_a_good_certificate(stage, pki):
    """Reloads while transactions flow: none fails. A reload whose new
    certificate is broken is refused, and A keeps serving the old one to new
    handshakes."""
    legacy_a, legacy_b = stage.legacy(), stage.legacy()  # legacy B answers 200
    p = stage.pair(legacy_a.ep, legacy_b.ep)
    egress = stage.connect(p.a.legacy_listen)
    broken = stage.procs.log_dir / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n"
                      "-----END CERTIFICATE-----\n")
    good = copy.deepcopy(p.a.config)
    bad = copy.deepcopy(good)
    bad["tls"]["certificate"] = str(broken)
    steps = {50: good, 100: bad, 150: good}
    for i in range(200):
        if i in steps:
            p.a.config = copy.deepcopy(steps[i])
            p.a.reload()
        branch = f"z9hG4bK-load-{i}"
        egress.send(h.legacy_request("OPTIONS", "sip:b.test", branch))
        resp = egress.recv(timeout=15)
        assert resp.first_line == "SIP/2.0 200 OK", (i, resp.raw[:80])
        if i == 120:
            # The broken reload is refused; a new handshake still gets A's
            # running certificate.
            p.a.wait_log("reload refused")
            peer = h.tls_connect(p.a.tls, h.tls_context(pki, "gw-b"), "a.test")
            assert ("DNS", "a.test") in peer.sock.getpeercert()["subjectAltName"]
            peer.close()
    p.a.wait_log("configuration reloaded", count=2)
