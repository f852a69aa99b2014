"""legacy.transparent: the legacy proxy (a stand-in running as uid 65534)
dials peer B's address directly over plain TCP, as if reusegw did not exist;
an nft REDIRECT in a network namespace of this test's own (in_netns.sh)
hands the connection to gateway A's legacy.listen. A has no route for the
domain: SO_ORIGINAL_DST alone tells it where to go, and it relays over
mutually authenticated TLS with the URI's domain as the identity to prove.
A domain the peer's certificate does not prove gets a 503, not a connection."""
import json
import os
import pathlib
import queue
import subprocess
import sys
import threading

import pytest

SOURCE = pathlib.Path(os.environ["REUSEGW_SOURCE_DIR"])
sys.path.insert(0, str(SOURCE / "test/gateway"))
from sipwire import Gateway, LegacyServer, free_port, generate_certs, respond, top_via  # noqa: E402

A_HOST, B_HOST = "127.0.6.2", "127.0.6.3"
LEGACY_UID = 65534

# The legacy proxy's side of one transaction, run as LEGACY_UID so that the
# nft rule (meta skuid) redirects it and nothing else: send one request to
# the peer's own address and print the first message that comes back.
LEGACY_CLIENT = r"""
import json, socket, sys
sys.path.insert(0, sys.argv[1])
from sipwire import Client
c = Client.connect(sys.argv[2], int(sys.argv[3]), timeout=30)
c.send(sys.stdin.buffer.read())
print(json.dumps(c.recv(timeout=30).decode()))
"""


def config(name, host, tls_port, legacy_listen, forward_to, certs, transparent, routes):
    return f"""
identity:
  sent_by: {name}.test:{tls_port}
tls:
  listen: ["{host}:{tls_port}"]
  certificate: {certs}/gw-{name}.pem
  private_key: {certs}/gw-{name}.key
  ca: {certs}/ca.pem
  handshake_timeout: 5s
legacy:
  forward_to: 127.0.0.1:{forward_to}
  listen: {legacy_listen}
  transparent: {"true" if transparent else "false"}
routes: {routes}
log:
  level: debug
"""


def options(domain, branch):
    return (b"OPTIONS sip:%s SIP/2.0\r\n" % domain +
            b"Via: SIP/2.0/TCP 127.0.0.1:5999;branch=%s\r\n" % branch +
            b"Max-Forwards: 70\r\nFrom: <sip:a@a.test>;tag=1\r\nTo: <sip:%s>\r\n" % domain +
            b"Call-ID: %s@a\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" % branch)


def legacy_send(host, port, message):
    run = subprocess.run([sys.executable, "-c", LEGACY_CLIENT, str(SOURCE / "test/gateway"),
                          host, str(port)], input=message, capture_output=True,
                         user=LEGACY_UID, group=LEGACY_UID, timeout=90)
    assert run.returncode == 0, run.stderr.decode()
    return json.loads(run.stdout).encode()


@pytest.fixture
def net(tmp_path):
    os.chmod(tmp_path, 0o755)  # the legacy stand-in runs unprivileged
    certs = tmp_path / "certs"
    generate_certs(SOURCE, certs)
    legacy_a, legacy_b = LegacyServer("127.0.0.1"), LegacyServer("127.0.0.1")
    a_tls, b_tls, b_legacy = free_port(A_HOST), free_port(B_HOST), free_port(B_HOST)
    a_legacy = free_port("127.0.0.1")  # REDIRECT from OUTPUT delivers to 127.0.0.1
    subprocess.run(["nft", "-f", "-"], check=True, input=f"""
table ip reusegw_test {{
  chain out {{
    type nat hook output priority -100;
    meta skuid {LEGACY_UID} ip daddr {B_HOST} tcp dport {b_tls} redirect to :{a_legacy}
  }}
}}
""".encode())
    # A knows no route to anyone: only the original destination can guide it.
    a = Gateway(os.environ["REUSEGW_BIN"], str(tmp_path), "a",
                config("a", A_HOST, a_tls, f"127.0.0.1:{a_legacy}", legacy_a.port, certs,
                       True, "[]"))
    b = Gateway(os.environ["REUSEGW_BIN"], str(tmp_path), "b",
                config("b", B_HOST, b_tls, f"{B_HOST}:{b_legacy}", legacy_b.port, certs, False,
                       f'[{{domain: a.test, targets: ["{A_HOST}:{a_tls}"]}}]'))
    try:
        a.wait_listening("127.0.0.1", a_legacy)
        b.wait_listening(B_HOST, b_tls)
        yield a, b, legacy_b, b_tls
    finally:
        codes = (a.stop(), b.stop())
        legacy_a.close()
        legacy_b.close()
        print("--- A ---\n" + a.read_log() + "\n--- B ---\n" + b.read_log())
        subprocess.run(["nft", "delete", "table", "ip", "reusegw_test"], check=False)
    assert codes == (0, 0)


def test_redirected_request_goes_to_the_original_destination_over_tls(net):
    a, b, legacy_b, b_tls = net
    branch = b"z9hG4bK-transparent-1"
    got = {}

    def answer():
        conn, msg = legacy_b.next(timeout=60)
        got["msg"] = msg
        conn.send(respond(msg, 200, b"OK"))

    t = threading.Thread(target=answer)
    t.start()
    resp = legacy_send(B_HOST, b_tls, options(b"b.test", branch))
    t.join(timeout=70)
    # B's legacy side got A's client-role rewrite: it came over TLS from A.
    assert top_via(got["msg"]).startswith(b"SIP/2.0/TLS a.test:")
    assert top_via(got["msg"]).endswith(b";branch=%s;alias" % branch)
    assert resp.startswith(b"SIP/2.0 200 OK\r\n")
    assert top_via(resp) == b"SIP/2.0/TCP 127.0.0.1:5999;branch=" + branch
    assert "no route" not in a.read_log()


def test_domain_the_peer_cannot_prove_gets_503(net):
    a, b, legacy_b, b_tls = net
    # Same redirected destination, but the URI names c.test: B's certificate
    # proves b.test only, so A must refuse to use it for c.test.
    resp = legacy_send(B_HOST, b_tls, options(b"c.test", b"z9hG4bK-transparent-2"))
    assert resp.startswith(b"SIP/2.0 503 "), resp
    assert "certificate does not prove domain c.test" in a.read_log()
    with pytest.raises(queue.Empty):
        legacy_b.next(timeout=2)
