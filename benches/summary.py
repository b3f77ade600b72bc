"""Summarises criterion's results: median per benchmark, ratios to bumpalo
and to Box in the same group, and a PNG plot of the ratios.

    python benches/summary.py [target/criterion] [benches/ratios.png]
"""

import json
import pathlib
import sys


def medians(root):
    groups = {}
    for est in sorted(root.glob("*/*/new/estimates.json")):
        bench = json.loads((est.parent / "benchmark.json").read_text())
        median_ns = json.loads(est.read_text())["median"]["point_estimate"]
        groups.setdefault(bench["group_id"], {})[bench["function_id"] or bench["value_str"]] = median_ns
    return groups


def fmt(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
    png = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "benches/ratios.png")
    groups = medians(root)
    plot = []
    print("| group | benchmark | median | vs bumpalo | vs Box |")
    print("|---|---|---|---|---|")
    for group, benches in groups.items():
        bump = next((v for k, v in benches.items() if k.startswith("bumpalo")), None)
        box = benches.get("Box")
        for name, ns in benches.items():
            rb = f"{ns / bump:.2f}x" if bump else ""
            rx = f"{ns / box:.2f}x" if box else ""
            print(f"| {group} | {name} | {fmt(ns)} | {rb} | {rx} |")
            if name == "arenapool" and bump:
                plot.append((group, ns / bump))
    if plot:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("(matplotlib missing: no plot)")
            return
        fig, ax = plt.subplots(figsize=(8, 0.5 * len(plot) + 1.2))
        names = [g for g, _ in plot]
        ratios = [r for _, r in plot]
        ax.barh(names, ratios, color=["#4c72b0" if r <= 1.2 else "#dd8452" for r in ratios])
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.axvline(1.2, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xlabel("arenapool time / bumpalo time (median, same run; lower is better)")
        ax.invert_yaxis()
        fig.tight_layout()
        fig.savefig(png, dpi=110)
        print(f"plot: {png}")


if __name__ == "__main__":
    main()
