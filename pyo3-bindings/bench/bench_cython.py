"""arenapool's C-level API against cymem's cdef Pool, from Cython loops, in
one run.

    make bench-cython        # installs cymem 2.0.x, builds, runs this

Each figure is the median over REPEATS runs (each case runs once first, to
warm memory) of the loop's time inside C divided by its count; ratios are
cymem's time over arenapool's (above 1: arenapool is faster). The loops are
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


def threads_pairs_per_second(ext, threads, n, repeats=REPEATS, run="arenapool_pairs_nogil_span"):
    """Pairs per second of `threads` threads, each n nogil pairs on one pool
    (`run`: the extension's function taking (pool, n) -> (start, end))."""
    pool = arenapool.Pool()
    samples = []
    for _ in range(repeats + 1):
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
        samples.append(threads * n / wall * 1e9)
    return statistics.median(samples[1:])


def main():
    ext = build()
    version = getattr(cymem, "__version__", None) or cymem.about.__version__
    print(f"arenapool C-level API vs cymem {version} (cdef Pool), median of {REPEATS} runs, {os.cpu_count()} CPUs", flush=True)
    pool = arenapool.Pool()
    rows = []

    a = median_ns(lambda: ext.arenapool_pairs_raise(pool, N), N)
    g = median_ns(lambda: ext.arenapool_pairs_nogil(pool, N), N)
    c = median_ns(lambda: ext.cymem_pairs(N), N)
    libc = median_ns(lambda: ext.libc_pairs(N), N)
    floor = median_ns(lambda: ext.lock_floor_pairs(N), N)
    rows.append(
        ("alloc(1,16) + free, 1e6 (ns/pair)", a, g, c,
         f"libc malloc+memset+free {libc:.1f}; two xchg lock/unlocks alone {floor:.1f} (a lane owner takes none)")
    )

    a = median_ns(lambda: ext.arenapool_keep_then_drop_raise(N), N)
    g = median_ns(lambda: ext.arenapool_keep_then_drop_nogil(N), N)
    c = median_ns(lambda: ext.cymem_keep_then_drop(N), N)
    rows.append(("1e6 alloc(1,16) kept, owner dropped (ns/block)", a, g, c, ""))

    a = median_ns(lambda: ext.arenapool_grow(GROW), GROW)
    g = median_ns(lambda: ext.arenapool_grow_nogil(GROW), GROW)
    c = median_ns(lambda: ext.cymem_grow(GROW), GROW, repeats=GROW_REPEATS_CYMEM, warm=False)
    libc = median_ns(lambda: ext.libc_grow(GROW), GROW)
    rows.append(
        (f"realloc growth of a {ext.TOKEN_SIZE}-byte TokenC array to 1e5, +1 each (ns/step)", a, g, c,
         f"libc realloc {libc:.1f}; cymem: {GROW_REPEATS_CYMEM} run(s), no warm-up")
    )

    one = threads_pairs_per_second(ext, 1, N)
    two = threads_pairs_per_second(ext, 2, N)
    libc_one = threads_pairs_per_second(ext, 1, N, run="libc_pairs_nogil_span")
    libc_two = threads_pairs_per_second(ext, 2, N, run="libc_pairs_nogil_span")

    print()
    print(f"| case | arenapool `_or_raise` | arenapool nogil | cymem | cymem / arenapool | note |")
    print("|---|---:|---:|---:|---:|---|")
    for name, a, g, c, note in rows:
        gs = f"{g:.1f}" if g is not None else "-"
        print(f"| {name} | {a:.1f} | {gs} | {c:.1f} | {c / a:.2f}x | {note} |")
    print(
        f"| nogil alloc(1,16)+free on one shared pool (Mpairs/s) | - | 1 thread {one / 1e6:.2f}, "
        f"2 threads {two / 1e6:.2f} ({two / one:.2f}x) | cannot run (Python dict, needs the GIL) | - | "
        f"2 threads / 1 thread; libc malloc+memset+free: {libc_one / 1e6:.1f} and "
        f"{libc_two / 1e6:.1f} ({libc_two / libc_one:.2f}x) |"
    )


if __name__ == "__main__":
    main()
