"""legacy.transport: udp end to end (docs/design.md, "The legacy side over
UDP"): two reusegw processes (reusegw_test.Pair) with a UDP legacy side
each, one gateway pair shared by every case. sipp over UDP (-t u1) plays
the legacy proxies for whole calls both ways; where a case needs a proxy
that retransmits on command, sends what sipp cannot (an oversized request,
Vias with and without rport, a stray response) or must see every datagram,
a plain Python UDP socket stands in for it and says so.

What is proved: reusegw's own Via on top of requests to the legacy proxy
and removed from its responses, the legacy proxy's Via restored byte for
byte, one TLS connection between the gateways carrying both directions
(R-5923-04, R-5923-05), retransmissions absorbed (never crossing TLS
twice), 513 for a request too large for one datagram, RFC 3261 18.2.2 /
RFC 3581 reply addresses, and the datagram framing rules of RFC 3261 18.3."""
import socket
import struct
import threading
import time
import types

import pytest

import reusegw_test as h

UDP_VIA = "SIP/2.0/UDP 127.0.0.1"


def _udp_legacy(name, config):
    config["legacy"]["transport"] = "udp"


@pytest.fixture(scope="module")
def site(module_stage):
    """The pair, and the UDP endpoint each gateway forwards to (a sipp UAS
    or a Python socket binds it per case)."""
    fwd_a = ("127.0.0.1", h.free_udp_port())
    fwd_b = ("127.0.0.1", h.free_udp_port())
    pair = module_stage.pair(fwd_a, fwd_b, edit=_udp_legacy)
    pair.fwd_a, pair.fwd_b, pair.procs = fwd_a, fwd_b, module_stage.procs
    return pair


class UdpProxy:
    """A stand-in legacy proxy: one UDP socket (no SIP stack exists that
    retransmits on command and shows every datagram it gets)."""

    def __init__(self, ep=("127.0.0.1", 0)):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(ep)
        self.ep = self.sock.getsockname()

    def send(self, data, to):
        self.sock.sendto(data, to)

    def recv(self, timeout=h.IO_TIMEOUT):
        """(SipMessage, source) of the next datagram; AssertionError on
        timeout."""
        self.sock.settimeout(timeout)
        try:
            data, src = self.sock.recvfrom(70000)
        except socket.timeout:
            raise AssertionError(f"nothing arrived on {self.ep} within {timeout}s") from None
        return h.SipMessage(data), src

    def quiet(self, seconds=1.0):
        """True when nothing arrives for |seconds|."""
        self.sock.settimeout(seconds)
        try:
            self.sock.recvfrom(70000)
        except socket.timeout:
            return True
        return False

    def close(self):
        self.sock.close()


@pytest.fixture
def proxies(site):
    made = []

    def make(ep=("127.0.0.1", 0)):
        p = UdpProxy(ep)
        made.append(p)
        return p
    yield make
    for p in made:
        p.close()


def udp_request(proxy, method, ruri, branch, cseq=1, call_id=None, rport=True, sent_by=None,
                body=b"", headers=()):
    via = f"SIP/2.0/UDP {sent_by or h.hostport(proxy.ep)}"
    return h.request(method, ruri, via, branch=branch, call_id=call_id, cseq=cseq, body=body,
                     headers=headers, via_params=";rport" if rport else "")


def sipp(site, name, scenario, calls, dest, local, remote=None):
    s = h.Sipp(site.procs, name, scenario, local, remote, transport="u1",
               extra=["-m", str(calls), "-key", "dest", dest])
    if remote is None:
        h.wait_udp_bound(local, s.proc)
    return s


def calls(site, n, caller_gw, callee_fwd, dest, tag):
    """n whole calls from a sipp UAC (UDP) at caller_gw's legacy.listen to a
    sipp UAS on callee_fwd; returns the UAS once both succeeded."""
    uas = sipp(site, f"uas-{tag}", "invite_uas.xml", n, dest, callee_fwd)
    uac = sipp(site, f"uac-{tag}", "invite_uac.xml", n, dest, ("127.0.0.1", h.free_udp_port()),
               caller_gw.legacy_listen)
    assert uac.wait() == 0, uac.proc.log_text()
    assert uac.stat("Successful call") == n
    assert uas.wait() == 0
    return uas


