"""arenapool against cymem, measured in the same run.

Each figure is the median over repeats of ns per operation, memory warm
(every case runs once before it is timed). cymem's ``alloc``/``free``/
``realloc`` are ``cdef`` (callable only from Cython), so from Python its
unit of work is ``Address`` (one allocation owned by an object) and
``Pool()``.

    make bench-py            # or: python pyo3-bindings/bench/bench.py
"""

import gc
import statistics
import sys
import time

import arenapool
import cymem.cymem as cymem

REPEATS = 7


def measure(fn, n):
    fn(n)  # warm
    times = []
    for _ in range(REPEATS):
        gc.collect()
        start = time.perf_counter_ns()
        fn(n)
        times.append((time.perf_counter_ns() - start) / n)
    return statistics.median(times)


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
    ("realloc +16 B x 5000 (per step)", arenapool_realloc_growth, "no Python-level realloc; bytearray.extend", bytearray_growth, 5_000),
]


def main():
    print(f"Python {sys.version.split()[0]}, arenapool vs cymem {getattr(cymem, '__version__', '2.0.x')}; median ns/op of {REPEATS}, warm")
    print(f"| arenapool | ns/op | peer | ns/op | peer / arenapool |")
    print(f"|---|---|---|---|---|")
    for ours, ours_fn, theirs, theirs_fn, n in CASES:
        a = measure(ours_fn, n)
        b = measure(theirs_fn, n)
        print(f"| {ours} | {a:.0f} | {theirs} | {b:.0f} | {b / a:.2f}x |")


if __name__ == "__main__":
    main()
