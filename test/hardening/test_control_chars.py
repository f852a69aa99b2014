"""Control octets in the header section (issue 20 item 3): NUL in a header
value or in Call-ID, and every other control octet RFC 3261's grammar has no
place for, is refused with 400 "Control Character in Header Section",
counted in reusegw_parse_errors_total{reason="control_character"} and never
relayed: a legacy proxy in C may end a string at NUL, which would let a peer
smuggle a second message or header past reusegw. The legacy stand-in must
receive nothing; a clean request afterwards shows it was listening. The
other direction (the legacy proxy's own request towards a peer) is refused
the same way: answered 400, never dialled out (a dial to a.test's dead route
would have answered 503)."""
import pytest

import harness as h

SERIES = 'reusegw_parse_errors_total{reason="control_character"}'
REASON = "Bad Request (Control Character in Header Section)"

CASES = {
    "nul_in_call_id": dict(call_id="abc\x00def@e2e"),
    "nul_in_value": dict(headers=["Subject: hello\x00Via: SIP/2.0/TCP evil"]),
    "soh_in_value": dict(headers=["Subject: a\x01b"]),
    "esc_in_value": dict(headers=["Subject: a\x1b[2Jb"]),
    "us_in_value": dict(headers=["Subject: a\x1fb"]),
    "del_in_value": dict(headers=["Subject: a\x7fb"]),
    "vt_in_from": dict(from_uri="sip:legacy\x0b@a.test"),
    "nul_in_quoted_pair": dict(headers=['Subject: "a\\\x00b"']),
}


@pytest.fixture
def gateway(make_single, legacy):
    lg = legacy()
    return make_single(lg.ep), lg


@pytest.mark.parametrize("case", list(CASES))
def test_peer_request_with_control_octet_is_refused(gateway, pki, case):
    single, lg = gateway
    peer = h.tls_connect(single.tls, h.tls_context(pki, "gw-a"), "b.test",
                         source=(single.a_ip, 0))
    via = f"SIP/2.0/TLS {single.a_ip}:5061"
    peer.send(h.request("OPTIONS", "sip:svc@b.test", via, **CASES[case]))
    answer = peer.recv()
    assert answer.first_line == f"SIP/2.0 400 {REASON}"
    with pytest.raises(AssertionError):
        lg.next(timeout=1.0)
    assert single.gw.metric(SERIES) == 1
    peer.send(h.request("OPTIONS", "sip:svc@b.test", via))
    _, got = lg.next()
    assert got.method == "OPTIONS" and b"\x00" not in got.raw
    assert peer.recv().status == 200
    peer.close()


def test_legacy_request_with_nul_is_refused(gateway):
    single, _ = gateway
    c = h.tcp_connect(single.gw.legacy_listen)
    c.send(h.request("OPTIONS", "sip:svc@a.test", h.LEGACY_VIA, call_id="x\x00y@legacy"))
    assert c.recv().first_line == f"SIP/2.0 400 {REASON}"
    assert single.gw.metric(SERIES) == 1
    assert 'conn=tls-out' not in single.gw.log()
    c.close()
