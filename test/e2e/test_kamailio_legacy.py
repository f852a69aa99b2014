"""Two sites with an unmodified Kamailio 5.6 (deploy/kamailio-legacy.cfg as
shipped, no tls module, plain TCP) as each site's legacy proxy:

    sipp phones A -> Kamailio A -> reusegw A ==TLS== reusegw B <- Kamailio B <- sipp phones B

One setup (reusegw_test.TwoSites) serves every case, in file order: a
phone registers at B and is called from A, the callee hangs up, a
re-INVITE, a cancelled call, OPTIONS, calls B -> A, and calls after
Kamailio B restarted during a call load. Every sipp scenario runs CALLS
calls (the restart case: its own counts); both ends must finish with
exit 0 (every call successful), but for the load cut by the restart. Throughout, the one TLS
connection A opened to B carries both directions (RFC 5923): B sends its
requests for a.test down it (R-5923-04, R-5923-19, R-5923-20), A reuses it
for every later request (R-5923-05), neither closes it when dialogs end
(R-5923-02, R-5923-14)."""
import re
import time

import pytest

import reusegw_test as h

CALLS = 20
FULL = 'reusegw_tls_handshakes_total{result="full"}'


def short_drain(_name, cfg):
    """INVITEs in flight when Kamailio B restarts (last case) stay pending
    in reusegw A until RFC 3261 Timer C: nobody answers them. The stop at
    teardown must not wait the default 20 s drain (the harness's own stop
    timeout) for them."""
    cfg.setdefault("runtime", {})["drain_timeout"] = "2s"


@pytest.fixture(scope="module")
def sites(module_stage):
    return h.TwoSites(module_stage, edit=short_drain).start()


def vias(msg):
    return re.findall(r"(?im)^(?:via|v)\s*:\s*(.*)$", msg)


def headers(msg, name):
    return re.findall(rf"(?im)^{name}\s*:\s*(.*)$", msg)


def requests(sipp, method):
    return [m for m in sipp.received() if m.startswith(f"{method} ")]


def run(sites, caller, callee_site, user, uac_scenario, uas_scenario, calls=CALLS):
    """Registers a sipp UAS as user at callee_site, runs calls calls from
    a sipp UAC at caller; both must succeed. Returns (uac, uas)."""
    uas = sites.callee(callee_site, user, uas_scenario, calls)
    uac = sites.call(caller, uac_scenario, user, callee_site, calls)
    assert uac.rc == 0, uac.proc.log_text()[-4000:]
    assert uac.stat("Successful call") == calls
    assert uas.wait() == 0, uas.proc.log_text()[-4000:]
    return uac, uas


def assert_one_connection(sites):
    """The one TLS connection between the gateways is A's (A dialled B
    once; B never dialled A), and B holds A's alias on it."""
    pair = sites.pair
    assert h.established(pair.a_ip, pair.b.tls) == 1
    assert h.established(pair.b_ip, pair.a.tls) == 0, "reusegw B dialled A"
    assert pair.tls_connections() == 1
    assert pair.a.metric(FULL) == 1 and pair.b.metric(FULL) == 1
    rows = pair.b.aliases()
    assert [(r["address"], r["port"]) for r in rows] == [(pair.a_ip, pair.a.tls[1])], rows
    assert "a.test" in rows[0]["identities"]


def assert_crossed_once(msgs, near, far, count=CALLS):
    """count in-dialog requests, each of which passed every proxy exactly
    once on its way from a phone of site far to one of site near: three
    Vias (near's Kamailio, far's Kamailio as far's reusegw rewrote it for
    TLS, the phone's), and no Route left (each proxy's loose_route
    consumed its ;r2=on pair)."""
    assert len(msgs) == count, msgs[:1]
    for m in msgs:
        v = vias(m)
        assert len(v) == 3, m
        assert v[0].startswith(f"SIP/2.0/TCP {h.hostport(near.kam.local)};"), m
        assert v[1].startswith(f"SIP/2.0/TLS {far.domain}:{far.gw.tls[1]};"), m
        assert not headers(m, "route"), m


def test_register_at_b_then_calls_from_a(sites):
    """A phone registers at Kamailio B; CALLS calls from A reach its
    contact (INVITE/100/180/200/ACK, the caller's BYE). The callee sees
    the doubled Record-Route of both proxies with ;r2=on, in order, and
    in-dialog requests that passed each proxy exactly once (one Via each,
    no Route left): loose_route consumed both entries of each pair and
    Kamailio A sent the ACK and BYE to reusegw's egress."""
    _, uas = run(sites, sites.a, sites.b, "bob", "kam_call_uac.xml", "kam_call_uas.xml")
    a, b = sites.a, sites.b
    invite = requests(uas, "INVITE")[0]
    assert invite.startswith(f"INVITE sip:bob@{h.hostport(uas.local)};transport=TCP "), invite
    rr = [re.sub(r";ftag=[^;>]*", "", x) for x in headers(invite, "record-route")]
    assert rr == [
        f"<sip:{h.hostport(b.kam.local)};transport=tcp;r2=on;lr>",
        f"<sip:b.test:{b.gw.tls[1]};transport=tls;r2=on;lr>",
        f"<sip:a.test:{a.gw.tls[1]};transport=tls;r2=on;lr>",
        f"<sip:{h.hostport(a.kam.local)};transport=tcp;r2=on;lr>",
    ], rr
    assert_crossed_once(requests(uas, "ACK"), b, a)
    assert_crossed_once(requests(uas, "BYE"), b, a)
    assert_one_connection(sites)


