"""Shared fixtures of the archconv Python tests."""

import os
import pathlib
import shutil

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def rng():
    return np.random.default_rng(20221128)


@pytest.fixture(scope="session")
def archconv_bin():
    """The archconv command-line tool (the Rust API's own front end), for values checked
    against it: $ARCHCONV_BIN, or the cargo build in target/. Skipped (reported) without."""
    cands = [os.environ.get("ARCHCONV_BIN"), ROOT / "target/release/archconv", ROOT / "target/debug/archconv", shutil.which("archconv")]
    for c in cands:
        if c and pathlib.Path(c).is_file() and os.access(c, os.X_OK):
            return str(c)
    pytest.skip("no archconv binary: run `cargo build` (or set ARCHCONV_BIN)")


@pytest.fixture(scope="session")
def data_dir():
    d = os.environ.get("ARCHCONV_DATA")
    if not d or not pathlib.Path(d).is_dir():
        pytest.skip("ARCHCONV_DATA is not set to the data directory")
    return pathlib.Path(d)
