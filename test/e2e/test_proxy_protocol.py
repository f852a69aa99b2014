"""The PROXY protocol on tls.listen (tls.proxy_protocol, docs/configuration.md).

One gateway B (reusegw_test.Single: b.test on NET.3, a.test routed to
NET.2 where nothing listens) trusts NET.5, where a real HAProxy in TCP mode
(send-proxy-v2, health checks on) connects from; HAProxy accepts on NET.4.
A Python TLS peer playing a.test from NET.2 reaches B only through
HAProxy, so its alias can be keyed by its own address only if B reads the
header (R-5923-19: the key IP is the source address; behind a balancer
that is the one the header names), and B's backward request for a.test
can reuse its connection only then (R-5923-20, R-5923-04) — without the
header it would dial NET.2 and get a 503.

Every malformed case is a hand-made header on a raw socket (HAProxy sends
none of them): from NET.5 (trusted) or NET.6 (untrusted). They share the
gateway: each reads the counter of its own reason before and after."""
import socket
import struct
import time

import pytest

import reusegw_test as h

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
HEADER_TIMEOUT_S = 1.0


def v2_header(command, family, payload):
    """A v2 header: command 0 LOCAL / 1 PROXY, family byte, payload."""
    return V2_SIG + bytes([0x20 | command, family]) + struct.pack("!H", len(payload)) + payload


def v2_inet(src, sport, dst, dport):
    return v2_header(1, 0x11, socket.inet_aton(src) + socket.inet_aton(dst)
                     + struct.pack("!HH", sport, dport))


class Edge:
    """B, HAProxy in front of it, and the addresses of the cast."""

    def __init__(self, stage):
        self.pki = stage.pki
        self.legacy = stage.legacy()  # answers 200: the peer's OPTIONS
        box = {}

        def edit(cfg):
            net = cfg["tls"]["listen"][0].rsplit(".", 1)[0]
            box["net"] = net
            cfg["tls"]["proxy_protocol"] = {"trusted": [f"{net}.5/32", "2001:db8::/32"],
                                            "timeout": f"{int(HEADER_TIMEOUT_S * 1000)}ms"}
            cfg["log"]["level"] = "debug"
        self.single = stage.single(self.legacy.ep, edit)
        self.gw = self.single.gw
        net = box["net"]
        self.peer_ip, self.haproxy_ip = f"{net}.2", f"{net}.4"
        self.balancer_ip, self.stranger_ip = f"{net}.5", f"{net}.6"
        self.a_port = self.single.a_tls[1]
        self.front = (self.haproxy_ip, h.free_port(self.haproxy_ip))
        self.haproxy = h.start_haproxy(stage.procs, "haproxy", self.front, self.gw.tls,
                                       self.balancer_ip)

    def rejected(self, reason):
        return self.gw.metric(f'reusegw_proxy_protocol_rejected_total{{reason="{reason}"}}')

    def raw(self, source):
        s = socket.create_connection(self.gw.tls, timeout=h.IO_TIMEOUT,
                                     source_address=(source, 0))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def peer(self, ep, source, leaf="gw-a", header=b""):
        """A TLS SipConnection to ep from source (ip), after header."""
        s = socket.create_connection(ep, timeout=h.IO_TIMEOUT, source_address=(source, 0))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(header)
        return h.SipConnection(h.tls_context(self.pki, leaf).wrap_socket(
            s, server_hostname="b.test"))

    def aliased_request(self, conn, port):
        """conn asks for an alias with sent-by a.test:port; B's legacy
        proxy answers 200."""
        conn.send(h.request("OPTIONS", "sip:svc@b.test", f"SIP/2.0/TLS a.test:{port};alias"))
        assert conn.recv().status == 200

    def backward(self):
        """B's legacy proxy sends an OPTIONS for a.test: (its connection, the
        request it sent)."""
        c = h.tcp_connect(self.gw.legacy_listen)
        msg = h.request("OPTIONS", "sip:svc@a.test", h.LEGACY_VIA)
        c.send(msg)
        return c, h.SipMessage(msg)


