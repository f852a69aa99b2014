"""/connections on the admin endpoint against what the kernel shows.

Two real reusegw (A and B, Stage.relay: the legacy proxies are the
LegacyServer stand-ins) talk TLS to each other; two more TLS peers (OpenSSL
through Python's ssl module, with the test CA's certificates) connect to B:
one held to TLS 1.2 and one cipher suite, one whose certificate carries a
dNSName SAN written to break JSON. For each gateway, every TCP connection
`ss -tnp` shows for its pid is listed exactly once (local and peer address
and port), with its kind, our identity, the peer's proven identities, the
TLS version and cipher, the message counts of the requests sent and byte
counts that agree with the other end; limit and offset page through the
listing, and a bad query gets a 400 naming the parameter. With two
workers, the listing shows both as owners."""
import json
import os
import ssl
import subprocess

import pytest

import reusegw_test as h

N = 3  # OPTIONS from legacy A through A and B, answered by legacy B
HOSTILE = 'x"],"admin":true,"y\\z{}.test'  # a visible-ASCII dNSName: kept as an identity
TLS12_CIPHER = "ECDHE-ECDSA-AES256-GCM-SHA384"  # OpenSSL's name of the next one
TLS12_IANA = "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"


def hostile_leaf(pki, out):
    """A leaf of the test CA whose only SAN is HOSTILE; (chain, key) paths."""
    key, req, cert, ext = (out / n for n in ("hostile.key", "hostile.csr", "hostile.pem",
                                             "hostile.cnf"))
    escaped = HOSTILE.replace("\\", "\\\\").replace('"', '\\"')
    ext.write_text("keyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=@alt\n"
                   f"[alt]\nDNS.1 = {escaped}\n")
    run = lambda *argv: subprocess.run(["openssl", *map(str, argv)], check=True,
                                       capture_output=True, timeout=60)
    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
    run("req", "-new", "-key", key, "-subj", "/CN=hostile", "-out", req)
    run("x509", "-req", "-in", req, "-CA", pki / "ca.pem", "-CAkey", pki / "ca.key", "-days", "2",
        "-extfile", ext, "-out", cert)
    chain = out / "hostile.chain.pem"
    chain.write_text(cert.read_text() + (pki / "ca.pem").read_text())
    return chain, key


