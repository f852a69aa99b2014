"""Interop of the tls/ engine over real loopback sockets with independent TLS
stacks: OpenSSL's s_server and s_client, and stunnel (both directions).
Each test moves a few KB of a known pattern each way with mutual certificate
authentication; tls_peer (test/tls/tls_peer.c) runs our engine.

R-5923-08: as client, our engine checks the server certificate against the
domain it dials. R-5923-24: as server, it requests a client certificate, and
the certificate's identities are reported."""
import os
import socket
import subprocess
import threading

import pytest

import reusegw_test as h

SIZE = 4096
TIMEOUT = 30


def pattern(n):
    return bytes((i * 31 + 7) & 0xFF for i in range(n))


@pytest.fixture(scope="module")
def tls_peer():
    return os.environ["TLS_PEER_BIN"]


def unique_host():
    """A loopback address of our own, so parallel tests never share ports."""
    return f"{h.unique_net()}.1"


def s_server(pki, host, tmp_path, extra, leaf="gw-b"):
    """openssl s_server for one connection. Its stdin is a pipe holding the
    pattern and kept open (EOF on stdin would end the session early); its
    stdout, a file, collects what it received."""
    port = h.free_port(host)
    with open(tmp_path / "received", "wb") as stdout:
        proc = subprocess.Popen(
            ["openssl", "s_server", "-accept", f"{host}:{port}", "-cert", str(pki / f"{leaf}.pem"),
             "-key", str(pki / f"{leaf}.key"), "-CAfile", str(pki / "ca.pem"), "-Verify", "1",
             "-naccept", "1", "-quiet"] + extra,
            stdin=subprocess.PIPE, stdout=stdout, stderr=subprocess.PIPE)
    proc.stdin.write(pattern(SIZE))
    proc.stdin.flush()
    h.wait_listening((host, port), proc)
    return proc, port


def s_server_finish(proc):
    proc.wait(timeout=TIMEOUT)
    proc.stdin.close()
    proc.stderr.close()


