"""The two-site Kamailio deployment of test_kamailio_legacy.py with the
Kamailio-reusegw hop over UDP (legacy.transport: udp; deploy/
kamailio-legacy.cfg with its UDP sockets) and sipp phones over UDP:

    sipp A -udp-> Kamailio A -udp-> reusegw A ==TLS== reusegw B -udp-> Kamailio B -udp-> sipp B

Calls A -> B to a phone registered at B, then B -> A: every call succeeds;
each request crossed TLS exactly once although both Kamailios and the
phones run UDP timers (what reusegw A sent to peers is what reusegw B
handed its Kamailio); reusegw B's own Via sits under Kamailio B's and is
gone from the responses; one TLS connection carries both directions
(R-5923-04, R-5923-05)."""
import re

import pytest

import reusegw_test as h

CALLS = 10
TO_PEER = 'reusegw_messages_total{direction="to_peer",kind="request"}'
TO_LEGACY = 'reusegw_messages_total{direction="to_legacy",kind="request"}'


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
