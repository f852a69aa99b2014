"""The 49 RFC 4475 torture messages through a running reusegw, one test per
message (test/data/rfc4475/MANIFEST.tsv names them).

Requests go over mutually authenticated TLS from a Python peer into gateway
B, which forwards them to a byte-exact legacy stand-in; responses come from
the legacy side on the mirror connection, answering a request the peer has
pending, and must reach the peer. EXPECT below is the gateway's handling of
each message; RFC4475.md beside this file explains every place where it
differs from the manifest's proxy-level expectation (reusegw is a transport
gateway, not a proxy: it forwards what it can frame and parse, answers what
it must, and leaves routing decisions to the legacy proxy).

After every message the same connection must carry a valid OPTIONS to the
legacy proxy and its 200 back, unless the stream cannot be framed any more,
in which case the gateway must have closed it (or be waiting for the rest of
the message) and a new connection must be served. At the end the gateway
must exit 0 on SIGTERM, and every message it dropped must be counted."""
import csv
import itertools
import pathlib
import queue
import re

import pytest

import harness as h

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "rfc4475"
MANIFEST = {row["file"]: row for row in
            csv.DictReader(open(DATA / "MANIFEST.tsv", newline=""), delimiter="\t")}

FORWARD = ("forward",)          # arrives at the legacy proxy byte-identical
WAIT = ("incomplete",)          # cannot be framed yet: nothing forwarded, no answer
RELAY = ("relay",)              # response: reaches the TLS peer byte-identical
DROP = ("drop",)                # response: not relayed, counted as malformed


def answer(status, text, closes=False):
    """The gateway answers |status| with |text| in the reason phrase; with
    |closes| the stream cannot be framed any more and the connection ends."""
    return ("answer", status, text, closes)


EXPECT = {
    # 3.1.1 valid
    # intmeth's To display-name holds a quoted-pair NUL: refused on purpose
    # (sip/check.h sip_check_chars; RFC4475.md).
    "wsinv": FORWARD, "intmeth": answer(400, "Control Character in Header Section"),
    "esc01": FORWARD, "escnull": FORWARD,
    "esc02": FORWARD, "lwsdisp": FORWARD, "longreq": FORWARD, "semiuri": FORWARD,
    "transports": FORWARD, "mpart01": FORWARD, "unreason": RELAY, "noreason": RELAY,
    # On a stream the datagram's bytes are three things: the REGISTER (framed
    # by its Content-Length: 0), the INVITE (framed by its Content-Length: 150)
    # and the 5 octets its body overruns, which cannot be framed.
    "dblreq": ("split", 400, "Missing Content-Length"),
    # 3.1.2 invalid
    "badinv01": answer(400, "Malformed Via"),
    "clerr": WAIT,
    "ncl": answer(400, "Bad Content-Length", closes=True),
    "scalar02": answer(400, "Malformed CSeq"),
    "scalarlg": DROP,
    "quotbal": FORWARD,
    "ltgtruri": answer(400, "Malformed Request-URI"),
    "lwsruri": answer(400, "Malformed Request-URI"),
    "lwsstart": answer(400, "Malformed Request-URI"),
    "trws": answer(400, "Malformed Start Line"),
    "escruri": FORWARD,
    "baddate": FORWARD,
    "regbadct": FORWARD,
    "badaspec": FORWARD,
    "baddn": WAIT,  # the RFC's bytes end without the blank line
    "badvers": answer(505, "Version Not Supported"),
    "mismatch01": answer(400, "CSeq Method Mismatch"),
    "mismatch02": answer(400, "CSeq Method Mismatch"),
    "bigcode": DROP,
    # 3.2 / 3.3 transaction and application layer
    "badbranch": FORWARD,
    "insuf": answer(400, "Missing From"),
    "unkscm": FORWARD, "novelsc": FORWARD, "unksm2": FORWARD, "bext01": FORWARD,
    "invut": FORWARD, "regaut01": FORWARD,
    "multi01": answer(400, "Multiple Values in Single-Value Header"),
    "mcl01": answer(400, "Conflicting Content-Length", closes=True),
    "bcast": RELAY,
    "zeromf": answer(483, "Too Many Hops"),
    "cparam01": FORWARD, "cparam02": FORWARD, "regescrt": FORWARD, "sdp01": FORWARD,
    # 3.4 RFC 2543 syntax: no Content-Length, so not framable on a stream
    "inv2543": answer(400, "Missing Content-Length", closes=True),
}

# How long "nothing happens" is watched for; generous for a loaded machine.
QUIET = 2.0

_follow = itertools.count(1)


def legacy_answer(msg):
    """The legacy stand-in answers only the follow-up OPTIONS; torture
    requests stay unanswered so nothing but the gateway can respond."""
    return h.response(msg) if (msg.get("call-id") or "").startswith("follow-") else None


def follow_up():
    call_id = f"follow-{next(_follow)}"
    return call_id, h.request("OPTIONS", "sip:svc@b.test", "SIP/2.0/TLS a.test:5061",
                              call_id=call_id)


