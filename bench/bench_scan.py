"""One live outage scan, as the site runs it every minute, by the size of the history.

    .venv/bin/python bench/bench_scan.py [--sizes 1000000,10000000] [--days 730] [--minutes 15]
                                         [--cache bench/out/history]

The stores are bench/history_sizes.py's (built once into ``--cache`` and reused: two years of
synthetic reports, written chunk by chunk in time as a live site writes them). For each size the
detector scans, minute by minute, the last ``--minutes`` minutes of the data (``outages.scan.scan``:
six hours of minutes, plus the four weeks and more of hourly history its baseline needs), in two
ways, interleaved:

- ``kept``: the site's way: the hourly history is kept in the store (outages.history) and extended;
- ``counted``: every scan counts the history again from the reports (the way before the kept
  history; ``outages.history.counted``).

The first kept scan, which counts and keeps the history once, is reported on its own. The speed
baseline, measured in the same run, is DuckDB alone counting the same weeks of failure reports per
network, district and minute with one plain GROUP BY.

The scans write what they find into the bench store (incidents, the kept history), as the site
would; the stores are bench data. Target (issue "Bounded cost"): one live scan under 200 ms at 100 M.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _out import save_json  # noqa: E402
from history_sizes import add_store_arguments, store_for  # noqa: E402

_PLAIN = """
SELECT network, sig_cd, epoch_ms(observed_at) // 60000 AS minute, count(*) FROM reports
WHERE kind <> 'ok' AND status <> 'flagged' AND observed_at >= ? AND observed_at < ? GROUP BY ALL
"""


def measure(path: Path, minutes: int) -> dict:
    from outages import history
    from outages.detect import DetectorConfig
    from outages.scan import scan
    from outages.series import make_frame
    from store import outages_sql
    from store.db import connect

    con = connect(path)
    try:
        cur = con.cursor()
        rows = outages_sql.report_rows(cur)
        end = cur.execute("SELECT max(observed_at) FROM reports").fetchone()[0].replace(second=0, microsecond=0)
        first = end - timedelta(minutes=minutes)
        cur.execute("DELETE FROM outage_hours; DELETE FROM outage_volume; DELETE FROM outage_history_state")
        t0 = time.perf_counter()
        scan(con, first - timedelta(minutes=1))
        cold_ms = (time.perf_counter() - t0) * 1000
        kept_hourly = history.hourly

        def counting(*args, mode, **kwargs):
            return kept_hourly(*args, mode=history.COUNT)

        frame = make_frame(first - timedelta(hours=6), end, DetectorConfig())
        times: dict[str, list[float]] = {"kept": [], "counted": [], "DuckDB GROUP BY": []}
        for m in range(minutes):
            at = first + timedelta(minutes=m)
            for name in ("kept", "counted", "DuckDB GROUP BY"):
                t0 = time.perf_counter()
                if name == "DuckDB GROUP BY":
                    cur.execute(_PLAIN, [frame.origin, frame.end]).fetchall()
                else:
                    history.hourly = kept_hourly if name == "kept" else counting
                    try:
                        scan(con, at)
                    finally:
                        history.hourly = kept_hourly
                times[name].append((time.perf_counter() - t0) * 1000)
        weeks = (frame.end - frame.origin) / timedelta(weeks=1)
    finally:
        con.close()
    return {"rows": rows, "cold_ms": cold_ms, "weeks": weeks,
            **{name: (statistics.median(v), float(np.percentile(v, 95))) for name, v in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_store_arguments(parser, sizes="1000000,10000000", json_name="bench_scan.json")
    parser.add_argument("--minutes", type=int, default=15)
    args = parser.parse_args()
    results = [measure(store_for(args.cache, int(size), args.days), args.minutes) for size in args.sizes.split(",")]
    save_json(args.json, results)
    print(f"\n{'reports':>12} {'kept p50':>9} {'p95':>6} {'counted p50':>12} {'p95':>6} {'DuckDB':>7} "
          f"{'first kept':>11}  (ms; {args.minutes} scans each, minute by minute)")
    for r in results:
        print(f"{r['rows']:>12,} {r['kept'][0]:>9.0f} {r['kept'][1]:>6.0f} {r['counted'][0]:>12.0f} "
              f"{r['counted'][1]:>6.0f} {r['DuckDB GROUP BY'][0]:>7.0f} {r['cold_ms']:>11.0f}"
              f"   (DuckDB counts {r['weeks']:.1f} weeks)")


if __name__ == "__main__":
    main()
