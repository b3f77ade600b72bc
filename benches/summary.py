"""Summarises criterion's results: median per benchmark, ratios to bumpalo
and to Box in the same group, and a PNG plot of the ratios.

    python benches/summary.py [target/criterion] [benches/ratios.png]
"""

import json
import pathlib
import sys


def medians(root):
    """{group: {benchmark: median ns per iteration}}, and {group: elements
    per iteration} where the bench declared a throughput."""
    groups, elements = {}, {}
    for est in sorted(root.glob("*/*/new/estimates.json")):
        bench = json.loads((est.parent / "benchmark.json").read_text())
        median_ns = json.loads(est.read_text())["median"]["point_estimate"]
        groups.setdefault(bench["group_id"], {})[bench["function_id"] or bench["value_str"]] = median_ns
        throughput = bench.get("throughput") or {}
        if "Elements" in throughput:
            elements[bench["group_id"]] = throughput["Elements"]
    return groups, elements


def fmt(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
    png = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "benches/ratios.png")
    groups, elements = medians(root)
    plot = []
    print("| group | benchmark | median | vs bumpalo | vs Box | vs bare free list | vs mimalloc |")
    print("|---|---|---|---|---|---|---|")
    for group, benches in groups.items():
        bump = next((v for k, v in benches.items() if k.startswith("bumpalo")), None)
        box = benches.get("Box")
        bare = benches.get("bare free list")
        mi = benches.get("mimalloc")
        for name, ns in benches.items():
            cells = [f"{ns / base:.2f}x" if base else "" for base in (bump, box, bare, mi)]
            print(f"| {group} | {name} | {fmt(ns)} | " + " | ".join(cells) + " |")
            if name == "arenapool" and bump:
                plot.append((group, ns / bump))
    if plot:
        draw(groups, elements, plot, png)


def draw(groups, elements, plot, png):
    """Two panels: W1/W4 as arenapool time / bumpalo time against the 1.2x
    goal; W2 (where bumpalo cannot free) as ns per pair for every peer
    against the 25 ns goal."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib missing: no plot)")
        return
    ratios = [(g, r) for g, r in plot if not g.startswith("w2")]
    churn = sorted(g for g in groups if g.startswith("w2"))
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(12, 0.45 * max(len(ratios), 4) + 1.6), gridspec_kw={"width_ratios": [1, 1.2]}
    )
    names = [g for g, _ in ratios]
    values = [r for _, r in ratios]
    left.barh(names, values, color=["#4c72b0" if r <= 1.1 else "#dd8452" for r in values])
    for y, r in enumerate(values):
        left.text(r, y, f" {r:.2f}x", va="center", fontsize=8)
    left.axvline(1.0, color="black", linewidth=0.8)
    left.axvline(1.1, color="grey", linestyle="--", linewidth=0.8, label="goal 1.1x")
    left.set_xlabel("arenapool time / bumpalo time (median, same run)")
    left.set_title("W1, W4: lower is better")
    left.legend(loc="lower right", fontsize=8)
    left.invert_yaxis()
    labels, ns, colors = [], [], []
    for g in churn:
        for name, t in sorted(groups[g].items(), key=lambda kv: kv[1]):
            if name.startswith("bumpalo"):
                continue  # frees nothing: not the same work
            labels.append(f"{g.removeprefix('w2_churn_')}: {name}")
            ns.append(t / elements[g])  # pairs per iteration
            colors.append({"arenapool": "#4c72b0", "mimalloc": "#55a868"}.get(name, "#999999"))
    right.barh(labels, ns, color=colors)
    for y, v in enumerate(ns):
        right.text(v, y, f" {v:.0f}", va="center", fontsize=8)
    for g in churn:
        bare = groups[g].get("bare free list")
        if bare:
            right.axvline(1.1 * bare / elements[g], color="grey", linestyle="--", linewidth=0.8,
                          label=f"goal: 1.1x bare free list ({g.removeprefix('w2_churn_')})")
    right.set_xlabel("ns per random free+alloc pair, 1e6 live blocks (median)")
    right.set_title("W2 churn: lower is better")
    right.legend(loc="lower right", fontsize=8)
    right.invert_yaxis()
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print(f"plot: {png}")


if __name__ == "__main__":
    main()
