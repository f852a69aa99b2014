"""Every abuse limit hit end to end (docs/design.md: every buffer and table is
bounded; each limit hit is logged rate-limited and counted): for each, the
log line, the reusegw_limit_hits_total{limit} series from /metrics, and a
normal request relayed afterwards. Plus the one INFO line per connection
open and close, and the pending table holding in-flight work only (500
sequential transactions through limits.max_pending_transactions: 100).

Gateway A (127.0.0.2) takes limits on its own inbound side: handshake_rate
1/s, message_timeout 1s, max_pending_transactions 100. Gateway B
(127.0.0.3): max_connections 8, max_concurrent_handshakes 2,
max_connections_per_peer 2,
send_timeout 2s, max_buffered_bytes 64 KiB."""
import os
import re
import select
import socket
import ssl
import sys
import threading
import time
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "gateway"))
from sipwire import A_HOST, B_HOST, Client, Pair, request, respond  # noqa: E402

BIN = os.environ.get("REUSEGW_BIN", "")
SRC = os.environ.get("REUSEGW_SOURCE_DIR", "")
TIMEOUT = 30  # generous: a loaded shared machine

A_LIMITS = """limits:
  handshake_rate: 1
  message_timeout: 1s
  max_pending_transactions: 100
runtime:
  drain_timeout: 1s  # the slow-reader test leaves transactions unanswered
"""
B_LIMITS = """limits:
  max_connections: 8
  max_concurrent_handshakes: 2
  max_connections_per_peer: 2
  send_timeout: 2s
  max_buffered_bytes: 65536
"""


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    p = Pair(BIN, SRC, str(tmp_path_factory.mktemp("limits")), a_extra=A_LIMITS,
             b_extra=B_LIMITS)
    # A small receive buffer on the legacy proxy's accepted sockets (set
    # before its first connection) keeps the slow-reader test's fill small.
    p.legacy_b.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    roundtrip(p, b"z9hG4bK-warm")  # A -> B connection and B's mirror exist
    yield p
    assert p.stop() == (0, 0)


def roundtrip(p, branch, egress=None, skip_others=False):
    """One OPTIONS from legacy A to legacy B and its 200 back."""
    egress = egress or p.egress_a
    egress.send(request(b"OPTIONS", b"sip:b.test", branch, branch + b"@a", 1))
    deadline = time.monotonic() + TIMEOUT
    while True:
        conn_b, got = p.legacy_b.next(timeout=max(0.1, deadline - time.monotonic()))
        if branch in got:
            break
        assert skip_others, "unexpected message at legacy B"
    conn_b.send(respond(got, 200, b"OK"))
    resp = egress.recv(timeout=TIMEOUT)
    assert resp.startswith(b"SIP/2.0 200 OK\r\n") and branch in resp


def admin_metrics(gw):
    with open(gw.config) as f:
        host, port = re.search(r"(?m)^admin:\n  listen: (\S+):(\d+)$", f.read()).groups()
    with urllib.request.urlopen("http://%s:%s/metrics" % (host, port), timeout=TIMEOUT) as r:
        return r.read().decode()


def limit_hits(gw, limit):
    m = re.search(r'(?m)^reusegw_limit_hits_total\{limit="%s"\} (\d+)$' % limit,
                  admin_metrics(gw))
    assert m, "reusegw_limit_hits_total{limit=%r} missing" % limit
    return int(m.group(1))


