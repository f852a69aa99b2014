"""Shared fixtures for the end-to-end tests: where the binary and the source
tree are (ctest passes them in the environment), the session's throwaway PKI,
and per-test process bookkeeping (harness.py)."""
import os
import pathlib

import pytest

import harness


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
    return harness.generate_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def procs(tmp_path):
    """Processes of this test: stopped at teardown, logs printed (shown by
    pytest when the test failed)."""
    p = harness.Processes(tmp_path)
    yield p
    p.teardown()
