"""Shared fixtures for the end-to-end tests: where the binary and the source
tree are (ctest passes them in the environment), the session's throwaway PKI,
and per-test process bookkeeping (harness.py)."""
import os
import pathlib

import pytest

import harness as h


@pytest.fixture(scope="session")
def reusegw_bin():
    path = os.environ.get("REUSEGW_BIN")
    assert path, "REUSEGW_BIN is not set: run the e2e tests through ctest"
    return pathlib.Path(path)


@pytest.fixture(scope="session")
def source_dir():
    return pathlib.Path(os.environ.get("REUSEGW_SOURCE_DIR",
                                       pathlib.Path(__file__).resolve().parents[2]))


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """test/certs/gen.sh output, generated once per pytest session."""
    return h.generate_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def procs(tmp_path):
    """Processes of this test: stopped at teardown, logs printed (shown by
    pytest when the test failed)."""
    p = h.Processes(tmp_path)
    yield p
    p.teardown()


@pytest.fixture
def make_pair(procs, reusegw_bin, pki):
    """make(forward_a, forward_b, edit=None, with_a=True) starts a
    harness.Pair; at teardown every gateway started gets SIGTERM and must
    exit 0."""
    pairs = []

    def make(forward_a, forward_b, edit=None, with_a=True):
        p = h.Pair(procs, reusegw_bin, pki, forward_a, forward_b, edit)
        pairs.append(p)
        return p.start(with_a)

    yield make
    codes = [rc for p in pairs for rc in p.stop()]
    assert all(rc == 0 for rc in codes), f"reusegw must exit 0 on SIGTERM, got {codes}"


@pytest.fixture
def legacy():
    """make(**kw) starts a harness.LegacyServer, closed at teardown."""
    servers = []

    def make(**kw):
        s = h.LegacyServer(**kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()
