"""spaCy on arenapool: real cymem against the cymem switch, in one run.

    make bench-spacy

Every row runs the same binaries twice, in separate processes: on real cymem
2.0.16, and under ``python -m arenapool.cymem`` (cymem's ABI on arenapool
engines). The two alternate, REPEATS times, each going first in every other
repeat; figures are medians.

- ``pipe``: ``nlp.pipe`` over 10,000 short sentences (``spacy.blank("en")``),
  after one warm-up pass (memory and vocabulary warm): documents per second,
  the median of 5 passes in the process.
- ``zone``: 30 ``nlp.memory_zone()``s of 3,000 documents, new words in every
  document (transient lexemes and strings made and freed per zone):
  documents per second, and the process's RSS after the 30 zones.
- ``client``: a Cython client compiled against upstream cymem's
  ``cymem.pxd``, timed inside C: ``mem.alloc(1, 16)`` + ``mem.free`` 1e6
  times; 1e6 kept then the pool dropped; a ``TokenC`` array grown by
  ``realloc`` one token at a time to 20,000; a Doc's pool: ``Pool()``, one
  3,600-byte block (spaCy's token array for a short text), the pool dropped.

``CASES=pipe,zone`` runs only those rows. With ``PERF=1`` it also profiles one ``zone`` run of each kind (``perf
record --call-graph dwarf``) and prints the allocator's share of the time:
the inclusive samples of the pool's entry points (cymem's ``Pool`` methods,
its ``tp_new``/``tp_dealloc``; arenapool's ``pool_*`` functions).
"""

import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
REPEATS = int(os.environ.get("REPEATS", "5"))
KINDS = ("cymem", "arenapool")


def texts(n, seed, new_words):
    rng = random.Random(seed)
    common = "the a of to and in is it that was for on are with as his they be at one have this from".split()
    out = []
    for i in range(n):
        words = [rng.choice(common) for _ in range(rng.randint(6, 14))]
        if new_words:
            # Words never seen before: new lexemes and strings in each document.
            words[rng.randrange(len(words))] = f"zq{seed}x{i}w{rng.randrange(1 << 30)}"
            words.append(f"vk{seed}y{i}")
        out.append(" ".join(words) + ".")
    return out


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def worker(case):
    import spacy

    if case == "client":
        sys.path.insert(0, os.path.join(REPO, "pyo3-bindings", "tests", "cython"))
        sys.path.insert(0, os.path.join(REPO, "pyo3-bindings", "tests", "cymem_abi"))
        import build_extensions
        import fetch_cymem_pxd

        out = build_extensions.ensure_built(
            [os.path.join(HERE, "bench_cymem_client.pyx")],
            os.path.join(REPO, "target", "cython-bench"),
            opt="-O2",
            include_path=[fetch_cymem_pxd.pxd_dir(os.path.join(REPO, "target", "cymem-pxd"))],
        )
        sys.path.insert(0, out)
        import bench_cymem_client as ext

        n = 1_000_000
        ext.pairs(n)
        ext.kept(n)
        ext.lifecycles(100_000, 3600)
        return {
            "pair_ns": ext.pairs(n) / n,
            "kept_ns": ext.kept(n) / n,
            "grow_ns": ext.grow(20_000) / 20_000,
            "lifecycle_ns": ext.lifecycles(100_000, 3600) / 100_000,
        }
    nlp = spacy.blank("en")
    if case == "pipe":
        batch = texts(10_000, 1, new_words=False)
        for _ in nlp.pipe(batch):
            pass
        rates = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in nlp.pipe(batch):
                pass
            rates.append(len(batch) / (time.perf_counter() - start))
        return {"docs_per_s": statistics.median(rates)}
    if case == "zone":
        zones = [texts(3_000, 100 + z, new_words=True) for z in range(30)]
        start = time.perf_counter()
        for batch in zones:
            with nlp.memory_zone():
                for _ in nlp.pipe(batch):
                    pass
        seconds = time.perf_counter() - start
        return {
            "docs_per_s": 90_000 / seconds,
            "rss_mb": rss_bytes() / 1e6,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3,
        }
    raise SystemExit(f"unknown case {case}")


