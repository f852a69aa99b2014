"""Requests refused for their size or header count get an answer (issue 20
item 4), over TLS from a peer and over plain TCP from the legacy proxy, on
one gateway with limits.max_message_bytes at 1 MiB:

- 300 and 5,000 Via lines (over the 256-header index, within the limit)
  are answered 400 "Too Many Headers";
- 20,000 Via lines (a header section past the limit, and past the framer's
  buffer of limit + 4 bytes) are answered 513 "Header Section Too Large",
  then the connection closes lingering;
- a message over the limit is answered 513 "Message Too Large".

Each answer carries what the request's bytes reusegw holds give (RFC 3261
8.2.6.2): From, To (with a tag), Call-ID, CSeq and the Via lines in order
from the topmost, as many as fit an answer. Each is counted once in
reusegw_parse_errors_total{reason="too_large"} and
reusegw_local_answers_total{reason="bad_request"}, none as
dropped_messages{buffer_full}, and none reaches the legacy stand-in."""
import time

import pytest

import reusegw_test as h

MAX = 1048576


@pytest.fixture(scope="module")
def gw(module_stage, pki):
    lg = module_stage.legacy(answer=h.silent)
    single = module_stage.single(lg.ep, edit=lambda cfg: cfg["limits"].update(
        max_message_bytes=MAX))
    single.legacy = lg
    single.pki = pki
    return single


def connect(gw, transport):
    if transport == "tls":
        return (h.tls_connect(gw.tls, h.tls_context(gw.pki, "gw-a"), "b.test",
                              source=(gw.a_ip, 0)), f"SIP/2.0/TLS {gw.a_ip}:5061", "sip:svc@b.test")
    return h.tcp_connect(gw.gw.legacy_listen), h.LEGACY_VIA, "sip:svc@a.test"


def many_vias(via, ruri, n, branch, vias_first):
    """An OPTIONS with n Via lines, the topmost via;branch=branch and the
    n - 1 others right after it; vias_first puts them before every other
    header (From, To, Call-ID and CSeq come last), else after those."""
    lines = h.request("OPTIONS", ruri, via, branch=branch).split(b"\r\n")
    start, top, rest = lines[0], lines[1], lines[2:]  # rest: Max-Forwards, From .. CSeq, ...
    extra = [f"Via: SIP/2.0/TLS hop{i}.example.com;branch=z9hG4bK-hop{i}".encode()
             for i in range(n - 1)]
    if vias_first:
        return b"\r\n".join([start, top] + extra + rest)
    return b"\r\n".join([start] + rest[1:5] + [top] + extra + [rest[0]] + rest[5:])


class Counters:
    """Deltas of the series one refusal must move, on the shared gateway."""
    SERIES = ('reusegw_parse_errors_total{reason="too_large"}',
              'reusegw_local_answers_total{reason="bad_request"}',
              'reusegw_dropped_messages_total{reason="buffer_full"}',
              'reusegw_limit_hits_total{limit="max_message_bytes"}')

    def __init__(self, gw):
        self.gw = gw
        self.before = [gw.gw.metric(s) for s in self.SERIES]

    def delta(self):
        return [self.gw.gw.metric(s) - b for s, b in zip(self.SERIES, self.before)]


def expect_answer(gw, answer, first_line, branch, complete):
    assert answer.first_line == first_line
    vias = answer.all("via")
    assert vias[0].endswith(f";branch={branch}"), vias[0]
    # The others follow in order, as many as fit one answer.
    assert 1 < len(vias) < 250
    assert vias[1:] == [f"SIP/2.0/TLS hop{i}.example.com;branch=z9hG4bK-hop{i}"
                        for i in range(len(vias) - 1)]
    if not complete:
        # From, To, Call-ID and CSeq lie past the bytes reusegw kept.
        assert answer.get("call-id") is None and answer.get("cseq") is None
    else:
        assert answer.get("call-id") == f"{branch}@e2e"
        assert answer.get("cseq") == "1 OPTIONS"
        assert answer.get("from").startswith("<sip:legacy@a.test>;tag=")
        assert ";tag=" in answer.get("to")
    with pytest.raises(AssertionError):
        gw.legacy.next(timeout=0.5)


@pytest.mark.parametrize("transport", ["tls", "tcp"])
@pytest.mark.parametrize("vias", [300, 5000])
def test_too_many_vias_get_400(gw, transport, vias):
    peer, via, ruri = connect(gw, transport)
    counters = Counters(gw)
    branch = h.new_branch()
    # From, To, Call-ID and CSeq behind the Vias, past the index's 256 lines.
    msg = many_vias(via, ruri, vias, branch, vias_first=True)
    assert len(msg) < MAX
    peer.send(msg)
    expect_answer(gw, peer.recv(), "SIP/2.0 400 Bad Request (Too Many Headers)", branch, True)
    assert counters.delta() == [1, 1, 0, 0]
    peer.close()


@pytest.mark.parametrize("transport,vias_first", [("tls", False), ("tcp", False), ("tls", True)])
def test_header_section_over_max_message_bytes_gets_513(gw, transport, vias_first):
    """20,000 Via lines, 1.3 MB of header section: reusegw stops framing at
    the limit, answers from what it holds and closes lingering, so the
    peer's write completes and it reads the 513, then EOF."""
    peer, via, ruri = connect(gw, transport)
    counters = Counters(gw)
    branch = h.new_branch()
    msg = many_vias(via, ruri, 20000, branch, vias_first)
    assert len(msg) > MAX + 4
    peer.send(msg)
    expect_answer(gw, peer.recv(),
                  "SIP/2.0 513 Message Too Large (Header Section Too Large)", branch,
                  not vias_first)
    assert peer.closed_by_peer(), "lingering close after the 513"
    assert counters.delta() == [1, 1, 0, 1]
    peer.close()


def test_message_over_max_message_bytes_gets_513(gw):
    """A MESSAGE whose body alone is just under max_message_bytes (the whole
    just over), sent in one go: reusegw refuses it once its header section
    is in, answers 513 and closes lingering (close_notify, FIN, the rest, up
    to 1 MiB, read and discarded), so the peer's write completes and the 513
    is read, then a clean EOF; closing with the rest unread would reset the
    connection under the peer's write and its read."""
    peer, via, ruri = connect(gw, "tls")
    counters = Counters(gw)
    msg = h.request("MESSAGE", ruri, via, body=b"x" * (MAX - 100))
    assert MAX < len(msg) < MAX + 1000
    peer.send(msg)
    time.sleep(0.3)  # a peer busy writing reads late: a RST would be there first
    answer = peer.recv()
    assert answer.status == 513, answer.first_line
    assert answer.first_line == "SIP/2.0 513 Message Too Large (Message Too Large)"
    peer.sock.settimeout(h.IO_TIMEOUT)
    assert peer.sock.recv(65536) == b"", "close_notify and EOF after the 513"
    assert counters.delta() == [1, 1, 0, 1]
    with pytest.raises(AssertionError):
        gw.legacy.next(timeout=0.5)
    peer.close()
