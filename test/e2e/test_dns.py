"""reusegw routing by DNS and serving its admin endpoint, end to end: gateway
A has no static route for b.test; a real dnsmasq serves `_sips._tcp.b.test`
SRV records (a dead target first, gateway B second), so A fails over by SRV
priority and reaches B (R-5923-10: the SRV port is the one dialled). A name
that does not exist gets an immediate 503 naming DNS. A's /metrics passes
promtool and counts what happened; /healthz, /ready and B's /aliases answer
(R-5923-19: the alias row B recorded for A, with A's proven identity)."""
import os
import socket
import subprocess
import time

import pytest

import reusegw_test as h

TIMEOUT = 30


def dns_answers(ep):
    """True once the server at ep answers an A query (readiness check)."""
    query = bytes.fromhex("12340100000100000000000005726561647904746573740000010001")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        try:
            s.sendto(query, ep)
            return len(s.recv(512)) > 0
        except OSError:
            return False


def start_dnsmasq(procs, ip, records):
    """dnsmasq on ip (a free UDP port) answering for *.test from records
    only; returns its (ip, port) once it answers."""
    ep = (ip, h.free_udp_port(ip))
    proc = procs.start("dnsmasq", [
        "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
        "--pid-file=", "--local-ttl=300", "--bind-interfaces", "--local=/test/",
        f"--port={ep[1]}", f"--listen-address={ip}", *records])
    deadline = time.monotonic() + TIMEOUT
    while not dns_answers(ep):
        assert proc.alive(), "dnsmasq exited:\n" + proc.log_text()
        assert time.monotonic() < deadline, "dnsmasq never answered"
    return ep


class Decoy:
    """A TCP listener that accepts and hangs up at once: the SRV target a
    gateway must try first and then fail over from."""

    def __init__(self, host):
        self.accepted = 0
        self.acceptor = h.Acceptor(socket.create_server((host, 0)), self._hang_up)
        self.port = self.acceptor.ep[1]

    def _hang_up(self, conn):
        self.accepted += 1
        conn.close()

    def close(self):
        self.acceptor.close()


def expected_via(branch):
    return f"{h.LEGACY_VIA};branch={branch};rport"


@pytest.fixture(scope="module")
def world(module_stage):
    legacy_a = module_stage.legacy(answer=h.silent)
    legacy_b = module_stage.legacy(answer=h.silent)
    p = module_stage.pair(legacy_a.ep, legacy_b.ep, start=False)
    decoy = Decoy(p.b_ip)
    dns = start_dnsmasq(module_stage.procs, f"{p.net}.53", [
        f"--srv-host=_sips._tcp.b.test,down.b.test,{decoy.port},5,10",
        f"--srv-host=_sips._tcp.b.test,gw.b.test,{p.b.tls[1]},10,10",
        f"--host-record=down.b.test,{p.b_ip}",
        f"--host-record=gw.b.test,{p.b_ip}",
    ])
    for gw in (p.a, p.b):  # no static route: DNS alone finds the peer
        gw.config["routes"] = []
        gw.config["dns"]["servers"] = [h.hostport(dns)]
    p.start()
    w = {"a": p.a, "b": p.b, "a_ip": p.a_ip, "legacy_b": legacy_b, "decoy": decoy,
         "dns": dns, "egress_a": module_stage.connect(p.a.legacy_listen)}
    yield w
    decoy.close()


def test_srv_routes_request_with_failover(world):
    sent = h.legacy_request("OPTIONS", "sip:b.test", "z9hG4bK-srv-1")
    world["egress_a"].send(sent)
    conn_b, got = world["legacy_b"].next(timeout=TIMEOUT)
    assert got.first_line == "OPTIONS sip:b.test SIP/2.0"
    assert got.get("via").startswith("SIP/2.0/TLS a.test:")
    conn_b.send(h.response(got))
    resp = world["egress_a"].recv(timeout=TIMEOUT)
    assert resp.first_line == "SIP/2.0 200 OK"
    assert resp.get("via") == expected_via("z9hG4bK-srv-1")
    # A second request finds the answer cached and the connection open.
    world["egress_a"].send(h.legacy_request("OPTIONS", "sip:b.test", "z9hG4bK-srv-2", cseq=2))
    conn_b2, got = world["legacy_b"].next(timeout=TIMEOUT)
    assert conn_b2 is conn_b  # same TLS connection, same mirror
    conn_b.send(h.response(got))
    assert world["egress_a"].recv(timeout=TIMEOUT).first_line == "SIP/2.0 200 OK"
    # Priority 5 (the decoy, which hangs up at once) was tried first.
    assert world["decoy"].accepted == 1


def test_nxdomain_gets_503_at_once(world):
    start = time.monotonic()
    world["egress_a"].send(h.legacy_request("OPTIONS", "sip:nobody.test", "z9hG4bK-nx-1"))
    resp = world["egress_a"].recv(timeout=TIMEOUT)
    assert time.monotonic() - start < 5
    assert resp.status == 503
    assert b"DNS: domain does not exist" in resp.raw
    assert resp.get("via") == expected_via("z9hG4bK-nx-1")


