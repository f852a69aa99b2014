"""Relay tests that do not pass against the current gateway yet. NOT
registered in ctest (test/e2e/CMakeLists.txt) until they do: move each into
test_relay.py when it passes. Run by hand:
  REUSEGW_BIN=build/gateway/reusegw /usr/bin/python3 -m pytest test/e2e/test_relay_pending.py
"""
import harness as h
from test_reuse import backward_request, peer_as_a


def test_alias_from_a_peer_without_certificate_is_ignored_not_rejected(make_pair, legacy, pki):
    """R-5923-25/-15: client_certificate optional, a peer without one asks
    for an alias: its request is served (200), no alias is made (the
    backward request is not sent on its connection)."""
    legacy_b = legacy()

    def edit(name, cfg):
        if name == "b":
            cfg["tls"]["client_certificate"] = "optional"

    pair = make_pair(h.dead_endpoint(), legacy_b.ep, edit, with_a=False)
    peer = peer_as_a(pair, pki, None, f"a.test:{pair.a.tls[1]}")
    c, _ = backward_request(pair)
    assert c.recv().status == 503
    assert not peer.pending
