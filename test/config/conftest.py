"""Fixtures of the --check-config tests: the binary, source tree and
throwaway PKI fixtures of test/e2e/conftest.py, reused as they are (as
test/reuse and test/hardening do) rather than copied."""
import importlib.util
import pathlib
import sys

_E2E = pathlib.Path(__file__).resolve().parents[1] / "e2e"
sys.path.insert(0, str(_E2E))

_spec = importlib.util.spec_from_file_location("e2e_conftest", _E2E / "conftest.py")
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)

# pytest collects fixtures by name from this module's globals.
reusegw_bin, source_dir, pki = _e2e.reusegw_bin, _e2e.source_dir, _e2e.pki
