"""RFC 5923 alias security: every hijack attempt of RFC5923.md section 7
(edge cases 1-11) against a running gateway B.

The victim is a.test: a real reusegw A (certificate gw-a) in front of its
own legacy stand-in, reached by B's static route. The attacker is a Python
TLS (or TCP) client that tries to make B send a.test's requests down its
own connection: from A's address, advertising A's port, with a certificate
for another domain, without one, with the alias in the wrong place, and so
on. Each test then has B's legacy proxy send a request for the victim's
domain and proves that it reached the victim (or, where no victim can exist,
was answered 503 by B) and that the attacker received nothing. Positive
controls show that the same setup does reuse a connection when the RFC
allows it, so a "nothing arrived" can only mean "not chosen"."""
import socket
import ssl

import pytest

import reusegw_test as h

QUIET = 1.5  # how long an attacker is watched for a request it must not get


def attack(pair, pki, leaf, vias, source_ip=None, server_name="b.test"):
    """A TLS connection to B from |source_ip| (default A's address) with
    |leaf|'s certificate (None: none) that sends one OPTIONS with the Via
    values |vias| (topmost first) and checks it was served (200): declining
    an alias never rejects the request (R-5923-15)."""
    peer = h.tls_connect(pair.b.tls, h.tls_context(pki, leaf), server_name,
                         source=(source_ip or pair.a_ip, 0))
    branch = h.new_branch()
    msg = h.request("OPTIONS", "sip:svc@b.test", "X", branch=branch)
    via_lines = "".join(f"Via: {v};branch={branch}{i}\r\n" for i, v in enumerate(vias)).encode()
    msg = msg.replace(f"Via: X;branch={branch}\r\n".encode(), via_lines, 1)
    peer.send(msg)
    reply = peer.recv()
    assert reply.status == 200, f"B answered {reply.first_line!r} to an aliased request"
    return peer


def reached_victim(pair, legacy_a, c, sent):
    """The backward request |sent| arrived at the victim's legacy proxy (via
    A) and its 200 came back to B's legacy proxy with the Via restored."""
    _, got = legacy_a.next()
    assert got.first_line == sent.first_line
    assert got.get("call-id") == sent.get("call-id")
    answer = c.recv()
    assert answer.status == 200 and answer.all("via") == sent.all("via")


def attacker_got_nothing(peer):
    alive = not peer.closed_by_peer(timeout=QUIET)
    assert not peer.pending, f"the attacker received {peer.pending!r}"
    return alive


def route_to_a_ip(cfg, domain, port):
    """In B's config |cfg|: |domain| routes to A's address, port |port|
    (replacing an existing route for it)."""
    a_ip = cfg["routes"][0]["targets"][0].rsplit(":", 1)[0]
    cfg["routes"] = [r for r in cfg["routes"] if r["domain"] != domain]
    cfg["routes"].append({"domain": domain, "targets": [f"{a_ip}:{port}"]})


@pytest.fixture
def victim(make_pair, legacy):
    """start(edit=None) -> (pair, legacy_a, legacy_b): A and B both running,
    A being the victim a.test."""
    def start(edit=None):
        legacy_a, legacy_b = legacy(), legacy()
        return make_pair(legacy_a.ep, legacy_b.ep, edit), legacy_a, legacy_b
    return start


def test_control_an_aliased_peer_with_the_victims_certificate_is_reused(victim, pki):
    """Positive control for every test below: a peer proving a.test, from
    A's address, advertising A's port gets B's request for a.test on its
    own connection (R-5923-17/-19/-20)."""
    pair, legacy_a, _ = victim()
    peer = attack(pair, pki, "gw-a", [f"SIP/2.0/TLS a.test:{pair.a.tls[1]};alias"])
    c, sent = h.backward_request(pair)
    req = peer.recv()
    assert req.get("call-id") == sent.get("call-id")
    peer.send(h.response(req))
    assert c.recv().status == 200
    assert legacy_a.received.empty()


@pytest.mark.parametrize("via", [
    "SIP/2.0/TLS a.test;rport={a_port};alias",
    "SIP/2.0/TLS a.test:5999;rport={a_port};received={a_ip};alias",
])
def test_1_alias_port_never_comes_from_rport(victim, pki, via):
    """Edge case 1 (R-5923-17): a peer that proves a.test but advertises A's
    port only in rport gets a row on port 5061 (no sent-by port) or 5999,
    never A's port: B's request for a.test goes to A."""
    pair, legacy_a, _ = victim()
    peer = attack(pair, pki, "gw-a", [via.format(a_port=pair.a.tls[1], a_ip=pair.a_ip)])
    c, sent = h.backward_request(pair)
    reached_victim(pair, legacy_a, c, sent)
    attacker_got_nothing(peer)


