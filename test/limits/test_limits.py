"""Every abuse limit hit end to end (docs/design.md: every buffer and table
is bounded; each limit hit is logged rate-limited and counted): for each,
the log line, the reusegw_limit_hits_total{limit} series from /metrics, and
a normal request relayed afterwards. Plus the one INFO line per connection
open and close, and the pending table holding in-flight work only (500
sequential transactions through limits.max_pending_transactions: 100).

Gateway A (NET.2) takes limits on its own inbound side: handshake_rate
1/s, message_timeout 1s, max_pending_transactions 100, max_message_bytes
65535 (the default). Gateway B (NET.3): max_connections 8,
max_concurrent_handshakes 2, max_connections_per_peer 2, send_timeout 2s,
max_buffered_bytes 64 KiB. Other sources are further addresses of NET."""
import re
import threading
import time

import pytest

import reusegw_test as h

TIMEOUT = 30  # generous: a loaded shared machine

A_LIMITS = {"handshake_rate": 1, "message_timeout": "1s", "max_pending_transactions": 100,
            "max_message_bytes": 65535}
B_LIMITS = {"max_connections": 8, "max_concurrent_handshakes": 2,
            "max_connections_per_peer": 2, "send_timeout": "2s", "max_buffered_bytes": 65536}


@pytest.fixture(scope="module")
def pair(module_stage):
    def edit(name, cfg):
        cfg["limits"].update(A_LIMITS if name == "a" else B_LIMITS)
        if name == "a":  # the slow-reader test leaves transactions unanswered
            cfg["runtime"]["drain_timeout"] = "1s"

    # A small receive buffer on the legacy proxy's accepted sockets (set
    # before its first connection) keeps the slow-reader test's fill small.
    legacy_a, legacy_b = (module_stage.legacy(answer=h.silent, rcvbuf=16384) for _ in "ab")
    p = module_stage.pair(legacy_a.ep, legacy_b.ep, edit)
    p.legacy_a, p.legacy_b = legacy_a, legacy_b
    p.egress_a = module_stage.connect(p.a.legacy_listen)
    roundtrip(p, "z9hG4bK-warm")  # A -> B connection and B's mirror exist
    return p


def roundtrip(p, branch, egress=None, skip_others=False):
    """One OPTIONS from legacy A to legacy B and its 200 back."""
    egress = egress or p.egress_a
    egress.send(h.legacy_request("OPTIONS", "sip:b.test", branch))
    deadline = time.monotonic() + TIMEOUT
    while True:
        conn_b, got = p.legacy_b.next(timeout=max(0.1, deadline - time.monotonic()))
        if branch.encode() in got.raw:
            break
        assert skip_others, "unexpected message at legacy B"
    conn_b.send(h.response(got))
    resp = egress.recv(timeout=TIMEOUT)
    assert resp.first_line == "SIP/2.0 200 OK" and branch.encode() in resp.raw


def limit_hits(gw, limit):
    series = f'reusegw_limit_hits_total{{limit="{limit}"}}'
    m = gw.metrics()
    assert series in m, f"{series} missing"
    return int(m[series])


def raw(ep, source=None):
    """A plain TCP connection to ep from source (an ip) that sends nothing."""
    return h.tcp_connect(ep, source=(source, 0) if source else None, timeout=TIMEOUT)


def test_max_concurrent_handshakes(pair):
    # Two TCP connections that never start TLS hold both handshake slots; a
    # third is accepted and closed at once.
    # Three source addresses: max_connections_per_peer (2) must not be what
    # refuses the third.
    held = [raw(pair.b.tls, f"{pair.net}.{n}") for n in (21, 22)]
    pair.b.wait_log(r'connection opened.*peer=' + re.escape(f"{pair.net}.22:"))
    extra = raw(pair.b.tls, f"{pair.net}.23")
    try:
        assert extra.closed_by_peer(TIMEOUT)
        assert not held[0].closed_by_peer(0.2)
        line = pair.b.wait_log(r"handshake limit reached.*limit=max_concurrent_handshakes")
        assert "max_concurrent_handshakes=2" in line
        assert limit_hits(pair.b, "max_concurrent_handshakes") >= 1
    finally:
        for s in held + [extra]:
            s.close()
    roundtrip(pair, "z9hG4bK-after-hs")


