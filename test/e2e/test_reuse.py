"""RFC 5923 server role of reusegw B, driven by a Python TLS peer that plays
gateway A from A's address (so the alias key, source IP + Via port, is A's)
with a chosen certificate and Via. A backward request from B's legacy proxy
towards a.test then shows which connection B picked: the peer's own (reuse)
or a new dial to a.test's route, which these tests leave unreachable so that
a dial ends in a 503. Gateway B exits 0 on SIGTERM at teardown."""
import socket
import ssl
import struct

import pytest

import reusegw_test as h


def test_alias_port_is_the_via_port_and_the_backward_request_reuses_it(make_pair, legacy, pki):
    """R-5923-17/-19/-04: the peer (gw-a: a.test) sends from an ephemeral
    port with Via a.test:<A's TLS port>;alias. B's request for a.test, which
    resolves to A's address and that port, goes down the peer's connection;
    the peer's 200 reaches B's legacy proxy with its Via restored."""
    legacy_b = legacy()
    pair = make_pair(h.dead_endpoint(), legacy_b.ep, with_a=False)
    peer = h.peer_as_a(pair, pki, "gw-a", f"a.test:{pair.a.tls[1]}")
    c, sent = h.backward_request(pair)
    req = peer.recv()
    assert req.first_line == "OPTIONS sip:svc@a.test SIP/2.0"
    b_sent_by = pair.b.config["identity"]["sent_by"]
    assert req.get("via").startswith(f"SIP/2.0/TLS {b_sent_by};branch=")
    assert ";alias" not in req.get("via"), "alias asked on a connection B did not open"
    peer.send(h.response(req))
    answer = c.recv()
    assert answer.status == 200
    assert answer.all("via") == sent.all("via")
    assert h.established(pair.b_ip, pair.a.tls) == 0


def test_alias_without_port_means_5061(make_pair, legacy, pki):
    """R-5923-17: no port in the sent-by is port 5061, never the source
    port: a.test routes to another port, so B does not reuse the peer's
    connection (the dial fails: 503) and the peer gets nothing."""
    legacy_b = legacy()
    pair = make_pair(h.dead_endpoint(), legacy_b.ep, with_a=False)
    peer = h.peer_as_a(pair, pki, "gw-a", "a.test")
    c, _ = h.backward_request(pair)
    assert c.recv().status == 503
    assert not peer.pending and not peer.closed_by_peer(timeout=0.5)


@pytest.mark.parametrize("leaf", ["gw-b", "dnsonly"])
def test_alias_is_not_used_for_a_domain_the_certificate_does_not_prove(make_pair, legacy, pki,
                                                                       leaf):
    """R-5923-20/-11/-09: the peer's certificate proves another identity
    (b.test; dns.test), so a request for a.test may not use its connection
    even though the address and Via port match."""
    legacy_b = legacy()
    pair = make_pair(h.dead_endpoint(), legacy_b.ep, with_a=False)
    peer = h.peer_as_a(pair, pki, leaf, f"a.test:{pair.a.tls[1]}")
    c, _ = h.backward_request(pair)
    assert c.recv().status == 503
    assert not peer.pending


def test_alias_from_a_peer_without_certificate_is_ignored_not_rejected(make_pair, legacy, pki):
    """R-5923-25/-15: client_certificate optional, a peer without one asks
    for an alias: its request is served (200), no alias is made (the
    backward request is not sent on its connection)."""
    legacy_b = legacy()

    def edit(name, cfg):
        if name == "b":
            cfg["tls"]["client_certificate"] = "optional"

    pair = make_pair(h.dead_endpoint(), legacy_b.ep, edit, with_a=False)
    peer = h.peer_as_a(pair, pki, None, f"a.test:{pair.a.tls[1]}")
    c, _ = h.backward_request(pair)
    assert c.recv().status == 503
    assert not peer.pending


def test_alias_declined_by_policy_is_served_normally(make_pair, legacy, pki):
    """R-5923-15: reuse.accept_alias false: the aliased request gets its 200
    and B's own request for a.test is not sent down the peer's connection."""
    legacy_b = legacy()

    def edit(name, cfg):
        if name == "b":
            cfg["reuse"]["accept_alias"] = False

    pair = make_pair(h.dead_endpoint(), legacy_b.ep, edit, with_a=False)
    peer = h.peer_as_a(pair, pki, "gw-a", f"a.test:{pair.a.tls[1]}")
    c, _ = h.backward_request(pair)
    assert c.recv().status == 503
    assert not peer.pending


def test_crlf_keepalive_gets_a_pong(make_pair, legacy, pki):
    """RFC 5626 §3.5.1 keepalive on the TLS side: a double-CRLF ping is
    answered with a single CRLF and does not reach the legacy proxy."""
    legacy_b = legacy()
    pair = make_pair(h.dead_endpoint(), legacy_b.ep, with_a=False)
    peer = h.tls_connect(pair.b.tls, h.tls_context(pki, "gw-a"), "b.test")
    peer.sock.sendall(b"\r\n\r\n")
    peer.sock.settimeout(h.IO_TIMEOUT)
    assert peer.sock.recv(16) == b"\r\n"
    assert legacy_b.received.empty()


