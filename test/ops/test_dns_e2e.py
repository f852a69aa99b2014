"""reusegw routing by DNS and serving its admin endpoint, end to end: gateway
A has no static route for b.test; a real dnsmasq serves `_sips._tcp.b.test`
SRV records (a dead target first, gateway B second), so A fails over by SRV
priority and reaches B (R-5923-10: the SRV port is the one dialled). A name
that does not exist gets an immediate 503 naming DNS. A's /metrics passes
promtool and counts what happened; /healthz, /ready and B's /aliases answer
(R-5923-19: the alias row B recorded for A, with A's proven identity)."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.environ["REUSEGW_SOURCE_DIR"], "test", "gateway"))
from sipwire import (A_HOST, B_HOST, Client, Gateway, LegacyServer, free_port,  # noqa: E402
                     gateway_config, generate_certs, request, respond, top_via)

TIMEOUT = 30


def free_udp_port(host):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def dns_answers(host, port):
    """True once the server answers an A query (readiness check)."""
    query = bytes.fromhex("12340100000100000000000005726561647904746573740000010001")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        try:
            s.sendto(query, (host, port))
            return len(s.recv(512)) > 0
        except OSError:
            return False


class Dnsmasq:
    def __init__(self, records):
        pid = os.getpid()
        self.host = "127.54.%d.%d" % (pid // 250 % 250 + 1, pid % 250 + 1)
        self.port = free_udp_port(self.host)
        self.proc = subprocess.Popen(
            ["dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
             "--pid-file=", "--local-ttl=300", "--bind-interfaces", "--local=/test/",
             "--port=%d" % self.port, "--listen-address=%s" % self.host] + records,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + TIMEOUT
        while not dns_answers(self.host, self.port):
            assert self.proc.poll() is None, "dnsmasq exited"
            assert time.monotonic() < deadline, "dnsmasq never answered"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=TIMEOUT)


class Decoy:
    """A TCP listener that accepts and hangs up at once: the SRV target a
    gateway must try first and then fail over from."""

    def __init__(self, host):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self):
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(timeout=TIMEOUT)


def admin_port(gw):
    with open(gw.config) as f:
        return int(re.search(r"admin:\n  listen: [0-9.]+:(\d+)", f.read()).group(1))


def http_get(host, port, path):
    try:
        with urllib.request.urlopen("http://%s:%d%s" % (host, port, path),
                                    timeout=TIMEOUT) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(text, series):
    m = re.search(re.escape(series) + r" (-?[0-9.e+]+)\n", text)
    assert m, series + " missing"
    return float(m.group(1))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    work = str(tmp_path_factory.mktemp("dns"))
    certs = os.path.join(work, "certs")
    generate_certs(os.environ["REUSEGW_SOURCE_DIR"], certs)
    a_tls, b_tls = free_port(A_HOST), free_port(B_HOST)
    decoy = Decoy(B_HOST)
    a_legacy, b_legacy = free_port(A_HOST), free_port(B_HOST)
    dns = Dnsmasq([
        "--srv-host=_sips._tcp.b.test,down.b.test,%d,5,10" % decoy.port,
        "--srv-host=_sips._tcp.b.test,gw.b.test,%d,10,10" % b_tls,
        "--host-record=down.b.test,%s" % B_HOST,
        "--host-record=gw.b.test,%s" % B_HOST,
    ])
    legacy_a, legacy_b = LegacyServer("127.0.0.1"), LegacyServer("127.0.0.1")
    dns_server = "%s:%d" % (dns.host, dns.port)
    a = Gateway(os.environ["REUSEGW_BIN"], work, "a",
                gateway_config("a", A_HOST, a_tls, a_legacy, legacy_a.port, certs, [],
                               dns_server=dns_server))
    b = Gateway(os.environ["REUSEGW_BIN"], work, "b",
                gateway_config("b", B_HOST, b_tls, b_legacy, legacy_b.port, certs, [],
                               dns_server=dns_server))
    w = {"a": a, "b": b, "legacy_b": legacy_b, "decoy": decoy}
    try:
        a.wait_listening(A_HOST, a_legacy)
        b.wait_listening(B_HOST, b_tls)
        w["egress_a"] = Client.connect(A_HOST, a_legacy)
        yield w
    finally:
        codes = (a.stop(), b.stop())
        legacy_a.close()
        legacy_b.close()
        decoy.close()
        dns.stop()
        print("--- A log ---\n" + a.read_log() + "\n--- B log ---\n" + b.read_log())
        assert codes == (0, 0)


def test_srv_routes_request_with_failover(world):
    sent = request(b"OPTIONS", b"sip:b.test", b"z9hG4bK-srv-1", b"srv-1@a", 1)
    world["egress_a"].send(sent)
    conn_b, got = world["legacy_b"].next(timeout=TIMEOUT)
    assert got.startswith(b"OPTIONS sip:b.test SIP/2.0\r\n")
    assert top_via(got).startswith(b"SIP/2.0/TLS a.test:")
    conn_b.send(respond(got, 200, b"OK"))
    resp = world["egress_a"].recv(timeout=TIMEOUT)
    assert resp.startswith(b"SIP/2.0 200 OK\r\n")
    assert top_via(resp) == b"SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-srv-1;rport"
    # A second request finds the answer cached and the connection open.
    world["egress_a"].send(request(b"OPTIONS", b"sip:b.test", b"z9hG4bK-srv-2", b"srv-2@a", 2))
    conn_b2, got = world["legacy_b"].next(timeout=TIMEOUT)
    assert conn_b2 is conn_b  # same TLS connection, same mirror
    conn_b.send(respond(got, 200, b"OK"))
    assert world["egress_a"].recv(timeout=TIMEOUT).startswith(b"SIP/2.0 200 OK\r\n")
    # Priority 5 (the decoy, which hangs up at once) was tried first.
    assert world["decoy"].accepted == 1


def test_nxdomain_gets_503_at_once(world):
    start = time.monotonic()
    world["egress_a"].send(request(b"OPTIONS", b"sip:nobody.test", b"z9hG4bK-nx-1",
                                   b"nx-1@a", 1))
    resp = world["egress_a"].recv(timeout=TIMEOUT)
    assert time.monotonic() - start < 5
    assert resp.startswith(b"SIP/2.0 503 ")
    assert b"DNS: domain does not exist" in resp
    assert top_via(resp) == b"SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-nx-1;rport"


def test_metrics_health_ready(world):
    port = admin_port(world["a"])
    status, body = http_get(A_HOST, port, "/metrics")
    assert status == 200
    check = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=body,
                           capture_output=True, text=True, timeout=TIMEOUT)
    assert check.returncode == 0 and check.stdout + check.stderr == "", check.stdout + check.stderr
    assert metric(body, 'reusegw_dns_queries_total{type="naptr"}') == 2  # b.test, nobody.test
    assert metric(body, 'reusegw_dns_queries_total{type="srv"}') == 1
    assert metric(body, 'reusegw_dns_cache_lookups_total{result="hit"}') == 1  # srv-2
    assert metric(body, 'reusegw_reuse_decisions_total{reason="no_row"}') == 1
    assert metric(body, 'reusegw_reuse_decisions_total{reason="reused"}') >= 1
    assert metric(body, 'reusegw_dns_failures_total{reason="nxdomain"}') == 1
    assert metric(body, 'reusegw_503_sent_total{reason="dns_failed"}') == 1
    assert metric(body, 'reusegw_messages_total{direction="to_peer",kind="request"}') == 2
    assert metric(body, 'reusegw_messages_total{direction="to_legacy",kind="response"}') >= 1
    assert metric(body, 'reusegw_connections{kind="tls_out",state="open"}') == 1
    assert metric(body, 'reusegw_tls_handshake_failures_total{reason="error"}') == 1  # decoy
    assert metric(body, 'reusegw_connections{kind="egress",state="open"}') >= 1
    # ctest runs this module once per backend (REUSEGW_TEST_IO_BACKEND).
    backend = os.environ.get("REUSEGW_TEST_IO_BACKEND", "io_uring")
    assert metric(body, 'reusegw_io_backend{backend="%s"}' % backend) == 1
    assert metric(body, "reusegw_loop_iterations_total") > 0
    # gen.sh gateway certificates are valid for 825 days from now.
    assert 824 * 86400 < metric(body, "reusegw_certificate_expiry_seconds") <= 825 * 86400
    assert http_get(A_HOST, port, "/healthz") == (200, "ok\n")
    assert http_get(A_HOST, port, "/ready") == (200, "ready\n")
    assert http_get(A_HOST, port, "/nope")[0] == 404


def test_aliases_of_the_peer(world):
    # A asked for reuse with ;alias on the connection it opened to B, and
    # proved a.test: B lists the row.
    status, body = http_get(B_HOST, admin_port(world["b"]), "/aliases")
    assert status == 200
    rows = json.loads(body)
    assert len(rows) == 1
    assert rows[0]["address"] == A_HOST
    assert rows[0]["transport"] == "tls"
    assert "a.test" in rows[0]["identities"]


def wait_metric(host, port, series, value):
    deadline = time.monotonic() + TIMEOUT
    while metric(http_get(host, port, "/metrics")[1], series) != value:
        assert time.monotonic() < deadline, series
        time.sleep(0.05)


def test_reloads_are_counted(world):
    a, port = world["a"], admin_port(world["a"])
    a.proc.send_signal(signal.SIGHUP)
    wait_metric(A_HOST, port, 'reusegw_reloads_total{result="ok"}', 1)
    # The resolver was built from dns.servers: changing them needs a restart.
    with open(a.config) as f:
        text = f.read()
    with open(a.config, "w") as f:
        f.write(re.sub(r'servers: \["[0-9.]+:', 'servers: ["127.0.0.9:', text))
    a.proc.send_signal(signal.SIGHUP)
    wait_metric(A_HOST, port, 'reusegw_reloads_total{result="failed"}', 1)
    assert 'reload refused: this setting changes only with a restart" key=dns.servers' in \
        a.read_log()
    with open(a.config, "w") as f:
        f.write(text)


@pytest.fixture(scope="module")
def silent(tmp_path_factory):
    """Gateway A whose only DNS server never answers."""
    work = str(tmp_path_factory.mktemp("silent"))
    certs = os.path.join(work, "certs")
    generate_certs(os.environ["REUSEGW_SOURCE_DIR"], certs)
    hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hole.bind(("127.0.0.1", 0))
    legacy_a = LegacyServer("127.0.0.1")
    a_tls, a_legacy = free_port(A_HOST), free_port(A_HOST)
    a = Gateway(os.environ["REUSEGW_BIN"], work, "a",
                gateway_config("a", A_HOST, a_tls, a_legacy, legacy_a.port, certs, [],
                               dns_server="127.0.0.1:%d" % hole.getsockname()[1]))
    try:
        a.wait_listening(A_HOST, a_legacy)
        yield {"a": a, "a_legacy": a_legacy}
    finally:
        code = a.stop()
        legacy_a.close()
        hole.close()
        print("--- A log ---\n" + a.read_log())
        assert code == 0


def test_dns_timeout_gets_503_with_reason(silent):
    """Two requests for one domain share one lookup and are answered in
    the order they came."""
    c = Client.connect(A_HOST, silent["a_legacy"])
    start = time.monotonic()
    c.send(request(b"OPTIONS", b"sip:slow.test", b"z9hG4bK-to-1", b"to-1@a", 1) +
           request(b"OPTIONS", b"sip:slow.test", b"z9hG4bK-to-2", b"to-2@a", 1))
    for branch in (b"z9hG4bK-to-1", b"z9hG4bK-to-2"):
        resp = c.recv(timeout=TIMEOUT)
        assert resp.startswith(b"SIP/2.0 503 ")
        assert b"DNS: timeout" in resp
        assert top_via(resp) == b"SIP/2.0/TCP 127.0.0.1:5999;branch=%s;rport" % branch
    took = time.monotonic() - start
    assert 1 < took < 20  # c-ares: 2 s, then 4 s
    body = http_get(A_HOST, admin_port(silent["a"]), "/metrics")[1]
    assert metric(body, 'reusegw_dns_queries_total{type="naptr"}') == 1
    c.close()


def test_request_whose_connection_closes_during_dns_is_dropped(silent):
    port = admin_port(silent["a"])
    c = Client.connect(A_HOST, silent["a_legacy"])
    c.send(request(b"OPTIONS", b"sip:gone.test", b"z9hG4bK-gone-1", b"gone-1@a", 1))
    deadline = time.monotonic() + TIMEOUT
    while metric(http_get(A_HOST, port, "/metrics")[1],
                 'reusegw_dns_queries_total{type="naptr"}') < 2:
        assert time.monotonic() < deadline  # wait until it is queued
        time.sleep(0.05)
    c.close()
    series = 'reusegw_dropped_messages_total{reason="connection_gone_during_dns"}'
    while metric(http_get(A_HOST, port, "/metrics")[1], series) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    body = http_get(A_HOST, port, "/metrics")[1]
    assert metric(body, 'reusegw_503_sent_total{reason="dns_timeout"}') == 2  # the first test's
    assert metric(body, 'reusegw_dns_failures_total{reason="timeout"}') == 2
