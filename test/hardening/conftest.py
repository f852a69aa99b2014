"""Fixtures of the hardening tests: the end-to-end fixtures of
test/e2e/conftest.py (binary, PKI, process bookkeeping, gateway pairs,
legacy stand-ins) reused as they are, plus one gateway in front of a
byte-exact legacy stand-in."""
import pathlib
import sys

import pytest

E2E_DIR = pathlib.Path(__file__).resolve().parents[1] / "e2e"
sys.path.insert(0, str(E2E_DIR))

import harness as h  # noqa: E402

_e2e = h.e2e_conftest()
reusegw_bin, source_dir, pki = _e2e.reusegw_bin, _e2e.source_dir, _e2e.pki
procs, make_pair, legacy = _e2e.procs, _e2e.make_pair, _e2e.legacy


class Single:
    """Gateway B (gw-b, b.test) alone on a unique loopback address, forwarding
    to |forward| (an (ip, port)); a.test routes to A's address where nothing
    listens unless a test plays A itself. Its admin endpoint is not used."""

    def __init__(self, procs, binary, pki, forward, edit=None):
        net = h.unique_net()
        self.a_ip, self.b_ip = f"{net}.2", f"{net}.3"
        self.a_tls = (self.a_ip, h.free_port(self.a_ip))
        b_tls = (self.b_ip, h.free_port(self.b_ip))
        routes = {"a.test": [self.a_tls], "b.test": [b_tls]}
        cfg = h.gateway_config(pki, "gw-b", f"b.test:{b_tls[1]}", b_tls, forward,
                               (self.b_ip, h.free_port(self.b_ip)), routes,
                               ("127.0.0.1", h.free_port()), level="info")
        if edit:
            edit(cfg)
        self.gw = h.Gateway(procs, binary, "reusegw-b", cfg)

    def start(self):
        self.gw.start()
        return self

    @property
    def tls(self):
        return self.gw.tls

    @property
    def pid(self):
        return self.gw.proc.pid


@pytest.fixture
def make_single(procs, reusegw_bin, pki):
    """make(forward, edit=None) starts a Single; at teardown the gateway gets
    SIGTERM and must exit 0 (it never crashed)."""
    singles = []

    def make(forward, edit=None):
        s = Single(procs, reusegw_bin, pki, forward, edit).start()
        singles.append(s)
        return s

    yield make
    codes = [s.gw.stop() for s in singles]
    assert all(rc == 0 for rc in codes), f"reusegw must exit 0 on SIGTERM, got {codes}"
