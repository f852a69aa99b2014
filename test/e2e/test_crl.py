"""Revocation with CRLs (issue 17; docs/configuration.md `tls.crl`,
`tls.crl_strict`; docs/operations.md "Revocation with CRLs"): gateway B
checks every peer chain, leaf and intermediates, against the CRLs of
tls.crl, which `openssl ca` makes from test/certs/gen.sh's CAs
(reusegw_test.make_crl). A revoked peer is refused with reason `revoked`
(log line, reusegw_tls_handshake_failures_total{reason="revoked"}); an
expired CRL is still used, logged and counted, unless tls.crl_strict fails
closed; and a reload whose CRL newly revokes a connected peer closes its
connection with close_notify and removes its alias (RFC 5923 §8.3), so a
backward request no longer reuses it. /certificates shows what is loaded.
Each refusal has a positive control
in the same setup: the same peer, or the same CRL, accepted."""
import datetime
import json
import re
import ssl
import subprocess
import time

import pytest

import reusegw_test as h

REVOKED = 'reusegw_tls_handshake_failures_total{reason="revoked"}'
CRL_EXPIRED = 'reusegw_tls_handshake_failures_total{reason="crl_expired"}'


def b_with_crl(stage, crl, strict=False):
    """Gateway B alone (A's address free for the test's peer) with tls.crl."""
    def edit(name, cfg):
        if name == "b":
            cfg["tls"]["crl"] = str(crl)
            cfg["tls"]["crl_strict"] = strict
    lg = stage.legacy()
    return stage.pair(lg.ep, lg.ep, edit, with_a=False)


def offer(pair, pki, leaf, port=5061):
    """A peer with leaf's certificate from A's address, aliasing under Via
    port |port|: the connection, or None when B refused it (TLS 1.3 reports
    a refused client certificate on the first read)."""
    try:
        return h.peer_as_a(pair, pki, leaf, f"{pair.a_ip}:{port}", strict_eof=True)
    except (ssl.SSLError, OSError, AssertionError):
        return None


def test_revoked_leaf_is_refused_and_counted(stage, pki, tmp_path):
    crl = h.make_crl(pki, tmp_path / "crl.pem", revoke=["gw-a"])
    pair = b_with_crl(stage, crl)
    assert offer(pair, pki, "gw-a") is None, "B served a revoked certificate"
    h.wait_until(lambda: pair.b.metric(REVOKED) == 1)
    line = pair.b.wait_log("tls handshake failed")
    assert "refused=revoked" in line and f"peer={pair.a_ip}:" in line, line
    assert "certificate revoked" in line, line
    assert pair.b.aliases() == []
    # Control: a certificate of the same CA that the CRL does not list.
    peer = offer(pair, pki, "peer-k")
    assert peer is not None, pair.b.log()
    assert pair.b.metric(REVOKED) == 1
    peer.close()


def test_revoked_intermediate_refuses_the_leaves_under_it(stage, pki, tmp_path):
    """CRL_CHECK_ALL: the root's CRL revokes inter-ca, so peer-i (a valid
    leaf of inter-ca, whose own CRL is empty) is refused."""
    crl = tmp_path / "crl.pem"
    root = h.make_crl(pki, tmp_path / "root.pem", revoke=["inter-ca"])
    inter = h.make_crl(pki, tmp_path / "inter.pem", issuer="inter-ca")
    crl.write_text(root.read_text() + inter.read_text())
    pair = b_with_crl(stage, crl)
    assert offer(pair, pki, "peer-i") is None
    h.wait_until(lambda: pair.b.metric(REVOKED) == 1)
    # Control: the same chain once the root's CRL no longer lists inter-ca.
    crl.write_text(h.make_crl(pki, root).read_text() + inter.read_text())
    pair.b.reload()
    pair.b.wait_log("configuration reloaded")
    peer = offer(pair, pki, "peer-i")
    assert peer is not None, pair.b.log()
    assert pair.b.metric(REVOKED) == 1
    peer.close()


def test_an_issuer_without_a_crl_fails_closed(stage, pki, tmp_path):
    """With a CRL file every CA of a chain needs its CRL there: inter-ca has
    none, so peer-i is refused (not revoked: unknown), gw-a is not."""
    pair = b_with_crl(stage, h.make_crl(pki, tmp_path / "crl.pem"))
    assert offer(pair, pki, "peer-i") is None
    line = pair.b.wait_log("tls handshake failed")
    assert "unable to get certificate CRL" in line and "refused=error" in line, line
    peer = offer(pair, pki, "gw-a")
    assert peer is not None, pair.b.log()
    peer.close()


