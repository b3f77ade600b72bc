"""The plain C-level calls with the GIL released (nogil_work.pyx): several
threads on one pool, close() against calls in flight, and no deadlock with
threads that hold the GIL."""

import gc
import threading
import time

import pytest

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
    """One thread makes long calls (a realloc to 48 MiB: the engine zeroes
    the new tail with its lane locked), timed with the C clock; others loop
    on short calls. close() from the main thread, started while a long call
    is in flight, returns only after that call ended; every thread's next
    call fails cleanly, and the pool's memory goes back."""
    work, shim = ext.nogil_work, ext.capi_shim
    big = 48 << 20
    # close() may win the race to the long call's lane (the call then fails
    # at once, nothing in flight): try again with a new pool.
    for attempt in range(5):
        gc.collect()
        before = arenapool.total_reserved()
        pool = arenapool.Pool()
        h = shim.handle(pool)
        # This thread's lane too.
        assert shim.free_(h, shim.alloc(h, 1, 8)) == 0
        work.counter_reset()
        results = []
        long_result = []
        started = threading.Barrier(THREADS + 2)

        def short_calls():
            # Each thread's lane made before close() (a lane made after
            # it: test_cython_lanes.py).
            assert shim.free_(h, shim.alloc(h, 1, 8)) == 0
            started.wait()
            results.append(work.until_closed(pool, 10_000_000))

        def long_calls():
            assert shim.free_(h, shim.alloc(h, 1, 8)) == 0
            started.wait()
            long_result.append(work.long_calls_until_closed(pool, 40 << 20, big, 1000))

        threads = [threading.Thread(target=short_calls) for _ in range(THREADS)]
        threads.append(threading.Thread(target=long_calls))
        for t in threads:
            t.start()
        started.wait()
        time.sleep(0.02)  # the short calls under way
        assert work.wait_in_call(10)  # a long call about to start
        # The GIL held, waiting for each lane's lock: never a deadlock.
        close_start, close_end = work.close_timed(pool)
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads)
        assert len(results) == THREADS
        for rounds, failed in results:
            assert failed != "none" and rounds < 10_000_000
        (timings, failed), = long_result
        assert failed != "none", "a call after close() succeeded"
        assert pool.closed
        assert arenapool.total_reserved() == before
        # Every long call that succeeded ended (its lane given back) before
        # close() returned; 1 ms for the thread to read the clock after it
        # gave the lane back.
        for call_start, call_end in timings:
            assert call_end <= close_end + 1e-3, (call_start, call_end, close_start, close_end)
        in_flight = [(s, e) for s, e in timings if s <= close_start and e - close_start > 5e-3]
        if in_flight:
            break
    else:
        pytest.fail("close() never started while a long call had more than 5 ms to go")
    # Later calls through a handle taken before close() fail cleanly too.
    assert (shim.alloc(h, 1, 8), shim.realloc(h, 0, 8), shim.free_(h, 16), shim.size(h)) == (0, 0, -1, 0)


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


def _hold_the_gil_while_a_thread_counts(work, pool, need_gil, seconds):
    """Starts a thread counting alloc/free pairs with the GIL released, waits
    (the GIL released) until it runs, then holds the GIL in C until the
    thread's C-level counter advanced by 20,000 or `seconds` passed:
    (reached, advance, the thread's pair count or -1 if a call failed)."""
    work.counter_reset()
    result = []
    counter = threading.Thread(target=lambda: result.append(work.count_pairs(pool, need_gil)))
    counter.start()
    deadline = time.monotonic() + 10
    while not work.counter_started() and time.monotonic() < deadline:
        time.sleep(0.001)
    assert work.counter_started()
    start = work.counter()
    reached, end, pairs = work.hold_gil_until(pool, start + 20_000, seconds)
    work.counter_stop()
    counter.join(30)
    assert not counter.is_alive()
    assert pairs > 0  # the raising forms ran meanwhile, the GIL held
    return reached, end - start, result[0]


def test_nogil_calls_do_not_need_the_gil(ext):
    """A thread loops on alloc/free pairs with the GIL released, counting
    them in C, while the main thread holds the GIL in a C loop (doing
    raising alloc/free pairs on the same pool, which wait for lanes with the
    GIL held) until the count has advanced: it advances. A control thread
    that takes the GIL to count makes no progress under the same hold, so a
    plain call that needed the GIL would fail the first part."""
    work = ext.nogil_work
    pool = arenapool.Pool()
    reached, advance, counted = _hold_the_gil_while_a_thread_counts(work, pool, False, 10.0)
    assert reached, f"the nogil thread advanced {advance} times while the GIL was held"
    assert counted >= advance
    reached, advance, counted = _hold_the_gil_while_a_thread_counts(work, pool, True, 0.2)
    assert not reached and advance == 0, "the hold does not keep the GIL"
    assert counted >= 0
    # And from Python: the pool, the raising forms and the plain forms with
    # the GIL held, while a thread spins without it.
    ext.nogil_work.set_flag(0)
    result = []
    spinner = threading.Thread(target=lambda: result.append(ext.nogil_work.spin_until_flag(pool, 2**30)))
    spinner.start()
    deadline = time.monotonic() + 0.1
    while time.monotonic() < deadline:
        a = pool.alloc(1, 64)
        pool.free(a)
        assert ext.nogil_work.raising_pairs(pool, 100) == 100
        assert ext.nogil_work.pairs_with_gil(pool, 100) == 100
    ext.nogil_work.set_flag(1)
    spinner.join(30)
    assert not spinner.is_alive()
    assert result and result[0] > 0
    assert pool.size == 0 and pool.stats()["live_allocations"] == 0
