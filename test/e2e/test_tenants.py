"""Many identities behind one gateway and TLS policy per peer (issue 16),
end to end: gateway A is a hosted PBX's face with its default identity
(a.test, gw-a) and two tenants, x.tenant.test (with a legacy_listen of its
own) and y.tenant.test; gateway B (b.test), a real reusegw, is the peer
both tenants talk to. openssl s_client plays clients naming A's identities
in SNI; Python TLS clients present the certificates the peers[] policies
are about. One topology for the module; the reload case runs last.

RFC 5923 §9.3 (R-5923-27) read for our side: a connection opened or
accepted as one identity of ours never carries another's requests."""
import json
import ssl

import pytest

import reusegw_test as h

OURS_MISMATCH = 'reusegw_reuse_decisions_total{reason="identity_ours_mismatch"}'


def _tenant(pki, name, tls, legacy_listen=None):
    t = {"sent_by": f"{name}.tenant.test:{tls[1]}",
         "certificate": str(pki / f"tenant-{name}.chain.pem"),
         "private_key": str(pki / f"tenant-{name}.key")}
    if legacy_listen:
        t["legacy_listen"] = h.hostport(legacy_listen)
    return t


@pytest.fixture(scope="module")
def mt(module_stage, pki):
    st = module_stage
    legacy_a, legacy_b = st.legacy(), st.legacy()
    ports = {}

    def edit(name, cfg):
        if name == "a":
            ip = cfg["tls"]["listen"][0].rsplit(":", 1)[0]
            ports.update(x=(ip, h.free_port(ip)), y=(ip, h.free_port(ip)),
                         x_legacy=(ip, h.free_port(ip)))
            # Peers alias by (source address, Via port): each tenant has a
            # sent-by port of its own, and A listens there too (R-5923-16/-17).
            cfg["tls"]["listen"] += [h.hostport(ports["x"]), h.hostport(ports["y"])]
            # A removed identity's connections drain at most this long.
            cfg["runtime"]["drain_timeout"] = "1s"
            cfg["identities"] = [_tenant(pki, "x", ports["x"], ports["x_legacy"]),
                                 _tenant(pki, "y", ports["y"])]
            cfg["peers"] = [
                {"domain": "b.test", "sni": "sni-override.b.test"},
                {"domain": "untrusted.test", "ca": str(pki / "untrusted-ca.pem")},
                {"domain": "opt.test", "client_certificate": "optional"},
                {"domain": "other.untrusted.test", "client_certificate": "required"},
                {"domain": "eku-server.test", "allow_server_auth_only": True},
                {"domain": "k.test", "require_sip_eku": True},
            ]
        else:
            cfg["routes"] += [{"domain": f"{t}.tenant.test", "targets": [h.hostport(ports[t])]}
                              for t in ("x", "y")]

    pair = st.pair(legacy_a.ep, legacy_b.ep, edit)
    pair.legacy_a, pair.legacy_b, pair.ports = legacy_a, legacy_b, ports
    return pair


def _next_with(legacy, branch):
    """The message legacy receives whose topmost Via carries branch."""
    while True:
        conn, msg = legacy.next()
        if h.branch_of(msg) == branch:
            return conn, msg


def _served_subject(mt, pki, server_name):
    """The subject of the certificate A serves to SNI server_name, after an
    OPTIONS through it was answered (the handshake really completed)."""
    msg, err = h.s_client(mt.a.tls, pki, "gw-b", server_name,
                          h.request("OPTIONS", "sip:svc@a.test", "SIP/2.0/TLS 127.0.0.1:5999"))
    assert msg is not None and msg.status == 200, err
    depth0 = [line for line in err.splitlines() if line.startswith("depth=0 ")]
    assert depth0, err
    return depth0[-1].removeprefix("depth=0 ")


def test_sni_selects_the_identity_certificate(mt, pki):
    """RFC 5922 §7.8 / RFC 5923 §9.3: A presents the certificate of the
    identity the client names in SNI."""
    before = mt.a.metric("reusegw_tls_sni_unknown_total")
    assert _served_subject(mt, pki, "x.tenant.test") == "CN = x.tenant.test"
    assert _served_subject(mt, pki, "y.tenant.test") == "CN = y.tenant.test"
    assert _served_subject(mt, pki, "a.test") == "CN = a.test"
    assert mt.a.metric("reusegw_tls_sni_unknown_total") == before


def test_unknown_sni_gets_the_default_identity_and_is_counted(mt, pki):
    before = mt.a.metric("reusegw_tls_sni_unknown_total")
    assert _served_subject(mt, pki, "nobody.test") == "CN = a.test"
    assert mt.a.metric("reusegw_tls_sni_unknown_total") == before + 1


