"""Which build of the extension the tests exercise.

``make test-python`` runs this suite twice: against the release build
installed in the venv, then against a debug build put first on PYTHONPATH
(Rust's debug assertions on). It sets ARENAPOOL_EXPECT_EXTENSION_DIR for the
second run, so that a debug run that silently imported the release build
fails instead of passing.
"""

import os
import signal
import time

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


def _reap(pids, seconds):
    """Exit codes by pid; a child still running after `seconds` is killed and 'hung'."""
    deadline = time.monotonic() + seconds
    codes, pending = {}, list(pids)
    while pending and time.monotonic() < deadline:
        for pid in list(pending):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                codes[pid] = os.waitstatus_to_exitcode(status)
                pending.remove(pid)
        time.sleep(0.005)
    for pid in pending:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        codes[pid] = "hung"
    return codes


@pytest.fixture
def reap():
    """reap(pids, seconds) -> {pid: exit code or 'hung'}, for the fork tests."""
    return _reap


# The ABI self-test runs in a process of its own with the cymem switch on
# (tests/test_cymem_switch.py starts it): left out of a session that is not
# switched.
import arenapool.cymem  # noqa: E402

collect_ignore = [] if arenapool.cymem.installed() else ["cymem_abi"]
