"""Fixtures of the capture tests: the end-to-end fixtures of
test/e2e/conftest.py (binary, PKI, process bookkeeping, gateway pairs)."""
import pathlib
import sys

E2E_DIR = pathlib.Path(__file__).resolve().parents[1] / "e2e"
sys.path.insert(0, str(E2E_DIR))

import harness as h  # noqa: E402

_e2e = h.e2e_conftest()
reusegw_bin, source_dir, pki = _e2e.reusegw_bin, _e2e.source_dir, _e2e.pki
procs, make_pair, legacy = _e2e.procs, _e2e.make_pair, _e2e.legacy
