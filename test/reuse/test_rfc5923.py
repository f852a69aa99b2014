"""RFC 5923 connection reuse end to end, both roles, on loopback with real
reusegw processes (harness.Pair: A = a.test on NET.2, B = b.test on NET.3)
and, where a test needs to choose a certificate or a Via, a Python TLS peer
that plays A from A's address. Each test cites the R-5923 IDs it proves
(COVERAGE.md). Decisions are also checked in B's counters, printed in its
"reusegw stopped" line (gateway/relay/reuse_decision.h)."""
import os
import re
import socket
import ssl
import struct
import threading
import time

import harness as h
from test_reuse import backward_request, peer_as_a  # test/e2e/test_reuse.py


def counters(gw):
    """SIGTERMs gw (exit 0 required) and returns the counters of its stop line."""
    assert gw.stop() == 0, "reusegw must exit 0 on SIGTERM"
    m = re.search(r'msg="reusegw stopped"(.*)', gw.log())
    assert m, gw.log()
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}


def a_port(pair):
    return pair.a.tls[1]


def backward_dials_a(pair, legacy_a):
    """B's legacy proxy sends an OPTIONS for a.test: it must reach A's legacy
    proxy over a connection B dialled to A's listener (no reuse)."""
    c, _ = backward_request(pair)
    assert c.recv().status == 200
    _, got = legacy_a.next()
    assert got.first_line == "OPTIONS sip:svc@a.test SIP/2.0"
    assert h.established(pair.b_ip, pair.a.tls) == 1
    return c


def backward_reuses(pair, conn):
    """B's backward request for a.test arrives on conn; conn answers 200."""
    c, sent = backward_request(pair)
    req = conn.recv()
    assert req.first_line == "OPTIONS sip:svc@a.test SIP/2.0"
    conn.send(h.response(req))
    answer = c.recv()
    assert answer.status == 200 and answer.all("via") == sent.all("via")
    assert h.established(pair.b_ip, pair.a.tls) == 0
    return req


# ------------------------------------------------------------ server role

def test_certless_peer_alias_is_ignored_and_the_backward_request_dials_out(
        make_pair, legacy, pki):
    """R-5923-25/-15/-24: client_certificate optional, a peer without a
    certificate asks for an alias: it is served, no row is made, and B's
    request for a.test dials A instead of using the peer's connection."""
    legacy_a, legacy_b = legacy(), legacy()

    def edit(name, cfg):
        if name == "b":
            cfg["tls"]["client_certificate"] = "optional"

    pair = make_pair(legacy_a.ep, legacy_b.ep, edit)
    conn = peer_as_a(pair, pki, None, f"a.test:{a_port(pair)}")
    backward_dials_a(pair, legacy_a)
    assert not conn.pending and not conn.closed_by_peer(timeout=0.5)
    n = counters(pair.b)
    assert n["aliases_recorded"] == 0 and n["reuse_certless"] == 1
    assert n["reuse_no_row"] == 1 and n["reuse_reused"] == 0


def test_certificate_for_one_domain_cannot_attract_another_domains_requests(
        make_pair, legacy, pki):
    """R-5923-20/-27/-09/-11: a peer whose certificate proves b.test only
    (gw-b) connects from A's address and sends `;alias` with sent-by
    a.test:<A's port>. The row exists (the key matches), but B's request for
    a.test must not use it: it dials the real A."""
    legacy_a, legacy_b = legacy(), legacy()
    pair = make_pair(legacy_a.ep, legacy_b.ep)
    conn = peer_as_a(pair, pki, "gw-b", f"a.test:{a_port(pair)}")
    backward_dials_a(pair, legacy_a)
    assert not conn.pending
    n = counters(pair.b)
    assert n["aliases_recorded"] == 1
    assert n["reuse_identity_mismatch"] == 1 and n["reuse_reused"] == 0
    line = (f'msg="reuse decision" reason=identity_mismatch domain=a.test '
            f'address={pair.a_ip}:{a_port(pair)}')
    assert line in pair.b.log(), "no debug line for the decision"