def served(conn, legacy_b):
    """A valid OPTIONS on |conn| reaches the legacy proxy unchanged and its
    200 comes back; returns the torture-phase messages seen before it."""
    call_id, msg = follow_up()
    conn.send(msg)
    before = []
    while True:
        _, m = legacy_b.next()
        if m.get("call-id") == call_id:
            assert m.raw == msg, "follow-up OPTIONS altered on the way"
            break
        before.append(m)
    reply = conn.recv()
    assert (reply.status, reply.get("call-id")) == (200, call_id)
    return before


def nothing_forwarded(legacy_b, timeout=QUIET):
    try:
        _, m = legacy_b.received.get(timeout=timeout)
    except queue.Empty:
        return
    raise AssertionError(f"gateway forwarded {m!r} it should not have")


def counters(gw):
    """The counters of the gateway's stop line (after stop())."""
    line = [ln for ln in gw.log().splitlines() if "reusegw stopped" in ln][-1]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def request_call_id(raw):
    m = re.search(rb"(?im)^(?:call-id|i)[ \t]*:[ \t]*([^\r\n]*)", raw)
    return m.group(1).strip().decode() if m else None


@pytest.fixture
def setup(make_single, legacy, pki):
    legacy_b = legacy(answer=legacy_answer)
    gw = make_single(legacy_b.ep)
    ctx = h.tls_context(pki, "gw-a")
    return gw, legacy_b, lambda: h.tls_connect(gw.tls, ctx, "b.test")


def test_every_manifest_message_has_an_expectation():
    assert set(MANIFEST) == {n + ".dat" for n in EXPECT}
    assert len(EXPECT) == 49


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECT.items() if e not in (RELAY, DROP)))
def test_request(name, setup):
    gw, legacy_b, connect = setup
    raw = (DATA / f"{name}.dat").read_bytes()
    expect = EXPECT[name]
    kind = expect[0]
    conn = connect()
    conn.send(raw)
    keeps_serving = True
    if kind == "forward":
        assert [m.raw for m in served(conn, legacy_b)] == [raw], "not forwarded byte-identical"
    elif kind == "split":
        register = raw[:raw.index(b"\r\n\r\n") + 4]
        invite_at = raw.index(b"INVITE ")
        invite_end = raw.index(b"\r\n\r\n", invite_at) + 4 + 150
        for part in (register, raw[invite_at:invite_end]):
            assert legacy_b.next()[1].raw == part, "not forwarded as the stream frames it"
        reply = conn.recv()
        assert reply.status == expect[1] and expect[2] in reply.first_line, reply.first_line
        keeps_serving = False
    elif kind == "answer":
        _, status, text, closes = expect
        reply = conn.recv()
        assert reply.status == status and text in reply.first_line, reply.first_line
        assert reply.get("call-id") == request_call_id(raw), "answer to another request"
        keeps_serving = not closes
        if keeps_serving:
            assert served(conn, legacy_b) == [], "rejected message was forwarded too"
    else:  # incomplete: the gateway must wait, neither forward nor answer
        nothing_forwarded(legacy_b)
        assert not conn.pending and conn.stream.buf == b"", "gateway answered a partial message"
    if not keeps_serving:
        assert conn.closed_by_peer(), "unframeable stream left open"
        nothing_forwarded(legacy_b, timeout=0.5)
    conn.close()
    served(connect(), legacy_b)
    gw.gw.stop()
    n = counters(gw.gw)
    if kind == "answer":
        assert n["answered_483" if expect[1] == 483 else "answered_400"] == 1
    if not keeps_serving:
        assert n["framing_errors"] >= 1, "unframeable stream not counted"


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECT.items() if e in (RELAY, DROP)))
def test_response(name, setup):
    """The legacy proxy answers a pending request from the peer with the
    torture response on the mirror connection; the same response arriving
    from the TLS peer matches no transaction and is dropped."""
    gw, legacy_b, connect = setup
    raw = (DATA / f"{name}.dat").read_bytes()
    conn = connect()
    req = h.request("OPTIONS", "sip:svc@b.test", "SIP/2.0/TLS a.test:5061",
                    call_id=f"pending-{name}")
    conn.send(req)
    mirror, m = legacy_b.next()
    assert m.raw == req
    mirror.sendall(raw)
    if EXPECT[name] == RELAY:
        assert conn.recv().raw == raw, "response not relayed byte-identical"
    mirror.sendall(h.response(m))
    reply = conn.recv()
    assert (reply.status, reply.get("call-id")) == (200, f"pending-{name}"), \
        "gateway relayed a response it could not parse, or lost the next one"
    conn.send(raw)
    nothing_forwarded(legacy_b)
    served(conn, legacy_b)
    gw.gw.stop()
    n = counters(gw.gw)
    dropped_from_legacy = 1 if EXPECT[name] == DROP else 0
    assert n["responses_relayed"] == 2 - dropped_from_legacy + 1
    assert n["dropped_malformed"] + n["dropped_unknown_branch"] == dropped_from_legacy + 1