def requests_of(received):
    return [m for m in received if not m.startswith("SIP/2.0 ")]


def test_sipp_calls_both_directions_over_one_tls_connection(site):
    """Whole calls (INVITE / 180 / 200 / ACK / BYE / 200) with sipp over UDP
    as both legacy proxies, A to B then B to A: every request reaches the
    callee once with reusegw's own UDP Via on top of the other gateway's TLS
    one, and both directions share one TLS connection (R-5923-04,
    R-5923-05)."""
    before_b = site.b.metrics()
    uas_b = calls(site, 3, site.a, site.fwd_b, "b.test", "a-to-b")
    reqs = requests_of(uas_b.received())
    methods = [m.split(" ", 1)[0] for m in reqs]  # calls overlap: count, not order
    assert sorted(methods) == sorted(["INVITE", "ACK", "BYE"] * 3)
    for m in reqs:
        vias = [ln for ln in m.splitlines() if ln.lower().startswith("via:")]
        assert vias[0].startswith(f"Via: SIP/2.0/UDP {site.b_ip}:"), vias
        assert ";branch=z9hG4bKrgw." in vias[0] and vias[0].endswith(";rport")
        assert vias[1].startswith(f"Via: SIP/2.0/TLS a.test:{site.a.tls[1]};branch=")
    after_b = site.b.metrics()
    # Each request crossed TLS once: what B sent its legacy proxy is what
    # the callee got.
    key = 'reusegw_messages_total{direction="to_legacy",kind="request"}'
    assert after_b[key] - before_b.get(key, 0) == len(reqs)
    assert site.tls_connections() == 1

    calls(site, 2, site.b, site.fwd_a, "a.test", "b-to-a")
    assert site.tls_connections() == 1, "B -> A reuses the connection A opened"
    m = site.a.metrics()
    assert m['reusegw_legacy_messages_total{transport="udp",direction="from_legacy"}'] > 0
    assert m['reusegw_legacy_messages_total{transport="udp",direction="to_legacy"}'] > 0
    assert m['reusegw_legacy_messages_total{transport="tcp",direction="to_legacy"}'] == 0


def test_retransmissions_absorbed_and_answered_with_the_last_response(site, proxies):
    """The legacy proxy A (a Python socket) sends an INVITE and retransmits
    it three times, once before any answer, once after the callee's 180,
    once after its 486, and ACKs the 486 twice: the callee side (legacy B,
    a Python socket) sees the INVITE and the ACK once each; A answers a 100
    of its own at once and each retransmission with the last response."""
    before = site.a.metric("reusegw_udp_retransmissions_absorbed_total")
    before_to_peer = site.a.metric('reusegw_messages_total{direction="to_peer",kind="request"}')
    ua = proxies()
    callee = proxies(site.fwd_b)
    branch = h.new_branch()
    invite = udp_request(ua, "INVITE", "sip:bob@b.test", branch, call_id=f"{branch}@rt")
    ua.send(invite, site.a.legacy_listen)
    trying, src = ua.recv()
    assert trying.status == 100, "reusegw answers an INVITE over UDP at once"
    assert src == site.a.legacy_listen
    got, from_b = callee.recv()
    assert got.first_line == "INVITE sip:bob@b.test SIP/2.0"
    ua.send(invite, site.a.legacy_listen)
    again, _ = ua.recv()
    assert again.status == 100
    callee.send(h.response(got, 180, "Ringing"), from_b)
    ringing, _ = ua.recv()
    assert ringing.status == 180
    # The proxy's own Via, byte for byte; reusegw's UDP Via and the TLS one
    # are gone.
    assert ringing.all("via") == [h.SipMessage(invite).get("via")]
    ua.send(invite, site.a.legacy_listen)
    again, _ = ua.recv()
    assert again.raw == ringing.raw
    callee.send(h.response(got, 486, "Busy Here"), from_b)
    busy, _ = ua.recv()
    assert busy.status == 486
    ack = udp_request(ua, "ACK", "sip:bob@b.test", branch, call_id=f"{branch}@rt")
    ua.send(ack, site.a.legacy_listen)
    got_ack, _ = callee.recv()
    assert got_ack.first_line.startswith("ACK ")
    ua.send(invite, site.a.legacy_listen)
    again, _ = ua.recv()
    assert again.raw == busy.raw
    ua.send(ack, site.a.legacy_listen)
    assert callee.quiet(1.0), "no retransmission crossed TLS"
    assert site.a.metric("reusegw_udp_retransmissions_absorbed_total") - before == 4
    after_to_peer = site.a.metric('reusegw_messages_total{direction="to_peer",kind="request"}')
    assert after_to_peer - before_to_peer == 2  # the INVITE and its ACK, once each


