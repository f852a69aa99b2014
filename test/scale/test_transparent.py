"""legacy.transparent: the legacy proxy (a stand-in running as uid 65534)
dials peer B's address directly over plain TCP, as if reusegw did not exist;
an nft REDIRECT in a network namespace of this test's own (in_netns.sh)
hands the connection to gateway A's legacy.listen. A has no route for the
domain: SO_ORIGINAL_DST alone tells it where to go, and it relays over
mutually authenticated TLS with the URI's domain as the identity to prove.
A domain the peer's certificate does not prove gets a 503, not a connection."""
import json
import os
import subprocess
import sys

import pytest

import reusegw_test as h

LEGACY_UID = 65534

# The legacy proxy's side of one transaction, run as LEGACY_UID so that the
# nft rule (meta skuid) redirects it and nothing else: send one request to
# the peer's own address and print the first message that comes back.
LEGACY_CLIENT = r"""
import json, sys
import reusegw_test as h
c = h.tcp_connect((sys.argv[1], int(sys.argv[2])), timeout=30)
c.send(sys.stdin.buffer.read())
print(json.dumps(c.recv(timeout=30).raw.decode()))
"""


def legacy_send(ep, message):
    """What the unprivileged legacy client, dialling ep, gets back."""
    run = subprocess.run([sys.executable, "-c", LEGACY_CLIENT, ep[0], str(ep[1])],
                         input=message, capture_output=True, user=LEGACY_UID,
                         group=LEGACY_UID, timeout=90,
                         env={**os.environ, "PYTHONPATH": str(h.TEST_DIR)})
    assert run.returncode == 0, run.stderr.decode()
    return h.SipMessage(json.loads(run.stdout).encode())


@pytest.fixture
def net(stage, tmp_path):
    os.chmod(tmp_path, 0o755)  # the legacy stand-in runs unprivileged
    legacy_a, legacy_b = stage.legacy(answer=h.silent), stage.legacy()

    def edit(name, cfg):
        if name == "a":
            # REDIRECT from OUTPUT delivers to 127.0.0.1; A knows no route to
            # anyone: only the original destination can guide it.
            cfg["legacy"]["listen"] = h.hostport(("127.0.0.1", h.free_port()))
            cfg["legacy"]["transparent"] = True
            cfg["routes"] = []

    p = stage.pair(legacy_a.ep, legacy_b.ep, edit, start=False)
    subprocess.run(["nft", "-f", "-"], check=True, input=f"""
table ip reusegw_test {{
  chain out {{
    type nat hook output priority -100;
    meta skuid {LEGACY_UID} ip daddr {p.b_ip} tcp dport {p.b.tls[1]} redirect to :{p.a.legacy_listen[1]}
  }}
}}
""".encode())
    try:
        yield p.start(), legacy_b
    finally:
        subprocess.run(["nft", "delete", "table", "ip", "reusegw_test"], check=False)


def test_redirected_request_goes_to_the_original_destination_over_tls(net):
    p, legacy_b = net
    branch = "z9hG4bK-transparent-1"
    resp = legacy_send(p.b.tls, h.request("OPTIONS", "sip:b.test", h.LEGACY_VIA, branch=branch))
    _, got = legacy_b.next(timeout=60)
    # B's legacy side got A's client-role rewrite: it came over TLS from A.
    assert got.get("via").startswith("SIP/2.0/TLS a.test:")
    assert got.get("via").endswith(f";branch={branch};alias")
    assert resp.first_line == "SIP/2.0 200 OK"
    assert resp.get("via") == f"{h.LEGACY_VIA};branch={branch}"
    assert "no route" not in p.a.log()


def test_domain_the_peer_cannot_prove_gets_503(net):
    p, legacy_b = net
    # Same redirected destination, but the URI names c.test: B's certificate
    # proves b.test only, so A must refuse to use it for c.test.
    resp = legacy_send(p.b.tls, h.request("OPTIONS", "sip:c.test", h.LEGACY_VIA,
                                          branch="z9hG4bK-transparent-2"))
    assert resp.status == 503, resp.raw
    assert "certificate does not prove domain c.test" in p.a.log()
    legacy_b.expect_nothing(2)
