"""Open-data export benchmark: res-8 hex aggregates of 10,000,000 reports to GeoParquet.

    .venv/bin/python bench/bench_export.py [--reports 10000000] [--reporters 300000] [--repeat 3]

A bench-only database in a temporary folder is filled fast with numpy + Arrow
(a load test, not a validation test: rows go straight into ``reports``). Then,
in the same run, each measured ``--repeat`` times (interleaved; the median is
reported):

  (a) ours: ``geo.export.export(..., "geoparquet")`` -- period, the suppressed
      aggregate, cell centres and areas, sorted rows, WKB boundaries added per Arrow
      batch, GeoParquet metadata, sha256 and manifest;
  (b) baseline: DuckDB's own ``COPY (SELECT ... GROUP BY ...) TO 'x.parquet'`` of the
      SAME aggregation (the same SQL, suppression included) without geometry,
      centres or sorting -- target: (a) within 2x of (b);
  (c) for scale: a naive ``COPY (SELECT cell, network, bucket, kind, count(*),
      count(DISTINCT reporter) ... GROUP BY ... HAVING count(DISTINCT reporter) >= k)``,
      i.e. what the privacy rules (ok samples, residuals, intervals) cost over it;
  (d) the other formats (CSV, Parquet, GeoJSON) through ``export``.

Prints one JSON object. Results belong in docs/BENCHMARKS.md, "Open-data export".
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DROPMAP_SECRET", "bench-secret")

from core.cells import cells_to_parents, latlngs_to_cells  # noqa: E402
from geo.aggregate import ExportQuery, report_filter  # noqa: E402
from geo.export import export  # noqa: E402
from geo.privacy import min_reporters  # noqa: E402
from store.aggregate_sql import aggregate_select  # noqa: E402
from store.db import connect  # noqa: E402
from store.filters import local_time_columns_sql  # noqa: E402

KINDS = np.array(["ok", "dropped_call", "call_setup_failure", "no_service", "no_data", "slow_data",
                  "sms_failure", "other"])
KIND_WEIGHTS = np.array([0.45, 0.17, 0.06, 0.07, 0.12, 0.09, 0.02, 0.02])
NETWORKS = np.array(["SKT", "KT", "LGU+"])
START = datetime(2021, 8, 2, tzinfo=UTC)  # a Monday; 13 weeks of data
DAYS = 91
CHUNK = 2_000_000
# Then the stored local hour, weekday and date (migration 0003), as store/reports.py computes them, and
# prefix_hash, source_id (0004): no client address, each report its reporter's source.
_INSERT = f"""
INSERT INTO reports
SELECT uuid(), observed_at, observed_at, lat, lon, NULL, h3_r6, h3_r7, h3_r8, h3_r9, h3_r10, NULL,
       network, network, false, 'LTE', kind, NULL, reporter, NULL, 'bench', ?, 'ok', NULL, NULL, fingerprint,
       {", ".join(local_time_columns_sql("observed_at").values())}, NULL, reporter
FROM chunk
"""


def seoul_cells(rng: np.random.Generator, count: int = 200_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Res-10 cells of random points in Seoul's bounding box, with those points."""
    lat = rng.uniform(37.43, 37.70, count)
    lon = rng.uniform(126.77, 127.18, count)
    return latlngs_to_cells(lat, lon, 10), lat, lon


def _labels(codes: np.ndarray, names: np.ndarray) -> pa.Array:
    """Text labels as an Arrow dictionary array (no per-row Python strings), decoded to plain text."""
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int8)), pa.array(names.tolist())).cast(pa.string())


