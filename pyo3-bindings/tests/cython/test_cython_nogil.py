"""The plain C-level calls with the GIL released (nogil_work.pyx): several
threads on one pool, close() against calls in flight, and no deadlock with
threads that hold the GIL."""

import gc
import threading
import time

import arenapool

THREADS = 4


def test_a_with_nogil_loop_allocates_grows_and_frees(ext):
    pool = arenapool.Pool()
    failures, live = ext.nogil_work.nogil_loop(pool, 20000)
    assert failures == 0 and live == 0
    assert pool.size == 0 and pool.stats()["live_allocations"] == 0


def test_four_threads_share_one_pool_without_the_gil(ext):
    pool = arenapool.Pool()
    results = [None] * THREADS

    def work(i):
        # Two rounds each, so that a thread's blocks live across the others'.
        first = ext.nogil_work.run_churn(pool, i + 1, 1000 + i, 3000)
        second = ext.nogil_work.run_churn(pool, i + 1, 2000 + i, 3000)
        results[i] = (first, second)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    kept = 0
    for i, (first, second) in enumerate(results):
        assert first[0] == 0 and second[0] == 0, (i, first[0], second[0])
        kept += len(first[1]) + len(second[1])
    assert pool.stats()["live_allocations"] == kept
    assert pool.size == sum(n for r in results for part in r for _, n in part[1])
    # After all threads stopped: each thread's blocks still hold its tag.
    for i, (first, second) in enumerate(results):
        assert ext.nogil_work.check_and_free(pool, first[1] + second[1], i + 1) == 0
    assert pool.size == 0 and pool.stats()["live_allocations"] == 0


def test_close_waits_for_calls_in_flight_and_later_calls_fail_cleanly(ext):
    gc.collect()
    before = arenapool.total_reserved()
    pool = arenapool.Pool()
    results = []
    started = threading.Barrier(THREADS + 1)

    def work():
        started.wait()
        results.append(ext.nogil_work.until_closed(pool, 10_000_000))

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.05)
    pool.close()  # the GIL held, waiting for the pool's lock: never a deadlock
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    assert len(results) == THREADS
    for rounds, failed in results:
        assert failed != "none" and rounds < 10_000_000
    assert pool.closed
    assert arenapool.total_reserved() == before


def test_closed_pool_handle_fails_cleanly_while_the_object_lives(ext):
    shim = ext.capi_shim
    pool = arenapool.Pool()
    h = shim.handle(pool)
    p = shim.alloc(h, 1, 32)
    pool.close()
    assert shim.alloc(h, 1, 32) == 0
    assert shim.alloc_nogil(h, 1, 32) == 0
    assert shim.realloc(h, p, 64) == 0
    assert shim.realloc(h, 0, 64) == 0
    assert shim.free_(h, p) == -1
    assert shim.size(h) == 0


def test_nogil_calls_do_not_need_the_gil(ext):
    """One thread loops on alloc/free with the GIL released until the main
    thread, which needs the GIL to do so, sets a flag; meanwhile the main
    thread uses the same pool through Python and the raising forms (the GIL
    held, waiting for the pool's lock): both finish."""
    pool = arenapool.Pool()
    ext.nogil_work.set_flag(0)
    result = []
    spinner = threading.Thread(target=lambda: result.append(ext.nogil_work.spin_until_flag(pool, 2**30)))
    spinner.start()
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:
        a = pool.alloc(1, 64)
        pool.free(a)
        assert ext.nogil_work.raising_pairs(pool, 100) == 100
        assert ext.nogil_work.pairs_with_gil(pool, 100) == 100
    ext.nogil_work.set_flag(1)
    spinner.join(30)
    assert not spinner.is_alive()
    assert result and result[0] > 0
    assert pool.size == 0
