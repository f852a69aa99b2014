"""Issue 20 item 5: a transaction reusegw holds on a connection that dies is
answered at once, never left to the other side's timer (RFC 3261 §8.1.3.1,
§17.1.4: a transport error is a 503).

One gateway B (Single) for the module. The peer is a Python TLS peer
playing gateway A: it connects from A's address with an `;alias`
(h.peer_as_a), so that B's legacy proxy's requests for a.test go back down
that connection, or it accepts on A's address (a.test's route) when B dials.
It receives B's backward request, then hangs up without answering — FIN,
close_notify or reset — and the legacy side (the test, on B's
legacy.listen) must get a 503 with a Reason header (RFC 3326) naming the
cause within about a second, far below Timer F (32 s). A CANCEL in flight
gets 200, its INVITE 503, and the ACK for that 503 goes nowhere. Requests
still queued in B when the connection dies (a peer that stops reading, then
resets) never left: they are routed again on a fresh connection and
answered there. A response racing the close is never lost nor doubled.

Python plays the peer because the test must script its hang-up at a point
of the transaction no SIP peer here can be told to stop at; the legacy
proxy is the harness's stand-in (LegacyServer) for the same reason."""
import queue
import socket
import ssl
import struct
import threading
import time
import types

import pytest

import reusegw_test as h

ANSWERED = 'reusegw_transactions_answered_on_close_total{cause="%s"}'
REROUTED = "reusegw_transactions_rerouted_total"
TO_PEER = 'reusegw_messages_total{direction="to_peer",kind="request"}'
FAST = 1.5  # seconds: "at once", against Timer F's 32
HELD = "held-"  # Call-ID prefix of the peers' requests the legacy stand-in leaves unanswered


class Site:
    """B, its legacy stand-in, a listener on A's address (a.test's route)
    whose accepted sockets wait in a queue, and the TLS contexts of A."""

    def __init__(self, stage, pki):
        self.legacy = stage.legacy(answer=lambda m: None if (m.get("call-id") or "").startswith(
            HELD) else h.response(m))
        # Room in B's out queue for more than the kernel's socket buffers
        # take on loopback (a few MB), so that requests wait there.
        self.single = stage.single(self.legacy.ep, edit=lambda cfg: cfg["limits"].update(
            max_buffered_bytes=8 * 1024 * 1024))
        self.gw = self.single.gw
        self.pki = pki
        self.server_ctx = h.tls_server_context(pki, "gw-a")
        listener = socket.create_server(self.single.a_tls)
        # A window of a few KiB: a peer that stops reading fills at once.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.accepted = queue.Queue()
        self.acceptor = h.Acceptor(listener, self.accepted.put)
        stage.conns.append(self.acceptor)  # closed with the stage

    def aliased_peer(self):
        """A's TLS connection to B, aliased (R-5923: B reuses it for
        requests to a.test)."""
        pair = types.SimpleNamespace(b=self.gw, a_ip=self.single.a_ip)
        return h.peer_as_a(pair, self.pki, "gw-a", f"a.test:{self.single.a_tls[1]}")

    def accept(self, timeout=h.IO_TIMEOUT):
        """The next connection B dialled to A's address, handshake done."""
        s = self.accepted.get(timeout=timeout)
        s.settimeout(h.IO_TIMEOUT)
        return h.SipConnection(self.server_ctx.wrap_socket(s, server_side=True))

    def egress(self):
        return h.tcp_connect(self.gw.legacy_listen)

    def metric(self, series):
        return self.gw.metric(series)


@pytest.fixture(scope="module")
def site(module_stage, pki):
    return Site(module_stage, pki)


def hang_up(conn, how):
    """Ends the peer's side of conn: "fin" (TCP close, no close_notify),
    "close_notify" (TLS close_notify, then FIN) or "reset" (RST)."""
    if how == "reset":
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    elif how == "close_notify":
        try:
            conn.sock = conn.sock.unwrap()
        except (OSError, ssl.SSLError):
            pass
    conn.sock.close()