def test_request_too_large_for_a_datagram_gets_513(site, proxies):
    """A request that fits a datagram into A but not, with B's own Via on
    top, into one towards legacy proxy B (65,507 bytes) is answered 513
    over TLS and counted; legacy B gets nothing."""
    before = site.b.metric("reusegw_udp_513_sent_total")
    ua = proxies()
    callee = proxies(site.fwd_b)
    branch = h.new_branch()
    head = udp_request(ua, "MESSAGE", "sip:bob@b.test", branch, body=b"",
                       headers=["Content-Type: text/plain"])
    body = b"x" * (65480 - len(head) - 5)
    msg = udp_request(ua, "MESSAGE", "sip:bob@b.test", branch, body=body,
                      headers=["Content-Type: text/plain"])
    assert 65400 < len(msg) <= 65507
    ua.send(msg, site.a.legacy_listen)
    resp, _ = ua.recv()
    assert resp.status == 513
    assert site.b.metric("reusegw_udp_513_sent_total") - before == 1
    assert callee.quiet(0.5)


def test_request_over_the_header_index_gets_400_with_its_identity(site, proxies):
    """300 Via lines in one datagram (over the 256-line index) are answered
    400 "Too Many Headers" to the sender, with the From, To, Call-ID and
    CSeq that come after them and the Vias from the topmost (issue 20 item
    4); nothing crosses to B."""
    ua = proxies()
    callee = proxies(site.fwd_b)
    branch = h.new_branch()
    lines = udp_request(ua, "OPTIONS", "sip:bob@b.test", branch).split(b"\r\n")
    extra = [f"Via: SIP/2.0/UDP hop{i}.example.com;branch=z9hG4bK-hop{i}".encode()
             for i in range(299)]
    msg = b"\r\n".join(lines[:2] + extra + lines[2:])
    before = site.a.metric('reusegw_local_answers_total{reason="bad_request"}')
    ua.send(msg, site.a.legacy_listen)
    resp, _ = ua.recv()
    assert resp.first_line == "SIP/2.0 400 Bad Request (Too Many Headers)"
    assert resp.all("via")[0].endswith(f";branch={branch};rport"), resp.all("via")[0]
    assert resp.all("via")[1] == "SIP/2.0/UDP hop0.example.com;branch=z9hG4bK-hop0"
    assert resp.get("call-id") == f"{branch}@e2e"
    assert resp.get("cseq") == "1 OPTIONS"
    assert site.a.metric('reusegw_local_answers_total{reason="bad_request"}') - before == 1
    assert callee.quiet(0.5)


@pytest.fixture(scope="module")
def small(module_stage):
    """Gateway B alone with a UDP legacy side and limits.max_message_bytes
    4,096; its legacy proxy B is a UdpProxy on small.legacy_ep, bound per
    case; a Python TLS peer plays A where a case needs one."""
    ep = ("127.0.0.1", h.free_udp_port())
    single = module_stage.single(ep, lambda cfg: (
        _udp_legacy("b", cfg), cfg["limits"].update(max_message_bytes=4096)))
    single.legacy_ep = ep
    return single


