"""Demo-build benchmark: the default synthetic Seoul, built the way `python -m ingest demo` does.

    .venv/bin/python bench/bench_demo.py [--reports 100000] [--seed 20211025]

Times, in the same run and on fresh temporary databases (never committed):

  (a) ours: ``build_demo`` (generate, validate through ``load_frame``, H3-index, store,
      save the ground truth) -- target: under 60 s for the default size;
  (b) baseline: the same raw rows, generated again with the same seed, stored by DuckDB
      alone (``CREATE TABLE t AS SELECT * FROM frame``), without validation or indexing;
  (c) ``validate_frame`` alone on those rows, to show where the load time goes.

Prints seconds, rows/s and the ratio a/b as one JSON object, plus how many of each
network's 20 worst hexes -- ranked by density, raw rate and a shrunk rate, among hexes
with at least 5 reporters -- are truly among its 20 weakest (table demo_truth). Results belong in
docs/BENCHMARKS.md, section "Demo build".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DROPMAP_SECRET", "bench-secret")

import duckdb  # noqa: E402

from ingest.demo import (  # noqa: E402
    KT_OUTAGE_END,
    KT_OUTAGE_START,
    DemoOptions,
    build_demo,
    ordinary_traffic,
    outage_replay,
)
from ingest.validate import validate_frame  # noqa: E402
from store.db import connect  # noqa: E402
from store.demo_sql import ranking_hits  # noqa: E402

TARGET_SECONDS = 60.0


def time_build(options: DemoOptions, work: Path) -> tuple[float, dict, dict]:
    """Seconds to build, the build's summary, and how well simple rankings find the weak hexes."""
    con = connect(work / "demo.duckdb")
    started = time.perf_counter()
    summary = build_demo(con, options)
    seconds = time.perf_counter() - started
    # The outage replay (and its 20-minute tail) has no 'all good' samples: leave it out.
    hits = ranking_hits(con, leave_out=(KT_OUTAGE_START, KT_OUTAGE_END + timedelta(minutes=25)))
    con.close()
    return seconds, summary, hits


def raw_rows(options: DemoOptions) -> pd.DataFrame:
    """The raw rows build_demo stores, drawn again from the same seed."""
    rng = np.random.default_rng(options.seed)
    traffic = ordinary_traffic(options, rng)
    outage = outage_replay(options, rng)
    return pd.concat([traffic, outage], ignore_index=True) if outage is not None else traffic


def time_duckdb_baseline(frame: pd.DataFrame, work: Path) -> float:
    con = duckdb.connect(str(work / "baseline.duckdb"))
    started = time.perf_counter()
    con.register("frame", frame)
    con.execute("CREATE TABLE t AS SELECT * FROM frame")
    seconds = time.perf_counter() - started
    con.close()
    return seconds


def main() -> None:
    defaults = DemoOptions()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=defaults.reports)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    args = parser.parse_args()
    options = DemoOptions(reports=args.reports, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="dropmap-bench-demo-") as tmp:
        work = Path(tmp)
        build_seconds, summary, hits = time_build(options, work)
        started = time.perf_counter()
        frame = raw_rows(options)
        generate_seconds = time.perf_counter() - started
        baseline_seconds = time_duckdb_baseline(frame, work)
        started = time.perf_counter()
        validate_frame(frame)
        validate_seconds = time.perf_counter() - started
    rows = summary["rows_loaded"]
    out = {
        "reports_option": options.reports, "seed": options.seed, "rows": rows,
        "failures": summary["failures"], "samples": summary["samples"], "reporters": summary["reporters"],
        "build_seconds": round(build_seconds, 2),
        "build_phases": summary["seconds"],
        "build_rows_per_s": round(rows / build_seconds),
        "generate_only_seconds": round(generate_seconds, 2),
        "validate_only_seconds": round(validate_seconds, 2),
        "duckdb_raw_insert_seconds": round(baseline_seconds, 3),
        "ratio_build_to_duckdb_raw_insert": round(build_seconds / baseline_seconds, 1),
        "target_seconds": TARGET_SECONDS,
        "within_target": build_seconds < TARGET_SECONDS,
        "top20_hits_of_true_20_weakest": hits,
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
