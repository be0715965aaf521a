"""Draw docs/img/history_sizes.png: what each view and scan costs against the size of the history.

    .venv/bin/python bench/plot_history.py [--map bench/out/history_sizes.json]
                                           [--scan bench/out/bench_scan.json] [--out docs/img/history_sizes.png]

Reads the figures bench/history_sizes.py and bench/bench_scan.py saved (run those first, on the
same stores) and draws, on log-log axes, p95 in milliseconds against reports stored: the map's
opening view over its recent window and over the whole history, each beside DuckDB's plain
GROUP BY of the same rows, and one live outage scan with the kept history and counting it again,
with the targets of "Bounded cost" (300 ms, 2 s, 200 ms) as dotted lines. Prints the same
figures as a table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--map", type=Path, default=ROOT / "bench" / "out" / "history_sizes.json")
    parser.add_argument("--scan", type=Path, default=ROOT / "bench" / "out" / "bench_scan.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "history_sizes.png")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    views = sorted(json.loads(args.map.read_text()), key=lambda r: r["rows"])
    scans = sorted(json.loads(args.scan.read_text()), key=lambda r: r["rows"])
    lines = [
        ("map, recent window (p95)", views, "window", 1, "C0", "-", 300),
        ("map, recent window: DuckDB GROUP BY (p50)", views, "window base", 0, "C0", ":", None),
        ("map, whole history (p95)", views, "whole", 1, "C1", "-", 2000),
        ("map, whole history: DuckDB GROUP BY (p50)", views, "whole base", 0, "C1", ":", None),
        ("live outage scan, kept history (p95)", scans, "kept", 1, "C2", "-", 200),
        ("live outage scan, counting it again (p95)", scans, "counted", 1, "C2", "--", None),
    ]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    print(f"{'what':<46}" + "".join(f"{r['rows']:>14,}" for r in views))
    for label, rows, key, which, colour, style, target in lines:
        x = [r["rows"] for r in rows]
        y = [r[key][which] for r in rows]
        ax.plot(x, y, style, color=colour, marker="o", label=label)
        print(f"{label:<46}" + "".join(f"{v:>11,.0f} ms" for v in y))
        if target:
            ax.axhline(target, color=colour, linestyle=(0, (1, 3)), linewidth=1)
            ax.annotate(f"target {target:,} ms", (x[0], target), color=colour, fontsize=8,
                        textcoords="offset points", xytext=(2, 3))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("reports stored (two years of history)")
    ax.set_ylabel("milliseconds")
    ax.set_title("DropMap: cost against history size (2 cores)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