def test_require_sent_by_identity_declines_a_sent_by_the_certificate_does_not_prove(
        make_pair, legacy, pki):
    """docs/design.md, reuse.require_sent_by_identity (stricter than RFC 5923,
    RFC5923.md §3.5): a peer proving a.test that names b.test in its sent-by
    is served but gets no row (the backward request dials a.test, which is
    down here: 503); naming a.test it gets one and is reused."""
    legacy_b = legacy()

    def edit(name, cfg):
        if name == "b":
            cfg["reuse"]["require_sent_by_identity"] = True

    pair = make_pair(h.dead_endpoint(), legacy_b.ep, edit, with_a=False)
    bad = peer_as_a(pair, pki, "gw-a", f"b.test:{a_port(pair)}")
    c, _ = backward_request(pair)
    assert c.recv().status == 503
    assert not bad.pending
    good = peer_as_a(pair, pki, "gw-a", f"a.test:{a_port(pair)}")
    c, _ = backward_request(pair)
    req = good.recv()
    good.send(h.response(req))
    assert c.recv().status == 200
    n = counters(pair.b)
    assert n["aliases_declined"] == 1 and n["aliases_recorded"] == 1
    assert n["reuse_no_row"] == 1 and n["reuse_reused"] == 1


def test_alias_in_a_lower_via_is_ignored(make_pair, legacy, pki):
    """docs/design.md server role, RFC 5923 §5 (edge case 5): only the topmost Via
    counts. The peer's topmost Via has no alias, the second one does: no
    row, the backward request dials A."""
    legacy_a, legacy_b = legacy(), legacy()
    pair = make_pair(legacy_a.ep, legacy_b.ep)
    peer_as_a(pair, pki, "gw-a", f"a.test:{a_port(pair)}", alias=False,
              extra_vias=[f"SIP/2.0/TLS a.test:{a_port(pair)};branch=z9hG4bK-lower;alias"])
    backward_dials_a(pair, legacy_a)
    n = counters(pair.b)
    assert n["aliases_recorded"] == 0 and n["reuse_no_row"] == 1


def test_alias_port_is_never_rport_or_the_source_port(make_pair, legacy, pki):
    """R-5923-17: the peer sends from source port P with `a.test;rport;alias`
    (no sent-by port) and a.test routes to A's address at port P. The row
    key is port 5061, so B does not reuse: it dials P (nothing listens
    there: 503), and the peer's connection carries nothing."""
    legacy_b = legacy()
    holder = {}

    def edit(name, cfg):
        if name == "b":
            a_ip = cfg["routes"][0]["targets"][0].rsplit(":", 1)[0]
            holder["port"] = h.free_port(a_ip)
            cfg["routes"][0]["targets"] = [f"{a_ip}:{holder['port']}"]

    pair = make_pair(h.dead_endpoint(), legacy_b.ep, edit, with_a=False)
    assert pair.b.config["routes"][0]["domain"] == "a.test"
    conn = peer_as_a(pair, pki, "gw-a", "a.test", rport=";rport",
                     source=(pair.a_ip, holder["port"]))
    c, _ = backward_request(pair)
    assert c.recv().status == 503
    assert not conn.pending
    n = counters(pair.b)
    assert n["aliases_recorded"] == 1 and n["reuse_no_row"] == 1 and n["reuse_reused"] == 0


def test_sent_by_port_with_an_rport_value_is_the_alias_port(make_pair, legacy, pki):
    """R-5923-17/-19: `a.test:<A's port>;rport=<source port>;alias`: the
    sent-by port wins, the backward request reuses the peer's connection."""
    legacy_b = legacy()
    pair = make_pair(h.dead_endpoint(), legacy_b.ep, with_a=False)
    src = h.free_port(pair.a_ip)
    conn = peer_as_a(pair, pki, "gw-a", f"a.test:{a_port(pair)}", rport=f";rport={src}",
                     source=(pair.a_ip, src))
    backward_reuses(pair, conn)
    n = counters(pair.b)
    assert n["reuse_reused"] == 1