def test_listener_keeps_accepting_while_aliases_exist(make_pair, legacy, pki):
    """R-5923-07: with an alias in place, B's listener still takes new
    connections and serves them."""
    legacy_b = legacy()
    pair = make_pair(h.dead_endpoint(), legacy_b.ep, with_a=False)
    h.peer_as_a(pair, pki, "gw-a", f"a.test:{pair.a.tls[1]}")
    other = h.tls_connect(pair.b.tls, h.tls_context(pki, "peer-k"), "b.test")
    other.send(h.request("OPTIONS", "sip:svc@b.test", "SIP/2.0/TLS k.test:5061"))
    assert other.recv().status == 200


def _backward_after_peer_left(make_pair, legacy, pki, leave):
    """The aliased peer leaves (leave(peer)); B's next request for a.test
    must not go to it but to a new connection to A's listener (A is a real
    reusegw here, in front of a LegacyServer)."""
    legacy_a, legacy_b = legacy(), legacy()
    pair = make_pair(legacy_a.ep, legacy_b.ep)
    peer = h.peer_as_a(pair, pki, "gw-a", f"a.test:{pair.a.tls[1]}")
    leave(peer)
    c, _ = h.backward_request(pair)
    answer = c.recv()
    assert answer.status == 200, answer.raw
    _, got = legacy_a.next()
    assert got.first_line == "OPTIONS sip:svc@a.test SIP/2.0"
    assert h.established(pair.b_ip, pair.a.tls) == 1


def test_aliased_connection_reset_then_new_connection(make_pair, legacy, pki):
    """R-5923-12/-16: the aliased connection is reset by the peer; the next
    backward request opens a new connection to the resolved address."""
    def reset(peer):
        peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.sock.close()
    _backward_after_peer_left(make_pair, legacy, pki, reset)


def test_aliases_die_with_the_peers_close_notify(make_pair, legacy, pki):
    """R-5923-23 (§8.3): after the peer's close_notify B starts no new
    transaction on that connection."""
    def close_notify(peer):
        peer.sock.settimeout(2)
        try:
            peer.sock = peer.sock.unwrap()  # sends close_notify
        except (OSError, ssl.SSLError):
            pass  # B may close without answering with its own alert
    _backward_after_peer_left(make_pair, legacy, pki, close_notify)


def test_one_connection_serves_every_domain_its_certificate_proves(make_pair, legacy, pki):
    """R-5923-09/-19/-20 with a virtual (multi-domain) peer: its certificate
    proves a.virt.test and b.virt.test, both routed to its address and Via
    port, so requests for both go down its one connection; c.virt.test,
    routed there too but not proven, does not (the dial fails: 503)."""
    legacy_b = legacy()

    def edit(name, cfg):
        if name == "b":
            a_test = next(r for r in cfg["routes"] if r["domain"] == "a.test")
            for d in ("a.virt.test", "b.virt.test", "c.virt.test"):
                cfg["routes"].append({"domain": d, "targets": list(a_test["targets"])})

    pair = make_pair(h.dead_endpoint(), legacy_b.ep, edit, with_a=False)
    peer = h.peer_as_a(pair, pki, "virtual", f"a.virt.test:{pair.a.tls[1]}")
    c = h.tcp_connect(pair.b.legacy_listen)
    for domain in ("a.virt.test", "b.virt.test"):
        c.send(h.request("OPTIONS", f"sip:svc@{domain}", h.LEGACY_VIA))
        req = peer.recv()
        assert req.first_line == f"OPTIONS sip:svc@{domain} SIP/2.0"
        peer.send(h.response(req))
        assert c.recv().status == 200
    c.send(h.request("OPTIONS", "sip:svc@c.virt.test", h.LEGACY_VIA))
    assert c.recv().status == 503
    assert not peer.pending


def test_connection_for_one_domain_is_not_used_for_another(make_pair, legacy):
    """R-5923-27/-11/-08, client role: A holds a connection to B opened for
    b.test; c.test also routes to B's address, but B's certificate does not
    prove c.test, so A neither sends it on that connection nor accepts a new
    one (503); B's legacy proxy only ever sees the b.test request."""
    legacy_b = legacy()

    def edit(name, cfg):
        if name == "a":
            b_test = next(r for r in cfg["routes"] if r["domain"] == "b.test")
            cfg["routes"].append({"domain": "c.test", "targets": list(b_test["targets"])})

    pair = make_pair(h.dead_endpoint(), legacy_b.ep, edit)
    c = h.tcp_connect(pair.a.legacy_listen)
    c.send(h.request("OPTIONS", "sip:svc@b.test", h.LEGACY_VIA))
    assert c.recv().status == 200
    c.send(h.request("OPTIONS", "sip:svc@c.test", h.LEGACY_VIA))
    assert c.recv().status == 503
    _, got = legacy_b.next()
    assert got.first_line == "OPTIONS sip:svc@b.test SIP/2.0"
    assert legacy_b.received.empty()
