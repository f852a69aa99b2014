"""Fixtures for the RFC 5923 reuse suite: the end-to-end fixtures and
harness of test/e2e (reused, not copied) plus a Kamailio peer (kamailio.py).
test/e2e is put on the import path so `import harness` finds it."""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e"))

import harness as h  # noqa: E402

_e2e = h.e2e_conftest()

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