def test_ipv6_alias_is_keyed_and_reused_like_ipv4(make_pair, legacy, pki):
    """R-5923-17/-19 over IPv6: B also listens on [::1]; a peer (gw-a)
    connects from ::1 with `a.test:<P>;alias`, and a.test routes to
    [::1]:<P>. The backward request travels on the peer's connection."""
    legacy_b = legacy()
    holder = {}

    def edit(name, cfg):
        if name == "b":
            holder["b6"] = h.free_port("::1")
            holder["p"] = h.free_port("::1")
            cfg["tls"]["listen"].append(f"[::1]:{holder['b6']}")
            cfg["routes"] = [{"domain": "a.test", "targets": [f"[::1]:{holder['p']}"]}]

    pair = make_pair(h.dead_endpoint(), legacy_b.ep, edit, with_a=False)
    conn = h.tls_connect(("::1", holder["b6"]), h.tls_context(pki, "gw-a"), "b.test",
                         source=("::1", 0))
    conn.send(h.request("OPTIONS", "sip:svc@b.test", f"SIP/2.0/TLS a.test:{holder['p']};alias"))
    assert conn.recv().status == 200
    backward_reuses(pair, conn)
    n = counters(pair.b)
    assert n["aliases_recorded"] == 1 and n["reuse_reused"] == 1
    assert f"address=[::1]:{holder['p']}" in pair.b.log()


def test_ip_literal_uri_never_reuses(make_pair, legacy, pki):
    """RFC5923.md §3.6, RFC 5922 §7.3: an IP-literal URI can match no
    certificate identity, so B never sends it down the aliased connection
    whose key is exactly that address (it answers 503 with a reason)."""
    legacy_b = legacy()
    pair = make_pair(h.dead_endpoint(), legacy_b.ep, with_a=False)
    conn = peer_as_a(pair, pki, "gw-a", f"a.test:{a_port(pair)}")
    c = h.tcp_connect(pair.b.legacy_listen)
    c.send(h.request("OPTIONS", f"sip:svc@{pair.a_ip}:{a_port(pair)}", h.LEGACY_VIA))
    answer = c.recv()
    assert answer.status == 503 and answer.get("warning"), answer.raw
    assert not conn.pending and not conn.closed_by_peer(timeout=0.5)
    assert counters(pair.b)["reuse_reused"] == 0


def test_newer_alias_replaces_the_older_row(make_pair, legacy, pki):
    """docs/design.md server role: two connections from A's address alias the same
    key; the backward request goes to the newer one only."""
    legacy_b = legacy()
    pair = make_pair(h.dead_endpoint(), legacy_b.ep, with_a=False)
    old = peer_as_a(pair, pki, "gw-a", f"a.test:{a_port(pair)}")
    new = peer_as_a(pair, pki, "gw-a", f"a.test:{a_port(pair)}")
    backward_reuses(pair, new)
    assert not old.pending and not old.closed_by_peer(timeout=0.5)
    n = counters(pair.b)
    assert n["aliases_recorded"] == 2 and n["reuse_row_replaced"] == 1
    assert n["reuse_reused"] == 1


def test_aliasing_off_is_counted_and_the_request_served(make_pair, legacy, pki):
    """R-5923-15: reuse.accept_alias false: the request is served, the
    decision counted as aliasing_off, the backward request dials A."""
    legacy_a, legacy_b = legacy(), legacy()

    def edit(name, cfg):
        if name == "b":
            cfg["reuse"]["accept_alias"] = False

    pair = make_pair(legacy_a.ep, legacy_b.ep, edit)
    peer_as_a(pair, pki, "gw-a", f"a.test:{a_port(pair)}")
    backward_dials_a(pair, legacy_a)
    n = counters(pair.b)
    assert n["reuse_aliasing_off"] == 1 and n["aliases_recorded"] == 0


def test_plain_tcp_alias_never_creates_a_row(make_pair, legacy):
    """R-5923-26, RFC5923.md §6 (proxy in front of a proxy), §7.5: `;alias`
    arriving over plain TCP (in the legacy proxy's own Via, on legacy.listen
    and on the mirror) is not an alias request to reusegw: no row on either
    gateway. On the TLS hop the flag is reusegw's decision alone: exactly one
    on the connection A opened, none on the connection B did not open."""
    legacy_a, legacy_b = legacy(), legacy()
    pair = make_pair(legacy_a.ep, legacy_b.ep)
    e = h.tcp_connect(pair.a.legacy_listen)
    e.send(h.request("OPTIONS", "sip:svc@b.test", h.LEGACY_VIA + ";alias"))
    assert e.recv().status == 200
    mirror, got = legacy_b.next()
    assert got.get("via").count(";alias") == 1, got.get("via")
    # B's legacy proxy sends a request back on its mirror connection, with
    # ;alias in its own Via: B must neither alias nor pass the flag on.
    mirror.sendall(h.request("OPTIONS", "sip:svc@a.test", "SIP/2.0/TCP 127.0.0.1:5060;alias"))
    _, back = legacy_a.next()
    assert back.first_line == "OPTIONS sip:svc@a.test SIP/2.0"
    assert back.get("via").count(";alias") == 0, back.get("via")
    _, answer = legacy_b.next()  # the 200 comes back on the mirror
    assert answer.status == 200
    nb, na = counters(pair.b), counters(pair.a)
    # B's one row is from A's TLS request (A opened that connection); the
    # plain TCP flags made none, on either side.
    assert na["aliases_recorded"] == 0 and nb["aliases_recorded"] == 1


