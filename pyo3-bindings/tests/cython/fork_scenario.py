"""The fork scenario of test_cython_fork.py, shared by its in-process test
and the one that runs in a subprocess after a subinterpreter was made."""

import os
import threading
import time


def _child(pool, shim):
    """Runs in a child: plain and raising C calls and a Python-level block on
    the inherited pool; exits 0 if all worked and the size is back."""
    code = 1
    try:
        h = shim.handle(pool)
        start = pool.size  # the blocks the threads held at the fork stay live here
        p = shim.alloc_nogil(h, 1, 3 << 20)
        q = shim.realloc(h, p, 16)
        r = shim.alloc_or_raise(h, 2, 8)
        a = pool.alloc(1, 8)
        ok = p and q and shim.free_(h, q) == 0 and shim.free_or_raise(h, r) == 0
        pool.free(a)
        code = 0 if ok and pool.size == start else 2
    finally:
        os._exit(code)


def fork_while_busy(pool, work, shim, children, reap):
    """Forks `children` times while two threads run nogil C calls on `pool`
    (work.busy_until_flag); each child uses the pool. Returns the threads'
    results, how many are still alive, and the children's exit codes by pid
    (`reap(pids, seconds)`: 'hung' for one that did not end)."""
    work.set_flag(0)
    results = []
    threads = [threading.Thread(target=lambda: results.append(work.busy_until_flag(pool, 2**30))) for _ in range(2)]
    for t in threads:
        t.start()
    pids = []
    try:
        time.sleep(0.02)
        for _ in range(children):
            pid = os.fork()
            if pid == 0:
                _child(pool, shim)
            pids.append(pid)
    finally:
        work.set_flag(1)
        for t in threads:
            t.join(10)
        codes = reap(pids, 10)
    return results, sum(t.is_alive() for t in threads), codes
