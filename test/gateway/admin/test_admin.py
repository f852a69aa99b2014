"""The admin endpoint over real HTTP: /metrics passes `promtool check metrics`
and sums the workers' registries, /healthz, /ready, /aliases, 404, 405, 431,
a request trickled byte by byte, and the bound on connections."""
import os
import re
import socket
import subprocess
import urllib.error
import urllib.request

import pytest

import reusegw_test as h

DEMO = os.environ["OPS_ADMIN_DEMO"]
TIMEOUT = 30


class Demo:
    def __init__(self, mode):
        self.proc = subprocess.Popen([DEMO, mode], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.fullmatch(r"port (\d+)\n", line)
        assert m, f"demo did not start: {line!r}"
        self.port = int(m.group(1))
        self.base = f"http://127.0.0.1:{self.port}"

    def get(self, path, data=None):
        """(status, headers, body) of one request; errors are answers too."""
        try:
            with urllib.request.urlopen(self.base + path, data=data, timeout=TIMEOUT) as r:
                return r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    def raw(self, payload, chunk=None):
        """Sends |payload| (in |chunk|-byte pieces) and reads until close."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT) as s:
            step = chunk or len(payload)
            for i in range(0, len(payload), step):
                s.sendall(payload[i:i + step])
            out = b""
            while True:
                part = s.recv(65536)
                if not part:
                    return out.decode()
                out += part

    def stop(self):
        self.proc.stdin.close()
        assert self.proc.wait(timeout=TIMEOUT) == 0


@pytest.fixture
def ready_demo():
    d = Demo("ready")
    yield d
    d.stop()


def test_metrics_pass_promtool_and_sum_workers(ready_demo, tmp_path):
    status, headers, body = ready_demo.get("/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    check = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=body,
                           capture_output=True, text=True, timeout=TIMEOUT)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout + check.stderr == "", "promtool lint: " + check.stdout + check.stderr

    m = h.parse_metrics(body)
    assert m['reusegw_reuse_decisions_total{reason="reused"}'] == 12
    assert m['reusegw_reuse_decisions_total{reason="identity_mismatch"}'] == 2
    assert m['reusegw_reuse_decisions_total{reason="connection_gone"}'] == 0
    assert m['reusegw_503_sent_total{reason="dns_timeout"}'] == 3
    assert m['reusegw_bytes_total{direction="to_peer"}'] == 1234
    assert m['reusegw_messages_total{direction="to_legacy",kind="request"}'] == 1
    assert m['reusegw_connections{kind="tls_in",state="open"}'] == 2
    assert m["reusegw_alias_rows"] == 4
    assert m['reusegw_parse_errors_total{reason="framing"}'] == 1
    assert m['reusegw_io_backend{backend="io_uring"}'] == 1
    assert m['reusegw_limit_hits_total{limit="message_timeout"}'] == 3
    assert m['reusegw_limit_hits_total{limit="send_timeout"}'] == 0
    assert m["reusegw_loop_iterations_total"] == 3
    assert m['reusegw_loop_batch_size_bucket{le="1"}'] == 1
    assert m['reusegw_loop_batch_size_bucket{le="2"}'] == 1
    assert m['reusegw_loop_batch_size_bucket{le="4"}'] == 2
    assert m['reusegw_loop_batch_size_bucket{le="256"}'] == 2
    assert m['reusegw_loop_batch_size_bucket{le="+Inf"}'] == 3
    assert m["reusegw_loop_batch_size_sum"] == 304
    assert m["reusegw_loop_batch_size_count"] == 3
    assert 86000 < m['reusegw_certificate_expiry_seconds{identity="b.test"}'] <= 86400
    assert "# TYPE reusegw_connections gauge" in body
    assert "# TYPE reusegw_reuse_decisions_total counter" in body


def test_health_ready_aliases(ready_demo):
    assert ready_demo.get("/healthz")[::2] == (200, "ok\n")
    assert ready_demo.get("/ready")[::2] == (200, "ready\n")
    status, headers, body = ready_demo.get("/aliases")
    assert (status, body) == (200, "[]\n")
    assert headers["Content-Type"] == "application/json"


def test_not_ready_says_why():
    d = Demo("unready")
    try:
        status, _, body = d.get("/ready")
        assert status == 503
        assert body == "not ready: legacy_unreachable draining\n"
        assert d.get("/healthz")[0] == 200  # alive all the same
    finally:
        d.stop()


def test_errors(ready_demo):
    assert ready_demo.get("/nope")[0] == 404
    assert ready_demo.get("/metricsx")[0] == 404
    status, headers, _ = ready_demo.get("/metrics", data=b"x=1")  # a POST
    assert status == 405
    assert headers["Allow"] == "GET"
    big = b"GET /metrics HTTP/1.1\r\nX-Pad: " + b"a" * 5000 + b"\r\n\r\n"
    assert ready_demo.raw(big).startswith("HTTP/1.1 431 ")
    assert ready_demo.raw(b"GET / HTTP/3.0\r\n\r\n").startswith("HTTP/1.1 505 ")
    assert ready_demo.raw(b"BLAH\r\n\r\n").startswith("HTTP/1.1 400 ")


def test_request_trickled_byte_by_byte(ready_demo):
    reply = ready_demo.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", chunk=1)
    assert reply.startswith("HTTP/1.1 200 OK\r\n")
    assert reply.endswith("\r\n\r\nok\n")
    assert "Connection: close" in reply


def test_connection_bound(ready_demo):
    """Sixteen idle connections fill the table; the seventeenth is closed
    unanswered; once they go, the endpoint answers again."""
    idle = [socket.create_connection(("127.0.0.1", ready_demo.port), timeout=TIMEOUT)
            for _ in range(16)]
    try:
        # Prove all sixteen are adopted: each answers a request later, but
        # first the extra one must be turned away.
        with socket.create_connection(("127.0.0.1", ready_demo.port), timeout=TIMEOUT) as extra:
            assert extra.recv(1024) == b""
        for s in idle:
            s.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
            assert s.recv(65536).startswith(b"HTTP/1.1 200 OK")
    finally:
        for s in idle:
            s.close()
    assert ready_demo.get("/healthz")[0] == 200