def answers(egress, n, timeout):
    """The next n messages on the legacy side, with when each came."""
    out, deadline = [], time.monotonic() + timeout
    while len(out) < n:
        m = egress.recv(timeout=max(0.01, deadline - time.monotonic()))
        out.append((time.monotonic(), m))
    return out


def assert_cause(msg, status, text):
    reason = msg.get("reason") or ""
    assert msg.status == status, msg.raw
    assert f"cause={status}" in reason and text in reason, msg.raw


@pytest.mark.parametrize("how,cause,text", [
    ("fin", "peer_closed", "closed by peer"),
    ("close_notify", "peer_closed", "closed by peer"),
    ("reset", "peer_reset", "reset by peer"),
])
def test_peer_hangs_up_after_receiving_the_request(site, how, cause, text):
    """The peer reads B's backward request and hangs up: the legacy side
    gets a 503 with its own Via back and a Reason naming the cause at once."""
    peer = site.aliased_peer()
    egress = site.egress()
    before = site.metric(ANSWERED % cause)
    branch = h.new_branch()
    req = h.legacy_request("OPTIONS", "sip:svc@a.test", branch)
    egress.send(req)
    got = peer.recv()
    assert (got.method, h.branch_of(got)) == ("OPTIONS", branch)
    t0 = time.monotonic()
    hang_up(peer, how)
    [(at, ans)] = answers(egress, 1, 5)
    assert at - t0 < FAST, f"answered after {at - t0:.2f} s"
    assert_cause(ans, 503, text)
    assert ans.all("via") == h.SipMessage(req).all("via"), "the legacy proxy's Via, restored"
    assert ans.get("call-id") == h.SipMessage(req).get("call-id")
    assert site.metric(ANSWERED % cause) == before + 1
    egress.close()


def test_invite_and_its_cancel_on_a_connection_that_resets(site):
    """INVITE (100 Trying from the peer), then its CANCEL, then a reset:
    the CANCEL gets 200 and the INVITE 503 (RFC 3261 §9.2, §16.10), and the
    ACK of that 503 is absorbed by B (it sent the 503). A later CANCEL of
    the INVITE still follows it to the same address over a new connection
    (R-5923-13): the peer may still be ringing."""
    peer = site.aliased_peer()
    egress = site.egress()
    branch = h.new_branch()
    call_id = f"{branch}@e2e"
    ruri = "sip:callee@a.test"
    egress.send(h.legacy_request("INVITE", ruri, branch, call_id=call_id))
    invite = peer.recv()
    peer.send(h.response(invite, 100, "Trying"))
    assert egress.recv().status == 100
    egress.send(h.legacy_request("CANCEL", ruri, branch, call_id=call_id))
    assert peer.recv().method == "CANCEL"
    dropped = site.metric('reusegw_dropped_messages_total{reason="peer_gone"}')
    hang_up(peer, "reset")
    got = {m.get("cseq").split()[1]: m for _, m in answers(egress, 2, 5)}
    assert got["CANCEL"].status == 200, got["CANCEL"].raw
    assert_cause(got["INVITE"], 503, "reset by peer")
    egress.send(h.legacy_request("ACK", ruri, branch, call_id=call_id))
    assert h.wait_until(lambda: site.metric(
        'reusegw_dropped_messages_total{reason="peer_gone"}') == dropped + 1, timeout=5)
    with pytest.raises(queue.Empty):
        site.accepted.get(timeout=0.3)  # the ACK dialled nobody
    egress.send(h.legacy_request("CANCEL", ruri, branch, call_id=call_id))
    again = site.accept()
    cancel = again.recv()
    assert (cancel.method, h.branch_of(cancel)) == ("CANCEL", branch)
    again.send(h.response(cancel))
    assert egress.recv().status == 200
    again.close()
    egress.close()


def serve(conn, stop):
    """Answers 200 to every request on conn until it closes or stop is set."""
    try:
        while not stop.is_set():
            try:
                m = conn.recv(timeout=0.2)
            except h.RecvTimeout:
                continue
            if m.is_request and m.method != "ACK":
                conn.send(h.response(m))
    except (AssertionError, OSError, ssl.SSLError):
        pass