def test_request_alias_off_sends_no_alias_even_when_the_legacy_proxy_wrote_one(
        make_pair, legacy):
    """docs/design.md client role, R-5923-26: with reuse.request_alias false, A's
    requests carry no ;alias, not even the legacy proxy's own; B makes no
    row, so B's request for a.test dials A's listener."""
    legacy_a, legacy_b = legacy(), legacy()

    def edit(name, cfg):
        if name == "a":
            cfg["reuse"]["request_alias"] = False

    pair = make_pair(legacy_a.ep, legacy_b.ep, edit)
    e = h.tcp_connect(pair.a.legacy_listen)
    e.send(h.request("OPTIONS", "sip:svc@b.test", h.LEGACY_VIA + ";alias"))
    assert e.recv().status == 200
    _, got = legacy_b.next()
    assert ";alias" not in got.get("via"), got.get("via")
    backward_dials_a(pair, legacy_a)
    n = counters(pair.b)
    assert n["aliases_recorded"] == 0 and n["reuse_no_row"] == 1


# ------------------------------------------------------------ lifetime

def test_row_dies_with_our_close_notify_and_records_after_it_are_dropped(
        make_pair, legacy, pki):
    """R-5923-22/-14: B closes an idle aliased connection (idle_timeout 1s)
    with close_notify; a request the peer sends afterwards is not
    processed, and B's next request for a.test dials A."""
    legacy_a, legacy_b = legacy(), legacy()

    def edit(name, cfg):
        if name == "b":
            cfg["reuse"]["idle_timeout"] = "1s"

    pair = make_pair(legacy_a.ep, legacy_b.ep, edit)
    conn = peer_as_a(pair, pki, "gw-a", f"a.test:{a_port(pair)}")
    legacy_b.next()  # the aliased OPTIONS itself
    conn.sock.settimeout(h.IO_TIMEOUT)
    assert conn.sock.recv(1) == b"", "no close_notify from B after the idle timeout"
    try:
        conn.send(h.request("OPTIONS", "sip:late@b.test", f"SIP/2.0/TLS a.test:{a_port(pair)}"))
    except (OSError, ssl.SSLError):
        pass  # B may already have closed the socket
    backward_dials_a(pair, legacy_a)
    while not legacy_b.received.empty():
        _, m = legacy_b.received.get()
        assert "late@" not in m.first_line, "B processed a record after its close_notify"
    n = counters(pair.b)
    assert n["reuse_no_row"] == 1 and n["reuse_reused"] == 0


def test_dead_alias_is_replaced_by_a_fresh_dial_that_is_then_reused(make_pair, legacy, pki):
    """R-5923-12/-16: the aliased connection is reset; B's next request for
    a.test dials A and indexes the new connection, which the request after
    it reuses (still one connection B->A, one handshake)."""
    legacy_a, legacy_b = legacy(), legacy()
    pair = make_pair(legacy_a.ep, legacy_b.ep)
    conn = peer_as_a(pair, pki, "gw-a", f"a.test:{a_port(pair)}")
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.sock.close()
    c = backward_dials_a(pair, legacy_a)
    c.send(h.request("OPTIONS", "sip:svc@a.test", h.LEGACY_VIA))
    assert c.recv().status == 200
    legacy_a.next()
    assert h.established(pair.b_ip, pair.a.tls) == 1
    n = counters(pair.b)
    assert n["reuse_no_row"] == 1 and n["reuse_reused"] == 1