def test_datagram_over_max_message_bytes_gets_513(small, proxies):
    """A request datagram over limits.max_message_bytes (here 4,096, below
    a datagram's 65,507) is answered 513 to its sender and counted, never
    relayed (RFC 3261 18.3, issue 20 item 4)."""
    callee = proxies(small.legacy_ep)
    ua = proxies()
    branch = h.new_branch()
    msg = udp_request(ua, "MESSAGE", "sip:bob@a.test", branch, body=b"x" * 5000,
                      headers=["Content-Type: text/plain"])
    before = small.gw.metric('reusegw_udp_dropped_total{reason="too_large"}')
    ua.send(msg, small.gw.legacy_listen)
    resp, _ = ua.recv()
    assert resp.first_line == "SIP/2.0 513 Message Too Large (Message Too Large)"
    assert f";branch={branch}" in resp.all("via")[0]
    assert resp.get("cseq") == "1 MESSAGE"
    assert small.gw.metric('reusegw_udp_dropped_total{reason="too_large"}') - before == 1
    assert callee.quiet(0.5)


def answer_one(proxy):
    """proxy answers the next request it gets with a 200."""
    msg, src = proxy.recv()
    proxy.send(h.response(msg), src)


def test_a_request_with_a_full_header_index_is_answered_when_its_connection_dies(small, pki,
                                                                                    proxies):
    """An INVITE of 256 header lines without Content-Length (the index
    holds 256) goes down A's aliased connection with one line more, the
    Content-Length reusegw adds; A resets the connection once it has the
    request: the legacy proxy gets a 503 at once (issue 20 item 5), from
    the headers of the copy reusegw kept, not after Timer B."""
    callee = proxies(small.legacy_ep)  # answers the OPTIONS that opens the alias
    answer = threading.Thread(target=answer_one, args=(callee,))
    answer.start()
    peer = h.peer_as_a(types.SimpleNamespace(b=small.gw, a_ip=small.a_ip), pki, "gw-a",
                       f"a.test:{small.a_tls[1]}")
    answer.join()
    ua = proxies()
    branch = h.new_branch()
    ua.send(full_index_invite(ua, branch), small.gw.legacy_listen)
    assert ua.recv()[0].status == 100
    got = peer.recv()
    assert (got.method, len(got.raw.split(b"\r\n\r\n")[0].split(b"\r\n")) - 1) == ("INVITE", 257)
    t0 = time.monotonic()
    peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.sock.close()
    resp, _ = ua.recv(timeout=5)
    assert time.monotonic() - t0 < 1.5, "answered at once, not by Timer B"
    assert resp.status == 503 and "reset by peer" in (resp.get("reason") or ""), resp.raw
    assert resp.get("call-id") == f"{branch}@e2e"
    assert resp.all("via")[0].endswith(f";branch={branch};rport")


def full_index_invite(ua, branch):
    """An INVITE of 256 header lines without Content-Length: the index
    holds it, and the copy reusegw sends (with the Content-Length it adds)
    is one line over."""
    msg = udp_request(ua, "INVITE", "sip:bob@a.test", branch, headers=["X: a"] * 250)
    msg = msg.replace(b"Content-Length: 0\r\n", b"")
    assert msg.count(b"\r\n") == 1 + 256 + 1
    return msg


def test_a_held_request_with_a_full_header_index_is_answered_when_its_dial_fails(small, proxies):
    """That INVITE for a.test with no connection to A: B holds it while it
    dials A's address, where nothing listens; the dial fails and the legacy
    proxy gets a 503 at once from what the held copy holds (issue 20 item
    5), its own Via on top, not silence until Timer B: the answer of a held
    request, naming why the dial failed, as any held request gets."""
    ua = proxies()
    branch = h.new_branch()
    ua.send(full_index_invite(ua, branch), small.gw.legacy_listen)
    assert ua.recv()[0].status == 100
    resp, _ = ua.recv(timeout=5)
    assert resp.status == 503, resp.raw
    assert resp.get("call-id") == f"{branch}@e2e" and resp.get("cseq") == "1 INVITE"
    assert resp.all("via")[0].endswith(f";branch={branch};rport")
    assert "TCP connect to the peer failed" in (resp.get("warning") or ""), resp.raw
    assert resp.get("reason") is None, "held, so never sent: no transport cause"
    assert ua.quiet(0.5), "one answer"


