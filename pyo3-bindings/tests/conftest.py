"""Which build of the extension the tests exercise.

``make test-python`` runs this suite twice: against the release build
installed in the venv, then against a debug build put first on PYTHONPATH
(Rust's debug assertions on). It sets ARENAPOOL_EXPECT_EXTENSION_DIR for the
second run, so that a debug run that silently imported the release build
fails instead of passing.
"""

import os

import pytest

import arenapool._arenapool as extension


def pytest_report_header(config):
    return f"arenapool extension: {extension.__file__}"


def pytest_configure(config):
    expected = os.environ.get("ARENAPOOL_EXPECT_EXTENSION_DIR")
    if not expected:
        return
    loaded = os.path.realpath(extension.__file__)
    if not loaded.startswith(os.path.realpath(expected) + os.sep):
        raise pytest.UsageError(f"arenapool extension loaded from {loaded}, expected one under {expected}")
