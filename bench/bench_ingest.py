"""Ingest benchmark: our validated, indexed load of a 1,000,000-row CSV against DuckDB's own.

    .venv/bin/python bench/bench_ingest.py [--rows 1000000] [--repeat 3] [--naive-rows 20000] [--profile]

Generates a CSV of plausible Seoul reports in a temporary directory (never
committed), then times, in the same run, alternating:

  (a) DuckDB alone: ``CREATE TABLE t AS SELECT * FROM read_csv('f.csv')`` into a fresh
      database file, then CHECKPOINT;
  (b) ours: ``ingest.loader.load_file`` into a fresh database (every field validated,
      reporter codes hashed, H3 cells at res 6-10, district, local time columns,
      fingerprint, duplicate check, one transaction), then CHECKPOINT -- what
      ``python -m ingest load`` does;
  (c) a naive path: pandas.read_csv, a Python loop calling h3 per row and resolution,
      and ``executemany`` inserts. executemany runs at about 1 k rows/s, so (c) is timed
      on the first ``--naive-rows`` rows and extrapolated linearly.

Prints the median wall time of each (and process CPU time, which a busy machine disturbs
less), the ratios b/a (target: within 2x) and c/b (target: at least 10x), and where (b)
spends its time. ``--profile`` adds a cProfile listing of (b).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DROPMAP_SECRET", "bench-secret")

import duckdb  # noqa: E402
import h3  # noqa: E402

# Spellings seen in real exports, weighted towards the plain ones.
_CARRIERS = ["SKT", "KT", "LGU+", "SK텔레콤", "케이티", "LG U+", "olleh", "450-05", "KT M모바일", "헬로모바일 KT",
             "리브엠 LGU+", "U+유모바일", "세븐모바일"]
_CARRIER_P = [0.30, 0.18, 0.14, 0.08, 0.04, 0.06, 0.02, 0.02, 0.04, 0.03, 0.03, 0.03, 0.03]
_KINDS = ["ok", "dropped_call", "no_service", "no_data", "slow_data", "call_setup_failure", "sms_failure", "통화끊김"]
_KIND_P = [0.45, 0.15, 0.10, 0.10, 0.10, 0.05, 0.03, 0.02]
_TECHS = ["LTE", "5G", "3G", ""]
_DEVICES = ["SM-S918N", "SM-G991N", "iPhone 13", "iPhone 14 Pro", "SM-A536N", "LM-V500N", "SM-F936N", ""]


def generate_csv(path: Path, rows: int, seed: int = 1) -> None:
    """A CSV of plausible Seoul reports: points around subway stations, October 2021, Seoul time."""
    rng = np.random.default_rng(seed)
    stations = pd.read_csv(ROOT / "data" / "seoul_subway_stations.csv")
    pick = rng.integers(0, len(stations), rows)
    lat = stations["lat"].to_numpy()[pick] + rng.normal(0, 0.004, rows)
    lon = stations["lon"].to_numpy()[pick] + rng.normal(0, 0.005, rows)
    start = pd.Timestamp("2021-10-01T00:00:00+09:00").value // 10**9
    seconds = start + rng.integers(0, 31 * 86400, rows)
    observed = pd.to_datetime(seconds, unit="s", utc=True).tz_convert("Asia/Seoul")
    pd.DataFrame({
        "lat": np.round(lat, 6),
        "lon": np.round(lon, 6),
        "carrier": rng.choice(_CARRIERS, rows, p=_CARRIER_P),
        "kind": rng.choice(_KINDS, rows, p=_KIND_P),
        "observed_at": observed.strftime("%Y-%m-%dT%H:%M:%S+09:00"),
        "tech": rng.choice(_TECHS, rows),
        "accuracy_m": rng.integers(3, 80, rows),
        "device_model": rng.choice(_DEVICES, rows),
        "reporter_code": [f"R{n:06d}" for n in rng.integers(0, 50_000, rows)],
        "note": np.where(rng.random(rows) < 0.02, "지하철 안에서 계속 끊김", ""),
    }).to_csv(path, index=False)


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process, DuckDB's too
    return usage.ru_utime + usage.ru_stime


def _fresh(path: Path) -> Path:
    for leftover in (path, path.with_suffix(path.suffix + ".wal")):
        leftover.unlink(missing_ok=True)
    return path


def time_duckdb_baseline(csv_path: Path, work: Path) -> tuple[float, float]:
    con = duckdb.connect(str(_fresh(work / "baseline.duckdb")))
    cpu, start = _cpu(), time.perf_counter()
    con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [str(csv_path)])
    con.execute("CHECKPOINT")
    elapsed = time.perf_counter() - start, _cpu() - cpu
    con.close()
    return elapsed


def time_ours(csv_path: Path, work: Path, profiler: cProfile.Profile | None = None) -> tuple[float, float, dict]:
    from ingest.loader import load_file
    from store.db import connect

    con = connect(_fresh(work / "ours.duckdb"))  # schema created before the clock starts
    cpu, start = _cpu(), time.perf_counter()
    if profiler:
        profiler.enable()
    result = load_file(con, csv_path)
    con.execute("CHECKPOINT")
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - start, _cpu() - cpu
    con.close()
    return (*elapsed, {"accepted": result.accepted, "rejected": result.rejected, "duplicates": result.duplicates})


def time_naive(csv_path: Path, work: Path, rows: int) -> float:
    """pandas + a per-row Python loop calling h3 + executemany, on the first ``rows`` rows."""
    con = duckdb.connect(str(_fresh(work / "naive.duckdb")))
    con.execute(
        "CREATE TABLE reports (observed_at TIMESTAMPTZ, lat DOUBLE, lon DOUBLE, carrier VARCHAR, kind VARCHAR,"
        " h3_r6 UBIGINT, h3_r7 UBIGINT, h3_r8 UBIGINT, h3_r9 UBIGINT, h3_r10 UBIGINT)"
    )
    start = time.perf_counter()
    frame = pd.read_csv(csv_path, nrows=rows, dtype=str, keep_default_na=False)
    values = []
    for rec in frame.itertuples(index=False):
        lat, lon = float(rec.lat), float(rec.lon)
        cells = [h3.api.basic_int.latlng_to_cell(lat, lon, r) for r in (6, 7, 8, 9, 10)]
        values.append([rec.observed_at, lat, lon, rec.carrier.strip(), rec.kind.strip(), *cells])
    con.executemany("INSERT INTO reports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
    con.execute("CHECKPOINT")
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


# Where (b) spends its time: the steps of ingest.loader.load_file, timed by wrapping them
# (CPU is the whole process's, so a step that overlaps another counts the other's CPU too).
STAGES = [("ingest.readers", "read_into_raw", "read the CSV into memory (DuckDB)"),
          ("core.files", "sha256_of", "SHA-256 of the file (in a thread, beside the read)"),
          ("ingest.validate", "_lookups", "distinct spellings -> carrier/kind/tech/reporter lookups"),
          ("store.ingest_sql", "build_checked", "every check, vectorised (DuckDB)"),
          ("ingest.validate", "_problems", "collect the errors"),
          ("store.ingest_sql", "good_numbers", "numeric columns of good rows -> numpy"),
          ("ingest.loader", "_computed", "H3 cells, parents, district, fingerprint (numpy)"),
          ("ingest.loader", "insert_batch", "duplicate check + INSERT + batch row, one transaction")]


def stage_breakdown(csv_path: Path, work: Path) -> list[dict]:
    import importlib

    timings: list[dict] = []
    originals = []
    for module_name, name, what in STAGES:
        module = importlib.import_module(module_name)
        function = getattr(module, name)
        originals.append((module, name, function))

        def timed(*args, _f=function, _name=name, _what=what, **kwargs):
            cpu, start = _cpu(), time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                timings.append({"stage": _name, "what": _what, "wall_s": round(time.perf_counter() - start, 3),
                                "cpu_s": round(_cpu() - cpu, 3)})

        setattr(module, name, timed)
    try:
        wall, cpu, _ = time_ours(csv_path, work)
    finally:
        for module, name, function in originals:
            setattr(module, name, function)
    timings.append({"stage": "total", "what": "load_file + CHECKPOINT", "wall_s": round(wall, 3),
                    "cpu_s": round(cpu, 3)})
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of (a) and (b), alternating; medians reported")
    parser.add_argument("--naive-rows", type=int, default=20_000)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--profile", action="store_true", help="print a cProfile listing of one run of (b)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        work = Path(tmp)
        csv_path = work / "reports.csv"
        generate_csv(csv_path, args.rows)
        a_runs, b_runs, counts = [], [], {}
        for _ in range(args.repeat):
            a_runs.append(time_duckdb_baseline(csv_path, work))
            wall, cpu, counts = time_ours(csv_path, work)
            b_runs.append((wall, cpu))
        a_wall, a_cpu = (statistics.median(x) for x in zip(*a_runs, strict=True))
        b_wall, b_cpu = (statistics.median(x) for x in zip(*b_runs, strict=True))
        out = {
            "rows": args.rows, "csv_mb": round(csv_path.stat().st_size / 1e6, 1), "repeat": args.repeat,
            "a_duckdb_wall_s": round(a_wall, 2), "b_ours_wall_s": round(b_wall, 2),
            "b_over_a_wall": round(b_wall / a_wall, 2),
            "a_duckdb_cpu_s": round(a_cpu, 2), "b_ours_cpu_s": round(b_cpu, 2), "b_over_a_cpu": round(b_cpu / a_cpu, 2),
            "b_rows_per_s": round(args.rows / b_wall), "runs_wall_s": {"a": [round(r[0], 2) for r in a_runs],
                                                                       "b": [round(r[0], 2) for r in b_runs]},
            **counts,
        }
        if not args.skip_naive:
            naive_rows = min(args.naive_rows, args.rows)
            c_slice = time_naive(csv_path, work, naive_rows)
            c_wall = c_slice * args.rows / naive_rows
            out.update({"c_naive_slice_rows": naive_rows, "c_naive_slice_s": round(c_slice, 2),
                        "c_naive_extrapolated_s": round(c_wall, 1), "c_over_b_wall": round(c_wall / b_wall, 1)})
        out["load_average"] = [round(x, 1) for x in os.getloadavg()]
        print(json.dumps(out, ensure_ascii=False))
        for stage in stage_breakdown(csv_path, work):
            print(json.dumps(stage, ensure_ascii=False))
        if args.profile:
            profiler = cProfile.Profile()
            time_ours(csv_path, work, profiler)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
