"""Certificate purpose end to end (issue 20 item 1; docs/configuration.md,
"Certificate purpose"): gateway B with the default tls.require_sip_eku:
false refuses a client certificate whose extended key usage is only
codeSigning or only anyExtendedKeyUsage (nothing relayed, no alias, the
reason counted), and refuses to dial a server whose certificate is such
(the legacy proxy gets a 503 naming the reason). Positive controls with a
clientAuth-only client and a serverAuth-only server in the same setup show
that a refusal is the purpose check and nothing else. The certificates are
test/certs/gen.sh's eku-* leaves."""
import socket
import ssl
import threading

import pytest

import harness as h

PURPOSE = 'reusegw_tls_handshake_failures_total{reason="certificate_purpose"}'


def offer(single, pki, leaf):
    """A TLS client with |leaf|'s certificate sends one OPTIONS with ;alias to
    B; returns the SipConnection, or None when the handshake or the first
    read failed (TLS 1.3 reports a refused client certificate on read)."""
    try:
        peer = h.tls_connect(single.tls, h.tls_context(pki, leaf), "b.test",
                             source=(single.a_ip, 0))
        peer.send(h.request("OPTIONS", "sip:svc@b.test", f"SIP/2.0/TLS {single.a_ip}:5061;alias"))
        peer.recv()
        return peer
    except (ssl.SSLError, OSError, AssertionError):
        return None


@pytest.mark.parametrize("leaf", ["eku-wrong", "eku-any"])
def test_inbound_client_certificate_without_client_purpose_is_refused(
        make_single, legacy, pki, leaf):
    lg = legacy()
    single = make_single(lg.ep)
    assert offer(single, pki, leaf) is None, f"{leaf}: B served a request"
    with pytest.raises(AssertionError):
        lg.next(timeout=1.0)
    assert single.gw.metric(PURPOSE) == 1
    assert single.gw.metric('reusegw_alias_decisions_total{result="recorded"}') == 0
    h.wait_until(lambda: "certificate purpose: EKU" in single.gw.log())


@pytest.mark.parametrize("leaf", ["eku-client", "eku-sip"])
def test_inbound_client_certificate_fit_for_its_purpose_is_served(make_single, legacy, pki, leaf):
    lg = legacy()
    single = make_single(lg.ep)
    peer = offer(single, pki, leaf)
    assert peer is not None, f"{leaf} was refused:\n{single.gw.log()}"
    _, got = lg.next()
    assert got.method == "OPTIONS"
    assert single.gw.metric(PURPOSE) == 0
    peer.close()


class TlsServer:
    """A TLS server on a loopback port presenting |leaf| (Python ssl): the
    peer reusegw dials. It records the first message of each connection it
    completed a handshake on and answers it 200; client certificates are not
    checked."""

    def __init__(self, pki, leaf, ip="127.0.0.1"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(pki / f"{leaf}.chain.pem"), str(pki / f"{leaf}.key"))
        self.ctx = ctx
        self.listener = socket.create_server((ip, 0))
        self.ep = self.listener.getsockname()
        self.got = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                s, _ = self.listener.accept()
            except OSError:
                return
            s.settimeout(h.IO_TIMEOUT)
            try:
                peer = h.SipConnection(self.ctx.wrap_socket(s, server_side=True))
                msg = peer.recv()
                self.got.append(msg.raw)
                peer.send(h.response(msg))
                peer.closed_by_peer()
            except (ssl.SSLError, OSError, AssertionError):
                pass
            finally:
                s.close()

    def close(self):
        self.listener.close()


@pytest.mark.parametrize("leaf,refused", [("eku-wrong", True), ("eku-any", True),
                                          ("eku-client", True), ("eku-server", False)])
def test_dialled_server_certificate_needs_server_purpose(make_single, legacy, pki, leaf,
                                                         refused):
    domain = f"{leaf}.test"
    server = TlsServer(pki, leaf)
    try:
        single = make_single(legacy().ep, edit=lambda cfg: cfg["routes"].append(
            {"domain": domain, "targets": [h.hostport(server.ep)]}))
        c = h.tcp_connect(single.gw.legacy_listen)
        c.send(h.request("OPTIONS", f"sip:svc@{domain}", h.LEGACY_VIA))
        if refused:
            answer = c.recv()
            assert answer.status == 503, answer.first_line
            assert "certificate purpose" in answer.raw.decode(errors="replace")
            assert single.gw.metric(PURPOSE) == 1
            assert not any(server.got), f"the server received {server.got!r}"
        else:
            assert c.recv().status == 200
            assert any(g.startswith(b"OPTIONS sip:svc@") for g in server.got)
            assert single.gw.metric(PURPOSE) == 0
        c.close()
    finally:
        server.close()