def test_1_alias_port_never_comes_from_the_source_port(make_pair, legacy, pki):
    """Edge case 1: the row port is the sent-by port, never the source port.
    The attacker (proving a.test) connects from port S and advertises 5999;
    a.test routes to A's address port S, where nothing listens: a gateway
    keying the row by source port would send the request to the attacker."""
    legacy_b = legacy()
    source_port = h.free_port()
    pair = make_pair(h.dead_endpoint(), legacy_b.ep,
                     lambda name, cfg: name == "b" and route_to_a_ip(cfg, "a.test", source_port),
                     with_a=False)
    peer = h.tls_connect(pair.b.tls, h.tls_context(pki, "gw-a"), "b.test",
                         source=(pair.a_ip, source_port))
    peer.send(h.request("OPTIONS", "sip:svc@b.test", "SIP/2.0/TLS a.test:5999;alias"))
    assert peer.recv().status == 200
    c, _ = h.backward_request(pair)
    assert c.recv().status == 503
    attacker_got_nothing(peer)


def test_2_tls_via_without_port_is_5061_not_5060(make_pair, legacy, pki):
    """Edge case 2 (R-5923-17): `a.test;alias` without a port is port 5061.
    a.test routes to A's address port 5060, where A (the victim) listens:
    a gateway defaulting to 5060 would hand the request to the attacker."""
    legacy_a, legacy_b = legacy(), legacy()

    def edit(name, cfg):
        host = cfg["tls"]["listen"][0].rsplit(":", 1)[0]
        if name == "a":
            cfg["tls"]["listen"] = [f"{host}:5060"]
            cfg["identity"]["sent_by"] = "a.test:5060"
        else:
            a_host = cfg["routes"][0]["targets"][0].rsplit(":", 1)[0]
            cfg["routes"][0]["targets"] = [f"{a_host}:5060"]

    pair = make_pair(legacy_a.ep, legacy_b.ep, edit)
    peer = attack(pair, pki, "gw-a", ["SIP/2.0/TLS a.test;alias"])
    c, sent = h.backward_request(pair)
    reached_victim(pair, legacy_a, c, sent)
    attacker_got_nothing(peer)


def test_3_certificate_for_another_domain_never_carries_the_victims_requests(victim, pki):
    """Edge case 3 (R-5923-09/-11/-20): the attacker holds a valid
    certificate for k.test, connects from A's address and advertises A's
    port: an address-only alias would hijack a.test."""
    pair, legacy_a, _ = victim()
    peer = attack(pair, pki, "peer-k", [f"SIP/2.0/TLS a.test:{pair.a.tls[1]};alias"])
    c, sent = h.backward_request(pair)
    reached_victim(pair, legacy_a, c, sent)
    attacker_got_nothing(peer)


# Edge case 4: which names a certificate proves. Each leaf aliases a port
# where nothing listens; B's request for each domain listed must not use it
# (503: the dial fails), while the positive domain is reused.
IDENTITY_CASES = [
    # (leaf, domains it must NOT carry, the domain it does prove or None)
    ("ipsan", ["ipsan.test"], None),                  # CN ignored: a SAN exists
    ("sipuri", ["other.test"], "sipuri.test"),        # dNSName ignored: sip URI exists
    ("sipsuser", ["sips.test", "user.test"], "fallback.test"),  # sips: and user@ ignored
    ("wildcard", ["x.wild.test"], None),              # no wildcard expansion
    ("gw-a", ["sub.a.test", "xa.test"], "a.test"),    # no suffix match
]


@pytest.mark.parametrize("leaf,denied,proved", IDENTITY_CASES,
                         ids=[c[0] for c in IDENTITY_CASES])
def test_4_only_rfc5922_identities_count(make_pair, legacy, pki, leaf, denied, proved):
    legacy_b = legacy()
    alias_port = h.free_port()

    def edit(name, cfg):
        for d in denied + ([proved] if proved else []):
            if name == "b":
                route_to_a_ip(cfg, d, alias_port)

    pair = make_pair(h.dead_endpoint(), legacy_b.ep, edit, with_a=False)
    peer = attack(pair, pki, leaf, [f"SIP/2.0/TLS {denied[0]}:{alias_port};alias"])
    for d in denied:
        c, _ = h.backward_request(pair, d)
        assert c.recv().status == 503, f"{leaf}: {d} was not refused"
        attacker_got_nothing(peer)
    if proved:
        c, sent = h.backward_request(pair, proved)
        req = peer.recv()
        assert req.get("call-id") == sent.get("call-id"), f"{leaf} does prove {proved}"
        peer.send(h.response(req))
        assert c.recv().status == 200