@pytest.mark.parametrize("strict", [False, True])
def test_expired_crl_is_used_or_fails_closed(stage, pki, tmp_path, strict):
    crl = h.make_crl(pki, tmp_path / "crl.pem", revoke=["gw-a"], expired=True)
    pair = b_with_crl(stage, crl, strict)
    # Revocation still applies when the CRL is stale.
    assert offer(pair, pki, "gw-a") is None
    peer = offer(pair, pki, "peer-k")
    if strict:
        assert peer is None, "crl_strict accepted a chain under an expired CRL"
        h.wait_until(lambda: pair.b.metric(CRL_EXPIRED) >= 1)
        assert "refused=crl_expired" in pair.b.wait_log("tls handshake failed.*crl_expired")
    else:
        assert peer is not None, pair.b.log()
        assert pair.b.metric("reusegw_crl_expired_used_total") == 1
        pair.b.wait_log(re.escape("peer checked against an expired CRL"))
        assert pair.b.metric(CRL_EXPIRED) == 0
        peer.close()
    assert pair.b.metric("reusegw_crl_next_update_timestamp_seconds") == 1609459200  # 2021-01-01


def test_reload_that_revokes_a_connected_peer_closes_it(stage, pki, tmp_path):
    crl = h.make_crl(pki, tmp_path / "crl.pem")
    pair = b_with_crl(stage, crl)
    revoked = offer(pair, pki, "gw-a")
    kept = offer(pair, pki, "peer-k", port=5062)
    assert revoked is not None and kept is not None, pair.b.log()
    assert len(pair.b.aliases()) == 2
    h.make_crl(pki, crl, revoke=["gw-a"])
    pair.b.reload()
    pair.b.wait_log("configuration reloaded")
    line = pair.b.wait_log("peer certificate revoked by the reloaded CRL")
    assert "identity=a.test" in line and "refused=revoked" in line, line
    # close_notify reads as a clean end; a bare TCP close would raise
    # SSLEOFError (strict_eof), a kept connection would time out.
    revoked.sock.settimeout(h.IO_TIMEOUT)
    assert revoked.sock.recv(65536) == b"", "B sent something else than close_notify"
    assert pair.b.metric("reusegw_revoked_closes_total") == 1
    rows = pair.b.aliases()
    assert [r["identities"] for r in rows] == [["k.test"]], rows
    # a.test is no longer reused: B dials A's address, where nothing listens.
    c, _ = h.backward_request(pair, "a.test")
    assert c.recv().status == 503
    c.close()
    # The peer that stays keeps working on its connection.
    kept.send(h.request("OPTIONS", "sip:svc@b.test", f"SIP/2.0/TLS {pair.a_ip}:5062"))
    assert kept.recv().status == 200
    kept.close()


def test_certificates_endpoint_shows_what_is_loaded(stage, pki, tmp_path):
    """/certificates: the default identity's leaf as openssl reads it, the
    CA count and the CRL's nextUpdate; the expiry and CRL series agree."""
    crl = h.make_crl(pki, tmp_path / "crl.pem")
    pair = b_with_crl(stage, crl)
    status, body = pair.b.http_get("/certificates")
    assert status == 200, body
    doc = json.loads(body)
    [cert] = doc["certificates"]
    leaf = pki / "gw-b.pem"
    x509 = lambda *opt: subprocess.run(["openssl", "x509", "-in", str(leaf), "-noout", *opt],
                                       capture_output=True, text=True, check=True).stdout
    assert cert["identity"] == "b.test"
    assert cert["subject"] == "CN=b.test"
    assert cert["identities"] == ["b.test"]
    assert cert["serial"] == x509("-serial").strip().split("=", 1)[1]
    not_after = datetime.datetime.strptime(x509("-enddate").strip().split("=", 1)[1],
                                           "%b %d %H:%M:%S %Y GMT")
    assert cert["not_after"] == not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert cert["not_before"] < cert["loaded_at"] <= time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                    time.gmtime())
    assert cert["file"] == pair.b.config["tls"]["certificate"]
    assert doc["ca"] == {"file": pair.b.config["tls"]["ca"], "count": 1}
    assert doc["crl"]["file"] == str(crl) and doc["crl"]["count"] == 1
    next_update = pair.b.metric("reusegw_crl_next_update_timestamp_seconds")
    assert doc["crl"]["next_update"] == time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                      time.gmtime(next_update))
    assert 6 * 86400 < next_update - time.time() <= 7 * 86400
    expiry = pair.b.metric('reusegw_certificate_expiry_seconds{identity="b.test"}')
    assert abs(expiry - (not_after.replace(tzinfo=datetime.timezone.utc).timestamp()
                         - time.time())) < 60
