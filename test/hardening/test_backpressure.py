"""What reusegw queues by itself, and what it queues towards a connection
that cannot send yet, is bounded by back-pressure (issue 20 items 2 and 6).

- A TLS peer that floods RFC 5626 double-CRLF pings and never reads: one
  pending pong answers any number of pings, so reusegw_queued_bytes stays
  tiny, every ping is counted, RSS does not grow with the flood, and the
  queue is empty once the peer is gone.
- reusegw's own 400s towards a sender that does not read count against
  limits.max_buffered_bytes like relayed bytes: the sender is paused
  (reusegw_limit_hits_total{limit="max_buffered_bytes"}) with its queue at
  the limit, and is read again once it reads (every request answered).
  Asserted on counters and gauges: kernel socket buffers absorb a load-
  dependent share of the flood, so what the sender read says nothing.
- 10,000 OPTIONS pipelined in one write on a fresh TLS connection while
  its mirror to the legacy proxy is still connecting, and again while the
  mirror reconnects: the sender is paused at the limit instead of the held
  queue dropping (reusegw_dropped_messages_total{reason="buffer_full"}),
  and all 10,000 reach the legacy side in order.

The legacy side of the burst cases is a stand-in by necessity: a bare
listening socket with a backlog of one, taken by a filler connection, so
that the mirror's SYN is dropped until the test accepts the filler and the
mirror stays connecting (its SYN is retransmitted after a second) for as
long as the test needs; no real legacy proxy can be held there on purpose.
The burst's requests are read from the accepted mirror as the proxy would
read them; the readiness probe's connections (admin/admin_probe.c) are
told apart by their sending nothing."""
import os
import socket
import threading
import time

import pytest

import reusegw_test as h

MAX_BUFFERED = 65536  # limits.max_buffered_bytes of the small gateway
SLACK = 8192  # the answer that crossed the limit, in its TLS record
# What a paused connection keeps is what the loop had received for it
# before the cancel of its read took effect: within the receive buffers
# (io_uring: 1024 x 16 KiB, gateway/worker/worker.c).
RECEIVE_BUFFERS = 16 * 1024 * 1024
VIA = "SIP/2.0/TLS a.test:5061"


def series(gw, name):
    """One /metrics series (it must be exposed)."""
    m = gw.metrics()
    assert name in m, f"{name} not exposed"
    return int(m[name])


def queued(gw, queue):
    return series(gw, f'reusegw_queued_bytes{{queue="{queue}"}}')


def buffered_hits(gw):
    return series(gw, 'reusegw_limit_hits_total{limit="max_buffered_bytes"}')


def buffer_full_drops(gw):
    return series(gw, 'reusegw_dropped_messages_total{reason="buffer_full"}')


def bad_request_answers(gw):
    return series(gw, 'reusegw_local_answers_total{reason="bad_request"}')


def conns(gw, kind, state="open"):
    return gw.metric(f'reusegw_connections{{kind="{kind}",state="{state}"}}')


def drained(gw):
    """Every queue of the gateway is empty."""
    return all(queued(gw, q) == 0 for q in ("out", "hold", "stash"))


class Writer(threading.Thread):
    """Sends chunks on conn until they run out or the socket fails (the
    test shut it down), then its FIN when fin is set; the only thread that
    writes on conn until joined."""

    def __init__(self, conn, chunks, fin=False):
        super().__init__(daemon=True)
        self.conn, self.chunks, self.fin, self.sent, self.error = conn, chunks, fin, 0, None
        self.start()

    def run(self):
        try:
            for chunk in self.chunks:
                self.conn.send(chunk)
                self.sent += 1
            if self.fin:
                self.conn.sock.shutdown(socket.SHUT_WR)
        except OSError as err:
            self.error = err

    def stop(self):
        """Shuts the socket down (a blocked send fails), joins, closes."""
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.join(timeout=h.IO_TIMEOUT)
        self.conn.close()


@pytest.fixture(scope="module")
def small(module_stage):
    """Gateway B with limits.max_buffered_bytes 64 KiB before a legacy
    stand-in that answers 200. Under ASan freed blocks sit in a quarantine
    that would count as RSS growth: 8 MB of it only."""
    lg = module_stage.legacy()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=8")
        single = module_stage.single(lg.ep, lambda cfg: cfg["limits"].update(
            max_buffered_bytes=MAX_BUFFERED))
    single.legacy = lg
    return single


def peer_of(single, pki, **kw):
    return h.tls_connect(single.tls, h.tls_context(pki, "gw-a"), "b.test",
                         source=(single.a_ip, 0), **kw)


