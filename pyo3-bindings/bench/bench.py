"""arenapool against cymem, measured in the same run.

Each figure is the median over repeats of ns per operation, memory warm
(every case runs once before it is timed). cymem's ``alloc``/``free``/
``realloc`` are ``cdef`` (callable only from Cython), so from Python its
unit of work is ``Address`` (one allocation owned by an object) and
``Pool()``.

    make bench-py            # or: python pyo3-bindings/bench/bench.py
"""

import gc
import os
import statistics
import sys
import time

import arenapool
import cymem.cymem as cymem

REPEATS = int(os.environ.get("REPEATS", 11))


def measure_pair(ours, theirs, n):
    """Medians of ns/op for both, and the median of the per-repeat ratios.

    The two alternate within each repeat, so that a slow patch of the
    (noisy) machine lands on both rather than on one.
    """
    ours(n)  # warm
    theirs(n)
    a_times, b_times, ratios = [], [], []
    for _ in range(REPEATS):
        pair = []
        for fn in (ours, theirs):
            gc.collect()
            start = time.perf_counter_ns()
            fn(n)
            pair.append((time.perf_counter_ns() - start) / n)
        a_times.append(pair[0])
        b_times.append(pair[1])
        ratios.append(pair[1] / pair[0])
    return statistics.median(a_times), statistics.median(b_times), statistics.median(ratios)


def pool_alloc_free(n, pool=arenapool.Pool()):
    alloc, free = pool.alloc, pool.free
    for _ in range(n):
        free(alloc(1, 16))


def cymem_address(n, Address=cymem.Address):
    for _ in range(n):
        Address(1, 16)


def arenapool_address(n, Address=arenapool.Address):
    for _ in range(n):
        Address(1, 16)


def arenapool_pool(n, Pool=arenapool.Pool):
    for _ in range(n):
        Pool()


def cymem_pool(n, Pool=cymem.Pool):
    for _ in range(n):
        Pool()


def arenapool_keep_then_drop(n):
    pool = arenapool.Pool()
    alloc = pool.alloc
    kept = [alloc(1, 16) for _ in range(n)]
    del kept, pool


def cymem_keep_then_drop(n, Address=cymem.Address):
    kept = [Address(1, 16) for _ in range(n)]
    del kept


def arenapool_realloc_growth(n):
    pool = arenapool.Pool()
    a = pool.alloc(1, 16)
    realloc = pool.realloc
    for i in range(n):
        a = realloc(a, 16 * (i + 2))


def bytearray_growth(n):
    b = bytearray(16)
    for _ in range(n):
        b.extend(bytes(16))


CASES = [
    ("alloc(1, 16) + free", pool_alloc_free, "Address(1, 16) create + free", cymem_address, 200_000),
    ("Address(1, 16) create + free", arenapool_address, "Address(1, 16) create + free", cymem_address, 200_000),
    ("Pool() create + dealloc", arenapool_pool, "Pool() create + dealloc", cymem_pool, 200_000),
    ("1e5 x alloc(1, 16) kept, pool dropped", arenapool_keep_then_drop, "1e5 x Address(1, 16) kept, dropped", cymem_keep_then_drop, 100_000),
    ("1e6 x alloc(1, 16) kept, pool dropped", arenapool_keep_then_drop, "1e6 x Address(1, 16) kept, dropped", cymem_keep_then_drop, 1_000_000),
    ("realloc +16 B x 5000 (per step)", arenapool_realloc_growth, "no Python-level realloc; bytearray.extend", bytearray_growth, 5_000),
]


def main():
    assert gc.isenabled()  # the kept cases are measured with the cyclic GC on
    print(f"Python {sys.version.split()[0]}, arenapool vs cymem {getattr(cymem, '__version__', '2.0.x')}; median ns/op of {REPEATS}, warm; ratio = median of per-repeat peer/arenapool, the two alternating; cyclic GC on")
    print(f"| arenapool | ns/op | peer | ns/op | peer / arenapool |")
    print(f"|---|---|---|---|---|")
    for ours, ours_fn, theirs, theirs_fn, n in CASES:
        a, b, ratio = measure_pair(ours_fn, theirs_fn, n)
        print(f"| {ours} | {a:.0f} | {theirs} | {b:.0f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
