"""Fixtures of the --check-config tests: the binary, source tree and
throwaway PKI fixtures of test/e2e/conftest.py, reused as they are (as
test/reuse and test/hardening do) rather than copied."""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e"))

import harness as h  # noqa: E402

_e2e = h.e2e_conftest()
# pytest collects fixtures by name from this module's globals.
reusegw_bin, source_dir, pki = _e2e.reusegw_bin, _e2e.source_dir, _e2e.pki
