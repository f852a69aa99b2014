"""io_uring refused for real, as under Docker's or containerd's default seccomp
profile: gateway A runs under test/scale/no_uring (a seccomp filter that makes
io_uring_setup fail with EPERM), gateway B runs normally. With
runtime.io_backend auto, A says once why it uses epoll and still relays a
transaction both ways over mutually authenticated TLS; with io_backend
io_uring it refuses to start instead of degrading silently."""
import os
import pathlib
import subprocess
import sys

import pytest

SOURCE = pathlib.Path(os.environ["REUSEGW_SOURCE_DIR"])
sys.path.insert(0, str(SOURCE / "test/gateway"))
from sipwire import (Client, Gateway, LegacyServer, free_port, generate_certs, respond,  # noqa: E402
                     top_via)

A_HOST, B_HOST = "127.0.5.2", "127.0.5.3"
FALLBACK_LINE = 'msg="io_uring unavailable (Operation not permitted), using epoll"'


def config(name, host, tls_port, legacy_listen, forward_to, certs, peer, peer_host, peer_port,
           backend):
    return f"""
identity:
  sent_by: {name}.test:{tls_port}
tls:
  listen: ["{host}:{tls_port}"]
  certificate: {certs}/gw-{name}.pem
  private_key: {certs}/gw-{name}.key
  ca: {certs}/ca.pem
legacy:
  forward_to: 127.0.0.1:{forward_to}
  listen: {host}:{legacy_listen}
routes:
  - domain: {peer}
    targets: ["{peer_host}:{peer_port}"]
runtime:
  io_backend: {backend}
"""


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    work = tmp_path_factory.mktemp("fallback")
    generate_certs(SOURCE, work / "certs")
    # sipwire starts BINARY -c CONFIG; this wrapper puts the filter first.
    wrapper = work / "reusegw-no-uring"
    wrapper.write_text('#!/bin/sh\nexec "%s" "%s" "$@"\n' %
                       (os.environ["REUSEGW_NO_URING"], os.environ["REUSEGW_BIN"]))
    wrapper.chmod(0o755)
    return work, wrapper


def test_auto_falls_back_to_epoll_and_relays(work):
    work, wrapper = work
    certs = work / "certs"
    legacy_a, legacy_b = LegacyServer("127.0.0.1"), LegacyServer("127.0.0.1")
    a_tls, b_tls = free_port(A_HOST), free_port(B_HOST)
    a_legacy, b_legacy = free_port(A_HOST), free_port(B_HOST)
    a = Gateway(wrapper, str(work), "a", config("a", A_HOST, a_tls, a_legacy, legacy_a.port,
                                                certs, "b.test", B_HOST, b_tls, "auto"))
    b = Gateway(os.environ["REUSEGW_BIN"], str(work), "b",
                config("b", B_HOST, b_tls, b_legacy, legacy_b.port, certs, "a.test", A_HOST,
                       a_tls, "auto"))
    try:
        for gw, host, port in ((a, A_HOST, a_tls), (a, A_HOST, a_legacy), (b, B_HOST, b_tls)):
            gw.wait_listening(host, port)
        egress = Client.connect(A_HOST, a_legacy)
        branch = b"z9hG4bK-fallback-1"
        egress.send(b"OPTIONS sip:b.test SIP/2.0\r\n"
                    b"Via: SIP/2.0/TCP 127.0.0.1:5999;branch=" + branch + b"\r\n"
                    b"Max-Forwards: 70\r\nFrom: <sip:a@a.test>;tag=1\r\nTo: <sip:b@b.test>\r\n"
                    b"Call-ID: fallback-1@a\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
        conn_b, got = legacy_b.next(timeout=20)
        assert top_via(got) == b"SIP/2.0/TLS a.test:%d;branch=%s;alias" % (a_tls, branch)
        conn_b.send(respond(got, 200, b"OK"))
        resp = egress.recv(timeout=20)
        assert resp.startswith(b"SIP/2.0 200 OK\r\n")
        assert top_via(resp) == b"SIP/2.0/TCP 127.0.0.1:5999;branch=" + branch
        egress.close()
    finally:
        codes = (a.stop(), b.stop())
        legacy_a.close()
        legacy_b.close()
    log_a, log_b = a.read_log(), b.read_log()
    print(log_a, log_b)
    assert codes == (0, 0)
    assert log_a.count(FALLBACK_LINE) == 1
    assert "io_backend=epoll" in log_a
    # The control: the same binary without the filter keeps io_uring.
    assert "io_uring unavailable" not in log_b
    assert "io_backend=io_uring" in log_b


def test_explicit_io_uring_refuses_to_start(work):
    work, wrapper = work
    certs = work / "certs"
    cfg = work / "forced.yaml"
    cfg.write_text(config("a", A_HOST, free_port(A_HOST), free_port(A_HOST), 9, certs, "b.test",
                          B_HOST, 5061, "io_uring"))
    run = subprocess.run([str(wrapper), "-c", str(cfg)], capture_output=True, timeout=60)
    err = run.stderr.decode(errors="replace")
    assert run.returncode != 0, err
    assert "runtime.io_backend is io_uring but io_uring is unavailable" in err
    assert 'reason="Operation not permitted"' in err
    assert "reusegw started" not in err