def test_max_connections_per_peer(pair):
    src = f"{pair.net}.9"
    held = [raw(pair.b.tls, src) for _ in range(2)]
    pair.b.wait_log(r'connection opened.*peer=' + re.escape(f"{src}:"))
    extra = raw(pair.b.tls, src)
    try:
        assert extra.closed_by_peer(TIMEOUT)
        pair.b.wait_log(r"limits\.max_connections_per_peer reached.*peer=" + re.escape(src))
        assert limit_hits(pair.b, "max_connections_per_peer") >= 1
    finally:
        for s in held + [extra]:
            s.close()
    roundtrip(pair, "z9hG4bK-after-peer")


def test_max_connections(pair):
    # B holds its TLS connection from A and its mirror; plain connections to
    # its legacy.listen take the other slots until one is refused.
    socks = []
    try:
        for _ in range(20):  # a late close only means more refused ones follow
            socks.append(raw(pair.b.legacy_listen))
            if socks[-1].closed_by_peer(0.3):
                break
        else:
            pytest.fail("20 more connections accepted at max_connections 8")
        pair.b.wait_log(r"limits\.max_connections reached; refusing connection.*max_connections=8")
        assert limit_hits(pair.b, "max_connections") >= 1
    finally:
        for s in socks:
            s.close()
    roundtrip(pair, "z9hG4bK-after-max")


def test_handshake_rate(pair):
    # A admits one new inbound handshake a second (burst 1). Once one
    # connection was admitted, more opened at once are refused.
    socks = []
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:  # the token refills within a second
            s = raw(pair.a.tls)
            if not s.closed_by_peer(1.5):
                socks.append(s)
                break
            s.close()
            time.sleep(0.1)  # bounded retry pace, not synchronisation
        else:
            pytest.fail("no connection admitted in %ds at handshake_rate 1" % TIMEOUT)
        burst = [raw(pair.a.tls) for _ in range(5)]
        socks += burst
        refused = [s.closed_by_peer(1.0) for s in burst]
        assert any(refused), refused
        pair.a.wait_log(r"handshake limit reached.*limit=handshake_rate.*handshake_rate=1")
        assert limit_hits(pair.a, "handshake_rate") >= 1
    finally:
        for s in socks:
            s.close()
    roundtrip(pair, "z9hG4bK-after-rate")


def test_message_timeout_closes_a_slowloris(pair):
    # A trickles one header byte every 200 ms: it keeps the connection busy
    # but never finishes the message; message_timeout (1s) ends it.
    c = raw(pair.a.legacy_listen)
    partial = h.legacy_request("OPTIONS", "sip:b.test", "z9hG4bK-slow")[:-30]
    start = time.monotonic()
    closed = False
    try:
        for byte in partial:
            try:
                c.sock.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if c.closed_by_peer(0.2):
                closed = True
                break
            if time.monotonic() - start > TIMEOUT:
                break
        elapsed = time.monotonic() - start
        assert closed, "a connection trickling a message for %.1fs was not closed" % elapsed
        # (millisecond clock granularity on both sides)
        assert elapsed >= 0.95, "closed after %.2fs, before message_timeout" % elapsed
    finally:
        c.close()
    line = pair.a.wait_log(r"message incomplete for too long.*limit=message_timeout")
    assert "conn=egress" in line
    pair.a.wait_log(r"connection closed.*conn=egress.*reason=message_timeout")
    assert limit_hits(pair.a, "message_timeout") >= 1
    roundtrip(pair, "z9hG4bK-after-slow")  # the idle egress_a was not touched


def test_max_message_bytes_is_counted(pair):
    c = raw(pair.a.legacy_listen)
    try:
        c.send(h.legacy_request("MESSAGE", "sip:b.test", "z9hG4bK-huge", body=b"x" * 70000,
                                headers=["Content-Type: text/plain"]))
        assert c.recv(timeout=TIMEOUT).status == 513
    finally:
        c.close()
    pair.a.wait_log(r"framing error; closing connection.*reason=\"?Message Too Large")
    assert limit_hits(pair.a, "max_message_bytes") >= 1
    roundtrip(pair, "z9hG4bK-after-huge")


def test_pending_table_holds_only_in_flight_transactions(pair):
    # 500 sequential transactions through a table of 100: each ends with its
    # final response (Timer K = 0 on TCP/TLS), so none is refused.
    before = limit_hits(pair.a, "max_pending_transactions")
    for i in range(500):
        roundtrip(pair, f"z9hG4bK-seq-{i}")
    assert limit_hits(pair.a, "max_pending_transactions") == before


