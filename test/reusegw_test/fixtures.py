"""The pytest fixtures every suite shares (registered by test/conftest.py).

A Stage owns what one test, or one module, starts: processes (with their
logs), gateways, legacy stand-ins and Kamailio peers. Closing it stops
them all, prints the logs, and fails the test when a gateway did not exit
0 on SIGTERM (it crashed or hung). The function-scoped fixtures procs,
make_pair, make_single, legacy and kamailios are one test's Stage; a
module that keeps one topology for all its tests takes module_stage."""
import os
import pathlib

import pytest

from .gateway import Gateway, Pair, Single
from .peers import LegacyServer, silent, tcp_connect
from .pki import SOURCE_DIR, generate_pki
from .procs import Processes

__all__ = ["Stage"]


class Stage:
    """What one test or module starts, stopped by close()."""

    def __init__(self, log_dir, binary, pki):
        self.procs = Processes(log_dir)
        self.binary = binary
        self.pki = pki
        self.gateways = []
        self.legacies = []
        self.kamailios = []
        self.conns = []

    def legacy(self, **kw):
        """A started LegacyServer(**kw), closed by close()."""
        s = LegacyServer(**kw)
        self.legacies.append(s)
        return s

    def gateway(self, name, config):
        """A Gateway (not started) on config; stopped by close(), exit 0
        required if it was started and still runs."""
        g = Gateway(self.procs, self.binary, name, config)
        self.gateways.append(g)
        return g

    def pair(self, forward_a, forward_b, edit=None, with_a=True, start=True):
        """A Pair, started unless start is false (see Pair.start for
        with_a)."""
        p = Pair(self.procs, self.binary, self.pki, forward_a, forward_b, edit)
        self.gateways += [p.a, p.b]
        return p.start(with_a) if start else p

    def single(self, forward, edit=None, argv_prefix=()):
        """A started Single (argv_prefix: see Gateway.start)."""
        s = Single(self.procs, self.binary, self.pki, forward, edit)
        self.gateways.append(s.gw)
        return s.start(argv_prefix)

    def relay(self, edit=None, forward_b=None):
        """A started Pair between two silent legacy stand-ins, legacy_a and
        legacy_b (the test answers), with egress_a, legacy A's connection
        to A's legacy.listen, open. forward_b replaces legacy_b's endpoint
        as B's legacy.forward_to."""
        legacy_a, legacy_b = self.legacy(answer=silent), self.legacy(answer=silent)
        p = self.pair(legacy_a.ep, forward_b or legacy_b.ep, edit)
        p.legacy_a, p.legacy_b = legacy_a, legacy_b
        p.egress_a = self.connect(p.a.legacy_listen)
        return p

    def connect(self, ep, **kw):
        """tcp_connect(ep, **kw), closed by close()."""
        c = tcp_connect(ep, **kw)
        self.conns.append(c)
        return c

    def close(self):
        for k in self.kamailios:
            k.stop()
        codes = [(g.name, g.stop()) for g in self.gateways if g.proc]
        for c in self.conns:
            c.close()
        for s in self.legacies:
            s.close()
        self.procs.teardown()
        bad = [(name, rc) for name, rc in codes if rc != 0]
        assert not bad, f"reusegw must exit 0 on SIGTERM, got {bad}"


@pytest.fixture(scope="session")
def reusegw_bin():
    """$REUSEGW_BIN (ctest sets it), else the normal build's binary."""
    path = pathlib.Path(os.environ.get("REUSEGW_BIN", SOURCE_DIR / "build/gateway/reusegw"))
    assert path.is_file(), f"no reusegw at {path}: build it or set REUSEGW_BIN"
    return path.resolve()  # children run in their log directories


@pytest.fixture(scope="session")
def source_dir():
    return SOURCE_DIR


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """test/certs/gen.sh output, generated once per pytest session."""
    return generate_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def stage(tmp_path, reusegw_bin, pki):
    s = Stage(tmp_path, reusegw_bin, pki)
    yield s
    s.close()


@pytest.fixture(scope="module")
def module_stage(tmp_path_factory, reusegw_bin, pki):
    s = Stage(tmp_path_factory.mktemp("module"), reusegw_bin, pki)
    yield s
    s.close()


@pytest.fixture
def procs(stage):
    """Processes of this test: stopped at teardown, logs printed."""
    return stage.procs


@pytest.fixture
def make_pair(stage):
    """make(forward_a, forward_b, edit=None, with_a=True): Stage.pair."""
    return stage.pair


@pytest.fixture
def make_single(stage):
    """make(forward, edit=None, argv_prefix=()): Stage.single."""
    return stage.single


@pytest.fixture
def legacy(stage):
    """make(**kw): Stage.legacy."""
    return stage.legacy


@pytest.fixture
def kamailios(stage):
    """The list a test appends its Kamailio peers to; each is stopped at
    teardown, worker processes included, before the logs are printed."""
    return stage.kamailios