def test_metrics_health_ready(world):
    a = world["a"]
    status, body = a.http_get("/metrics")
    assert status == 200
    check = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=body,
                           capture_output=True, text=True, timeout=TIMEOUT)
    assert check.returncode == 0 and check.stdout + check.stderr == "", check.stdout + check.stderr
    m = h.parse_metrics(body)
    assert m['reusegw_dns_queries_total{type="naptr"}'] == 2  # b.test, nobody.test
    assert m['reusegw_dns_queries_total{type="srv"}'] == 1
    assert m['reusegw_dns_cache_lookups_total{result="hit"}'] == 1  # srv-2
    assert m['reusegw_reuse_decisions_total{reason="no_row"}'] == 1
    assert m['reusegw_reuse_decisions_total{reason="reused"}'] >= 1
    assert m['reusegw_dns_failures_total{reason="nxdomain"}'] == 1
    assert m['reusegw_503_sent_total{reason="dns_failed"}'] == 1
    assert m['reusegw_messages_total{direction="to_peer",kind="request"}'] == 2
    assert m['reusegw_messages_total{direction="to_legacy",kind="response"}'] >= 1
    assert m['reusegw_connections{kind="tls_out",state="open"}'] == 1
    assert m['reusegw_tls_handshake_failures_total{reason="error"}'] == 1  # decoy
    assert m['reusegw_connections{kind="egress",state="open"}'] >= 1
    # ctest runs this module once per backend (REUSEGW_TEST_IO_BACKEND).
    backend = os.environ.get("REUSEGW_TEST_IO_BACKEND", "io_uring")
    assert m[f'reusegw_io_backend{{backend="{backend}"}}'] == 1
    assert m["reusegw_loop_iterations_total"] > 0
    # gen.sh gateway certificates are valid for 825 days from now.
    assert 824 * 86400 < m['reusegw_certificate_expiry_seconds{identity="a.test"}'] <= 825 * 86400
    assert a.http_get("/healthz") == (200, "ok\n")
    assert a.http_get("/ready") == (200, "ready\n")
    assert a.http_get("/nope")[0] == 404


def test_aliases_of_the_peer(world):
    # A asked for reuse with ;alias on the connection it opened to B, and
    # proved a.test: B lists the row.
    rows = world["b"].aliases()
    assert len(rows) == 1
    assert rows[0]["address"] == world["a_ip"]
    assert rows[0]["transport"] == "tls"
    assert "a.test" in rows[0]["identities"]


def wait_metric(gw, series, value):
    deadline = time.monotonic() + TIMEOUT
    while gw.metrics()[series] != value:
        assert time.monotonic() < deadline, series
        time.sleep(0.05)


def test_reloads_are_counted(world):
    a = world["a"]
    a.reload()
    wait_metric(a, 'reusegw_reloads_total{trigger="signal",result="ok"}', 1)
    # The resolver was built from dns.servers: changing them needs a restart.
    servers = a.config["dns"]["servers"]
    a.config["dns"]["servers"] = [h.hostport(("127.0.0.9", world["dns"][1]))]
    a.reload()
    wait_metric(a, 'reusegw_reloads_total{trigger="signal",result="failed"}', 1)
    assert 'reload refused: this setting changes only with a restart" key=dns.servers' in a.log()
    a.config["dns"]["servers"] = servers
    a.write_config()


@pytest.fixture(scope="module")
def silent(module_stage, pki):
    """Gateway A alone, whose only DNS server never answers."""
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hole.bind(("127.0.0.1", 0))
    legacy_a = module_stage.legacy(answer=h.silent)
    ip = f"{h.unique_net()}.2"
    tls = (ip, h.free_port(ip))
    cfg = h.gateway_config(pki, "gw-a", f"a.test:{tls[1]}", tls, legacy_a.ep,
                           (ip, h.free_port(ip)), {}, ("127.0.0.1", h.free_port()))
    cfg["dns"]["servers"] = [h.hostport(hole.getsockname())]
    yield module_stage.gateway("reusegw-silent", cfg).start()
    hole.close()


def test_dns_timeout_gets_503_with_reason(silent):
    """Two requests for one domain share one lookup and are answered in
    the order they came."""
    c = h.tcp_connect(silent.legacy_listen)
    start = time.monotonic()
    c.send(h.legacy_request("OPTIONS", "sip:slow.test", "z9hG4bK-to-1") +
           h.legacy_request("OPTIONS", "sip:slow.test", "z9hG4bK-to-2"))
    for branch in ("z9hG4bK-to-1", "z9hG4bK-to-2"):
        resp = c.recv(timeout=TIMEOUT)
        assert resp.status == 503
        assert b"DNS: timeout" in resp.raw
        assert resp.get("via") == expected_via(branch)
    took = time.monotonic() - start
    assert 1 < took < 20  # c-ares: 2 s, then 4 s
    assert silent.metrics()['reusegw_dns_queries_total{type="naptr"}'] == 1
    c.close()


def test_request_whose_connection_closes_during_dns_is_dropped(silent):
    c = h.tcp_connect(silent.legacy_listen)
    c.send(h.legacy_request("OPTIONS", "sip:gone.test", "z9hG4bK-gone-1"))
    deadline = time.monotonic() + TIMEOUT
    while silent.metrics()['reusegw_dns_queries_total{type="naptr"}'] < 2:
        assert time.monotonic() < deadline  # wait until it is queued
        time.sleep(0.05)
    c.close()
    series = 'reusegw_dropped_messages_total{reason="connection_gone_during_dns"}'
    while silent.metrics()[series] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    m = silent.metrics()
    assert m['reusegw_503_sent_total{reason="dns_timeout"}'] == 2  # the first test's
    assert m['reusegw_dns_failures_total{reason="timeout"}'] == 2