def test_5_alias_in_a_lower_via_is_ignored(victim, pki):
    """Edge case 5 (R-5923-01): `alias` only counts in the topmost Via; a
    lower one advertising A's port makes no row."""
    pair, legacy_a, _ = victim()
    peer = attack(pair, pki, "gw-a", ["SIP/2.0/TLS a.test:5999",
                                      f"SIP/2.0/TLS a.test:{pair.a.tls[1]};alias"])
    c, sent = h.backward_request(pair)
    reached_victim(pair, legacy_a, c, sent)
    attacker_got_nothing(peer)


def test_5_alias_is_not_duplicated_or_added_to_other_vias(victim):
    """Edge case 5: the legacy proxy's own Via already says `alias` and a
    lower Via does too: A's client-role rewrite leaves exactly one `alias`
    in the topmost Via and the lower Via untouched; B's legacy proxy sees
    the request with one alias in its top (A's) Via."""
    pair, _, legacy_b = victim()
    c = h.tcp_connect(pair.a.legacy_listen)
    branch = h.new_branch()
    msg = h.request("OPTIONS", "sip:svc@b.test", f"{h.LEGACY_VIA};alias", branch=branch,
                    headers=["Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-low"])
    # Move the extra Via right below the top one.
    msg = msg.replace(b"Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-low\r\n", b"")
    msg = msg.replace(b"Max-Forwards:", b"Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-low\r\n"
                      b"Max-Forwards:", 1)
    c.send(msg)
    _, got = legacy_b.next()
    vias = got.all("via")
    assert len(vias) == 2
    assert vias[0].lower().count(";alias") == 1, vias[0]
    assert vias[1] == "SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-low"
    assert c.recv().status == 200


def test_6_certless_peer_is_served_and_never_aliased(victim, pki):
    """Edge case 6 (R-5923-25/-15): client_certificate optional; a peer with
    no certificate, from A's address, advertising A's port, gets its 200
    and no alias: B's request for a.test goes to A."""
    def edit(name, cfg):
        if name == "b":
            cfg["tls"]["client_certificate"] = "optional"

    pair, legacy_a, _ = victim(edit)
    peer = attack(pair, pki, None, [f"SIP/2.0/TLS a.test:{pair.a.tls[1]};alias"])
    c, sent = h.backward_request(pair)
    reached_victim(pair, legacy_a, c, sent)
    assert attacker_got_nothing(peer), "a certless peer was disconnected for its alias"


def test_6_alias_with_tcp_transport_is_ignored(victim, pki):
    """Edge case 6 (R-5923-26): a Via saying TCP asks for an alias over a
    transport without identity; even on a verified TLS connection from a
    peer proving a.test, it makes no row."""
    pair, legacy_a, _ = victim()
    peer = attack(pair, pki, "gw-a", [f"SIP/2.0/TCP a.test:{pair.a.tls[1]};alias"])
    c, sent = h.backward_request(pair)
    reached_victim(pair, legacy_a, c, sent)
    attacker_got_nothing(peer)


def test_6_plain_tcp_on_the_legacy_side_makes_no_alias(victim):
    """Edge case 6: a plain TCP client on B's legacy side (any local
    process) sends a request whose Via asks for an alias on A's port; it is
    routed to A like any request, and B's next request for a.test still goes
    to A, never down the attacker's plain connection."""
    pair, legacy_a, _ = victim()
    rogue = h.tcp_connect(pair.b.legacy_listen)
    rogue.send(h.request("OPTIONS", "sip:svc@a.test",
                         f"SIP/2.0/TLS a.test:{pair.a.tls[1]};alias"))
    legacy_a.next()
    assert rogue.recv().status == 200
    c, sent = h.backward_request(pair)
    reached_victim(pair, legacy_a, c, sent)
    assert not rogue.pending and not rogue.closed_by_peer(timeout=QUIET) and not rogue.pending


def test_7_recycled_connection_slot_does_not_inherit_an_alias(victim, pki):
    """Edge case 7: a peer proving a.test aliases A's port, then resets;
    the attacker (k.test) connects at once from the same address — likely
    into the same slot and fd number — without asking for an alias. B's
    request for a.test goes to A, not to the recycled slot."""
    pair, legacy_a, _ = victim()
    real = attack(pair, pki, "gw-a", [f"SIP/2.0/TLS a.test:{pair.a.tls[1]};alias"])
    real.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    real.close()
    peer = attack(pair, pki, "peer-k", ["SIP/2.0/TLS k.test:5061"])
    c, sent = h.backward_request(pair)
    reached_victim(pair, legacy_a, c, sent)
    attacker_got_nothing(peer)


