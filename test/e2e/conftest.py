"""Shared fixtures for the end-to-end tests: where the binary and the source
tree are (ctest passes them in the environment)."""
import os
import pathlib

import pytest


@pytest.fixture(scope="session")
def reusegw_bin():
    path = os.environ.get("REUSEGW_BIN")
    assert path, "REUSEGW_BIN is not set: run the e2e tests through ctest"
    return pathlib.Path(path)


@pytest.fixture(scope="session")
def source_dir():
    return pathlib.Path(os.environ.get("REUSEGW_SOURCE_DIR",
                                       pathlib.Path(__file__).resolve().parents[2]))
