"""Fixtures for the RFC 5923 reuse suite: the end-to-end fixtures and
harness of test/e2e (reused, not copied) plus a Kamailio peer (kamailio.py).
test/e2e is put on the import path so `import harness` finds it."""
import importlib.util
import pathlib
import sys

import pytest

_E2E = pathlib.Path(__file__).resolve().parents[1] / "e2e"
sys.path.insert(0, str(_E2E))

_spec = importlib.util.spec_from_file_location("e2e_conftest", _E2E / "conftest.py")
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)

# pytest collects fixtures by name from this module's globals.
reusegw_bin = _e2e.reusegw_bin
source_dir = _e2e.source_dir
pki = _e2e.pki
procs = _e2e.procs
make_pair = _e2e.make_pair
legacy = _e2e.legacy


@pytest.fixture
def kamailios(procs):
    """A list the test appends its kamailio.Kamailio peers to; each is
    stopped at teardown, worker processes included, before `procs` prints
    the logs."""
    started = []
    yield started
    for k in started:
        k.stop()
