"""The harness (reusegw_test) proven against real peers, without reusegw: sipp to sipp,
Python SIP peers through an stunnel mTLS pair, openssl s_client. If these
fail, a failure of test_relay.py says nothing about reusegw."""
import reusegw_test as h


def test_sipp_options_uac_to_uas(procs):
    net = h.unique_net()
    uas_ep, uac_ep = (f"{net}.5", h.free_port(f"{net}.5")), (f"{net}.2", h.free_port(f"{net}.2"))
    uas = h.Sipp(procs, "uas", "options_uas.xml", uas_ep, extra=["-m", "3"])
    h.wait_listening(uas_ep, uas.proc)
    uac = h.Sipp(procs, "uac", "options_uac.xml", uac_ep, uas_ep,
                 extra=["-m", "3", "-r", "10", "-key", "dest", "b.test"])
    assert uac.wait() == 0
    assert uas.wait() == 0
    assert uac.stat("Successful call") == 3
    received = uas.received()
    assert len(received) == 3
    assert all(m.startswith("OPTIONS sip:service@b.test SIP/2.0\n") for m in received)


def test_sipp_full_call_uac_to_uas(procs):
    net = h.unique_net()
    uas_ep, uac_ep = (f"{net}.5", h.free_port(f"{net}.5")), (f"{net}.2", h.free_port(f"{net}.2"))
    uas = h.Sipp(procs, "uas", "invite_uas.xml", uas_ep, extra=["-m", "1"])
    h.wait_listening(uas_ep, uas.proc)
    uac = h.Sipp(procs, "uac", "invite_uac.xml", uac_ep, uas_ep,
                 extra=["-m", "1", "-key", "dest", "b.test"])
    assert uac.wait() == 0
    assert uas.wait() == 0
    first_lines = [m.splitlines()[0] for m in uas.received()]
    assert first_lines == [f"{method} sip:service@b.test SIP/2.0"
                           for method in ("INVITE", "ACK", "BYE")]


def test_sipp_callee_sends_bye_back_on_the_callers_connection(procs):
    """The backward-request scenario: sipp as callee sends the BYE down the
    connection the INVITE came on; a Python caller answers it."""
    net = h.unique_net()
    uas_ep = (f"{net}.5", h.free_port(f"{net}.5"))
    uas = h.Sipp(procs, "uas", "call_uas_sends_bye.xml", uas_ep,
                 extra=["-m", "1", "-key", "dest", "a.test"])
    h.wait_listening(uas_ep, uas.proc)
    caller = h.tcp_connect(uas_ep)
    invite = h.request("INVITE", "sip:service@b.test", "SIP/2.0/TCP 127.0.0.1:5999")
    caller.send(invite)
    ok = caller.recv()
    assert ok.status == 200
    caller.send(h.request("ACK", "sip:service@b.test", "SIP/2.0/TCP 127.0.0.1:5999",
                          call_id=ok.get("call-id")))
    bye = caller.recv()
    assert bye.first_line == "BYE sip:uac@a.test SIP/2.0"
    assert bye.get("call-id") == ok.get("call-id")
    caller.send(h.response(bye))
    assert uas.wait() == 0
    caller.close()


def _stunnel_pair(procs, pki, legacy):
    net = h.unique_net()
    a = (f"{net}.3", h.free_port(f"{net}.3"))
    b = (f"{net}.4", h.free_port(f"{net}.4"))
    h.start_stunnel(procs, "stunnel-b", pki, "gw-b", b, legacy.ep, client=False)
    h.start_stunnel(procs, "stunnel-a", pki, "gw-a", a, b, client=True, check_host="b.test")
    return a, b


def test_64k_message_through_stunnel_pair_arrives_byte_exact(procs, pki):
    legacy = h.LegacyServer()
    try:
        a, b = _stunnel_pair(procs, pki, legacy)
        body = bytes(range(256)) * 256
        msg = h.request("MESSAGE", "sip:svc@b.test", "SIP/2.0/TCP 127.0.0.1:5070",
                        body=body, headers=["Content-Type: application/octet-stream"])
        c = h.tcp_connect(a)
        c.send(msg)
        _, got = legacy.next()
        assert got.raw == msg
        assert len(got.body) == 65536
        assert c.recv().status == 200
        # stunnel A holds one TLS connection to stunnel B
        assert h.established(None, b) == 1
        c.close()
    finally:
        legacy.close()


def test_tls_client_sending_one_byte_at_a_time_through_stunnel(procs, pki):
    legacy = h.LegacyServer()
    try:
        _, b = _stunnel_pair(procs, pki, legacy)
        c = h.tls_connect(b, h.tls_context(pki, "gw-a"), "b.test")
        msg = h.request("OPTIONS", "sip:svc@b.test", "SIP/2.0/TLS a.test:5061")
        c.send(msg, chunk=1)
        _, got = legacy.next()
        assert got.raw == msg
        assert c.recv().status == 200
        c.close()
    finally:
        legacy.close()


def test_s_client_with_and_without_client_certificate(procs, pki):
    legacy = h.LegacyServer()
    try:
        _, b = _stunnel_pair(procs, pki, legacy)
        msg = h.request("OPTIONS", "sip:svc@b.test", "SIP/2.0/TLS a.test:5061")
        answer, err = h.s_client(b, pki, "gw-a", "b.test", msg)
        assert answer is not None, err
        assert answer.status == 200
        refused, _ = h.s_client(b, pki, None, "b.test", msg, timeout=5)
        assert refused is None
        assert legacy.received.qsize() == 1
    finally:
        legacy.close()
