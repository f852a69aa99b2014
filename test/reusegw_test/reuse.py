"""The two ends of an RFC 5923 backward request, for the reuse suites: a
Python TLS peer playing gateway A from A's address (peer_as_a), and B's
legacy proxy sending a request back towards it (backward_request).

Borrows a started Pair and the PKI; the connections returned are the
caller's to close."""
from .peers import tcp_connect, tls_connect
from .pki import tls_context
from .sip import LEGACY_VIA, SipMessage, request

__all__ = ["peer_as_a", "backward_request"]


def peer_as_a(pair, pki, leaf, via_sent_by, alias=True, extra_vias=(), source=None, rport="",
              strict_eof=False):
    """A TLS connection to B from A's address (source: (ip, port), default
    A's ip, any port) with leaf's certificate (None: none) that sends one
    OPTIONS whose topmost Via is `SIP/2.0/TLS via_sent_by` [+ rport]
    [+ ;alias], with extra_vias below it, and reads its 200 (an alias is
    never a reason to refuse, R-5923-15). strict_eof: see tls_connect."""
    ctx = tls_context(pki, leaf)
    peer = tls_connect(pair.b.tls, ctx, "b.test", source=source or (pair.a_ip, 0),
                       strict_eof=strict_eof)
    via = f"SIP/2.0/TLS {via_sent_by}" + rport + (";alias" if alias else "")
    peer.send(request("OPTIONS", "sip:svc@b.test", via,
                      headers=[f"Via: {v}" for v in extra_vias]))
    assert peer.recv().status == 200, "B refused a request because of its alias"
    return peer


def backward_request(pair, domain="a.test", method="OPTIONS"):
    """B's legacy proxy sends a request for domain through B's
    legacy.listen; returns the connection (to read B's answer) and the
    request as a SipMessage."""
    c = tcp_connect(pair.b.legacy_listen)
    msg = request(method, f"sip:svc@{domain}", LEGACY_VIA)
    c.send(msg)
    return c, SipMessage(msg)