def test_callee_hangs_up(sites):
    """The callee's BYE goes back along the route set: Kamailio B sends it
    to reusegw B (its next hop is A's TLS face), B sends it down A's
    connection (R-5923-04, R-5923-20), Kamailio A delivers it to the
    caller with no Route left and one Via per proxy."""
    uac, _ = run(sites, sites.a, sites.b, "bye", "kam_uac_remote_bye.xml", "kam_uas_bye.xml")
    assert_crossed_once(requests(uac, "BYE"), sites.a, sites.b)
    assert_one_connection(sites)


def test_reinvite(sites):
    """A re-INVITE, its ACK and the BYE follow the route set of the
    dialog through both proxies and the one TLS connection."""
    _, uas = run(sites, sites.a, sites.b, "reinv", "kam_uac_reinvite.xml",
                 "kam_uas_reinvite.xml")
    invites = requests(uas, "INVITE")
    assert len(invites) == 2 * CALLS
    re_invites = [m for m in invites if re.search(r"(?im)^cseq:\s*2 INVITE", m)]
    assert_crossed_once(re_invites, sites.b, sites.a)
    assert_one_connection(sites)


def test_cancel_while_ringing(sites):
    """A CANCEL of a ringing call follows its INVITE (R-5923-13: same
    connection): the callee gets the CANCEL and the proxy's ACK for its
    487, the caller the 200 for its CANCEL and the 487."""
    uac, uas = run(sites, sites.a, sites.b, "cancel", "kam_uac_cancel.xml",
                   "kam_uas_cancel.xml")
    assert len(requests(uas, "CANCEL")) == CALLS
    assert len(requests(uas, "ACK")) == CALLS
    assert sum(1 for m in uac.received() if m.startswith("SIP/2.0 487 ")) == CALLS
    assert_one_connection(sites)


def test_options(sites):
    """OPTIONS from A to a registered phone at B and its 200 back."""
    uas = sites.callee(sites.b, "opt", "options_uas.xml", CALLS)
    uac = sites.call(sites.a, "options_uac.xml", "opt", sites.b, CALLS)
    assert uac.rc == 0, uac.proc.log_text()[-4000:]
    assert uas.wait() == 0
    assert len(requests(uas, "OPTIONS")) == CALLS
    assert_one_connection(sites)


def test_calls_from_b_to_a_reuse_the_connection(sites):
    """A phone registered at A is called from B: reusegw B sends the
    INVITEs down the connection A opened (R-5923-04, R-5923-19,
    R-5923-20) instead of dialling A; the caller hangs up."""
    _, uas = run(sites, sites.b, sites.a, "alice", "kam_call_uac.xml", "kam_call_uas.xml")
    assert_crossed_once(requests(uas, "BYE"), sites.a, sites.b)
    assert_one_connection(sites)


def test_legacy_via_restored_byte_exact(sites):
    """The Via each Kamailio wrote on what it sent to its reusegw comes
    back byte for byte in every response (read from Kamailio's own
    sipdump), both directions; no Record-Route or Contact named an
    internal legacy address."""
    assert h.wait_until(lambda: sites.a.kam.vias_restored(sites.a.gw) >= 5 * CALLS)
    assert h.wait_until(lambda: sites.b.kam.vias_restored(sites.b.gw) >= CALLS)
    for gw in (sites.a.gw, sites.b.gw):
        assert gw.metric("reusegw_legacy_address_leaks_total") == 0


def test_kamailio_b_restarted_during_calls_then_calls_recover(sites):
    """Kamailio B restarts in the middle of a bounded load A -> B (30
    calls at 10/s, 1 s each): its connections (reusegw B's mirror, the
    phones') and its registrations go, so calls in flight or after it may
    fail; their count is only recorded. Once the phone registered again,
    a fresh batch A -> B and one B -> A all succeed, still over the one
    TLS connection (no new handshake), both reusegw processes the same
    (same PIDs, alive throughout)."""
    gws = (sites.a.gw, sites.b.gw)
    pids = [gw.proc.pid for gw in gws]
    load_uas = sites.callee(sites.b, "load", "kam_call_uas.xml", 30)
    load = sites.call(sites.a, "kam_call_uac.xml", "load", sites.b, 30,
                      ["-r", "10", "-d", "1000", "-recv_timeout", "5000"], wait=False)
    time.sleep(1.5)
    assert load.proc.alive(), "the load ended before the restart"
    sites.b.kam.restart()
    load.wait(timeout=90)
    load_uas.proc.stop()
    print(f"load during the restart: {load.stat('Successful call')} successful, "
          f"{load.stat('Failed call')} failed of 30")
    run(sites, sites.a, sites.b, "bob2", "kam_call_uac.xml", "kam_call_uas.xml", calls=10)
    run(sites, sites.b, sites.a, "alice2", "kam_uac_remote_bye.xml", "kam_uas_bye.xml",
        calls=10)
    assert [gw.proc.pid for gw in gws] == pids
    assert all(gw.proc.alive() for gw in gws)
    assert_one_connection(sites)
