"""The shared store against the embedded file, on the same data: loading the demo city and the map's views.

    .venv/bin/python bench/bench_store.py [--repeat 9] [--store ducklake:postgres:...]

Builds the default demo city (`python -m ingest demo`'s options, 877,107 rows) twice: into a DuckDB file
and into a shared store (DROPMAP_STORE: DuckLake, its catalog in PostgreSQL, its data files in a folder).
Without ``--store`` it starts a private PostgreSQL server from Debian's package (tests/postgres_server.py)
and stops it at the end. Then, for the documented map views of bench/bench_map.py, it times
``geo.mapview.level_view`` / ``compare_view`` on each store, interleaved round by round so both share the
machine's load alike, and prints p50 / p95 and the ratio shared / file of the medians.

It also stores single reports one transaction at a time (the report API's shape) into each store and
counts the data files DuckLake wrote for them: single reports are inlined in the catalog, not written as
one Parquet file each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_map import _interleaved, _p95, _views  # noqa: E402


def _build_demo(location: str) -> float:
    from ingest.demo import DemoOptions, build_demo
    from store.db import connect

    con = connect(location)
    try:
        summary = build_demo(con, DemoOptions())
    finally:
        con.close()
    return float(summary["seconds"]["load"])


def _single_reports(location: str, count: int) -> float:
    """Stores ``count`` reports one load at a time, as the report API does; returns ms per report."""
    import pandas as pd

    from ingest.loader import Origin, load_frame
    from store.db import connect

    con = connect(location)
    try:
        started = time.perf_counter()
        for n in range(count):  # one reporter walking 220 m every 6 minutes: never a duplicate
            report = {"lat": 37.45 + 0.002 * (n % 100), "lon": 126.85 + 0.0001 * (n // 100), "carrier": "KT",
                      "kind": "dropped_call", "observed_at": (pd.Timestamp("2026-01-05T00:00:00+09:00")
                                                              + pd.Timedelta(minutes=6 * n)).isoformat()}
            load_frame(con, pd.DataFrame([report]), Origin(source="bench-api"))
        return (time.perf_counter() - started) * 1000 / count
    finally:
        con.close()


def _files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--store", help="a shared store to use (default: a private PostgreSQL server)")
    parser.add_argument("--singles", type=int, default=200, help="single reports stored one by one in each store")
    args = parser.parse_args()

    from core.settings import one_blas_thread
    from geo import mapview
    from store.db import connect

    one_blas_thread()  # as the site runs (app.py)
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-store-")))
        os.environ["DROPMAP_LAKE_DATA"] = str(work / "lake")
        location = args.store
        if location is None:
            from postgres_server import postgres_server

            server = stack.enter_context(postgres_server())
            location = server.create_database(f"bench_{uuid.uuid4().hex[:8]}")
        file = str(work / "demo.duckdb")
        loads = {"file": _build_demo(file), "shared": _build_demo(location)}
        print(f"demo city loaded (ingest's load step): file {loads['file']:.1f} s, shared {loads['shared']:.1f} s, "
              f"ratio {loads['shared'] / loads['file']:.2f}")
        print(f"data files of the shared store after the demo: {_files(work / 'lake')}")

        cons = {name: connect(where, read_only=True) for name, where in (("file", file), ("shared", location))}
        curs = {name: con.cursor() for name, con in cons.items()}
        print(f"\n{'view':40} {'file p50':>9} {'file p95':>9} {'shared p50':>10} {'shared p95':>10} {'ratio':>6}")
        for name, query, _ in _views():
            view = mapview.compare_view if query.mode == "compare" else mapview.level_view
            runs = _interleaved({store: (lambda cur=cur, q=query, v=view: v(cur, q)) for store, cur in curs.items()},
                                args.repeat, every={})
            file_p50, shared_p50 = statistics.median(runs["file"]), statistics.median(runs["shared"])
            print(f"{name:40} {file_p50:6.0f} ms {_p95(runs['file']):6.0f} ms {shared_p50:7.0f} ms "
                  f"{_p95(runs['shared']):7.0f} ms {shared_p50 / file_p50:6.2f}")
        for con in cons.values():
            con.close()

        before = _files(work / "lake")
        per_report = {name: _single_reports(where, args.singles) for name, where in (("file", file),
                                                                                      ("shared", location))}
        print(f"\n{args.singles} single reports, one load each: file {per_report['file']:.1f} ms per report, "
              f"shared {per_report['shared']:.1f} ms (ratio {per_report['shared'] / per_report['file']:.2f}); "
              f"data files written for them in the shared store: {_files(work / 'lake') - before}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
