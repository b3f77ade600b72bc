"""Instruction counts of the fast paths under callgrind (`make bench-instructions`).

Runs `instructions <op>` once per op under
`valgrind --tool=callgrind --branch-sim=yes --toggle-collect=*<op>*`, so
only the calls of that op's function are counted, and prints instructions
(Ir) and conditional branches (Bc) per call, with the ratio to bumpalo's
16-byte `alloc`. Counts do not move with the machine's noise.

    python3 benches/instructions.py target/release/instructions
"""

import os
import subprocess
import sys
import tempfile

CALLS = 1000  # instructions.rs: CALLS

NOTES = {
    "arenapool_alloc_16": "Pool::alloc(1, 16): zeroed, accounted, a handle",
    "arenapool_free_older": "Pool::free of a block that is not the newest (to its free list)",
    "arenapool_free_newest": "Pool::free of the newest block (back to the span)",
    "arenapool_realloc_in_place": "Pool::realloc growing the newest block by 16 B",
    "syncpool_alloc_free_16": "SyncPool alloc(1, 16) + free, one thread",
    "bumpalo_alloc_16": "Bump::alloc([0u8; 16])",
    "bumpalo_alloc_slice_fill_copy_16": "Bump::alloc_slice_fill_copy(16, 0u8)",
    "arenapool_document": "W4 document: Pool::new, 500 allocs of 8-127 B (1 in 8 freed), drop",
    "bumpalo_document": "W4 document: Bump::new, 500 alloc_slice_fill_copy of 8-127 B, drop",
    "free_list_alloc_16": "bare intrusive free list, 16 B zeroed (benches/free_list.rs)",
    "free_list_free_16": "bare intrusive free list, free",
}


def count(binary, op):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        subprocess.run(
            [
                "valgrind", "--tool=callgrind", "--branch-sim=yes",
                f"--toggle-collect=*{op}*", f"--callgrind-out-file={out}",
                binary, op,
            ],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        events, totals = None, None
        with open(out) as f:
            for line in f:
                if line.startswith("events:"):
                    events = line.split()[1:]
                elif line.startswith(("totals:", "summary:")):
                    totals = [int(x) for x in line.split()[1:]]
        row = dict(zip(events, totals))
        return row["Ir"] / CALLS, row.get("Bc", 0) / CALLS


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/instructions"
    ops = subprocess.run([binary, "--list"], check=True, capture_output=True, text=True).stdout.split()
    rows = {op: count(binary, op) for op in ops}
    base = rows["bumpalo_alloc_16"][0]
    print(f"callgrind, {CALLS} calls each, per call (its call and return included)")
    print("| op | instructions | conditional branches | / bumpalo alloc 16 B | what |")
    print("|---|---:|---:|---:|---|")
    for op, (ir, bc) in rows.items():
        print(f"| `{op}` | {ir:.1f} | {bc:.1f} | {ir / base:.2f}x | {NOTES.get(op, '')} |")
    ratio = rows["arenapool_alloc_16"][0] / base
    verdict = "met" if ratio <= 1.3 else "MISSED"
    print(f"\ngoal: 16 B zeroed alloc within 1.3x bumpalo's instructions: {ratio:.2f}x, {verdict}")
    doc = rows["arenapool_document"][0] / rows["bumpalo_document"][0]
    print(f"W4 document, arenapool / bumpalo instructions: {doc:.2f}x")


if __name__ == "__main__":
    main()