def test_ping_flood_from_a_peer_that_never_reads(small, pki, reusegw_bin):
    gw = small.gw
    # The default receive buffer, not a small one: a peer whose small buffer
    # is full drops reusegw's pong segments, reusegw's sequence then runs
    # past the peer's zero window, and the peer's TCP discards reusegw's
    # window updates as out of window. Once reusegw's own window closed
    # (the sanitizers' build on a loaded machine reads slower than the
    # flood), the peer believed it shut and probed at exponential backoff:
    # seen rwnd_limited 99.6%, 1.7 MB unsent, reusegw's Recv-Q empty and its
    # read armed; minutes for the flood, in about one run in five. The
    # peer still never reads.
    peer = peer_of(small, pki)
    pongs = series(gw, "reusegw_keepalive_pongs_total")
    base = h.rss_kib(small.pid)
    mib = 20
    pings = mib * 1024 * 1024 // 4
    chunk = b"\r\n\r\n" * 16384  # 64 KiB
    writer = Writer(peer, [chunk] * (pings // 16384))
    peak_queued = peak_rss = 0
    # Five million pings: a bound on progress, not a speed goal; the
    # sanitizers' build on a loaded 2-core machine took over 60 s once.
    deadline = time.monotonic() + (180 if h.asan_build(reusegw_bin) else 60)
    while series(gw, "reusegw_keepalive_pongs_total") - pongs < pings:
        assert time.monotonic() < deadline, "the pings were not all read"
        peak_queued = max(peak_queued, queued(gw, "out"))
        peak_rss = max(peak_rss, h.rss_kib(small.pid))
        time.sleep(0.1)  # a scrape costs the gateway's loop too
    writer.join(timeout=h.IO_TIMEOUT)
    assert writer.error is None and writer.sent == pings // 16384
    peak_rss = max(peak_rss, h.rss_kib(small.pid))
    grew = (peak_rss - base) / 1024
    print(f"{mib} MB of pings: peak queued {peak_queued} B, RSS {base} KiB, +{grew:.1f} MiB")
    assert series(gw, "reusegw_keepalive_pongs_total") - pongs == pings
    # One pong record (24 B) at a time; the bound is the limit's.
    assert peak_queued <= MAX_BUFFERED + SLACK
    # The io_uring provided-buffer ring (1024 x 16 KiB, worker.c) is touched
    # page by page as the flood passes: 16 MiB of the growth is that fixed
    # cost, the rest must not scale with the 20 MB (main: +135 MB); ASan
    # adds shadow memory and redzones.
    bound = 24 * (1.5 if h.asan_build(reusegw_bin) else 1)
    assert grew < bound, f"RSS grew {grew:.1f} MiB for {mib} MB of pings"
    writer.stop()
    assert h.wait_until(lambda: conns(gw, "tls_in") == 0 and drained(gw), timeout=30), \
        "queues not empty"


def bad_request(i):
    """A request reusegw answers 400 itself (a control octet in a header)
    and never relays."""
    return h.request("OPTIONS", "sip:svc@b.test", VIA, call_id=f"bad-{i}",
                     headers=["Subject: a\x01b"])


def test_own_answers_to_a_tls_sender_that_never_reads_pause_it(small, pki):
    gw = small.gw
    hits = buffered_hits(gw)
    answered = bad_request_answers(gw)
    peer = peer_of(small, pki, rcvbuf=16384)
    batch = b"".join(bad_request(i) for i in range(100))
    writer = Writer(peer, [batch] * 400)  # 40,000 requests, 10 MB
    try:
        # The sender is paused once its 400s fill the kernel's buffers and
        # then max_buffered_bytes. Without back-pressure every request is
        # answered and nothing is paused: fail as soon as that is clear.
        deadline = time.monotonic() + 30
        while buffered_hits(gw) == hits:
            assert not (writer.sent == 400 and bad_request_answers(gw) - answered == 40000), \
                "40,000 answers queued towards a sender that reads none, no pause"
            assert time.monotonic() < deadline, "the sender was never paused"
            time.sleep(0.1)
        for _ in range(20):  # paused: its queue stays at the limit
            assert queued(gw, "out") <= MAX_BUFFERED + SLACK
            assert queued(gw, "stash") <= RECEIVE_BUFFERS
            time.sleep(0.1)
        assert bad_request_answers(gw) - answered < 40000
    finally:
        writer.stop()
    assert h.wait_until(lambda: conns(gw, "tls_in") == 0 and drained(gw), timeout=30), \
        "queues not empty"
    with pytest.raises(AssertionError):
        small.legacy.next(timeout=0.2)


def test_own_answers_resume_once_the_sender_reads(small):
    """The same on the legacy side (plain TCP, where the test may read and
    write at once): paused at the limit, read again once it drains, every
    request answered in order, the sender's FIN after its last request
    honoured only after that request was answered."""
    gw = small.gw
    hits, answered = buffered_hits(gw), bad_request_answers(gw)
    egress = h.tcp_connect(gw.legacy_listen, rcvbuf=16384)
    n = 20000
    batch = b"".join(h.request("OPTIONS", "sip:svc@a.test", h.LEGACY_VIA, call_id=f"bad-{i}",
                               headers=["Subject: a\x01b"]) for i in range(100))
    writer = Writer(egress, [batch] * (n // 100), fin=True)
    try:
        deadline = time.monotonic() + 30
        while buffered_hits(gw) == hits:
            assert bad_request_answers(gw) - answered < n, \
                f"{n} answers queued towards a sender that reads none, no pause"
            assert time.monotonic() < deadline, "the sender was never paused"
            time.sleep(0.1)
        assert queued(gw, "out") <= MAX_BUFFERED + SLACK
        for i in range(n):
            answer = egress.recv(timeout=30)
            assert answer.status == 400 and answer.get("call-id") == f"bad-{i % 100}", \
                f"answer {i} lost or out of order"
        writer.join(timeout=h.IO_TIMEOUT)
        assert writer.error is None
        assert egress.closed_by_peer(), "the sender's FIN did not close its connection"
    finally:
        writer.stop()
    assert h.wait_until(lambda: drained(gw)), "queues not empty"


@pytest.fixture(scope="module")
def slow(module_stage):
    """Gateway B (default limits: max_buffered_bytes 1 MiB) whose
    legacy.forward_to is a listening socket with a backlog of one."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    single = module_stage.single(listener.getsockname())
    single.listener = listener
    yield single
    listener.close()


def accept_mirror(listener, skip=()):
    """The next accepted connection that sends something (a mirror), as a
    SipConnection; those from a port in skip and the readiness probe's
    (which send nothing and close) are closed on the way."""
    deadline = time.monotonic() + h.IO_TIMEOUT
    while True:
        listener.settimeout(max(0.1, deadline - time.monotonic()))
        s, peer = listener.accept()
        s.settimeout(h.IO_TIMEOUT)
        if peer[1] not in skip and s.recv(1, socket.MSG_PEEK):
            return h.SipConnection(s)
        s.close()


def fill_backlog(listener):
    """A connection that takes the listener's one backlog place (once the
    probe connections queued there are accepted and closed)."""
    for _ in range(10):
        listener.setblocking(False)
        try:
            while True:
                listener.accept()[0].close()
        except BlockingIOError:
            pass
        try:
            return socket.create_connection(listener.getsockname(), timeout=1.0)
        except OSError:  # a probe came first
            continue
    raise AssertionError("cannot fill the stand-in's backlog")


def burst_while_the_mirror_connects(single, peer, tag):
    """Fills the listener's backlog, sends 10,000 OPTIONS in one write on
    |peer| while the mirror's SYN goes unanswered, lets the mirror connect
    once the sender is paused, and checks that all 10,000 arrive in order."""
    gw = single.gw
    filler = fill_backlog(single.listener)
    hits, drops = buffered_hits(gw), buffer_full_drops(gw)
    n = 10000
    blob = b"".join(h.request("OPTIONS", "sip:svc@b.test", VIA, call_id=f"{tag}-{i}")
                    for i in range(n))
    writer = Writer(peer, [blob])
    mirror = None
    try:
        # 2.2 MB do not fit a held queue of 1 MiB: the sender must wait.
        assert h.wait_until(lambda: buffered_hits(gw) > hits or buffer_full_drops(gw) > drops,
                            timeout=30), "the held queue never filled"
        assert conns(gw, "mirror", "connecting") == 1
        assert buffer_full_drops(gw) == drops, "requests dropped while the mirror connects"
        assert queued(gw, "hold") <= 1048576 + 65535 + 4
        stashed = queued(gw, "stash")
        assert stashed <= RECEIVE_BUFFERS
        # Accepting the filler lets the mirror's next SYN in.
        mirror = accept_mirror(single.listener, skip=(filler.getsockname()[1],))
        for i in range(n):
            got = mirror.recv(timeout=30)
            assert got.get("call-id") == f"{tag}-{i}", f"request {i} lost or out of order"
        writer.join(timeout=h.IO_TIMEOUT)
        assert writer.error is None
        assert buffer_full_drops(gw) == drops
        assert h.wait_until(lambda: drained(gw)), "queues not empty"
    finally:
        filler.close()
    print(f"{tag}: {n} requests in one write of {len(blob)} B, all relayed in order; "
          f"{stashed} B received and kept while the sender was paused")
    return mirror


def test_burst_on_a_fresh_connection_while_the_mirror_connects(slow, pki):
    peer = peer_of(slow, pki)
    mirror = burst_while_the_mirror_connects(slow, peer, "fresh")
    peer.close()
    mirror.close()


def test_burst_while_the_mirror_reconnects(slow, pki):
    gw = slow.gw
    peer = peer_of(slow, pki)
    peer.send(h.request("OPTIONS", "sip:svc@b.test", VIA, call_id="warm"))
    first = accept_mirror(slow.listener)
    assert first.recv().get("call-id") == "warm"
    first.close()  # the legacy proxy hangs up; the TLS connection stays
    assert h.wait_until(lambda: conns(gw, "mirror") == 0 and conns(gw, "mirror", "closing") == 0)
    mirror = burst_while_the_mirror_connects(slow, peer, "again")
    peer.close()
    mirror.close()
