"""Forks while other threads use a pool through the C-level API.

The plain calls cross the fork gate (pyo3-bindings/src/fork.rs) when they
run without the GIL, so that a child never inherits a pool lock held by a
thread that does not exist there; with the GIL held, they do not wait at
the gate (a thread that did could keep the GIL from the forking thread).
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import arenapool
from fork_scenario import fork_while_busy

CHILDREN = 20

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning"),
]


def test_children_use_a_pool_that_nogil_threads_are_busy_with(ext, reap):
    pool = arenapool.Pool()
    results, alive, codes = fork_while_busy(pool, ext.nogil_work, ext.capi_shim, CHILDREN, reap)
    assert alive == 0
    assert len(results) == 2 and all(r > 0 for r in results), results
    failed = {pid: code for pid, code in codes.items() if code != 0}
    assert not failed, f"{len(failed)} of {CHILDREN} children failed (exit code or 'hung'): {failed}"
    assert pool.size == 0


SCRIPT = textwrap.dedent(
    """
    import os, sys, threading, time, _imp
    sys.path.insert(0, sys.argv[1])
    import arenapool, nogil_work

    pool = arenapool.Pool()
    locked = threading.Event()
    state = {"forking": False, "during": 0, "done": False}

    def holder():
        # Holds the import lock, so that os.fork() waits for it after its
        # before-handlers (the gate closed) with the GIL released.
        _imp.acquire_lock()
        locked.set()
        time.sleep(0.3)
        _imp.release_lock()

    def gil_user():
        while not state["done"]:
            assert nogil_work.pairs_with_gil(pool, 20) == 20  # plain calls, GIL held
            if state["forking"]:
                state["during"] += 1

    threading.Thread(target=holder).start()
    locked.wait()
    user = threading.Thread(target=gil_user)
    user.start()
    time.sleep(0.01)
    state["forking"] = True
    pid = os.fork()
    if pid == 0:
        os._exit(0 if nogil_work.pairs_with_gil(pool, 10) == 10 and pool.size == 0 else 3)
    state["forking"] = False
    state["done"] = True
    user.join()
    _, status = os.waitpid(pid, 0)
    print(state["during"], os.waitstatus_to_exitcode(status))
    """
)


def test_plain_calls_with_the_gil_do_not_wait_at_a_closed_gate(build_dir):
    """Between the before-fork handlers and fork() the forking thread may
    release the GIL (here: waiting for the import lock). Another thread then
    runs plain calls with the GIL held: they must not wait for the fork
    (which waits for the GIL). Run in a subprocess: the failure is a hang."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, build_dir],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    during, child = map(int, done.stdout.split())
    assert child == 0
    assert during > 0, "no plain call ran while the fork waited for the import lock"


def _subinterpreters():
    """The module that makes subinterpreters: _interpreters (3.13+) or
    _xxsubinterpreters (3.11, 3.12); None if neither exists."""
    for name in ("_interpreters", "_xxsubinterpreters"):
        try:
            return __import__(name).__name__
        except ImportError:
            pass
    return None


SUBINTERPRETER_SCRIPT = textwrap.dedent(
    """
    import ctypes, json, os, sys, threading, time, warnings
    build_dir, tests_dir, module, children = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    sys.path[:0] = [build_dir, tests_dir, os.path.join(tests_dir, "cython")]
    warnings.filterwarnings("ignore", ".*fork.*", DeprecationWarning)
    import arenapool, capi_shim as shim, nogil_work as work
    from conftest import _reap  # the `reap` fixture's helper
    from fork_scenario import fork_while_busy

    def gil_check_without_the_gil():
        # CDLL calls release the GIL around the call.
        result = []
        t = threading.Thread(target=lambda: result.append(ctypes.CDLL(None).PyGILState_Check()))
        t.start()
        t.join()
        return result[0]

    before = gil_check_without_the_gil()
    # Made, then destroyed: CPython turns PyGILState_Check off for good when
    # it makes one (it then says 1 on every thread). Not kept alive: 3.11's
    # own fork child deadlocks deleting a live subinterpreter (its
    # _PyInterpreterState_DeleteExceptMain takes the interpreters' lock twice).
    subinterpreters = __import__(module)
    subinterpreters.destroy(subinterpreters.create())
    after = gil_check_without_the_gil()

    pool = arenapool.Pool()
    results, alive, codes = fork_while_busy(pool, work, shim, children, _reap)
    print(json.dumps({
        "gil_check": [before, after],
        "threads_alive": alive,
        "results": results,
        "codes": list(codes.values()),
        "size": pool.size,
    }))
    """
)


@pytest.mark.skipif(_subinterpreters() is None, reason="needs _interpreters or _xxsubinterpreters")
def test_children_fork_cleanly_after_a_subinterpreter_was_made(build_dir):
    """Once a subinterpreter has been made, CPython's PyGILState_Check says 1
    on every thread, GIL or not: threads in `with nogil:` blocks that trusted
    it went through the fork gate, and children inherited their pool locks
    held (all 20 hung). The scenario of the test above, after a
    subinterpreter was made; in a subprocess, as making one changes the
    whole process. Each child is reaped by conftest's `_reap` (10 s, then
    killed: 'hung')."""
    done = subprocess.run(
        [sys.executable, "-c", SUBINTERPRETER_SCRIPT, build_dir,
         os.path.dirname(os.path.dirname(os.path.abspath(__file__))), _subinterpreters(), str(CHILDREN)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    note = f"(PyGILState_Check without the GIL: {out['gil_check'][0]} before the subinterpreter, {out['gil_check'][1]} after)"
    assert out["threads_alive"] == 0
    assert len(out["results"]) == 2 and all(r > 0 for r in out["results"]), out["results"]
    failed = [code for code in out["codes"] if code != 0]
    assert len(out["codes"]) == CHILDREN
    assert not failed, f"{len(failed)} of {CHILDREN} children failed (exit code or 'hung'): {failed} {note}"
    assert out["size"] == 0