def settled(read, quiet=0.5, timeout=15):
    """read() once it stopped changing for quiet seconds."""
    last, since, deadline = read(), time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = read()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
    raise AssertionError(f"still changing after {timeout} s")


@pytest.mark.parametrize("run", range(3))
def test_requests_queued_when_a_stalled_peer_resets_are_routed_again(site, run):
    """B dials A's address; A answers one request, then stops reading, and
    the legacy side sends 120 requests of 64 KB: the kernel's buffers fill,
    then B's out queue (up to limits.max_buffered_bytes, when B stops
    reading the legacy side); then A resets. What had reached the kernel
    gets 503 (reset by peer); what had not never left and is routed again
    on a fresh connection, where A answers 200, as it does the requests B
    had not read yet. Every request gets exactly one final answer, soon."""
    n, body = 120, b"x" * 65536
    egress = site.egress()
    egress.send(h.legacy_request("OPTIONS", "sip:svc@a.test", h.new_branch()))
    stalled = site.accept()
    stalled.send(h.response(stalled.recv()))
    assert egress.recv().status == 200
    before_rerouted = site.metric(REROUTED)
    branches = [h.new_branch() for _ in range(n)]
    data = b"".join(h.legacy_request("OPTIONS", "sip:svc@a.test", b, body=body,
                                     headers=["Content-Type: text/plain"]) for b in branches)
    # B stops reading the legacy side while its peer stalls: send from a thread.
    sender = threading.Thread(target=egress.send, args=(data,), daemon=True)
    sender.start()
    settled(lambda: site.metric(TO_PEER))
    t0 = time.monotonic()
    hang_up(stalled, "reset")
    fresh = site.accept(timeout=5)
    stop = threading.Event()
    worker = threading.Thread(target=serve, args=(fresh, stop), daemon=True)
    worker.start()
    try:
        got = answers(egress, n, 20)
    finally:
        stop.set()
        worker.join(timeout=5)
        sender.join(timeout=5)
        fresh.close()
    by_branch = {h.branch_of(m): m for _, m in got}
    assert sorted(by_branch) == sorted(branches), "one final answer per request"
    statuses = [m.status for m in by_branch.values()]
    for m in by_branch.values():
        if m.status == 503:
            assert_cause(m, 503, "reset by peer")
    rerouted = site.metric(REROUTED) - before_rerouted
    print(f"run {run}: {statuses.count(503)} answered 503, {rerouted} routed again, "
          f"{statuses.count(200)} answered 200, last after {got[-1][0] - t0:.2f} s")
    assert set(statuses) <= {200, 503}
    assert 0 < rerouted <= statuses.count(200)
    assert got[-1][0] - t0 < 10
    egress.close()


def test_a_response_racing_the_close_is_neither_lost_nor_doubled(site):
    """50 times: the peer answers B's request and hangs up at once — a 200
    then FIN, a 200 then reset, or a 100 Trying then FIN. After a FIN the
    peer's 200 must come through; after a reset either it or B's 503 does,
    never both, never nothing; after the 100, B's 503 follows it."""
    egress = site.egress()
    rounds = [("fin", 200), ("reset", 200), ("fin", 100)]
    tally = {r: [] for r in rounds}
    for i in range(50):
        how, status = rounds[i % len(rounds)]
        peer = site.aliased_peer()
        branch = h.new_branch()
        method = "INVITE" if status == 100 else "OPTIONS"
        egress.send(h.legacy_request(method, "sip:svc@a.test", branch))
        got = peer.recv()
        peer.send(h.response(got, status, "OK" if status == 200 else "Trying"))
        hang_up(peer, how)
        ans = egress.recv(timeout=5)
        assert h.branch_of(ans) == branch, f"round {i}: another transaction's answer"
        if status == 100:
            assert ans.status == 100, ans.raw
            ans = egress.recv(timeout=FAST)
            assert h.branch_of(ans) == branch and ans.status == 503, ans.raw
            egress.send(h.legacy_request("ACK", "sip:svc@a.test", branch))
        tally[(how, status)].append(ans.status)
    # One more transaction on a live connection: nothing extra was queued.
    peer = site.aliased_peer()
    branch = h.new_branch()
    egress.send(h.legacy_request("OPTIONS", "sip:svc@a.test", branch))
    peer.send(h.response(peer.recv()))
    assert h.branch_of(egress.recv()) == branch, "a doubled answer of an earlier round"
    peer.close()
    print({k: (v.count(200), v.count(503)) for k, v in tally.items()})
    assert set(tally[("fin", 200)]) == {200}, tally
    assert set(tally[("reset", 200)]) <= {200, 503}, tally
    assert set(tally[("fin", 100)]) == {503}, tally
    egress.close()