def fill(con, reports: int, reporters: int, seed: int) -> float:
    """Insert ``reports`` synthetic rows in Arrow chunks; returns seconds."""
    rng = np.random.default_rng(seed)
    cells, lats, lons = seoul_cells(rng)
    # A few busy reporters and many occasional ones, as in crowd data.
    reporter_ids = rng.integers(1, 2**63, reporters, dtype=np.uint64)
    batch = str(uuid.uuid4())
    started = time.perf_counter()
    for offset in range(0, reports, CHUNK):
        n = min(CHUNK, reports - offset)
        place = rng.integers(0, len(cells), n)
        finest = cells[place]
        seconds = rng.integers(0, DAYS * 86400, n)
        chunk = pa.table({
            "observed_at": pa.array(np.datetime64(START.replace(tzinfo=None), "s") + seconds.astype("timedelta64[s]"),
                                    type=pa.timestamp("s", tz="UTC")),
            "lat": lats[place], "lon": lons[place],
            **{f"h3_r{r}": cells_to_parents(finest, r) for r in (6, 7, 8, 9)},
            "h3_r10": finest,
            "network": _labels(rng.choice(3, n, p=[0.45, 0.35, 0.20]), NETWORKS),
            "kind": _labels(rng.choice(len(KINDS), n, p=KIND_WEIGHTS), KINDS),
            "reporter": reporter_ids[(reporters * rng.random(n) ** 2).astype(np.int64)],
            "fingerprint": rng.integers(1, 2**63, n, dtype=np.uint64),
        })
        con.register("chunk", chunk)
        con.execute(_INSERT, [batch])
        con.unregister("chunk")
    con.execute("CHECKPOINT")
    return time.perf_counter() - started


def timed(fn, *args):
    """(seconds, result) of ``fn(*args)``."""
    started = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - started, result


def baseline_copy(con, query: ExportQuery, path: Path) -> None:
    sql, params = aggregate_select(res=query.res, by=query.by, report_filter=report_filter(query), k=min_reporters())
    con.execute(f"COPY ({sql}) TO '{path}' (FORMAT parquet, COMPRESSION zstd)", params)


def naive_copy(con, query: ExportQuery, path: Path) -> None:
    con.execute(
        f"COPY (SELECT h3_r{query.res} AS cell, network, isodow(timezone('Asia/Seoul', observed_at)) AS weekday, "
        "hour(timezone('Asia/Seoul', observed_at)) AS hour, kind, count(*) AS reports, "
        "count(DISTINCT reporter) AS reporters FROM reports WHERE status = 'ok' GROUP BY ALL "
        f"HAVING count(DISTINCT reporter) >= ?) TO '{path}' (FORMAT parquet, COMPRESSION zstd)", [min_reporters()])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=10_000_000)
    parser.add_argument("--reporters", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    query = ExportQuery(res=8, by="weekday_hour")
    with tempfile.TemporaryDirectory(prefix="dropmap-bench-export-") as tmp:
        work = Path(tmp)
        con = connect(work / "bench.duckdb")
        fill_seconds = fill(con, args.reports, args.reporters, args.seed)
        runs: dict[str, list[float]] = {"geoparquet": [], "baseline_copy": [], "naive_copy": [], "parquet": [],
                                        "csv": [], "geojson": []}
        manifests = {}
        for i in range(args.repeat):
            runs["baseline_copy"].append(timed(baseline_copy, con.cursor(), query, work / f"b{i}.parquet")[0])
            for fmt in ("geoparquet", "parquet", "csv", "geojson"):
                seconds, manifests[fmt] = timed(export, con.cursor(), query, fmt, work / f"ours{i}.{fmt}")
                runs[fmt].append(seconds)
            runs["naive_copy"].append(timed(naive_copy, con.cursor(), query, work / f"n{i}.parquet")[0])
        baseline_rows = con.execute(f"SELECT count(*) FROM '{work / 'b0.parquet'}'").fetchone()[0]
        median = {name: statistics.median(values) for name, values in runs.items()}
        result = {
            "reports": args.reports, "reporters": args.reporters, "query": query.as_params(),
            "k": min_reporters(), "fill_seconds": round(fill_seconds, 2),
            "rows_out": manifests["geoparquet"]["rows"], "baseline_rows_out": baseline_rows,
            "bytes": {fmt: manifests[fmt]["bytes"] for fmt in manifests},
            "median_seconds": {k: round(v, 3) for k, v in median.items()},
            "all_seconds": {k: [round(x, 3) for x in v] for k, v in runs.items()},
            "ratio_geoparquet_to_baseline": round(median["geoparquet"] / median["baseline_copy"], 2),
            "ratio_baseline_to_naive": round(median["baseline_copy"] / median["naive_copy"], 2),
            "ratios_to_baseline": {k: round(v / median["baseline_copy"], 2) for k, v in median.items()},
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "target": "ratio_geoparquet_to_baseline <= 2",
        }
        con.close()
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
