"""Draws `make bench-scaling`'s CSV (from `target/release/scaling`) as
benches/scaling.png: W2 ns per pair and reserved/peak live against live
blocks, W4 ns per allocation against allocations per document.

    python3 benches/scaling.py target/scaling.csv benches/scaling.png
"""

import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    src, out = sys.argv[1], sys.argv[2]
    rows = list(csv.DictReader(open(src)))
    series = defaultdict(list)
    memory = []
    for r in rows:
        x, ns = int(r["x"]), float(r["ns"])
        if r["workload"] == "w4":
            ns /= x  # per allocation
        series[(r["workload"], r["peer"])].append((x, ns))
        if r["reserved_over_peak"]:
            memory.append((x, float(r["reserved_over_peak"])))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for (workload, peer), points in sorted(series.items()):
        ax = axes[0] if workload == "w2" else axes[2]
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o", label=peer)
    axes[0].set(xscale="log", yscale="log", xlabel="live blocks (16-256 B)",
                ylabel="ns per free+alloc pair", title="W2 churn")
    if memory:
        xs, ys = zip(*memory)
        axes[1].plot(xs, ys, marker="o", color="C0", label="arenapool")
        axes[1].axhline(1.3, color="grey", linestyle="--", label="goal 1.3x")
    axes[1].set(xscale="log", xlabel="live blocks", ylabel="reserved / peak live",
                title="W2 memory")
    axes[2].set(xscale="log", xlabel="allocations per document",
                ylabel="ns per allocation", title="W4 per-document pools")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