def test_max_pending_transactions(pair):
    held = []
    for i in range(100):
        pair.egress_a.send(h.legacy_request("OPTIONS", "sip:b.test", f"z9hG4bK-fill-{i}"))
    for _ in range(100):
        held.append(pair.legacy_b.next(timeout=TIMEOUT))
    pair.egress_a.send(h.legacy_request("OPTIONS", "sip:b.test", "z9hG4bK-over"))
    resp = pair.egress_a.recv(timeout=TIMEOUT)
    assert resp.status == 503 and b"z9hG4bK-over" in resp.raw
    pair.a.wait_log(r"cannot track transaction; answering 503")
    assert limit_hits(pair.a, "max_pending_transactions") == 1
    for conn_b, got in held:  # answering frees the table
        conn_b.send(h.response(got))
    for _ in range(100):
        assert pair.egress_a.recv(timeout=TIMEOUT).first_line == "SIP/2.0 200 OK"
    roundtrip(pair, "z9hG4bK-after-full")


def test_send_timeout_ends_a_stalled_reader_and_its_partner_resumes(pair):
    # Legacy B stops reading. Requests with 60 KB bodies fill B's mirror;
    # back-pressure pauses B's TLS connection (max_buffered_bytes), so
    # nothing grows without bound. After send_timeout (2s) without a byte
    # drained, B closes the mirror and its TLS connection reads again.
    pair.legacy_b.reading.clear()
    sender = raw(pair.a.legacy_listen)

    def offer():
        try:
            # 4.8 MB, more than a stalled mirror's socket buffers hold; 80
            # unanswered transactions fit A's max_pending_transactions (100).
            for i in range(80):
                sender.send(h.legacy_request("MESSAGE", "sip:b.test", f"z9hG4bK-bulk-{i}",
                                             body=b"x" * 60000,
                                             headers=["Content-Type: text/plain"]))
        except OSError:
            pass

    threading.Thread(target=offer, daemon=True).start()  # blocks when all is full
    try:
        line = pair.b.wait_log(r"peer reads too slowly.*limit=send_timeout", timeout=60)
        assert "conn=mirror" in line
        pair.b.wait_log(r"limits\.max_buffered_bytes reached; pausing reads")
        pair.b.wait_log(r"connection closed.*conn=mirror.*reason=send_timeout")
        assert limit_hits(pair.b, "send_timeout") >= 1
        assert limit_hits(pair.b, "max_buffered_bytes") >= 1
    finally:
        pair.legacy_b.reading.set()
    # The TLS connection resumed: a new mirror carries what follows.
    fresh = raw(pair.a.legacy_listen)
    try:
        roundtrip(pair, "z9hG4bK-after-stall", egress=fresh, skip_others=True)
    finally:
        fresh.close()
        sender.close()


def test_connection_open_and_close_lines(pair, pki):
    # A TLS client with gw-a's certificate connects to B and hangs up: B
    # logs one line at open and one at close with peer, identity, duration
    # and reason.
    src = f"{pair.net}.11"
    tls = h.tls_connect(pair.b.tls, h.tls_context(pki, "gw-a"), "b.test", source=(src, 0))
    port = tls.sock.getsockname()[1]
    time.sleep(0.3)  # a measurable lifetime; not synchronisation
    tls.sock.close()
    peer = r"peer=\"?" + re.escape(f"{src}:{port}") + r"\"?"
    opened = pair.b.wait_log(r"level=info.*msg=\"connection opened\".*conn=tls-in.*" + peer)
    closed = pair.b.wait_log(r"level=info.*msg=\"connection closed\".*conn=tls-in.*" + peer)
    assert "identity=sip:a.test" in closed or "identity=a.test" in closed, closed
    duration = int(re.search(r"duration_ms=(\d+)", closed).group(1))
    assert 300 <= duration < TIMEOUT * 1000, closed
    assert re.search(r'reason="?peer closed', closed), closed
    assert "identity" not in opened
    # Nothing per message at info: 500+ transactions ran in this module.
    info = [ln for ln in pair.a.log().splitlines() if "level=info" in ln]
    assert len(info) < 100, "\n".join(info[-20:])