def drop_legacy_connection(conn, how):
    """The legacy stand-in's side of one mirror ends as a dying proxy's
    does: "fin", or "reset". Shutting the reading side first wakes the
    stand-in's thread blocked in recv on it, so the close is not held back."""
    if how == "reset":
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.sock.shutdown(socket.SHUT_RD if how == "reset" else socket.SHUT_RDWR)
    conn.sock.close()


@pytest.mark.parametrize("how,text", [("fin", "closed by the legacy proxy"),
                                      ("reset", "reset by the legacy proxy")])
def test_peers_requests_at_a_legacy_proxy_that_dies_get_503(site, how, text):
    """Three peers' requests (OPTIONS, INVITE after its 100 Trying, and a
    CANCEL of that INVITE) sit at the legacy proxy, unanswered, when its
    connections (B's mirrors) end: each peer gets its final answer on its
    own connection at once — 503 with a Reason, 200 for the CANCEL —
    instead of waiting for its own timer. The peers' connections stay up:
    B reopens a mirror for the next request."""
    ctx = h.tls_context(site.pki, "gw-a")
    while not site.legacy.received.empty():
        site.legacy.received.get_nowait()
    via = "SIP/2.0/TLS a.test:5061"
    ruri = "sip:svc@b.test"
    opt_peer = h.tls_connect(site.gw.tls, ctx, "b.test")
    inv_peer = h.tls_connect(site.gw.tls, ctx, "b.test")
    options = h.request("OPTIONS", ruri, via, call_id=f"{HELD}{h.new_branch()}")
    opt_peer.send(options)
    opt_mirror, _ = site.legacy.next()
    branch = h.new_branch()
    call_id = f"{HELD}{branch}"
    invite = h.request("INVITE", ruri, via, branch=branch, call_id=call_id)
    inv_peer.send(invite)
    inv_mirror, got = site.legacy.next()
    inv_mirror.send(h.response(got, 100, "Trying"))
    assert inv_peer.recv().status == 100
    inv_peer.send(h.request("CANCEL", ruri, via, branch=branch, call_id=call_id))
    assert site.legacy.next()[1].method == "CANCEL"
    before = site.metric(ANSWERED % ("peer_closed" if how == "fin" else "peer_reset"))
    t0 = time.monotonic()
    for m in (opt_mirror, inv_mirror):
        drop_legacy_connection(m, how)
    [(at, ans)] = answers(opt_peer, 1, 5)
    assert_cause(ans, 503, text)
    assert ans.all("via") == h.SipMessage(options).all("via")
    got = {m.get("cseq").split()[1]: (a, m) for a, m in answers(inv_peer, 2, 5)}
    assert got["CANCEL"][1].status == 200, got["CANCEL"][1].raw
    assert_cause(got["INVITE"][1], 503, text)
    last = max(at, got["CANCEL"][0], got["INVITE"][0])
    assert last - t0 < FAST, f"answered after {last - t0:.2f} s"
    assert site.metric(ANSWERED % ("peer_closed" if how == "fin" else "peer_reset")) == before + 3
    inv_peer.send(h.request("ACK", ruri, via, branch=branch, call_id=call_id))
    opt_peer.send(h.request("OPTIONS", ruri, via))  # a new mirror carries it
    assert opt_peer.recv().status == 200
    opt_peer.close()
    inv_peer.close()