def test_8_rows_are_found_by_resolved_address_not_by_hostname(victim, pki):
    """Edge case 8 (R-5923-10/-19): a peer proving a.test but connecting
    from another address (NET.9) advertises A's port. a.test resolves to
    A's address, which is not that row's key: B dials A."""
    pair, legacy_a, _ = victim()
    other_ip = pair.a_ip.rsplit(".", 1)[0] + ".9"
    peer = attack(pair, pki, "gw-a", [f"SIP/2.0/TLS a.test:{pair.a.tls[1]};alias"],
                  source_ip=other_ip)
    c, sent = h.backward_request(pair)
    reached_victim(pair, legacy_a, c, sent)
    attacker_got_nothing(peer)


def test_9_cancel_follows_its_invite_not_a_newer_alias(victim, pki):
    """Edge case 9 (R-5923-13): B's INVITE for a.test goes to A on a new
    connection; then a second peer proving a.test aliases the same key. The
    CANCEL must follow the INVITE's connection (no re-resolution), so it
    reaches A's legacy proxy, not the newer row."""
    pair, legacy_a, _ = victim()
    legacy_a.answer = lambda m: (h.response(m, 180, "Ringing") if m.method == "INVITE"
                                 else h.response(m))
    c = h.tcp_connect(pair.b.legacy_listen)
    branch = h.new_branch()
    invite = h.request("INVITE", "sip:svc@a.test", h.LEGACY_VIA, branch=branch)
    c.send(invite)
    invite_leg, invite_at_a = legacy_a.next()
    assert invite_at_a.method == "INVITE"
    assert c.recv().status == 180
    peer = attack(pair, pki, "gw-a", [f"SIP/2.0/TLS a.test:{pair.a.tls[1]};alias"])
    cancel = h.request("CANCEL", "sip:svc@a.test", h.LEGACY_VIA, branch=branch,
                       call_id=h.SipMessage(invite).get("call-id"))
    c.send(cancel)
    _, got = legacy_a.next()
    assert got.method == "CANCEL"
    assert c.recv().status == 200
    invite_leg.send(h.response(invite_at_a, 487, "Request Terminated"))
    assert c.recv().status == 487
    attacker_got_nothing(peer)


def test_10_close_notify_ends_the_alias_and_the_listener_stays(victim, pki):
    """Edge case 10 (R-5923-07/-23): with an alias in place B keeps
    accepting; after the aliased peer's close_notify no new transaction goes
    to it: B's request for a.test reaches A."""
    pair, legacy_a, _ = victim()
    peer = attack(pair, pki, "gw-a", [f"SIP/2.0/TLS a.test:{pair.a.tls[1]};alias"])
    other = attack(pair, pki, "peer-k", ["SIP/2.0/TLS k.test:5061"])
    peer.sock.settimeout(5)
    try:
        peer.sock.unwrap()  # close_notify; the TCP connection stays up
    except (OSError, ssl.SSLError):
        pass
    c, sent = h.backward_request(pair)
    reached_victim(pair, legacy_a, c, sent)
    attacker_got_nothing(other)


def test_11_virtual_host_identity_does_not_cover_a_third_domain(make_pair, legacy, pki):
    """Edge case 11 (R-5923-20/-27): a peer proving a.virt.test and
    b.virt.test aliases one address and port; c.virt.test, hosted on the
    same address and port, may not use its connection (503: the dial
    fails), while b.virt.test does (positive control)."""
    legacy_b = legacy()
    alias_port = h.free_port()

    def edit(name, cfg):
        for d in ("b.virt.test", "c.virt.test"):
            if name == "b":
                route_to_a_ip(cfg, d, alias_port)

    pair = make_pair(h.dead_endpoint(), legacy_b.ep, edit, with_a=False)
    peer = attack(pair, pki, "virtual", [f"SIP/2.0/TLS a.virt.test:{alias_port};alias"])
    c, _ = h.backward_request(pair, "c.virt.test")
    assert c.recv().status == 503
    attacker_got_nothing(peer)
    c, sent = h.backward_request(pair, "b.virt.test")
    req = peer.recv()
    assert req.get("call-id") == sent.get("call-id")
    peer.send(h.response(req))
    assert c.recv().status == 200
