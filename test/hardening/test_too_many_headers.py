"""Requests refused for their size or header count get an answer (issue 20
item 4): 300 Via lines (over the 256-header index, within
limits.max_message_bytes) and 5,000 (within a 1 MiB max_message_bytes) are
answered 400 "Too Many Headers" carrying the topmost Via (all of them do not
fit an answer), a message over max_message_bytes is answered 513; each is
counted once in reusegw_parse_errors_total{reason="too_large"} and
reusegw_local_answers_total{reason="bad_request"}, none as
dropped_messages{buffer_full}, and none reaches the legacy stand-in."""
import time

import pytest

import reusegw_test as h


def many_vias(single, n, branch):
    via = f"SIP/2.0/TLS {single.a_ip}:5061"
    msg = h.request("OPTIONS", "sip:svc@b.test", via, branch=branch)
    extra = "".join(f"Via: SIP/2.0/TLS hop{i}.example.com;branch=z9hG4bK-hop{i}\r\n"
                    for i in range(n - 1)).encode()
    head, _, rest = msg.partition(b"\r\nMax-Forwards:")
    return head + b"\r\n" + extra + b"Max-Forwards:" + rest


@pytest.mark.parametrize("vias,max_bytes", [(300, 131072), (5000, 1048576)])
def test_too_many_vias_get_400(make_single, legacy, pki, vias, max_bytes):
    lg = legacy()
    single = make_single(lg.ep, edit=lambda cfg: cfg["limits"].update(
        max_message_bytes=max_bytes))
    peer = h.tls_connect(single.tls, h.tls_context(pki, "gw-a"), "b.test",
                         source=(single.a_ip, 0))
    branch = h.new_branch()
    msg = many_vias(single, vias, branch)
    assert len(msg) < max_bytes
    peer.send(msg)
    answer = peer.recv()
    assert answer.first_line == "SIP/2.0 400 Bad Request (Too Many Headers)"
    assert answer.all("via") == [f"SIP/2.0/TLS {single.a_ip}:5061;branch={branch}"]
    assert single.gw.metric('reusegw_parse_errors_total{reason="too_large"}') == 1
    assert single.gw.metric('reusegw_local_answers_total{reason="bad_request"}') == 1
    assert single.gw.metric('reusegw_dropped_messages_total{reason="buffer_full"}') == 0
    with pytest.raises(AssertionError):
        lg.next(timeout=0.5)
    peer.close()



def test_message_over_max_message_bytes_gets_513(make_single, legacy, pki):
    """A 900 KB MESSAGE over max_message_bytes (128 KiB), sent in one go:
    reusegw stops framing after 128 KiB, answers 513 and closes lingering
    (close_notify, FIN, the rest read and discarded), so the peer's write
    completes and the 513 is read, then a clean EOF; closing with the rest
    unread would reset the connection under the peer's write and its read.
    Counted once as too_large, never as buffer_full."""
    lg = legacy()
    single = make_single(lg.ep)
    gw = single.gw
    peer = h.tls_connect(single.tls, h.tls_context(pki, "gw-a"), "b.test",
                         source=(single.a_ip, 0))
    msg = h.request("MESSAGE", "sip:svc@b.test", f"SIP/2.0/TLS {single.a_ip}:5061",
                    body=b"x" * 900000)
    assert len(msg) > single.gw.config["limits"]["max_message_bytes"]
    peer.send(msg)
    time.sleep(0.3)  # a peer busy writing reads late: a RST would be there first
    answer = peer.recv()
    assert answer.status == 513, answer.first_line
    assert answer.first_line == "SIP/2.0 513 Message Too Large (Message Too Large)"
    peer.sock.settimeout(h.IO_TIMEOUT)
    assert peer.sock.recv(65536) == b"", "close_notify and EOF after the 513"
    assert gw.metric('reusegw_parse_errors_total{reason="too_large"}') == 1
    assert gw.metric('reusegw_limit_hits_total{limit="max_message_bytes"}') == 1
    assert gw.metric('reusegw_local_answers_total{reason="bad_request"}') == 1
    assert gw.metric('reusegw_dropped_messages_total{reason="buffer_full"}') == 0
    with pytest.raises(AssertionError):
        lg.next(timeout=0.5)
    peer.close()