def test_certificates_and_expiry_list_every_identity(mt, pki):
    """/certificates and reusegw_certificate_expiry_seconds cover every
    identity of a multi-identity gateway, each with its own leaf (issue 17
    over issue 16), not only the default one."""
    status, body = mt.a.http_get("/certificates")
    assert status == 200, body
    certs = {c["identity"]: c for c in json.loads(body)["certificates"]}
    assert sorted(certs) == ["a.test", "x.tenant.test", "y.tenant.test"]
    for name in certs:
        assert certs[name]["subject"] == f"CN={name}"
        assert name in certs[name]["identities"]
        expiry = mt.a.metric(f'reusegw_certificate_expiry_seconds{{identity="{name}"}}')
        assert expiry > 0, name


def _options_to_b(mt, egress, via_host="127.0.0.1", headers=()):
    """An OPTIONS for b.test from A's legacy proxy on egress whose own top
    Via names via_host; returns the request as B's legacy proxy got it."""
    branch = h.new_branch()
    egress.send(h.request("OPTIONS", "sip:svc@b.test", f"SIP/2.0/TCP {via_host}:5060",
                          branch=branch, headers=headers))
    assert egress.recv().status == 200
    return _next_with(mt.legacy_b, branch)[1]


def test_two_identities_to_one_peer_hold_two_connections(mt, pki, module_stage):
    """R-5923-27 on our side: tenant y's request for b.test never rides the
    connection tenant x opened to B, though its certificate proves b.test;
    the refusal is counted. Each connection carries its tenant's client
    certificate (B's alias rows) and Via sent-by with ;alias (R-5923-05
    within one tenant)."""
    egress = module_stage.connect(mt.a.legacy_listen)
    px, py = mt.ports["x"][1], mt.ports["y"][1]
    sni_unknown_b = mt.b.metric("reusegw_tls_sni_unknown_total")
    got = _options_to_b(mt, egress, "x.tenant.test")  # identity from the Via host
    assert got.get("via").startswith(f"SIP/2.0/TLS x.tenant.test:{px};branch=")
    assert ";alias" in got.get("via")
    assert h.wait_until(lambda: mt.tls_connections() == 1)
    # peers[b.test].sni replaced the SNI A sent: B does not know that name.
    assert mt.b.metric("reusegw_tls_sni_unknown_total") == sni_unknown_b + 1

    refused = mt.a.metric(OURS_MISMATCH)
    got = _options_to_b(mt, egress, "y.tenant.test")
    assert got.get("via").startswith(f"SIP/2.0/TLS y.tenant.test:{py};branch=")
    assert mt.a.metric(OURS_MISMATCH) == refused + 1
    assert h.wait_until(lambda: mt.tls_connections() == 2)

    # At the peer: one alias per tenant, each keyed by that tenant's Via
    # port and proven by that tenant's client certificate (R-5923-19).
    rows = sorted((r["port"], r["identities"]) for r in mt.b.aliases())
    assert rows == sorted([(px, ["x.tenant.test"]), (py, ["y.tenant.test"])]), rows

    # x's legacy_listen picks x whatever the Via says; a Record-Route host
    # picks y: both reuse their tenant's connection.
    x_egress = module_stage.connect(mt.ports["x_legacy"])
    got = _options_to_b(mt, x_egress)
    assert got.get("via").startswith(f"SIP/2.0/TLS x.tenant.test:{px};branch=")
    got = _options_to_b(mt, egress, headers=["Record-Route: <sip:y.tenant.test;lr>"])
    assert got.get("via").startswith(f"SIP/2.0/TLS y.tenant.test:{py};branch=")
    assert mt.tls_connections() == 2

    # B's backward request for tenant y returns on y's connection (its
    # alias at B, R-5923-20): no third connection.
    c, req = h.backward_request(mt, domain="y.tenant.test")
    conn, msg = _next_with(mt.legacy_a, h.branch_of(req))
    conn.send(h.response(msg))
    assert c.recv().status == 200
    c.close()
    assert mt.tls_connections() == 2


def _peer_request(mt, pki, leaf, stage):
    """A TLS client with leaf's certificate sends OPTIONS ...;alias to A;
    the answer, or None when A refused the certificate. The connection
    stays open (an alias dies with it) until the stage closes."""
    try:
        peer = h.tls_connect(mt.a.tls, h.tls_context(pki, leaf), "a.test")
        stage.conns.append(peer)
        peer.send(h.request("OPTIONS", "sip:svc@a.test",
                            f"SIP/2.0/TLS {mt.b_ip}:{h.free_port(mt.b_ip)};alias"))
        return peer.recv()
    except (AssertionError, ssl.SSLError, ConnectionResetError):
        return None  # TLS 1.3: the alert arrives after the client's handshake


def _aliased(mt, domain):
    return [r for r in mt.a.aliases() if domain in r["identities"]]


