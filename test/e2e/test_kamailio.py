"""reusegw with Kamailio 5.6 (OpenSSL, its tls module) as the mutual-TLS
peer on the other side, both ways: Kamailio dials reusegw B, and reusegw A
dials Kamailio. Kamailio relays statelessly (reusegw_test/kamailio/relay.cfg) and adds
its own Via; the legacy proxies are reusegw_test.LegacyServer."""
import reusegw_test as h


def via_parts(via):
    """(sent-protocol and sent-by, {param: value or None}) of a Via value."""
    head, *params = [p.strip() for p in via.split(";")]
    return head, dict((p.split("=", 1) + [None])[:2] for p in params)


def test_kamailio_dials_reusegw_b(procs, make_pair, legacy, pki):
    """A client's OPTIONS goes TCP -> Kamailio -> mTLS (peer-k's client
    certificate) -> reusegw B -> legacy proxy B, which sees Kamailio's Via on
    top of the client's; its 200 returns the same way with the client's Via
    intact."""
    legacy_b = legacy()
    pair = make_pair(h.dead_endpoint(), legacy_b.ep, with_a=False)
    kam = h.Kamailio(procs, pki, f"{pair.net}.4").start_relay("TLS", pair.b.tls)
    kam_tcp, kam_tls = kam.tcp, kam.tls
    client = h.tcp_connect(kam_tcp)
    msg = h.request("OPTIONS", "sip:svc@b.test", h.LEGACY_VIA)
    client.send(msg)
    _, got = legacy_b.next()
    vias = got.all("via")
    assert len(vias) == 2
    assert vias[0].startswith(f"SIP/2.0/TLS {kam_tls[0]}:{kam_tls[1]};branch=")
    head, params = via_parts(vias[1])  # Kamailio's force_rport added rport=
    assert head == h.LEGACY_VIA
    assert params["branch"] == h.branch_of(h.SipMessage(msg))
    assert got.body == b"" and got.first_line == "OPTIONS sip:svc@b.test SIP/2.0"
    answer = client.recv()
    assert answer.status == 200
    assert answer.get("call-id") == h.SipMessage(msg).get("call-id")
    assert h.established(None, pair.b.tls) == 1  # Kamailio's one connection


def test_reusegw_a_dials_kamailio(procs, make_pair, legacy, pki):
    """reusegw A routes k.test to Kamailio's TLS port, checks its
    certificate (sip:k.test) and presents gw-a's; Kamailio forwards to its
    legacy proxy, which sees A's TLS Via with ;alias under Kamailio's; the
    200 comes back to A's legacy proxy with its own Via restored byte for
    byte (Kamailio's rport/received additions undone)."""
    legacy_k = legacy()
    kam = h.Kamailio(procs, pki, f"{h.unique_net()}.4")
    kam_tcp, kam_tls = kam.tcp, kam.tls

    def edit(name, cfg):
        if name == "a":
            cfg["routes"].append({"domain": "k.test", "targets": [h.hostport(kam_tls)]})

    pair = make_pair(h.dead_endpoint(), h.dead_endpoint(), edit)
    kam.start_relay("TCP", legacy_k.ep)
    c = h.tcp_connect(pair.a.legacy_listen)
    msg = h.request("OPTIONS", "sip:svc@k.test", h.LEGACY_VIA)
    c.send(msg)
    _, got = legacy_k.next()
    vias = got.all("via")
    assert len(vias) == 2
    assert vias[0].startswith(f"SIP/2.0/TCP {kam_tcp[0]}:{kam_tcp[1]};branch=")
    sent_by = pair.a.config["identity"]["sent_by"]
    branch = h.branch_of(h.SipMessage(msg))
    head, params = via_parts(vias[1])  # Kamailio added rport= and received=
    assert head == f"SIP/2.0/TLS {sent_by}"
    assert params["branch"] == branch
    assert "alias" in params and params["alias"] is None  # R-5923-01: bare flag
    answer = c.recv()
    assert answer.raw == h.response(h.SipMessage(msg))
    assert h.established(pair.a_ip, kam_tls) == 1