def test_row_dies_with_a_tls_error(make_pair, legacy, pki):
    """docs/design.md closing: a TLS record that does not decrypt ends the aliased
    connection at B and its alias with it; B's next request for a.test dials
    A instead of writing to a dead row."""
    legacy_a, legacy_b = legacy(), legacy()
    pair = make_pair(legacy_a.ep, legacy_b.ep)
    conn = peer_as_a(pair, pki, "gw-a", f"a.test:{a_port(pair)}")
    os.write(conn.sock.fileno(), b"\x17\x03\x03\x00\x20" + b"\x00" * 32)  # bad MAC
    assert conn.closed_by_peer(), "B kept a connection whose record failed"
    backward_dials_a(pair, legacy_a)
    n = counters(pair.b)
    assert n["aliases_recorded"] == 1 and n["reuse_no_row"] == 1 and n["reuse_reused"] == 0


# ------------------------------------------------------------ client role

def _a_to_b(pair, method="OPTIONS", branch=None, egress=None):
    c = egress or h.tcp_connect(pair.a.legacy_listen)
    c.send(h.request(method, "sip:svc@b.test", h.LEGACY_VIA, branch=branch))
    return c


def test_connection_kept_after_bye_within_the_idle_window(make_pair, legacy):
    """R-5923-02/-05/-14: INVITE/200/ACK/BYE/200 from A's legacy proxy to
    B's; two seconds later the A->B connection is still up and the next
    request uses it (no second connection, no second handshake)."""
    legacy_a, legacy_b = legacy(), legacy()
    pair = make_pair(legacy_a.ep, legacy_b.ep)
    e = h.tcp_connect(pair.a.legacy_listen)
    invite = h.request("INVITE", "sip:svc@b.test", h.LEGACY_VIA)
    e.send(invite)
    assert e.recv().status == 200
    call_id = h.SipMessage(invite).get("call-id")
    e.send(h.request("ACK", "sip:svc@b.test", h.LEGACY_VIA, call_id=call_id))
    e.send(h.request("BYE", "sip:svc@b.test", h.LEGACY_VIA, call_id=call_id, cseq=2))
    assert e.recv().status == 200
    time.sleep(2)  # the property under test: nothing closes in the idle window
    assert pair.tls_connections() == 1
    e.send(h.request("OPTIONS", "sip:svc@b.test", h.LEGACY_VIA))
    assert e.recv().status == 200
    assert pair.tls_connections() == 1
    n = counters(pair.a)
    assert n["reuse_no_row"] == 1 and n["reuse_reused"] == 3  # ACK, BYE, OPTIONS


def test_peer_close_notify_then_next_request_dials_again(make_pair, legacy):
    """R-5923-12/-23: B closes the idle A->B connection with close_notify
    (idle_timeout 1s); A starts no new transaction on it and dials B anew
    for the next request, indexing the new connection."""
    legacy_a, legacy_b = legacy(), legacy()

    def edit(name, cfg):
        if name == "b":
            cfg["reuse"]["idle_timeout"] = "1s"

    pair = make_pair(legacy_a.ep, legacy_b.ep, edit)
    e = _a_to_b(pair)
    assert e.recv().status == 200
    assert h.wait_until(lambda: pair.tls_connections() == 0), "B did not close when idle"
    _a_to_b(pair, egress=e)
    assert e.recv().status == 200
    assert pair.tls_connections() == 1
    n = counters(pair.a)
    assert n["reuse_no_row"] == 2 and n["reuse_reused"] == 0


def edit_a_drain(edit):
    """edit, plus a short drain on A: the INVITE these tests leave open must
    not hold A's SIGTERM for the default 20 s."""
    def both(name, cfg):
        edit(name, cfg)
        if name == "a":
            cfg["runtime"]["drain_timeout"] = "1s"
    return both


