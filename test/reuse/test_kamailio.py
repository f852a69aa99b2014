"""RFC 5923 interop with a real peer: Kamailio 5.6 with its tls module
(reusegw_test.Kamailio) and one reusegw (a.test, certificate gw-a) in front of a
legacy proxy (reusegw_test.LegacyServer). Both roles:

(a) Kamailio dials reusegw with ;alias; the legacy proxy's backward request
    to k.test travels on Kamailio's own connection (server role, R-5923-15..20).
(b) reusegw dials Kamailio with ;alias; Kamailio (tcp_accept_aliases=yes)
    sends its request for a.test down reusegw's connection, and reusegw
    relays it to the legacy proxy (client role, R-5923-04/-05/-07).
(c) Kamailio does not honour reusegw's alias and dials back; reusegw, which
    never assumed the alias was made, accepts (R-5923-06/-07).

"No new connection" is checked twice: with ss (no ESTABLISHED socket towards
the other side's listener) and with Kamailio's own log (source port and TCP
connection id of what it received)."""
import reusegw_test as h


class Topology:
    """reusegw on NET.2, Kamailio on NET.5; routes k.test -> Kamailio's TLS
    listener; the legacy proxy on 127.0.0.1."""

    def __init__(self, procs, kamailios, reusegw_bin, pki, legacy_ep, accept_aliases,
                 send_alias):
        net = h.unique_net()
        self.gw_ip = f"{net}.2"
        gw_tls = (self.gw_ip, h.free_port(self.gw_ip))
        self.kam = h.Kamailio(procs, pki, f"{net}.5")
        kamailios.append(self.kam)
        cfg = h.gateway_config(pki, "gw-a", f"a.test:{gw_tls[1]}", gw_tls, legacy_ep,
                               (self.gw_ip, h.free_port(self.gw_ip)),
                               {"k.test": [self.kam.tls]}, ("127.0.0.1", h.free_port()))
        self.gw = h.Gateway(procs, reusegw_bin, "reusegw", cfg)
        self.kam.start_alias_peer(gw_tls, accept_aliases, send_alias)
        self.gw.start()

    def stop(self):
        assert self.gw.stop() == 0, "reusegw must exit 0 on SIGTERM"


def request_via_kamailio(topo, ruri):
    """A plain TCP client sends an OPTIONS to Kamailio's TCP listener, which
    relays it over TLS to reusegw; returns the client connection."""
    c = h.tcp_connect(topo.kam.tcp)
    local = c.sock.getsockname()
    c.send(h.request("OPTIONS", ruri, f"SIP/2.0/TCP {local[0]}:{local[1]};rport"))
    return c


def test_kamailio_dials_with_alias_and_the_backward_request_uses_its_connection(
        procs, kamailios, reusegw_bin, pki, legacy):
    """(a) R-5923-15/-17/-19/-20: Kamailio's request carries `;alias` and
    sent-by k.test:<its TLS port>; reusegw aliases Kamailio's connection
    (peer-k proves k.test), so the legacy proxy's OPTIONS for k.test is sent
    down it: Kamailio receives it from reusegw's listening port on the same
    TCP connection id its own request left on, and nobody dials Kamailio's
    listener."""
    legacy_gw = legacy()
    topo = Topology(procs, kamailios, reusegw_bin, pki, legacy_gw.ep, accept_aliases=False,
                    send_alias=True)
    client = request_via_kamailio(topo, "sip:svc@a.test")
    _, forwarded = legacy_gw.next()
    top = forwarded.get("via")
    assert top.startswith(f"SIP/2.0/TLS k.test:{topo.kam.tls[1]};"), top
    assert ";alias" in top, f"Kamailio did not send ;alias: {top}"
    assert client.recv().status == 200

    egress = h.tcp_connect(topo.gw.legacy_listen)
    egress.send(h.request("OPTIONS", "sip:svc@k.test", h.LEGACY_VIA))
    answer = egress.recv()
    assert answer.status == 200 and "Kamailio" in answer.first_line, answer.raw

    assert h.established(topo.gw_ip, topo.kam.tls) == 0, "reusegw dialled Kamailio"
    assert h.established(topo.kam.ip, topo.gw.tls) == 1
    got = [ln for ln in topo.kam.lines("KAM-IN") if ln["proto"] == "tls"]
    assert len(got) == 1, got
    assert got[0]["what"] == "OPTIONS" and got[0]["via"].startswith(
        f"SIP/2.0/TLS {topo.gw.config['identity']['sent_by']};"), got[0]
    assert ";alias" not in got[0]["via"], "alias asked on a connection reusegw did not open"
    assert got[0]["src"] == h.hostport(topo.gw.tls), got[0]
    replies = topo.kam.lines("KAM-REPLY")
    assert replies and replies[0]["conid"] == got[0]["conid"], (replies, got)
    topo.stop()