def ss_connections(pid):
    """{(local, peer)} of the established TCP sockets of process pid: what
    `ss -tnp` shows for it, read as ss -p does it (the socket inodes of
    /proc/PID/fd against `ss -tne`), since ss -p scans every process of a
    shared machine."""
    fd_dir = f"/proc/{pid}/fd"
    inodes = set()
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = subprocess.run(["ss", "-Htne", "state", "established"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    strip = lambda ep: ep.replace("[", "").replace("]", "")
    pairs = [(strip(f[2]), strip(f[3])) for f in map(str.split, out.splitlines())
             if next((x[4:] for x in f if x.startswith("ino:")), None) in inodes]
    assert len(pairs) == len(set(pairs)), pairs
    return set(pairs)


def matches_ss(gw, rows=None):
    """Asserts that gw's /connections (|rows|, else read anew) has the
    (local, peer) pairs ss shows for its pid, each once. Polled: the /ready
    probe's connect to legacy.forward_to (every 5 s, closed at once) is a
    socket of the process that carries no SIP and is no connection."""
    last = []

    def same():
        got = rows if rows is not None else listing(gw)
        assert len(tcp_pairs(got)) == len(got), got
        last[:] = [tcp_pairs(got), ss_connections(gw.proc.pid)]
        return last[0] == last[1]
    assert h.wait_until(same, timeout=h.IO_TIMEOUT, step=0.2), (gw.name, *last)


def listing(gw):
    """Every row of gw's /connections (one page: the test holds few)."""
    status, body = gw.connections("limit=1000")
    assert status == 200, body
    assert body["count"] == body["listed"] == body["total"] == len(body["connections"]), body
    assert body["next_offset"] is None and not body["truncated"]
    return body["connections"]


def tcp_pairs(rows):
    strip = lambda ep: ep.replace("[", "").replace("]", "")
    return {(strip(r["local"]), strip(r["peer"])) for r in rows if r["kind"] != "udp"}


def one(rows, **want):
    got = [r for r in rows if all(r[k] == v for k, v in want.items())]
    assert len(got) == 1, (want, rows)
    return got[0]


def options_from(conn, via):
    """Sends an OPTIONS to b.test on conn with sent-by via; returns it."""
    msg = h.request("OPTIONS", "sip:b.test", f"SIP/2.0/TLS {via}")
    conn.send(msg)
    return msg


@pytest.fixture(scope="module")
def topo(module_stage):
    """The pair with N requests relayed A -> B, and the two extra peers of
    B, each with its messages done; every counter has settled."""
    pair = module_stage.relay()
    sent = b""
    for i in range(N):
        msg = h.legacy_request("OPTIONS", "sip:b.test", h.new_branch())
        pair.egress_a.send(msg)
        sent += msg
        conn_b, got = pair.legacy_b.next()
        conn_b.send(h.response(got))
        assert pair.egress_a.recv().first_line == "SIP/2.0 200 OK"
    pki = module_stage.pki
    ctx12 = h.tls_context(pki, "peer-k")
    ctx12.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx12.set_ciphers(TLS12_CIPHER)
    tls12 = h.tls_connect(pair.b.tls, ctx12, "b.test")
    module_stage.conns.append(tls12)
    for i in range(2):
        options_from(tls12, "k.test:5061")
        conn_b, got = pair.legacy_b.next()
        conn_b.send(h.response(got))
        assert tls12.recv().first_line == "SIP/2.0 200 OK"
    chain, key = hostile_leaf(pki, module_stage.procs.log_dir)
    ctx_h = h.tls_context(pki)
    ctx_h.load_cert_chain(str(chain), str(key))
    hostile = h.tls_connect(pair.b.tls, ctx_h, "b.test")
    module_stage.conns.append(hostile)
    pair.sent, pair.tls12, pair.hostile = sent, tls12, hostile

    def settled():
        rows = {g: listing(g) for g in (pair.a, pair.b)}
        conns = [r for g in rows.values() for r in g]
        busy = [r for r in conns if r["kind"] != "tls-in" or r["identities"] != [HOSTILE]]
        # Every message counted both ways, every handshake done.
        return rows if len(busy) == 6 and all(
            r["messages_in"] == r["messages_out"] > 0 for r in busy) and len(
            rows[pair.b]) == 5 else None
    pair.rows = h.wait_until(settled)
    assert pair.rows, {g.name: listing(g) for g in (pair.a, pair.b)}
    return pair


def test_every_socket_ss_shows_is_listed_once(topo):
    """For A and B alike, the (local, peer) pairs of /connections are those
    of ss -tnp for the gateway's pid, one row each."""
    for gw in (topo.a, topo.b):
        matches_ss(gw)


def test_kinds_identities_tls_and_counts(topo):
    """A holds its egress (legacy A's connection) and its outbound TLS
    connection to B; B the inbound one from A (aliased under A's address and
    tls.listen port), a mirror per TLS connection that carried requests, and
    the two Python peers."""
    a, b = topo.rows[topo.a], topo.rows[topo.b]
    assert sorted(r["kind"] for r in a) == ["egress", "tls-out"]
    assert sorted(r["kind"] for r in b) == ["mirror", "mirror", "tls-in", "tls-in", "tls-in"]
    egress = one(a, kind="egress")
    assert egress["peer"] == h.hostport(topo.egress_a.sock.getsockname())
    assert (egress["messages_in"], egress["messages_out"]) == (N, N)
    assert egress["bytes_in"] == len(topo.sent)
    assert egress["ours"] == "a.test" and egress["tls_version"] is None
    out = one(a, kind="tls-out")
    assert out["target"] == out["peer"] == h.hostport(topo.b.tls)
    assert out["identities"] == ["b.test"] and out["ours"] == "a.test"
    assert (out["messages_in"], out["messages_out"]) == (N, N)
    inbound = one(b, kind="tls-in", peer=out["local"])
    assert inbound["local"] == h.hostport(topo.b.tls)
    assert inbound["identities"] == ["a.test"] and inbound["ours"] == "b.test"
    assert inbound["alias_keys"] == [h.hostport(topo.a.tls)]
    assert (inbound["messages_in"], inbound["messages_out"]) == (N, N)
    # Both ends of one TLS connection: the same version and suite, and each
    # side's ciphertext is what the other received.
    assert inbound["tls_version"] == out["tls_version"] == "TLSv1.3"
    assert inbound["cipher"] == out["cipher"] and out["cipher"].startswith("TLS_")
    assert inbound["resumed"] is False and out["resumed"] is False
    assert (inbound["bytes_in"], inbound["bytes_out"]) == (out["bytes_out"], out["bytes_in"])
    tls12 = one(b, kind="tls-in", peer=h.hostport(topo.tls12.sock.getsockname()))
    assert tls12["tls_version"] == "TLSv1.2" == topo.tls12.sock.version()
    assert tls12["cipher"] == TLS12_IANA
    assert tls12["identities"] == ["k.test"] and tls12["alias_keys"] == []
    assert (tls12["messages_in"], tls12["messages_out"]) == (2, 2)
    mirrors = [r for r in b if r["kind"] == "mirror"]
    assert {r["peer"] for r in mirrors} == {h.hostport(topo.legacy_b.ep)}
    assert sorted((r["messages_in"], r["messages_out"]) for r in mirrors) == [(2, 2), (N, N)]
    assert all(r["ours"] is None and r["worker"] == 0 for r in mirrors)
    for r in a + b:
        assert r["state"] == "open" and r["age_ms"] >= r["idle_ms"] >= 0


def test_a_hostile_certificate_name_stays_one_json_string(topo):
    """The SAN was written to close the string and add a field: the body
    still parses, and the name comes back byte for byte."""
    status, body = topo.b.http_get("/connections")
    assert status == 200
    rows = json.loads(body)["connections"]
    got = one(rows, peer=h.hostport(topo.hostile.sock.getsockname()))
    assert got["identities"] == [HOSTILE]
    assert "admin" not in got
    assert (got["messages_in"], got["messages_out"]) == (0, 0)


def test_limit_and_offset_page_through_every_row(topo):
    rows = listing(topo.b)
    key = lambda r: (r["worker"], r["connection"])
    seen, offset = [], 0
    while offset is not None:
        status, body = topo.b.connections(f"limit=2&offset={offset}")
        assert status == 200 and body["limit"] == 2 and body["offset"] == offset
        assert body["count"] == len(body["connections"]) <= 2
        seen += body["connections"]
        offset = body["next_offset"]
        assert len(seen) <= len(rows)
    assert [key(r) for r in seen] == [key(r) for r in rows]
    status, body = topo.b.connections("limit=0")
    assert status == 200 and body["connections"] == [] and body["total"] == len(rows)
    assert body["next_offset"] == 0
    status, body = topo.b.connections(f"offset={len(rows)}")
    assert status == 200 and body["connections"] == [] and body["next_offset"] is None
    status, body = topo.b.connections()
    assert status == 200 and body["limit"] == 100 and body["offset"] == 0


@pytest.mark.parametrize("query,param", [
    ("limit=abc", "limit"), ("limit=-1", "limit"), ("limit=1001", "limit"), ("limit=", "limit"),
    ("offset=-5", "offset"), ("offset=4294967296", "offset"), ("limit=1&limit=2", "limit"),
    ("sort=age", "sort"), ('x"y=1', 'x"y'),
])
def test_bad_query_is_a_400_naming_the_parameter(topo, query, param):
    status, body = topo.b.connections(query)
    assert status == 400, body
    assert body["parameter"] == param and body["reason"], body


def test_two_workers_both_show_as_owners(stage, make_single, legacy):
    """With runtime.workers 2 the kernel spreads inbound connections over
    both workers' listeners (SO_REUSEPORT); /connections lists each under
    the worker that owns it, and still exactly what ss shows."""
    backend = legacy()
    single = make_single(backend.ep, edit=lambda cfg: cfg["runtime"].update(workers=2))
    gw = single.gw
    ctx = h.tls_context(stage.pki, "gw-a")
    owners = set()
    for _ in range(24):  # bounded: all of them on one worker is a 2^-23 chance
        stage.conns.append(h.tls_connect(single.tls, ctx, "b.test"))
        n = len(stage.conns)

        def listed():  # the server ends TLS 1.3 after the client does
            rows = listing(gw)
            return rows if len(rows) == n and all(r["state"] == "open" for r in rows) else None
        rows = h.wait_until(listed)
        assert rows, listing(gw)
        owners = {r["worker"] for r in rows}
        if owners == {0, 1}:
            break
    assert owners == {0, 1}, rows
    status, body = gw.connections("limit=1000")
    assert [w["worker"] for w in body["workers"]] == [0, 1]
    assert [w["connections"] for w in body["workers"]] == [
        sum(r["worker"] == i for r in rows) for i in (0, 1)]
    matches_ss(gw, rows)
    assert all(r["kind"] == "tls-in" and r["identities"] == ["a.test"] for r in rows)
