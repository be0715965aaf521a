"""Run every benchmark script in bench/ one after another (`make bench`).

Each script prints its own results (ratios against a baseline measured in the
same run) and says which section of docs/BENCHMARKS.md they belong to.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# These read a database you name (see each one's --help and docs/BENCHMARKS.md): not run here.
NEED_A_DATABASE = {"bench_counts_split.py", "bench_stations.py", "demo_personas.py", "first_reports_cost.py",
                   "hexes_two_periods.py"}


def main() -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name not in {"run_all.py"} and not p.name.startswith("_"))
    failed = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        if script.name in NEED_A_DATABASE:
            print(f"skipped: needs a database (.venv/bin/python bench/{script.name} --help)")
            continue
        if subprocess.call([sys.executable, str(script)], cwd=HERE.parent) != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