def test_cancel_follows_its_invite_over_a_new_connection_when_the_first_died(
        make_pair, legacy):
    """R-5923-13: A's INVITE went to B; B closes that connection (idle 1s,
    INVITE unanswered by B's silent legacy proxy). A's CANCEL for it is not
    lost: it travels over a new connection to the same address and reaches
    B's legacy proxy."""
    legacy_a = legacy()
    legacy_b = legacy(answer=lambda m: None)  # never answers: INVITE stays open

    def edit(name, cfg):
        if name == "b":
            cfg["reuse"]["idle_timeout"] = "1s"

    pair = make_pair(legacy_a.ep, legacy_b.ep, edit_a_drain(edit))
    branch = h.new_branch()
    e = _a_to_b(pair, "INVITE", branch)
    _, inv = legacy_b.next()
    assert inv.method == "INVITE"
    assert h.wait_until(lambda: pair.tls_connections() == 0), "B did not close when idle"
    _a_to_b(pair, "CANCEL", branch, egress=e)
    _, cancel = legacy_b.next()
    assert cancel.method == "CANCEL" and h.branch_of(cancel) == h.branch_of(inv)
    assert pair.tls_connections() == 1
    n = counters(pair.a)
    assert n["reuse_connection_gone"] == 1 and n["reuse_no_row"] == 2


def test_non_2xx_ack_follows_its_invite_over_a_new_connection_when_the_first_died(
        make_pair, legacy):
    """R-5923-13: B's legacy proxy rejects A's INVITE with 486; B then
    closes the idle connection. The ACK for the 486 (same branch) still
    reaches B's legacy proxy, over a new connection to the same address."""
    legacy_a = legacy()
    legacy_b = legacy(answer=lambda m: h.response(m, 486, "Busy Here")
                      if m.method == "INVITE" else None)

    def edit(name, cfg):
        if name == "b":
            cfg["reuse"]["idle_timeout"] = "1s"

    pair = make_pair(legacy_a.ep, legacy_b.ep, edit)
    branch = h.new_branch()
    e = _a_to_b(pair, "INVITE", branch)
    assert e.recv().status == 486
    _, inv = legacy_b.next()
    assert h.wait_until(lambda: pair.tls_connections() == 0), "B did not close when idle"
    _a_to_b(pair, "ACK", branch, egress=e)
    _, ack = legacy_b.next()
    assert ack.method == "ACK" and h.branch_of(ack) == h.branch_of(inv)
    assert pair.tls_connections() == 1
    n = counters(pair.a)
    assert n["reuse_connection_gone"] == 1


# ------------------------------------------------------------ virtual servers

class SniServer:
    """One TLS address hosting two domains: the certificate presented is
    chosen by SNI (gw-a for a.test, gw-b for b.test), a client certificate
    is required, every message is recorded and every request answered 200. A Python stand-in for a multi-domain peer, which no
    packaged SIP server on this machine can play with per-SNI certificates."""

    def __init__(self, pki, ip, port=0):
        self.contexts = {}
        for leaf, domain in (("gw-a", "a.test"), ("gw-b", "b.test")):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(pki / f"{leaf}.chain.pem"), str(pki / f"{leaf}.key"))
            ctx.load_verify_locations(str(pki / "ca.pem"))
            ctx.verify_mode = ssl.CERT_REQUIRED
            self.contexts[domain] = ctx
        default = self.contexts["a.test"]
        default.sni_callback = self._sni
        self.ctx = default
        self.sni = []
        self.received = []
        self.listener = socket.create_server((ip, port))
        self.ep = self.listener.getsockname()
        threading.Thread(target=self._accept, daemon=True).start()

    def _sni(self, sslobj, name, _ctx):
        self.sni.append(name)
        if name in self.contexts:
            sslobj.context = self.contexts[name]

    def _accept(self):
        while True:
            try:
                s, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(s,), daemon=True).start()

    def _serve(self, s):
        try:
            conn = h.SipConnection(self.ctx.wrap_socket(s, server_side=True))
            while True:
                m = conn.recv(timeout=60)
                self.received.append(m)
                if m.is_request and m.method != "ACK":
                    conn.send(h.response(m))
        except (AssertionError, OSError, ssl.SSLError):
            return

    def close(self):
        self.listener.close()