def test_peer_ca_accepts_a_private_ca_peer_that_tls_ca_refuses(mt, pki, module_stage):
    """peers[].ca replaces tls.ca for that peer only; the peer is
    authenticated, so its alias is recorded (R-5923-18/-19)."""
    assert _peer_request(mt, pki, "untrusted", module_stage) is not None
    assert h.wait_until(lambda: _aliased(mt, "untrusted.test"))
    assert _aliased(mt, "untrusted.test")[0]["ours"] == "a.test"
    assert _peer_request(mt, pki, "untrusted-other", module_stage) is None  # same CA, tls.ca applies


def test_crl_revokes_a_peer_verified_under_its_peer_ca(mt, pki, module_stage, tmp_path):
    """tls.crl holds under a peers[].ca trust store too (issue 17 over 16):
    the reload that revokes the untrusted.test leaf closes its connection,
    verified under that store, and refuses it afterwards."""
    assert _peer_request(mt, pki, "untrusted", module_stage) is not None
    crl = tmp_path / "crl.pem"
    crl.write_text(h.make_crl(pki, tmp_path / "ca.crl").read_text() +
                   h.make_crl(pki, tmp_path / "u.crl", issuer="untrusted-ca",
                              revoke=("untrusted",)).read_text())
    ok = 'reusegw_reloads_total{trigger="signal",result="ok"}'
    closed, reloads = mt.a.metric("reusegw_revoked_closes_total"), mt.a.metric(ok)
    mt.a.config["tls"]["crl"] = str(crl)
    try:
        mt.a.reload()
        assert h.wait_until(lambda: mt.a.metric(ok) > reloads)
        assert h.wait_until(lambda: mt.a.metric("reusegw_revoked_closes_total") > closed)
        assert _peer_request(mt, pki, "untrusted", module_stage) is None
    finally:
        del mt.a.config["tls"]["crl"]
        reloads = mt.a.metric(ok)
        mt.a.reload()
        assert h.wait_until(lambda: mt.a.metric(ok) > reloads)


def test_peer_purpose_policies(mt, pki, module_stage):
    """peers[].allow_server_auth_only accepts a serverAuth-only client
    certificate for that peer alone; peers[].require_sip_eku tightens the
    purpose rule for its peer alone."""
    failed = mt.a.metric('reusegw_tls_handshake_failures_total{reason="certificate_purpose"}')
    assert _peer_request(mt, pki, "eku-server", module_stage) is not None
    assert _peer_request(mt, pki, "eku-server-b", module_stage) is None  # no policy: clientAuth needed
    # peers[].require_sip_eku: k.test's serverAuth,clientAuth leaf lacks
    # id-kp-sipDomain (RFC 5924 strict); b.test's like it passes tls's rule.
    assert _peer_request(mt, pki, "peer-k", module_stage) is None
    assert _peer_request(mt, pki, "gw-b", module_stage) is not None
    assert mt.a.metric(
        'reusegw_tls_handshake_failures_total{reason="certificate_purpose"}') == failed + 2


def test_client_certificate_optional_serves_unauthenticated_required_refuses(mt, pki, module_stage):
    """client_certificate optional: a certificate naming the peer that does
    not verify is served as if none were sent, never aliased (R-5923-25);
    required: refused."""
    before = mt.a.metric("reusegw_tls_peer_unverified_total")
    answer = _peer_request(mt, pki, "untrusted-opt", module_stage)
    assert answer is not None and answer.status == 200
    assert mt.a.metric("reusegw_tls_peer_unverified_total") == before + 1
    assert not _aliased(mt, "opt.test")
    assert _peer_request(mt, pki, "untrusted-other", module_stage) is None


def test_reload_adds_an_identity_and_drains_a_removed_ones_connections(mt, pki, module_stage):
    """SIGHUP under (bounded, sequential) load on tenant x: z.tenant.test
    is served at once; y's connection to B takes no new request, drains
    (runtime.drain_timeout here) and closes with close_notify; x's stays,
    is still reused, and no request of x fails across the reload."""
    x_egress = module_stage.connect(mt.ports["x_legacy"])
    px = mt.ports["x"][1]
    # z needs no sent-by port A listens on for SNI to pick it.
    mt.a.config["identities"] = [mt.a.config["identities"][0],
                                 _tenant(pki, "z", ("", 5099))]
    for i in range(40):
        if i == 10:
            mt.a.reload()
        got = _options_to_b(mt, x_egress)  # asserts the 200
        assert got.get("via").startswith(f"SIP/2.0/TLS x.tenant.test:{px};")
    mt.a.wait_log("configuration reloaded")
    assert _served_subject(mt, pki, "z.tenant.test") == "CN = z.tenant.test"
    mt.a.wait_log(r"identity removed by reload.*identity=y\.tenant\.test")
    assert h.wait_until(lambda: mt.tls_connections() == 1)
    mt.a.wait_log(r'connection closed" conn=tls-out .*ours=\(removed\) '
                  r'.*reason="identity removed by reload"')
    got = _options_to_b(mt, x_egress)
    assert got.get("via").startswith(f"SIP/2.0/TLS x.tenant.test:{px};")
    assert mt.tls_connections() == 1
