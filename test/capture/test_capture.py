"""HEPv3 capture and the TLS key log end to end, with real collectors.

A full call crosses two gateways (A = a.test, B = b.test), each in front
of a sipp legacy proxy; each gateway sends its captures to its own sngrep
(Debian's, listening for HEP over UDP and writing a pcap), and tshark reads
the pcap. Over TCP, and for the capture id and auth key chunks that
sngrep's pcap does not keep, hep_collector (hep_decode.h, the stand-in for
heplify-server) decodes the stream. A collector that is down, or stops
reading, costs no call, and the drops are counted. tshark decrypts a TLS
session captured on loopback with the key log reusegw wrote."""
import collections
import json
import os
import re
import signal
import subprocess
import time
import urllib.request

import reusegw_test as h

COLLECTOR_BIN = os.environ.get("HEP_COLLECTOR_BIN")


def sipp_side(procs, name, scenario, calls, dest, remote=None, extra=()):
    local = ("127.0.0.1", h.free_port())
    s = h.Sipp(procs, name, scenario, local, remote,
               extra=["-m", str(calls), "-key", "dest", dest, *extra])
    if remote is None:
        h.wait_listening(local, s.proc)
    return s, local


def with_capture(addresses, transport="udp", legs=("tls", "legacy"), **extra):
    """An edit for make_pair: gateway "a" / "b" captures to addresses[name]
    ((ip, port); a gateway not named captures nothing)."""
    def edit(name, cfg):
        if name in addresses:
            cfg["capture"] = {"hep": {"address": h.hostport(addresses[name]),
                                      "transport": transport, "legs": list(legs),
                                      "capture_id": 100 + ord(name), **extra}}
    return edit


def start_sngrep(procs, name):
    """sngrep listening for HEP on a free UDP port, writing every packet it
    gets to a pcap. Returns (process, (ip, port), pcap path)."""
    ep = ("127.0.0.1", h.free_port())
    pcap = procs.log_dir / f"{name}.pcap"
    p = procs.start(name, ["sngrep", "-N", "-q", "-L", f"udp:{h.hostport(ep)}", "-O", pcap])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and f":{ep[1]} " not in udp_listeners():
        time.sleep(0.05)
    return p, ep, pcap


def udp_listeners():
    return subprocess.run(["ss", "-Huln"], capture_output=True, text=True).stdout


