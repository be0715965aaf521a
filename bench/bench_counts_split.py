"""Times the map's rate view with the counts split into failure and rest reporters (docs/SECURITY.md, Differencing).

    .venv/bin/python bench/bench_counts_split.py DB [--repeat 7]

DB is a database made with `python -m ingest demo` (docs/SECURITY.md used
``--reports 200000 --days 35 --seed 3``). Each line is the median of ``--repeat``
runs, in milliseconds; the last line says how many drawn hexes still show their counts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from geo import mapdetail, mapview  # noqa: E402
from geo.mapquery import MapQuery  # noqa: E402
from geo.privacy import min_reporters  # noqa: E402
from store import map_sql  # noqa: E402
from store.db import connect  # noqa: E402


def median_ms(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("db", type=Path)
    parser.add_argument("--repeat", type=int, default=7, help="runs per line (the median is printed)")
    args = parser.parse_args()
    con = connect(args.db, read_only=True)
    cur = con.cursor()
    k, n = min_reporters(), args.repeat
    rows = cur.execute("SELECT count(*) FROM reports").fetchone()[0]
    flt = MapQuery(measure="rate").report_filter()
    print(f"reports: {rows}")
    print(f"hex_counts res 8, rate, counts only:          "
          f"{median_ms(lambda: map_sql.hex_counts(cur, 8, flt, k=k), n):.0f} ms")
    print(f"hex_counts res 8, rate, with split sources:   "
          f"{median_ms(lambda: map_sql.hex_counts(cur, 8, flt, k=k, sources=True), n):.0f} ms")
    print(f"level_view, all carriers:                     "
          f"{median_ms(lambda: mapview.level_view(cur, MapQuery(measure='rate')), n):.0f} ms")
    print(f"level_view, KT (carrier family check):        "
          f"{median_ms(lambda: mapview.level_view(cur, MapQuery(measure='rate', carrier='KT')), n):.0f} ms")
    view = mapview.level_view(cur, MapQuery(measure="rate"))
    cell = view.frame.sort_values("reports").iloc[-1]["cell_id"]
    print(f"cell_detail (busiest hex):                    "
          f"{median_ms(lambda: mapdetail.cell_detail(cur, MapQuery(), cell), n):.0f} ms")
    print(f"hexes drawn: {len(view.frame)}, with counts shown: {view.frame['counts_shown'].mean():.0%}")
    con.close()


if __name__ == "__main__":
    main()