@pytest.fixture(scope="module")
def roomy(module_stage):
    """Gateway B alone with a UDP legacy side and room in its out queue
    (limits.max_buffered_bytes 32 MiB) for more than the kernel's socket
    buffers take on loopback, so that requests wait there."""
    ep = ("127.0.0.1", h.free_udp_port())
    single = module_stage.single(ep, lambda cfg: (
        _udp_legacy("b", cfg), cfg["limits"].update(max_buffered_bytes=32 << 20)))
    single.legacy_ep = ep
    return single


def test_a_queued_request_with_a_full_header_index_is_answered_when_its_connection_dies(
        roomy, pki, proxies):
    """A's aliased connection stops reading; 60 KB requests fill the
    kernel's buffers until B queues; then that INVITE, queued behind them,
    and A resets. What never left is routed again (here to a dial that
    fails, nothing listens on A's address): 503 for each. The INVITE's copy
    is one line over the header index, so routing could not parse it
    again: it is answered 503 at once instead (issue 20 item 5), never
    dropped."""
    gw = roomy.gw
    callee = proxies(roomy.legacy_ep)
    answer = threading.Thread(target=answer_one, args=(callee,))
    answer.start()
    peer = h.peer_as_a(types.SimpleNamespace(b=gw, a_ip=roomy.a_ip), pki, "gw-a",
                       f"a.test:{roomy.a_tls[1]}")
    answer.join()
    ua = proxies()
    to_peer = 'reusegw_messages_total{direction="to_peer",kind="request"}'
    before = gw.metric(to_peer)
    queued = 'reusegw_queued_bytes{queue="out"}'

    def taken(n):
        """Waits until B sent n more requests towards A than before."""
        deadline = time.monotonic() + 5
        while gw.metric(to_peer) - before < n:
            assert time.monotonic() < deadline, "B took every request for A"
            time.sleep(0.005)

    fillers = []
    # Until B's own queue holds a few requests: the kernel's buffers, which
    # grow while the peer's window lasts, are full.
    while gw.metric(queued) < 4 * 60000:
        assert len(fillers) < 600, "the kernel's buffers never filled"
        # Two at a time, each pair taken before the next: B's socket buffer
        # holds a few 60 KB datagrams, and a lost one would never reach A.
        for _ in range(2):
            fillers.append(h.new_branch())
            ua.send(udp_request(ua, "OPTIONS", "sip:svc@a.test", fillers[-1], body=b"x" * 60000,
                                headers=["Content-Type: text/plain"]), gw.legacy_listen)
        taken(len(fillers))
    branch = h.new_branch()
    invite = full_index_invite(ua, branch)
    ua.send(invite, gw.legacy_listen)
    assert ua.recv()[0].status == 100
    taken(len(fillers) + 1)
    # B's out queue still holds more than the INVITE, which is its tail:
    # the INVITE has not left.
    assert gw.metric(queued) > len(invite) + 1024
    t0 = time.monotonic()
    peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.sock.close()
    finals, when = [], {}
    while len(finals) < len(fillers) + 1:
        resp, _ = ua.recv(timeout=10)
        assert resp.status == 503, resp.raw
        finals.append(h.branch_of(resp))
        when[finals[-1]] = time.monotonic()
    assert sorted(finals) == sorted(fillers + [branch]), "one final answer per request"
    assert when[branch] - t0 < 1.5, "answered at once, not by Timer B"
    assert ua.quiet(0.5), "no answer twice"


