"""runtime.workers > 1 end to end (issue 9): every worker has its own event
loop and listeners (SO_REUSEPORT), and a backward request the legacy proxy
sends on a connection one worker accepted must still reuse the TLS
connection another worker owns — handed over, never re-dialled — with its
responses back on the legacy connection it came from, Via restored
byte-exactly (docs/design.md message flows; R-5923-04/-19 across workers).

Topology (reusegw_test.Pair, A not started): gateway B (b.test) with 2 workers;
a Python TLS peer with gw-a's certificate connects from A's address and
asks for an alias under A's TLS port, on which this test listens itself so
that any dial reusegw made instead of reusing would be seen. The test plays
B's legacy proxy with many TCP connections, which the kernel spreads over
both workers."""
import json
import os
import re
import signal
import socket


import reusegw_test as h

LEGACY_CONNECTIONS = 24  # all on one worker: probability 2 * 2^-24



def handoffs(gw):
    return gw.metrics().get('reusegw_handoffs_total{kind="request"}', 0)


class Listener:
    """A listening socket on A's TLS address: where reusegw would dial if it
    did not reuse the peer's connection. count() accepts what arrived."""

    def __init__(self, ep):
        self.sock = socket.create_server(ep, reuse_port=False)
        self.sock.setblocking(False)
        self.accepted = 0

    def count(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except BlockingIOError:
                return self.accepted
            c.close()
            self.accepted += 1

    def close(self):
        self.sock.close()


def start_b(make_pair, legacy, workers=2, edit_b=None):
    def edit(name, cfg):
        if name == "b":
            cfg["runtime"]["workers"] = workers
            if edit_b:
                edit_b(cfg)

    return make_pair(h.dead_endpoint(), legacy().ep, edit, with_a=False)


def aliased_peer(pair, pki):
    """The peer's connection, aliased under (A's address, A's TLS port), and
    the listener that must never see a dial."""
    listener = Listener(pair.a.tls)
    peer = h.peer_as_a(pair, pki, "gw-a", f"a.test:{pair.a.tls[1]}")
    return peer, listener


def legacy_connections(pair, n=LEGACY_CONNECTIONS):
    return [h.tcp_connect(pair.b.legacy_listen) for _ in range(n)]


def serve_requests(peer, expected, answer):
    """Reads |expected| requests on the peer's connection; answer(req) gives
    the responses to send for each. Returns the requests by branch."""
    got = {}
    while len(got) < expected:
        req = peer.recv()
        assert req.is_request, req
        got[(h.branch_of(req), req.method)] = req
        for resp in answer(req):
            peer.send(resp)
    return got


def started_with(gw, workers):
    """The start-up line (written once every worker listens, which can be
    after the first listener accepts) names |workers|."""
    line = re.compile(rf'msg="reusegw started".* workers={workers}\b')
    assert h.wait_until(lambda: line.search(gw.log())), gw.log()


def test_start_up_says_two_workers(make_pair, legacy):
    pair = start_b(make_pair, legacy)
    started_with(pair.b, 2)
    assert pair.b.metrics()["reusegw_workers"] == 2


def test_backward_requests_from_every_worker_reuse_the_peers_connection(
        make_pair, legacy, pki):
    """Every legacy connection's request arrives on the aliased connection
    whichever worker accepted it; no dial; each 200 returns on the legacy
    connection it belongs to with the legacy proxy's own Via."""
    pair = start_b(make_pair, legacy)
    peer, listener = aliased_peer(pair, pki)
    conns = legacy_connections(pair)
    sent = []
    for c in conns:
        msg = h.request("OPTIONS", "sip:svc@a.test", h.LEGACY_VIA)
        c.send(msg)
        sent.append(h.SipMessage(msg))
    got = serve_requests(peer, len(conns), lambda req: [h.response(req)])
    b_sent_by = pair.b.config["identity"]["sent_by"]
    for s, c in zip(sent, conns):
        req = got[(h.branch_of(s), "OPTIONS")]
        assert req.get("via").startswith(f"SIP/2.0/TLS {b_sent_by};branch=")
        answer = c.recv()
        assert answer.status == 200
        assert answer.all("via") == s.all("via"), "Via not restored byte-exactly"
        assert h.branch_of(answer) == h.branch_of(s), "response on the wrong legacy connection"
    assert handoffs(pair.b) > 0, "no request crossed workers: SO_REUSEPORT not spreading?"
    assert listener.count() == 0, "reusegw dialled instead of reusing the peer's connection"
    assert h.established(pair.b_ip, pair.a.tls) == 0
    rows = pair.b.aliases()
    assert [(r["address"], r["port"], r["identities"]) for r in rows] == [
        (pair.a_ip, pair.a.tls[1], ["a.test"])], rows
    assert rows[0]["worker"] in (0, 1)
    listener.close()


def test_cancel_follows_a_handed_over_invite(make_pair, legacy, pki):
    """R-5923-13 across workers: the CANCEL of an INVITE handed to the
    worker owning the peer's connection goes down the same connection; the
    200 (CANCEL) and 487 (INVITE) come back on the INVITE's legacy
    connection."""
    pair = start_b(make_pair, legacy)
    peer, listener = aliased_peer(pair, pki)
    conns = legacy_connections(pair)
    invites = []
    for c in conns:
        msg = h.request("INVITE", "sip:svc@a.test", h.LEGACY_VIA)
        c.send(msg)
        invites.append(h.SipMessage(msg))
    got = serve_requests(peer, len(conns), lambda req: [h.response(req, 100, "Trying")])
    for inv, c in zip(invites, conns):
        assert c.recv().status == 100
    before = handoffs(pair.b)
    for inv, c in zip(invites, conns):
        c.send(h.request("CANCEL", "sip:svc@a.test", h.LEGACY_VIA, branch=h.branch_of(inv)))

    def cancel(req):
        assert req.method == "CANCEL"
        invite = got[(h.branch_of(req), "INVITE")]
        return [h.response(req), h.response(invite, 487, "Request Terminated")]

    serve_requests(peer, len(conns), cancel)
    for inv, c in zip(invites, conns):
        statuses = sorted((m.status, m.get("cseq")) for m in (c.recv(), c.recv()))
        assert statuses == [(200, "1 CANCEL"), (487, "1 INVITE")]
    assert handoffs(pair.b) > before, "no CANCEL crossed workers"
    assert listener.count() == 0
    listener.close()


def wait_reloaded(gw, workers):
    """Every worker counts the reload it installed."""
    assert h.wait_until(
        lambda: gw.metrics().get('reusegw_reloads_total{trigger="signal",result="ok"}', 0) >= workers), gw.log()


def test_reload_reaches_every_worker_and_sigterm_drains(make_pair, legacy, pki):
    """SIGHUP: a.test first routes to a dead port (503 from every worker);
    after the reload it routes to A's port and every worker reuses the
    peer's connection. SIGTERM with INVITEs in flight on both workers: the
    peer's answers still reach the legacy proxy, then exit 0."""
    dead = h.dead_endpoint()

    def edit(cfg):
        cfg["routes"] = [r for r in cfg["routes"] if r["domain"] != "a.test"]
        cfg["routes"].append({"domain": "a.test", "targets": [h.hostport(dead)]})

    pair = start_b(make_pair, legacy, edit_b=edit)
    peer, listener = aliased_peer(pair, pki)
    conns = legacy_connections(pair)
    for c in conns:
        c.send(h.request("OPTIONS", "sip:svc@a.test", h.LEGACY_VIA))
    for c in conns:
        assert c.recv().status == 503
    for r in pair.b.config["routes"]:
        if r["domain"] == "a.test":
            r["targets"] = [h.hostport(pair.a.tls)]
    pair.b.write_config()
    pair.b.send_signal(signal.SIGHUP)
    wait_reloaded(pair.b, 2)
    invites = []
    for c in conns:
        msg = h.request("INVITE", "sip:svc@a.test", h.LEGACY_VIA)
        c.send(msg)
        invites.append(h.SipMessage(msg))
    got = serve_requests(peer, len(conns), lambda req: [])
    assert handoffs(pair.b) > 0
    pair.b.send_signal(signal.SIGTERM)
    assert h.wait_until(lambda: "stopping: no new connections" in pair.b.log())
    for inv in invites:
        peer.send(h.response(got[(h.branch_of(inv), "INVITE")]))
    for inv, c in zip(invites, conns):
        answer = c.recv()
        assert answer.status == 200 and answer.all("via") == inv.all("via")
    assert pair.b.proc.wait() == 0
    assert listener.count() == 0
    listener.close()


def test_auto_runs_one_worker_per_core(make_pair, legacy):
    nproc = os.sysconf("SC_NPROCESSORS_ONLN")
    pair = start_b(make_pair, legacy, workers="auto")
    started_with(pair.b, nproc)
    assert pair.b.metrics()["reusegw_workers"] == nproc


def test_a_second_instance_cannot_share_the_listen_addresses(make_pair, legacy, procs,
                                                              reusegw_bin):
    """SO_REUSEPORT lets a group of workers share one address; it must not
    let a second reusegw (same user) join them and take half of the
    connections: it fails to listen (after the 2 s start-up retry), exit 3."""
    pair = start_b(make_pair, legacy)
    started_with(pair.b, 2)
    config = json.loads(json.dumps(pair.b.config))  # a deep copy
    config["admin"]["listen"] = h.hostport(("127.0.0.1", h.free_port()))
    second = h.Gateway(procs, reusegw_bin, "reusegw-second", config)
    path = second.write_config()
    proc = procs.start(second.name, [reusegw_bin, "-c", path])
    assert proc.wait() == 3
    assert 'msg="cannot listen"' in proc.log_text()
    assert 'reason="Address in use"' in proc.log_text() or "Address already in use" in proc.log_text()
