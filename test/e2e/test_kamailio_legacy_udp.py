"""The two-site Kamailio deployment of test_kamailio_legacy.py with the
Kamailio-reusegw hop over UDP (legacy.transport: udp; deploy/
kamailio-legacy.cfg with its UDP sockets) and sipp phones over UDP:

    sipp A -udp-> Kamailio A -udp-> reusegw A ==TLS== reusegw B -udp-> Kamailio B -udp-> sipp B

Calls A -> B to a phone registered at B, then B -> A: every call succeeds;
each request crossed TLS exactly once although both Kamailios and the
phones run UDP timers (what reusegw A sent to peers is what reusegw B
handed its Kamailio); reusegw B's own Via sits under Kamailio B's and is
gone from the responses; one TLS connection carries both directions
(R-5923-04, R-5923-05). Then OPTIONS to a phone that answers late, so
that Kamailio A retransmits them to reusegw A (Timer E) and reusegw A
absorbs the retransmissions."""
import re

import pytest

import reusegw_test as h

CALLS = 10
TO_PEER = 'reusegw_messages_total{direction="to_peer",kind="request"}'
TO_LEGACY = 'reusegw_messages_total{direction="to_legacy",kind="request"}'
ABSORBED = "reusegw_udp_retransmissions_absorbed_total"


@pytest.fixture(scope="module")
def sites(module_stage):
    return h.TwoSites(module_stage, transport="udp", phone_transport="udp").start()


def call(sites, caller, callee, user):
    before = (caller.gw.metric(TO_PEER), callee.gw.metric(TO_LEGACY))
    uas = sites.callee(callee, user, "kam_call_uas.xml", CALLS)
    uac = sites.call(caller, "kam_call_uac.xml", user, callee, CALLS)
    assert uac.rc == 0, uac.proc.log_text()[-4000:]
    assert uac.stat("Successful call") == CALLS
    assert uas.wait() == 0, uas.proc.log_text()[-4000:]
    crossed = caller.gw.metric(TO_PEER) - before[0]
    assert crossed == callee.gw.metric(TO_LEGACY) - before[1]
    assert crossed == 3 * CALLS  # INVITE, ACK, BYE: each once over TLS
    return uas


def test_calls_a_to_b_then_b_to_a_over_udp(sites):
    uas = call(sites, sites.a, sites.b, "bob")
    invite = [m for m in uas.received() if m.startswith("INVITE ")][0]
    vias = re.findall(r"(?im)^(?:via|v)\s*:\s*(.*)$", invite)
    assert vias[0].startswith(f"SIP/2.0/UDP {h.hostport(sites.b.kam.local)};"), vias
    assert vias[1].startswith(f"SIP/2.0/UDP {sites.pair.b_ip}:") and "z9hG4bKrgw." in vias[1]
    assert vias[2].startswith(f"SIP/2.0/TLS a.test:{sites.a.gw.tls[1]};"), vias
    call(sites, sites.b, sites.a, "alice")
    assert sites.pair.tls_connections() == 1
    assert h.established(sites.pair.b_ip, sites.pair.a.tls) == 0, "reusegw B dialled A"


def test_late_answer_retransmissions_cross_tls_once(sites):
    """A phone at B answers OPTIONS 1.6 s late: Kamailio A retransmits
    each over UDP to reusegw A (Timer E, 500 ms, then 1 s; read from its
    sipdump), reusegw A absorbs the copies (its counter rises) and sends
    each request over TLS once: reusegw B hands exactly that many to
    Kamailio B, which receives each branch once on its legacy socket."""
    n = 3
    a, b = sites.a, sites.b
    before = (a.gw.metric(TO_PEER), b.gw.metric(TO_LEGACY), a.gw.metric(ABSORBED))
    uas = sites.callee(b, "late", "kam_options_uas_late.xml", n)
    uac = sites.call(a, "options_uac.xml", "late", b, n)
    assert uac.rc == 0, uac.proc.log_text()[-4000:]
    assert uas.wait() == 0, uas.proc.log_text()[-4000:]

    def options(kam, tag, key, ep):
        return [d for d in kam.dumps() if d.tag == tag and getattr(d, key) == ep
                and d.raw.startswith(b"OPTIONS ")]

    to_gw = options(a.kam, "snd", "dst", a.gw.legacy_listen)
    assert len(to_gw) >= n + 1, "Kamailio A retransmitted nothing"
    from_gw = [d.top_via() for d in options(b.kam, "rcv", "dst", b.kam.legacy)]
    assert len(from_gw) == n == len(set(from_gw)), from_gw
    assert a.gw.metric(TO_PEER) - before[0] == n
    assert b.gw.metric(TO_LEGACY) - before[1] == n
    assert a.gw.metric(ABSORBED) - before[2] >= len(to_gw) - n >= 1
    assert sites.pair.tls_connections() == 1
