"""arenapool's C-level API against cymem's cdef Pool, from Cython loops, in
one run.

    make bench-cython        # installs cymem 2.0.x, builds, runs this

Each figure is the median over REPEATS rounds (each case runs once first, to
warm memory) of the loop's time inside C divided by its count; within a
round arenapool and its peers run one after the other, and a ratio is the
median of the per-round ratios, cymem's time over arenapool's (above 1:
arenapool is faster), with their range. The loops are
in bench_cython_ext.pyx, built at -O2 against the installed packages
(cythonize with include_dirs=[arenapool.get_include()], cymem's own .pxd).
"""

import gc
import os
import statistics
import sys
import threading

import arenapool
import cymem

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "pyo3-bindings", "tests", "cython"))
import build_extensions  # noqa: E402

N = 1_000_000
GROW = 100_000
REPEATS = int(os.environ.get("REPEATS", "7"))
# cymem's realloc allocates, copies the whole array and frees at every step
# (O(n^2) bytes): seconds per run at 1e5 elements (3 to 40 s here, as
# glibc's mmap threshold moves), so 3 runs without a warm-up.
GROW_REPEATS_CYMEM = int(os.environ.get("GROW_REPEATS_CYMEM", "3"))


def build():
    out = build_extensions.ensure_built(
        [os.path.join(HERE, "bench_cython_ext.pyx")],
        os.path.join(REPO, "target", "cython-bench"),
        opt="-O2",
        extra_key=f"cymem {cymem.__version__ if hasattr(cymem, '__version__') else cymem.about.__version__}",
    )
    sys.path.insert(0, out)
    import bench_cython_ext

    return bench_cython_ext


def median_ns(run, count, repeats=REPEATS, warm=True):
    """Median over `repeats` of run() (nanoseconds) / count."""
    if warm:
        run()
    samples = []
    for _ in range(repeats):
        gc.collect()
        samples.append(run() / count)
    return statistics.median(samples)


def rounds(runs, repeats=REPEATS):
    """Each of `runs` once to warm, then `repeats` rounds that run each in
    turn: one list of samples per run, sample k of every run taken in round
    k. On this noisy VM the machine's speed moves over seconds; a ratio
    taken within each round, then the median of those, compares like with
    like where medians taken over separate blocks of runs need not."""
    for run in runs:
        run()
    samples = [[] for _ in runs]
    for _ in range(repeats):
        for i, run in enumerate(runs):
            gc.collect()
            samples[i].append(run())
    return samples


def ratio(slow, fast):
    """The median and the range of the per-round ratios slow / fast."""
    per_round = sorted(s / f for s, f in zip(slow, fast))
    return statistics.median(per_round), per_round[0], per_round[-1]


def threads_pairs_per_second(ext, pool, threads, n, run="arenapool_pairs_nogil_span"):
    """Pairs per second of one run of `threads` threads, each n nogil pairs
    on `pool` (`run`: the extension's function taking (pool, n) -> (start,
    end)), from the first start to the last end."""
    spans = [None] * threads
    barrier = threading.Barrier(threads)

    def work(i):
        barrier.wait()
        spans[i] = getattr(ext, run)(pool, n)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    wall = max(end for _, end in spans) - min(start for start, _ in spans)
    return threads * n / wall * 1e9


def main():
    ext = build()
    version = getattr(cymem, "__version__", None) or cymem.about.__version__
    print(
        f"arenapool C-level API vs cymem {version} (cdef Pool), {REPEATS} rounds, "
        f"arenapool and its peers alternating within each, {os.cpu_count()} CPUs",
        flush=True,
    )
    pool = arenapool.Pool()
    rows = []

    a, g, c, libc, floor = rounds(
        [
            lambda: ext.arenapool_pairs_raise(pool, N) / N,
            lambda: ext.arenapool_pairs_nogil(pool, N) / N,
            lambda: ext.cymem_pairs(N) / N,
            lambda: ext.libc_pairs(N) / N,
            lambda: ext.lock_floor_pairs(N) / N,
        ]
    )
    rows.append(
        ("alloc(1,16) + free, 1e6 (ns/pair)", a, g, c,
         f"libc malloc+memset+free {statistics.median(libc):.1f}; two xchg lock/unlocks alone "
         f"{statistics.median(floor):.1f} (a lane owner takes none)")
    )

    a, g, c = rounds(
        [
            lambda: ext.arenapool_keep_then_drop_raise(N) / N,
            lambda: ext.arenapool_keep_then_drop_nogil(N) / N,
            lambda: ext.cymem_keep_then_drop(N) / N,
        ]
    )
    rows.append(("1e6 alloc(1,16) kept, owner dropped (ns/block)", a, g, c, ""))

    # cymem's always-moving growth takes seconds a run: its few runs come
    # after arenapool's, and the ratio is of the medians.
    a, g, libc = rounds(
        [
            lambda: ext.arenapool_grow(GROW) / GROW,
            lambda: ext.arenapool_grow_nogil(GROW) / GROW,
            lambda: ext.libc_grow(GROW) / GROW,
        ]
    )
    c = [median_ns(lambda: ext.cymem_grow(GROW), GROW, repeats=GROW_REPEATS_CYMEM, warm=False)] * len(a)
    rows.append(
        (f"realloc growth of a {ext.TOKEN_SIZE}-byte TokenC array to 1e5, +1 each (ns/step)",
         [statistics.median(a)] * len(a), g, c,
         f"libc realloc {statistics.median(libc):.1f}; cymem: {GROW_REPEATS_CYMEM} run(s), no warm-up, "
         "ratio of the medians")
    )

    shared = arenapool.Pool()
    one, two, libc_one, libc_two = rounds(
        [
            lambda: threads_pairs_per_second(ext, shared, 1, N),
            lambda: threads_pairs_per_second(ext, shared, 2, N),
            lambda: threads_pairs_per_second(ext, shared, 1, N, run="libc_pairs_nogil_span"),
            lambda: threads_pairs_per_second(ext, shared, 2, N, run="libc_pairs_nogil_span"),
        ]
    )

    print()
    print("| case | arenapool `_or_raise` | arenapool nogil | cymem | cymem / arenapool (range over rounds) | note |")
    print("|---|---:|---:|---:|---:|---|")
    for name, a, g, c, note in rows:
        r, lo, hi = ratio(c, a)
        print(
            f"| {name} | {statistics.median(a):.1f} | {statistics.median(g):.1f} | {statistics.median(c):.1f} "
            f"| {r:.2f}x ({lo:.2f}-{hi:.2f}) | {note} |"
        )
    r, lo, hi = ratio(two, one)
    lr, llo, lhi = ratio(libc_two, libc_one)
    print(
        f"| nogil alloc(1,16)+free on one shared pool (Mpairs/s) | - | 1 thread {statistics.median(one) / 1e6:.1f}, "
        f"2 threads {statistics.median(two) / 1e6:.1f}: {r:.2f}x ({lo:.2f}-{hi:.2f}) "
        "| cannot run (Python dict, needs the GIL) | - | "
        f"2 threads / 1 thread; libc malloc+memset+free: {statistics.median(libc_one) / 1e6:.1f} and "
        f"{statistics.median(libc_two) / 1e6:.1f}, {lr:.2f}x ({llo:.2f}-{lhi:.2f}) |"
    )


if __name__ == "__main__":
    main()