def test_one_address_hosting_two_domains_gets_one_connection_per_domain(
        make_pair, legacy, pki):
    """R-5923-27/-09/-11: a.test and b.test both resolve to one address
    (SniServer). A request for a.test opens a connection proving a.test;
    one for b.test may not use it (identity mismatch) and opens a second;
    later requests for each domain reuse their own."""
    legacy_b = legacy()
    holder = {}

    def edit(name, cfg):
        if name == "b":
            ip = cfg["tls"]["listen"][0].rsplit(":", 1)[0].rsplit(".", 1)[0] + ".7"
            holder["srv"] = SniServer(pki, ip)
            ep = h.hostport(holder["srv"].ep)
            cfg["routes"] = [{"domain": "a.test", "targets": [ep]},
                             {"domain": "b.test", "targets": [ep]}]

    pair = make_pair(h.dead_endpoint(), legacy_b.ep, edit, with_a=False)
    srv = holder["srv"]
    try:
        e = h.tcp_connect(pair.b.legacy_listen)
        for domain in ("a.test", "b.test", "a.test", "b.test"):
            e.send(h.request("OPTIONS", f"sip:svc@{domain}", h.LEGACY_VIA))
            assert e.recv().status == 200, domain
        assert srv.sni == ["a.test", "b.test"]
        assert h.established(pair.b_ip, srv.ep) == 2
        n = counters(pair.b)
        assert n["reuse_no_row"] == 1 and n["reuse_identity_mismatch"] == 1
        assert n["reuse_reused"] == 2
    finally:
        srv.close()


def test_one_certificate_proving_two_domains_serves_both(make_pair, legacy, pki):
    """R-5923-27 (the allowed side), R-5923-05: a peer whose certificate
    (`virtual`) proves a.virt.test and b.virt.test aliases its connection;
    B's requests for both domains use it."""
    legacy_b = legacy()

    def edit(name, cfg):
        if name == "b":
            a = cfg["routes"][0]["targets"]
            cfg["routes"] = [{"domain": "a.virt.test", "targets": a},
                             {"domain": "b.virt.test", "targets": a}]

    pair = make_pair(h.dead_endpoint(), legacy_b.ep, edit, with_a=False)
    conn = peer_as_a(pair, pki, "virtual", f"a.virt.test:{a_port(pair)}")
    c = h.tcp_connect(pair.b.legacy_listen)
    for domain in ("a.virt.test", "b.virt.test"):
        c.send(h.request("OPTIONS", f"sip:svc@{domain}", h.LEGACY_VIA))
        req = conn.recv()
        assert req.first_line == f"OPTIONS sip:svc@{domain} SIP/2.0"
        conn.send(h.response(req))
        assert c.recv().status == 200
    assert h.established(pair.b_ip, pair.a.tls) == 0
    assert counters(pair.b)["reuse_reused"] == 2


def test_cancel_goes_where_its_invite_went_not_to_a_failover_alternative(
        make_pair, legacy, pki):
    """R-5923-13, RFC5923.md §7 edge case 9: A routes b.test to [X, B]. X is
    down when the INVITE leaves, so it fails over to B, whose legacy proxy
    answers 180. B then closes the idle connection. By the time the CANCEL
    comes, X is up and proves b.test too; the CANCEL must still go to B,
    the address its INVITE went to, over a new connection."""
    legacy_a = legacy()
    legacy_b = legacy(answer=lambda m: h.response(m, 180, "Ringing")
                      if m.method == "INVITE" else None)
    holder = {}

    def edit(name, cfg):
        if name == "a":
            net = cfg["tls"]["listen"][0].rsplit(".", 1)[0]
            holder["x"] = (f"{net}.8", h.free_port(f"{net}.8"))
            route = [r for r in cfg["routes"] if r["domain"] == "b.test"][0]
            route["targets"] = [h.hostport(holder["x"])] + route["targets"]
        if name == "b":
            cfg["reuse"]["idle_timeout"] = "1s"

    pair = make_pair(legacy_a.ep, legacy_b.ep, edit_a_drain(edit))
    branch = h.new_branch()
    e = _a_to_b(pair, "INVITE", branch)
    assert e.recv().status == 180
    _, inv = legacy_b.next()
    assert h.wait_until(lambda: pair.tls_connections() == 0), "B did not close when idle"
    x = SniServer(pki, *holder["x"])
    try:
        _a_to_b(pair, "CANCEL", branch, egress=e)
        _, cancel = legacy_b.next()
        assert cancel.method == "CANCEL" and h.branch_of(cancel) == h.branch_of(inv)
        assert not x.received and not x.sni, "the CANCEL went to a failover alternative"
    finally:
        x.close()
    n = counters(pair.a)
    assert n["reuse_connection_gone"] == 1