def pcap_frames(pcap):
    """(src ip, src port, dst ip, dst port, first line, Call-ID) of every
    frame tshark finds in |pcap|, in order."""
    r = subprocess.run(["tshark", "-r", pcap, "-o", "sip.tls.port:0", "-d", "udp.port==1-65535,sip",
                        "-T", "fields", "-E", "separator=\t",
                        "-e", "ip.src", "-e", "udp.srcport", "-e", "ip.dst", "-e", "udp.dstport",
                        "-e", "sip.Request-Line", "-e", "sip.Status-Line", "-e", "sip.Call-ID"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    frames = []
    for line in r.stdout.splitlines():
        src, sport, dst, dport, req, status, call_id = line.split("\t")
        frames.append((src, int(sport), dst, int(dport), req or status, call_id))
    return frames


def stop_collector(p):
    """SIGTERM, so that sngrep closes its pcap."""
    p.stop(signal.SIGTERM)


def metric(gw, name):
    """Sum of the series of |name| (a family and labels, as text) in gw's /metrics."""
    host, port = gw.config["admin"]["listen"].rsplit(":", 1)
    body = urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10).read().decode()
    total = 0.0
    for line in body.splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


def tls_local_port(pair):
    """A's end of the one TLS connection A opened to B (from ss)."""
    rows = [lo for _, lo, pe in h.net._established_rows() if pe == pair.b.tls and lo[0] == pair.a_ip]
    assert len(rows) == 1, rows
    return rows[0][1]


def test_full_call_shows_every_message_of_both_legs_once(procs, make_pair):
    """INVITE, 180, 200, ACK, BYE, 200 from A's legacy proxy to B's: in
    A's capture each message appears exactly once on the legacy leg (sipp
    -> A's legacy.listen and back) and once on the TLS leg (A's real source
    address and port -> B's tls.listen and back), and B's capture shows the
    same on its legs; every copy carries the call's Call-ID."""
    sng_a, ep_a, pcap_a = start_sngrep(procs, "sngrep-a")
    sng_b, ep_b, pcap_b = start_sngrep(procs, "sngrep-b")
    uas, uas_ep = sipp_side(procs, "uas-b", "invite_uas.xml", 1, "b.test")
    pair = make_pair(h.dead_endpoint(), uas_ep, edit=with_capture({"a": ep_a, "b": ep_b}))
    uac_ep = ("127.0.0.1", h.free_port())
    uac = h.Sipp(procs, "uac-a", "invite_uac.xml", uac_ep, pair.a.legacy_listen,
                 extra=["-m", "1", "-key", "dest", "b.test"])
    assert uac.wait() == 0
    assert uas.wait() == 0
    a_port = tls_local_port(pair)
    time.sleep(0.5)  # one loop turn, and the datagrams through sngrep
    stop_collector(sng_a)
    stop_collector(sng_b)
    a_frames = pcap_frames(pcap_a)
    b_frames = pcap_frames(pcap_b)
    # B's mirror closed with the sipp UAS; its one source port is the one
    # every frame towards the UAS comes from.
    mirror = {(f[0], f[1]) for f in b_frames if (f[2], f[3]) == uas_ep}
    assert len(mirror) == 1, b_frames
    b_mirror = mirror.pop()
    assert b_mirror[0] == "127.0.0.1" and b_mirror != uas_ep

    requests = ["INVITE", "ACK", "BYE"]
    responses = ["SIP/2.0 180", "SIP/2.0 200", "SIP/2.0 200"]
    call_ids = set()

    def legs(frames, caller, callee):
        """Start lines of the frames from caller to callee, and back."""
        fwd = [f[4] for f in frames if (f[0], f[1]) == caller and (f[2], f[3]) == callee]
        back = [f[4] for f in frames if (f[0], f[1]) == callee and (f[2], f[3]) == caller]
        return [l.split(" sip:")[0] for l in fwd], [" ".join(l.split()[:2]) for l in back]

    for frames, hops in ((a_frames, [(uac_ep, pair.a.legacy_listen),
                                     ((pair.a_ip, a_port), pair.b.tls)]),
                         (b_frames, [((pair.a_ip, a_port), pair.b.tls),
                                     (b_mirror, uas_ep)])):
        assert len(frames) == 2 * (len(requests) + len(responses)), frames
        for caller, callee in hops:
            fwd, back = legs(frames, caller, callee)
            assert fwd == requests, (caller, callee, frames)
            assert back == responses, (caller, callee, frames)
        call_ids |= {f[5] for f in frames}
    assert len(call_ids) == 1 and call_ids != {""}, call_ids


def read_collector(p):
    """The JSON lines hep_collector printed."""
    return [json.loads(l) for l in p.log_text().splitlines() if l.startswith("{")]


def start_collector(procs, name, transport, stop_after=None):
    ep = ("127.0.0.1", h.free_port())
    argv = [COLLECTOR_BIN, transport, ep[0], str(ep[1])]
    if stop_after is not None:
        argv += ["--stop-after", str(stop_after)]
    p = procs.start(name, argv)
    assert h.wait_until(lambda: "listening" in p.log_text(), timeout=10)
    return p, ep


def test_tcp_stream_carries_capture_id_auth_key_node_name_and_correlation(procs, make_pair):
    """Over TCP, each packet of the stream decodes whole: capture id, auth
    key and node name as configured, protocol TLS (22) on the TLS leg and
    TCP (6) on the legacy leg, the Call-ID as correlation id."""
    coll, ep = start_collector(procs, "collector", "tcp")
    uas, uas_ep = sipp_side(procs, "uas-b", "options_uas.xml", 5, "b.test")
    pair = make_pair(h.dead_endpoint(), uas_ep,
                     edit=with_capture({"a": ep}, transport="tcp", password="s3cret",
                                       node_name="edge-a"))
    uac, _ = sipp_side(procs, "uac-a", "options_uac.xml", 5, "b.test", pair.a.legacy_listen)
    assert uac.wait() == 0
    assert h.wait_until(lambda: len(read_collector(coll)) >= 20, timeout=10)
    packets = read_collector(coll)
    assert len(packets) == 20, packets  # 5 OPTIONS and 5 200s, each on both legs
    for p in packets:
        assert "error" not in p, p
        assert p["capture_id"] == 100 + ord("a")
        assert p["auth_key"] == "s3cret"
        assert p["node_name"] == "edge-a"
        assert p["proto_type"] == 1
        call_id = re.search(r"\nCall-ID: *([^\r\n]+)", p["payload"], re.I).group(1)
        assert p["correlation_id"] == call_id
        tls = pair.b.tls in ((p["src"], p["src_port"]), (p["dst"], p["dst_port"]))
        assert p["ip_proto"] == (22 if tls else 6), p
    by_proto = collections.Counter(p["ip_proto"] for p in packets)
    assert by_proto == {22: 10, 6: 10}
    assert metric(pair.a, 'reusegw_capture_packets_total') == 20


def test_collector_down_costs_no_call_and_drops_are_counted(procs, make_pair):
    """UDP to a port nothing listens on (ICMP refusals), and TCP to one that
    refuses connections: every call succeeds, and what was not captured is
    counted as collector_down."""
    for transport in ("udp", "tcp"):
        uas, uas_ep = sipp_side(procs, f"uas-{transport}", "options_uas.xml", 20, "b.test")
        pair = make_pair(h.dead_endpoint(), uas_ep,
                         edit=with_capture({"a": h.dead_endpoint()}, transport=transport))
        uac, _ = sipp_side(procs, f"uac-{transport}", "options_uac.xml", 20, "b.test",
                           pair.a.legacy_listen, extra=["-r", "40"])
        assert uac.wait() == 0
        assert uac.stat("Successful call") == 20
        dropped = 'reusegw_capture_dropped_total{reason="collector_down"}'
        assert h.wait_until(lambda: metric(pair.a, dropped) >= 1, timeout=10), transport
        assert pair.stop() == [0, 0]


def test_a_collector_that_stops_reading_costs_no_call(procs, make_pair):
    """A TCP collector that reads 10 packets and then never again: the
    stream backs up, the queue fills, messages are dropped as
    collector_slow, and every one of 1500 calls still succeeds."""
    coll, ep = start_collector(procs, "stalled", "tcp", stop_after=10)
    uas, uas_ep = sipp_side(procs, "uas-b", "options_uas.xml", 1500, "b.test")
    pair = make_pair(h.dead_endpoint(), uas_ep, edit=with_capture({"a": ep}, transport="tcp"))
    uac, _ = sipp_side(procs, "uac-a", "options_uac.xml", 1500, "b.test", pair.a.legacy_listen,
                       extra=["-r", "500", "-l", "50"])
    assert uac.wait(timeout=120) == 0
    assert uac.stat("Successful call") == 1500
    slow = 'reusegw_capture_dropped_total{reason="collector_slow"}'
    assert metric(pair.a, slow) >= 1
    assert len(read_collector(coll)) == 10


def test_tshark_decrypts_the_tls_leg_with_the_key_log(procs, make_pair):
    """With tls.key_log on, tshark decrypts a TLS session it captured on
    loopback and finds the SIP requests inside; the file is 0600 and the
    gauge says the key log is on."""
    uas, uas_ep = sipp_side(procs, "uas-b", "options_uas.xml", 3, "b.test")
    keys = procs.log_dir / "tls.keys"

    def edit(name, cfg):
        if name == "a":
            cfg["tls"]["key_log"] = str(keys)

    pair = make_pair(h.dead_endpoint(), uas_ep, edit=edit, with_a=False)
    pcap = procs.log_dir / "tls.pcap"
    port = pair.b.tls[1]
    dump = procs.start("tshark-capture", ["tshark", "-q", "-i", "lo", "-f", f"tcp port {port}",
                                          "-w", pcap])
    assert h.wait_until(lambda: pcap.exists(), timeout=20)
    time.sleep(1)
    pair.a.start()
    uac, _ = sipp_side(procs, "uac-a", "options_uac.xml", 3, "b.test", pair.a.legacy_listen)
    assert uac.wait() == 0
    assert metric(pair.a, "reusegw_tls_key_log_enabled") == 1
    assert metric(pair.b, "reusegw_tls_key_log_enabled") == 0
    assert "tls.key_log is on" in pair.a.log()
    time.sleep(1)
    dump.stop(signal.SIGINT)
    assert oct(keys.stat().st_mode & 0o777) == "0o600"
    lines = keys.read_text().splitlines()
    assert any(l.startswith("CLIENT_TRAFFIC_SECRET_0 ") for l in lines), lines
    assert any(l.startswith("SERVER_TRAFFIC_SECRET_0 ") for l in lines), lines

    def requests(keylog):
        argv = ["tshark", "-r", pcap, "-d", f"tcp.port=={port},tls", "-d", f"tls.port=={port},sip",
                "-T", "fields",
                "-e", "sip.Method", "-Y", "sip.Method"]
        if keylog:
            argv[3:3] = ["-o", f"tls.keylog_file:{keylog}"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    assert requests(None) == []  # without the keys the leg stays opaque
    assert requests(keys) == ["OPTIONS"] * 3


def test_sighup_moves_capture_to_another_collector(procs, make_pair):
    """A reload points capture at a new collector with a new capture id:
    what is relayed after it goes there, and the old one gets no more."""
    old, old_ep = start_collector(procs, "old", "udp")
    new, new_ep = start_collector(procs, "new", "udp")
    uas, uas_ep = sipp_side(procs, "uas-b", "options_uas.xml", 2, "b.test")
    pair = make_pair(h.dead_endpoint(), uas_ep, edit=with_capture({"a": old_ep}))
    uac, _ = sipp_side(procs, "uac-a", "options_uac.xml", 1, "b.test", pair.a.legacy_listen)
    assert uac.wait() == 0
    assert h.wait_until(lambda: len(read_collector(old)) == 4, timeout=10)
    pair.a.config["capture"]["hep"].update(address=h.hostport(new_ep), capture_id=7,
                                           legs=["legacy"])
    pair.a.write_config()
    pair.a.proc.popen.send_signal(signal.SIGHUP)
    assert h.wait_until(lambda: "configuration reloaded" in pair.a.log(), timeout=10)
    uac, _ = sipp_side(procs, "uac-a2", "options_uac.xml", 1, "b.test", pair.a.legacy_listen)
    assert uac.wait() == 0
    assert h.wait_until(lambda: len(read_collector(new)) == 2, timeout=10)
    time.sleep(0.3)
    assert len(read_collector(old)) == 4
    packets = read_collector(new)
    assert len(packets) == 2 and {p["capture_id"] for p in packets} == {7}
    assert {p["ip_proto"] for p in packets} == {6}  # the legacy leg only