def start_tls_peer_server(tls_peer, pki, host, leaf="gw-b"):
    proc = subprocess.Popen([tls_peer, "server", host, str(pki / leaf), str(pki / "ca.pem"),
                             str(SIZE), str(SIZE)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    line = proc.stdout.readline().decode()
    assert line.startswith("port "), line
    return proc, int(line.split()[1])


def finish(proc):
    out, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_client_against_openssl_s_server(tls_peer, pki, tmp_path, version):
    host = unique_host()
    flag = "-tls1_2" if version == "TLSv1.2" else "-tls1_3"
    server, port = s_server(pki, host, tmp_path, ["-verify_return_error", flag])
    client = subprocess.run([tls_peer, "client", host, str(port), "b.test", str(pki / "gw-a"),
                             str(pki / "ca.pem"), str(SIZE), str(SIZE)],
                            capture_output=True, timeout=TIMEOUT)
    out = client.stdout.decode()
    assert client.returncode == 0, out + client.stderr.decode()
    assert f"version={version} " in out
    assert "identities=b.test" in out
    s_server_finish(server)
    assert (tmp_path / "received").read_bytes() == pattern(SIZE)


def test_client_refuses_s_server_for_other_domain(tls_peer, pki, tmp_path):
    """R-5923-08: a real server whose certificate does not prove the dialled
    domain is refused by our client."""
    host = unique_host()
    server, port = s_server(pki, host, tmp_path, [])
    client = subprocess.run([tls_peer, "client", host, str(port), "a.test", str(pki / "gw-a"),
                             str(pki / "ca.pem"), str(SIZE), str(SIZE)],
                            capture_output=True, timeout=TIMEOUT)
    server.kill()
    s_server_finish(server)
    assert client.returncode != 0
    assert "certificate does not prove domain a.test" in client.stdout.decode()
    assert (tmp_path / "received").read_bytes() == b""


def test_client_sends_sni(tls_peer, pki, tmp_path):
    """SNI = the dialled domain: s_server presents a.test's certificate by
    default and b.test's only when the client names b.test, so the client
    (which requires b.test) succeeds only if it sent SNI."""
    host = unique_host()
    server, port = s_server(pki, host, tmp_path,
                            ["-servername", "b.test", "-servername_fatal",
                             "-cert2", str(pki / "gw-b.pem"), "-key2", str(pki / "gw-b.key")],
                            leaf="gw-a")
    client = subprocess.run([tls_peer, "client", host, str(port), "b.test", str(pki / "gw-a"),
                             str(pki / "ca.pem"), str(SIZE), str(SIZE)],
                            capture_output=True, timeout=TIMEOUT)
    assert client.returncode == 0, client.stdout.decode() + client.stderr.decode()
    assert "identities=b.test" in client.stdout.decode()
    s_server_finish(server)
    assert (tmp_path / "received").read_bytes() == pattern(SIZE)


def test_server_against_openssl_s_client(tls_peer, pki):
    host = unique_host()
    server, port = start_tls_peer_server(tls_peer, pki, host)
    client = subprocess.run(
        ["openssl", "s_client", "-connect", f"{host}:{port}", "-servername", "b.test",
         "-cert", str(pki / "gw-a.pem"), "-key", str(pki / "gw-a.key"),
         "-CAfile", str(pki / "ca.pem"), "-verify_return_error", "-verify_hostname", "b.test",
         "-quiet"],
        input=pattern(SIZE), capture_output=True, timeout=TIMEOUT)
    rc, out, err = finish(server)
    assert rc == 0, out + err
    assert "identities=a.test" in out
    assert client.stdout == pattern(SIZE), client.stderr.decode()


def test_server_refuses_certless_s_client(tls_peer, pki):
    """R-5923-24/-25 over a real socket: a client without a certificate is
    asked for one and refused (required is tls_peer's setting)."""
    host = unique_host()
    server, port = start_tls_peer_server(tls_peer, pki, host)
    subprocess.run(["openssl", "s_client", "-connect", f"{host}:{port}", "-CAfile",
                    str(pki / "ca.pem"), "-quiet"], input=b"x" * 10, capture_output=True,
                   timeout=TIMEOUT)
    rc, out, err = finish(server)
    assert rc != 0
    assert "peer did not return a certificate" in out


def echo_server(host):
    """A plain TCP echo server for one connection (stunnel's backend)."""
    listener = socket.socket()
    listener.bind((host, 0))
    listener.listen(1)
    listener.settimeout(TIMEOUT)

    def serve():
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(TIMEOUT)
            while data := conn.recv(65536):
                conn.sendall(data)
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def test_client_through_stunnel_server(tls_peer, pki, procs):
    host = unique_host()
    echo_port = echo_server(host)
    port = h.free_port(host)
    h.start_stunnel(procs, "srv", pki, "gw-b", (host, port), (host, echo_port), client=False)
    client = subprocess.run([tls_peer, "client", host, str(port), "b.test",
                             str(pki / "gw-a"), str(pki / "ca.pem"), str(SIZE),
                             str(SIZE)], capture_output=True, timeout=TIMEOUT)
    assert client.returncode == 0, client.stdout.decode() + client.stderr.decode()
    assert "identities=b.test" in client.stdout.decode()


def test_server_behind_stunnel_client(tls_peer, pki, procs):
    host = unique_host()
    server, server_port = start_tls_peer_server(tls_peer, pki, host)
    port = h.free_port(host)
    h.start_stunnel(procs, "cli", pki, "gw-a", (host, port), (host, server_port), client=True,
                    check_host="b.test")
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.sendall(pattern(SIZE))
        received = b""
        while len(received) < SIZE and (data := sock.recv(65536)):
            received += data
    assert received == pattern(SIZE)
    rc, out, err = finish(server)
    assert rc == 0, out + err
    assert "identities=a.test" in out