def test_reusegw_dials_with_alias_and_kamailio_reuses_its_connection(
        procs, kamailios, reusegw_bin, pki, legacy):
    """(b) R-5923-04/-05/-07: reusegw's request to k.test carries `;alias`
    and sent-by a.test:<its TLS port>; Kamailio (tcp_accept_aliases=yes)
    sends its request for a.test down reusegw's outbound connection, which
    reusegw accepts and relays to the legacy proxy. Kamailio never connects
    to reusegw's listener."""
    legacy_gw = legacy()
    topo = Topology(procs, kamailios, reusegw_bin, pki, legacy_gw.ep, accept_aliases=True,
                    send_alias=False)
    egress = h.tcp_connect(topo.gw.legacy_listen)
    egress.send(h.request("OPTIONS", "sip:svc@k.test", h.LEGACY_VIA))
    assert egress.recv().status == 200
    got = [ln for ln in topo.kam.lines("KAM-IN") if ln["proto"] == "tls"]
    assert len(got) == 1, got
    assert got[0]["via"].startswith(f"SIP/2.0/TLS a.test:{topo.gw.tls[1]};"), got[0]
    assert got[0]["via"].endswith(";alias"), got[0]
    assert got[0]["src"].split(":")[0] == topo.gw_ip
    assert h.established(topo.gw_ip, topo.kam.tls) == 1

    client = request_via_kamailio(topo, "sip:svc@a.test")
    _, backward = legacy_gw.next()
    assert backward.first_line == "OPTIONS sip:svc@a.test SIP/2.0"
    assert client.recv().status == 200
    assert h.established(topo.kam.ip, topo.gw.tls) == 0, "Kamailio dialled reusegw"
    assert h.established(topo.gw_ip, topo.kam.tls) == 1
    replies = topo.kam.lines("KAM-REPLY")
    assert replies and replies[-1]["conid"] == got[0]["conid"], (replies, got)
    assert replies[-1]["src"] == got[0]["src"]
    topo.stop()


def test_kamailio_ignoring_the_alias_dials_reusegw_which_accepts(procs, kamailios, reusegw_bin,
                                                                 pki, legacy):
    """R-5923-06/-07: reusegw asked for an alias, but Kamailio
    (tcp_accept_aliases=no) does not honour it and dials reusegw's listener
    for its request to a.test; reusegw, which never assumed the alias was
    made, accepts that connection and relays the request."""
    legacy_gw = legacy()
    topo = Topology(procs, kamailios, reusegw_bin, pki, legacy_gw.ep, accept_aliases=False,
                    send_alias=False)
    egress = h.tcp_connect(topo.gw.legacy_listen)
    egress.send(h.request("OPTIONS", "sip:svc@k.test", h.LEGACY_VIA))
    assert egress.recv().status == 200
    client = request_via_kamailio(topo, "sip:svc@a.test")
    _, backward = legacy_gw.next()
    assert backward.first_line == "OPTIONS sip:svc@a.test SIP/2.0"
    assert client.recv().status == 200
    assert h.established(topo.kam.ip, topo.gw.tls) == 1
    assert h.established(topo.gw_ip, topo.kam.tls) == 1
    topo.stop()
