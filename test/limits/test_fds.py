"""File-descriptor exhaustion (issue 20 item 7), end to end: reusegw runs
under `prlimit --nofile=256` and takes a flood of 700 plain TCP connections
on its TLS listener that never start TLS, so each one it keeps holds a
descriptor until the handshake timeout (30 s here).

Asserted: every connection beyond what the descriptors allow is closed by
reusegw within 2 s (EOF or RST, not a timeout), each counted in
reusegw_limit_hits_total{limit="fds"}, with a rate-limited log line (at most
10 a second); /healthz and /metrics answer during the flood; a TLS peer that
connected before the flood still gets its first request relayed (its
mirror is dialled from the reserve); once the flood's connections close, a
fresh TLS connection is accepted and relayed (recovery)."""
import resource
import selectors
import socket
import time

import reusegw_test as h

NOFILE = 256
FLOOD = 700
PROMPT = 2.0  # s: how soon reusegw closes a connection it cannot keep
LINE = "file descriptors"  # what reusegw's log line about it says


def raise_own_limit():
    """This process holds the flood's sockets itself: lift its soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    assert want > FLOOD + 64, f"RLIMIT_NOFILE hard limit {hard} too low for the test"
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def options(single, peer):
    """One OPTIONS from peer through reusegw to the legacy stand-in, which
    answers 200; the answer."""
    peer.send(h.request("OPTIONS", "sip:svc@b.test", f"SIP/2.0/TLS {single.a_ip}:5061"))
    return peer.recv()


def closed_now(sock):
    """True when sock, readable, reads EOF or a reset."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except BlockingIOError:
        return False


class Flood:
    """FLOOD plain TCP connections from one source, opened one after the
    other; when reusegw closes each is noted as it happens."""

    def __init__(self, ep, source):
        self.sel = selectors.DefaultSelector()
        self.socks, self.opened, self.closed = [], {}, {}
        self.timeouts = 0
        start = time.monotonic()
        for i in range(FLOOD):
            s = socket.socket()
            s.settimeout(PROMPT)
            s.bind((source, 0))
            try:
                s.connect(ep)
            except socket.timeout:  # the backlog is full: that is a failure too
                s.close()
                self.timeouts += 1
                if self.timeouts > 5:
                    break
                continue
            s.setblocking(False)
            self.opened[i] = time.monotonic()
            self.socks.append(s)
            self.sel.register(s, selectors.EVENT_READ, i)
            self.poll(0)
        self.seconds = time.monotonic() - start
        self.poll(PROMPT + 0.5)

    def poll(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            for key, _ in self.sel.select(max(0, deadline - time.monotonic())):
                if closed_now(key.fileobj):
                    self.closed[key.data] = time.monotonic()
                    self.sel.unregister(key.fileobj)
            if time.monotonic() >= deadline:
                return

    def close(self):
        self.sel.close()
        for s in self.socks:
            s.close()


def test_descriptor_exhaustion(make_single, legacy, pki):
    raise_own_limit()
    lg = legacy()
    single = make_single(lg.ep, edit=lambda cfg: cfg["tls"].update(handshake_timeout="30s"),
                         argv_prefix=("prlimit", f"--nofile={NOFILE}", "--"))
    gw = single.gw
    ctx = h.tls_context(pki, "gw-a")
    early = h.tls_connect(single.tls, ctx, "b.test", source=(single.a_ip, 0))
    flood = Flood(single.tls, f"{single.net}.9")
    try:
        kept = len(flood.opened) - len(flood.closed)
        assert flood.timeouts == 0, f"{flood.timeouts} connects timed out in the backlog"
        assert kept < NOFILE, f"{kept} of {FLOOD} connections neither kept nor closed"
        late = [i for i, t in flood.closed.items() if t - flood.opened[i] > PROMPT]
        assert not late, f"{len(late)} connections closed later than {PROMPT} s"

        # Still serving while the flood holds what it was given.
        assert gw.http_get("/healthz")[0] == 200
        hits = gw.metric('reusegw_limit_hits_total{limit="fds"}')
        assert len(flood.closed) <= hits <= FLOOD, (hits, len(flood.closed))
        answer = options(single, early)
        assert answer.status == 200, answer.first_line
        lg.next()

        lines = [ln for ln in gw.log().splitlines() if LINE in ln]
        assert lines, f"no log line saying {LINE!r}"
        assert len(lines) <= 10 * (flood.seconds + PROMPT + 2), \
            f"{len(lines)} log lines for {len(flood.closed)} refusals in {flood.seconds:.1f} s"
    finally:
        flood.close()

    # Recovery: descriptors come back as the flood's connections end.
    h.wait_until(lambda: h.fds(single.pid) < NOFILE // 2)
    fresh = h.tls_connect(single.tls, ctx, "b.test", source=(single.a_ip, 0))
    answer = options(single, fresh)
    assert answer.status == 200, answer.first_line
    for peer in (early, fresh):
        peer.close()
