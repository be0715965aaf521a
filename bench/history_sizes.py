"""How the map's cost grows with the history: the recent window against the whole history, by size.

    .venv/bin/python bench/history_sizes.py [--sizes 1000000,10000000,30000000] [--days 730]
                                            [--repeat 11] [--cache bench/out/history]

For each size, a store of synthetic reports spread over ``--days`` days (two years by default)
is built once into ``--cache`` (bench/bench_map.py's generator, chunk by chunk in time, as a live
site stores its reports) and reused by later runs. Then, interleaved, median and p95 of:

- ``window``: the map's opening view, all carriers, res 8, over its recent window (the 13 weeks
  ending with the last busy week: geo.mapquery.recent_window, store.map_sql.last_busy_day);
- ``window base``: DuckDB alone, one hand-written GROUP BY over the same 13 weeks with exact
  distinct reporters and HAVING >= k (what the view costs at least);
- ``whole``: the same view over the whole history (the "전체 기간" button);
- ``whole base``: the hand-written GROUP BY over the whole history.

Targets (issue "Bounded cost"): the default view p95 under 300 ms at 100 M reports; a whole-history
view under 2 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _out import save_json  # noqa: E402
from bench_map import _baseline_sql, _interleaved, build_bench_db  # noqa: E402

START = pd.Timestamp("2019-11-04T00:00:00+09:00")  # a Monday; two years end in late 2021


def store_for(cache: Path, size: int, days: int) -> Path:
    path = cache / f"history_{size}_{days}d.duckdb"
    cache.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        partial = path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        seconds = build_bench_db(partial, size, days=days, start=START, ordered=True)
        partial.rename(path)
        print(f"built {size:,} reports over {days} days in {seconds:.0f} s ({path.stat().st_size / 2**20:,.0f} MB)")
    return path


def measure(path: Path, repeat: int) -> dict:
    from geo import mapview
    from geo.mapquery import MapQuery, recent_window
    from geo.privacy import min_reporters
    from store import map_sql
    from store.db import connect

    con = connect(path, read_only=True)
    cur = con.cursor()
    try:
        rows = cur.execute("SELECT count(*) FROM reports").fetchone()[0]
        first, last = map_sql.data_period(cur)
        busy = map_sql.last_busy_day(cur, min_reporters())
        since, until = recent_window(first, busy or last)
        window = MapQuery(res=8, since=since, until=until)
        whole = MapQuery(res=8)
        bounds = ("AND observed_at >= TIMESTAMPTZ '{}' AND observed_at < TIMESTAMPTZ '{}'".format(
            pd.Timestamp(since, tz="Asia/Seoul").isoformat(),
            (pd.Timestamp(until, tz="Asia/Seoul") + pd.Timedelta(days=1)).isoformat()))
        window_base, whole_base = _baseline_sql(8, bounds), _baseline_sql(8, "")
        runs = _interleaved({
            "window": lambda: mapview.level_view(cur, window),
            "window base": lambda: cur.execute(window_base).fetchall(),
            "whole": lambda: mapview.level_view(cur, whole),
            "whole base": lambda: cur.execute(whole_base).fetchall(),
        }, repeat, every={})
        t0 = time.perf_counter()
        map_sql.last_busy_day(cur, min_reporters())
        busy_ms = (time.perf_counter() - t0) * 1000
        in_window = cur.execute(f"SELECT count(*) FROM reports WHERE true {bounds}").fetchone()[0]
        hexes = (len(mapview.level_view(cur, window).frame), len(mapview.level_view(cur, whole).frame))
    finally:
        con.close()
    return {"rows": rows, "in_window": in_window, "since": since, "until": until, "busy_ms": busy_ms,
            "hexes": hexes, **{name: (statistics.median(v), float(np.percentile(v, 95))) for name, v in runs.items()}}


def add_store_arguments(parser: argparse.ArgumentParser, *, sizes: str, json_name: str | None = None) -> None:
    """--sizes, --days and --cache (the stores of this script, built once and shared by the other
    history benches), and --json when the script saves its figures."""
    parser.add_argument("--sizes", default=sizes)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--cache", type=Path, default=ROOT / "bench" / "out" / "history")
    if json_name:
        parser.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / json_name,
                            help="where the figures go (bench/plot_history.py draws docs/img/history_sizes.png)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_store_arguments(parser, sizes="1000000,10000000,30000000", json_name="history_sizes.json")
    parser.add_argument("--repeat", type=int, default=11)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    for size in sizes:
        results.append(measure(store_for(args.cache, size, args.days), args.repeat))
        r = results[-1]
        print(f"{r['rows']:,} reports ({r['in_window']:,} in the window {r['since']} ~ {r['until']}); "
              f"last busy day found in {r['busy_ms']:.0f} ms; hexes window {r['hexes'][0]:,}, whole {r['hexes'][1]:,}",
              flush=True)
    save_json(args.json, results)
    print(f"\n{'reports':>12} {'window p50':>11} {'p95':>7} {'base p50':>9} {'whole p50':>10} {'p95':>7} "
          f"{'base p50':>9}  (ms; medians and p95 of {args.repeat})")
    for r in results:
        print(f"{r['rows']:>12,} {r['window'][0]:>11.0f} {r['window'][1]:>7.0f} {r['window base'][0]:>9.0f} "
              f"{r['whole'][0]:>10.0f} {r['whole'][1]:>7.0f} {r['whole base'][0]:>9.0f}")


if __name__ == "__main__":
    main()
