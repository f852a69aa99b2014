"""Relay tests that do not pass against the current gateway yet. NOT
registered in ctest (test/e2e/CMakeLists.txt) until they do: move each into
test_relay.py when it passes. Run by hand:
  REUSEGW_BIN=build/gateway/reusegw /usr/bin/python3 -m pytest test/e2e/test_relay_pending.py
"""
import time

import harness as h
from test_relay import LEGACY_VIA, branch_of, dead_endpoint, make_pair, sipp_side  # noqa: F401


def test_legacy_proxy_down_gets_503_within_a_second(make_pair):
    """B's legacy proxy is not listening: the request A's legacy proxy sent
    is answered 503 (with a Warning saying why) in under a second."""
    pair = make_pair(dead_endpoint(), dead_endpoint())
    c = h.tcp_connect(pair.a.legacy_listen)
    # first open the A-B connection, so the second is timed on the relay only
    c.send(h.request("OPTIONS", "sip:svc@b.test", LEGACY_VIA))
    assert c.recv().status == 503
    t0 = time.monotonic()
    msg = h.request("OPTIONS", "sip:svc@b.test", LEGACY_VIA)
    c.send(msg)
    answer = c.recv()
    elapsed = time.monotonic() - t0
    assert answer.status == 503
    assert elapsed < 1.0, f"503 took {elapsed:.3f} s"
    assert answer.get("warning"), "the 503 does not say why"
    assert answer.all("via") == [f"{LEGACY_VIA};branch={branch_of(h.SipMessage(msg))}"]
    c.close()


def test_call_back_from_b_reuses_the_connection_a_opened(procs, make_pair):
    """R-5923-19/-20: A opened the TLS connection with ;alias and a verified
    certificate (a.test), so B's call towards a.test goes down that same
    connection instead of dialling A's listener."""
    uas_b, uas_b_ep = sipp_side(procs, "uas-b", "options_uas.xml", 1, "b.test")
    uas_a, uas_a_ep = sipp_side(procs, "uas-a", "options_uas.xml", 1, "a.test")
    pair = make_pair(uas_a_ep, uas_b_ep)
    uac_a, _ = sipp_side(procs, "uac-a", "options_uac.xml", 1, "b.test", pair.a.legacy_listen)
    assert uac_a.wait() == 0
    uac_b, _ = sipp_side(procs, "uac-b", "options_uac.xml", 1, "a.test", pair.b.legacy_listen)
    assert uac_b.wait() == 0
    assert uas_a.wait() == 0 and uas_b.wait() == 0
    assert h.established(pair.a_ip, pair.b.tls) == 1
    assert h.established(pair.b_ip, pair.a.tls) == 0, "B dialled A instead of reusing"