@pytest.fixture(scope="module")
def edge(module_stage):
    return Edge(module_stage)


def closed_by_gateway(sock, timeout=h.IO_TIMEOUT):
    """True when B closes sock (EOF or reset) within timeout, having sent
    nothing: no byte of a refused connection reaches the TLS engine, so no
    TLS alert comes back either."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(4096)
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    finally:
        sock.close()
    assert data == b"", f"B answered {data[:32]!r} before closing"
    return True


def test_peer_behind_haproxy_is_aliased_by_its_own_address_and_reused(edge):
    """R-5923-19, R-5923-20, R-5923-04 through a real HAProxy
    (send-proxy-v2): the alias row is keyed by the peer's own address, not
    HAProxy's; B's backward request for a.test travels down the peer's own
    connection (through HAProxy) and B dials nothing; the connection log
    names the peer, the debug line the balancer."""
    before = edge.gw.metric('reusegw_proxy_protocol_headers_total{version="2"}')
    conn = edge.peer(edge.front, edge.peer_ip)
    edge.aliased_request(conn, edge.a_port)
    rows = edge.gw.aliases()
    assert [(r["address"], r["port"]) for r in rows] == [(edge.peer_ip, edge.a_port)], rows
    assert rows[0]["identities"] == ["a.test"]

    c, sent = edge.backward()
    req = conn.recv()
    assert req.first_line == "OPTIONS sip:svc@a.test SIP/2.0"
    conn.send(h.response(req))
    answer = c.recv()
    assert answer.status == 200 and answer.all("via") == sent.all("via")
    assert h.established(edge.gw.tls[0], edge.single.a_tls) == 0, "B dialled a.test"
    assert edge.gw.metric('reusegw_proxy_protocol_headers_total{version="2"}') == before + 1
    assert edge.gw.metric('reusegw_reuse_decisions_total{reason="reused"}') >= 1
    edge.gw.wait_log(rf'msg="connection opened" conn=tls-in peer={edge.peer_ip}:\d+')
    edge.gw.wait_log(rf'msg="PROXY protocol header" peer={edge.peer_ip}:\d+ '
                     rf'balancer={edge.balancer_ip}:\d+ version=2')
    assert f"peer={edge.balancer_ip}" not in edge.gw.log()
    conn.close()
    c.close()
    assert h.wait_until(lambda: edge.gw.aliases() == []), "the alias outlived its connection"


def test_haproxy_health_checks_are_local_and_closed_quietly(edge):
    """HAProxy's own health checks carry a v2 LOCAL header: one that is
    read is accepted, counted and closed without a log line or a
    rejection, and HAProxy keeps the server up (the peer test above went
    through it). HAProxy resets a check once connected, so most are gone
    before reusegw reads them (or accepts them): those leave no trace at
    all."""
    assert h.wait_until(lambda: edge.gw.metric("reusegw_proxy_protocol_local_total") >= 1)
    # Hand-made LOCAL too: counted, closed, nothing refused.
    local = edge.gw.metric("reusegw_proxy_protocol_local_total")
    refused = sum(edge.rejected(r) for r in ("missing", "v2_family", "truncated"))
    s = edge.raw(edge.balancer_ip)
    s.sendall(v2_header(0, 0x00, b""))
    assert closed_by_gateway(s)
    assert h.wait_until(lambda: edge.gw.metric("reusegw_proxy_protocol_local_total") > local)
    assert sum(edge.rejected(r) for r in ("missing", "v2_family", "truncated")) == refused
    assert "PROXY protocol header refused" not in edge.gw.log()
    assert f"peer={edge.balancer_ip}" not in edge.gw.log()


def test_v1_header_from_a_trusted_source_names_the_peer(edge):
    """A v1 line (send-proxy's format) from the trusted balancer address,
    then TLS: B keys the alias by the address the line names (NET.7)."""
    named = edge.peer_ip.rsplit(".", 1)[0] + ".7"
    line = f"PROXY TCP4 {named} {edge.gw.tls[0]} 40001 {edge.gw.tls[1]}\r\n".encode()
    before = edge.gw.metric('reusegw_proxy_protocol_headers_total{version="1"}')
    conn = edge.peer(edge.gw.tls, edge.balancer_ip, header=line)
    edge.aliased_request(conn, 5071)
    assert (named, 5071) in [(r["address"], r["port"]) for r in edge.gw.aliases()]
    assert edge.gw.metric('reusegw_proxy_protocol_headers_total{version="1"}') == before + 1
    conn.close()


def test_untrusted_source_without_header_is_served(edge):
    """A source outside tls.proxy_protocol.trusted connects as before: its
    own address is its peer address."""
    conn = edge.peer(edge.gw.tls, edge.stranger_ip)
    edge.aliased_request(conn, 5072)
    assert (edge.stranger_ip, 5072) in [(r["address"], r["port"]) for r in edge.gw.aliases()]
    conn.close()


V1_TOO_LONG = b"PROXY TCP4 " + b"1" * 120 + b"\r\n"
MALFORMED = [
    # (id, source: trusted balancer or stranger, bytes, reason)
    ("no_header_from_trusted", "balancer", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
     "missing"),
    ("header_from_untrusted", "stranger", b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n",
     "untrusted"),
    ("v2_header_from_untrusted", "stranger", v2_inet("192.0.2.1", 1, "192.0.2.2", 2),
     "untrusted"),
    ("bad_signature", "balancer", b"PROXZ TCP4 192.0.2.1 192.0.2.2 1 2\r\n", "bad_signature"),
    ("bad_v2_signature", "balancer", b"\r\n\r\n\x00\r\nQUIZ\n" + bytes(8), "bad_signature"),
    ("bad_v1_syntax", "balancer", b"PROXY TCP4 192.0.2.1 192.0.2.2 1\r\n", "v1_syntax"),
    ("bad_v1_address", "balancer", b"PROXY TCP4 192.0.2.300 192.0.2.2 1 2\r\n", "v1_syntax"),
    ("oversized_v1", "balancer", V1_TOO_LONG, "v1_too_long"),
    ("v2_length_beyond_bound", "balancer", V2_SIG + b"\x21\x11\xff\xff", "v2_too_long"),
    ("v2_unix_family", "balancer", v2_header(1, 0x31, bytes(216)), "v2_family"),
    ("v2_short_addresses", "balancer", v2_header(1, 0x11, bytes(8)), "v2_short"),
    ("v2_version", "balancer", V2_SIG + b"\x11\x11\x00\x0c" + bytes(12), "v2_version"),
]


@pytest.mark.parametrize("source,data,reason", [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_malformed_header_closes_the_connection_with_a_reason(edge, source, data, reason):
    """The connection is closed at once, before any TLS (nothing comes
    back), with its reason logged and counted."""
    time.sleep(0.15)  # the warning is rate-limited to 10 lines a second
    ip = edge.balancer_ip if source == "balancer" else edge.stranger_ip
    before = edge.rejected(reason)
    lines = edge.gw.log().count(f'reason={reason} source={ip}:')
    s = edge.raw(ip)
    s.sendall(data)
    assert closed_by_gateway(s)
    assert h.wait_until(lambda: edge.rejected(reason) == before + 1)
    edge.gw.wait_log(rf'msg="PROXY protocol header refused; closing connection" '
                     rf'reason={reason} source={ip}:\d+ '
                     rf'trusted={"true" if source == "balancer" else "false"}',
                     count=lines + 1)


def test_truncated_header_that_stalls_times_out(edge):
    """Half a v2 header, then nothing: B waits tls.proxy_protocol.timeout
    (1 s here), then closes with reason timeout."""
    before = edge.rejected("timeout")
    s = edge.raw(edge.balancer_ip)
    s.sendall(v2_inet("192.0.2.1", 1, "192.0.2.2", 2)[:20])
    start = time.monotonic()
    assert closed_by_gateway(s)
    waited = time.monotonic() - start
    assert HEADER_TIMEOUT_S * 0.8 <= waited < HEADER_TIMEOUT_S + 5, waited
    assert h.wait_until(lambda: edge.rejected("timeout") == before + 1)


def test_header_cut_across_reads_is_gathered(edge):
    """A header sent a few bytes at a time (each its own segment) is
    gathered until whole; then the TLS handshake runs on what follows."""
    named = edge.peer_ip.rsplit(".", 1)[0] + ".8"
    header = v2_inet(named, 40002, edge.gw.tls[0], edge.gw.tls[1])
    s = socket.create_connection(edge.gw.tls, timeout=h.IO_TIMEOUT,
                                 source_address=(edge.balancer_ip, 0))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(0, len(header), 5):
        s.sendall(header[i:i + 5])
        time.sleep(0.02)
    conn = h.SipConnection(h.tls_context(edge.pki, "gw-a").wrap_socket(
        s, server_hostname="b.test"))
    edge.aliased_request(conn, 5073)
    assert (named, 5073) in [(r["address"], r["port"]) for r in edge.gw.aliases()]
    conn.close()


def test_balancer_hanging_up_mid_header_is_truncated(edge):
    """Part of a header, then the balancer closes: reason truncated."""
    before = edge.rejected("truncated")
    s = edge.raw(edge.balancer_ip)
    s.sendall(b"PROXY TCP4 192.0.2.1")
    s.shutdown(socket.SHUT_WR)
    assert closed_by_gateway(s)
    assert h.wait_until(lambda: edge.rejected("truncated") == before + 1)


def test_per_peer_limit_counts_the_client_the_header_names(edge):
    """limits.max_connections_per_peer (reloaded to 1 here, then back)
    judges the client a header names, not the balancer: a second
    connection naming the same client is refused, one naming another
    client through the same balancer is served. (One worker: with N, each
    enforces its share, ceil(1/N), and the kernel may spread the two.)"""
    edge.gw.config["limits"]["max_connections_per_peer"] = 1
    edge.gw.reload()
    edge.gw.wait_log('msg="configuration reloaded"')
    net = edge.peer_ip.rsplit(".", 1)[0]
    first = edge.peer(edge.gw.tls, edge.balancer_ip,
                      header=v2_inet(f"{net}.9", 40003, edge.gw.tls[0], edge.gw.tls[1]))
    edge.aliased_request(first, 5074)
    refused = edge.gw.metric('reusegw_connections_rejected_total{reason="max_per_peer"}')
    s = edge.raw(edge.balancer_ip)
    s.sendall(v2_inet(f"{net}.9", 40004, edge.gw.tls[0], edge.gw.tls[1]) + b"\x16\x03\x01")
    assert closed_by_gateway(s)
    assert h.wait_until(lambda: edge.gw.metric(
        'reusegw_connections_rejected_total{reason="max_per_peer"}') == refused + 1)
    edge.gw.wait_log(rf'max_connections_per_peer reached; refusing connection" '
                     rf'peer={net}\.9:40004')
    other = edge.peer(edge.gw.tls, edge.balancer_ip,
                      header=v2_inet(f"{net}.10", 40005, edge.gw.tls[0], edge.gw.tls[1]))
    edge.aliased_request(other, 5075)
    first.close()
    other.close()
    edge.gw.config["limits"]["max_connections_per_peer"] = 1000
    edge.gw.reload()
    edge.gw.wait_log('msg="configuration reloaded"', count=2)