def test_replies_follow_rport_else_source_address_and_sent_by_port(site, proxies):
    """RFC 3581: with rport the answer goes to the source address and port,
    whatever the sent-by says. RFC 3261 18.2.2 without rport: to the source
    address (the `received`) and the sent-by port."""
    ua = proxies()
    callee = proxies(site.fwd_b)
    other = proxies()
    branch = h.new_branch()
    ua.send(udp_request(ua, "OPTIONS", "sip:b.test", branch, sent_by="192.0.2.1:9"),
            site.a.legacy_listen)
    got, from_b = callee.recv()
    callee.send(h.response(got), from_b)
    resp, _ = ua.recv()
    assert resp.status == 200
    assert resp.get("via") == f"SIP/2.0/UDP 192.0.2.1:9;branch={branch};rport"

    branch = h.new_branch()
    ua.send(udp_request(ua, "OPTIONS", "sip:b.test", branch, rport=False,
                        sent_by=f"proxy-a.invalid:{other.ep[1]}"), site.a.legacy_listen)
    got, from_b = callee.recv()
    callee.send(h.response(got), from_b)
    resp, _ = other.recv()
    assert resp.status == 200
    assert resp.get("via") == f"SIP/2.0/UDP proxy-a.invalid:{other.ep[1]};branch={branch}"
    assert ua.quiet(0.3)


def test_datagram_framing_and_stray_responses(site, proxies):
    """RFC 3261 18.3: without Content-Length the body is the rest of the
    datagram (and reaches the TLS hop with one); a Content-Length larger
    than the datagram is answered 400 (a request; RFC 3261 18.3) or dropped
    (a response), and counted either way; a response whose top Via is not
    reusegw's is dropped and counted."""
    ua = proxies()
    callee = proxies(site.fwd_b)
    branch = h.new_branch()
    msg = udp_request(ua, "MESSAGE", "sip:bob@b.test", branch, body=b"hello",
                      headers=["Content-Type: text/plain"])
    no_cl = msg.replace(b"Content-Length: 5\r\n", b"")
    assert b"Content-Length" not in no_cl
    ua.send(no_cl, site.a.legacy_listen)
    got, from_b = callee.recv()
    assert got.body == b"hello"
    assert got.get("content-length") == "5"
    callee.send(h.response(got), from_b)
    assert ua.recv()[0].status == 200

    before = site.a.metric('reusegw_udp_dropped_total{reason="body_truncated"}')
    long_cl = msg.replace(b"Content-Length: 5\r\n", b"Content-Length: 50\r\n")
    short = h.new_branch()
    ua.send(long_cl.replace(branch.encode(), short.encode()), site.a.legacy_listen)
    resp, _ = ua.recv()
    assert resp.first_line == "SIP/2.0 400 Bad Request (Content-Length Exceeds Message)"
    assert resp.all("via")[0].startswith("SIP/2.0/UDP 127.0.0.1"), resp.all("via")
    assert f";branch={short}" in resp.all("via")[0]
    # Without rport, to the sent-by port like every answer (RFC 3261 18.2.2).
    other = proxies()
    no_rport = udp_request(ua, "MESSAGE", "sip:bob@b.test", h.new_branch(), rport=False,
                           sent_by=h.hostport(other.ep), body=b"hello",
                           headers=["Content-Type: text/plain"])
    ua.send(no_rport.replace(b"Content-Length: 5\r\n", b"Content-Length: 50\r\n"),
            site.a.legacy_listen)
    assert other.recv()[0].status == 400
    assert ua.quiet(0.3)
    assert callee.quiet(0.5)
    assert site.a.metric('reusegw_udp_dropped_total{reason="body_truncated"}') - before == 2
    # A response that is cut short is dropped, never answered.
    cut = h.response(h.SipMessage(msg)).replace(b"Content-Length: 0", b"Content-Length: 9")
    ua.send(cut, site.a.legacy_listen)
    assert ua.quiet(0.5) and callee.quiet(0.1)
    assert site.a.metric('reusegw_udp_dropped_total{reason="body_truncated"}') - before == 3

    before = site.a.metric('reusegw_dropped_messages_total{reason="udp_not_our_via"}')
    stray = h.response(h.SipMessage(udp_request(ua, "OPTIONS", "sip:a.test", h.new_branch())))
    ua.send(stray, site.a.legacy_listen)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and \
            site.a.metric('reusegw_dropped_messages_total{reason="udp_not_our_via"}') == before:
        time.sleep(0.05)
    assert site.a.metric('reusegw_dropped_messages_total{reason="udp_not_our_via"}') - before == 1