def run(kind, case, prefix=()):
    argv = [*prefix, sys.executable]
    if kind == "arenapool":
        argv += ["-m", "arenapool.cymem"]
    argv += [__file__, "--worker", case]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} {case} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def perf_share(kind):
    """The pool entry points' inclusive share of a profiled zone run (%)."""
    data = os.path.join(REPO, "target", f"perf-zone-{kind}.data")
    run(kind, "zone", prefix=("perf", "record", "-q", "-F", "250", "--call-graph", "dwarf,8192", "-o", data, "--"))
    report = subprocess.run(
        ["perf", "report", "-i", data, "--children", "--stdio", "--no-demangle", "--sort", "symbol", "-g", "none", "--percent-limit", "0.01"],
        capture_output=True,
        text=True,
    ).stdout
    if kind == "cymem":
        entry = re.compile(r"__pyx_(f_5cymem_5cymem_4Pool_(alloc|free|realloc)|tp_(new|dealloc)_5cymem_5cymem_Pool)")
    else:
        entry = re.compile(r"cymem_abi\d+pool_(alloc|free|realloc|new|dealloc)17h")
    share = 0.0
    for line in report.splitlines():
        parts = line.split()
        # "children% self% [.] symbol ...": each entry point once (not its
        # inlined copies, whose samples it already counts).
        if len(parts) >= 4 and parts[0].endswith("%") and parts[2] == "[.]" and "(inlined)" not in line:
            if entry.search(parts[3]):
                share += float(parts[0].rstrip("%"))
    return share


def main():
    results = {kind: {} for kind in KINDS}
    cases = os.environ.get("CASES", "client,pipe,zone").split(",")
    for case in cases:
        for repeat in range(REPEATS if case != "client" else max(3, REPEATS)):
            # Each kind goes first in every other repeat: on this VM the
            # first of two back-to-back processes tends to run faster.
            for kind in KINDS if repeat % 2 == 0 else KINDS[::-1]:
                for key, value in run(kind, case).items():
                    results[kind].setdefault(f"{case}.{key}", []).append(value)
    med = {kind: {key: statistics.median(v) for key, v in values.items()} for kind, values in results.items()}
    rows = [
        ("nlp.pipe, 10,000 sentences (docs/s)", "pipe.docs_per_s", True),
        ("memory zones, new words (docs/s)", "zone.docs_per_s", True),
        ("RSS after 30 zones (MB)", "zone.rss_mb", False),
        ("peak RSS (MB)", "zone.maxrss_mb", False),
        ("client alloc(1,16)+free (ns/pair)", "client.pair_ns", False),
        ("client 1e6 kept, pool dropped (ns/block)", "client.kept_ns", False),
        ("client TokenC realloc growth to 2e4 (ns/step)", "client.grow_ns", False),
        ("client Pool() + alloc(1, 3600) + drop (ns)", "client.lifecycle_ns", False),
    ]
    print(f"median of {REPEATS} runs each, alternating, separate processes; [min-max] of the runs")
    print(f"{'row':48} {'cymem':>24} {'arenapool':>24} {'gain':>8}")
    for name, key, higher_better in rows:
        if key not in med["cymem"]:
            continue
        a, b = med["cymem"][key], med["arenapool"][key]
        gain = b / a if higher_better else a / b

        def cell(kind, value):
            runs = results[kind][key]
            return f"{value:.1f} [{min(runs):.0f}-{max(runs):.0f}]"

        print(f"{name:48} {cell('cymem', a):>24} {cell('arenapool', b):>24} {gain:7.2f}x")
    if os.environ.get("PERF"):
        for kind in KINDS:
            print(f"allocator's share of a zone run, {kind}: {perf_share(kind):.1f}% of samples (inclusive)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2])))
    else:
        main()