def wait_log(gw, pattern, timeout=TIMEOUT):
    """The first log line matching |pattern|, polled (readiness, not sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in gw.read_log().splitlines():
            if re.search(pattern, line):
                return line
        time.sleep(0.05)
    raise AssertionError("no log line matching %r in:\n%s" % (pattern, gw.read_log()))


def closed_by_peer(sock, timeout):
    """True when |sock|'s peer closed it within |timeout| seconds."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    if not poller.poll(timeout * 1000):
        return False
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def raw(host, port, source=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if source:
        s.bind((source, 0))
    s.settimeout(TIMEOUT)
    s.connect((host, port))
    return s


def test_max_concurrent_handshakes(pair):
    # Two TCP connections that never start TLS hold both handshake slots; a
    # third is accepted and closed at once.
    # Three source addresses: max_connections_per_peer (2) must not be what
    # refuses the third.
    held = [raw(B_HOST, pair.b_tls, "127.0.0.%d" % n) for n in (21, 22)]
    wait_log(pair.b, r'connection opened.*peer=127\.0\.0\.22:')
    extra = raw(B_HOST, pair.b_tls, "127.0.0.23")
    try:
        assert closed_by_peer(extra, TIMEOUT)
        assert not closed_by_peer(held[0], 0.2)
        line = wait_log(pair.b, r"handshake limit reached.*limit=max_concurrent_handshakes")
        assert "max_concurrent_handshakes=2" in line
        assert limit_hits(pair.b, "max_concurrent_handshakes") >= 1
    finally:
        for s in held + [extra]:
            s.close()
    roundtrip(pair, b"z9hG4bK-after-hs")


def test_max_connections_per_peer(pair):
    src = "127.0.0.9"
    held = [raw(B_HOST, pair.b_tls, src) for _ in range(2)]
    wait_log(pair.b, r'connection opened.*peer=127\.0\.0\.9:')
    extra = raw(B_HOST, pair.b_tls, src)
    try:
        assert closed_by_peer(extra, TIMEOUT)
        wait_log(pair.b, r"limits\.max_connections_per_peer reached.*peer=127\.0\.0\.9")
        assert limit_hits(pair.b, "max_connections_per_peer") >= 1
    finally:
        for s in held + [extra]:
            s.close()
    roundtrip(pair, b"z9hG4bK-after-peer")


def test_max_connections(pair):
    # B holds its TLS connection from A and its mirror; plain connections to
    # its legacy.listen take the other slots until one is refused.
    socks = []
    try:
        for _ in range(20):  # a late close only means more refused ones follow
            socks.append(raw(B_HOST, pair.b_legacy))
            if closed_by_peer(socks[-1], 0.3):
                break
        else:
            pytest.fail("20 more connections accepted at max_connections 8")
        wait_log(pair.b, r"limits\.max_connections reached; refusing connection.*max_connections=8")
        assert limit_hits(pair.b, "max_connections") >= 1
    finally:
        for s in socks:
            s.close()
    roundtrip(pair, b"z9hG4bK-after-max")


def test_handshake_rate(pair):
    # A admits one new inbound handshake a second (burst 1). Once one
    # connection was admitted, more opened at once are refused.
    socks = []
    try:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:  # the token refills within a second
            s = raw(A_HOST, pair.a_tls)
            if not closed_by_peer(s, 1.5):
                socks.append(s)
                break
            s.close()
            time.sleep(0.1)  # bounded retry pace, not synchronisation
        else:
            pytest.fail("no connection admitted in %ds at handshake_rate 1" % TIMEOUT)
        burst = [raw(A_HOST, pair.a_tls) for _ in range(5)]
        socks += burst
        refused = [closed_by_peer(s, 1.0) for s in burst]
        assert any(refused), refused
        wait_log(pair.a, r"handshake limit reached.*limit=handshake_rate.*handshake_rate=1")
        assert limit_hits(pair.a, "handshake_rate") >= 1
    finally:
        for s in socks:
            s.close()
    roundtrip(pair, b"z9hG4bK-after-rate")


def test_message_timeout_closes_a_slowloris(pair):
    # A trickles one header byte every 200 ms: it keeps the connection busy
    # but never finishes the message; message_timeout (1s) ends it.
    c = Client.connect(A_HOST, pair.a_legacy)
    partial = request(b"OPTIONS", b"sip:b.test", b"z9hG4bK-slow", b"slow@a", 1)[:-30]
    start = time.monotonic()
    closed = False
    try:
        for byte in partial:
            try:
                c.sock.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if closed_by_peer(c.sock, 0.2):
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
    line = wait_log(pair.a, r"message incomplete for too long.*limit=message_timeout")
    assert "conn=egress" in line
    wait_log(pair.a, r"connection closed.*conn=egress.*reason=message_timeout")
    assert limit_hits(pair.a, "message_timeout") >= 1
    roundtrip(pair, b"z9hG4bK-after-slow")  # the idle egress_a was not touched


def test_max_message_bytes_is_counted(pair):
    c = Client.connect(A_HOST, pair.a_legacy)
    try:
        c.send(request(b"MESSAGE", b"sip:b.test", b"z9hG4bK-huge", b"huge@a", 1, b"x" * 70000,
                       b"Content-Type: text/plain\r\n"))
        assert c.recv(timeout=TIMEOUT).startswith(b"SIP/2.0 513 ")
    finally:
        c.close()
    wait_log(pair.a, r"framing error; closing connection.*reason=\"?Message Too Large")
    assert limit_hits(pair.a, "max_message_bytes") >= 1
    roundtrip(pair, b"z9hG4bK-after-huge")


def test_pending_table_holds_only_in_flight_transactions(pair):
    # 500 sequential transactions through a table of 100: each ends with its
    # final response (Timer K = 0 on TCP/TLS), so none is refused.
    before = limit_hits(pair.a, "max_pending_transactions")
    for i in range(500):
        roundtrip(pair, b"z9hG4bK-seq-%d" % i)
    assert limit_hits(pair.a, "max_pending_transactions") == before


def test_max_pending_transactions(pair):
    held = []
    for i in range(100):
        pair.egress_a.send(request(b"OPTIONS", b"sip:b.test", b"z9hG4bK-fill-%d" % i,
                                   b"fill%d@a" % i, 1))
    for _ in range(100):
        held.append(pair.legacy_b.next(timeout=TIMEOUT))
    pair.egress_a.send(request(b"OPTIONS", b"sip:b.test", b"z9hG4bK-over", b"over@a", 1))
    resp = pair.egress_a.recv(timeout=TIMEOUT)
    assert resp.startswith(b"SIP/2.0 503 ") and b"z9hG4bK-over" in resp
    wait_log(pair.a, r"cannot track transaction; answering 503")
    assert limit_hits(pair.a, "max_pending_transactions") == 1
    for conn_b, got in held:  # answering frees the table
        conn_b.send(respond(got, 200, b"OK"))
    for _ in range(100):
        assert pair.egress_a.recv(timeout=TIMEOUT).startswith(b"SIP/2.0 200 OK")
    roundtrip(pair, b"z9hG4bK-after-full")


def test_send_timeout_ends_a_stalled_reader_and_its_partner_resumes(pair):
    # Legacy B stops reading. Requests with 60 KB bodies fill B's mirror;
    # back-pressure pauses B's TLS connection (max_buffered_bytes), so
    # nothing grows without bound. After send_timeout (2s) without a byte
    # drained, B closes the mirror and its TLS connection reads again.
    pair.legacy_b.reading.clear()
    sender = Client.connect(A_HOST, pair.a_legacy)

    def offer():
        try:
            # 4.8 MB, more than a stalled mirror's socket buffers hold; 80
            # unanswered transactions fit A's max_pending_transactions (100).
            for i in range(80):
                sender.send(request(b"MESSAGE", b"sip:b.test", b"z9hG4bK-bulk-%d" % i,
                                    b"bulk%d@a" % i, 1, b"x" * 60000,
                                    b"Content-Type: text/plain\r\n"))
        except OSError:
            pass

    threading.Thread(target=offer, daemon=True).start()  # blocks when all is full
    try:
        line = wait_log(pair.b, r"peer reads too slowly.*limit=send_timeout", timeout=60)
        assert "conn=mirror" in line
        wait_log(pair.b, r"limits\.max_buffered_bytes reached; pausing reads")
        wait_log(pair.b, r"connection closed.*conn=mirror.*reason=send_timeout")
        assert limit_hits(pair.b, "send_timeout") >= 1
        assert limit_hits(pair.b, "max_buffered_bytes") >= 1
    finally:
        pair.legacy_b.reading.set()
    # The TLS connection resumed: a new mirror carries what follows.
    fresh = Client.connect(A_HOST, pair.a_legacy)
    try:
        roundtrip(pair, b"z9hG4bK-after-stall", egress=fresh, skip_others=True)
    finally:
        fresh.close()
        sender.close()


def test_connection_open_and_close_lines(pair):
    # A TLS client with gw-a's certificate connects to B and hangs up: B
    # logs one line at open and one at close with peer, identity, duration
    # and reason.
    ctx = ssl.create_default_context(cafile=os.path.join(pair.certs, "ca.pem"))
    ctx.load_cert_chain(os.path.join(pair.certs, "gw-a.pem"), os.path.join(pair.certs, "gw-a.key"))
    s = raw(B_HOST, pair.b_tls, "127.0.0.11")
    port = s.getsockname()[1]
    tls = ctx.wrap_socket(s, server_hostname="b.test")
    time.sleep(0.3)  # a measurable lifetime; not synchronisation
    tls.close()
    peer = r"peer=\"?127\.0\.0\.11:%d\"?" % port
    opened = wait_log(pair.b, r"level=info.*msg=\"connection opened\".*conn=tls-in.*" + peer)
    closed = wait_log(pair.b, r"level=info.*msg=\"connection closed\".*conn=tls-in.*" + peer)
    assert "identity=sip:a.test" in closed or "identity=a.test" in closed, closed
    duration = int(re.search(r"duration_ms=(\d+)", closed).group(1))
    assert 300 <= duration < TIMEOUT * 1000, closed
    assert re.search(r'reason="?peer closed', closed), closed
    assert "identity" not in opened
    # Nothing per message at info: 500+ transactions ran in this module.
    info = [l for l in pair.a.read_log().splitlines() if "level=info" in l]
    assert len(info) < 100, "\n".join(info[-20:])
