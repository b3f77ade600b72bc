"""A pool inherited by a child of os.fork() while another thread of the parent
is inside a large (GIL-released) alloc or realloc on it.

Regression test of the fork gate (pyo3-bindings/src/fork.rs): without it the
child could inherit the pool's lock held by a thread that does not exist in
the child, and hang on its first use of the pool.
"""

import os
import threading
import time

import pytest

import arenapool

MIB = 1 << 20
CHILDREN = 40
# For all the children together: each one needs a few milliseconds.
REAP_SECONDS = 5.0

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    # CPython 3.12+ warns that fork() in a multi-threaded process may deadlock
    # the child: that is the very case under test.
    pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning"),
]


def _child(pool):
    """Runs in the child: large and small work on the inherited pool; never returns."""
    code = 1
    try:
        a = pool.alloc(1, 2 * MIB)  # large: GIL released, through the gate
        memoryview(a)[:4] = b"kid!"
        b = pool.realloc(a, 3 * MIB)  # large grow
        c = pool.realloc(b, 1 * MIB)  # large shrink
        s = pool.alloc(4, 8)  # small: the GIL held throughout
        ok = bytes(c)[:4] == b"kid!" and bytes(c)[4:64] == bytes(60) and bytes(s) == bytes(32)
        pool.free(s)
        pool.free(c)
        code = 0 if ok else 2
    finally:
        os._exit(code)


def test_forked_children_can_use_a_pool_another_thread_is_busy_with(reap):
    pool = arenapool.Pool()
    stop = threading.Event()
    started = threading.Event()
    errors = []

    def churn():
        try:
            while not stop.is_set():
                a = pool.alloc(1, 4 * MIB)  # large alloc: GIL released
                b = pool.realloc(a, 8 * MIB)  # large grow: GIL released
                started.set()
                c = pool.realloc(b, 2 * MIB)  # large shrink: GIL released
                pool.free(c)  # the GIL held
        except BaseException as e:  # noqa: BLE001
            errors.append(e)
            started.set()

    worker = threading.Thread(target=churn, daemon=True)
    worker.start()
    pids = []
    try:
        assert started.wait(5.0)
        for _ in range(CHILDREN):
            pid = os.fork()
            if pid == 0:
                _child(pool)
            pids.append(pid)
    finally:
        stop.set()
        worker.join(5.0)
        codes = reap(pids, REAP_SECONDS)
    # after_in_parent reopened the gate: the worker went on and stopped.
    assert not worker.is_alive()
    assert not errors, errors
    failed = {pid: code for pid, code in codes.items() if code != 0}
    assert not failed, f"{len(failed)} of {CHILDREN} children failed (exit code or 'hung'): {failed}"
    assert pool.size == 0
    # The parent still serves large blocks after all those forks.
    assert len(pool.alloc(1, 2 * MIB)) == 2 * MIB
